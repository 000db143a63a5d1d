// The one table of operators: SCV_OP_LIST expanded over the OpDef each op folder defines.
#include <array>

#include "ops/op.h"
#include "ops/qop.h"

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

// ---- the quantized rows (src/ops/qop.h) -------------------------------------------------------

#define SCV_QOP_DECLARE(name) extern const QOpDef kQOpDef##name;
SCV_QOP_LIST(SCV_QOP_DECLARE)
#undef SCV_QOP_DECLARE

namespace {
#define SCV_QOP_ENTRY(name) &kQOpDef##name,
constexpr std::array<const QOpDef*, kQOpCount> kQOps = {SCV_QOP_LIST(SCV_QOP_ENTRY)};
#undef SCV_QOP_ENTRY
}  // namespace

const QOpDef& qop_def(QOpType op) {
  return *kQOps[static_cast<size_t>(op)];
}

std::span<const QOpDef* const> all_qops() {
  return kQOps;
}

const QOpDef* find_tflite_op(int32_t code) {
  for (const QOpDef* d : kQOps)
    if (d->tflite == code) return d;
  return nullptr;
}

const char* op_name(OpType op) {
  const auto i = static_cast<size_t>(op);
  return i < kOps.size() ? kOps[i]->name : "?";
}

}  // namespace scv
