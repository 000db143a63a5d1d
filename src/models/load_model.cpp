// load_model: one entry point for every model file a user has.
#include <cstring>
#include <sstream>

#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"

namespace scv {

extern const char* const kImagenetClassesText;

Result<Graph> load_model(const std::string& path, const std::string& arch) {
  // Mapped, not read: the checkpoint's float32 weights become read-only views of the page
  // cache (no copy), each released as the session packs it and drops the graph's reference.
  SCV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::open(path));
  if (file->size() == 0) return error(path, ": empty file");
  // torch.save (PyTorch >= 1.6) writes a zip archive: "PK\3\4". ONNX is a protobuf.
  const bool is_zip = file->size() >= 4 && std::memcmp(file->data(), "PK\x03\x04", 4) == 0;
  if (!is_zip) {
    if (!arch.empty())
      return error(path, ": --arch applies to .pth checkpoints; this file is not one");
    auto g = parse_onnx(file->data(), file->size());
    if (!g.ok()) return g.status().with_context(path);
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
