// Model names, the default model, bundled-file search and class labels.
#include "scratchcv/model_zoo.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scratchcv/classifier.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/qsession.h"

namespace scv {

namespace {
std::string exe_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, size_t(n));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}
}  // namespace

std::vector<std::string> bundled_model_dirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("SCV_MODELS_DIR"); d && *d) dirs.push_back(d);
  // The shipped-data directory of the library (classifier.h: $SCV_DATA_DIR, the Python
  // package, the build tree's share/scratchcv, an installed prefix).
  if (const std::string d = data_dir(); !d.empty()) dirs.push_back(d + "/models");
  const std::string e = exe_dir();
  if (!e.empty()) {
    dirs.push_back(e + "/share/scratchcv/models");
    dirs.push_back(e + "/../share/scratchcv/models");
    dirs.push_back(e + "/../data/models");
    dirs.push_back(e + "/../../data/models");
  }
  return dirs;
}

Result<std::string> find_bundled_file(const std::string& file_name) {
  std::string tried;
  for (const std::string& d : bundled_model_dirs()) {
    const std::string p = d + "/" + file_name;
    if (file_exists(p)) return std::filesystem::path(p).lexically_normal().string();
    tried += (tried.empty() ? "" : ", ") + d;
  }
  return error("bundled file ", file_name, " not found (looked in: ", tried,
               "); set SCV_MODELS_DIR to the directory that holds it");
}

bool is_tflite_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t head[8] = {0};
  if (!f.read(reinterpret_cast<char*>(head), 8)) return false;
  return tflite::is_tflite(head, 8);
}

Result<ModelChoice> resolve_model(const std::string& model, const std::string& weights) {
  ModelChoice c;
  auto bundled = [&]() -> Result<ModelChoice> {
    SCV_ASSIGN_OR_RETURN(std::string p, find_bundled_file(kBundledModelFile));
    return ModelChoice{kBundledModelName, p, true, "bundled"};
  };
  if (model.empty()) {
    const std::string cached = cached_model_path("resnet50", weights);
    if (!cached.empty() && file_exists(cached))
      return ModelChoice{"resnet50", cached, false, "cached"};
    return bundled();
  }
  if (is_bundled_model_name(model)) return bundled();
  for (const std::string& n : resnet_names())
    if (model == n) {
      SCV_ASSIGN_OR_RETURN(ModelFile f, find_model_file(n, weights));
      const std::string p = cached_model_path(n, weights);
      if (!file_exists(p)) return error(missing_weights_message(n, weights));
      return ModelChoice{n, p, false, "cached"};
    }
  if (!file_exists(model)) {
    std::string names = std::string(kBundledModelName);
    for (const std::string& n : resnet_names()) names += ", " + n;
    return error(model, ": no such file, and not a model name (", names, ")");
  }
  const size_t slash = model.rfind('/');
  return ModelChoice{slash == std::string::npos ? model : model.substr(slash + 1), model,
                     is_tflite_file(model), "file"};
}

Result<std::vector<std::string>> load_labels(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  std::vector<std::string> labels;
  std::string line;
  for (uint8_t b : bytes) {
    if (b == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      labels.push_back(line);
      line.clear();
    } else {
      line += char(b);
    }
  }
  if (!line.empty()) labels.push_back(line);
  if (labels.empty()) return error(path, ": no labels (expected one class name per line)");
  return labels;
}

Result<std::vector<std::string>> labels_for(int num_classes, const std::string& labels_file) {
  if (!labels_file.empty()) {
    SCV_ASSIGN_OR_RETURN(std::vector<std::string> l, load_labels(labels_file));
    if (int(l.size()) != num_classes)
      return error(labels_file, ": ", l.size(), " labels, but the model has ", num_classes,
                   " classes");
    return l;
  }
  if (num_classes == 1000) return imagenet_labels();
  if (num_classes == 1001) {
    auto p = find_bundled_file(kBundledLabelsFile);
    if (!p.ok()) return p.status();
    SCV_ASSIGN_OR_RETURN(std::vector<std::string> l, load_labels(*p));
    if (l.size() != 1001) return error(*p, ": expected 1001 labels, found ", l.size());
    return l;
  }
  return std::vector<std::string>{};
}

bool tflite_output_is_softmax(const tflite::Model& m) {
  if (m.outputs.empty()) return false;
  int t = m.outputs[0];
  // Walk back through shape-only ops and a final QUANTIZE / DEQUANTIZE.
  for (int guard = 0; guard < 8; ++guard) {
    const tflite::OpInfo* w = nullptr;
    for (const tflite::OpInfo& op : m.ops)
      if (!op.outputs.empty() && op.outputs[0] == t) w = &op;
    if (!w) return false;
    if (w->code == tflite::kSoftmax) return true;
    if ((w->code == tflite::kReshape || w->code == tflite::kSqueeze ||
         w->code == tflite::kQuantize || w->code == tflite::kDequantize) &&
        !w->inputs.empty() && w->inputs[0] >= 0) {
      t = w->inputs[0];
      continue;
    }
    return false;
  }
  return false;
}

Status set_image_input(QSession& s, const Image& photo) {
  const QTensorInfo& in = s.input_info();
  if (in.shape.size() != 4 || in.shape[0] != 1 || in.shape[3] != 3)
    return error("model input ", in.shape.size(), "-D, expected an image input [1, H, W, 3]");
  SCV_ASSIGN_OR_RETURN(Image img, tfslim_preprocess(photo, in.shape[2], in.shape[1]));
  uint8_t* dst = s.input_data();
  const size_t n = img.pixels.size();
  switch (in.type) {
    case tflite::DType::u8:
      std::memcpy(dst, img.pixels.data(), n);
      break;
    case tflite::DType::i8:
      for (size_t i = 0; i < n; ++i) dst[i] = uint8_t(img.pixels[i] ^ 0x80);
      break;
    case tflite::DType::f32: {
      float* f = reinterpret_cast<float*>(dst);
      for (size_t i = 0; i < n; ++i) f[i] = float(img.pixels[i]) / 127.5f - 1.0f;
      break;
    }
    default:
      return error("model input of type ", tflite::dtype_name(in.type), " is not an image");
  }
  return Status();
}

}  // namespace scv
