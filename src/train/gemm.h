// Single-precision GEMM for training (internal): C = alpha * op(A) * op(B) + beta * C.
//
// op(A) is [M, K], op(B) is [K, N], all row-major with leading dimensions lda/ldb/ldc.
// Blocked in the BLIS style: B is packed into kc x NR panels, A into MR x kc panels (packing also
// applies the transposes and alpha), and a register-tiled microkernel (MR x NR = 6 x 16) adds
// each tile into C. Edge tiles go through a small buffer. Single-threaded: callers split work
// over the thread pool. The result for one element depends only on K and the kc blocking, never
// on how callers split M or N, so splitting over threads keeps results bit-identical.
#pragma once

#include "scratchcv/cpu.h"

namespace scv::train {

constexpr int kGemmMR = 6, kGemmNR = 16;

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);
// Same contract, plain triple loop (the oracle in tests).
void sgemm_naive(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Microkernel: C[6 x 16] (leading dim ldc) += Ap (kc x 6, packed) * Bp (kc x 16, packed).
using GemmUkr = void (*)(int kc, const float* Ap, const float* Bp, float* C, int ldc);
void gemm_ukr_6x16_ref(int kc, const float* Ap, const float* Bp, float* C, int ldc);
void gemm_ukr_6x16_avx2(int kc, const float* Ap, const float* Bp, float* C, int ldc);

}  // namespace scv::train
