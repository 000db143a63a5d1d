// Reference inference batch-norm.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

void batchnorm(const float* x, int64_t n, int64_t c, int64_t hw, const float* scale,
               const float* bias, const float* mean, const float* var, float eps, float* y) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      // Fold the four parameters into one multiply-add per element.
      const float a = scale[ch] / std::sqrt(var[ch] + eps);
      const float s = bias[ch] - mean[ch] * a;
      const float* xp = x + (b * c + ch) * hw;
      float* yp = y + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) yp[i] = xp[i] * a + s;
    }
  }
}

}  // namespace scv::ref
