// Clip: y = min(max(x, lo), hi), lo and hi optional scalar inputs (ONNX Clip-11 and later;
// ReLU6 is Clip(x, 0, 6)). Shape rule, reference step and ONNX mapping; no fast plan yet (the
// session runs the reference step on arena buffers).
#include <algorithm>
#include <limits>

#include "io/onnx_node.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer(const Node& node, std::span<const Shape> in, Shape* out) {
  for (size_t i = 1; i < in.size(); ++i)
    if (has_input(node, i) && shape_numel(in[i]) != 1)
      return error("node '", node.name, "': Clip bound ", i, " must be a scalar, found ",
                   shape_str(in[i]));
  *out = in[0];
  return Status();
}

// Elementwise clamp; when lo > hi every output is hi (as ONNX specifies).
void ref_step(const RefArgs& a) {
  const float lo =
      a.in.size() > 1 && a.in[1] ? a.in[1][0] : -std::numeric_limits<float>::infinity();
  const float hi = a.in.size() > 2 && a.in[2] ? a.in[2][0] : std::numeric_limits<float>::infinity();
  const float* x = a.in[0];
  const int64_t n = shape_numel(a.y_shape);
  for (int64_t i = 0; i < n; ++i) a.y[i] = std::min(std::max(x[i], lo), hi);
}

Status read_onnx(OnnxNodeReader& r, Attrs*) {
  if (r.opset() < 11)
    return r.fail(
        "Clip before opset 11 (min/max attributes) is not supported; export with "
        "opset >= 11, where they are inputs");
  return Status();
}

}  // namespace

SCV_OPDEF(Clip, 1, 3, infer, ref_step, "Clip", read_onnx, nullptr);

}  // namespace scv
