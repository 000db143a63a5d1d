#include "scratchcv/pth.h"

namespace scv {

const Tensor* find_tensor(const StateDict& sd, const std::string& name) {
  for (const auto& nt : sd)
    if (nt.name == name) return &nt.tensor;
  return nullptr;
}

}  // namespace scv
