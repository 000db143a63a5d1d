// AVX2+FMA instantiation of kernels_impl.h: ymm vectors (8 floats), NCHW8c blocked layout,
// conv tile 6 pixels x 2 ymm (16 output channels) = 12 accumulators, GEMM tile 6 x 16.
#include <immintrin.h>

#include "ops/x86/kernels.h"

namespace {
alignas(32) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
struct V {
  using R = __m256;
  static constexpr int L = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(float f) { return _mm256_set1_ps(f); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static __m256i mask(int n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
  }
  static R load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_partial(float* p, R v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
};
}  // namespace

#define CONV_OCB 2
#define CONV_T 6
#define GEMM_MR 6
#include "ops/x86/kernels_impl.h"

namespace scv::x86 {
const Kernels* kernels_avx2() {
  static const Kernels k = kernel_table(Isa::avx2);
  return &k;
}
}  // namespace scv::x86
