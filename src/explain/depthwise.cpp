// Depthwise convolutions for the explain pass: direct per-plane loops forward and their adjoint
// backward, in any stride, pad and dilation (see depthwise.h).
#include "explain/depthwise.h"

#include <algorithm>

namespace scv::explain {

namespace {

// Output columns [lo, hi) whose tap at input column offset `off` (ix = ox * s + off) lies inside
// [0, w).
void tap_columns(int64_t w, int64_t ow, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : std::min(ow, (-off + s - 1) / s);
  *hi = off >= w ? 0 : std::min(ow, (w - 1 - off) / s + 1);
  *hi = std::max(*hi, *lo);
}

// The taps of one depthwise plane in the reference's order: for each tap (i, j), each output row
// `oy` whose input row `iy` lies inside [0, h) gets f(wv, off, lo, hi, iy, oy): the tap's weight,
// its input column offset (ix = ox * sw + off) and the output columns [lo, hi) reading inside.
template <class F>
void for_each_tap_row(const float* wk, const ref::Conv2dParams& p, int64_t h, int64_t w, int64_t oh,
                      int64_t ow, F&& f) {
  for (int64_t i = 0; i < p.kh; ++i)
    for (int64_t j = 0; j < p.kw; ++j) {
      const float wv = wk[i * p.kw + j];
      const int64_t off = j * p.dw - p.pad_l;
      int64_t lo, hi;
      tap_columns(w, ow, p.sw, off, &lo, &hi);
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
        if (iy >= 0 && iy < h) f(wv, off, lo, hi, iy, oy);
      }
    }
}

// One plane of a depthwise convolution: y [oh, ow] = b + sum over taps of wk[i, j] * x[h, w]
// (padding reads zeros). The same order of operations as ref::conv2d (bias, then one tap at a
// time along output rows) with the bounds taken out of the inner loop, so the results are
// the reference's bit for bit.
void depthwise_plane_forward(const float* x, int64_t h, int64_t w, const float* wk, float b,
                             const ref::Conv2dParams& p, int64_t oh, int64_t ow, float* y) {
  std::fill(y, y + oh * ow, b);
  const int64_t sw = p.sw;
  for_each_tap_row(wk, p, h, w, oh, ow,
                   [&](float wv, int64_t off, int64_t lo, int64_t hi, int64_t iy, int64_t oy) {
                     const float* xr = x + iy * w;
                     float* yr = y + oy * ow;
                     if (sw == 1) {
                       for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox + off];
                     } else {
                       for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * sw + off];
                     }
                   });
}

// The adjoint of depthwise_plane_forward (without the bias): dx [h, w] += wk[i, j] * dy[oh, ow]
// scattered back to the pixels each tap read.
void depthwise_plane_backward(const float* dy, int64_t oh, int64_t ow, const float* wk,
                              const ref::Conv2dParams& p, int64_t h, int64_t w, float* dx) {
  const int64_t sw = p.sw;
  for_each_tap_row(wk, p, h, w, oh, ow,
                   [&](float wv, int64_t off, int64_t lo, int64_t hi, int64_t iy, int64_t oy) {
                     float* xr = dx + iy * w;
                     const float* dr = dy + oy * ow;
                     if (sw == 1) {
                       for (int64_t ox = lo; ox < hi; ++ox) xr[ox + off] += wv * dr[ox];
                     } else {
                       for (int64_t ox = lo; ox < hi; ++ox) xr[ox * sw + off] += wv * dr[ox];
                     }
                   });
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
  for_range(pool, N * cout, y->numel() * p.kh * p.kw, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t n = pl / cout, o = pl % cout;
      depthwise_plane_forward(x.data() + (n * C + o / M) * H * W, H, W, w.data() + o * p.kh * p.kw,
                              bias ? bias[o] : 0.f, p, oh, ow, y->data() + pl * oh * ow);
    }
  });
}

// dx = the transposed depthwise conv of dy, threads over input planes (each sums its M outputs).
void depthwise_backward(const Tensor& dy, const Tensor& w, const ref::Conv2dParams& p, Tensor* dx,
                        ThreadPool& pool) {
  const int64_t N = dx->dim(0), C = dx->dim(1), H = dx->dim(2), W = dx->dim(3);
  const int64_t cout = w.dim(0), M = cout / C, oh = dy.dim(2), ow = dy.dim(3);
  for_range(pool, N * C, dy.numel() * p.kh * p.kw, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t n = pl / C, c = pl % C;
      float* d = dx->data() + pl * H * W;
      std::fill(d, d + H * W, 0.f);
      for (int64_t m = 0; m < M; ++m) {
        const int64_t o = c * M + m;
        depthwise_plane_backward(dy.data() + (n * cout + o) * oh * ow, oh, ow,
                                 w.data() + o * p.kh * p.kw, p, H, W, d);
      }
    }
  });
}

}  // namespace scv::explain
