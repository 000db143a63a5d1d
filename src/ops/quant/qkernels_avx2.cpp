// AVX2 quantized kernels (built with -mavx2 -mfma).
//
// conv (and FULLY_CONNECTED as a 1x1 conv): output rows are gathered (im2col; out-of-image taps
// = the input zero point) and widened to int16 in the thread's scratch, up to 48 KiB of rows at
// a time, K padded to even; then a GEMM with vpmaddwd (int16 pairs -> int32; exact, unlike
// vpmaddubsw which saturates u8 x s8 pair sums above 32767), block groups of weights outer.
//  - W: packed [oc/8][K/2][8][2] int16: one 32-byte load gives 8 output channels x 2 k.
//  - Tile: up to 4 pixels x 2 blocks of 8 channels (8 accumulators + 2 weights + 4 inputs + 1
//    product: 4 x 3 needs 17 registers, and gcc kept 7 accumulators on the stack, which made
//    the 1x1 layers ~25% slower).
//  - The input zero point is folded into the bias (bias - zp * sum w).
//  - Requantization (single rounding) in 64 bits per even/odd lane; AVX2 has no 64-bit
//    arithmetic shift, so (p + 2^62) is shifted logically and 2^(62 - total) subtracted; when
//    every shift is negative (all MobileNetV2 layers) the high dword and a 32-bit vpsravd do it
//    in 8 instructions (requant_rshift). Two blocks are packed to bytes together (store2_u8).
// dwconv 3x3: 8 channels per vector, two taps per vpmaddwd (dwconv3x3_pairs below); other
// windows: int32 (x - zp) * w per in-image tap (vpmulld). Channel tails read up to 7 bytes past
// the row, inside the arena's padding, and are not stored.
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

// requant_single when every shift < 0, so total = 31 - shift >= 32: the high dword of the
// rounded 64-bit product is floor(p / 2^32), and an arithmetic 32-bit shift by total - 32 finishes
// floor(p / 2^total) exactly (the result fits int32: |acc * mult| < 2^62).
inline __m256i requant_rshift(__m256i acc, __m256i mult, __m256i shift) {
  const __m256i r = _mm256_sub_epi32(_mm256_set1_epi32(30), shift);  // total - 1, in [31, 61]
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i re = _mm256_sllv_epi64(one, _mm256_and_si256(r, _mm256_set1_epi64x(0xffffffffLL)));
  const __m256i ro = _mm256_sllv_epi64(one, _mm256_srli_epi64(r, 32));
  const __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(acc, mult), re);
  const __m256i po = _mm256_add_epi64(
      _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32)), ro);
  const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  return _mm256_srav_epi32(h, _mm256_sub_epi32(_mm256_set1_epi32(-1), shift));
}

struct Q {
  using I = __m256i;
  static constexpr int L = 8;
  static constexpr int kMr = 4, kNb = 2;  // 8 accumulators + 2 weights + 4 inputs + 1 product
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
  static I requant_r(I acc, I m, I s) { return requant_rshift(acc, m, s); }
  // + zero point, clamp, the low byte of each lane -> n (<= 8) bytes at dst.
  static void store_u8(uint8_t* dst, I v, I zp, I lo, I hi, int n) {
    // Clamped to [lo - zp, hi - zp] before zp is added: the reference's saturating sum (a broken
    // model's requantized value can lie next to the int32 limits, where v + zp would wrap).
    v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_sub_epi32(lo, zp)), _mm256_sub_epi32(hi, zp));
    v = _mm256_add_epi32(v, zp);
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
  // Two vectors (16 channels) at once: int32 -> int16 with saturation, + zero point
  // (saturating), -> uint8 with saturation, clamp. Saturation only moves values that the clamp
  // to [lo, hi] within [0, 255] would move to the same bound, so the bytes equal store_u8's.
  static constexpr bool kPairStore = true;
  static void store2_u8(uint8_t* dst, I v0, I v1, const scv::quant::Requant& rq) {
    const I zp = _mm256_set1_epi16(int16_t(rq.out_zp));
    const I lo = _mm256_set1_epi8(char(rq.lo)), hi = _mm256_set1_epi8(char(rq.hi));
    I t = _mm256_adds_epi16(_mm256_packs_epi32(v0, v1), zp);
    t = _mm256_packus_epi16(t, t);
    t = _mm256_min_epu8(_mm256_max_epu8(t, lo), hi);
    t = _mm256_permutevar8x32_epi32(t, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(t));
  }
  static void widen_over(A* dst, const uint8_t* src, int n) {
    for (int i = 0; i < n; i += 16)
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(dst + i),
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
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

// Depthwise 3x3 (multiplier 1, dilation 1) with vpmaddwd on pairs of taps: the input bytes of two
// taps are interleaved and widened to int16, and one multiply-add gives x_a * w_a + x_b * w_b per
// channel (|x * w| <= 255 * 255, exact in int32). Taps outside the image read the zero-point row
// p.zrow, and the bias holds - zp * sum w, so (x - zp) * w of the reference is matched bit for bit.
// Weights: p.wpair [blocks of 8 channels][5 pairs][8 channels][2] int16 (the 10th tap is 0).
void dwconv3x3_pairs(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  const ConvGeom& g = p.g;
  const int nblk = (g.oc + 7) / 8;
  const size_t rowb = size_t(g.iw) * g.ic;
  const __m256i zp = _mm256_set1_epi32(p.rq.out_zp), lo = _mm256_set1_epi32(p.rq.lo),
                hi = _mm256_set1_epi32(p.rq.hi);
  const __m128i zero = _mm_setzero_si128();
  // Interior columns: every tap in the image horizontally.
  const int x_lo = std::min(g.ow, (g.pad_l + g.sw - 1) / g.sw);
  const int last = g.iw - 3 + g.pad_l;  // the last interior x times sw
  const int x_hi = last < 0 ? x_lo : std::max(x_lo, std::min(g.ow, last / g.sw + 1));
  for (int64_t r = r0; r < r1; ++r) {
    const int b = int(r / g.oh), y = int(r % g.oh);
    const int iy0 = y * g.sh - g.pad_t;
    const uint8_t* img = in + int64_t(b) * g.ih * rowb;
    const uint8_t* rp[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = iy0 + ky;
      rp[ky] = iy >= 0 && iy < g.ih ? img + size_t(iy) * rowb : p.zrow;
    }
    uint8_t* orow = out + r * g.ow * g.oc;
    for (int blk = 0; blk < nblk; ++blk) {
      const int c = blk * 8, n = std::min(8, g.oc - c);
      const __m256i* wp = reinterpret_cast<const __m256i*>(p.wpair) + size_t(blk) * 5;
      const __m256i w0 = _mm256_loadu_si256(wp), w1 = _mm256_loadu_si256(wp + 1),
                    w2 = _mm256_loadu_si256(wp + 2), w3 = _mm256_loadu_si256(wp + 3),
                    w4 = _mm256_loadu_si256(wp + 4);
      const __m256i bias = Q::load(p.bias_zp + c);
      const __m256i m = Q::load(p.rq.mult + c), s = Q::load(p.rq.shift + c);
      auto pixel = [&](int x, const uint8_t* const* tp) {
        auto pair = [&](const uint8_t* a, const uint8_t* bb) {
          return _mm256_cvtepu8_epi16(
              _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + c)),
                                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bb + c))));
        };
        __m256i acc = _mm256_add_epi32(bias, _mm256_madd_epi16(pair(tp[0], tp[1]), w0));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pair(tp[2], tp[3]), w1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pair(tp[4], tp[5]), w2));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pair(tp[6], tp[7]), w3));
        const __m256i v8 = _mm256_cvtepu8_epi16(
            _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tp[8] + c)), zero));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v8, w4));
        const __m256i v = p.rq.rshift ? Q::requant_r(acc, m, s) : Q::requant(acc, m, s);
        Q::store_u8(orow + int64_t(x) * g.oc + c, v, zp, lo, hi, n);
      };
      auto border = [&](int x) {
        const int ix0 = x * g.sw - g.pad_l;
        const uint8_t* tp[9];
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ix0 + kx;
            tp[ky * 3 + kx] = ix >= 0 && ix < g.iw ? rp[ky] + size_t(ix) * g.ic : p.zrow;
          }
        pixel(x, tp);
      };
      for (int x = 0; x < x_lo; ++x) border(x);
      for (int x = x_lo; x < x_hi; ++x) {
        const size_t o = size_t(x * g.sw - g.pad_l) * g.ic;
        const uint8_t* tp[9] = {rp[0] + o, rp[0] + o + g.ic, rp[0] + o + 2 * g.ic,
                                rp[1] + o, rp[1] + o + g.ic, rp[1] + o + 2 * g.ic,
                                rp[2] + o, rp[2] + o + g.ic, rp[2] + o + 2 * g.ic};
        pixel(x, tp);
      }
      for (int x = x_hi; x < g.ow; ++x) border(x);
    }
  }
}

void dwconv_avx2(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1) {
  if (p.wpair && p.g.kh == 3 && p.g.kw == 3 && p.g.dh == 1 && p.g.dw == 1)
    dwconv3x3_pairs(p, in, out, r0, r1);
  else
    dwconv(p, in, out, r0, r1);
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

const QKernels kKernels = {"avx2",       2,    8,           false, pack_weights,
                           conv_scratch, conv, dwconv_avx2, add,   peak_probe};

}  // namespace

const QKernels* qkernels_avx2() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma ? &kKernels : nullptr;
}

}  // namespace scv::quant
