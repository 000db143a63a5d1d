// The one table of operators: SCV_OP_LIST expanded over the OpDef each op folder defines.
#include <array>

#include "ops/op.h"

namespace scv {

#define SCV_OP_DECLARE(name) extern const OpDef kOpDef##name;
SCV_OP_LIST(SCV_OP_DECLARE)
#undef SCV_OP_DECLARE

namespace {

#define SCV_OP_ENTRY(name) &kOpDef##name,
constexpr std::array<const OpDef*, kOpCount> kOps = {SCV_OP_LIST(SCV_OP_ENTRY)};
#undef SCV_OP_ENTRY

}  // namespace

const OpDef& op_def(OpType op) {
  return *kOps[static_cast<size_t>(op)];
}

std::span<const OpDef* const> all_ops() {
  return kOps;
}

const OpDef* find_onnx_op(const std::string& op_type) {
  for (const OpDef* d : kOps)
    if (d->onnx.op_type && op_type == d->onnx.op_type) return d;
  return nullptr;
}

const char* op_name(OpType op) {
  const auto i = static_cast<size_t>(op);
  return i < kOps.size() ? kOps[i]->name : "?";
}

}  // namespace scv
