// Weight packing for the x86 kernels and the ISA table lookup (plain x86-64 code).
#include <algorithm>
#include <cstring>

#include "ops/x86/kernels.h"

namespace scv::x86 {

const Kernels* kernels_for(Isa isa) {
  if (isa == Isa::ref || !isa_supported(isa)) return nullptr;
  return isa == Isa::avx512 ? kernels_avx512() : kernels_avx2();
}

int64_t packed_conv_blocked_size(int64_t cout, int64_t cin_pad, int64_t kh, int64_t kw, int vl,
                                 int ocb) {
  const int64_t cout_pad = (cout + vl - 1) / vl * vl;
  (void)ocb;  // groups are laid end to end; the total is the same for any group size
  return cout_pad * cin_pad * kh * kw;
}

void pack_conv_blocked(const float* w, const float* scale, int64_t cout, int64_t cin,
                       int64_t cin_pad, int64_t kh, int64_t kw, int vl, int ocb, float* out,
                       int64_t g0, int64_t g1) {
  const int64_t nblocks = (cout + vl - 1) / vl;
  const int64_t group_floats = static_cast<int64_t>(ocb) * vl * kh * kw * cin_pad;
  if (g1 < 0) g1 = conv_blocked_groups(cout, vl, ocb);
  for (int64_t g = g0; g < g1 && g * ocb < nblocks; ++g) {
    const int64_t width = std::min<int64_t>(ocb, nblocks - g * ocb) * vl;  // channels in group
    float* dst = out + g * group_floats;
    // Per input channel, the kh*kw taps of `width` output channels: the reads stay within
    // `width` cache lines, the writes are kh*kw sequential streams.
    for (int64_t ci = 0; ci < cin_pad; ++ci)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          float* d = dst + ((i * kw + j) * cin_pad + ci) * width;
          for (int64_t o = 0; o < width; ++o) {
            const int64_t co = g * ocb * vl + o;
            float v = 0.0f;
            if (co < cout && ci < cin) {
              v = w[((co * cin + ci) * kh + i) * kw + j];
              if (scale) v *= scale[co];
            }
            d[o] = v;
          }
        }
  }
}

int64_t conv_blocked_groups(int64_t cout, int vl, int ocb) {
  return ((cout + vl - 1) / vl + ocb - 1) / ocb;
}

int64_t packed_gemm_a_size(int64_t m, int64_t k, int mr) {
  return (m + mr - 1) / mr * mr * k;
}

void pack_gemm_a(const float* a, int64_t m, int64_t k, int mr, float* out) {
  const int64_t panels = (m + mr - 1) / mr;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t r = 0; r < mr; ++r) {
        const int64_t row = p * mr + r;
        out[(p * k + kk) * mr + r] = row < m ? a[row * k + kk] : 0.0f;
      }
}

void winograd_weights_at(const float* w, const float* scale, int64_t cout, int64_t cin, int m,
                         int xi, float* u) {
  // G of F(2,3) (points 0, +-1, inf) and F(4,3) (points 0, +-1, +-2, inf).
  static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  const int r = m + 2, i = xi / r, j = xi % r;
  const double* gi = m == 4 ? G4[i] : G2[i];
  const double* gj = m == 4 ? G4[j] : G2[j];
  double c[3][3];  // U[i][j] = sum_ab G[i][a] g[a][b] G[j][b]
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) c[a][b] = gi[a] * gj[b];
  for (int64_t co = 0; co < cout; ++co) {
    const double s = scale ? scale[co] : 1.0;
    for (int64_t ci = 0; ci < cin; ++ci) {
      const float* g = w + (co * cin + ci) * 9;
      double v = 0;
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) v += c[a][b] * g[a * 3 + b];
      u[co * cin + ci] = static_cast<float>(v * s);
    }
  }
}

}  // namespace scv::x86
