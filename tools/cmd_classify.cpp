// scratchcv classify: photo(s) in, ImageNet top-k out.
//
// The whole pipeline a reader can follow: decode the file (JPEG/PNG, EXIF orientation) ->
// torchvision's eval transform (resize 256, crop 224, normalise) -> ResNet forward pass ->
// softmax -> the k most probable of the 1000 ImageNet classes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "cli.h"
#include "progress.h"
#include "runner.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"

namespace fs = std::filesystem;

namespace scv::cli {
namespace {

bool has_image_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".jpg" || e == ".jpeg" || e == ".png";
}

// Expands directory arguments into their image files (sorted); files are kept as given.
Status collect_inputs(const std::vector<std::string>& args, std::vector<std::string>* files,
                      bool* any_dir) {
  for (const std::string& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      *any_dir = true;
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(a, ec))
        if (entry.is_regular_file() && has_image_extension(entry.path()))
          found.push_back(entry.path().string());
      if (ec) return error(a, ": cannot list directory: ", ec.message());
      if (found.empty()) return error(a, ": no .jpg/.jpeg/.png files in this directory");
      std::sort(found.begin(), found.end());
      files->insert(files->end(), found.begin(), found.end());
    } else {
      files->push_back(a);
    }
  }
  return Status();
}

struct Prediction {
  std::vector<int> index;
  std::vector<float> prob;
};

Prediction top_k(const float* logits, int n, int k) {
  // Softmax (stable: subtract the max), then partial sort of the indices by probability.
  const float mx = *std::max_element(logits, logits + n);
  std::vector<double> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(double(logits[i] - mx));
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return p[a] > p[b]; });
  Prediction r;
  for (int i = 0; i < k; ++i) {
    r.index.push_back(idx[i]);
    r.prob.push_back(float(p[idx[i]] / sum));
  }
  return r;
}

int cmd_classify(const std::vector<std::string>& args) {
  std::string model, arch, isa, weights = "V1";
  int topk = 5, threads = 0, resize = 0, crop = 224;
  bool json = false, reference = false;
  ArgParser ap("classify", "Classify photos with an ImageNet ResNet (top-k classes).",
               "IMG|DIR...");
  ap.option("model", &model, "PATH",
            "model file (.pth state_dict or .onnx); default: the cached "
            "torchvision resnet50 (see `scratchcv fetch`)")
      .option("arch", &arch, "NAME", "ResNet architecture of a .pth (default: recognised from it)")
      .option("weights", &weights, "V1|V2", "which cached official weights to use (default V1)")
      .option("resize", &resize, "N",
              "resize the shorter side to N before cropping (default 256; 232 for V2 weights)")
      .range(1, 4096)
      .option("crop", &crop, "N", "centre crop size (default 224)")
      .range(1, 4096)
      .option("topk", &topk, "K", "number of classes to print (default 5)")
      .range(1, 1000)
      .flag("json", &json, "print a JSON array with one object per image")
      .option("threads", &threads, "N", "worker threads (default: all CPUs)")
      .option("isa", &isa, "ISA", "force kernels: ref, avx2 or avx512 (default: best)")
      .flag("reference", &reference, "use the plain reference executor (slow; for checking)")
      .epilog(
          "A directory argument classifies every .jpg/.jpeg/.png in it, with a progress bar.\n"
          "JSON schema (--json), one object per image in an array:\n"
          "  {\"file\": str, \"top\": [{\"index\": int, \"label\": str, \"probability\": float}],\n"
          "   \"ms\": float}   or, when the image cannot be read: {\"file\": str, \"error\": str}\n"
          "Exit status: 0 if every image was classified, 1 otherwise, 2 on usage errors.\n"
          "Example: scratchcv classify data/sample.jpg");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (pos.empty()) {
    ap.fail("no image given (see --help)");
    return 2;
  }
  if (topk < 1 || topk > 1000) return ap.usage_error("--topk must be between 1 and 1000");

  std::vector<std::string> files;
  bool any_dir = false;
  if (Status st = collect_inputs(pos, &files, &any_dir); !st.ok()) return ap.fail(st.message());

  if (model.empty()) {
    // The cached official torchvision weights of --arch (default resnet50).
    const std::string a = arch.empty() ? "resnet50" : arch;
    auto file = find_model_file(a, weights);
    if (!file.ok()) return ap.fail(file.status().message());
    if (resize == 0) resize = file->resize_size;
    model = cached_model_path(a, weights);
    if (!file_exists(model)) return ap.fail(missing_weights_message(a, weights));
  }
  if (resize == 0) {
    // An official file given by path, or --weights V2 with --model: that weights' transform.
    const std::string base = fs::path(model).filename().string();
    for (const ModelFile& f : model_files())
      if (f.file_name == base) resize = f.resize_size;
    if (resize == 0 && ap.given("weights"))
      if (auto f = find_model_file(arch.empty() ? "resnet50" : arch, weights); f.ok())
        resize = f->resize_size;
  }
  if (resize == 0) resize = 256;
  if (crop < 1 || crop > 4096 || resize < crop)
    return ap.usage_error("--crop must be in 1..4096 and --resize >= --crop");
  auto graph = load_model(model, arch);
  if (!graph.ok()) return ap.fail(graph.status().message());
  auto labels = imagenet_labels();
  if (!labels.ok()) return ap.fail(labels.status().message());

  Runner runner;
  if (Status st = runner.init(std::move(*graph), RunnerOptions{threads, isa, reference}); !st.ok())
    return ap.fail(st.message());
  if (Status st = runner.prepare({1, 3, crop, crop}); !st.ok()) return ap.fail(st.message());

  const bool progress = any_dir || files.size() > 1;
  ProgressBar bar(int64_t(files.size()), "img");
  int failures = 0;
  if (json) std::cout << "[\n";
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& f = files[i];
    const auto t0 = std::chrono::steady_clock::now();
    auto img = load_image(f, ColorMode::rgb);
    Result<Tensor> input =
        img.ok() ? imagenet_preprocess(*img, resize, crop) : Result<Tensor>(img.status());
    Result<Tensor> logits = input.ok()
                                ? runner.run(input->reshaped({1, 3, input->dim(1), input->dim(2)}))
                                : Result<Tensor>(input.status());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const std::string sep = i + 1 < files.size() ? ",\n" : "\n";
    if (!logits.ok()) {
      ++failures;
      std::cerr << "scratchcv classify: " << logits.status().message() << "\n";
      if (json)
        std::cout << "  {\"file\": " << json_string(f)
                  << ", \"error\": " << json_string(logits.status().message()) << "}" << sep;
    } else {
      const Tensor& y = *logits;
      if (y.numel() != int64_t(labels->size())) {
        ++failures;
        std::cerr << "scratchcv classify: model has " << y.numel()
                  << " outputs, not the 1000 ImageNet classes\n";
        break;
      }
      Prediction p = top_k(y.data(), int(y.numel()), topk);
      if (json) {
        std::cout << "  {\"file\": " << json_string(f) << ", \"top\": [";
        for (size_t k = 0; k < p.index.size(); ++k) {
          char prob[32];
          std::snprintf(prob, sizeof prob, "%.6g", p.prob[k]);
          std::cout << (k ? ", " : "") << "{\"index\": " << p.index[k]
                    << ", \"label\": " << json_string((*labels)[p.index[k]])
                    << ", \"probability\": " << prob << "}";
        }
        char t[32];
        std::snprintf(t, sizeof t, "%.2f", ms);
        std::cout << "], \"ms\": " << t << "}" << sep;
      } else {
        if (progress && isatty(2)) std::fprintf(stderr, "\r\033[K");
        std::printf("%s  (%.0f ms)\n", f.c_str(), ms);
        for (size_t k = 0; k < p.index.size(); ++k)
          std::printf("  %zu. %6.2f%%  %s  (#%d)\n", k + 1, 100.0 * p.prob[k],
                      (*labels)[p.index[k]].c_str(), p.index[k]);
      }
    }
    std::fflush(stdout);
    if (progress) bar.update(int64_t(i + 1));
  }
  if (json) std::cout << "]\n";
  return failures ? 1 : 0;
}

Command reg("classify", "classify photos with an ImageNet ResNet (top-k)", cmd_classify);

}  // namespace
}  // namespace scv::cli
