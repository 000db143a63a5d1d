// im2col / col2im (see im2col.h).
#include "train/im2col.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace scv::train {

void im2col(const float* x, int C, int H, int W, int k, int s, int pad, int Ho, int Wo,
            float* col) {
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        float* out = col + size_t((c * k + ky) * k + kx) * Ho * Wo;
        for (int oy = 0; oy < Ho; ++oy) {
          const int iy = oy * s - pad + ky;
          float* o = out + oy * Wo;
          if (iy < 0 || iy >= H) {
            std::memset(o, 0, sizeof(float) * Wo);
            continue;
          }
          const float* row = x + (size_t(c) * H + iy) * W;
          if (s == 1) {
            const int ix0 = kx - pad;
            const int lo = std::clamp(-ix0, 0, Wo), hi = std::clamp(W - ix0, lo, Wo);
            for (int ox = 0; ox < lo; ++ox) o[ox] = 0.f;
            std::memcpy(o + lo, row + ix0 + lo, sizeof(float) * (hi - lo));
            for (int ox = hi; ox < Wo; ++ox) o[ox] = 0.f;
          } else {
            for (int ox = 0; ox < Wo; ++ox) {
              const int ix = ox * s - pad + kx;
              o[ox] = (ix >= 0 && ix < W) ? row[ix] : 0.f;
            }
          }
        }
      }
}

void col2im(const float* col, int C, int H, int W, int k, int s, int pad, int Ho, int Wo,
            float* dx) {
  std::memset(dx, 0, sizeof(float) * size_t(C) * H * W);
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const float* in = col + size_t((c * k + ky) * k + kx) * Ho * Wo;
        for (int oy = 0; oy < Ho; ++oy) {
          const int iy = oy * s - pad + ky;
          if (iy < 0 || iy >= H) continue;
          float* row = dx + (size_t(c) * H + iy) * W;
          const float* i = in + oy * Wo;
          if (s == 1) {  // contiguous run of valid columns: a vectorisable add
            const int ix0 = kx - pad;
            const int lo = std::clamp(-ix0, 0, Wo), hi = std::clamp(W - ix0, lo, Wo);
            for (int ox = lo; ox < hi; ++ox) row[ox + ix0] += i[ox];
            continue;
          }
          for (int ox = 0; ox < Wo; ++ox) {
            const int ix = ox * s - pad + kx;
            if (ix >= 0 && ix < W) row[ix] += i[ox];
          }
        }
      }
}

}  // namespace scv::train
