// TFLite's fixed-point requantization (tensorflow/lite/kernels/internal/common.h), bit for bit.
//
// A real multiplier M in (0, 2^31) is stored as a Q31 mantissa q in [2^30, 2^31) and a power of
// two: M = q / 2^31 * 2^shift. Applying it to an int32 accumulator x:
//   left  = max(shift, 0), right = max(-shift, 0)
//   y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, q), right)
// SaturatingRoundingDoublingHighMul(a, b) = (a*b + nudge) / 2^31 with C's truncating division
// and nudge = 2^30 (a*b >= 0) or 1 - 2^30 (a*b < 0); it equals floor((a*b + 2^30) / 2^31) for
// every a*b, which the SIMD kernels use. RoundingDivideByPOT rounds halves away from zero.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace scv::quant {

inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min())
    return std::numeric_limits<int32_t>::max();
  const int64_t ab = int64_t(a) * int64_t(b);
  const int64_t nudge = ab >= 0 ? (int64_t(1) << 30) : (1 - (int64_t(1) << 30));
  return int32_t((ab + nudge) / (int64_t(1) << 31));
}

inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = int32_t((int64_t(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t q, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  // TFLite computes x * (1 << left) in int32; wrap as it does (without signed overflow).
  const int32_t xl = int32_t(uint32_t(x) << left);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(xl, q), right);
}

// The same multiplier with one rounding (TFLite built with TFLITE_SINGLE_ROUNDING):
//   y = (x * q + 2^(30 - shift)) >> (31 - shift)   in 64 bits, halves rounded up.
// Double rounding above can be off by one against the exact product in a quarter of the cases
// (it rounds x * q / 2^31 first, then the shift); single rounding is within half a step of the
// real product, as float runtimes (Arm NN's reference backend, XNNPACK) are.
inline int32_t multiply_by_quantized_multiplier_single(int32_t x, int32_t q, int shift) {
  const int total = 31 - shift;
  const int64_t r = (int64_t(x) * int64_t(q) + (int64_t(1) << (total - 1))) >> total;
  return int32_t(r);
}

// a + b clamped to int32. A requantized value can lie anywhere in int32 when a model's scales
// make the multiplier huge (only a broken or hostile file does); adding a zero point or a second
// operand there must saturate (the result is clamped to the uint8 range anyway), not overflow.
inline int32_t add_sat(int32_t a, int64_t b) {
  return int32_t(std::clamp<int64_t>(int64_t(a) + b, std::numeric_limits<int32_t>::min(),
                                     std::numeric_limits<int32_t>::max()));
}

// Requantization scheme: TFLite's default (double rounding) or TFLITE_SINGLE_ROUNDING.
inline int32_t requantize(int32_t x, int32_t q, int shift, bool single) {
  return single ? multiply_by_quantized_multiplier_single(x, q, shift)
                : multiply_by_quantized_multiplier(x, q, shift);
}

// TFLite's QuantizeMultiplier: m = q / 2^31 * 2^shift, q in [2^30, 2^31). m == 0 gives q = 0.
inline void quantize_multiplier(double m, int32_t* q, int* shift) {
  if (!(m > 0.0) || !std::isfinite(m)) {  // 0, and (not reached: scales are checked) NaN, inf
    *q = 0;
    *shift = 0;
    return;
  }
  const double frac = std::frexp(m, shift);
  int64_t q_fixed = int64_t(std::round(frac * double(int64_t(1) << 31)));
  if (q_fixed == (int64_t(1) << 31)) {
    q_fixed /= 2;
    ++*shift;
  }
  if (*shift < -31) {
    *shift = 0;
    q_fixed = 0;
  }
  if (*shift > 30) {  // TFLite clamps large multipliers the same way
    *shift = 30;
    q_fixed = (int64_t(1) << 31) - 1;
  }
  *q = int32_t(q_fixed);
}

// A float rounded to int32, saturating at +-2^30 and 0 for NaN (the conversion of an out-of-range
// float is undefined behaviour; a corrupt model's scales can produce one).
inline int32_t round_to_int_sat(float v) {
  const float r = std::round(v);
  if (!(r == r)) return 0;
  return int32_t(std::clamp(r, -1073741824.0f, 1073741824.0f));
}

}  // namespace scv::quant
