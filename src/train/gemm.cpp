#include "train/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "scratchcv/tensor.h"

namespace scv::train {

// Blocking: kc x NR panels of B stay in L1 while a MC x kc block of A streams from L2.
constexpr int kKC = 256, kMC = 96, kNC = 2048;
static_assert(kMC % kGemmMR == 0 && kNC % kGemmNR == 0, "block sizes must be tile multiples");

void gemm_ukr_6x16_ref(int kc, const float* Ap, const float* Bp, float* C, int ldc) {
  // Same order of operations as the AVX2 kernel (fused multiply-add per k, then one add into C)
  // so the two agree bit for bit.
  float acc[kGemmMR][kGemmNR] = {};
  for (int p = 0; p < kc; ++p)
    for (int i = 0; i < kGemmMR; ++i)
      for (int j = 0; j < kGemmNR; ++j)
        acc[i][j] = std::fma(Ap[p * kGemmMR + i], Bp[p * kGemmNR + j], acc[i][j]);
  for (int i = 0; i < kGemmMR; ++i)
    for (int j = 0; j < kGemmNR; ++j) C[i * ldc + j] += acc[i][j];
}

void sgemm_naive(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int p = 0; p < K; ++p)
        s += double(ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
      float& c = C[i * ldc + j];
      c = float(alpha * s + (beta == 0.f ? 0.0 : double(beta) * c));
    }
}

namespace {

struct Workspace {
  float* a = nullptr;
  float* b = nullptr;
  Workspace() {
    a = static_cast<float*>(aligned_alloc64(sizeof(float) * kMC * kKC));
    b = static_cast<float*>(aligned_alloc64(sizeof(float) * kKC * kNC));
    if (!a || !b) throw std::bad_alloc();
  }
  ~Workspace() {
    aligned_free(a);
    aligned_free(b);
  }
};

// Packs op(B)[p0:p0+kc, j0:j0+nc] into NR-wide panels, zero-padding the last one.
void pack_b(bool tb, const float* B, int ldb, int p0, int kc, int j0, int nc, float* out) {
  for (int jp = 0; jp < nc; jp += kGemmNR) {
    const int w = std::min(kGemmNR, nc - jp);
    for (int p = 0; p < kc; ++p) {
      float* o = out + p * kGemmNR;
      if (!tb) {
        const float* src = B + size_t(p0 + p) * ldb + j0 + jp;
        int j = 0;
        for (; j < w; ++j) o[j] = src[j];
        for (; j < kGemmNR; ++j) o[j] = 0.f;
      } else {
        const float* src = B + size_t(j0 + jp) * ldb + p0 + p;
        int j = 0;
        for (; j < w; ++j) o[j] = src[size_t(j) * ldb];
        for (; j < kGemmNR; ++j) o[j] = 0.f;
      }
    }
    out += size_t(kc) * kGemmNR;
  }
}

// Packs alpha * op(A)[i0:i0+mc, p0:p0+kc] into MR-tall panels, zero-padding the last one.
void pack_a(bool ta, const float* A, int lda, int i0, int mc, int p0, int kc, float alpha,
            float* out) {
  for (int ip = 0; ip < mc; ip += kGemmMR) {
    const int h = std::min(kGemmMR, mc - ip);
    for (int p = 0; p < kc; ++p) {
      float* o = out + p * kGemmMR;
      int i = 0;
      if (!ta) {
        const float* src = A + size_t(i0 + ip) * lda + p0 + p;
        for (; i < h; ++i) o[i] = alpha * src[size_t(i) * lda];
      } else {
        const float* src = A + size_t(p0 + p) * lda + i0 + ip;
        for (; i < h; ++i) o[i] = alpha * src[i];
      }
      for (; i < kGemmMR; ++i) o[i] = 0.f;
    }
    out += size_t(kc) * kGemmMR;
  }
}

}  // namespace

void sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (beta != 1.f)
    for (int i = 0; i < M; ++i) {
      float* c = C + size_t(i) * ldc;
      if (beta == 0.f)
        std::memset(c, 0, sizeof(float) * N);
      else
        for (int j = 0; j < N; ++j) c[j] *= beta;
    }
  if (K <= 0 || alpha == 0.f) return;
  const GemmUkr ukr = active_isa() == Isa::ref ? gemm_ukr_6x16_ref : gemm_ukr_6x16_avx2;
  thread_local Workspace ws;
  alignas(64) float edge[kGemmMR * kGemmNR];
  for (int j0 = 0; j0 < N; j0 += kNC) {
    const int nc = std::min(kNC, N - j0);
    for (int p0 = 0; p0 < K; p0 += kKC) {
      const int kc = std::min(kKC, K - p0);
      pack_b(tb, B, ldb, p0, kc, j0, nc, ws.b);
      for (int i0 = 0; i0 < M; i0 += kMC) {
        const int mc = std::min(kMC, M - i0);
        pack_a(ta, A, lda, i0, mc, p0, kc, alpha, ws.a);
        for (int jr = 0; jr < nc; jr += kGemmNR) {
          const int w = std::min(kGemmNR, nc - jr);
          const float* bp = ws.b + size_t(jr / kGemmNR) * kc * kGemmNR;
          for (int ir = 0; ir < mc; ir += kGemmMR) {
            const int h = std::min(kGemmMR, mc - ir);
            const float* ap = ws.a + size_t(ir / kGemmMR) * kc * kGemmMR;
            float* c = C + size_t(i0 + ir) * ldc + j0 + jr;
            if (h == kGemmMR && w == kGemmNR) {
              ukr(kc, ap, bp, c, ldc);
            } else {
              std::memset(edge, 0, sizeof(edge));
              ukr(kc, ap, bp, edge, kGemmNR);
              for (int i = 0; i < h; ++i)
                for (int j = 0; j < w; ++j) c[size_t(i) * ldc + j] += edge[i * kGemmNR + j];
            }
          }
        }
      }
    }
  }
}

}  // namespace scv::train
