// Conv (2-D, NCHW, OIHW weights, groups, dilations, auto_pad): shape rule, reference step and
// ONNX mapping. The fast plan (Winograd, blocked direct, im2col + GEMM) is in conv_plan.cpp,
// the reference kernel in conv_ref.cpp.
#include "io/onnx_node.h"
#include "ops/conv/conv_plan.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape& x = in[0];
  SCV_TRY(need_rank(node, x, 4, "input"));
  const Shape& w = in[1];
  SCV_TRY(need_rank(node, w, 4, "weight"));
  const int64_t g = node.attrs.group;
  if (g <= 0 || x[1] % g != 0 || w[0] % g != 0 || w[1] * g != x[1])
    return error("node '", node.name, "': weight ", shape_str(w), " does not fit input ",
                 shape_str(x), " with group=", g);
  const auto& k = node.attrs.kernel_shape;
  if (!k.empty() && (k.size() != 2 || k[0] != w[2] || k[1] != w[3]))
    return error("node '", node.name, "': kernel_shape disagrees with the weight shape");
  if (has_input(node, 2) && (in[2].size() != 1 || in[2][0] != w[0]))
    return error("node '", node.name, "': bias shape ", shape_str(in[2]), " does not match ", w[0],
                 " output channels");
  ref::Pool2dParams p;
  SCV_TRY(window_params(node, x[2], x[3], w[2], w[3], &p));
  const int64_t oh = ref::conv_out_dim(x[2], p.kh, p.sh, p.pad_t, p.pad_b, p.dh);
  const int64_t ow = ref::conv_out_dim(x[3], p.kw, p.sw, p.pad_l, p.pad_r, p.dw);
  if (oh <= 0 || ow <= 0)
    return error("node '", node.name, "': input ", shape_str(x), " is smaller than the kernel");
  *out = {x[0], w[0], oh, ow};
  return Status();
}

void ref_step(const RefArgs& a) {
  const Shape &xs = a.in_shapes[0], &ws = a.in_shapes[1];
  ref::Pool2dParams wp;
  (void)window_params(a.node, xs[2], xs[3], ws[2], ws[3], &wp);  // validated by infer
  ref::conv2d(a.in[0], xs[0], xs[1], xs[2], xs[3], a.in[1], ws[0],
              a.in.size() > 2 ? a.in[2] : nullptr, conv_params(wp, a.node.attrs.group), a.y);
}

Status read_onnx(OnnxNodeReader& r, Attrs* a) {
  SCV_TRY(onnx_window_attrs(r, a, true, false));
  if (const Tensor* w = r.const_input(1); w && w->rank() != 4)
    return r.fail("only 2-D convolution is supported; weight shape is ", shape_str(w->shape()));
  return Status();
}

}  // namespace

SCV_OPDEF(Conv, 2, 3, infer, ref_step, "Conv", read_onnx, plan_conv);

}  // namespace scv
