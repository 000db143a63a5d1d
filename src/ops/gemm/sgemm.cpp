// The general GEMM driver and the reference panel kernel (see sgemm.h).
#include "ops/gemm/sgemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "scratchcv/tensor.h"

namespace scv {

namespace {

constexpr int kRefMR = 6, kRefNR = 16;

// Per-thread packing buffers, grown on demand; nullptr when an allocation fails.
class GemmScratch {
 public:
  ~GemmScratch() {
    aligned_free(a_);
    aligned_free(b_);
  }
  float* a(size_t n) { return grow(&a_, &a_cap_, n); }
  float* b(size_t n) { return grow(&b_, &b_cap_, n); }

 private:
  static float* grow(float** p, size_t* cap, size_t n) {
    if (*cap >= n) return *p;
    aligned_free(*p);
    *p = static_cast<float*>(aligned_alloc64(sizeof(float) * n));
    *cap = *p ? n : 0;
    return *p;
  }
  float* a_ = nullptr;
  float* b_ = nullptr;
  size_t a_cap_ = 0, b_cap_ = 0;
};

// alpha * op(A)[i0:i0+mc, p0:p0+kc] -> panels of MR rows, [kc][MR] each, rows past mc zero.
// MR and NR are template arguments so that full panels copy with constant trip counts (the
// packing is ~15% of a lenet training step).
template <int MR>
void pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
            float alpha, float* out) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t h = std::min<int64_t>(MR, mc - ip);
    if (h == MR && ta) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = A + (p0 + p) * lda + i0 + ip;
        for (int i = 0; i < MR; ++i) out[p * MR + i] = alpha * src[i];
      }
    } else if (h == MR) {
      for (int i = 0; i < MR; ++i) {
        const float* src = A + (i0 + ip + i) * lda + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * MR + i] = alpha * src[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* o = out + p * MR;
        int64_t i = 0;
        for (; i < h; ++i)
          o[i] = alpha * (ta ? A[(p0 + p) * lda + i0 + ip + i] : A[(i0 + ip + i) * lda + p0 + p]);
        for (; i < MR; ++i) o[i] = 0.f;
      }
    }
    out += kc * MR;
  }
}

// op(B)[p0:p0+kc, j0:j0+nc] -> panels of NR columns, [kc][NR] each, columns past nc zero.
template <int NR>
void pack_b(bool tb, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
            float* out) {
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t w = std::min<int64_t>(NR, nc - jp);
    if (w == NR && !tb) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = B + (p0 + p) * ldb + j0 + jp;
        for (int j = 0; j < NR; ++j) out[p * NR + j] = src[j];
      }
    } else if (w == NR) {
      for (int j = 0; j < NR; ++j) {
        const float* src = B + (j0 + jp + j) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * NR + j] = src[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* o = out + p * NR;
        int64_t j = 0;
        for (; j < w; ++j)
          o[j] = tb ? B[(j0 + jp + j) * ldb + p0 + p] : B[(p0 + p) * ldb + j0 + jp + j];
        for (; j < NR; ++j) o[j] = 0.f;
      }
    }
    out += kc * NR;
  }
}

// The same arithmetic without packing buffers (when they cannot be allocated): per KC chunk,
// fused multiply-adds of alpha * a and b in k order, then one add into C.
void sgemm_unpacked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t p0 = 0; p0 < K; p0 += kGemmKC) {
    const int64_t p1 = std::min(K, p0 + kGemmKC);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        float acc = 0.f;
        for (int64_t p = p0; p < p1; ++p)
          acc = std::fma(alpha * (ta ? A[p * lda + i] : A[i * lda + p]),
                         tb ? B[j * ldb + p] : B[p * ldb + j], acc);
        C[i * ldc + j] += acc;
      }
  }
}

}  // namespace

void gemm_panel_ref(const x86::GemmDesc& d, int64_t panel, int64_t p0, int64_t p1) {
  const float* ap = d.a_packed + panel * d.k * kRefMR;
  const int64_t m0 = panel * kRefMR, mvalid = std::min<int64_t>(kRefMR, d.m - m0);
  for (int64_t j = p0; j < p1; ++j) {
    float acc[kRefMR] = {};
    for (int64_t p = 0; p < d.k; ++p) {
      const float b = d.b[p * d.ldb + j];
      for (int r = 0; r < kRefMR; ++r) acc[r] = std::fma(ap[p * kRefMR + r], b, acc[r]);
    }
    for (int64_t r = 0; r < mvalid; ++r) {
      float* y = d.y + (m0 + r) * d.ldy + j;
      float v = acc[r];
      if (d.accumulate) v = v + *y;
      if (d.bias) v = v + d.bias[m0 + r];
      if (d.residual) v = v + d.residual[(m0 + r) * d.ldy + j];
      if (d.relu) v = v > 0.f ? v : 0.f;
      *y = v;
    }
  }
}

const GemmKernel& gemm_kernel(Isa isa) {
  static const GemmKernel ref{Isa::ref, kRefMR, kRefNR, gemm_panel_ref};
  static const auto bind = [](Isa i) {
    const x86::Kernels* k = x86::kernels_for(i);
    return k ? GemmKernel{k->isa, k->gemm_mr, k->gemm_nr, k->gemm_panel} : ref;
  };
  static const GemmKernel avx2 = bind(Isa::avx2), avx512 = bind(Isa::avx512);
  return isa == Isa::avx512 ? avx512 : isa == Isa::avx2 ? avx2 : ref;
}

namespace {

// The blocked loops for one panel shape (MR x NR = the kernel's mr x nr).
template <int MR, int NR>
void sgemm_blocked(const GemmKernel& k, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                   int64_t ldc) {
  constexpr int64_t mc_max = kGemmMC / MR * MR;
  const int64_t nc_max = (std::min(N, kGemmNC) + NR - 1) / NR * NR;
  thread_local GemmScratch scratch;
  float* apack = scratch.a(size_t(mc_max) * kGemmKC);
  float* bpack = scratch.b(size_t(kGemmKC) * nc_max);
  if (!apack || !bpack) return sgemm_unpacked(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);
  // Loop order of BLIS: a kc x NR panel of B stays in L1 while the mc x kc block of A streams
  // from L2 past it.
  x86::GemmDesc d;
  d.accumulate = true;
  d.ldy = ldc;
  d.a_packed = apack;
  d.ldb = NR;
  for (int64_t j0 = 0; j0 < N; j0 += kGemmNC) {
    const int64_t nc = std::min(kGemmNC, N - j0);
    for (int64_t p0 = 0; p0 < K; p0 += kGemmKC) {
      const int64_t kc = std::min(kGemmKC, K - p0);
      pack_b<NR>(tb, B, ldb, p0, kc, j0, nc, bpack);
      d.k = kc;
      for (int64_t i0 = 0; i0 < M; i0 += mc_max) {
        d.m = std::min(mc_max, M - i0);
        pack_a<MR>(ta, A, lda, i0, d.m, p0, kc, alpha, apack);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t w = std::min<int64_t>(NR, nc - jr);
          d.b = bpack + jr * kc;
          d.p = w;
          d.y = C + i0 * ldc + j0 + jr;
          for (int64_t panel = 0; panel * MR < d.m; ++panel) k.panel(d, panel, 0, w);
        }
      }
    }
  }
}

}  // namespace

void sgemm(const GemmKernel& k, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (beta != 1.f)
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      if (beta == 0.f)
        std::memset(c, 0, sizeof(float) * N);
      else
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  if (K <= 0 || alpha == 0.f) return;
  if (k.mr == 6 && k.nr == 16)  // AVX2 and the reference
    return sgemm_blocked<6, 16>(k, ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);
  if (k.mr == 12 && k.nr == 32)  // AVX-512
    return sgemm_blocked<12, 32>(k, ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);
  sgemm_unpacked(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);  // a table this file predates
}

}  // namespace scv
