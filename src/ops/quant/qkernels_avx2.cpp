// AVX2 quantized kernels (built with -mavx2 -mfma).
//
// conv (and FULLY_CONNECTED as a 1x1 conv): per output row, the row's pixels are gathered
// (im2col; out-of-image taps = the input zero point) and widened to int16 in the thread's
// scratch, K padded to even; then a GEMM with vpmaddwd (int16 pairs -> int32; exact, unlike
// vpmaddubsw which saturates u8 x s8 pair sums above 32767).
//  - W: packed [oc/8][K/2][8][2] int16: one 32-byte load gives 8 output channels x 2 k.
//  - Tile: up to 4 pixels x 3 blocks of 8 channels (12 accumulators + 3 weights + 1 input).
//  - The input zero point is folded into the bias (bias - zp * sum w).
//  - Requantization (single rounding) in 64 bits per even/odd lane; AVX2 has no 64-bit
//    arithmetic shift, so (p + 2^62) is shifted logically and 2^(62 - total) subtracted.
// dwconv: 8 channels per vector, int32 (x - zp) * w per in-image tap (vpmulld); channel tails
// read up to 7 bytes past the row, inside the arena's padding, and are not stored.
// add: 8 elements per vector, the tail by the reference.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace scv::quant {
namespace {

constexpr int kMr = 4, kNb = 3;

inline __m256i requant_single(__m256i acc, __m256i mult, __m256i shift) {
  const __m256i total = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
  const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
  const __m256i te = _mm256_and_si256(total, lo32), to = _mm256_srli_epi64(total, 32);
  const __m256i one = _mm256_set1_epi64x(1), big = _mm256_set1_epi64x(int64_t(1) << 62),
                s62 = _mm256_set1_epi64x(62);
  __m256i pe = _mm256_mul_epi32(acc, mult);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32));
  pe = _mm256_add_epi64(_mm256_add_epi64(pe, big),
                        _mm256_sllv_epi64(one, _mm256_sub_epi64(te, one)));
  po = _mm256_add_epi64(_mm256_add_epi64(po, big),
                        _mm256_sllv_epi64(one, _mm256_sub_epi64(to, one)));
  pe = _mm256_sub_epi64(_mm256_srlv_epi64(pe, te),
                        _mm256_sllv_epi64(one, _mm256_sub_epi64(s62, te)));
  po = _mm256_sub_epi64(_mm256_srlv_epi64(po, to),
                        _mm256_sllv_epi64(one, _mm256_sub_epi64(s62, to)));
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

// + zero point, clamp, the low byte of each lane -> n (<= 8) bytes at dst.
inline void store_u8(uint8_t* dst, __m256i v, __m256i zp, __m256i lo, __m256i hi, int n) {
  v = _mm256_add_epi32(v, zp);
  v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
  const __m256i pick =
      _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1,
                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  v = _mm256_shuffle_epi8(v, pick);
  v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
  const __m128i b = _mm256_castsi256_si128(v);
  if (n >= 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), b);
  } else {
    uint8_t tmp[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(tmp), b);
    std::memcpy(dst, tmp, size_t(n));
  }
}

template <int MR, int NB>
void gemm_tile(const int16_t* a, size_t lda, const int16_t* w, size_t wstride, int kq,
               const FastConv& p, int oc0, uint8_t* out, size_t ldo) {
  __m256i acc[MR][NB];
  for (int j = 0; j < NB; ++j) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias + oc0 + 8 * j));
    for (int i = 0; i < MR; ++i) acc[i][j] = b;
  }
  for (int k = 0; k < kq; ++k) {
    __m256i wv[NB];
    for (int j = 0; j < NB; ++j)
      wv[j] =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * wstride + size_t(k) * 16));
    for (int i = 0; i < MR; ++i) {
      int32_t q;
      std::memcpy(&q, a + i * lda + 2 * size_t(k), 4);
      const __m256i av = _mm256_set1_epi32(q);
      for (int j = 0; j < NB; ++j)
        acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(av, wv[j]));
    }
  }
  const __m256i zp = _mm256_set1_epi32(p.rq.out_zp), lo = _mm256_set1_epi32(p.rq.lo),
                hi = _mm256_set1_epi32(p.rq.hi);
  for (int j = 0; j < NB; ++j) {
    const int c = oc0 + 8 * j;
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.rq.mult + c));
    const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.rq.shift + c));
    const int n = std::min(8, p.g.oc - c);
    for (int i = 0; i < MR; ++i)
      store_u8(out + i * ldo + c, requant_single(acc[i][j], m, s), zp, lo, hi, n);
  }
}

template <int MR>
void gemm_cols(const int16_t* a, size_t lda, const FastConv& p, uint8_t* out, size_t ldo) {
  const int kq = p.kpad / 2;
  const size_t wstride = size_t(p.kpad) * 8;  // int16 per block of 8 channels
  const int16_t* w = reinterpret_cast<const int16_t*>(p.w);
  const int nblk = (p.g.oc + 7) / 8;
  int b = 0;
  for (; b + kNb <= nblk; b += kNb)
    gemm_tile<MR, kNb>(a, lda, w + b * wstride, wstride, kq, p, 8 * b, out, ldo);
  switch (nblk - b) {
    case 2:
      gemm_tile<MR, 2>(a, lda, w + b * wstride, wstride, kq, p, 8 * b, out, ldo);
      break;
    case 1:
      gemm_tile<MR, 1>(a, lda, w + b * wstride, wstride, kq, p, 8 * b, out, ldo);
      break;
    default:
      break;
  }
}

void gemm(const int16_t* a, size_t lda, int64_t npix, const FastConv& p, uint8_t* out) {
  const size_t ldo = size_t(p.g.oc);
  int64_t i = 0;
  for (; i + kMr <= npix; i += kMr) gemm_cols<kMr>(a + i * lda, lda, p, out + i * ldo, ldo);
  switch (npix - i) {
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

void pack_weights(const int16_t* w, int oc, int K, int kpad, int ocpad, int8_t* out_bytes) {
  // [ocpad/8][kpad/2][8][2] int16
  int16_t* out = reinterpret_cast<int16_t*>(out_bytes);
  for (int o = 0; o < ocpad; ++o)
    for (int k = 0; k < kpad; ++k) {
      const int16_t v = (o < oc && k < K) ? w[size_t(o) * K + k] : int16_t(0);
      out[(size_t(o / 8) * (kpad / 2) + k / 2) * 16 + (o % 8) * 2 + k % 2] = v;
    }
}

size_t conv_scratch(const FastConv& p) {
  return size_t(p.g.ow) * p.kpad * 2 + 64;
}

// One output row gathered and widened: ow rows of kpad int16.
void im2col_row(const FastConv& p, const uint8_t* in, int64_t r, int16_t* col) {
  const ConvGeom& g = p.g;
  const int b = int(r / g.oh), y = int(r % g.oh);
  const int K = g.kh * g.kw * g.ic;
  for (int x = 0; x < g.ow; ++x) {
    int16_t* dst = col + size_t(x) * p.kpad;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = y * g.sh - g.pad_t + ky * g.dh;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = x * g.sw - g.pad_l + kx * g.dw;
        if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) {
          std::fill(dst, dst + g.ic, int16_t(p.in_zp));
        } else {
          const uint8_t* src = in + ((int64_t(b) * g.ih + iy) * g.iw + ix) * g.ic;
          int i = 0;
          for (; i + 16 <= g.ic; i += 16)
            _mm256_storeu_si256(
                reinterpret_cast<__m256i*>(dst + i),
                _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
          for (; i < g.ic; ++i) dst[i] = src[i];
        }
        dst += g.ic;
      }
    }
    std::fill(dst, col + size_t(x) * p.kpad + p.kpad, int16_t(0));
    (void)K;
  }
}

void conv(const FastConv& p, const uint8_t* in, uint8_t* out, uint8_t* scratch, int64_t r0,
          int64_t r1) {
  const ConvGeom& g = p.g;
  int16_t* col = reinterpret_cast<int16_t*>(scratch);
  for (int64_t r = r0; r < r1; ++r) {
    im2col_row(p, in, r, col);
    gemm(col, size_t(p.kpad), g.ow, p, out + r * g.ow * g.oc);
  }
}

// Channel blocks outer, pixels inner: a block's weights, bias and multipliers stay in
// registers across the row (3x3: 9 weight vectors).
template <int KH, int KW>
void dwconv_rows(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  const int kh = KH ? KH : g.kh, kw = KW ? KW : g.kw;
  const int nblk = (g.oc + 7) / 8;
  const __m256i zp_in = _mm256_set1_epi32(p.in_zp);
  const __m256i zp = _mm256_set1_epi32(p.rq.out_zp), lo = _mm256_set1_epi32(p.rq.lo),
                hi = _mm256_set1_epi32(p.rq.hi);
  constexpr int kMaxTaps = KH && KW ? KH * KW : 1;
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    const int iy0 = y * g.sh - g.pad_t;
    const uint8_t* img = in + int64_t(b) * g.ih * g.iw * g.ic;
    uint8_t* orow = out + r * g.ow * g.oc;
    for (int blk = 0; blk < nblk; ++blk) {
      const int c = blk * 8, n = std::min(8, g.oc - c);
      const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias + c));
      const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.rq.mult + c));
      const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.rq.shift + c));
      __m256i wr[kMaxTaps];
      if constexpr (KH && KW)
        for (int t = 0; t < KH * KW; ++t)
          wr[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.w + size_t(t) * p.ocpad + c));
      for (int x = 0; x < g.ow; ++x) {
        const int ix0 = x * g.sw - g.pad_l;
        __m256i acc = bias;
        for (int ky = 0; ky < kh; ++ky) {
          const int iy = iy0 + ky * g.dh;
          if (iy < 0 || iy >= g.ih) continue;
          const uint8_t* row = img + int64_t(iy) * g.iw * g.ic + c;
          for (int kx = 0; kx < kw; ++kx) {
            const int ix = ix0 + kx * g.dw;
            if (ix < 0 || ix >= g.iw) continue;
            const __m256i xv = _mm256_sub_epi32(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + int64_t(ix) * g.ic))),
                zp_in);
            __m256i wv;
            if constexpr (KH && KW)
              wv = wr[ky * KW + kx];
            else
              wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.w + size_t(ky * kw + kx) * p.ocpad + c));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(xv, wv));
          }
        }
        store_u8(orow + int64_t(x) * g.oc + c, requant_single(acc, m, s), zp, lo, hi, n);
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

void add(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
         int64_t i1) {
  const __m256i off1 = _mm256_set1_epi32(p.in1_offset), off2 = _mm256_set1_epi32(p.in2_offset);
  const __m256i m1 = _mm256_set1_epi32(p.in1_mult), s1 = _mm256_set1_epi32(p.in1_shift);
  const __m256i m2 = _mm256_set1_epi32(p.in2_mult), s2 = _mm256_set1_epi32(p.in2_shift);
  const __m256i mo = _mm256_set1_epi32(p.out_mult), so = _mm256_set1_epi32(p.out_shift);
  const __m256i zp = _mm256_set1_epi32(p.out_zp), lo = _mm256_set1_epi32(p.lo),
                hi = _mm256_set1_epi32(p.hi);
  const __m128i ls = _mm_cvtsi32_si128(p.left_shift);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i)));
    __m256i y = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + i)));
    x = _mm256_sll_epi32(_mm256_add_epi32(x, off1), ls);
    y = _mm256_sll_epi32(_mm256_add_epi32(y, off2), ls);
    x = requant_single(x, m1, s1);
    y = requant_single(y, m2, s2);
    store_u8(out + i, requant_single(_mm256_add_epi32(x, y), mo, so), zp, lo, hi, 8);
  }
  if (i < i1) add_ref(p, a, b, out, i, i1);
}

double peak_probe(int64_t iters, int32_t* sink) {
  // The int8 rate this kernel set reaches: vpmaddwd + vpaddd (2 MACs per int16 pair lane).
  __m256i acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i a = _mm256_set1_epi32(0x00030004), w = _mm256_set1_epi32(0x0001ffff);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(a, w));
  __m256i s = acc[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_epi32(s, acc[i]);
  int32_t v[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), s);
  for (int i = 0; i < 8; ++i) *sink += v[i];
  return double(iters) * 8 * 16;
}

const QKernels kKernels = {"avx2",       2,    8,      false, pack_weights,
                           conv_scratch, conv, dwconv, add,   peak_probe};

}  // namespace

const QKernels* qkernels_avx2() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma ? &kKernels : nullptr;
}

}  // namespace scv::quant
