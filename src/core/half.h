// IEEE 754 half precision (binary16) to float, for the model readers (.pth HalfStorage, ONNX
// FLOAT16 tensors).
#pragma once

#include <cstdint>
#include <cstring>

namespace scv {

// Exact for every input: normals, subnormals, +-0, infinities and NaN (payload kept).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);  // normal: rebias the exponent (127 - 15)
  } else if (man == 0) {
    bits = sign;  // +-0
  } else {        // subnormal: value = man * 2^-24; normalise the mantissa for the float encoding
    exp = 113;
    while ((man & 0x400) == 0) {
      man <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace scv
