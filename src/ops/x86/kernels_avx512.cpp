// AVX-512 instantiation of kernels_impl.h: zmm vectors (16 floats), NCHW16c blocked layout,
// conv tile 6 pixels x 4 zmm (64 output channels) = 24 accumulators, GEMM tile 12 x 32.
#include <immintrin.h>

#include "ops/x86/kernels.h"

namespace {
struct V {
  using R = __m512;
  static constexpr int L = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static R set1(float f) { return _mm512_set1_ps(f); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  // maskz form: GCC 12 warns about the undefined pass-through of _mm512_max_ps.
  static R max(R a, R b) { return _mm512_maskz_max_ps(0xFFFF, a, b); }
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static R load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_partial(float* p, R v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
};
}  // namespace

#define CONV_OCB 4
#define CONV_T 6
#define GEMM_MR 12
#include "ops/x86/kernels_impl.h"

namespace scv::x86 {
const Kernels* kernels_avx512() {
  static const Kernels k = kernel_table(Isa::avx512);
  return &k;
}
}  // namespace scv::x86
