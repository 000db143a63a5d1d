// AVX-512 VNNI quantized kernels (built with the AVX-512 flags; chosen at run time only when
// the CPU has AVX512_VNNI).
//
// conv (and FULLY_CONNECTED as a 1x1 conv): a GEMM out[pixel][oc] = sum_k A[pixel][k] * W[k][oc]
// with vpdpbusd (u8 activations x s8 weights, 4 products summed into each int32 lane).
//  - A: the NHWC input rows in place for 1x1 stride-1 unpadded convs with K % 4 == 0; otherwise
//    one output row of pixels at a time is gathered into the thread's scratch (im2col), with
//    out-of-image taps set to the input zero point and K padded to a multiple of 4.
//  - W: packed [oc/16][K/4][16][4]: one 64-byte load gives 16 output channels x 4 k.
//  - Tile: up to 6 pixels x 4 blocks of 16 channels (24 accumulators); tails by template.
//  - The input zero point is folded into the bias (bias - zp * sum w), so the inner loop is only
//    broadcast + vpdpbusd.
//  - Requantization (single rounding): 64-bit products per even/odd lane, + 2^(total-1),
//    arithmetic shift, + zero point, clamp, saturate to u8, masked store for channel tails.
// dwconv: 16 channels per vector, int32 (x - zp) * w per in-image tap (vpmulld).
// add: 16 elements per vector, TFLite's add arithmetic with the same requantization.
#include <immintrin.h>

// GCC 12 reports the undefined pass-through operand inside some AVX-512 intrinsics
// (_mm512_cvtusepi32_epi8, _mm512_srli_epi64, ...) as uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstring>

#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace scv::quant {
namespace {

constexpr int kMr = 6, kNb = 4;

// (acc * mult + 2^(total-1)) >> total per lane, total = 31 - shift; 64-bit intermediate.
inline __m512i requant_single(__m512i acc, __m512i mult, __m512i shift) {
  const __m512i total = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
  const __m512i lo32 = _mm512_set1_epi64(0xffffffffLL);
  const __m512i te = _mm512_and_si512(total, lo32), to = _mm512_srli_epi64(total, 32);
  const __m512i one = _mm512_set1_epi64(1);
  __m512i pe = _mm512_mul_epi32(acc, mult);
  __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_srli_epi64(mult, 32));
  pe = _mm512_add_epi64(pe, _mm512_sllv_epi64(one, _mm512_sub_epi64(te, one)));
  po = _mm512_add_epi64(po, _mm512_sllv_epi64(one, _mm512_sub_epi64(to, one)));
  pe = _mm512_srav_epi64(pe, te);
  po = _mm512_srav_epi64(po, to);
  return _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
}

inline void store_u8(uint8_t* dst, __m512i v, __m512i zp, __m512i lo, __m512i hi, __mmask16 m) {
  v = _mm512_add_epi32(v, zp);
  v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
  _mm_mask_storeu_epi8(dst, m, _mm512_cvtusepi32_epi8(v));
}

inline __mmask16 tail_mask(int n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

template <int MR, int NB>
void gemm_tile(const uint8_t* a, size_t lda, const int8_t* w, size_t wstride, int kq,
               const FastConv& p, int oc0, uint8_t* out, size_t ldo) {
  __m512i acc[MR][NB];
  for (int j = 0; j < NB; ++j) {
    const __m512i b = _mm512_loadu_si512(p.bias + oc0 + 16 * j);
    for (int i = 0; i < MR; ++i) acc[i][j] = b;
  }
  for (int k = 0; k < kq; ++k) {
    __m512i wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_si512(w + j * wstride + size_t(k) * 64);
    for (int i = 0; i < MR; ++i) {
      int32_t q;
      std::memcpy(&q, a + i * lda + 4 * size_t(k), 4);
      const __m512i av = _mm512_set1_epi32(q);
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
    }
  }
  const __m512i zp = _mm512_set1_epi32(p.rq.out_zp), lo = _mm512_set1_epi32(p.rq.lo),
                hi = _mm512_set1_epi32(p.rq.hi);
  for (int j = 0; j < NB; ++j) {
    const int c = oc0 + 16 * j;
    const __m512i m = _mm512_loadu_si512(p.rq.mult + c), s = _mm512_loadu_si512(p.rq.shift + c);
    const __mmask16 mask = tail_mask(p.g.oc - c);
    for (int i = 0; i < MR; ++i)
      store_u8(out + i * ldo + c, requant_single(acc[i][j], m, s), zp, lo, hi, mask);
  }
}

template <int MR>
void gemm_cols(const uint8_t* a, size_t lda, const FastConv& p, uint8_t* out, size_t ldo) {
  const int kq = p.kpad / 4;
  const size_t wstride = size_t(p.kpad) * 16;
  const int nblk = (p.g.oc + 15) / 16;
  int b = 0;
  for (; b + kNb <= nblk; b += kNb)
    gemm_tile<MR, kNb>(a, lda, p.w + b * wstride, wstride, kq, p, 16 * b, out, ldo);
  switch (nblk - b) {
    case 3:
      gemm_tile<MR, 3>(a, lda, p.w + b * wstride, wstride, kq, p, 16 * b, out, ldo);
      break;
    case 2:
      gemm_tile<MR, 2>(a, lda, p.w + b * wstride, wstride, kq, p, 16 * b, out, ldo);
      break;
    case 1:
      gemm_tile<MR, 1>(a, lda, p.w + b * wstride, wstride, kq, p, 16 * b, out, ldo);
      break;
    default:
      break;
  }
}

// npix rows of A (lda bytes apart) -> npix rows of out (oc bytes apart).
void gemm(const uint8_t* a, size_t lda, int64_t npix, const FastConv& p, uint8_t* out) {
  const size_t ldo = size_t(p.g.oc);
  int64_t i = 0;
  for (; i + kMr <= npix; i += kMr) gemm_cols<kMr>(a + i * lda, lda, p, out + i * ldo, ldo);
  switch (npix - i) {
    case 5:
      gemm_cols<5>(a + i * lda, lda, p, out + i * ldo, ldo);
      break;
    case 4:
      gemm_cols<4>(a + i * lda, lda, p, out + i * ldo, ldo);
      break;
    case 3:
      gemm_cols<3>(a + i * lda, lda, p, out + i * ldo, ldo);
      break;
    case 2:
      gemm_cols<2>(a + i * lda, lda, p, out + i * ldo, ldo);
      break;
    case 1:
      gemm_cols<1>(a + i * lda, lda, p, out + i * ldo, ldo);
      break;
    default:
      break;
  }
}

void pack_weights(const int16_t* w, int oc, int K, int kpad, int ocpad, int8_t* out) {
  // [ocpad/16][kpad/4][16][4]
  for (int o = 0; o < ocpad; ++o)
    for (int k = 0; k < kpad; ++k) {
      const int8_t v = (o < oc && k < K) ? int8_t(w[size_t(o) * K + k]) : int8_t(0);
      out[(size_t(o / 16) * (kpad / 4) + k / 4) * 64 + (o % 16) * 4 + k % 4] = v;
    }
}

size_t conv_scratch(const FastConv& p) {
  return p.direct ? 0 : size_t(p.g.ow) * p.kpad + 64;
}

// One output row's im2col: ow rows of kpad bytes.
void im2col_row(const FastConv& p, const uint8_t* in, int64_t r, uint8_t* col) {
  const ConvGeom& g = p.g;
  const int b = int(r / g.oh), y = int(r % g.oh);
  const int K = g.kh * g.kw * g.ic;
  for (int x = 0; x < g.ow; ++x) {
    uint8_t* dst = col + size_t(x) * p.kpad;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = y * g.sh - g.pad_t + ky * g.dh;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = x * g.sw - g.pad_l + kx * g.dw;
        if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw)
          std::memset(dst, p.in_zp, size_t(g.ic));
        else
          std::memcpy(dst, in + ((int64_t(b) * g.ih + iy) * g.iw + ix) * g.ic, size_t(g.ic));
        dst += g.ic;
      }
    }
    std::memset(dst, 0, size_t(p.kpad - K));
  }
}

void conv(const FastConv& p, const uint8_t* in, uint8_t* out, uint8_t* scratch, int64_t r0,
          int64_t r1) {
  const ConvGeom& g = p.g;
  if (p.direct) {
    const int64_t pix0 = r0 * g.ow, pix1 = r1 * g.ow;
    gemm(in + pix0 * g.ic, size_t(g.ic), pix1 - pix0, p, out + pix0 * g.oc);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    im2col_row(p, in, r, scratch);
    gemm(scratch, size_t(p.kpad), g.ow, p, out + r * g.ow * g.oc);
  }
}

void dwconv(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  const int nblk = (g.oc + 15) / 16;
  const __m512i zp_in = _mm512_set1_epi32(p.in_zp);
  const __m512i zp = _mm512_set1_epi32(p.rq.out_zp), lo = _mm512_set1_epi32(p.rq.lo),
                hi = _mm512_set1_epi32(p.rq.hi);
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    const int iy0 = y * g.sh - g.pad_t;
    for (int x = 0; x < g.ow; ++x) {
      const int ix0 = x * g.sw - g.pad_l;
      uint8_t* o = out + (r * g.ow + x) * g.oc;
      for (int blk = 0; blk < nblk; ++blk) {
        const int c = blk * 16;
        const __mmask16 mask = tail_mask(g.oc - c);
        __m512i acc = _mm512_loadu_si512(p.bias + c);
        for (int ky = 0; ky < g.kh; ++ky) {
          const int iy = iy0 + ky * g.dh;
          if (iy < 0 || iy >= g.ih) continue;
          const uint8_t* row = in + (int64_t(b) * g.ih + iy) * g.iw * g.ic + c;
          for (int kx = 0; kx < g.kw; ++kx) {
            const int ix = ix0 + kx * g.dw;
            if (ix < 0 || ix >= g.iw) continue;
            const __m512i xv = _mm512_sub_epi32(
                _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, row + int64_t(ix) * g.ic)), zp_in);
            const __m512i wv = _mm512_loadu_si512(p.w + size_t(ky * g.kw + kx) * p.ocpad + c);
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
          }
        }
        const __m512i m = _mm512_loadu_si512(p.rq.mult + c), s = _mm512_loadu_si512(p.rq.shift + c);
        store_u8(o + c, requant_single(acc, m, s), zp, lo, hi, mask);
      }
    }
  }
}

void add(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
         int64_t i1) {
  const __m512i off1 = _mm512_set1_epi32(p.in1_offset), off2 = _mm512_set1_epi32(p.in2_offset);
  const __m512i m1 = _mm512_set1_epi32(p.in1_mult), s1 = _mm512_set1_epi32(p.in1_shift);
  const __m512i m2 = _mm512_set1_epi32(p.in2_mult), s2 = _mm512_set1_epi32(p.in2_shift);
  const __m512i mo = _mm512_set1_epi32(p.out_mult), so = _mm512_set1_epi32(p.out_shift);
  const __m512i zp = _mm512_set1_epi32(p.out_zp), lo = _mm512_set1_epi32(p.lo),
                hi = _mm512_set1_epi32(p.hi);
  for (int64_t i = i0; i < i1; i += 16) {
    const __mmask16 mask = tail_mask(int(std::min<int64_t>(16, i1 - i)));
    __m512i x = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, a + i));
    __m512i y = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, b + i));
    x = _mm512_slli_epi32(_mm512_add_epi32(x, off1), p.left_shift);
    y = _mm512_slli_epi32(_mm512_add_epi32(y, off2), p.left_shift);
    x = requant_single(x, m1, s1);
    y = requant_single(y, m2, s2);
    store_u8(out + i, requant_single(_mm512_add_epi32(x, y), mo, so), zp, lo, hi, mask);
  }
}

double peak_probe(int64_t iters, int32_t* sink) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi32(0x01020304), w = _mm512_set1_epi32(0x01ff01ff);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, w);
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  *sink += _mm512_reduce_add_epi32(s);
  return double(iters) * 12 * 64;
}

const QKernels kKernels = {"avx512-vnni", 4,    16,     true, pack_weights,
                           conv_scratch,  conv, dwconv, add,  peak_probe};

}  // namespace

const QKernels* qkernels_avx512() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni ? &kKernels : nullptr;
}

}  // namespace scv::quant
