// Reference pools: max, average, global average.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

namespace {

// Calls y[plane, oy, ox] = cell(plane's input, oy, ox) for every output cell of a 2-D pool.
template <class Cell>
void for_each_pool_output(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p,
                          float* y, Cell cell) {
  const int64_t oh = conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = conv_out_dim(w, p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  for (int64_t plane = 0; plane < nc; ++plane) {
    const float* xp = x + plane * h * w;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) y[(plane * oh + oy) * ow + ox] = cell(xp, oy, ox);
  }
}

}  // namespace

void maxpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y) {
  for_each_pool_output(x, nc, h, w, p, y, [&](const float* xp, int64_t oy, int64_t ox) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < p.kh; ++i) {
      const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
      if (iy < 0 || iy >= h) continue;
      for (int64_t j = 0; j < p.kw; ++j) {
        const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
        if (ix >= 0 && ix < w) m = std::max(m, xp[iy * w + ix]);
      }
    }
    return m;
  });
}

void avgpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y) {
  for_each_pool_output(x, nc, h, w, p, y, [&](const float* xp, int64_t oy, int64_t ox) {
    double sum = 0.0;
    int64_t inside = 0, in_padded = 0;
    for (int64_t i = 0; i < p.kh; ++i) {
      const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
      for (int64_t j = 0; j < p.kw; ++j) {
        const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
        // Cells in the padded image (image + explicit pads) count when count_include_pad;
        // cells past the padding (possible with ceil_mode) never count.
        if (iy >= -p.pad_t && iy < h + p.pad_b && ix >= -p.pad_l && ix < w + p.pad_r) ++in_padded;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        sum += xp[iy * w + ix];
        ++inside;
      }
    }
    const int64_t div = p.count_include_pad ? in_padded : inside;
    return div > 0 ? static_cast<float>(sum / div) : 0.0f;
  });
}

void global_avgpool(const float* x, int64_t nc, int64_t hw, float* y) {
  for (int64_t i = 0; i < nc; ++i) {
    double s = 0.0;
    for (int64_t k = 0; k < hw; ++k) s += x[i * hw + k];
    y[i] = static_cast<float>(s / static_cast<double>(hw));
  }
}

}  // namespace scv::ref
