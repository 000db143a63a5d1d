// The forward trace and the backward pass over the graph IR (see scratchcv/explain.h).
//
// Convolutions run as im2col + GEMM forward and GEMM + col2im backward, with the kernels
// inference and training share (src/ops/conv/im2col.h, src/ops/gemm/sgemm.h), depthwise ones
// through direct per-channel loops forward and backward; ReLU's gradient is
// training's activation layer. Other ops run forward through the reference kernels and have their
// backward written here, next to the forward they differentiate.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "explain/arena.h"
#include "explain/depthwise.h"
#include "ops/conv/im2col.h"
#include "ops/gemm/sgemm.h"
#include "ops/op.h"
#include "scratchcv/explain.h"
#include "scratchcv/train.h"

namespace scv::explain {

namespace {

using Clock = std::chrono::steady_clock;

// Conv parameters of a node on input x with weight w (the reference executor's rules).
Status conv_params(const Node& node, const Tensor& x, const Tensor& w, ref::Conv2dParams* p) {
  if (x.rank() != 4 || w.rank() != 4)
    return error("node '", node.name, "': Conv expects 4-D input and weight, found ",
                 shape_str(x.shape()), " and ", shape_str(w.shape()));
  const int64_t g = node.attrs.group;
  if (g <= 0 || x.dim(1) % g != 0 || w.dim(0) % g != 0 || w.dim(1) * g != x.dim(1))
    return error("node '", node.name, "': weight ", shape_str(w.shape()), " does not fit input ",
                 shape_str(x.shape()), " with group=", g);
  ref::Pool2dParams wp;
  SCV_TRY(window_params(node, x.dim(2), x.dim(3), w.dim(2), w.dim(3), &wp));
  *p = ref::Conv2dParams{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t, wp.pad_l,
                         wp.pad_b, wp.pad_r, wp.dh, wp.dw, g};
  return Status();
}

// Below this many multiply-adds per output (cin / groups * kh * kw) a group's GEMM is too small
// to pay for im2col and a GEMM call per group: a depthwise 3x3 (9) took 220 ms per MobileNetV2
// block through GEMM and ~3 ms through the direct reference loops (forward, 2 threads).
constexpr int64_t kGroupGemmMinK = 64;

// The GEMM path (im2col, any kernel, strides, pads and dilations) takes ungrouped convolutions,
// and grouped ones when each group's GEMM is big enough.
bool im2col_fits(const ref::Conv2dParams& p, int64_t cin) {
  return p.groups == 1 || cin / p.groups * p.kh * p.kw >= kGroupGemmMinK;
}

// Clip with scalar bounds (ReLU6) and Add of two same-shaped tensors (residuals), the
// elementwise ops of MobileNets, run here on the pool; other shapes go to the reference.
bool elementwise_fast(const Node& node, const std::vector<Tensor>& in) {
  if (in.empty() || in[0].empty()) return false;
  if (node.op == OpType::Clip) {
    for (size_t k = 1; k < in.size(); ++k)
      if (!in[k].empty() && in[k].numel() != 1) return false;
    return true;
  }
  return node.op == OpType::Add && in.size() == 2 && in[1].shape() == in[0].shape();
}

// The reference's arithmetic: y = min(max(x, lo), hi); y = a + b.
void elementwise_forward(const Node& node, const std::vector<Tensor>& in, Tensor* y,
                         ThreadPool& pool) {
  const float* a = in[0].data();
  float* o = y->data();
  if (node.op == OpType::Clip) {
    const auto bound = [&](size_t k, float def) {
      return k < in.size() && !in[k].empty() ? in[k][0] : def;
    };
    const float lo = bound(1, -std::numeric_limits<float>::infinity());
    const float hi = bound(2, std::numeric_limits<float>::infinity());
    for_range(pool, y->numel(), y->numel(), [a, o, lo, hi](int64_t b, int64_t e) {
      const float* __restrict as = a;
      float* __restrict os = o;
      for (int64_t i = b; i < e; ++i) os[i] = std::min(std::max(as[i], lo), hi);
    });
    return;
  }
  const float* c = in[1].data();
  for_range(pool, y->numel(), y->numel(), [a, c, o](int64_t b, int64_t e) {
    const float* __restrict as = a, * __restrict cs = c;
    float* __restrict os = o;
    for (int64_t i = b; i < e; ++i) os[i] = as[i] + cs[i];
  });
}

// c [m] = op(a) b + beta c (+ bias) for one column b [k]: a matrix-vector product (a classifier
// on pooled features). The GEMM would pack all of a for 1 useful column in 16: on MobileNetV2's
// 1001 x 1280 classifier that took 11 ms forward and as much per backward pass, this ~1 ms.
// Sums in a different order than the GEMM: the same results up to float rounding.
void gemv_threads(ThreadPool& pool, bool ta, int m, int k, const float* a, int lda, const float* b,
                  float beta, float* c, const float* bias) {
  for_range(pool, m, int64_t(m) * k, [&](int64_t r0, int64_t r1) {
    if (!ta) {  // rows of a: dot products, 8 partial sums each
      for (int64_t r = r0; r < r1; ++r) {
        const float* ar = a + r * lda;
        float part[8] = {};
        int64_t j = 0;
        for (; j + 8 <= k; j += 8)
          for (int u = 0; u < 8; ++u) part[u] += ar[j + u] * b[j + u];
        float sum = 0.f;
        for (; j < k; ++j) sum += ar[j] * b[j];
        for (float v : part) sum += v;
        c[r] = (bias ? bias[r] : beta == 0.f ? 0.f : beta * c[r]) + sum;
      }
      return;
    }
    // columns of a (op(a) = a^T): c[r] = sum over j of a[j, r] b[j], row by row of a
    for (int64_t r = r0; r < r1; ++r) c[r] = bias ? bias[r] : beta == 0.f ? 0.f : beta * c[r];
    for (int64_t j = 0; j < k; ++j) {
      const float* aj = a + j * lda;
      const float bj = b[j];
      for (int64_t r = r0; r < r1; ++r) c[r] += aj[r] * bj;
    }
  });
}

// c [m x n] = op(a) b + beta c through training's GEMM, op(a) = a or a^T ([m x k], leading
// dimension lda), b [k x n] and c row-major with n columns; with `bias` ([m], then beta must be
// 0), c = op(a) b + bias: each thread fills its own part of c with the bias before its GEMM
// adds into it (the same additions, in the same order, as filling c first). Threads split the
// columns when the map is wide, else the rows of c; small products run on this thread.
void gemm_threads(ThreadPool& pool, const GemmKernel& gk, bool ta, int m, int n, int k,
                  const float* a, int lda, const float* b, float beta, float* c,
                  const float* bias = nullptr) {
  const int64_t work = int64_t(m) * n * k;
  if (n == 1) return gemv_threads(pool, ta, m, k, a, lda, b, beta, c, bias);
  auto fill = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r) std::fill(c + r * n + c0, c + r * n + c1, bias[r]);
  };
  if (n >= 64 * pool.num_threads()) {
    for_range(
        pool, n, work,
        [&](int64_t c0, int64_t c1) {
          if (bias) fill(0, m, c0, c1);
          sgemm(gk, ta, false, m, c1 - c0, k, 1.f, a, lda, b + c0, n, bias ? 1.f : beta, c + c0, n);
        },
        gk.nr);
  } else {
    for_range(
        pool, m, work,
        [&](int64_t r0, int64_t r1) {
          if (bias) fill(r0, r1, 0, n);
          sgemm(gk, ta, false, r1 - r0, n, k, 1.f, a + (ta ? r0 : r0 * lda), lda, b, n,
                bias ? 1.f : beta, c + r0 * n, n);
        },
        gk.mr);
  }
}

// A 1x1, stride-1, unpadded convolution: its input is the GEMM's column matrix as it is.
bool unit_conv(const ref::Conv2dParams& p) {
  return p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.pad_t == 0 && p.pad_l == 0 &&
         p.pad_b == 0 && p.pad_r == 0;
}

// y = conv(x, w) + b through im2col and training's GEMM, threads over output columns (or rows
// of the weight when the map is small).
void conv_forward_gemm(const Tensor& x, const Tensor& w, const float* bias,
                       const ref::Conv2dParams& p, Tensor* y, Arena& arena, ThreadPool& pool) {
  const GemmKernel& gk = gemm_kernel(active_isa());
  const int N = int(x.dim(0)), C = int(x.dim(1)), H = int(x.dim(2)), W = int(x.dim(3));
  const int cout = int(w.dim(0)), kk = int(p.kh * p.kw);
  const int Ho = int(y->dim(2)), Wo = int(y->dim(3)), HWo = Ho * Wo;
  const int G = int(p.groups), cin_g = C / G, cout_g = cout / G, Kg = cin_g * kk;
  const bool direct = unit_conv(p);  // the input already is the col matrix
  Tensor colbuf = direct ? Tensor() : arena.tensor({int64_t(C) * kk * HWo}, false);
  for (int n = 0; n < N; ++n) {
    const float* xn = x.data() + size_t(n) * C * H * W;
    float* yn = y->data() + size_t(n) * cout * HWo;
    const float* col = xn;
    if (!direct) {
      for_range(pool, C, int64_t(C) * kk * HWo, [&](int64_t c0, int64_t c1) {
        im2col(xn, H, W, p, Ho, Wo, c0, c1, colbuf.data());
      });
      col = colbuf.data();
    }
    for (int g = 0; g < G; ++g) {
      const float* wg = w.data() + size_t(g) * cout_g * Kg;
      const float* cg = col + size_t(g) * Kg * HWo;
      float* yg = yn + size_t(g) * cout_g * HWo;
      gemm_threads(pool, gk, false, cout_g, HWo, Kg, wg, Kg, cg, 0.f, yg,
                   bias ? bias + size_t(g) * cout_g : nullptr);
    }
  }
}

// dx = conv^T(dy) through training's GEMM (dcol = W^T dy) and col2im.
void conv_backward_gemm(const Tensor& dy, const Tensor& w, const ref::Conv2dParams& p, Tensor* dx,
                        Arena& arena, ThreadPool& pool) {
  const GemmKernel& gk = gemm_kernel(active_isa());
  const int N = int(dx->dim(0)), C = int(dx->dim(1)), H = int(dx->dim(2)), W = int(dx->dim(3));
  const int cout = int(w.dim(0)), kk = int(p.kh * p.kw);
  const int Ho = int(dy.dim(2)), Wo = int(dy.dim(3)), HWo = Ho * Wo;
  const int G = int(p.groups), cin_g = C / G, cout_g = cout / G, Kg = cin_g * kk;
  const bool direct = unit_conv(p);
  Tensor colbuf = direct ? Tensor() : arena.tensor({int64_t(C) * kk * HWo}, false);
  for (int n = 0; n < N; ++n) {
    const float* dyn = dy.data() + size_t(n) * cout * HWo;
    float* dxn = dx->data() + size_t(n) * C * H * W;
    float* dcol = direct ? dxn : colbuf.data();
    for (int g = 0; g < G; ++g) {
      const float* wg = w.data() + size_t(g) * cout_g * Kg;
      const float* dyg = dyn + size_t(g) * cout_g * HWo;
      float* cg = dcol + size_t(g) * Kg * HWo;
      gemm_threads(pool, gk, true, Kg, HWo, cout_g, wg, Kg, dyg, 0.f, cg);
    }
    if (!direct) {
      for_range(pool, C, int64_t(C) * kk * HWo,
                [&](int64_t c0, int64_t c1) { col2im(dcol, H, W, p, Ho, Wo, c0, c1, dxn); });
    }
  }
}

int64_t conv_flops(const Tensor& w, const Tensor& y) {
  return 2 * y.numel() * w.dim(1) * w.dim(2) * w.dim(3);  // each output: cin/groups * kh * kw MACs
}

Status not_constant(const Node& node, const char* what) {
  return error("node '", node.name, "' (", op_name(node.op), "): the backward pass needs a ",
               "constant ", what, "; this graph computes it");
}

// Sum of dy (shape `out`) over the dims that `in` broadcasts (NumPy rules, right-aligned).
Tensor reduce_broadcast(const Tensor& dy, const Shape& in) {
  if (dy.shape() == in) return dy;
  Tensor r(in);
  const Shape& out = dy.shape();
  const int ro = int(out.size()), ri = int(in.size());
  // Strides of `in` seen from out's index space (0 on broadcast dims).
  std::vector<int64_t> stride(ro, 0);
  int64_t st = 1;
  for (int d = ri - 1; d >= 0; --d) {
    const int od = d + ro - ri;
    stride[od] = in[d] == 1 ? 0 : st;
    st *= in[d];
  }
  std::vector<int64_t> idx(ro, 0);
  for (int64_t i = 0; i < dy.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < ro; ++d) off += idx[d] * stride[d];
    r[off] += dy[i];
    for (int d = ro - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

}  // namespace

void maxpool2d_switches(const float* x, int64_t nc, int64_t h, int64_t w,
                        const ref::Pool2dParams& p, float* y, int32_t* sw) {
  const int64_t oh = ref::conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = ref::conv_out_dim(w, p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  for (int64_t plane = 0; plane < nc; ++plane) {
    const float* xp = x + plane * h * w;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float m = -std::numeric_limits<float>::infinity();
        int32_t best = -1;
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          if (iy < 0 || iy >= h) continue;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            if (ix < 0 || ix >= w) continue;
            const float v = xp[iy * w + ix];
            if (best < 0 || v > m) m = v, best = int32_t(iy * w + ix);  // first maximum wins
          }
        }
        y[(plane * oh + oy) * ow + ox] = m;
        sw[(plane * oh + oy) * ow + ox] = best;
      }
  }
}

void conv2d_backward_data_ref(const float* dy, int64_t n, int64_t cout, int64_t oh, int64_t ow,
                              const float* weight, const ref::Conv2dParams& p, int64_t c, int64_t h,
                              int64_t w, float* dx) {
  const int64_t cin_g = c / p.groups, cout_g = cout / p.groups;
  std::fill(dx, dx + n * c * h * w, 0.f);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t g = co / cout_g;
      const float* dyp = dy + (b * cout + co) * oh * ow;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        float* dxp = dx + (b * c + g * cin_g + ci) * h * w;
        const float* wp = weight + (co * cin_g + ci) * p.kh * p.kw;
        for (int64_t i = 0; i < p.kh; ++i)
          for (int64_t j = 0; j < p.kw; ++j) {
            const float wv = wp[i * p.kw + j];
            for (int64_t oy = 0; oy < oh; ++oy) {
              const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
              if (iy < 0 || iy >= h) continue;
              for (int64_t ox = 0; ox < ow; ++ox) {
                const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
                if (ix >= 0 && ix < w) dxp[iy * w + ix] += wv * dyp[oy * ow + ox];
              }
            }
          }
      }
    }
}

Result<Trace> run_trace(const Graph& g, const Tensor& input, ThreadPool& pool) {
  SCV_TRY(g.validate());
  if (g.inputs.size() != 1)
    return error("explain needs a graph with one input, this one has ", g.inputs.size());
  Trace t;
  t.graph = &g;
  t.arena = Arena::make();
  Arena& arena = *t.arena;
  t.values.resize(g.values.size());
  t.producer.assign(g.values.size(), -1);
  t.switches.resize(g.nodes.size());
  t.node_ms.assign(g.nodes.size(), 0.0);
  t.node_flops.assign(g.nodes.size(), 0);
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].is_constant()) t.values[i] = g.values[i].constant;
  t.values[g.inputs[0]] = input;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& node = g.nodes[ni];
    if (node.attrs.fused_relu)
      return error("node '", node.name,
                   "' has a fused ReLU: explain works on the graph as "
                   "loaded, before fusion");
    std::vector<Tensor> in;
    for (int id : node.inputs) in.push_back(id >= 0 ? t.values[id] : Tensor());
    const auto t0 = Clock::now();
    Tensor y;
    if (node.op == OpType::Conv && in.size() >= 2 && in[0].rank() == 4 && in[1].rank() == 4) {
      ref::Conv2dParams p;
      SCV_TRY(conv_params(node, in[0], in[1], &p));
      const int64_t oh = ref::conv_out_dim(in[0].dim(2), p.kh, p.sh, p.pad_t, p.pad_b, p.dh);
      const int64_t ow = ref::conv_out_dim(in[0].dim(3), p.kw, p.sw, p.pad_l, p.pad_r, p.dw);
      if (oh <= 0 || ow <= 0)
        return error("node '", node.name, "': input ", shape_str(in[0].shape()),
                     " is smaller than the kernel");
      const Tensor* bias = in.size() > 2 && !in[2].empty() ? &in[2] : nullptr;
      if (bias && bias->numel() != in[1].dim(0))
        return error("node '", node.name, "': bias has ", bias->numel(), " elements, expected ",
                     in[1].dim(0));
      if (is_depthwise(p, in[0].dim(1), in[1].dim(0))) {
        y = arena.tensor({in[0].dim(0), in[1].dim(0), oh, ow}, false);
        depthwise_forward(in[0], in[1], bias ? bias->data() : nullptr, p, &y, pool);
      } else if (im2col_fits(p, in[0].dim(1))) {
        y = arena.tensor({in[0].dim(0), in[1].dim(0), oh, ow}, false);
        conv_forward_gemm(in[0], in[1], bias ? bias->data() : nullptr, p, &y, arena, pool);
      } else {
        SCV_ASSIGN_OR_RETURN(auto out, run_node_reference(node, in));
        y = out[0];
      }
      t.node_flops[ni] = conv_flops(in[1], y);
    } else if (node.op == OpType::MaxPool && in[0].rank() == 4 &&
               node.attrs.kernel_shape.size() == 2) {
      const Tensor& x = in[0];
      ref::Pool2dParams p;
      SCV_TRY(window_params(node, x.dim(2), x.dim(3), node.attrs.kernel_shape[0],
                            node.attrs.kernel_shape[1], &p));
      const int64_t oh =
          ref::conv_out_dim(x.dim(2), p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
      const int64_t ow =
          ref::conv_out_dim(x.dim(3), p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
      if (oh <= 0 || ow <= 0)
        return error("node '", node.name, "': input ", shape_str(x.shape()),
                     " is smaller than the window");
      y = arena.tensor({x.dim(0), x.dim(1), oh, ow}, false);
      t.switches[ni].resize(size_t(y.numel()));
      const int64_t plane = x.dim(2) * x.dim(3), oplane = oh * ow;
      pool.parallel_for(x.dim(0) * x.dim(1), [&](int64_t b, int64_t e) {
        maxpool2d_switches(x.data() + b * plane, e - b, x.dim(2), x.dim(3), p,
                           y.data() + b * oplane, t.switches[ni].data() + b * oplane);
      });
      t.node_flops[ni] = y.numel() * p.kh * p.kw;
    } else if (elementwise_fast(node, in)) {
      y = arena.tensor(in[0].shape(), false);
      elementwise_forward(node, in, &y, pool);
      t.node_flops[ni] = y.numel();
    } else {
      SCV_ASSIGN_OR_RETURN(auto out, run_node_reference(node, in));
      if (out.empty()) return error("node '", node.name, "' produced no output");
      y = out[0];
      if (node.op == OpType::Gemm || node.op == OpType::MatMul)
        t.node_flops[ni] =
            2 * y.numel() * (in[0].rank() ? in[0].dim(node.attrs.trans_a ? -2 : -1) : 0);
      else
        t.node_flops[ni] = y.numel();
    }
    t.node_ms[ni] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (node.outputs.size() != 1)
      return error("node '", node.name, "' has ", node.outputs.size(),
                   " outputs; explain handles single-output ops");
    t.values[node.outputs[0]] = y;
    t.producer[node.outputs[0]] = int(ni);
  }
  return t;
}

namespace {

// The backward step of each op kind: dx, the gradient of the node's data input, from dy.

// Every backward step below writes its whole dx (fresh arena memory, not zero-filled) unless it
// says otherwise.

Result<Tensor> conv_backward(const Node& node, const Tensor& x, const Tensor& w, const Tensor& dy,
                             Arena& arena, ThreadPool& pool) {
  ref::Conv2dParams p;
  SCV_TRY(conv_params(node, x, w, &p));
  Tensor dx = arena.tensor(x.shape(), false);
  if (is_depthwise(p, x.dim(1), w.dim(0)))
    depthwise_backward(dy, w, p, &dx, pool);
  else if (im2col_fits(p, x.dim(1)))
    conv_backward_gemm(dy, w, p, &dx, arena, pool);
  else
    conv2d_backward_data_ref(dy.data(), dy.dim(0), dy.dim(1), dy.dim(2), dy.dim(3), w.data(), p,
                             x.dim(1), x.dim(2), x.dim(3), dx.data());
  return dx;
}

Tensor batchnorm_backward(const Node& node, const Tensor& x, const Tensor& scale, const Tensor& var,
                          const Tensor& dy, Arena& arena, ThreadPool& pool) {
  // Inference batch-norm is affine per channel: dx = dy * scale / sqrt(var + eps).
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.numel() / (n * c);
  Tensor dx = arena.tensor(x.shape(), false);
  for_range(pool, n * c, x.numel(), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const int64_t ch = pl % c;
      const float a = scale[ch] / std::sqrt(var[ch] + node.attrs.epsilon);
      const float* d = dy.data() + pl * hw;
      float* o = dx.data() + pl * hw;
      for (int64_t i = 0; i < hw; ++i) o[i] = d[i] * a;
    }
  });
  return dx;
}

Tensor relu_backward(const Tensor& x, const Tensor& y, const Tensor& dy, ReluRule rule,
                     Arena& arena, ThreadPool& pool) {
  static const std::unique_ptr<train::Layer> relu_layer = train::make_activation(train::Act::relu);
  Tensor dx = arena.tensor(x.shape(), false);
  if (rule == ReluRule::gradient) {  // training's ReLU layer: dx = dy where x > 0
    relu_layer->backward(x, y, dy, &dx, pool);
    return dx;
  }
  const float *xd = x.data(), *d = dy.data();
  float* o = dx.data();
  const bool guided = rule == ReluRule::guided;
  for_range(pool, x.numel(), x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = d[i] > 0.f && (!guided || xd[i] > 0.f) ? d[i] : 0.f;
  });
  return dx;
}

Tensor maxpool_backward(const Tensor& x, const Tensor& dy, const std::vector<int32_t>& sw,
                        Arena& arena) {
  // Unpooling: each output's gradient goes to the input cell its switch recorded (dx zeroed).
  Tensor dx = arena.tensor(x.shape(), true);
  const int64_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
  const int64_t ohw = dy.dim(2) * dy.dim(3);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t i = 0; i < ohw; ++i) {
      const int32_t s = sw[size_t(pl * ohw + i)];
      if (s >= 0) dx[pl * hw + s] += dy[pl * ohw + i];
    }
  return dx;
}

Tensor avgpool_backward(const ref::Pool2dParams& p, const Tensor& x, const Tensor& dy,
                        Arena& arena) {
  Tensor dx = arena.tensor(x.shape(), true);  // accumulated into
  const int64_t h = x.dim(2), w = x.dim(3), oh = dy.dim(2), ow = dy.dim(3);
  for (int64_t pl = 0; pl < x.dim(0) * x.dim(1); ++pl)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        // The divisor exactly as ref::avgpool2d counts it.
        int64_t inside = 0, in_padded = 0;
        for (int64_t i = 0; i < p.kh; ++i)
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            if (iy >= -p.pad_t && iy < h + p.pad_b && ix >= -p.pad_l && ix < w + p.pad_r)
              ++in_padded;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) ++inside;
          }
        const int64_t div = p.count_include_pad ? in_padded : inside;
        if (div <= 0) continue;
        const float gv = dy[(pl * oh + oy) * ow + ox] / float(div);
        for (int64_t i = 0; i < p.kh; ++i)
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) dx[(pl * h + iy) * w + ix] += gv;
          }
      }
  return dx;
}

Tensor global_avgpool_backward(const Tensor& x, const Tensor& dy, Arena& arena) {
  Tensor dx = arena.tensor(x.shape(), false);
  const int64_t planes = x.dim(0) * x.dim(1), hw = x.numel() / planes;
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float gv = dy[pl] / float(hw);
    std::fill(dx.data() + pl * hw, dx.data() + (pl + 1) * hw, gv);
  }
  return dx;
}

Tensor gemm_backward(const GemmKernel& gk, const Attrs& at, const Tensor& x, const Tensor& b,
                     const Tensor& dy, Arena& arena) {
  const int M = int(dy.dim(0)), Nn = int(dy.dim(1));
  const int K = int(at.trans_a ? x.dim(0) : x.dim(1));
  Tensor dx = arena.tensor(x.shape(), false);
  if (!at.trans_a) {  // dA [M, K] = alpha * dY op(B)^T
    sgemm(gk, false, !at.trans_b, M, K, Nn, at.alpha, dy.data(), Nn, b.data(), at.trans_b ? K : Nn,
          0.f, dx.data(), K);
  } else {  // dA [K, M] = alpha * op(B) dY^T
    sgemm(gk, at.trans_b, true, K, M, Nn, at.alpha, b.data(), at.trans_b ? K : Nn, dy.data(), Nn,
          0.f, dx.data(), M);
  }
  return dx;
}

Tensor matmul_backward(const GemmKernel& gk, const Tensor& x, const Tensor& b, const Tensor& dy,
                       Arena& arena) {
  const int M = int(x.dim(-2)), K = int(x.dim(-1)), Nn = int(b.dim(-1));
  const int64_t batch = x.numel() / (int64_t(M) * K);
  const bool bb = b.numel() != int64_t(K) * Nn;
  Tensor dx = arena.tensor(x.shape(), false);
  for (int64_t i = 0; i < batch; ++i)  // dA = dY B^T
    sgemm(gk, false, true, M, K, Nn, 1.f, dy.data() + i * M * Nn, Nn,
          b.data() + (bb ? i * K * Nn : 0), Nn, 0.f, dx.data() + i * M * K, K);
  return dx;
}

Tensor clip_backward(const Trace& t, const Node& node, const Tensor& x, const Tensor& dy,
                     ReluRule rule, ThreadPool& pool) {
  // dx = dy where lo <= x <= hi (as torch.clamp), 0 where the bound was taken.
  const auto bound = [&](size_t k, float def) {
    return k < node.inputs.size() && node.inputs[k] >= 0 ? t.values[node.inputs[k]][0] : def;
  };
  const float lo = bound(1, -std::numeric_limits<float>::infinity());
  const float hi = bound(2, std::numeric_limits<float>::infinity());
  // As an activation (ReLU6 = Clip(0, 6)) it follows the ReLU rule: the deconvnet
  // rectifies the backward signal, guided backpropagation also masks by the forward.
  Tensor dx = t.arena->tensor(x.shape(), false);
  const float *xd = x.data(), *d = dy.data();
  float* o = dx.data();
  const int64_t n = x.numel();
  // Branch-free (masks combined with &, every load unconditional) over local restrict pointers,
  // so the loops vectorize: the branchy ones mispredicted on every other element and took 8% of
  // explain's time.
  const bool rectify = rule != ReluRule::gradient, mask = rule != ReluRule::deconvnet;
  for_range(pool, n, n, [xd, d, o, lo, hi, rectify, mask](int64_t b, int64_t e) {
    const float* __restrict xs = xd;
    const float* __restrict ds = d;
    float* __restrict os = o;
    if (!rectify) {  // the gradient: dy where lo <= x <= hi
      for (int64_t i = b; i < e; ++i) {
        const float g = ds[i], v = xs[i];
        os[i] = ((v >= lo) & (v <= hi)) ? g : 0.f;
      }
    } else if (!mask) {  // deconvnet: max(dy, 0)
      for (int64_t i = b; i < e; ++i) os[i] = ds[i] > 0.f ? ds[i] : 0.f;
    } else {  // guided: both
      for (int64_t i = b; i < e; ++i) {
        const float g = ds[i], v = xs[i];
        os[i] = ((g > 0.f) & (v >= lo) & (v <= hi)) ? g : 0.f;
      }
    }
  });
  return dx;
}

Tensor softmax_backward(const Node& node, const Tensor& x, const Tensor& y, const Tensor& dy,
                        Arena& arena) {
  // dx = y * (dy - sum_j dy_j y_j) along the softmax axis.
  const int64_t r = x.rank();
  const int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    const int64_t d = x.dim(int(i));
    if (i < axis)
      outer *= d;
    else if (i == axis || node.attrs.softmax_legacy)
      len *= d;
    else
      inner *= d;
  }
  Tensor dx = arena.tensor(x.shape(), false);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in_ = 0; in_ < inner; ++in_) {
      const int64_t base = o * len * inner + in_;
      double dot = 0;
      for (int64_t l = 0; l < len; ++l) dot += double(dy[base + l * inner]) * y[base + l * inner];
      for (int64_t l = 0; l < len; ++l)
        dx[base + l * inner] = y[base + l * inner] * float(dy[base + l * inner] - dot);
    }
  return dx;
}

}  // namespace

Result<std::vector<Tensor>> backward(const Trace& t, int seed_value, const Tensor& seed_grad,
                                     const std::vector<int>& want, ReluRule rule,
                                     ThreadPool& pool) {
  const Graph& g = *t.graph;
  const int nv = int(g.values.size());
  const GemmKernel& gk = gemm_kernel(active_isa());
  if (!t.arena) return error("backward: the trace has no memory (not made by run_trace)");
  Arena& arena = *t.arena;
  if (seed_value < 0 || seed_value >= nv) return error("backward: seed value out of range");
  if (seed_grad.shape() != t.values[seed_value].shape())
    return error("backward: seed gradient ", shape_str(seed_grad.shape()), " does not match ",
                 g.values[seed_value].name, " ", shape_str(t.values[seed_value].shape()));
  std::vector<Tensor> grad(nv);
  std::vector<char> owned(nv, 0), wanted(nv, 0);
  for (int v : want) {
    if (v < 0 || v >= nv) return error("backward: wanted value out of range");
    wanted[v] = 1;
  }
  grad[seed_value] = seed_grad;
  // A value's gradient is complete once every node after its producer has been visited.
  int stop = int(g.nodes.size());
  for (int v : want) stop = std::min(stop, t.producer[v] + 1);

  // grad[v] += d. fresh: d is this pass's own buffer (not shared with another gradient), so
  // the sum may go into it; owned[v]: the same for grad[v].
  auto accumulate = [&](int v, Tensor d, bool fresh) {
    if (v < 0 || g.values[v].is_constant()) return;
    if (grad[v].empty()) {
      grad[v] = std::move(d);
      owned[v] = fresh;
      return;
    }
    Tensor sum = owned[v] ? grad[v] : fresh ? d : arena.tensor(d.shape(), false);
    const float *a = grad[v].data(), *b = d.data();
    float* o = sum.data();
    for_range(pool, sum.numel(), sum.numel(), [a, b, o](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) o[i] = a[i] + b[i];  // o may be a or b
    });
    grad[v] = std::move(sum);
    owned[v] = 1;
  };

  for (int ni = int(g.nodes.size()) - 1; ni >= stop; --ni) {
    const Node& node = g.nodes[ni];
    const int out = node.outputs[0];
    if (grad[out].empty()) continue;
    const Tensor dy = grad[out];
    if (!wanted[out]) grad[out] = Tensor();  // no longer needed
    const Tensor& x = t.values[node.inputs[0]];
    const int xin = node.inputs[0];
    auto needs = [&](int v) { return v >= 0 && !g.values[v].is_constant(); };
    if (node.op == OpType::Add) {
      for (int k = 0; k < 2; ++k) {
        const int v = node.inputs[k];
        if (!needs(v)) continue;
        Tensor d = reduce_broadcast(dy, t.values[v].shape());
        accumulate(v, d, d.data() != dy.data());
      }
      continue;
    }
    if (!needs(xin)) continue;
    switch (node.op) {
      case OpType::Conv: {
        if (needs(node.inputs[1])) return not_constant(node, "weight");
        SCV_ASSIGN_OR_RETURN(Tensor dx,
                             conv_backward(node, x, t.values[node.inputs[1]], dy, arena, pool));
        accumulate(xin, dx, true);
        break;
      }
      case OpType::BatchNorm:
        for (int i = 1; i <= 4; ++i)
          if (needs(node.inputs[i])) return not_constant(node, "parameter");
        accumulate(xin,
                   batchnorm_backward(node, x, t.values[node.inputs[1]], t.values[node.inputs[4]],
                                      dy, arena, pool),
                   true);
        break;
      case OpType::Relu:
        accumulate(xin, relu_backward(x, t.values[out], dy, rule, arena, pool), true);
        break;
      case OpType::MaxPool:
        accumulate(xin, maxpool_backward(x, dy, t.switches[ni], arena), true);
        break;
      case OpType::AveragePool: {
        ref::Pool2dParams p;
        SCV_TRY(window_params(node, x.dim(2), x.dim(3), node.attrs.kernel_shape[0],
                              node.attrs.kernel_shape[1], &p));
        accumulate(xin, avgpool_backward(p, x, dy, arena), true);
        break;
      }
      case OpType::GlobalAveragePool:
        accumulate(xin, global_avgpool_backward(x, dy, arena), true);
        break;
      case OpType::Flatten:
      case OpType::Reshape:
      case OpType::Identity:
        accumulate(xin, dy.reshaped(x.shape()), false);
        break;
      case OpType::Gemm:
        if (needs(node.inputs[1])) return not_constant(node, "B");
        accumulate(xin, gemm_backward(gk, node.attrs, x, t.values[node.inputs[1]], dy, arena),
                   true);
        break;
      case OpType::MatMul:
        if (needs(node.inputs[1])) return not_constant(node, "B");
        accumulate(xin, matmul_backward(gk, x, t.values[node.inputs[1]], dy, arena), true);
        break;
      case OpType::Clip:
        accumulate(xin, clip_backward(t, node, x, dy, rule, pool), true);
        break;
      case OpType::Softmax:
        accumulate(xin, softmax_backward(node, x, t.values[out], dy, arena), true);
        break;
      case OpType::Add:
        break;  // handled above
    }
  }
  std::vector<Tensor> result;
  for (int v : want) result.push_back(grad[v].empty() ? Tensor(t.values[v].shape()) : grad[v]);
  return result;
}

}  // namespace scv::explain
