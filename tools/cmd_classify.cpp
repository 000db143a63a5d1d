// scratchcv classify: photo(s) in, ImageNet top-k out.
//
// The whole pipeline a reader can follow: decode the file (JPEG/PNG, EXIF orientation) ->
// torchvision's eval transform (resize 256, crop 224, normalise) -> ResNet forward pass ->
// softmax -> the k most probable of the 1000 ImageNet classes. That pipeline is the library's
// scv::Classifier (include/scratchcv/classifier.h); this file is the command line around it:
// listing folders, the text / --json / --jsonl outputs, and --resume.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <unordered_set>

#include "annotate.h"
#include "cli.h"
#include "progress.h"
#include "runner.h"
#include "scratchcv/classifier.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

namespace scv::cli {
namespace {

// Appends whole lines to a file, each with one write() (so a reader or a crash sees complete
// lines, plus at most one torn line at the end that jsonl_done_files() repairs).
class LineAppender {
 public:
  ~LineAppender() {
    if (f_) std::fclose(f_);
  }
  Status open(const std::string& path) {
    f_ = std::fopen(path.c_str(), "ab");
    if (!f_) return error(path, ": cannot open for appending: ", std::strerror(errno));
    path_ = path;
    return Status();
  }
  Status write(const std::string& line) {
    const std::string l = line + "\n";
    if (std::fwrite(l.data(), 1, l.size(), f_) != l.size() || std::fflush(f_) != 0)
      return error(path_, ": write failed: ", std::strerror(errno));
    return Status();
  }

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

int cmd_classify(const std::vector<std::string>& args) {
  std::string model, arch, isa, weights = "V1", resume, labels, annotate_dir;
  int topk = 5, threads = 0, resize = 0, crop = 224;
  std::string threads_s;
  bool json = false, jsonl = false, recursive = false, reference = false;
  ArgParser ap("classify", "Classify photos with an ImageNet ResNet (top-k classes).",
               "IMG|DIR...");
  ap.option("model", &model, "NAME|PATH",
            "mobilenet_v2 (bundled), an architecture name (resnet50, ...) whose official "
            "weights were fetched (`scratchcv fetch`), or a .tflite, .pth or .onnx file; "
            "default: the cached resnet50 if present, else mobilenet_v2")
      .option("labels", &labels, "FILE",
              "class names, one per line (default: ImageNet's for 1000/1001 classes, else "
              "class indices)")
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
      .flag("jsonl", &jsonl, "print one JSON object per line as each image finishes")
      .flag("recursive", &recursive, "also classify the photos in subdirectories of DIR")
      .option("resume", &resume, "FILE",
              "continue FILE, the JSONL of an earlier (maybe interrupted) run: skip the photos "
              "already in it and append the others' lines to it (implies --jsonl)")
      .option("annotate", &annotate_dir, "DIR",
              "write each photo with its top-3 labels drawn on it")
      .option("threads", &threads_s, "N", "worker threads (default: the usable CPUs)")
      .option("isa", &isa, "ISA", "force kernels: ref, avx2 or avx512 (default: best)")
      .flag("reference", &reference, "use the plain reference executor (slow; for checking)")
      .epilog(
          "A directory argument classifies every .jpg/.jpeg/.png in it, with a progress bar.\n"
          "JSON schema (--json: an array of these; --jsonl: one per line):\n"
          "  {\"file\": str, \"top\": [{\"index\": int, \"label\": str, \"probability\": float}],\n"
          "   \"ms\": float}   or, when the image cannot be read: {\"file\": str, \"error\": str}\n"
          "Exit status: 0 if every image was classified, 1 otherwise, 2 on usage errors.\n"
          "Examples: scratchcv classify data/sample.jpg\n"
          "          scratchcv classify photos/ --recursive --resume results.jsonl");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (int rc = resolve_threads_option(ap, threads_s, &threads)) return rc;
  if (pos.empty()) {
    ap.fail("no image given (see --help)");
    return 2;
  }
  if (topk < 1 || topk > 1000) return ap.usage_error("--topk must be between 1 and 1000");
  if (!resume.empty()) jsonl = true;
  if (json && jsonl) return ap.usage_error("--json and --jsonl (or --resume) exclude each other");

  auto listed = list_image_files(pos, recursive);
  if (!listed.ok()) {
    if (json) std::cout << "[]\n";  // still one valid JSON document for jq and friends
    return ap.fail(listed.status().message());
  }
  std::vector<std::string> files = std::move(*listed);
  const bool any_dir = files.size() != pos.size() ||
                       std::any_of(pos.begin(), pos.end(), [](auto& p) { return is_directory(p); });

  LineAppender out_file;
  if (!resume.empty()) {
    auto done = jsonl_done_files(resume, /*repair=*/true);
    if (!done.ok()) return ap.fail(done.status().message());
    const std::unordered_set<std::string> skip(done->begin(), done->end());
    const size_t before = files.size();
    std::erase_if(files, [&](const std::string& f) { return skip.count(f) != 0; });
    std::fprintf(stderr, "%s: %zu of %zu photos already done, %zu to go\n", resume.c_str(),
                 before - files.size(), before, files.size());
    if (files.empty()) return 0;
    if (Status st = out_file.open(resume); !st.ok()) return ap.fail(st.message());
  }

  // --weights V2 with a --model file: that weights' transform (resize 232).
  if (resize == 0 && !model.empty() && ap.given("weights"))
    if (auto f = find_model_file(arch.empty() ? "resnet50" : arch, weights); f.ok())
      resize = f->resize_size;
  ClassifierOptions opt;
  opt.model = model;
  opt.arch = arch;
  opt.weights = weights;
  opt.threads = threads;
  opt.isa = isa;
  opt.reference = reference;
  opt.resize = resize;
  opt.crop = crop;
  opt.labels = labels;
  auto clf = Classifier::create(opt);
  if (!clf.ok()) return ap.fail(clf.status().message());
  std::fprintf(stderr, "scratchcv classify: model %s\n", (*clf)->describe().c_str());

  std::error_code mkdir_ec;
  if (!annotate_dir.empty() && !std::filesystem::create_directories(annotate_dir, mkdir_ec) &&
      mkdir_ec)
    return ap.fail(annotate_dir + ": cannot create directory: " + mkdir_ec.message());
  const bool progress = any_dir || files.size() > 1;
  ProgressBar bar(int64_t(files.size()), "img");
  int failures = 0;
  if (json) std::cout << "[\n";
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& f = files[i];
    const auto t0 = std::chrono::steady_clock::now();
    auto top = (*clf)->classify(f, topk);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!top.ok()) {
      ++failures;
      if (progress && isatty(2)) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "scratchcv classify: %s\n", top.status().message().c_str());
    }
    if (json || jsonl) {
      const std::string rec = classification_json(f, top, ms);
      if (!resume.empty()) {
        if (Status st = out_file.write(rec); !st.ok()) return ap.fail(st.message());
      } else if (jsonl) {
        std::cout << rec << "\n";
      } else {
        std::cout << "  " << rec << (i + 1 < files.size() ? ",\n" : "\n");
      }
    } else if (top.ok()) {
      if (progress && isatty(2)) std::fprintf(stderr, "\r\033[K");
      std::printf("%s  (%.0f ms)\n", f.c_str(), ms);
      for (size_t k = 0; k < top->size(); ++k) {
        const Prediction& p = (*top)[k];
        std::printf("  %zu. %6.2f%%  %s  (#%d)\n", k + 1, 100.0 * p.probability, p.label.c_str(),
                    p.index);
      }
    }
    if (top.ok() && !annotate_dir.empty()) {
      std::vector<std::string> lines;
      for (size_t k = 0; k < top->size() && k < 3; ++k)
        lines.push_back(
            str(int(std::lround(100.0 * (*top)[k].probability)), "% ", (*top)[k].label));
      auto img = load_image(f, ColorMode::rgb);
      Status st = img.ok() ? annotate_photo(annotate_dir, f, *img, lines) : img.status();
      if (!st.ok()) {
        ++failures;
        std::fprintf(stderr, "scratchcv classify: %s\n", st.message().c_str());
      }
    }
    std::cout.flush();
    std::fflush(stdout);
    if (progress) bar.update(int64_t(i + 1));
  }
  if (json) std::cout << "]\n";
  return failures ? 1 : 0;
}

Command reg("classify", "classify photos with an ImageNet ResNet (top-k)", cmd_classify);

}  // namespace
}  // namespace scv::cli
