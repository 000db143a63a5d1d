// Quantized CONCATENATION (TFLite): inputs joined along one axis, each rescaled to the output's
// quantization in float as TFLite's kernel does (copied as is where it already matches), clamped
// by the fused activation. No fp32 counterpart in the op list yet.
#include <algorithm>
#include <cmath>

#include "ops/qop.h"
#include "ops/quant/qmath.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct ConcatStep : QStep {
  struct Part {
    int act;
    int64_t inner;
    bool same;
    float s, b;
  };
  std::vector<Part> parts;
  int64_t outer, out_inner;
  int32_t out_zp, lo, hi;
  void run(const Exec& e) const override {
    uint8_t* o = at(e, out);
    for (int64_t r = 0; r < outer; ++r) {
      uint8_t* dst = o + r * out_inner;
      for (const Part& p : parts) {
        const uint8_t* src = at(e, p.act) + r * p.inner;
        if (p.same) {
          for (int64_t i = 0; i < p.inner; ++i)
            dst[i] = uint8_t(std::clamp<int32_t>(src[i], lo, hi));
        } else {
          for (int64_t i = 0; i < p.inner; ++i) {
            const int32_t v = round_to_int_sat(float(src[i]) * p.s + p.b) + out_zp;
            dst[i] = uint8_t(std::clamp(v, lo, hi));
          }
        }
        dst += p.inner;
      }
    }
  }
};

Result<int> concat_axis(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 1, 1));
  const int rank = int(p.model().tensors[size_t(op.outputs[0])].shape.size());
  const int axis = op.axis < 0 ? op.axis + rank : op.axis;
  if (axis < 0 || axis >= rank)
    return error(p.who(), ": axis ", op.axis, " out of range for rank ", rank);
  return axis;
}

// Inputs of the output's rank that agree off the axis; the axis sizes add up.
Result<std::vector<int32_t>> infer_concat(const QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(const int axis, concat_axis(p, op));
  const auto& y = p.model().tensors[size_t(op.outputs[0])].shape;
  std::vector<int32_t> want = y;
  int64_t sum_axis = 0;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    if (op.inputs[i] < 0) return error(p.who(), ": input ", i, " is missing");
    const auto& x = p.model().tensors[size_t(op.inputs[i])].shape;
    if (x.size() != y.size())
      return error(p.who(), ": input ", i, " has rank ", x.size(), ", output ", y.size());
    for (size_t d = 0; d < y.size(); ++d)
      if (int(d) != axis && x[d] != y[d])
        return error(p.who(), ": input ", i, " shape ", shape_str(x), " does not match output ",
                     shape_str(y));
    sum_axis += x[size_t(axis)];
  }
  if (sum_axis != y[size_t(axis)])
    return error(p.who(), ": inputs add up to ", sum_axis, " along axis ", axis, ", output has ",
                 y[size_t(axis)]);
  return want;
}

Status plan_concat(QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(const int axis, concat_axis(p, op));
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  SCV_TRY(p.quantized(y, "output"));
  const int ax4 = axis + 4 - int(y.shape.size());
  auto st = std::make_unique<ConcatStep>();
  st->outer = 1;
  for (int i = 0; i < ax4; ++i) st->outer *= y.d[i];
  st->out_inner = y.numel() / std::max<int64_t>(st->outer, 1);
  SCV_TRY(p.act_range(op.activation, y, &st->lo, &st->hi));
  st->out_zp = y.zp;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    SCV_ASSIGN_OR_RETURN(Act x, p.in_act(op, i));
    SCV_TRY(p.quantized(x, "input"));
    ConcatStep::Part part;
    part.act = op.inputs[i];
    part.inner = x.numel() / std::max<int64_t>(st->outer, 1);
    part.same = x.scale == y.scale && x.zp == y.zp;
    part.s = x.scale / y.scale;
    part.b = -float(x.zp) * part.s;
    st->parts.push_back(part);
    SCV_TRY(p.use(part.act));
  }
  return p.emit(std::move(st), {}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Concatenation, "CONCATENATION", std::nullopt, quant::infer_concat, quant::plan_concat,
           nullptr);

}  // namespace scv
