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
#include "scratchcv/int8.h"

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

// Everything the command line sets.
struct ClassifyArgs {
  ClassifyArgs() { opt.weights = "V1"; }
  ClassifierOptions opt;  // the model, its transform and the executor
  std::string resume, annotate_dir;
  int topk = 5;
  bool json = false, jsonl = false, recursive = false;
};

void declare_classify_options(ArgParser& ap, ClassifyArgs& a) {
  ap.option("model", &a.opt.model, "NAME|PATH",
            "mobilenet_v2 (bundled), an architecture name (resnet50, ...) whose official "
            "weights were fetched (`scratchcv fetch`), or a .tflite, .pth or .onnx file; "
            "default: the cached resnet50 if present, else mobilenet_v2")
      .option("labels", &a.opt.labels, "FILE",
              "class names, one per line (default: ImageNet's for 1000/1001 classes, else "
              "class indices)")
      .option("arch", &a.opt.arch, "NAME",
              "ResNet architecture of a .pth (default: recognised from it)")
      .option("weights", &a.opt.weights, "V1|V2",
              "which cached official weights to use (default V1)")
      .option("resize", &a.opt.resize, "N",
              "resize the shorter side to N before cropping (default 256; 232 for V2 weights)")
      .range(1, 4096)
      .option("crop", &a.opt.crop, "N", "centre crop size (default 224)")
      .range(1, 4096)
      .option("topk", &a.topk, "K", "number of classes to print (default 5)")
      .range(1, 1000)
      .flag("json", &a.json, "print a JSON array with one object per image")
      .flag("jsonl", &a.jsonl, "print one JSON object per line as each image finishes")
      .flag("recursive", &a.recursive, "also classify the photos in subdirectories of DIR")
      .option("resume", &a.resume, "FILE",
              "continue FILE, the JSONL of an earlier (maybe interrupted) run: skip the photos "
              "already in it and append the others' lines to it (implies --jsonl)")
      .option("annotate", &a.annotate_dir, "DIR",
              "write each photo with its top-3 labels drawn on it");
  declare_runner_options(ap, &a.opt);
  ap.epilog(
      "A directory argument classifies every image in it (.jpg .png .bmp .webp .tif), with a\n"
      "progress bar.\n"
      "JSON schema (--json: an array of these; --jsonl: one per line):\n"
      "  {\"file\": str, \"top\": [{\"index\": int, \"label\": str, \"probability\": float}],\n"
      "   \"ms\": float}   or, when the image cannot be read: {\"file\": str, \"error\": str}\n"
      "Exit status: 0 if every image was classified, 1 otherwise, 2 on usage errors.\n"
      "Examples: scratchcv classify data/sample.jpg\n"
      "          scratchcv classify photos/ --recursive --resume results.jsonl");
}

// Parses and checks the command line. Returns -1 to go on, else the exit code.
int parse_classify_args(ArgParser& ap, const std::vector<std::string>& args, ClassifyArgs& a,
                        std::vector<std::string>* pos) {
  declare_classify_options(ap, a);
  if (!ap.parse(args, pos)) return ap.exit_code();
  if (int rc = check_runner_options(ap, a.opt.precision)) return rc;
  if (pos->empty()) {
    ap.fail("no image given (see --help)");
    return 2;
  }
  if (a.topk < 1 || a.topk > 1000) return ap.usage_error("--topk must be between 1 and 1000");
  if (!a.resume.empty()) a.jsonl = true;
  if (a.json && a.jsonl)
    return ap.usage_error("--json and --jsonl (or --resume) exclude each other");
  return -1;
}

// --resume: drops the photos already in the JSONL file and opens it for appending.
Status skip_done_files(const std::string& resume, std::vector<std::string>& files,
                       LineAppender& out_file) {
  auto done = jsonl_done_files(resume, /*repair=*/true);
  if (!done.ok()) return done.status();
  const std::unordered_set<std::string> skip(done->begin(), done->end());
  const size_t before = files.size();
  std::erase_if(files, [&](const std::string& f) { return skip.count(f) != 0; });
  std::fprintf(stderr, "%s: %zu of %zu photos already done, %zu to go\n", resume.c_str(),
               before - files.size(), before, files.size());
  if (files.empty()) return Status();
  return out_file.open(resume);
}

Result<std::unique_ptr<Classifier>> create_classifier(const ArgParser& ap, ClassifyArgs& a) {
  // --weights V2 with a --model file: that weights' transform (resize 232).
  if (a.opt.resize == 0 && !a.opt.model.empty() && ap.given("weights"))
    if (auto f = find_model_file(a.opt.arch.empty() ? "resnet50" : a.opt.arch, a.opt.weights);
        f.ok())
      a.opt.resize = f->resize_size;
  if (a.opt.precision == "int8") {
    bool qdq = false;
    if (a.opt.model.size() > 5 && a.opt.model.compare(a.opt.model.size() - 5, 5, ".onnx") == 0)
      if (auto bytes = read_file(a.opt.model); bytes.ok())
        qdq = is_qdq_onnx(bytes->data(), bytes->size());
    if (!qdq)
      std::fprintf(stderr,
                   "scratchcv classify: warning: int8 on a float model: quantizing it with the "
                   "built-in calibration (`scratchcv quantize MODEL --calib DIR` is better)\n");
  }
  return Classifier::create(a.opt);
}

// Writes one photo's result: a JSON record (to the --resume file, a JSONL line or an element of
// the --json array) or the readable top-k lines.
Status print_result(const ClassifyArgs& a, const std::string& f,
                    const Result<std::vector<Prediction>>& top, double ms, bool last, bool progress,
                    LineAppender& out_file) {
  if (a.json || a.jsonl) {
    const std::string rec = classification_json(f, top, ms);
    if (!a.resume.empty()) return out_file.write(rec);
    if (a.jsonl)
      std::cout << rec << "\n";
    else
      std::cout << "  " << rec << (last ? "\n" : ",\n");
  } else if (top.ok()) {
    if (progress && isatty(2)) std::fprintf(stderr, "\r\033[K");
    std::printf("%s  (%.0f ms)\n", f.c_str(), ms);
    for (size_t k = 0; k < top->size(); ++k) {
      const Prediction& p = top.value()[k];
      std::printf("  %zu. %6.2f%%  %s  (#%d)\n", k + 1, 100.0 * p.probability, p.label.c_str(),
                  p.index);
    }
  }
  return Status();
}

// --annotate: the photo with its top-3 labels drawn on it.
Status annotate_result(const std::string& dir, const std::string& f,
                       const std::vector<Prediction>& top) {
  std::vector<std::string> lines;
  for (size_t k = 0; k < top.size() && k < 3; ++k)
    lines.push_back(str(int(std::lround(100.0 * top[k].probability)), "% ", top[k].label));
  auto img = load_image(f, ColorMode::rgb);
  return img.ok() ? annotate_photo(dir, f, *img, lines) : img.status();
}

int cmd_classify(const std::vector<std::string>& args) {
  ArgParser ap("classify", "Classify photos with an ImageNet ResNet (top-k classes).",
               "IMG|DIR...");
  ClassifyArgs a;
  std::vector<std::string> pos;
  if (int rc = parse_classify_args(ap, args, a, &pos); rc >= 0) return rc;

  auto listed = list_image_files(pos, a.recursive);
  if (!listed.ok()) {
    if (a.json) std::cout << "[]\n";  // still one valid JSON document for jq and friends
    return ap.fail(listed.status().message());
  }
  std::vector<std::string> files = std::move(*listed);
  const bool any_dir = files.size() != pos.size() ||
                       std::any_of(pos.begin(), pos.end(), [](auto& p) { return is_directory(p); });
  LineAppender out_file;
  if (!a.resume.empty()) {
    if (Status st = skip_done_files(a.resume, files, out_file); !st.ok())
      return ap.fail(st.message());
    if (files.empty()) return 0;
  }
  auto clf = create_classifier(ap, a);
  if (!clf.ok()) return ap.fail(clf.status().message());
  std::fprintf(stderr, "scratchcv classify: model %s\n", (*clf)->describe().c_str());

  std::error_code mkdir_ec;
  if (!a.annotate_dir.empty() && !std::filesystem::create_directories(a.annotate_dir, mkdir_ec) &&
      mkdir_ec)
    return ap.fail(a.annotate_dir + ": cannot create directory: " + mkdir_ec.message());
  const bool progress = any_dir || files.size() > 1;
  ProgressBar bar(int64_t(files.size()), "img");
  int failures = 0;
  if (a.json) std::cout << "[\n";
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& f = files[i];
    const auto t0 = std::chrono::steady_clock::now();
    auto top = (*clf)->classify(f, a.topk);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!top.ok()) {
      ++failures;
      if (progress && isatty(2)) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "scratchcv classify: %s\n", top.status().message().c_str());
    }
    if (Status st = print_result(a, f, top, ms, i + 1 == files.size(), progress, out_file);
        !st.ok())
      return ap.fail(st.message());
    if (top.ok() && !a.annotate_dir.empty()) {
      if (Status st = annotate_result(a.annotate_dir, f, *top); !st.ok()) {
        ++failures;
        std::fprintf(stderr, "scratchcv classify: %s\n", st.message().c_str());
      }
    }
    std::cout.flush();
    std::fflush(stdout);
    if (progress) bar.update(int64_t(i + 1));
  }
  if (a.json) std::cout << "]\n";
  return failures ? 1 : 0;
}

Command reg("classify", "classify photos with an ImageNet ResNet (top-k)", cmd_classify);

}  // namespace
}  // namespace scv::cli
