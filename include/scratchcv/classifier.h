// Classifier: the high-level API. Load a model once, then classify photos (a path, an encoded
// JPEG/PNG buffer or a decoded image) and get the top-k classes with labels and probabilities.
//
//   auto clf = scv::Classifier::create({.model = "resnet50.pth", .threads = 2});
//   if (!clf.ok()) { std::cerr << clf.status().message() << "\n"; return 1; }
//   auto top = (*clf)->classify("photo.jpg", 5);   // Result<std::vector<Prediction>>
//   for (const scv::Prediction& p : *top) std::printf("%s %.3f\n", p.label.c_str(), p.probability);
//
// Pipeline (the same as `scratchcv classify`): decode (EXIF orientation applied) -> torchvision's
// eval transform (resize the shorter side, centre crop, normalise) -> forward pass on the
// backend -> softmax -> the k most probable classes.
//
// Backends: the float32 prepared Session ("fp32"). The backend is chosen at create() from the
// model and `precision`; an unavailable combination is an error naming what is supported.
//
// Threads: a Classifier owns its backend and its thread pool; calls on one Classifier are
// serialised by a mutex (they share one activation arena), so concurrent callers should each
// have their own Classifier (two of them run in parallel).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

struct ClassifierOptions {
  // A model file (.pth state_dict or .onnx) or the name of an official torchvision
  // architecture ("resnet50", "resnet18", ...) whose fetched weights are in the cache
  // (`scratchcv fetch`). "" = the default model: the cached torchvision resnet50.
  std::string model;
  std::string arch;     // ResNet architecture of a .pth ("" = recognised from its tensors)
  std::string weights;  // cached official weights for a named arch: "V1" (default) or "V2"
  int threads = 0;      // worker threads; 0 = all usable CPUs (more are clamped to those)
  std::string precision = "fp32";  // arithmetic of the backend
  std::string isa;         // "" = best for this CPU; "ref", "avx2" or "avx512" force kernels
  bool reference = false;  // run the plain reference executor (slow; for checking)
  int resize = 0;          // shorter side before cropping; 0 = the weights' default (256)
  int crop = 224;          // centre crop = network input size
};

struct Prediction {
  int index = 0;          // class index in the model's output
  std::string label;      // class name ("tabby, tabby cat")
  float probability = 0;  // softmax probability
};

// Softmax (in double, max subtracted) of n logits, then the k most probable, most probable
// first (ties: lower index first). labels may be empty (then label = "#<index>").
std::vector<Prediction> top_k(const float* logits, int n, int k,
                              const std::vector<std::string>& labels);

// One result in the JSON schema of `scratchcv classify --json/--jsonl`, on one line, no newline:
//   {"file":"a.jpg","top":[{"index":281,"label":"tabby, tabby cat","probability":0.42}],"ms":9.5}
// or {"file":"a.jpg","error":"a.jpg: not a JPEG or PNG file ..."} for an error. Probabilities
// are printed with 6 significant digits, ms with 2 decimals (ms < 0: the field is left out).
std::string classification_json(const std::string& file, const Result<std::vector<Prediction>>& r,
                                double ms);

// The place the model's arithmetic runs (fp32 Session today; quantized engines plug in here).
class ClassifierBackend {
 public:
  virtual ~ClassifierBackend() = default;
  // Input shape of one run, [1, 3, H, W], and the number of outputs (classes) per image.
  virtual const Shape& input_shape() const = 0;
  virtual int64_t num_outputs() const = 0;
  // One image: input numel(input_shape()) floats (normalised NCHW), output num_outputs() logits.
  virtual Status run(const float* input, float* output) = 0;
  virtual std::string describe() const = 0;  // "fp32 session, avx512, 2 threads"
};

class Classifier {
 public:
  static Result<std::unique_ptr<Classifier>> create(const ClassifierOptions& opt = {});
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Top-k of one photo (k is clamped to 1..num_classes()). Errors: unreadable or corrupt file
  // ("photo.jpg: not a JPEG or PNG file ..."), empty buffer, images the pre-processing refuses.
  Result<std::vector<Prediction>> classify(const std::string& path, int k = 5);
  Result<std::vector<Prediction>> classify_encoded(const uint8_t* data, size_t size, int k = 5);
  // A decoded image: 1 (gray), 3 (RGB) or 4 (RGBA) channels, as scv::Image.
  Result<std::vector<Prediction>> classify_image(const Image& img, int k = 5);

  // The network input of a decoded image: float [1, 3, crop, crop].
  Result<Tensor> preprocess(const Image& img) const;
  // Raw logits of n images already pre-processed: input n x 3 x crop x crop floats (NCHW,
  // contiguous), output n x num_classes() floats. Images run one by one through the prepared
  // backend, so each image's logits equal those of a single-image run exactly.
  Status logits(const float* input, int64_t n, float* output);

  const Shape& input_shape() const;  // [1, 3, crop, crop]
  int num_classes() const;
  const std::vector<std::string>& labels() const;
  const ClassifierOptions& options() const;  // as resolved (model path, resize, threads)
  std::string describe() const;

 private:
  Classifier() = default;
  ClassifierOptions opt_;
  std::unique_ptr<ClassifierBackend> backend_;
  std::vector<std::string> labels_;
  std::mutex mu_;  // one run at a time per backend
};

// ---- many photos (classify DIR, the cluster command) ----------------------------------------
// True for the file names classify reads from a directory: .jpg, .jpeg, .png (any case).
bool has_image_extension(const std::string& path);
// Expands arguments into photo paths: a directory gives its image files (with `recursive`, those
// of every subdirectory too), sorted by path; a file is kept as given, whatever its name. Paths
// are the argument joined with the names below it ("photos/" + "a.jpg" -> "photos/a.jpg").
// Errors: a directory that cannot be listed or holds no image files.
Result<std::vector<std::string>> list_image_files(const std::vector<std::string>& args,
                                                  bool recursive);
// The "file" of every complete record of a JSONL file written by `classify --jsonl` (what a
// resumed run skips). A missing file is an empty list. A last line cut short by an interrupted
// run (no newline, or not valid JSON) is ignored and, with `repair`, removed from the file, so
// appending continues on a line boundary. Records are written whole with their newline, so
// text after the last newline is always such a torn line. Errors: a complete line that is not a
// JSON object with a string "file" (not a classify output: the file is left untouched).
Result<std::vector<std::string>> jsonl_done_files(const std::string& path, bool repair);

// Where the data files that ship with scratchcv (labels, bundled models) are found at run time,
// never through a path fixed at build time: $SCV_DATA_DIR if set, else relative to the binary
// that contains this library (the executable, or the Python extension module):
//   <dir>/data, <dir>/share/scratchcv, <dir>/../share/scratchcv, <dir>/../../share/scratchcv
// (the Python package, the build tree, an installed prefix's bin/ or lib/). Returns "" when none
// exists.
std::string data_dir();
// data_dir()/name if that file exists; else an error naming the places searched.
Result<std::string> find_data_file(const std::string& name);

// The scratchcv version ("0.1.0").
const char* version();

}  // namespace scv
