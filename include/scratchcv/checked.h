// Overflow-checked integer arithmetic for readers: every size a file header claims goes through
// these before it is compared with the bytes that can back it, or used to allocate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace scv {

// *out = a * b. False (and *out unspecified) when either is negative or the product overflows
// int64 or exceeds `limit`.
inline bool checked_mul(int64_t a, int64_t b, int64_t* out, int64_t limit = INT64_MAX) {
  if (a < 0 || b < 0) return false;
  int64_t p = 0;
  if (__builtin_mul_overflow(a, b, &p) || p > limit) return false;
  *out = p;
  return true;
}

// *out = product of dims[0..n). False on a negative dim, overflow or a product above `limit`.
// A zero dim makes the product 0 whatever the other dims (they must still be >= 0).
inline bool checked_product(const int64_t* dims, size_t n, int64_t* out,
                            int64_t limit = INT64_MAX) {
  int64_t p = 1;
  bool zero = false;
  for (size_t i = 0; i < n; ++i) {
    if (dims[i] < 0) return false;
    if (dims[i] == 0) zero = true;
    if (!zero && !checked_mul(p, dims[i], &p, limit)) return false;
  }
  *out = zero ? 0 : p;
  return true;
}

}  // namespace scv
