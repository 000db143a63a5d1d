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
// The bodies are shared with AVX-512 (qkernels_impl.h); this file holds the AVX2 traits.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace {

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

struct Q {
  using I = __m256i;
  static constexpr int L = 8;
  static constexpr int kMr = 4, kNb = 3;  // 12 accumulators + 3 weights + 1 input
  using A = int16_t;                      // im2col widened to int16 (K padded to even)
  using Wt = int16_t;
  static constexpr int kStep = 2;  // vpmaddwd: int16 pairs -> int32
  static constexpr bool kInPlace = false;
  static I set1(int32_t v) { return _mm256_set1_epi32(v); }
  static I load(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const I*>(p)); }
  static I load_w(const Wt* p) { return _mm256_loadu_si256(reinterpret_cast<const I*>(p)); }
  static I bcast(const A* a) {
    int32_t q;
    std::memcpy(&q, a, 4);
    return _mm256_set1_epi32(q);
  }
  static I dot(I acc, I a, I w) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, w)); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mullo(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I shl(I a, int s) { return _mm256_sll_epi32(a, _mm_cvtsi32_si128(s)); }
  // 8 bytes, whatever n: channel tails read up to 7 bytes past the row, inside the arena's
  // padding; the lanes past n are not stored.
  static I load_u8(const uint8_t* p, int) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I requant(I acc, I m, I s) { return requant_single(acc, m, s); }
  // + zero point, clamp, the low byte of each lane -> n (<= 8) bytes at dst.
  static void store_u8(uint8_t* dst, I v, I zp, I lo, I hi, int n) {
    v = _mm256_add_epi32(v, zp);
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    const I pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,
                                    4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
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
  static void widen(A* dst, const uint8_t* src, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(dst + i),
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < n; ++i) dst[i] = src[i];
  }
};

}  // namespace

#include "ops/quant/qkernels_impl.h"

namespace scv::quant {
namespace {

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
