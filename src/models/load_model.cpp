// load_model: one entry point for every model file a user has.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"
#include "scratchcv/tflite.h"
#include "scratchcv/tflite_float.h"

namespace scv {

extern const char* const kImagenetClassesText;

namespace {

// What a file that is not a model we read looks like, in a user's words ("" when it may be an
// ONNX protobuf). Judged from the first bytes only, never from the name.
std::string describe_other_file(const uint8_t* d, size_t n) {
  auto starts = [&](const char* magic, size_t at = 0) {
    const size_t m = std::strlen(magic);
    return n >= at + m && std::memcmp(d + at, magic, m) == 0;
  };
  if (starts("SCVCKPT1"))
    return "a scratchcv training checkpoint (from `scratchcv mnist train`); use it with "
           "`scratchcv mnist test --model` or `mnist predict --model`";
  if (starts("TFL3", 4)) return "a TensorFlow Lite model";
  if (n >= 2 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5)
    return "a pickle (a PyTorch checkpoint in the legacy format, before PyTorch 1.6?); re-save "
           "it with torch.save from a current PyTorch, which writes a zip archive";
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "a JPEG image";
  if (starts("\x89PNG")) return "a PNG image";
  if (starts("GIF8")) return "a GIF image";
  if (starts("BM") && n >= 26 && (d[14] == 40 || d[14] == 108 || d[14] == 124))
    return "a BMP image";
  if (starts("RIFF") && starts("WEBP", 8)) return "a WebP image";
  if (starts("II*") || starts("MM\0*")) return "a TIFF image";
  if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) return "gzip-compressed data (decompress it first)";
  if (starts("PK")) return "";  // zip: handled by the caller
  // Text: an HTML error page saved by a failed download, a label file, ...
  size_t text = 0, probe = std::min<size_t>(n, 256);
  for (size_t i = 0; i < probe; ++i)
    text += (d[i] >= 0x20 && d[i] < 0x7f) || d[i] == '\n' || d[i] == '\r' || d[i] == '\t';
  if (probe >= 16 && text == probe) {
    const std::string head(reinterpret_cast<const char*>(d), std::min<size_t>(probe, 40));
    const bool html = head.find("<!") != std::string::npos ||
                      head.find("<html") != std::string::npos ||
                      head.find("<HTML") != std::string::npos;
    std::string shown;
    for (char c : head) shown += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
    return std::string(html ? "an HTML page (a failed download?)" : "a text file") +
           " starting with \"" + shown + "\"";
  }
  // ONNX is a protobuf ModelProto: it opens with the tag of one of its fields (ir_version = 1,
  // producer_name = 2, ..., graph = 7, opset_import = 8, metadata_props = 14).
  static const uint8_t kTags[] = {0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0x7a};
  if (n > 0 && std::memchr(kTags, d[0], sizeof kTags)) return "";
  char hex[48];
  std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", n > 0 ? d[0] : 0, n > 1 ? d[1] : 0,
                n > 2 ? d[2] : 0, n > 3 ? d[3] : 0);
  return std::string("a file of an unknown format (first bytes ") + hex + ")";
}

}  // namespace

Result<Graph> load_model(const std::string& path, const std::string& arch) {
  // Mapped, not read: the checkpoint's float32 weights become read-only views of the page
  // cache (no copy), each released as the session packs it and drops the graph's reference.
  SCV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::open(path));
  if (file->size() == 0) return error(path, ": empty file");
  // torch.save (PyTorch >= 1.6) writes a zip archive: "PK\3\4". ONNX is a protobuf.
  const bool is_zip = file->size() >= 4 && std::memcmp(file->data(), "PK\x03\x04", 4) == 0;
  if (tflite::is_tflite(file->data(), file->size())) {
    // A TFLite model, dequantized into a float graph (scratchcv/tflite_float.h).
    if (!arch.empty())
      return error(path,
                   ": --arch applies to .pth checkpoints; this file is a TensorFlow Lite model");
    auto m = tflite::parse_tflite(file->data(), file->size());
    if (!m.ok())
      return error(path,
                   ": not a model scratchcv reads: a TensorFlow Lite file that does not parse (",
                   m.status().message(), ")");
    auto f = build_tflite_float(*m);
    if (!f.ok())
      return error(path, ": a TensorFlow Lite model that the float graph cannot hold: ",
                   f.status().message());
    return std::move(f->graph);
  }
  if (!is_zip) {
    if (std::string other = describe_other_file(file->data(), file->size()); !other.empty())
      return error(path, ": this is ", other,
                   ", not a model scratchcv reads (expected a PyTorch .pth checkpoint, a zip "
                   "written by torch.save, or an ONNX model)");
    if (!arch.empty())
      return error(path, ": --arch applies to .pth checkpoints; this file is not one");
    auto g = parse_onnx(file->data(), file->size());
    if (!g.ok())
      return error(path, ": not a readable ONNX model (the file is neither a torch.save zip nor ",
                   "a valid ONNX protobuf): ", g.status().message());
    return g;
  }
  auto sd = parse_pth(std::move(file));  // the views keep the mapping alive
  if (!sd.ok()) return sd.status().with_context(path);
  ResNetConfig cfg;
  if (arch.empty()) {
    auto c = detect_resnet(*sd);
    if (!c.ok()) return c.status().with_context(path);
    cfg = *c;
  } else {
    auto c = resnet_config(arch);
    if (!c.ok()) return c.status();
    cfg = *c;
    if (const Tensor* fc = find_tensor(*sd, "fc.weight"); fc && fc->rank() == 2)
      cfg.num_classes = fc->dim(0);
  }
  auto g = build_resnet(*sd, cfg);
  if (!g.ok()) return g.status().with_context(path);
  return g;
}

Result<std::vector<std::string>> imagenet_labels() {
  std::vector<std::string> labels;
  std::istringstream in(kImagenetClassesText);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) labels.push_back(line);
  if (labels.size() != 1000)
    return error("embedded ImageNet labels: expected 1000 names, found ", labels.size());
  return labels;
}

}  // namespace scv
