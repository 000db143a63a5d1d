// Which model to run and what its classes are called: shared by the CLI and the library API.
//
// Model names: "mobilenet_v2" is the bundled TFLite MobileNetV2 (uint8, 1001 ImageNet classes,
// "background" at 0; data/models/, Apache-2.0); "resnet50" (and the other torchvision ResNet
// names) is the official torchvision checkpoint in the cache (`scratchcv fetch`). No name:
// the cached ResNet50 when it exists, else the bundled model, so a machine without internet
// still classifies. Anything else is a file path, recognised by content (TFLite "TFL3"
// identifier, .pth zip, else ONNX).
//
// Bundled files are found at run time, never through a path fixed at build time: in
// $SCV_MODELS_DIR, then <data_dir()>/models (classifier.h: $SCV_DATA_DIR, the Python package,
// the build tree's share/scratchcv, an installed prefix), then relative to the running
// executable: <exe dir>/share/scratchcv/models, <exe dir>/../share/scratchcv/models,
// <exe dir>/../data/models and <exe dir>/../../data/models (a source checkout's build trees).
#pragma once

#include <string>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/status.h"

namespace scv {

class QSession;
namespace tflite {
struct Model;
}

constexpr const char* kBundledModelName = "mobilenet_v2";
constexpr const char* kBundledModelFile = "mobilenet_v2_1.0_224_quant.tflite";
// The bundled model's names on the command line: "mobilenet_v2" or "bundled".
inline bool is_bundled_model_name(const std::string& name) {
  return name == kBundledModelName || name == "bundled";
}
constexpr const char* kBundledLabelsFile = "imagenet_labels.txt";  // 1001 names, background first
constexpr const char* kBundledModelSha256 =
    "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776";

// Directories searched for bundled files, in order (existing or not).
std::vector<std::string> bundled_model_dirs();
// Full path of a bundled file, or an error listing where it was looked for.
Result<std::string> find_bundled_file(const std::string& file_name);

struct ModelChoice {
  std::string name;     // "mobilenet_v2", "resnet50", ... or the file's name
  std::string path;     // the file to load
  bool tflite = false;  // a TFLite model (QSession) rather than a ResNet graph (Session)
  std::string source;   // "bundled", "cached", "file"
};

// Resolves a --model argument ("" = the default described above). `weights` selects the cached
// torchvision weights for ResNet names ("" = V1). Errors: a ResNet name whose weights are not
// cached (with the fetch hint), a missing file, a missing bundled model.
Result<ModelChoice> resolve_model(const std::string& model, const std::string& weights = "");

// True when the file starts like a TFLite FlatBuffer (by content, not by extension).
bool is_tflite_file(const std::string& path);

// One label per line (trailing '\r' removed, empty lines kept as empty names, a final newline
// ignored). Errors: unreadable file, no lines.
Result<std::vector<std::string>> load_labels(const std::string& path);
// Class names for a classifier with `num_classes` outputs: `labels_file` when given (its line
// count must equal num_classes), else ImageNet's 1000 names for 1000 outputs, the bundled
// 1001-name list (background at 0) for 1001 outputs, else an empty list (print indices only).
Result<std::vector<std::string>> labels_for(int num_classes, const std::string& labels_file = "");

// True when the model's first output is written by a SOFTMAX (probabilities, not logits).
bool tflite_output_is_softmax(const tflite::Model& model);

// TF-slim pre-processing to the session's input size, written into its input buffer in the
// model's input type (uint8 as is, int8 as p - 128, float32 as p / 127.5 - 1). The input must
// be [1, H, W, 3].
Status set_image_input(QSession& session, const Image& photo);

}  // namespace scv
