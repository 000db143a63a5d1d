// load_model: one entry point for every model file a user has.
#include <cstring>
#include <sstream>

#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"

namespace scv {

extern const char* const kImagenetClassesText;

Result<Graph> load_model(const std::string& path, const std::string& arch) {
  SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  if (bytes.empty()) return error(path, ": empty file");
  // torch.save (PyTorch >= 1.6) writes a zip archive: "PK\3\4". ONNX is a protobuf.
  const bool is_zip = bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0;
  if (!is_zip) {
    if (!arch.empty())
      return error(path, ": --arch applies to .pth checkpoints; this file is not one");
    auto g = parse_onnx(bytes.data(), bytes.size());
    if (!g.ok()) return g.status().with_context(path);
    return g;
  }
  auto sd = parse_pth(bytes.data(), bytes.size());
  if (!sd.ok()) return sd.status().with_context(path);
  bytes.clear();
  bytes.shrink_to_fit();
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
