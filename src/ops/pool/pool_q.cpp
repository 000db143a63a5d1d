// Quantized AVERAGE_POOL_2D, MAX_POOL_2D and MEAN over H and W (TFLite, the quantized variants of
// AveragePool, MaxPool and GlobalAveragePool): shape rules and reference plans (pool_ref and the
// mean step below); no fast plan yet (they are a small share of MobileNet's time).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/qop.h"
#include "ops/quant/qmath.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct PoolStep : QStep {
  PoolParams p;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    const PoolStep* self = this;
    split_rows(e, int64_t(p.g.n) * p.g.oh,
               [self, s, o](int64_t r0, int64_t r1, int) { pool_ref(self->p, s, o, r0, r1); });
  }
};

Status pool_geom(const QPlanner& p, const OpInfo& op, ConvGeom* out) {
  SCV_TRY(p.need(op, 1, 1));
  const auto& x = p.model().tensors[size_t(op.inputs[0])].shape;
  if (x.size() != 4) return error(p.who(), ": input of shape ", shape_str(x), ", expected NHWC");
  if (op.stride_w < 1 || op.stride_h < 1 || op.filter_w < 1 || op.filter_h < 1)
    return error(p.who(), ": filter ", op.filter_h, "x", op.filter_w, " and strides ", op.stride_h,
                 "x", op.stride_w, " must be >= 1");
  ConvGeom g;
  g.n = x[0];
  g.ih = x[1];
  g.iw = x[2];
  g.ic = g.oc = x[3];
  g.kh = op.filter_h;
  g.kw = op.filter_w;
  g.sh = op.stride_h;
  g.sw = op.stride_w;
  SCV_TRY(window_out(p, op.padding, &g));
  *out = g;
  return Status();
}
constexpr auto infer_pool = infer_window<pool_geom>;

Status plan_pool(QPlanner& p, const OpInfo& op) {
  Act x, y;
  SCV_TRY(p.quantized_io(op, &x, &y));
  if (x.scale != y.scale || x.zp != y.zp || x.s8 != y.s8)
    return error(p.who(), ": input and output quantization differ (TFLite requires them equal)");
  auto st = std::make_unique<PoolStep>();
  SCV_TRY(pool_geom(p, op, &st->p.g));
  st->p.average = op.code == kAveragePool2d;
  st->p.signed_round = x.s8;
  SCV_TRY(p.act_range(op.activation, y, &st->p.lo, &st->p.hi));
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

// MEAN over H and W of NHWC: TFLite's uint8 reference_ops::Mean or int8
// reference_integer_ops::Mean.
struct MeanStep : QStep {
  int n, hw, c;
  bool int8_formula, single;
  int32_t mult, in_zp, out_zp, bias;
  int shift;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch) {
        // Sums in 64 bits, saturated to int32 (TFLite's int32 sum, without its overflow on
        // maps of millions of pixels); requantized values can be any int32 (hostile scales).
        int64_t sum = 0;
        const uint8_t* p = s + int64_t(b) * hw * c + ch;
        int32_t acc;
        if (int8_formula) {
          for (int i = 0; i < hw; ++i) sum += int32_t(p[int64_t(i) * c]) - in_zp;
          const int64_t r = requantize(add_sat(int32_t(0), sum), mult, shift, single);
          acc = add_sat(int32_t(r > 0 ? (r + hw / 2) / hw : (r - hw / 2) / hw), out_zp);
        } else {
          for (int i = 0; i < hw; ++i) sum += p[int64_t(i) * c];
          acc = add_sat(requantize(add_sat(int32_t(0), sum), mult, shift, single), bias);
        }
        o[int64_t(b) * c + ch] = uint8_t(std::clamp(acc, 0, 255));
      }
  }
};

// Only the mean over axes 1 and 2 of a 4-D tensor; any output of N x C values (keep_dims or not).
Result<std::vector<int32_t>> infer_mean(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 2, 1));
  const auto& x = p.model().tensors[size_t(op.inputs[0])].shape;
  SCV_ASSIGN_OR_RETURN(const TensorInfo* axes, p.constant(op, 1));
  bool hw = x.size() == 4 && axes->type == DType::i32 && axes->numel() == 2;
  if (hw) {
    int32_t a0, a1;
    std::memcpy(&a0, axes->data, 4);
    std::memcpy(&a1, axes->data + 4, 4);
    a0 = a0 < 0 ? a0 + 4 : a0;
    a1 = a1 < 0 ? a1 + 4 : a1;
    hw = std::min(a0, a1) == 1 && std::max(a0, a1) == 2;
  }
  if (!hw)
    return error(p.who(),
                 ": only the mean over axes 1 and 2 (H, W) of an NHWC tensor is supported");
  if (x[1] < 1 || x[2] < 1 || int64_t(x[1]) * x[2] > std::numeric_limits<int32_t>::max())
    return error(p.who(), ": mean over ", x[1], " x ", x[2], " pixels");
  const TensorInfo& y = p.model().tensors[size_t(op.outputs[0])];
  if (y.numel() != int64_t(x[0]) * x[3])
    return error(p.who(), ": output ", shape_str(y.shape), " does not hold N x C values");
  return y.shape;
}

Status plan_mean(QPlanner& p, const OpInfo& op) {
  Act x, y;
  SCV_TRY(p.quantized_io(op, &x, &y));
  auto st = std::make_unique<MeanStep>();
  st->n = x.d[0];
  st->hw = x.d[1] * x.d[2];
  st->c = x.d[3];
  st->int8_formula = x.s8;
  st->single = p.single_rounding();
  st->in_zp = x.zp;
  st->out_zp = y.zp;
  if (x.s8) {
    quantize_multiplier(double(x.scale) / double(y.scale), &st->mult, &st->shift);
  } else {
    float temp = float(x.zp) * x.scale / y.scale;
    if (!(std::abs(temp) < 1e9f))
      return error(p.who(), ": input and output scales ", x.scale, ", ", y.scale,
                   " put the zero-point correction out of range");
    temp = temp > 0 ? temp + 0.5f : temp - 0.5f;
    st->bias = y.zp - int32_t(temp);
    const float real = x.scale / (float(st->hw) * y.scale);
    quantize_multiplier(double(real), &st->mult, &st->shift);
  }
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(AveragePool2d, "AVERAGE_POOL_2D", OpType::AveragePool, quant::infer_pool,
           quant::plan_pool, nullptr);
SCV_QOPDEF(MaxPool2d, "MAX_POOL_2D", OpType::MaxPool, quant::infer_pool, quant::plan_pool, nullptr);
SCV_QOPDEF(Mean, "MEAN", OpType::GlobalAveragePool, quant::infer_mean, quant::plan_mean, nullptr);

}  // namespace scv
