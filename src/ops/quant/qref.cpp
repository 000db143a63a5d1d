// Reference quantized kernels: TFLite's reference_ops / reference_integer_ops arithmetic, in the
// uint8 stored domain described in qkernels.h. Short and scalar; the oracle for the fast ones.
#include <algorithm>

#include "ops/quant/qkernels.h"
#include "ops/quant/qmath.h"

namespace scv::quant {

namespace {
inline uint8_t requant(int32_t acc, const Requant& rq, int c) {
  const int32_t v = add_sat(requantize(acc, rq.mult[c], rq.shift[c], rq.single), rq.out_zp);
  return uint8_t(std::clamp(v, rq.lo, rq.hi));
}

// Calls tap(src, t) for each in-bounds tap of output pixel (b, y, x): src the input pixel (its
// ic channels), t = ky * kw + kx. Out-of-bounds taps are the zero point and contribute 0.
template <typename F>
inline void window_taps(const ConvGeom& g, const uint8_t* in, int b, int y, int x, const F& tap) {
  for (int ky = 0; ky < g.kh; ++ky) {
    const int iy = y * g.sh - g.pad_t + ky * g.dh;
    if (iy < 0 || iy >= g.ih) continue;
    for (int kx = 0; kx < g.kw; ++kx) {
      const int ix = x * g.sw - g.pad_l + kx * g.dw;
      if (ix < 0 || ix >= g.iw) continue;
      tap(in + ((int64_t(b) * g.ih + iy) * g.iw + ix) * g.ic, ky * g.kw + kx);
    }
  }
}

// out[b, y, x, o] = requant(bias[o] + sum(b, y, x, o)) for output rows [r0, r1). The int32
// accumulation wraps like the SIMD kernels' (a corrupt model may overflow it; unsigned
// arithmetic keeps that defined).
template <typename Sum>
inline void conv_rows(const ConvRef& p, uint8_t* out, int64_t r0, int64_t r1, const Sum& sum) {
  const ConvGeom& g = p.g;
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    for (int x = 0; x < g.ow; ++x) {
      uint8_t* o = out + ((r * g.ow) + x) * g.oc;
      for (int oc = 0; oc < g.oc; ++oc) {
        const uint32_t acc = uint32_t(p.bias ? p.bias[oc] : 0) + sum(b, y, x, oc);
        o[oc] = requant(int32_t(acc), p.rq, oc);
      }
    }
  }
}

}  // namespace

// out[n, y, x, o] = requant(bias[o] + sum_{ky,kx,i} (in[n, y*sh - pt + ky*dh, x*sw - pl + kx*dw,
// i] - zp) * w[o, ky, kx, i])
void conv_ref(const ConvRef& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  conv_rows(p, out, r0, r1, [&](int b, int y, int x, int oc) {
    uint32_t acc = 0;
    window_taps(g, in, b, y, x, [&](const uint8_t* src, int t) {
      const int16_t* w = p.w + (int64_t(oc) * g.kh * g.kw + t) * g.ic;
      for (int i = 0; i < g.ic; ++i) acc += uint32_t((int32_t(src[i]) - p.in_zp) * int32_t(w[i]));
    });
    return acc;
  });
}

// Depthwise: output channel o reads input channel o / depth_mult; w[ky, kx, o].
void dwconv_ref(const ConvRef& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  conv_rows(p, out, r0, r1, [&](int b, int y, int x, int oc) {
    uint32_t acc = 0;
    const int ic = oc / g.depth_mult;
    window_taps(g, in, b, y, x, [&](const uint8_t* src, int t) {
      acc += uint32_t((int32_t(src[ic]) - p.in_zp) * int32_t(p.w[int64_t(t) * g.oc + oc]));
    });
    return acc;
  });
}

void add_ref(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
             int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    const int32_t s1 = (p.in1_offset + a[i]) * (1 << p.left_shift);
    const int32_t s2 = (p.in2_offset + b[i]) * (1 << p.left_shift);
    const int32_t x1 = requantize(s1, p.in1_mult, p.in1_shift, p.single);
    const int32_t x2 = requantize(s2, p.in2_mult, p.in2_shift, p.single);
    const int32_t v =
        add_sat(requantize(add_sat(x1, x2), p.out_mult, p.out_shift, p.single), p.out_zp);
    out[i] = uint8_t(std::clamp(v, p.lo, p.hi));
  }
}

void pool_ref(const PoolParams& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    const int y0 = y * g.sh - g.pad_t;
    const int fy0 = std::max(0, -y0), fy1 = std::min(g.kh, g.ih - y0);
    for (int x = 0; x < g.ow; ++x) {
      const int x0 = x * g.sw - g.pad_l;
      const int fx0 = std::max(0, -x0), fx1 = std::min(g.kw, g.iw - x0);
      uint8_t* o = out + ((r * g.ow) + x) * g.oc;
      for (int c = 0; c < g.oc; ++c) {
        int32_t acc = p.average ? 0 : 0;
        int32_t count = 0;
        for (int fy = fy0; fy < fy1; ++fy)
          for (int fx = fx0; fx < fx1; ++fx) {
            const int32_t v = in[((int64_t(b) * g.ih + y0 + fy) * g.iw + x0 + fx) * g.ic + c];
            acc = p.average ? acc + v : std::max(acc, v);
            ++count;
          }
        int32_t v = acc;
        if (p.average && count > 0) {
          if (p.signed_round) {  // TFLite's int8 kernel on the int8 values (stored - 128)
            const int32_t s = acc - 128 * count;
            v = (s > 0 ? (s + count / 2) / count : (s - count / 2) / count) + 128;
          } else {
            v = (acc + count / 2) / count;
          }
        }
        o[c] = uint8_t(std::clamp(v, p.lo, p.hi));
      }
    }
  }
}

}  // namespace scv::quant
