// AVX2 + FMA microkernel for the training GEMM: 6 rows x 16 columns (two ymm per row, 12
// accumulators), k-loop over packed panels (A: 6 floats per k, B: 16 floats per k). No tails:
// the caller routes partial tiles through a full-size buffer.
#include <immintrin.h>

#include "train/gemm.h"

namespace scv::train {

void gemm_ukr_6x16_avx2(int kc, const float* Ap, const float* Bp, float* C, int ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    __m256 a = _mm256_broadcast_ss(Ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(Ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(Ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(Ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(Ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(Ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    Ap += kGemmMR;
    Bp += kGemmNR;
  }
  auto add = [&](float* c, __m256 v0, __m256 v1) {
    _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), v0));
    _mm256_storeu_ps(c + 8, _mm256_add_ps(_mm256_loadu_ps(c + 8), v1));
  };
  add(C + 0 * ldc, c00, c01);
  add(C + 1 * ldc, c10, c11);
  add(C + 2 * ldc, c20, c21);
  add(C + 3 * ldc, c30, c31);
  add(C + 4 * ldc, c40, c41);
  add(C + 5 * ldc, c50, c51);
}

}  // namespace scv::train
