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
// dwconv: 16 channels per vector, int32 (x - zp) * w per in-image tap (vpmulld); channel tails
// by masked loads and stores.
// add: 16 elements per vector, TFLite's add arithmetic with the same requantization; the tail by
// the reference.
// The bodies are shared with AVX2 (qkernels_impl.h); this file holds the AVX-512 traits.
#include <immintrin.h>

// GCC 12 reports the undefined pass-through operand inside some AVX-512 intrinsics
// (_mm512_cvtusepi32_epi8, _mm512_srli_epi64, ...) as uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // GCC's name (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cstring>

#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace {

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

inline __mmask16 tail_mask(int n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

struct Q {
  using I = __m512i;
  static constexpr int L = 16;
  static constexpr int kMr = 6, kNb = 4;  // 24 accumulators
  using A = uint8_t;                      // u8 activations straight into vpdpbusd
  using Wt = int8_t;
  static constexpr int kStep = 4;  // vpdpbusd: 4 u8 x s8 products per int32 lane
  static constexpr bool kInPlace = true;
  static I set1(int32_t v) { return _mm512_set1_epi32(v); }
  static I load(const int32_t* p) { return _mm512_loadu_si512(p); }
  static I load_w(const Wt* p) { return _mm512_loadu_si512(p); }
  static I bcast(const A* a) {
    int32_t q;
    std::memcpy(&q, a, 4);
    return _mm512_set1_epi32(q);
  }
  static I dot(I acc, I a, I w) { return _mm512_dpbusd_epi32(acc, a, w); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I shl(I a, int s) { return _mm512_sll_epi32(a, _mm_cvtsi32_si128(s)); }
  static I load_u8(const uint8_t* p, int n) {
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail_mask(n), p));
  }
  static I requant(I acc, I m, I s) { return requant_single(acc, m, s); }
  static I requant_r(I acc, I m, I s) { return requant_single(acc, m, s); }
  static constexpr bool kPairStore = false;  // store2_u8 is not used
  static void store2_u8(uint8_t* dst, I v0, I v1, const scv::quant::Requant& rq) {
    const I zp = set1(rq.out_zp), lo = set1(rq.lo), hi = set1(rq.hi);
    store_u8(dst, v0, zp, lo, hi, L);
    store_u8(dst + L, v1, zp, lo, hi, L);
  }
  static void store_u8(uint8_t* dst, I v, I zp, I lo, I hi, int n) {
    // Clamped to [lo - zp, hi - zp] before zp is added: the reference's saturating sum (a broken
    // model's requantized value can lie next to the int32 limits, where v + zp would wrap).
    v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_sub_epi32(lo, zp)), _mm512_sub_epi32(hi, zp));
    v = _mm512_add_epi32(v, zp);
    _mm_mask_storeu_epi8(dst, tail_mask(n), _mm512_cvtusepi32_epi8(v));
  }
  static void widen(A* dst, const uint8_t* src, int n) { std::memcpy(dst, src, size_t(n)); }
  static void widen_over(A* dst, const uint8_t* src, int n) { widen(dst, src, n); }
};

}  // namespace

#include "ops/quant/qkernels_impl.h"

namespace scv::quant {
namespace {

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
