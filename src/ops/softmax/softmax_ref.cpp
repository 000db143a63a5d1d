// Reference softmax.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

void softmax(const float* x, int64_t outer, int64_t len, int64_t inner, float* y) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const float* xp = x + o * len * inner + in;
      float* yp = y + o * len * inner + in;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < len; ++i) mx = std::max(mx, xp[i * inner]);
      double sum = 0.0;
      for (int64_t i = 0; i < len; ++i) {
        const float e = std::exp(xp[i * inner] - mx);
        yp[i * inner] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < len; ++i) yp[i * inner] *= inv;
    }
  }
}

}  // namespace scv::ref
