// MaxPool, AveragePool (2-D) and GlobalAveragePool: shape rules, reference steps, ONNX mappings
// and the fast steps on the blocked layout (one channel block plane per work item).
#include "io/onnx_node.h"
#include "ops/fast.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer_window(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape& x = in[0];
  SCV_TRY(need_rank(node, x, 4, "input"));
  const auto& k = node.attrs.kernel_shape;
  if (k.size() != 2) return error("node '", node.name, "': expected a 2-D kernel_shape");
  ref::Pool2dParams p;
  SCV_TRY(window_params(node, x[2], x[3], k[0], k[1], &p));
  const int64_t oh = ref::conv_out_dim(x[2], p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = ref::conv_out_dim(x[3], p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  if (oh <= 0 || ow <= 0)
    return error("node '", node.name, "': input ", shape_str(x), " is smaller than the window");
  *out = {x[0], x[1], oh, ow};
  return Status();
}

Status infer_global(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape& x = in[0];
  if (x.size() < 3) return error("node '", node.name, "': input must be rank >= 3");
  *out = x;
  for (size_t i = 2; i < out->size(); ++i) (*out)[i] = 1;
  return Status();
}

ref::Pool2dParams window_of(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  ref::Pool2dParams p;
  (void)window_params(a.node, xs[2], xs[3], a.node.attrs.kernel_shape[0],
                      a.node.attrs.kernel_shape[1], &p);  // validated by infer
  return p;
}

void ref_max(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  ref::maxpool2d(a.in[0], xs[0] * xs[1], xs[2], xs[3], window_of(a), a.y);
}

void ref_avg(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  ref::avgpool2d(a.in[0], xs[0] * xs[1], xs[2], xs[3], window_of(a), a.y);
}

void ref_global(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  ref::global_avgpool(a.in[0], xs[0] * xs[1], shape_numel(xs) / (xs[0] * xs[1]), a.y);
}

Status read_max(OnnxNodeReader& r, Attrs* a) {
  SCV_TRY(onnx_window_attrs(r, a, false, false));
  if (r.output_count() > 1) return r.fail("the Indices output is not supported");
  return Status();
}

Status read_avg(OnnxNodeReader& r, Attrs* a) {
  return onnx_window_attrs(r, a, false, true);
}

Status read_global(OnnxNodeReader&, Attrs*) {
  return Status();
}

struct MaxPoolBlockedStep : Step {
  const FastKernels* k = nullptr;
  ref::Pool2dParams p;
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override { parallel(e, this, planes); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const int vl = k->vl;
    for (int64_t i = b; i < end; ++i)
      k->maxpool_blocked_plane(e.ptr(x) + i * h * w * vl, h, w, e.ptr(y) + i * oh * ow * vl, oh, ow,
                               p.kh, p.kw, p.sh, p.sw, p.pad_t, p.pad_l);
  }
};

struct GapBlockedStep : Step {
  const FastKernels* k = nullptr;
  int64_t planes = 0, hw = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override { parallel(e, this, planes); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const int vl = k->vl;
    for (int64_t i = b; i < end; ++i)
      k->gap_blocked_plane(e.ptr(x) + i * hw * vl, hw, e.ptr(y) + i * vl);
  }
};

// The blocked step's input and output slots (input already blocked), pushed.
template <typename S>
Status push_blocked(Planner& p, const Node& node, std::unique_ptr<S> st) {
  st->x = p.blocked_slot(node.inputs[0]);
  p.touch(st->x);
  return p.push_out(std::move(st), node.outputs[0], p.blocked_floats(p.shape(node.outputs[0])),
                    true);
}

// Blocked input (the previous conv wrote it so), no dilation: the blocked step.
Status plan_max(Planner& p, int index) {
  const Node& node = p.node(index);
  const int x = node.inputs[0];
  if (!blocked_on(p) || p.is_constant(x) || p.blocked_slot(x) < 0 || node.attrs.fused_relu)
    return p.emit_ref(index);
  const Shape& xs = p.shape(x);
  const Shape& ys = p.shape(node.outputs[0]);
  ref::Pool2dParams wp;
  SCV_TRY(window_params(node, xs[2], xs[3], node.attrs.kernel_shape[0], node.attrs.kernel_shape[1],
                        &wp));
  if (wp.dh != 1 || wp.dw != 1) return p.emit_ref(index);
  auto st = std::make_unique<MaxPoolBlockedStep>();
  st->info = {node.name, "maxpool_blocked", 0};
  st->k = fast_kernels(p.options());
  st->p = wp;
  st->planes = xs[0] * blocks_of(xs[1], p.block());
  st->h = xs[2];
  st->w = xs[3];
  st->oh = ys[2];
  st->ow = ys[3];
  return push_blocked(p, node, std::move(st));
}

Status plan_global(Planner& p, int index) {
  const Node& node = p.node(index);
  const int x = node.inputs[0];
  const Shape& xs = p.shape(x);
  if (!blocked_on(p) || p.is_constant(x) || p.blocked_slot(x) < 0 || xs.size() != 4 ||
      node.attrs.fused_relu)
    return p.emit_ref(index);
  auto st = std::make_unique<GapBlockedStep>();
  st->info = {node.name, "gap_blocked", 0};
  st->k = fast_kernels(p.options());
  st->planes = xs[0] * blocks_of(xs[1], p.block());
  st->hw = xs[2] * xs[3];
  return push_blocked(p, node, std::move(st));
}

}  // namespace

SCV_OPDEF(MaxPool, 1, 1, infer_window, ref_max, "MaxPool", read_max, plan_max);
SCV_OPDEF(AveragePool, 1, 1, infer_window, ref_avg, "AveragePool", read_avg, nullptr);
SCV_OPDEF(GlobalAveragePool, 1, 1, infer_global, ref_global, "GlobalAveragePool", read_global,
          plan_global);

}  // namespace scv
