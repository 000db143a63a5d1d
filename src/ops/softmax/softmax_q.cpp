// Quantized SOFTMAX on the last axis (TFLite, the quantized variant of Softmax): a float table
// of exp(-beta * scale * diff), diff = max - x, as TFLite's optimized uint8/int8 kernel; outputs
// round(p / out_scale) + zero point.
#include <algorithm>
#include <cmath>

#include "ops/qop.h"
#include "ops/quant/qmath.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct SoftmaxStep : QStep {
  int64_t rows, cols;
  float table[256];
  float inv_out_scale;
  int32_t out_zp;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* x = s + r * cols;
      const uint8_t mx = *std::max_element(x, x + cols);
      float sum = 0.0f;
      for (int64_t i = 0; i < cols; ++i) sum += table[mx - x[i]];
      const float k = inv_out_scale / sum;
      for (int64_t i = 0; i < cols; ++i) {
        const int32_t v = round_to_int_sat(table[mx - x[i]] * k) + out_zp;
        o[r * cols + i] = uint8_t(std::clamp(v, 0, 255));
      }
    }
  }
};

Result<std::vector<int32_t>> infer_softmax(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 1, 1));
  const auto& x = p.model().tensors[size_t(op.inputs[0])].shape;
  if (x.empty() || x.back() <= 0) return error(p.who(), ": empty last axis");
  return x;
}

Status plan_softmax(QPlanner& p, const OpInfo& op) {
  Act x, y;
  SCV_TRY(p.quantized_io(op, &x, &y));
  auto st = std::make_unique<SoftmaxStep>();
  st->cols = x.shape.back();
  st->rows = x.numel() / st->cols;
  for (int i = 0; i < 256; ++i) st->table[i] = std::exp(-double(op.beta) * double(x.scale) * i);
  st->inv_out_scale = 1.0f / y.scale;
  st->out_zp = y.zp;
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Softmax, "SOFTMAX", OpType::Softmax, quant::infer_softmax, quant::plan_softmax, nullptr);

}  // namespace scv
