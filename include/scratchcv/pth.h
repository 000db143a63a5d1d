// Reader for PyTorch checkpoints written by torch.save (the zip format, PyTorch >= 1.6):
// a zip archive (stored entries) holding data.pkl (a pickle of the state_dict) and one raw
// little-endian storage per tensor under data/<key>. Our own zip and pickle-subset readers;
// every offset and length is bounds-checked, so a corrupt file is an error, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/file_util.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};
// Tensors in checkpoint order. Non-float tensors (e.g. BN num_batches_tracked, int64) are
// converted to float32.
using StateDict = std::vector<NamedTensor>;

// nullptr when absent.
const Tensor* find_tensor(const StateDict& sd, const std::string& name);

Result<StateDict> parse_pth(const uint8_t* data, size_t size);
Result<StateDict> load_pth(const std::string& path);
// Same checks and errors as parse_pth, without copying the weights: a float32 tensor stored
// contiguously, 4-byte aligned (torch aligns storages to 64 bytes) with 64 readable bytes after
// it, becomes a read-only Tensor::view of the mapping that keeps the mapping alive; when its
// last copy dies, its pages are released (MappedFile::release). Any other tensor is copied.
// Never write into these tensors (clone() first): the mapping is read-only.
Result<StateDict> parse_pth(std::shared_ptr<const MappedFile> file);

}  // namespace scv
