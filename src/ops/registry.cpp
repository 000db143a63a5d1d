// The one table of operators: SCV_OP_LIST expanded over the row (OpDef) each op folder defines,
// and SCV_QOP_LIST over the quantized rows (QOpDef).
#include <algorithm>
#include <array>

#include "ops/op.h"
#include "ops/qop.h"

namespace scv {

namespace {

// The rows of one list, in list order; `Enum` indexes them.
template <typename Def, typename Enum, size_t N>
struct Table {
  std::array<const Def*, N> rows;
  const Def& operator[](Enum e) const { return *rows[static_cast<size_t>(e)]; }
  // The first row that `match` accepts, or nullptr.
  template <typename Match>
  const Def* find(Match match) const {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const Def* d) { return match(*d); });
    return it == rows.end() ? nullptr : *it;
  }
};

#define SCV_OP_ROW(name) &kOpDef##name,
#define SCV_QOP_ROW(name) &kQOpDef##name,
constexpr Table<OpDef, OpType, kOpCount> kOps{{SCV_OP_LIST(SCV_OP_ROW)}};
constexpr Table<QOpDef, QOpType, kQOpCount> kQOps{{SCV_QOP_LIST(SCV_QOP_ROW)}};
#undef SCV_QOP_ROW
#undef SCV_OP_ROW

}  // namespace

const OpDef& op_def(OpType op) {
  return kOps[op];
}
std::span<const OpDef* const> all_ops() {
  return kOps.rows;
}
const OpDef* find_onnx_op(const std::string& op_type) {
  return kOps.find([&](const OpDef& d) { return d.onnx.op_type && op_type == d.onnx.op_type; });
}

const QOpDef& qop_def(QOpType op) {
  return kQOps[op];
}
std::span<const QOpDef* const> all_qops() {
  return kQOps.rows;
}
const QOpDef* find_tflite_op(int32_t code) {
  return kQOps.find([&](const QOpDef& d) { return d.tflite == code; });
}

const char* op_name(OpType op) {
  const auto i = static_cast<size_t>(op);
  return i < kOps.rows.size() ? kOps.rows[i]->name : "?";
}

}  // namespace scv
