// The general single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, on the inference
// GEMM kernel of one ISA (x86::Kernels::gemm_panel, the tile that runs NCHW convs). Training's
// layers (forward and backward) and the graph backward pass (src/explain) call it.
//
// op(A) is [M, K], op(B) is [K, N], C is [M, N]; all row-major with leading dimensions
// lda / ldb / ldc; op(X) is X or its transpose. Blocked in the BLIS style: K in chunks of
// kGemmKC, N in blocks of kGemmNC columns, M in blocks of kGemmMC rows. alpha * op(A) is packed
// into panels of MR rows ([kc][MR]), op(B) into panels of NR columns ([kc][NR]), both
// zero-padded (packing applies the transposes); the panel kernel adds each chunk's products
// into C, one MR x NR tile per call. Single-threaded: callers split M or N over their pool.
//
// Results: one element of C depends only on K and the KC chunking (per chunk: one fused
// multiply-add per k, in order, then one add into C). So results do not depend on how callers
// split M or N, nor on the ISA: the reference, AVX2 and AVX-512 kernels agree bit for bit.
// Scratch is per thread, allocated on first use and grown as needed; if it cannot be allocated,
// the same arithmetic runs unpacked (slower, same bits).
#pragma once

#include <cstdint>

#include "ops/x86/kernels.h"
#include "scratchcv/cpu.h"

namespace scv {

constexpr int64_t kGemmKC = 256, kGemmMC = 96, kGemmNC = 2048;

// The GEMM kernel of one ISA, bound once (gemm_kernel()).
struct GemmKernel {
  Isa isa = Isa::ref;
  int mr = 6;   // rows of a packed A panel
  int nr = 16;  // columns of one register tile: callers splitting N use multiples of it
  void (*panel)(const x86::GemmDesc& d, int64_t panel, int64_t p0, int64_t p1) = nullptr;
};

// The kernel for `isa`: the x86 table's (AVX2: 6 x 16 tile; AVX-512: 12 x 32), or the scalar
// reference for Isa::ref and for an ISA this CPU lacks.
const GemmKernel& gemm_kernel(Isa isa);

// The reference panel kernel: the x86::Kernels::gemm_panel contract in plain C++ (A panels of
// 6 rows), with the same order of operations as the SIMD kernels.
void gemm_panel_ref(const x86::GemmDesc& d, int64_t panel, int64_t p0, int64_t p1);

void sgemm(const GemmKernel& k, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
           float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
           float* C, int64_t ldc);

}  // namespace scv
