// Flatten, Reshape and Identity: shape rules, reference steps (a copy), ONNX mappings, and the
// fast plan: a view, the output shares the input's buffer.
#include <cstring>

#include "io/onnx_node.h"
#include "ops/op.h"
#include "runtime/plan.h"

namespace scv {

namespace {

Status infer_flatten(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape& x = in[0];
  SCV_ASSIGN_OR_RETURN(const int64_t axis,
                       norm_axis(node, node.attrs.axis, static_cast<int64_t>(x.size()), true));
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  *out = {outer, outer ? shape_numel(x) / outer : 0};
  return Status();
}

Status infer_reshape(const Node& node, std::span<const Shape> in, Shape* out) {
  SCV_ASSIGN_OR_RETURN(*out, reshape_target(node, in[0]));
  return Status();
}

Status infer_identity(const Node&, std::span<const Shape> in, Shape* out) {
  *out = in[0];
  return Status();
}

void ref_copy(const RefArgs& a) {
  if (a.y != a.in[0])
    std::memmove(a.y, a.in[0], sizeof(float) * static_cast<size_t>(shape_numel(a.y_shape)));
}

Status read_flatten(OnnxNodeReader& r, Attrs* a) {
  return r.get_int("axis", &a->axis);
}

Status read_reshape(OnnxNodeReader& r, Attrs* a) {
  if (r.opset() < 5) {  // Reshape-1: the target shape is an attribute
    if (r.input_count() != 1) return r.fail("expected 1 inputs, found ", r.input_count());
    SCV_TRY(r.get_ints("shape", &a->shape));
    r.ignore("consumed_inputs");
    return Status();
  }
  // The shape input must be known now: it is folded into attrs.shape.
  if (r.input_count() != 2)
    return r.fail("expected 2 inputs (data, shape), found ", r.input_count());
  SCV_TRY(r.fold_ints(1, &a->shape));
  return r.get_bool("allowzero", &a->allowzero);
}

Status read_identity(OnnxNodeReader&, Attrs*) {
  return Status();
}

// A view: the output shares the input's buffer. Blocked [N, C, 1, 1] with C a multiple of the
// channel block is already NCHW, so no reorder is needed there either.
Status plan_view(Planner& p, int index) {
  const Node& node = p.node(index);
  const int x = node.inputs[0], outv = node.outputs[0];
  if (p.is_constant(x) || node.attrs.fused_relu) return p.emit_ref(index);
  const Shape& xs = p.shape(x);
  int slot = -1;
  if (p.plain_slot(x) < 0 && p.blocked_slot(x) >= 0 && xs.size() == 4 && xs[2] == 1 && xs[3] == 1 &&
      xs[1] % p.block() == 0) {
    slot = p.blocked_slot(x);
  } else {
    SCV_ASSIGN_OR_RETURN(slot, p.plain(x));
  }
  p.set_plain(outv, slot);
  p.touch(slot);
  return Status();
}

}  // namespace

SCV_OPDEF(Flatten, 1, 1, infer_flatten, ref_copy, "Flatten", read_flatten, plan_view);
SCV_OPDEF(Reshape, 1, 2, infer_reshape, ref_copy, "Reshape", read_reshape, plan_view);
SCV_OPDEF(Identity, 1, 1, infer_identity, ref_copy, "Identity", read_identity, plan_view);

}  // namespace scv
