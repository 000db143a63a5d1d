// Softmax: shape rule, reference step and ONNX mapping (opset < 13 coerces the input to 2-D at
// `axis`, opset >= 13 normalises one axis). No fast plan: it runs once, on the logits.
#include "io/onnx_node.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer(const Node& node, std::span<const Shape> in, Shape* out) {
  SCV_TRY(norm_axis(node, node.attrs.axis, static_cast<int64_t>(in[0].size())).status());
  *out = in[0];
  return Status();
}

void ref_step(const RefArgs& a) {
  const Shape& xs = a.in_shapes[0];
  const int64_t r = static_cast<int64_t>(xs.size());
  const int64_t axis = a.node.attrs.axis < 0 ? a.node.attrs.axis + r : a.node.attrs.axis;
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    if (i < axis)
      outer *= xs[i];
    else if (i == axis || a.node.attrs.softmax_legacy)
      len *= xs[i];
    else
      inner *= xs[i];
  }
  ref::softmax(a.in[0], outer, len, inner, a.y);
}

Status read_onnx(OnnxNodeReader& r, Attrs* a) {
  // Softmax-1/11 flatten the input to 2-D at `axis` (default 1); Softmax-13 normalises one
  // axis (default -1).
  a->softmax_legacy = r.opset() < 13;
  a->axis = a->softmax_legacy ? 1 : -1;
  return r.get_int("axis", &a->axis);
}

}  // namespace

SCV_OPDEF(Softmax, 1, 1, infer, ref_step, "Softmax", read_onnx, nullptr);

}  // namespace scv
