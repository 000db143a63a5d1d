// Kernel bodies written once over a vector type V (V256: AVX2 ymm, V512: AVX-512 zmm) and
// included by kernels_avx2.cpp / kernels_avx512.cpp, each compiled with its own ISA flags.
// Everything here sits in an anonymous namespace (and avoids std:: templates) so that the two
// instantiations can never be merged by the linker into one binary-incompatible copy.
//
// Before including, define V (the vector traits) plus the tile sizes:
//   CONV_OCB (output-channel blocks per tile), CONV_T (pixels per tile), GEMM_MR.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "ops/x86/kernels.h"

namespace {

inline int64_t imin(int64_t a, int64_t b) {
  return a < b ? a : b;
}
inline int64_t imax(int64_t a, int64_t b) {
  return a > b ? a : b;
}

// ---- direct convolution on the blocked layout ------------------------------------------------

// One tile: T output pixels (ox0 .. ox0+T-1 of row oy) x OCB vectors of output channels.
// Taps [kh0, kh1) x [kw0, kw1) are the in-bounds ones for every pixel of the tile.
// CB > 0: the input channel block is the compile-time constant CB (lets the compiler unroll).
template <int OCB, int T, int CB>
inline void conv_tile(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                      const float* bias, const float* rb, float* yb, int64_t oy, int64_t ox0,
                      int64_t kh0, int64_t kh1, int64_t kw0, int64_t kw1) {
  constexpr int L = V::L;
  typename V::R acc[T][OCB];
  for (int o = 0; o < OCB; ++o) {
    const typename V::R b = V::load(bias + o * L);
    for (int t = 0; t < T; ++t) acc[t][o] = b;
  }
  typename V::R acc2[T][OCB];
  for (int o = 0; o < OCB; ++o)
    for (int t = 0; t < T; ++t) acc2[t][o] = V::zero();
  const int64_t cb = CB > 0 ? CB : d.x_cb;
  const int64_t nblk = d.cin_pad / cb;
  const int64_t tstep = d.sw * d.x_pix;
  const int64_t iy0 = oy * d.sh - d.pt;
  for (int64_t i = kh0; i < kh1; ++i) {
    for (int64_t j = kw0; j < kw1; ++j) {
      const float* wp = wg + (i * d.kw + j) * d.cin_pad * (OCB * L);
      const float* xp = xb + (iy0 + i) * d.x_row + (ox0 * d.sw - d.pl + j) * d.x_pix;
      for (int64_t blk = 0; blk < nblk; ++blk) {
        const float* xq = xp + blk * d.x_block;
        if constexpr (T <= 2 && CB > 0 && CB % 2 == 0) {
          // Narrow tiles (edge pixels) have too few accumulators to hide the FMA latency:
          // a second set takes the odd channels, summed in at the end.
          for (int64_t c = 0; c < CB; c += 2) {
            typename V::R wv[OCB], wv2[OCB];
            for (int o = 0; o < OCB; ++o) wv[o] = V::load(wp + o * L);
            for (int o = 0; o < OCB; ++o) wv2[o] = V::load(wp + OCB * L + o * L);
            wp += 2 * OCB * L;
            for (int t = 0; t < T; ++t) {
              const typename V::R xv = V::set1(xq[t * tstep + c]);
              const typename V::R xv2 = V::set1(xq[t * tstep + c + 1]);
              for (int o = 0; o < OCB; ++o) acc[t][o] = V::fma(wv[o], xv, acc[t][o]);
              for (int o = 0; o < OCB; ++o) acc2[t][o] = V::fma(wv2[o], xv2, acc2[t][o]);
            }
          }
          continue;
        }
        for (int64_t c = 0; c < cb; ++c) {
          typename V::R wv[OCB];
          for (int o = 0; o < OCB; ++o) wv[o] = V::load(wp + o * L);
          wp += OCB * L;
          for (int t = 0; t < T; ++t) {
            const typename V::R xv = V::set1(xq[t * tstep + c]);
            for (int o = 0; o < OCB; ++o) acc[t][o] = V::fma(wv[o], xv, acc[t][o]);
          }
        }
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int o = 0; o < OCB; ++o) {
      const int64_t off = o * d.y_block + oy * d.y_row + (ox0 + t) * d.y_pix;
      typename V::R v = acc[t][o];
      if constexpr (T <= 2 && CB > 0 && CB % 2 == 0) v = V::add(v, acc2[t][o]);
      if (rb) v = V::add(v, V::load(rb + off));
      if (d.relu) v = V::max(v, V::zero());
      V::store(yb + off, v);
    }
  }
}

template <int OCB, int CB>
void conv_row_ocb(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                  const float* bias, const float* rb, float* yb, int64_t oy) {
  const int64_t iy0 = oy * d.sh - d.pt;
  const int64_t kh0 = imax(0, -iy0), kh1 = imin(d.kh, d.h - iy0);
  if (kh0 >= kh1) {  // the whole window is padding: output = bias (+ residual), ReLU
    for (int64_t ox = 0; ox < d.ow; ++ox)
      conv_tile<OCB, 1, CB>(d, xb, wg, bias, rb, yb, oy, ox, 0, 0, 0, 0);
    return;
  }
  // Pixels whose whole window row lies inside the image: ox*sw - pl >= 0 and
  // ox*sw - pl + kw - 1 <= w - 1.
  int64_t lo = (d.pl + d.sw - 1) / d.sw;
  int64_t hi = d.w - d.kw + d.pl >= 0 ? (d.w - d.kw + d.pl) / d.sw + 1 : 0;
  lo = imin(lo, d.ow);
  hi = imax(lo, imin(hi, d.ow));
  auto edge = [&](int64_t ox) {
    const int64_t ix0 = ox * d.sw - d.pl;
    const int64_t kw0 = imax(0, -ix0), kw1 = imin(d.kw, d.w - ix0);
    conv_tile<OCB, 1, CB>(d, xb, wg, bias, rb, yb, oy, ox, kh0, kh1, kw0, imax(kw0, kw1));
  };
  for (int64_t ox = 0; ox < lo; ++ox) edge(ox);
  // Interior: balanced tiles of at most CONV_T pixels (7 -> 4+3, 14 -> 5+5+4, 56 -> 6x6+4x5).
  const int64_t n = hi - lo;
  if (n > 0) {
    const int64_t tiles = (n + CONV_T - 1) / CONV_T;
    const int64_t base = n / tiles, extra = n % tiles;
    int64_t ox = lo;
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t len = base + (t < extra ? 1 : 0);
      switch (len) {
#define SCV_TILE_CASE(TT)                                                         \
  case TT:                                                                        \
    if constexpr (TT <= CONV_T)                                                   \
      conv_tile<OCB, TT, CB>(d, xb, wg, bias, rb, yb, oy, ox, kh0, kh1, 0, d.kw); \
    break;
        SCV_TILE_CASE(1)
        SCV_TILE_CASE(2)
        SCV_TILE_CASE(3)
        SCV_TILE_CASE(4)
        SCV_TILE_CASE(5)
        SCV_TILE_CASE(6)
        SCV_TILE_CASE(7)
        SCV_TILE_CASE(8)
#undef SCV_TILE_CASE
        default:
          break;
      }
      ox += len;
    }
  }
  for (int64_t ox = hi; ox < d.ow; ++ox) edge(ox);
}

template <int CB>
void conv_row_cb(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                 const float* bias, const float* rb, float* yb, int64_t oy, int64_t ocb) {
  switch (ocb) {
    case 1:
      conv_row_ocb<1, CB>(d, xb, wg, bias, rb, yb, oy);
      break;
    case 2:
      if constexpr (CONV_OCB >= 2) conv_row_ocb<2, CB>(d, xb, wg, bias, rb, yb, oy);
      break;
    case 3:
      if constexpr (CONV_OCB >= 3) conv_row_ocb<3, CB>(d, xb, wg, bias, rb, yb, oy);
      break;
    case 4:
      if constexpr (CONV_OCB >= 4) conv_row_ocb<4, CB>(d, xb, wg, bias, rb, yb, oy);
      break;
    default:
      break;
  }
}

void conv_blocked_row(const scv::x86::ConvBlockedDesc& d, const float* x, const float* residual,
                      float* y, int64_t n, int64_t g, int64_t oy) {
  constexpr int L = V::L;
  const int64_t nblocks = d.cout_pad / L;
  const int64_t ocb = imin(CONV_OCB, nblocks - g * CONV_OCB);
  const float* wg = d.weight + g * CONV_OCB * L * d.kh * d.kw * d.cin_pad;
  const float* bias = d.bias + g * CONV_OCB * L;
  const float* xb = x + n * d.x_batch;
  const int64_t yoff = n * d.y_batch + g * CONV_OCB * d.y_block;
  const float* rb = residual ? residual + yoff : nullptr;
  if (d.x_cb == L)
    conv_row_cb<L>(d, xb, wg, bias, rb, y + yoff, oy, ocb);
  else
    conv_row_cb<0>(d, xb, wg, bias, rb, y + yoff, oy, ocb);
}

// ---- GEMM on plain matrices: MR x (2 vectors) register tile --------------------------------

template <bool Partial>
inline void gemm_tile(const scv::x86::GemmDesc& d, const float* ap, int64_t m0, int64_t pj,
                      int64_t nvalid) {
  constexpr int L = V::L;
  typename V::R acc[GEMM_MR][2];
  for (int r = 0; r < GEMM_MR; ++r) acc[r][0] = acc[r][1] = V::zero();
  const int n0 = static_cast<int>(imin(L, nvalid)), n1 = static_cast<int>(imax(0, nvalid - L));
  const float* bp = d.b + pj;
  for (int64_t k = 0; k < d.k; ++k) {
    typename V::R b0, b1;
    if (Partial) {
      b0 = V::load_partial(bp, n0);
      b1 = V::load_partial(bp + L, n1);
    } else {
      b0 = V::load(bp);
      b1 = V::load(bp + L);
    }
    bp += d.ldb;
    for (int r = 0; r < GEMM_MR; ++r) {
      const typename V::R a = V::set1(ap[r]);
      acc[r][0] = V::fma(a, b0, acc[r][0]);
      acc[r][1] = V::fma(a, b1, acc[r][1]);
    }
    ap += GEMM_MR;
  }
  const int64_t mvalid = imin(GEMM_MR, d.m - m0);
  for (int r = 0; r < mvalid; ++r) {
    float* yp = d.y + (m0 + r) * d.ldy + pj;
    const float* rp = d.residual ? d.residual + (m0 + r) * d.ldy + pj : nullptr;
    for (int h = 0; h < 2; ++h) {
      typename V::R v = acc[r][h];
      if (d.bias) v = V::add(v, V::set1(d.bias[m0 + r]));
      const int cnt = h == 0 ? n0 : n1;
      if (rp) v = V::add(v, Partial ? V::load_partial(rp + h * L, cnt) : V::load(rp + h * L));
      if (d.relu) v = V::max(v, V::zero());
      if (Partial)
        V::store_partial(yp + h * L, v, cnt);
      else
        V::store(yp + h * L, v);
    }
  }
}

void gemm_panel(const scv::x86::GemmDesc& d, int64_t panel, int64_t p0, int64_t p1) {
  constexpr int NR = 2 * V::L;
  const float* ap = d.a_packed + panel * d.k * GEMM_MR;
  const int64_t m0 = panel * GEMM_MR;
  for (int64_t pj = p0; pj < p1; pj += NR) {
    const int64_t nvalid = imin(NR, p1 - pj);
    if (nvalid == NR)
      gemm_tile<false>(d, ap, m0, pj, NR);
    else
      gemm_tile<true>(d, ap, m0, pj, nvalid);
  }
}

// ---- pools and elementwise -----------------------------------------------------------------

void maxpool_blocked_plane(const float* x, int64_t h, int64_t w, float* y, int64_t oh, int64_t ow,
                           int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl) {
  constexpr int L = V::L;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const int64_t iy0 = oy * sh - pt;
    const int64_t i0 = imax(0, -iy0), i1 = imin(kh, h - iy0);
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t ix0 = ox * sw - pl;
      const int64_t j0 = imax(0, -ix0), j1 = imin(kw, w - ix0);
      typename V::R m = V::set1(-__builtin_inff());
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) m = V::max(m, V::load(x + ((iy0 + i) * w + ix0 + j) * L));
      V::store(y + (oy * ow + ox) * L, m);
    }
  }
}

void gap_blocked_plane(const float* x, int64_t hw, float* y) {
  constexpr int L = V::L;
  typename V::R s0 = V::zero(), s1 = V::zero();
  int64_t i = 0;
  for (; i + 1 < hw; i += 2) {
    s0 = V::add(s0, V::load(x + i * L));
    s1 = V::add(s1, V::load(x + (i + 1) * L));
  }
  if (i < hw) s0 = V::add(s0, V::load(x + i * L));
  V::store(y, V::mul(V::add(s0, s1), V::set1(1.0f / static_cast<float>(hw))));
}

void add(const float* a, const float* b, float* y, int64_t count, bool relu) {
  constexpr int L = V::L;
  int64_t i = 0;
  for (; i + L <= count; i += L) {
    typename V::R v = V::add(V::load(a + i), V::load(b + i));
    if (relu) v = V::max(v, V::zero());
    V::store(y + i, v);
  }
  for (; i < count; ++i) {
    const float v = a[i] + b[i];
    y[i] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

void relu(const float* x, float* y, int64_t count) {
  constexpr int L = V::L;
  int64_t i = 0;
  for (; i + L <= count; i += L) V::store(y + i, V::max(V::load(x + i), V::zero()));
  for (; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void scale_shift(const float* x, float s, float t, float* y, int64_t count) {
  constexpr int L = V::L;
  const typename V::R sv = V::set1(s), tv = V::set1(t);
  int64_t i = 0;
  for (; i + L <= count; i += L) V::store(y + i, V::fma(V::load(x + i), sv, tv));
  for (; i < count; ++i) y[i] = x[i] * s + t;
}

}  // namespace

namespace {
// FMA throughput probe: 12 independent accumulator chains (enough to cover the FMA latency x
// pipes on current x86 cores). Returns the FLOPs executed (2 per lane per FMA).
double fma_peak_probe(int64_t iters, float* sink) {
  typename V::R acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = V::set1(static_cast<float>(i) * 1e-3f);
  const typename V::R a = V::set1(0.999999f), b = V::set1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = V::fma(acc[i], a, b);
  }
  typename V::R s = acc[0];
  for (int i = 1; i < 12; ++i) s = V::add(s, acc[i]);
  alignas(64) float tmp[V::L];
  V::store(tmp, s);
  *sink = tmp[0];
  return 2.0 * V::L * 12.0 * static_cast<double>(iters);
}
}  // namespace
