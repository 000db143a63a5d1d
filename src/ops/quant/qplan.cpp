// QPlanner: the activations, arena slots and steps of a quantized session being built.
#include "ops/quant/qplan.h"

#include "ops/quant/qmath.h"

#include <algorithm>
#include <cmath>

namespace scv::quant {

using namespace tflite;

void QPlanner::begin_op(int index, const OpInfo& op) {
  who_ = str("operator ", index, " (", builtin_op_name(op.code), ")");
}

Result<Act> QPlanner::make_act(int tensor) const {
  const TensorInfo& t = m_.tensors[size_t(tensor)];
  Act a;
  a.shape = t.shape;
  if (t.shape.size() > 4)
    return error("tensor ", tensor, " '", t.name, "': rank ", t.shape.size(),
                 " (at most 4 supported)");
  for (size_t i = 0; i < t.shape.size(); ++i) a.d[4 - t.shape.size() + i] = t.shape[i];
  if (t.type == DType::f32) {
    a.f32 = true;
    a.bytes = size_t(a.numel()) * 4;
    return a;
  }
  if (t.type != DType::u8 && t.type != DType::i8)
    return error("tensor ", tensor, " '", t.name, "': ", dtype_name(t.type),
                 " activations are not supported (UINT8, INT8 and FLOAT32 are)");
  if (!t.q.present())
    return error("tensor ", tensor, " '", t.name, "': ", dtype_name(t.type),
                 " without quantization parameters");
  if (t.q.per_channel())
    return error("tensor ", tensor, " '", t.name,
                 "': per-channel quantized activations are not supported");
  a.s8 = t.type == DType::i8;
  a.scale = t.q.scale[0];
  const int64_t zp = t.q.zero_point[0];
  if (zp < (a.s8 ? -128 : 0) || zp > (a.s8 ? 127 : 255))
    return error("tensor ", tensor, " '", t.name, "': zero point ", zp, " outside the ",
                 dtype_name(t.type), " range");
  // Real models use scales of ~1e-6 .. 1e3; the bounds keep every ratio of two finite in double.
  if (!(a.scale >= 1e-30f && a.scale <= 1e30f))
    return error("tensor ", tensor, " '", t.name, "': quantization scale ", a.scale,
                 " outside [1e-30, 1e30]");
  a.zp = int32_t(zp) + (a.s8 ? 128 : 0);
  a.bytes = size_t(a.numel());
  return a;
}

Status QPlanner::need(const OpInfo& op, size_t nin, size_t nout) const {
  if (op.inputs.size() < nin || op.outputs.size() < nout)
    return error(who_, ": expected ", nin, " inputs and ", nout, " outputs, found ",
                 op.inputs.size(), " and ", op.outputs.size());
  for (size_t i = 0; i < nin; ++i)
    if (op.inputs[i] < 0) return error(who_, ": input ", i, " is missing");
  return Status();
}

Result<Act> QPlanner::in_act(const OpInfo& op, size_t i) const {
  const int t = op.inputs[i];
  if (acts_[size_t(t)].storage < 0) {
    if (m_.tensors[size_t(t)].data)
      return error(who_, ": input ", i, " is a constant tensor; a computed activation is expected");
    return error(who_, ": input ", i, " (tensor ", t, ") is not computed by any earlier operator");
  }
  return acts_[size_t(t)];
}

Result<const TensorInfo*> QPlanner::constant(const OpInfo& op, size_t i) const {
  if (i >= op.inputs.size() || op.inputs[i] < 0) return error(who_, ": input ", i, " is missing");
  const TensorInfo& t = m_.tensors[size_t(op.inputs[i])];
  if (!t.data) return error(who_, ": input ", i, " ('", t.name, "') must be a constant tensor");
  return &t;
}

Status QPlanner::quantized(const Act& a, const char* what) const {
  if (a.f32)
    return error(who_, ": float ", what,
                 " (the engine runs quantized models; float is only allowed into QUANTIZE and "
                 "out of DEQUANTIZE)");
  return Status();
}

Status QPlanner::quantized_io(const OpInfo& op, Act* x, Act* y) const {
  SCV_ASSIGN_OR_RETURN(*x, in_act(op, 0));
  SCV_ASSIGN_OR_RETURN(*y, make_act(op.outputs[0]));
  SCV_TRY(quantized(*x, "input"));
  return quantized(*y, "output");
}

// TFLite's CalculateActivationRangeQuantized, in the stored domain.
Status QPlanner::act_range(Activation a, const Act& o, int32_t* lo, int32_t* hi) const {
  const int32_t qmin = o.s8 ? -128 : 0, qmax = o.s8 ? 127 : 255;
  const int32_t zp = o.s8 ? o.zp - 128 : o.zp;
  auto qz = [&](float f) { return zp + round_to_int_sat(f / o.scale); };
  int32_t l = qmin, h = qmax;
  switch (a) {
    case Activation::none:
      break;
    case Activation::relu:
      l = std::max(qmin, qz(0.0f));
      break;
    case Activation::relu6:
      l = std::max(qmin, qz(0.0f));
      h = std::min(qmax, qz(6.0f));
      break;
    case Activation::relu_n1_to_1:
      l = std::max(qmin, qz(-1.0f));
      h = std::min(qmax, qz(1.0f));
      break;
    default:
      return error(who_, ": fused activation ", int(a),
                   " is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)");
  }
  const int32_t off = o.s8 ? 128 : 0;
  *lo = l + off;
  *hi = h + off;
  return Status();
}

Status QPlanner::use(int act) {
  if (act < 0 || acts_[size_t(act)].storage < 0)
    return error("tensor ", act,
                 " is read before any operator writes it (or is a constant used as an activation)");
  Slot& s = slots_[size_t(acts_[size_t(act)].storage)];
  s.last = std::max(s.last, cur_step_);
  return Status();
}

Status QPlanner::define(int act, Act a) {
  if (acts_[size_t(act)].storage >= 0) return error("tensor ", act, " is written twice");
  if (m_.tensors[size_t(act)].data)
    return error("tensor ", act, " is a constant but an operator writes it");
  if (a.storage < 0) {  // a new slot (aliases pass the input's)
    Slot s;
    s.bytes = a.bytes;
    s.first = s.last = cur_step_;
    a.storage = int(slots_.size());
    slots_.push_back(s);
  } else {
    slots_[size_t(a.storage)].last = std::max(slots_[size_t(a.storage)].last, cur_step_);
  }
  acts_[size_t(act)] = std::move(a);
  return Status();
}

Status QPlanner::emit(std::unique_ptr<QStep> step, std::initializer_list<int> ins, int out, Act y) {
  for (int i : ins) SCV_TRY(use(i));
  if (ins.size()) step->in = *ins.begin();
  if (step->name.empty()) step->name = who_;
  step->out = out;
  if (out >= 0) SCV_TRY(define(out, std::move(y)));
  steps_.push_back(std::move(step));
  return Status();
}

namespace {
// One axis: output size and leading pad, in 64 bits (strides and dilations come from the file).
// False when the padded extent (out - 1) * s + (f - 1) * d + 1 passes 2^30: within it every tap
// coordinate the kernels compute in int (y * s - pad + k * d) stays far from overflow.
bool out_and_pad(Padding pad, int in, int f, int s, int d, int* out, int* before) {
  constexpr int64_t kMax = int64_t(1) << 30;
  const int64_t eff = (int64_t(f) - 1) * d + 1;
  const int64_t o = pad == Padding::same ? (int64_t(in) + s - 1) / s : (int64_t(in) - eff + s) / s;
  const int64_t extent = (o - 1) * s + eff;
  if (eff > kMax || extent > kMax) return false;
  const int64_t total = extent - in;
  *out = int(o);
  *before = total > 0 ? int(total / 2) : 0;
  return true;
}
}  // namespace

Status window_out(const QPlanner& p, Padding pad, ConvGeom* g) {
  if (!out_and_pad(pad, g->ih, g->kh, g->sh, g->dh, &g->oh, &g->pad_t) ||
      !out_and_pad(pad, g->iw, g->kw, g->sw, g->dw, &g->ow, &g->pad_l))
    return error(p.who(), ": a ", g->kh, "x", g->kw, " window with strides ", g->sh, "x", g->sw,
                 " and dilations ", g->dh, "x", g->dw, " spans more than 2^30 pixels");
  if (g->oh < 1 || g->ow < 1) return error(p.who(), ": the window is larger than the input");
  return Status();
}

}  // namespace scv::quant
