// Quantized kernel bodies written once over an integer vector traits type Q and included by
// qkernels_avx2.cpp / qkernels_avx512.cpp, each compiled with its own ISA flags (as the fp32
// kernels do with src/ops/x86/kernels_impl.h). Everything here sits in an anonymous namespace so
// the two instantiations are never merged by the linker.
//
// Before including, define Q with:
//   I, L                     int32 vector type and its lane count
//   kMr, kNb                 GEMM tile: pixels x blocks of L output channels
//   A, Wt, kStep             im2col element (int16 for vpmaddwd, uint8 for vpdpbusd), packed
//                            weight element, k values per int32 lane of one multiply-add
//   kInPlace                 1x1 stride-1 unpadded convs read the NHWC rows directly
//   set1, load (L int32), add, sub, mullo, shl (by a run-time count)
//   load_w (one packed weight group), bcast (kStep A values to every lane), dot(acc, a, w)
//   load_u8(p, n)            n <= L bytes widened to int32 lanes
//   requant(acc, mult, shift) single-rounding requantization per lane (qmath.h)
//   requant_r(acc, mult, shift) the same when every shift < 0 (Requant::rshift)
//   store_u8(dst, v, zp, lo, hi, n)  + zero point, clamp, the low byte of n lanes
//   kPairStore, store2_u8(dst, v0, v1, rq)  2 L lanes at once (when kPairStore)
//   widen(dst, src, n)       n input bytes into the im2col row
//   widen_over(dst, src, n)  the same, free to read and write up to 15 elements past n (the
//                            arena and the scratch are padded; later writes cover the excess)
//
// Layouts (qkernels.h): GEMM weights [ocpad/L][kpad/kStep][L][kStep]; the input zero point is
// folded into the bias (bias - zp * sum w), so the inner loop is broadcast + multiply-add; an
// output row of pixels is gathered (im2col) per step with out-of-image taps = the zero point.
// dwconv: channel blocks outer, pixels inner, so a block's weights, bias and multipliers stay in
// registers across the row (3x3: 9 weight vectors); (x - zp) * w in int32 per in-image tap.
#pragma once

#include <algorithm>
#include <cstring>
#include <utility>

#include "ops/quant/qkernels.h"

namespace {

using scv::quant::AddParams;
using scv::quant::ConvGeom;
using scv::quant::FastConv;
using scv::quant::FastDw;

inline int imin(int a, int b) {
  return a < b ? a : b;
}

// ---- GEMM: out[pixel][oc] = requant(bias + sum_k a[pixel][k] w[k][oc]) -------------------------

template <int MR, int NB>
void gemm_tile(const Q::A* a, size_t lda, const Q::Wt* w, size_t wstride, int kq, const FastConv& p,
               int oc0, uint8_t* out, size_t ldo) {
  constexpr int L = Q::L;
  Q::I acc[MR][NB];
  for (int j = 0; j < NB; ++j) {
    const Q::I b = Q::load(p.bias + oc0 + L * j);
    for (int i = 0; i < MR; ++i) acc[i][j] = b;
  }
  for (int k = 0; k < kq; ++k) {
    Q::I wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = Q::load_w(w + j * wstride + size_t(k) * L * Q::kStep);
    for (int i = 0; i < MR; ++i) {
      const Q::I av = Q::bcast(a + i * lda + size_t(k) * Q::kStep);
      for (int j = 0; j < NB; ++j) acc[i][j] = Q::dot(acc[i][j], av, wv[j]);
    }
  }
  if constexpr (Q::kPairStore && NB == 2) {
    if (p.rq.rshift && oc0 + 2 * L <= p.g.oc) {
      const Q::I m0 = Q::load(p.rq.mult + oc0), s0 = Q::load(p.rq.shift + oc0);
      const Q::I m1 = Q::load(p.rq.mult + oc0 + L), s1 = Q::load(p.rq.shift + oc0 + L);
      for (int i = 0; i < MR; ++i)
        Q::store2_u8(out + i * ldo + oc0, Q::requant_r(acc[i][0], m0, s0),
                     Q::requant_r(acc[i][1], m1, s1), p.rq);
      return;
    }
  }
  const Q::I zp = Q::set1(p.rq.out_zp), lo = Q::set1(p.rq.lo), hi = Q::set1(p.rq.hi);
  for (int j = 0; j < NB; ++j) {
    const int c = oc0 + L * j;
    const Q::I m = Q::load(p.rq.mult + c), s = Q::load(p.rq.shift + c);
    const int n = imin(L, p.g.oc - c);
    if (p.rq.rshift) {
      for (int i = 0; i < MR; ++i)
        Q::store_u8(out + i * ldo + c, Q::requant_r(acc[i][j], m, s), zp, lo, hi, n);
    } else {
      for (int i = 0; i < MR; ++i)
        Q::store_u8(out + i * ldo + c, Q::requant(acc[i][j], m, s), zp, lo, hi, n);
    }
  }
}

// Pixels [0, npix) of a block group of NB column blocks: kMr-pixel tiles, then the tail tile.
template <int NB>
void gemm_pixels(const Q::A* a, size_t lda, int64_t npix, const Q::Wt* w, size_t wstride, int kq,
                 const FastConv& p, int oc0, uint8_t* out, size_t ldo) {
  int64_t i = 0;
  for (; i + Q::kMr <= npix; i += Q::kMr)
    gemm_tile<Q::kMr, NB>(a + i * lda, lda, w, wstride, kq, p, oc0, out + i * ldo, ldo);
  const int rem = int(npix - i);
  a += i * lda;
  out += i * ldo;
  [&]<int... R>(std::integer_sequence<int, R...>) {
    ((rem == R + 1 ? gemm_tile<R + 1, NB>(a, lda, w, wstride, kq, p, oc0, out, ldo) : void()), ...);
  }
  (std::make_integer_sequence<int, Q::kMr - 1>());
}

// Pixels of A at most this many bytes are multiplied by one block group of weights before the
// next group: the group (kpad x NB*L weights, <= 60 KiB at K = 960) then stays in L1 / L2 while
// the pixels pass, instead of every weight streaming from L2 / L3 once per kMr pixels. 48 KiB
// holds 7x7 and 14x14 rows of the widest MobileNetV2 layers 4 rows at a time; on AVX2 it halved
// the 7x7 layers' time (320 -> 1280: weights 800 KiB, over the 512 KiB L2).
constexpr size_t kGemmChunkBytes = 48 * 1024;

// npix rows of A (lda elements apart) -> npix rows of out (oc bytes apart): chunks of pixels,
// then per chunk the column block groups, then the pixel tiles.
void gemm(const Q::A* a, size_t lda, int64_t npix, const FastConv& p, uint8_t* out) {
  constexpr int L = Q::L;
  const size_t ldo = size_t(p.g.oc);
  const int kq = p.kpad / Q::kStep;
  const size_t wstride = size_t(p.kpad) * L;  // weight elements per block of L channels
  const Q::Wt* w = reinterpret_cast<const Q::Wt*>(p.w);
  const int nblk = (p.g.oc + L - 1) / L;
  const int64_t chunk =
      std::max<int64_t>(Q::kMr, int64_t(kGemmChunkBytes / (lda * sizeof(Q::A))) / Q::kMr * Q::kMr);
  for (int64_t i0 = 0; i0 < npix; i0 += chunk) {
    const int64_t n = std::min(chunk, npix - i0);
    const Q::A* ai = a + i0 * lda;
    uint8_t* oi = out + i0 * ldo;
    int b = 0;
    for (; b + Q::kNb <= nblk; b += Q::kNb)
      gemm_pixels<Q::kNb>(ai, lda, n, w + b * wstride, wstride, kq, p, L * b, oi, ldo);
    const int rem = nblk - b;
    [&]<int... R>(std::integer_sequence<int, R...>) {
      ((rem == R + 1
            ? gemm_pixels<R + 1>(ai, lda, n, w + b * wstride, wstride, kq, p, L * b, oi, ldo)
            : void()),
       ...);
    }
    (std::make_integer_sequence<int, Q::kNb - 1>());
  }
}

// (w - wz) [oc][K] int16 -> [ocpad/L][kpad/kStep][L][kStep] of Wt, zero padded.
void pack_weights(const int16_t* w, int oc, int K, int kpad, int ocpad, int8_t* out_bytes) {
  constexpr int L = Q::L, S = Q::kStep;
  Q::Wt* out = reinterpret_cast<Q::Wt*>(out_bytes);
  for (int o = 0; o < ocpad; ++o)
    for (int k = 0; k < kpad; ++k) {
      const Q::Wt v = (o < oc && k < K) ? Q::Wt(w[size_t(o) * K + k]) : Q::Wt(0);
      out[(size_t(o / L) * (kpad / S) + k / S) * (L * S) + (o % L) * S + k % S] = v;
    }
}

// Output rows gathered (im2col) per GEMM call: as many as kGemmChunkBytes holds, at least one.
int64_t im2col_rows(const FastConv& p) {
  const size_t row = size_t(p.g.ow) * p.kpad * sizeof(Q::A);
  return std::max<int64_t>(1, int64_t(kGemmChunkBytes / row));
}

size_t conv_scratch(const FastConv& p) {
  return Q::kInPlace && p.direct
             ? 0
             : size_t(im2col_rows(p)) * size_t(p.g.ow) * p.kpad * sizeof(Q::A) + 64;
}

// One output row's im2col: ow rows of kpad elements.
void im2col_row(const FastConv& p, const uint8_t* in, int64_t r, Q::A* col) {
  const ConvGeom& g = p.g;
  const int b = int(r / g.oh), y = int(r % g.oh);
  for (int x = 0; x < g.ow; ++x) {
    Q::A* dst = col + size_t(x) * p.kpad;
    const int ix0 = x * g.sw - g.pad_l;
    const bool row_in = g.dw == 1 && ix0 >= 0 && ix0 + g.kw <= g.iw;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = y * g.sh - g.pad_t + ky * g.dh;
      if (row_in && iy >= 0 && iy < g.ih) {  // the kw taps are kw * ic contiguous bytes
        Q::widen_over(dst, in + ((int64_t(b) * g.ih + iy) * g.iw + ix0) * g.ic, g.kw * g.ic);
        dst += g.kw * g.ic;
        continue;
      }
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = x * g.sw - g.pad_l + kx * g.dw;
        if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) {
          for (int i = 0; i < g.ic; ++i) dst[i] = Q::A(p.in_zp);
        } else {
          Q::widen(dst, in + ((int64_t(b) * g.ih + iy) * g.iw + ix) * g.ic, g.ic);
        }
        dst += g.ic;
      }
    }
    for (Q::A* end = col + size_t(x + 1) * p.kpad; dst < end; ++dst) *dst = Q::A(0);
  }
}

void conv(const FastConv& p, const uint8_t* in, uint8_t* out, uint8_t* scratch, int64_t r0,
          int64_t r1) {
  const ConvGeom& g = p.g;
  if constexpr (Q::kInPlace) {
    if (p.direct) {
      const int64_t pix0 = r0 * g.ow, pix1 = r1 * g.ow;
      gemm(reinterpret_cast<const Q::A*>(in + pix0 * g.ic), size_t(g.ic), pix1 - pix0, p,
           out + pix0 * g.oc);
      return;
    }
  }
  Q::A* col = reinterpret_cast<Q::A*>(scratch);
  const int64_t chunk = im2col_rows(p);
  const size_t row = size_t(g.ow) * p.kpad;
  for (int64_t r = r0; r < r1; r += chunk) {
    const int64_t n = std::min(chunk, r1 - r);
    if (p.direct)  // 1x1 stride 1 unpadded, kpad == ic: the rows are contiguous
      Q::widen_over(col, in + r * g.ow * g.ic, int(n * g.ow * g.ic));
    else
      for (int64_t i = 0; i < n; ++i) im2col_row(p, in, r + i, col + size_t(i) * row);
    gemm(col, size_t(p.kpad), n * g.ow, p, out + r * g.ow * g.oc);
  }
}

// ---- depthwise ---------------------------------------------------------------------------------

template <int KH, int KW>
void dwconv_rows(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  constexpr int L = Q::L;
  const ConvGeom& g = p.g;
  const int kh = KH ? KH : g.kh, kw = KW ? KW : g.kw;
  const int nblk = (g.oc + L - 1) / L;
  const Q::I zp_in = Q::set1(p.in_zp);
  const Q::I zp = Q::set1(p.rq.out_zp), lo = Q::set1(p.rq.lo), hi = Q::set1(p.rq.hi);
  constexpr int kMaxTaps = KH && KW ? KH * KW : 1;
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    const int iy0 = y * g.sh - g.pad_t;
    const uint8_t* img = in + int64_t(b) * g.ih * g.iw * g.ic;
    uint8_t* orow = out + r * g.ow * g.oc;
    for (int blk = 0; blk < nblk; ++blk) {
      const int c = blk * L, n = imin(L, g.oc - c);
      const Q::I bias = Q::load(p.bias + c);
      const Q::I m = Q::load(p.rq.mult + c), s = Q::load(p.rq.shift + c);
      Q::I wr[kMaxTaps];
      if constexpr (KH && KW)
        for (int t = 0; t < KH * KW; ++t) wr[t] = Q::load(p.w + size_t(t) * p.ocpad + c);
      for (int x = 0; x < g.ow; ++x) {
        const int ix0 = x * g.sw - g.pad_l;
        Q::I acc = bias;
        for (int ky = 0; ky < kh; ++ky) {
          const int iy = iy0 + ky * g.dh;
          if (iy < 0 || iy >= g.ih) continue;
          const uint8_t* row = img + int64_t(iy) * g.iw * g.ic + c;
          for (int kx = 0; kx < kw; ++kx) {
            const int ix = ix0 + kx * g.dw;
            if (ix < 0 || ix >= g.iw) continue;
            const Q::I xv = Q::sub(Q::load_u8(row + int64_t(ix) * g.ic, n), zp_in);
            Q::I wv;
            if constexpr (KH && KW)
              wv = wr[ky * KW + kx];
            else
              wv = Q::load(p.w + size_t(ky * kw + kx) * p.ocpad + c);
            acc = Q::add(acc, Q::mullo(xv, wv));
          }
        }
        Q::store_u8(orow + int64_t(x) * g.oc + c, Q::requant(acc, m, s), zp, lo, hi, n);
      }
    }
  }
}

void dwconv(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  if (p.g.kh == 3 && p.g.kw == 3)
    dwconv_rows<3, 3>(p, in, out, r0, r1);
  else
    dwconv_rows<0, 0>(p, in, out, r0, r1);
}

// ---- add: whole vectors, the tail by the reference ---------------------------------------------

void add(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
         int64_t i1) {
  const Q::I off1 = Q::set1(p.in1_offset), off2 = Q::set1(p.in2_offset);
  const Q::I m1 = Q::set1(p.in1_mult), s1 = Q::set1(p.in1_shift);
  const Q::I m2 = Q::set1(p.in2_mult), s2 = Q::set1(p.in2_shift);
  const Q::I mo = Q::set1(p.out_mult), so = Q::set1(p.out_shift);
  const Q::I zp = Q::set1(p.out_zp), lo = Q::set1(p.lo), hi = Q::set1(p.hi);
  int64_t i = i0;
  for (; i + Q::L <= i1; i += Q::L) {
    Q::I x = Q::shl(Q::add(Q::load_u8(a + i, Q::L), off1), p.left_shift);
    Q::I y = Q::shl(Q::add(Q::load_u8(b + i, Q::L), off2), p.left_shift);
    x = Q::requant(x, m1, s1);
    y = Q::requant(y, m2, s2);
    Q::store_u8(out + i, Q::requant(Q::add(x, y), mo, so), zp, lo, hi, Q::L);
  }
  if (i < i1) scv::quant::add_ref(p, a, b, out, i, i1);
}

}  // namespace
