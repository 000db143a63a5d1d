// The reference executor: runs a Graph node by node with the kernels of src/ops/ref.
// Every shape is checked here and reported as a Status, so a malformed model is an error
// message, never an out-of-bounds access.
#include <algorithm>
#include <cmath>

#include "scratchcv/graph.h"
#include "scratchcv/ops_ref.h"

namespace scv {

namespace {

int64_t attr_or(const std::vector<int64_t>& v, size_t i, int64_t def) {
  return i < v.size() ? v[i] : def;
}

}  // namespace

Status window_params(const Node& node, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     ref::Pool2dParams* p) {
  const Attrs& a = node.attrs;
  p->kh = kh;
  p->kw = kw;
  p->sh = attr_or(a.strides, 0, 1);
  p->sw = attr_or(a.strides, 1, 1);
  p->dh = attr_or(a.dilations, 0, 1);
  p->dw = attr_or(a.dilations, 1, 1);
  if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0)
    return error("node '", node.name, "': kernel, strides and dilations must be positive");
  if (!a.pads.empty() && a.pads.size() != 4)
    return error("node '", node.name, "': expected 4 pads for a 2-D op, found ", a.pads.size());
  p->pad_t = attr_or(a.pads, 0, 0);
  p->pad_l = attr_or(a.pads, 1, 0);
  p->pad_b = attr_or(a.pads, 2, 0);
  p->pad_r = attr_or(a.pads, 3, 0);
  if (p->pad_t < 0 || p->pad_l < 0 || p->pad_b < 0 || p->pad_r < 0)
    return error("node '", node.name, "': negative pads are not supported");
  if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
    // Output = ceil(in / stride); the total padding is split, the odd cell going to the end
    // (SAME_UPPER) or to the beginning (SAME_LOWER).
    auto split = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t* b, int64_t* e) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + d * (k - 1) + 1 - in);
      *b = a.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *e = total - *b;
    };
    split(h, p->kh, p->sh, p->dh, &p->pad_t, &p->pad_b);
    split(w, p->kw, p->sw, p->dw, &p->pad_l, &p->pad_r);
  } else if (a.auto_pad == "VALID") {
    p->pad_t = p->pad_l = p->pad_b = p->pad_r = 0;
  } else if (a.auto_pad != "NOTSET" && !a.auto_pad.empty()) {
    return error("node '", node.name, "': unknown auto_pad '", a.auto_pad, "'");
  }
  p->ceil_mode = a.ceil_mode;
  p->count_include_pad = a.count_include_pad;
  return Status();
}

Result<Shape> reshape_target(const Node& node, const Shape& x) {
  Shape s = node.attrs.shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0 && !node.attrs.allowzero) {
      if (i >= x.size())
        return error("node '", node.name, "': shape entry 0 refers to a missing input dim");
      s[i] = x[i];
    }
    if (s[i] == -1) {
      if (infer >= 0) return error("node '", node.name, "': more than one -1 in shape");
      infer = static_cast<int>(i);
    } else if (s[i] < 0) {
      return error("node '", node.name, "': invalid shape entry ", s[i]);
    } else {
      // A hostile shape could overflow the product; no real tensor has 2^62 elements.
      if (s[i] > 0 && known > (int64_t{1} << 62) / s[i])
        return error("node '", node.name, "': shape ", shape_str(node.attrs.shape),
                     " is too large");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || shape_numel(x) % known != 0)
      return error("node '", node.name, "': cannot reshape ", shape_str(x), " to ",
                   shape_str(node.attrs.shape));
    s[infer] = shape_numel(x) / known;
  }
  if (shape_numel(s) != shape_numel(x))
    return error("node '", node.name, "': cannot reshape ", shape_str(x), " to ",
                 shape_str(node.attrs.shape));
  return s;
}

namespace {

Status expect_rank(const Node& node, const Tensor& t, int rank, const char* what) {
  if (t.rank() != rank)
    return error("node '", node.name, "' (", op_name(node.op), "): expected ", what, " of rank ",
                 rank, ", found shape ", shape_str(t.shape()));
  return Status();
}

Result<Tensor> run_conv(const Node& node, const std::vector<Tensor>& in) {
  const Tensor& x = in[0];
  const Tensor& w = in[1];
  SCV_TRY(expect_rank(node, x, 4, "input"));
  SCV_TRY(expect_rank(node, w, 4, "weight"));
  const int64_t g = node.attrs.group;
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), cout = w.dim(0);
  if (g <= 0 || c % g != 0 || cout % g != 0 || w.dim(1) * g != c)
    return error("node '", node.name, "': weight ", shape_str(w.shape()), " does not fit input ",
                 shape_str(x.shape()), " with group=", g);
  if (!node.attrs.kernel_shape.empty() &&
      (node.attrs.kernel_shape.size() != 2 || node.attrs.kernel_shape[0] != w.dim(2) ||
       node.attrs.kernel_shape[1] != w.dim(3)))
    return error("node '", node.name, "': kernel_shape disagrees with the weight shape");
  const Tensor* bias = in.size() > 2 && !in[2].empty() ? &in[2] : nullptr;
  if (bias && (bias->rank() != 1 || bias->dim(0) != cout))
    return error("node '", node.name, "': bias shape ", shape_str(bias->shape()),
                 " does not match ", cout, " output channels");
  ref::Pool2dParams wp;
  SCV_TRY(window_params(node, h, wd, w.dim(2), w.dim(3), &wp));
  ref::Conv2dParams p{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t, wp.pad_l,
                      wp.pad_b, wp.pad_r, wp.dh, wp.dw, g};
  const int64_t oh = ref::conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh);
  const int64_t ow = ref::conv_out_dim(wd, p.kw, p.sw, p.pad_l, p.pad_r, p.dw);
  if (oh <= 0 || ow <= 0)
    return error("node '", node.name, "': input ", shape_str(x.shape()),
                 " is smaller than the kernel");
  Tensor y({n, cout, oh, ow});
  ref::conv2d(x.data(), n, c, h, wd, w.data(), cout, bias ? bias->data() : nullptr, p, y.data());
  return y;
}

Result<Tensor> run_pool(const Node& node, const Tensor& x) {
  SCV_TRY(expect_rank(node, x, 4, "input"));
  const auto& k = node.attrs.kernel_shape;
  if (k.size() != 2) return error("node '", node.name, "': expected a 2-D kernel_shape");
  ref::Pool2dParams p;
  SCV_TRY(window_params(node, x.dim(2), x.dim(3), k[0], k[1], &p));
  const int64_t oh = ref::conv_out_dim(x.dim(2), p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = ref::conv_out_dim(x.dim(3), p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  if (oh <= 0 || ow <= 0)
    return error("node '", node.name, "': input ", shape_str(x.shape()),
                 " is smaller than the window");
  Tensor y({x.dim(0), x.dim(1), oh, ow});
  if (node.op == OpType::MaxPool)
    ref::maxpool2d(x.data(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), p, y.data());
  else
    ref::avgpool2d(x.data(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), p, y.data());
  return y;
}

Result<Tensor> run_gemm(const Node& node, const std::vector<Tensor>& in) {
  const Tensor &a = in[0], &b = in[1];
  SCV_TRY(expect_rank(node, a, 2, "A"));
  SCV_TRY(expect_rank(node, b, 2, "B"));
  const Attrs& at = node.attrs;
  const int64_t m = at.trans_a ? a.dim(1) : a.dim(0), k = at.trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = at.trans_b ? b.dim(1) : b.dim(0), n = at.trans_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    return error("node '", node.name, "': A ", shape_str(a.shape()), " and B ",
                 shape_str(b.shape()), " have different inner dimensions");
  const Tensor* c = in.size() > 2 && !in[2].empty() ? &in[2] : nullptr;
  int64_t cr = 1, cc = 1;
  if (c) {
    const Shape& cs = c->shape();
    if (cs.size() > 2) return error("node '", node.name, "': C must have rank <= 2");
    cc = cs.empty() ? 1 : cs.back();
    cr = cs.size() == 2 ? cs[0] : 1;
    if ((cr != 1 && cr != m) || (cc != 1 && cc != n))
      return error("node '", node.name, "': C ", shape_str(cs), " does not broadcast to [", m, ", ",
                   n, "]");
  }
  Tensor y({m, n});
  ref::gemm(a.data(), b.data(), c ? c->data() : nullptr, cr, cc, m, n, k, at.trans_a, at.trans_b,
            at.alpha, at.beta, y.data());
  return y;
}

Result<Tensor> run_matmul(const Node& node, const Tensor& a, const Tensor& b) {
  // 2-D x 2-D, or batched [..., M, K] x [K, N] / [..., K, N] with equal batch dims.
  if (a.rank() < 2 || b.rank() < 2)
    return error("node '", node.name, "': MatMul of rank < 2 is not supported");
  const int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1);
  if (b.dim(-2) != k)
    return error("node '", node.name, "': A ", shape_str(a.shape()), " and B ",
                 shape_str(b.shape()), " have different inner dimensions");
  const int64_t batch_a = a.numel() / (m * k);
  const int64_t batch_b = b.numel() / (k * n);
  if (batch_b != 1 && (batch_b != batch_a || a.rank() != b.rank()))
    return error("node '", node.name, "': MatMul batch broadcasting is not supported");
  Shape ys = a.shape();
  ys.back() = n;
  Tensor y(ys);
  for (int64_t i = 0; i < batch_a; ++i)
    ref::gemm(a.data() + i * m * k, b.data() + (batch_b == 1 ? 0 : i * k * n), nullptr, 1, 1, m, n,
              k, false, false, 1.0f, 0.0f, y.data() + i * m * n);
  return y;
}

}  // namespace

Result<std::vector<Tensor>> run_node_reference(const Node& node, const std::vector<Tensor>& in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].empty() && i == 0) return error("node '", node.name, "': missing input tensor");
  }
  const Tensor& x = in[0];
  Tensor y;
  switch (node.op) {
    case OpType::Conv: {
      SCV_ASSIGN_OR_RETURN(y, run_conv(node, in));
      break;
    }
    case OpType::BatchNorm: {
      if (x.rank() < 2) return error("node '", node.name, "': BatchNorm input must be rank >= 2");
      const int64_t c = x.dim(1);
      for (int i = 1; i <= 4; ++i)
        if (in[i].numel() != c)
          return error("node '", node.name, "': parameter ", i, " has ", in[i].numel(),
                       " elements, expected ", c);
      y = Tensor(x.shape());
      ref::batchnorm(x.data(), x.dim(0), c, x.numel() / (x.dim(0) * c), in[1].data(), in[2].data(),
                     in[3].data(), in[4].data(), node.attrs.epsilon, y.data());
      break;
    }
    case OpType::Relu:
      y = Tensor(x.shape());
      ref::relu(x.data(), x.numel(), y.data());
      break;
    case OpType::MaxPool:
    case OpType::AveragePool: {
      SCV_ASSIGN_OR_RETURN(y, run_pool(node, x));
      break;
    }
    case OpType::GlobalAveragePool: {
      if (x.rank() < 3) return error("node '", node.name, "': input must be rank >= 3");
      Shape s = x.shape();
      int64_t hw = 1;
      for (size_t i = 2; i < s.size(); ++i) hw *= s[i], s[i] = 1;
      y = Tensor(s);
      ref::global_avgpool(x.data(), x.dim(0) * x.dim(1), hw, y.data());
      break;
    }
    case OpType::Flatten: {
      int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + x.rank() : node.attrs.axis;
      if (axis < 0 || axis > x.rank())
        return error("node '", node.name, "': axis ", node.attrs.axis, " out of range");
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
      y = x.reshaped({outer, outer ? x.numel() / outer : 0});
      break;
    }
    case OpType::Reshape: {
      SCV_ASSIGN_OR_RETURN(Shape target, reshape_target(node, x.shape()));
      y = x.reshaped(target);
      break;
    }
    case OpType::Gemm: {
      SCV_ASSIGN_OR_RETURN(y, run_gemm(node, in));
      break;
    }
    case OpType::MatMul: {
      SCV_ASSIGN_OR_RETURN(y, run_matmul(node, in[0], in[1]));
      break;
    }
    case OpType::Add: {
      Shape s;
      if (!ref::broadcast_shape(in[0].shape(), in[1].shape(), &s))
        return error("node '", node.name, "': shapes ", shape_str(in[0].shape()), " and ",
                     shape_str(in[1].shape()), " do not broadcast");
      y = Tensor(s);
      ref::add_broadcast(in[0].data(), in[0].shape(), in[1].data(), in[1].shape(), y.data(), s);
      break;
    }
    case OpType::Softmax: {
      const int64_t r = x.rank();
      int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
      if (axis < 0 || axis >= std::max<int64_t>(r, 1))
        return error("node '", node.name, "': axis ", node.attrs.axis, " out of range");
      int64_t outer = 1, len = 1, inner = 1;
      for (int64_t i = 0; i < r; ++i) {
        const int64_t d = x.dim(static_cast<int>(i));
        if (i < axis)
          outer *= d;
        else if (i == axis || node.attrs.softmax_legacy)
          len *= d;
        else
          inner *= d;
      }
      y = Tensor(x.shape());
      ref::softmax(x.data(), outer, len, inner, y.data());
      break;
    }
    case OpType::Identity:
      y = x;
      break;
  }
  if (node.attrs.fused_relu) {
    Tensor z(y.shape());
    ref::relu(y.data(), y.numel(), z.data());
    y = z;
  }
  return std::vector<Tensor>{y};
}

Result<std::vector<Tensor>> run_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  SCV_TRY(g.validate());
  if (inputs.size() != g.inputs.size())
    return error("graph expects ", g.inputs.size(), " inputs, got ", inputs.size());
  std::vector<Tensor> env(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].is_constant()) env[i] = g.values[i].constant;
  for (size_t i = 0; i < inputs.size(); ++i) env[g.inputs[i]] = inputs[i];
  for (const Node& node : g.nodes) {
    std::vector<Tensor> in;
    in.reserve(node.inputs.size());
    for (int id : node.inputs) in.push_back(id >= 0 ? env[id] : Tensor());
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_node_reference(node, in));
    for (size_t k = 0; k < node.outputs.size() && k < out.size(); ++k)
      env[node.outputs[k]] = out[k];
  }
  std::vector<Tensor> result;
  for (int id : g.outputs) result.push_back(env[id]);
  return result;
}

}  // namespace scv
