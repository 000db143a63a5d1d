// Quantized PAD (TFLite): constant padding with the zero point (the real value 0) by constant
// INT32 / INT64 [rank, 2] paddings. No fp32 counterpart in the op list yet.
#include <cstring>

#include "ops/qop.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct PadStep : QStep {
  int32_t id[4], od[4], before[4];
  uint8_t value;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    std::memset(o, value, size_t(od[0]) * od[1] * od[2] * od[3]);
    for (int a = 0; a < id[0]; ++a)
      for (int b = 0; b < id[1]; ++b)
        for (int c = 0; c < id[2]; ++c) {
          const uint8_t* src = s + ((int64_t(a) * id[1] + b) * id[2] + c) * id[3];
          uint8_t* dst =
              o +
              ((int64_t(a + before[0]) * od[1] + b + before[1]) * od[2] + c + before[2]) * od[3] +
              before[3];
          std::memcpy(dst, src, size_t(id[3]));
        }
  }
};

// The paddings before each of the input's dimensions (4-D, leading dimensions 0) and the
// padded shape.
Status pad_amounts(const QPlanner& p, const OpInfo& op, int32_t before[4],
                   std::vector<int32_t>* shape) {
  SCV_TRY(p.need(op, 2, 1));
  const auto& x = p.model().tensors[size_t(op.inputs[0])].shape;
  SCV_ASSIGN_OR_RETURN(const TensorInfo* pads, p.constant(op, 1));
  const int rank = int(x.size());
  if (rank > 4 || (pads->type != DType::i32 && pads->type != DType::i64) ||
      pads->numel() != 2 * rank)
    return error(p.who(), ": paddings must be INT32/INT64 [", rank, ", 2]");
  for (int i = 0; i < 4; ++i) before[i] = 0;
  *shape = x;
  for (int i = 0; i < rank; ++i) {
    int64_t b, a;
    if (pads->type == DType::i32) {
      int32_t v[2];
      std::memcpy(v, pads->data + 8 * i, 8);
      b = v[0];
      a = v[1];
    } else {
      int64_t v[2];
      std::memcpy(v, pads->data + 16 * i, 16);
      b = v[0];
      a = v[1];
    }
    if (b < 0 || a < 0 || b > (1 << 20) || a > (1 << 20))
      return error(p.who(), ": padding ", b, ", ", a, " out of range");
    before[i + 4 - rank] = int32_t(b);
    const int64_t d = int64_t(x[size_t(i)]) + b + a;
    if (d > INT32_MAX) return error(p.who(), ": padded dimension ", d, " overflows");
    (*shape)[size_t(i)] = int32_t(d);
  }
  return Status();
}

Result<std::vector<int32_t>> infer_pad(const QPlanner& p, const OpInfo& op) {
  int32_t before[4];
  std::vector<int32_t> shape;
  SCV_TRY(pad_amounts(p, op, before, &shape));
  return shape;
}

Status plan_pad(QPlanner& p, const OpInfo& op) {
  Act x, y;
  SCV_TRY(p.quantized_io(op, &x, &y));
  if (x.scale != y.scale || x.zp != y.zp)
    return error(p.who(), ": input and output quantization differ");
  auto st = std::make_unique<PadStep>();
  std::vector<int32_t> shape;
  SCV_TRY(pad_amounts(p, op, st->before, &shape));
  for (int i = 0; i < 4; ++i) {
    st->id[i] = x.d[i];
    st->od[i] = y.d[i];
  }
  st->value = uint8_t(y.zp);
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Pad, "PAD", std::nullopt, quant::infer_pad, quant::plan_pad, nullptr);

}  // namespace scv
