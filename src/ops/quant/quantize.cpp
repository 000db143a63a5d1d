// QUANTIZE (float -> quantized, or quantized -> quantized with other parameters) and DEQUANTIZE
// (quantized -> float), TFLite semantics: the ops at the edges of a quantized model. No fp32
// counterpart in the op list.
#include <algorithm>
#include <cmath>

#include "ops/qop.h"
#include "ops/quant/qmath.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct QuantizeStep : QStep {  // float -> q, or q -> q (requantize)
  int64_t n;
  bool from_float, single;
  float scale;
  int32_t in_zp, out_zp, mult;
  int shift;
  void run(const Exec& e) const override {
    uint8_t* o = at(e, out);
    if (from_float) {
      const float* x = reinterpret_cast<const float*>(at(e, in));
      for (int64_t i = 0; i < n; ++i) {
        const float r = std::round(x[i] / scale);
        const float c = std::clamp(r, -1e9f, 1e9f);  // NaN/inf safe before the cast
        const int64_t v = (c == c ? int64_t(c) : 0) + out_zp;
        o[i] = uint8_t(std::clamp<int64_t>(v, 0, 255));
      }
    } else {
      const uint8_t* x = at(e, in);
      for (int64_t i = 0; i < n; ++i) {
        const int32_t v = add_sat(requantize(int32_t(x[i]) - in_zp, mult, shift, single), out_zp);
        o[i] = uint8_t(std::clamp(v, 0, 255));
      }
    }
  }
};

struct DequantizeStep : QStep {
  int64_t n;
  float scale;
  int32_t zp;
  void run(const Exec& e) const override {
    const uint8_t* x = at(e, in);
    float* o = reinterpret_cast<float*>(at(e, out));
    for (int64_t i = 0; i < n; ++i) o[i] = scale * float(int32_t(x[i]) - zp);
  }
};

// Elementwise: any output of the input's element count (the file's shape).
Result<std::vector<int32_t>> infer_elementwise(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 1, 1));
  const TensorInfo& x = p.model().tensors[size_t(op.inputs[0])];
  const TensorInfo& y = p.model().tensors[size_t(op.outputs[0])];
  if (x.numel() != y.numel())
    return error(p.who(), ": output holds ", y.numel(), " values, input ", x.numel());
  return y.shape;
}

Status plan_quantize(QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(Act x, p.in_act(op, 0));
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  SCV_TRY(p.quantized(y, "output"));
  auto st = std::make_unique<QuantizeStep>();
  st->from_float = x.f32;
  st->single = p.single_rounding();
  st->n = y.numel();
  st->scale = y.scale;
  st->in_zp = x.zp;
  st->out_zp = y.zp;
  if (!x.f32) quantize_multiplier(double(x.scale) / double(y.scale), &st->mult, &st->shift);
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

Status plan_dequantize(QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(Act x, p.in_act(op, 0));
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  SCV_TRY(p.quantized(x, "input"));
  if (!y.f32) return error(p.who(), ": expected a FLOAT32 output of the input's size");
  auto st = std::make_unique<DequantizeStep>();
  st->n = x.numel();
  st->scale = x.scale;
  st->zp = x.zp;
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Quantize, "QUANTIZE", std::nullopt, quant::infer_elementwise, quant::plan_quantize,
           nullptr);
SCV_QOPDEF(Dequantize, "DEQUANTIZE", std::nullopt, quant::infer_elementwise, quant::plan_dequantize,
           nullptr);

}  // namespace scv
