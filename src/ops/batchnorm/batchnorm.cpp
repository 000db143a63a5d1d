// BatchNormalization (inference): shape rule, reference step, ONNX mapping and the unfused fast
// step. Usually it never runs: the session folds it into the preceding Conv (graph/passes.h).
#include <cmath>

#include "io/onnx_node.h"
#include "ops/fast.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape& x = in[0];
  if (x.size() < 2) return error("node '", node.name, "': BatchNorm input must be rank >= 2");
  for (int i = 1; i <= 4; ++i)
    if (shape_numel(in[i]) != x[1])
      return error("node '", node.name, "': parameter ", i, " has ", shape_numel(in[i]),
                   " elements, expected ", x[1]);
  *out = x;
  return Status();
}

void ref_step(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  ref::batchnorm(a.in[0], xs[0], xs[1], shape_numel(xs) / (xs[0] * xs[1]), a.in[1], a.in[2],
                 a.in[3], a.in[4], a.node.attrs.epsilon, a.y);
}

Status read_onnx(OnnxNodeReader& r, Attrs* a) {
  SCV_TRY(r.get_float("epsilon", &a->epsilon));
  r.ignore("momentum");         // only used when training
  r.ignore("is_test");          // opset < 7
  r.ignore("consumed_inputs");  // opset 1
  int64_t training = 0, spatial = 1;
  SCV_TRY(r.get_int("training_mode", &training));
  SCV_TRY(r.get_int("spatial", &spatial));
  if (training != 0)
    return r.fail("training_mode=", training, " is not supported (inference only)");
  if (spatial != 1) return r.fail("spatial=", spatial, " is not supported");
  if (r.output_count() > 1)
    return r.fail("the training outputs (running mean/var) are not supported; found ",
                  r.output_count(), " outputs, expected 1");
  return Status();
}

// Unfused BatchNorm (per-channel y = x * a + s), SIMD or scalar.
struct BatchNormStep : Step {
  const FastKernels* k = nullptr;  // nullptr: reference kernel
  const float *gamma = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
  float eps = 1e-5f;
  Tensor keep[4];
  int64_t n = 0, c = 0, hw = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override {
    if (!k) {
      ref::batchnorm(e.ptr(x), n, c, hw, gamma, beta, mean, var, eps, e.ptr(y));
      return;
    }
    const float* xp = e.ptr(x);
    float* yp = e.ptr(y);
    for (int64_t img = 0; img < n; ++img)
      for (int64_t ch = 0; ch < c; ++ch) {
        const float a = gamma[ch] / std::sqrt(var[ch] + eps);
        const int64_t o = (img * c + ch) * hw;
        k->scale_shift(xp + o, a, beta[ch] - mean[ch] * a, yp + o, hw);
      }
  }
};

// Constant parameters on an activation: the per-channel step; anything else: reference.
Status plan(Planner& p, int index) {
  const Node& node = p.node(index);
  if (p.is_constant(node.inputs[0]) || node.attrs.fused_relu) return p.emit_ref(index);
  for (int i = 1; i <= 4; ++i)
    if (!p.const_of(node, i)) return p.emit_ref(index);
  const Shape& ys = p.shape(node.outputs[0]);
  const FastKernels* k = fast_kernels(p.options());
  auto st = std::make_unique<BatchNormStep>();
  st->info = {node.name, k ? "batchnorm" : "ref:BatchNorm", 4.0 * shape_numel(ys)};
  st->k = k;
  for (int i = 0; i < 4; ++i) st->keep[i] = *p.const_of(node, i + 1);
  st->gamma = st->keep[0].data();
  st->beta = st->keep[1].data();
  st->mean = st->keep[2].data();
  st->var = st->keep[3].data();
  st->eps = node.attrs.epsilon;
  st->n = ys[0];
  st->c = ys[1];
  st->hw = shape_numel(ys) / (ys[0] * ys[1]);
  SCV_ASSIGN_OR_RETURN(st->x, p.plain(node.inputs[0]));
  p.touch(st->x);
  return p.push_out(std::move(st), node.outputs[0], shape_numel(ys), false);
}

}  // namespace

SCV_OPDEF(BatchNorm, 5, 5, infer, ref_step, "BatchNormalization", read_onnx, plan);

}  // namespace scv
