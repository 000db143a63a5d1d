// Kernel bodies written once over a vector traits type V (AVX2: ymm, 8 floats; AVX-512: zmm, 16)
// and included by kernels_avx2.cpp / kernels_avx512.cpp, each compiled with its own ISA flags.
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

template <int N>
struct TileLen {
  static constexpr int value = N;
};

// Calls f(TileLen<len>()) for a tile length of 1 to 8 pixels, so the tile kernels get their
// length at compile time; lengths above CONV_T never occur (tiles are at most CONV_T).
template <typename F>
inline void with_tile_len(int64_t len, const F& f) {
  switch (len) {
#define SCV_TILE_CASE(TT)                         \
  case TT:                                        \
    if constexpr (TT <= CONV_T) f(TileLen<TT>()); \
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
}

// One input channel of a tile, the multiply-add step of every conv tile below: OCB weight
// vectors at wp (then wp moves on) times each pixel t's broadcast input XT (an expression of t),
// acc[t][o] += w[o] * x(t). A macro, not a function, so each kernel compiles exactly as if it
// were written out.
#define SCV_TILE_STEP(XT)                                                     \
  do {                                                                        \
    typename V::R wv[OCB];                                                    \
    for (int o = 0; o < OCB; ++o) wv[o] = V::load(wp + o * L);                \
    wp += OCB * L;                                                            \
    for (int t = 0; t < T; ++t) {                                             \
      const typename V::R xv = V::set1(XT);                                   \
      for (int o = 0; o < OCB; ++o) acc[t][o] = V::fma(wv[o], xv, acc[t][o]); \
    }                                                                         \
  } while (0)

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
        for (int64_t c = 0; c < cb; ++c) SCV_TILE_STEP(xq[t * tstep + c]);
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
      with_tile_len(len, [&](auto tt) {
        conv_tile<OCB, decltype(tt)::value, CB>(d, xb, wg, bias, rb, yb, oy, ox, kh0, kh1, 0, d.kw);
      });
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

// The pointers of output-channel group g of image n: its packed weights, bias, input image,
// residual and output (offset), and how many vector blocks it has (the last may be narrower).
struct GroupView {
  int64_t ocb;
  const float *wg, *bias, *xb, *rb;
  float* yb;
};
inline GroupView group_view(const scv::x86::ConvBlockedDesc& d, const float* x,
                            const float* residual, float* y, int64_t n, int64_t g) {
  constexpr int L = V::L;
  const int64_t yoff = n * d.y_batch + g * CONV_OCB * d.y_block;
  return {imin(CONV_OCB, d.cout_pad / L - g * CONV_OCB),
          d.weight + g * CONV_OCB * L * d.kh * d.kw * d.cin_pad,
          d.bias + g * CONV_OCB * L,
          x + n * d.x_batch,
          residual ? residual + yoff : nullptr,
          y + yoff};
}

void conv_blocked_row(const scv::x86::ConvBlockedDesc& d, const float* x, const float* residual,
                      float* y, int64_t n, int64_t g, int64_t oy) {
  const GroupView v = group_view(d, x, residual, y, n, g);
  // Plain NCHW input (the 3-channel stem) is x_cb = 1: a compile-time 1 drops the per-channel
  // loop of the tile kernel.
  if (d.x_cb == V::L)
    conv_row_cb<V::L>(d, v.xb, v.wg, v.bias, v.rb, v.yb, oy, v.ocb);
  else if (d.x_cb == 1)
    conv_row_cb<1>(d, v.xb, v.wg, v.bias, v.rb, v.yb, oy, v.ocb);
  else
    conv_row_cb<0>(d, v.xb, v.wg, v.bias, v.rb, v.yb, oy, v.ocb);
}

// ---- direct convolution over flattened pixel tiles, K-blocked (blocked input only) -----------
//
// The row kernel above keeps a tile inside one output row, so narrow maps waste registers
// (7 wide -> tiles of 4 + 3) and every padded edge pixel runs alone. Here a tile is any T
// consecutive pixels of the flattened oy*ow+ox order (it may wrap to the next row), and each
// pixel has its own input pointer per (tap, channel block) step; a tap that falls in the
// padding points at a block of zeros. The reduction K = taps x input blocks is cut into chunks
// whose packed weights (~kConvChunkBytes) stay in L2 while the chunk sweeps a block of pixels;
// partial sums live in the output between chunks (bias first, residual + ReLU after the last).

alignas(64) const float kZeros[V::L] = {};

// Pointwise (PW): a 1x1 / stride-1 / unpadded conv whose pixels are contiguous (x_row = w *
// x_pix, output map = input map), so pixel q of block blk is at xb + q*x_pix + blk*x_block: the
// tile's T pixels sit at fixed offsets from one pointer and no per-step bounds or per-pixel
// pointers are needed (this covers every 1x1 conv of ResNet50 but the strided downsamples, and
// every Winograd position GEMM).
template <int OCB, int T, bool PW>
inline void conv_pix_tile(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                          const float* bias, const float* rb, float* yb, int64_t q0, int64_t s0,
                          int64_t s1, bool first, bool last) {
  constexpr int L = V::L;
  const int64_t nblk = d.cin_pad / L;
  int64_t iy0[T], ix0[T], yo[T];
  for (int t = 0; t < T; ++t) {
    const int64_t q = q0 + t, oy = q / d.ow, ox = q - oy * d.ow;
    iy0[t] = oy * d.sh - d.pt;
    ix0[t] = ox * d.sw - d.pl;
    yo[t] = oy * d.y_row + ox * d.y_pix;
  }
  typename V::R acc[T][OCB];
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < OCB; ++o)
      acc[t][o] = first ? V::load(bias + o * L) : V::load(yb + yo[t] + o * d.y_block);
  const float* wp = wg + s0 * (L * OCB * L);
  if constexpr (PW) {
    const float* xq = xb + q0 * L + s0 * d.x_block;
    for (int64_t s = s0; s < s1; ++s, xq += d.x_block) {
#pragma GCC unroll 1
      for (int c = 0; c < L; ++c) SCV_TILE_STEP(xq[t * L + c]);
    }
  } else {
    // Step s = tap * nblk + blk. Per tap, each pixel's pointer and its advance per input block
    // (x_block, or 0 for a tap in the padding, which keeps reading kZeros) are set once; the
    // blocks of the tap then only add the advances.
    for (int64_t s = s0; s < s1;) {
      const int64_t tap = s / nblk, blk = s - tap * nblk;
      const int64_t i = tap / d.kw, j = tap - i * d.kw;
      const int64_t se = imin(s1, (tap + 1) * nblk);
      const float* xp[T];
      int64_t inc[T];
      for (int t = 0; t < T; ++t) {
        const int64_t iy = iy0[t] + i, ix = ix0[t] + j;
        const bool in = static_cast<uint64_t>(iy) < static_cast<uint64_t>(d.h) &&
                        static_cast<uint64_t>(ix) < static_cast<uint64_t>(d.w);
        xp[t] = in ? xb + iy * d.x_row + ix * d.x_pix + blk * d.x_block : kZeros;
        inc[t] = in ? d.x_block : 0;
      }
      for (; s < se; ++s) {
#pragma GCC unroll 1
        for (int c = 0; c < L; ++c) SCV_TILE_STEP(xp[t][c]);
        for (int t = 0; t < T; ++t) xp[t] += inc[t];
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < OCB; ++o) {
      const int64_t off = yo[t] + o * d.y_block;
      typename V::R v = acc[t][o];
      if (last) {
        if (rb) v = V::add(v, V::load(rb + off));
        if (d.relu) v = V::max(v, V::zero());
      }
      V::store(yb + off, v);
    }
}

template <int OCB, bool PW>
void conv_pix_run(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                  const float* bias, const float* rb, float* yb, int64_t p0, int64_t p1) {
  constexpr int L = V::L;
  const int64_t K = d.kh * d.kw * (d.cin_pad / L);
  // A chunk's packed weights plus the input it reads for one pixel block stay within L2.
  const int64_t step_bytes =
      (int64_t{OCB} * L + imin(p1 - p0, scv::x86::kConvPixelBlock)) * L * int64_t{sizeof(float)};
  const int64_t kc_max = imax(1, scv::x86::kConvChunkBytes / step_bytes);
  const int64_t nchunks = (K + kc_max - 1) / kc_max, kc = (K + nchunks - 1) / nchunks;
  // Pixel blocks small enough that a chunk's input and the partial sums stay in L2.
  const int64_t npb = (p1 - p0 + scv::x86::kConvPixelBlock - 1) / scv::x86::kConvPixelBlock;
  for (int64_t b = 0; b < npb; ++b) {
    const int64_t pb = p0 + (p1 - p0) * b / npb, pe = p0 + (p1 - p0) * (b + 1) / npb;
    const int64_t n = pe - pb;
    if (n <= 0) continue;
    const int64_t tiles = (n + CONV_T - 1) / CONV_T;
    const int64_t base = n / tiles, extra = n % tiles;
    for (int64_t s0 = 0; s0 < K; s0 += kc) {
      const int64_t s1 = imin(K, s0 + kc);
      const bool first = s0 == 0, last = s1 == K;
      int64_t q = pb;
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t len = base + (t < extra ? 1 : 0);
        with_tile_len(len, [&](auto tt) {
          conv_pix_tile<OCB, decltype(tt)::value, PW>(d, xb, wg, bias, rb, yb, q, s0, s1, first,
                                                      last);
        });
        q += len;
      }
    }
  }
}

template <int OCB>
void conv_pix_ocb(const scv::x86::ConvBlockedDesc& d, const float* xb, const float* wg,
                  const float* bias, const float* rb, float* yb, int64_t p0, int64_t p1) {
  const bool pw = d.kh == 1 && d.kw == 1 && d.sh == 1 && d.sw == 1 && d.pt == 0 && d.pl == 0 &&
                  d.oh == d.h && d.ow == d.w && d.x_pix == V::L && d.x_row == d.w * V::L;
  if (pw)
    conv_pix_run<OCB, true>(d, xb, wg, bias, rb, yb, p0, p1);
  else
    conv_pix_run<OCB, false>(d, xb, wg, bias, rb, yb, p0, p1);
}

void conv_blocked_pixels(const scv::x86::ConvBlockedDesc& d, const float* x, const float* residual,
                         float* y, int64_t n, int64_t g, int64_t p0, int64_t p1) {
  const GroupView v = group_view(d, x, residual, y, n, g);
  switch (v.ocb) {
    case 1:
      conv_pix_ocb<1>(d, v.xb, v.wg, v.bias, v.rb, v.yb, p0, p1);
      break;
    case 2:
      if constexpr (CONV_OCB >= 2) conv_pix_ocb<2>(d, v.xb, v.wg, v.bias, v.rb, v.yb, p0, p1);
      break;
    case 3:
      if constexpr (CONV_OCB >= 3) conv_pix_ocb<3>(d, v.xb, v.wg, v.bias, v.rb, v.yb, p0, p1);
      break;
    case 4:
      if constexpr (CONV_OCB >= 4) conv_pix_ocb<4>(d, v.xb, v.wg, v.bias, v.rb, v.yb, p0, p1);
      break;
    default:
      break;
  }
}

#undef SCV_TILE_STEP

// ---- Winograd F(MxM, 3x3) transforms, M = 2 or 4 ---------------------------------------------
// Each tile's (M+2)x(M+2) input patch d becomes B^T d B and each product tile m becomes
// A^T m A, done as 1-D transforms along rows, then along columns. The matrices:
//   F(2,3), points 0, +-1, inf:   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//                                 A^T = [1 1 1 0; 0 1 -1 -1]
//   F(4,3), points 0, +-1, +-2, inf: B^T and A^T written out in wino_bt<4> / wino_at<4>.

template <int M>
inline void wino_bt(const typename V::R (&d)[M + 2], typename V::R (&r)[M + 2]) {
  using R = typename V::R;
  if constexpr (M == 2) {
    r[0] = V::sub(d[0], d[2]);
    r[1] = V::add(d[1], d[2]);
    r[2] = V::sub(d[2], d[1]);
    r[3] = V::sub(d[1], d[3]);
  } else {
    const R four = V::set1(4.0f), mfive = V::set1(-5.0f), two = V::set1(2.0f);
    r[0] = V::add(V::fma(four, d[0], V::mul(mfive, d[2])), d[4]);  // 4 d0 - 5 d2 + d4
    const R a = V::sub(d[4], V::mul(four, d[2])), b = V::sub(d[3], V::mul(four, d[1]));
    r[1] = V::add(a, b);  // -4 d1 - 4 d2 + d3 + d4
    r[2] = V::sub(a, b);  //  4 d1 - 4 d2 - d3 + d4
    const R c = V::sub(d[4], d[2]), e = V::mul(two, V::sub(d[3], d[1]));
    r[3] = V::add(c, e);                                           // -2 d1 - d2 + 2 d3 + d4
    r[4] = V::sub(c, e);                                           //  2 d1 - d2 - 2 d3 + d4
    r[5] = V::add(V::fma(four, d[1], V::mul(mfive, d[3])), d[5]);  // 4 d1 - 5 d3 + d5
  }
}

template <int M>
inline void wino_at(const typename V::R (&m)[M + 2], typename V::R (&o)[M]) {
  using R = typename V::R;
  if constexpr (M == 2) {
    o[0] = V::add(V::add(m[0], m[1]), m[2]);
    o[1] = V::sub(V::sub(m[1], m[2]), m[3]);
  } else {
    const R s12 = V::add(m[1], m[2]), d12 = V::sub(m[1], m[2]);
    const R s34 = V::add(m[3], m[4]), d34 = V::sub(m[3], m[4]);
    o[0] = V::add(V::add(m[0], s12), s34);                 // m0 + m1 + m2 + m3 + m4
    o[1] = V::fma(V::set1(2.0f), d34, d12);                // m1 - m2 + 2 (m3 - m4)
    o[2] = V::fma(V::set1(4.0f), s34, s12);                // m1 + m2 + 4 (m3 + m4)
    o[3] = V::add(V::fma(V::set1(8.0f), d34, d12), m[5]);  // m1 - m2 + 8 (m3 - m4) + m5
  }
}

template <int M>
void wino_input_m(const scv::x86::WinoDesc& d, const float* x, float* v, int64_t n, int64_t t0,
                  int64_t t1) {
  constexpr int L = V::L, P = M + 2;
  using R = typename V::R;
  const int64_t ncb = d.cin_pad / L;
  const float* xb = x + n * d.x_batch;
  const int64_t xi_stride = ncb * d.tb * L;
  for (int64_t cb = 0; cb < ncb; ++cb) {
    const float* xp = xb + cb * d.x_block;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ty = t / d.tw, tx = t - ty * d.tw;
      const int64_t iy0 = M * ty - 1, ix0 = M * tx - 1;  // pad 1
      const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + P - 1 < d.h && ix0 + P - 1 < d.w;
      R c[P][P];  // c[i] = (row i of the patch) B
      for (int i = 0; i < P; ++i) {
        const int64_t iy = iy0 + i;
        R row[P];
        for (int j = 0; j < P; ++j) {
          const int64_t ix = ix0 + j;
          row[j] = inside || (iy >= 0 && iy < d.h && ix >= 0 && ix < d.w)
                       ? V::load(xp + iy * d.x_row + ix * L)
                       : V::zero();
        }
        wino_bt<M>(row, c[i]);
      }
      float* vp = v + (cb * d.tb + (t - t0)) * L;
      for (int j = 0; j < P; ++j) {  // then the columns: B^T c
        R col[P], r[P];
        for (int i = 0; i < P; ++i) col[i] = c[i][j];
        wino_bt<M>(col, r);
        for (int i = 0; i < P; ++i) V::store(vp + (P * i + j) * xi_stride, r[i]);
      }
    }
  }
}

template <int M>
void wino_output_m(const scv::x86::WinoDesc& d, const float* m, const float* residual, float* y,
                   int64_t n, int64_t t0, int64_t t1) {
  constexpr int L = V::L, P = M + 2;
  using R = typename V::R;
  const int64_t nob = d.cout_pad / L;
  const int64_t xi_stride = nob * d.tb * L;
  for (int64_t ob = 0; ob < nob; ++ob) {
    const R b = V::load(d.bias + ob * L);
    const int64_t yo = n * d.y_batch + ob * d.y_block;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ty = t / d.tw, tx = t - ty * d.tw;
      const float* mp = m + (ob * d.tb + (t - t0)) * L;
      R u[P][M];  // u[i] = (row i of the products) A
      for (int i = 0; i < P; ++i) {
        R row[P];
        for (int j = 0; j < P; ++j) row[j] = V::load(mp + (P * i + j) * xi_stride);
        wino_at<M>(row, u[i]);
      }
      for (int j = 0; j < M; ++j) {  // then the columns: A^T u; drop pixels past the edge
        const int64_t ox = M * tx + j;
        if (ox >= d.w) break;
        R col[P], o[M];
        for (int i = 0; i < P; ++i) col[i] = u[i][j];
        wino_at<M>(col, o);
        for (int i = 0; i < M; ++i) {
          const int64_t oy = M * ty + i;
          if (oy >= d.h) break;
          const int64_t off = yo + oy * d.y_row + ox * L;
          R val = V::add(o[i], b);
          if (residual) val = V::add(val, V::load(residual + off));
          if (d.relu) val = V::max(val, V::zero());
          V::store(y + off, val);
        }
      }
    }
  }
}

void wino_input(const scv::x86::WinoDesc& d, const float* x, float* v, int64_t n, int64_t t0,
                int64_t t1) {
  if (d.m == 4)
    wino_input_m<4>(d, x, v, n, t0, t1);
  else
    wino_input_m<2>(d, x, v, n, t0, t1);
}

void wino_output(const scv::x86::WinoDesc& d, const float* m, const float* residual, float* y,
                 int64_t n, int64_t t0, int64_t t1) {
  if (d.m == 4)
    wino_output_m<4>(d, m, residual, y, n, t0, t1);
  else
    wino_output_m<2>(d, m, residual, y, n, t0, t1);
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
      const int cnt = h == 0 ? n0 : n1;
      if (d.accumulate)
        v = V::add(v, Partial ? V::load_partial(yp + h * L, cnt) : V::load(yp + h * L));
      if (d.bias) v = V::add(v, V::set1(d.bias[m0 + r]));
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

namespace {
// The table of this instantiation: every kernel above, bound by name (designated initializers
// must follow the declaration order, so a reordered or missing field is a compile error).
scv::x86::Kernels kernel_table(scv::Isa isa) {
  return {.isa = isa,
          .vl = V::L,
          .conv_ocb = CONV_OCB,
          .gemm_mr = GEMM_MR,
          .gemm_nr = 2 * V::L,
          .conv_blocked_row = conv_blocked_row,
          .conv_blocked_pixels = conv_blocked_pixels,
          .wino_input = wino_input,
          .wino_output = wino_output,
          .gemm_panel = gemm_panel,
          .maxpool_blocked_plane = maxpool_blocked_plane,
          .gap_blocked_plane = gap_blocked_plane,
          .add = add,
          .relu = relu,
          .scale_shift = scale_shift,
          .fma_peak_probe = fma_peak_probe};
}
}  // namespace
