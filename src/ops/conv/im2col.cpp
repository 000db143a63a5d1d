// im2col / col2im (see im2col.h). Stride-1, undilated rows are one contiguous run of the input
// row between two zero runs (a memcpy / a vectorisable add); other rows go pixel by pixel.
#include "ops/conv/im2col.h"

#include <algorithm>
#include <cstring>

namespace scv {

namespace {

// For output row tap (i, j): output columns [lo, hi) read input columns ix0 + ox (stride 1).
struct RunBounds {
  int64_t ix0, lo, hi;
};
RunBounds unit_stride_run(int64_t w, int64_t ow, int64_t ix0) {
  const int64_t lo = std::clamp<int64_t>(-ix0, 0, ow);
  return {ix0, lo, std::clamp<int64_t>(w - ix0, lo, ow)};
}

}  // namespace

void im2col(const float* x, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* col) {
  const bool unit = p.sw == 1;
  for (int64_t ci = c0; ci < c1; ++ci)
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j) {
        float* dst = col + ((ci * p.kh + i) * p.kw + j) * oh * ow;
        const int64_t ix0 = j * p.dw - p.pad_l;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          float* o = dst + oy * ow;
          if (iy < 0 || iy >= h) {
            std::memset(o, 0, sizeof(float) * ow);
            continue;
          }
          const float* row = x + (ci * h + iy) * w;
          if (unit) {
            const RunBounds r = unit_stride_run(w, ow, ix0);
            std::fill(o, o + r.lo, 0.f);
            std::memcpy(o + r.lo, row + ix0 + r.lo, sizeof(float) * (r.hi - r.lo));
            std::fill(o + r.hi, o + ow, 0.f);
            continue;
          }
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t ix = ox * p.sw + ix0;
            o[ox] = ix >= 0 && ix < w ? row[ix] : 0.f;
          }
        }
      }
}

void col2im(const float* col, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* dx) {
  std::memset(dx + c0 * h * w, 0, sizeof(float) * (c1 - c0) * h * w);
  const bool unit = p.sw == 1;
  for (int64_t ci = c0; ci < c1; ++ci)
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j) {
        const float* src = col + ((ci * p.kh + i) * p.kw + j) * oh * ow;
        const int64_t ix0 = j * p.dw - p.pad_l;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          if (iy < 0 || iy >= h) continue;
          float* row = dx + (ci * h + iy) * w;
          const float* s = src + oy * ow;
          if (unit) {
            const RunBounds r = unit_stride_run(w, ow, ix0);
            for (int64_t ox = r.lo; ox < r.hi; ++ox) row[ox + ix0] += s[ox];
            continue;
          }
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t ix = ox * p.sw + ix0;
            if (ix >= 0 && ix < w) row[ix] += s[ox];
          }
        }
      }
}

}  // namespace scv
