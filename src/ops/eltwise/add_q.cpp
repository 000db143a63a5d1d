// Quantized ADD (TFLite, the quantized variant of Add): two equally shaped tensors rescaled to a
// common scale with TFLite's left shift of 20, added, requantized and clamped (add_ref, or the
// bound ISA's add kernel).
#include <algorithm>

#include "ops/qop.h"
#include "ops/quant/qmath.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct AddStep : QStep {
  int b;
  int64_t n;
  AddParams p;
  const QKernels* k = nullptr;
  void run(const Exec& e) const override {
    const uint8_t *x = at(e, in), *y = at(e, b);
    uint8_t* o = at(e, out);
    const AddStep* self = this;
    // Chunks of 64 elements so SIMD kernels see whole vectors except at the very end.
    split_rows(e, (n + 63) / 64, [self, x, y, o](int64_t r0, int64_t r1, int) {
      const int64_t i0 = r0 * 64, i1 = std::min(self->n, r1 * 64);
      if (self->k)
        self->k->add(self->p, x, y, o, i0, i1);
      else
        add_ref(self->p, x, y, o, i0, i1);
    });
  }
};

Result<std::vector<int32_t>> infer_add(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 2, 1));
  const auto& a = p.model().tensors[size_t(op.inputs[0])].shape;
  const auto& b = p.model().tensors[size_t(op.inputs[1])].shape;
  const auto& y = p.model().tensors[size_t(op.outputs[0])].shape;
  if (a != b || a != y)
    return error(p.who(), ": shapes ", shape_str(a), " + ", shape_str(b), " -> ", shape_str(y),
                 "; only equal shapes are supported (no broadcasting)");
  return a;
}

template <bool kFast>
Status plan_add(QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(Act a, p.in_act(op, 0));
  SCV_ASSIGN_OR_RETURN(Act b, p.in_act(op, 1));
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  SCV_TRY(p.quantized(a, "input"));
  SCV_TRY(p.quantized(b, "input"));
  SCV_TRY(p.quantized(y, "output"));
  auto st = std::make_unique<AddStep>();
  AddParams& q = st->p;
  q.in1_offset = -a.zp;
  q.in2_offset = -b.zp;
  q.out_zp = y.zp;
  q.single = p.single_rounding();
  const double twice_max = 2.0 * double(std::max(a.scale, b.scale));
  quantize_multiplier(double(a.scale) / twice_max, &q.in1_mult, &q.in1_shift);
  quantize_multiplier(double(b.scale) / twice_max, &q.in2_mult, &q.in2_shift);
  quantize_multiplier(twice_max / (double(1 << q.left_shift) * double(y.scale)), &q.out_mult,
                      &q.out_shift);
  SCV_TRY(p.act_range(op.activation, y, &q.lo, &q.hi));
  st->b = op.inputs[1];
  st->n = y.numel();
  st->k = kFast ? p.kernels() : nullptr;
  return p.emit(std::move(st), {op.inputs[0], op.inputs[1]}, op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Add, "ADD", OpType::Add, quant::infer_add, quant::plan_add<false>,
           quant::plan_add<true>);

}  // namespace scv
