// Relu and Add (NumPy broadcasting): shape rules, reference steps, ONNX mappings, and the fast
// step for ReLU and same-shape Add(+ReLU) in any layout. A ReLU or residual Add right after a
// Conv is usually fused into it instead (graph/passes.h).
#include "io/onnx_node.h"
#include "ops/fast.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer_same(const Node&, std::span<const Shape> in, Shape* out) {
  *out = in[0];
  return Status();
}

Status infer_add(const Node& node, std::span<const Shape> in, Shape* out) {
  if (!ref::broadcast_shape(in[0], in[1], out))
    return error("node '", node.name, "': shapes ", shape_str(in[0]), " and ", shape_str(in[1]),
                 " do not broadcast");
  return Status();
}

void ref_relu(const RefArgs& a) {
  ref::relu(a.in[0], shape_numel(a.y_shape), a.y);
}

void ref_add(const RefArgs& a) {
  ref::add_broadcast(a.in[0], a.in_shapes[0], a.in[1], a.in_shapes[1], a.y, a.y_shape);
}

Status read_relu(OnnxNodeReader&, Attrs*) {
  return Status();
}

Status read_add(OnnxNodeReader& r, Attrs*) {
  if (r.has("axis")) return r.fail("legacy broadcasting with 'axis' (opset < 7) is not supported");
  r.ignore("broadcast");
  r.ignore("consumed_inputs");
  return Status();
}

// Relu or same-shape Add (+ReLU), SIMD, any layout, in chunks of 4096 floats over the threads.
struct EltwiseStep : Step {
  const FastKernels* k = nullptr;
  bool is_add = false, relu = false;
  int a = -1, b = -1, y = -1;
  int64_t count = 0;
  void run(const Exec& e) override { parallel(e, this, (count + 4095) / 4096); }
  void range(const Exec& e, int64_t bgn, int64_t end) {
    const int64_t i0 = bgn * 4096, i1 = std::min(count, end * 4096);
    const float* ap = e.ptr(a) + i0;
    float* yp = e.ptr(y) + i0;
    if (is_add)
      k->add(ap, e.ptr(b) + i0, yp, i1 - i0, relu);
    else
      k->relu(ap, yp, i1 - i0);
  }
};

// SIMD kernels on activations; a broadcasting or constant Add runs the reference.
Status plan(Planner& p, int index) {
  const Node& node = p.node(index);
  const FastKernels* k = fast_kernels(p.options());
  const int x = node.inputs[0], outv = node.outputs[0];
  const bool is_add = node.op == OpType::Add;
  if (!k || p.is_constant(x)) return p.emit_ref(index);
  if (is_add && (p.is_constant(node.inputs[1]) || p.shape(node.inputs[1]) != p.shape(x)))
    return p.emit_ref(index);
  const Shape& ys = p.shape(outv);
  auto st = std::make_unique<EltwiseStep>();
  st->info = {node.name, is_add ? "add" : "relu", 0};
  st->k = k;
  st->is_add = is_add;
  st->relu = is_add && node.attrs.fused_relu;
  const bool blockable = ys.size() == 4 || ys.size() == 2;
  const bool blk = blocked_on(p) && p.blocked_slot(x) >= 0 && blockable &&
                   (!is_add || p.blocked_slot(node.inputs[1]) >= 0);
  if (blk) {
    st->a = p.blocked_slot(x);
    if (is_add) st->b = p.blocked_slot(node.inputs[1]);
    st->count = p.blocked_floats(ys);
  } else {
    SCV_ASSIGN_OR_RETURN(st->a, p.plain(x));
    if (is_add) {
      SCV_ASSIGN_OR_RETURN(st->b, p.plain(node.inputs[1]));
    }
    st->count = shape_numel(ys);
  }
  p.touch(st->a);
  if (is_add) p.touch(st->b);
  const int64_t count = st->count;
  return p.push_out(std::move(st), outv, count, blk);
}

}  // namespace

SCV_OPDEF(Relu, 1, 1, infer_same, ref_relu, "Relu", read_relu, plan);
SCV_OPDEF(Add, 2, 2, infer_add, ref_add, "Add", read_add, plan);

}  // namespace scv
