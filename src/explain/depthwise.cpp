// Depthwise convolutions for the explain pass: direct per-plane loops forward and their adjoint
// backward, in any stride, pad and dilation (see depthwise.h). Forward (and the stride-1
// adjoint, itself a correlation) reads a zero-padded copy of the plane, so no tap needs a
// bounds check, and sums 8 outputs in two SSE registers at a time.
#include "explain/depthwise.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace scv::explain {

namespace {

// Output columns [lo, hi) whose tap at input column offset `off` (ix = ox * s + off) lies inside
// [0, w).
void tap_columns(int64_t w, int64_t ow, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : std::min(ow, (-off + s - 1) / s);
  *hi = off >= w ? 0 : std::min(ow, (w - 1 - off) / s + 1);
  *hi = std::max(*hi, *lo);
}

// The column range of each tap column j of a plane: ix = ox * sw + off[j] lies inside [0, w)
// for output columns [lo[j], hi[j]).
struct TapColumns {
  std::vector<int64_t> off, lo, hi;
  TapColumns(const ref::Conv2dParams& p, int64_t w, int64_t ow)
      : off(size_t(p.kw)), lo(size_t(p.kw)), hi(size_t(p.kw)) {
    for (size_t j = 0; j < off.size(); ++j) {
      off[j] = int64_t(j) * p.dw - p.pad_l;
      tap_columns(w, ow, p.sw, off[j], &lo[j], &hi[j]);
    }
  }
};

// f(i, iy) for each kernel row i whose input row iy (of output row oy) lies inside [0, h).
template <class F>
void for_each_tap_row(const ref::Conv2dParams& p, int64_t h, int64_t oy, F&& f) {
  for (int64_t i = 0; i < p.kh; ++i) {
    const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
    if (iy >= 0 && iy < h) f(i, iy);
  }
}

// Four floats in one SSE register (GCC/clang vector extension: the block sums below stay in
// registers, which plain arrays did not).
typedef float v4 __attribute__((vector_size(16)));

// The elements xj[0], xj[S], xj[2 S], xj[3 S] (stride S = 1 or 2).
template <int S>
v4 load4(const float* xj) {
  v4 a;
  std::memcpy(&a, xj, sizeof a);
  if constexpr (S == 2) {
    v4 b;
    std::memcpy(&b, xj + 3, sizeof b);                 // xj[3..6]: nothing read past xj[6]
    return __builtin_shufflevector(a, b, 0, 2, 5, 7);  // GCC 12+ and clang
  }
  return a;
}

// A plane copied with its padding as zeros, so that every tap of every output reads inside:
// rows x cols floats, output (oy, ox)'s tap (i, j) at [oy sh + i dh, ox sw + j dw]. Its
// columns cover the output row rounded up to 4 (whole SSE blocks).
struct PaddedPlane {
  int64_t rows, cols, ow4;
  PaddedPlane(const ref::Conv2dParams& p, int64_t oh, int64_t ow)
      : rows((oh - 1) * p.sh + (p.kh - 1) * p.dh + 1),
        cols(((ow + 3) / 4 * 4 - 1) * p.sw + (p.kw - 1) * p.dw + 1),
        ow4((ow + 3) / 4 * 4) {}
  int64_t floats() const { return rows * cols + ow4; }  // the plane and one output row
  void fill(const float* x, int64_t h, int64_t w, const ref::Conv2dParams& p, float* dst) const {
    const int64_t c0 = std::clamp<int64_t>(p.pad_l, 0, cols);       // first image column
    const int64_t c1 = std::clamp<int64_t>(p.pad_l + w, c0, cols);  // after the last
    for (int64_t r = 0; r < rows; ++r) {
      float* d = dst + r * cols;
      const int64_t iy = r - p.pad_t;
      if (iy < 0 || iy >= h) {
        std::fill(d, d + cols, 0.f);
        continue;
      }
      std::fill(d, d + c0, 0.f);
      std::memcpy(d + c0, x + iy * w + (c0 - p.pad_l), sizeof(float) * size_t(c1 - c0));
      std::fill(d + c1, d + cols, 0.f);
    }
  }
};

// Output row oy from the padded plane P, 4 V columns at a time: V registers of sums stay in
// registers while all taps add in (stride S).
template <int S, int V>
void block(const float* P, const PaddedPlane& pp, const float* wk, float b,
           const ref::Conv2dParams& p, int64_t oy, int64_t ox, float* yr) {
  v4 acc[V];
  for (int k = 0; k < V; ++k) acc[k] = v4{b, b, b, b};
  for (int64_t i = 0; i < p.kh; ++i) {
    const float* pr = P + (oy * p.sh + i * p.dh) * pp.cols + ox * S;
    for (int64_t j = 0; j < p.kw; ++j) {
      const float wv = wk[i * p.kw + j];
      const v4 wq = {wv, wv, wv, wv};
      const float* xj = pr + j * p.dw;
      for (int k = 0; k < V; ++k) acc[k] += wq * load4<S>(xj + 4 * k * S);
    }
  }
  std::memcpy(yr + ox, acc, sizeof acc);
}

template <int S>
void padded_rows(const float* P, const PaddedPlane& pp, const float* wk, float b,
                 const ref::Conv2dParams& p, int64_t oh, int64_t ow, float* row, float* y) {
  for (int64_t oy = 0; oy < oh; ++oy) {
    int64_t ox = 0;
    for (; ox + 8 <= pp.ow4; ox += 8) block<S, 2>(P, pp, wk, b, p, oy, ox, row);
    if (ox < pp.ow4) block<S, 1>(P, pp, wk, b, p, oy, ox, row);
    std::memcpy(y + oy * ow, row, sizeof(float) * size_t(ow));
  }
}

// One plane of a depthwise convolution: y [oh, ow] = b + sum over taps of wk[i, j] * x[h, w]
// (padding reads zeros). Each element sees the reference's order of operations (bias, then
// the taps in (i, j) order; a tap in the padding adds a zero), so the values are ref::conv2d's.
// `scratch` holds PaddedPlane::floats().
void depthwise_plane_forward(const float* x, int64_t h, int64_t w, const float* wk, float b,
                             const ref::Conv2dParams& p, const PaddedPlane& pp, int64_t oh,
                             int64_t ow, float* scratch, float* y) {
  pp.fill(x, h, w, p, scratch);
  float* row = scratch + pp.rows * pp.cols;
  if (p.sw == 1) return padded_rows<1>(scratch, pp, wk, b, p, oh, ow, row, y);
  if (p.sw == 2) return padded_rows<2>(scratch, pp, wk, b, p, oh, ow, row, y);
  for (int64_t oy = 0; oy < oh; ++oy)
    for (int64_t ox = 0; ox < ow; ++ox) {
      float acc = b;
      for (int64_t i = 0; i < p.kh; ++i)
        for (int64_t j = 0; j < p.kw; ++j)
          acc +=
              wk[i * p.kw + j] * scratch[(oy * p.sh + i * p.dh) * pp.cols + ox * p.sw + j * p.dw];
      y[oy * ow + ox] = acc;
    }
}

// The adjoint of depthwise_plane_forward (without the bias): dx [h, w] += wk[i, j] * dy[oh, ow]
// scattered back to the pixels each tap read, one output row at a time.
void depthwise_plane_backward(const float* dy, int64_t oh, int64_t ow, const float* wk,
                              const ref::Conv2dParams& p, const TapColumns& tc, int64_t h,
                              int64_t w, float* dx) {
  const int64_t sw = p.sw;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const float* dr = dy + oy * ow;
    for_each_tap_row(p, h, oy, [&](int64_t i, int64_t iy) {
      float* xr = dx + iy * w;
      for (size_t j = 0; j < tc.off.size(); ++j) {
        const float wv = wk[i * p.kw + int64_t(j)];
        const int64_t off = tc.off[j];
        for (int64_t ox = tc.lo[j]; ox < tc.hi[j]; ++ox) xr[ox * sw + off] += wv * dr[ox];
      }
    });
  }
}

// With stride 1 the adjoint is itself a correlation: dx = dy correlated with the kernel turned
// by 180 degrees, with pads (k - 1) * d - pad.
ref::Conv2dParams transposed_stride1(const ref::Conv2dParams& p) {
  ref::Conv2dParams q = p;
  q.pad_t = (p.kh - 1) * p.dh - p.pad_t;
  q.pad_l = (p.kw - 1) * p.dw - p.pad_l;
  q.pad_b = (p.kh - 1) * p.dh - p.pad_b;
  q.pad_r = (p.kw - 1) * p.dw - p.pad_r;
  return q;
}

}  // namespace

bool is_depthwise(const ref::Conv2dParams& p, int64_t cin, int64_t cout) {
  return p.groups > 1 && p.groups == cin && cout % cin == 0;
}

// y = depthwise conv(x, w) + b, threads over output planes.
void depthwise_forward(const Tensor& x, const Tensor& w, const float* bias,
                       const ref::Conv2dParams& p, Tensor* y, ThreadPool& pool) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t cout = w.dim(0), M = cout / C, oh = y->dim(2), ow = y->dim(3);
  const PaddedPlane pp(p, oh, ow);
  for_range(pool, N * cout, y->numel() * p.kh * p.kw, [&](int64_t b, int64_t e) {
    std::unique_ptr<float[]> scratch(new float[size_t(pp.floats())]);  // fill() writes it
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t n = pl / cout, o = pl % cout;
      depthwise_plane_forward(x.data() + (n * C + o / M) * H * W, H, W, w.data() + o * p.kh * p.kw,
                              bias ? bias[o] : 0.f, p, pp, oh, ow, scratch.get(),
                              y->data() + pl * oh * ow);
    }
  });
}

// dx = the transposed depthwise conv of dy, threads over input planes (each sums its M outputs).
// Stride 1 with one output per channel (MobileNets) runs as the forward correlation with the
// turned kernel (blocked, gathering); otherwise each output row scatters into dx.
void depthwise_backward(const Tensor& dy, const Tensor& w, const ref::Conv2dParams& p, Tensor* dx,
                        ThreadPool& pool) {
  const int64_t N = dx->dim(0), C = dx->dim(1), H = dx->dim(2), W = dx->dim(3);
  const int64_t cout = w.dim(0), M = cout / C, oh = dy.dim(2), ow = dy.dim(3);
  const int64_t taps = p.kh * p.kw;
  if (M == 1 && p.sh == 1 && p.sw == 1) {
    const ref::Conv2dParams q = transposed_stride1(p);
    std::vector<float> turned(size_t(cout * taps));
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t t = 0; t < taps; ++t)
        turned[size_t(o * taps + t)] = w.data()[o * taps + taps - 1 - t];
    const PaddedPlane pp(q, H, W);
    for_range(pool, N * C, dy.numel() * taps, [&](int64_t b, int64_t e) {
      std::unique_ptr<float[]> scratch(new float[size_t(pp.floats())]);  // fill() writes it
      for (int64_t pl = b; pl < e; ++pl)
        depthwise_plane_forward(dy.data() + pl * oh * ow, oh, ow, turned.data() + (pl % C) * taps,
                                0.f, q, pp, H, W, scratch.get(), dx->data() + pl * H * W);
    });
    return;
  }
  const TapColumns tc(p, W, ow);
  for_range(pool, N * C, dy.numel() * taps, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t n = pl / C, c = pl % C;
      float* d = dx->data() + pl * H * W;
      std::fill(d, d + H * W, 0.f);
      for (int64_t m = 0; m < M; ++m) {
        const int64_t o = c * M + m;
        depthwise_plane_backward(dy.data() + (n * cout + o) * oh * ow, oh, ow, w.data() + o * taps,
                                 p, tc, H, W, d);
      }
    }
  });
}

}  // namespace scv::explain
