// Reference GEMM (Gemm and MatMul).
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

void gemm(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, int64_t m,
          int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = trans_a ? a[p * m + i] : a[i * k + p];
        const float bv = trans_b ? b[j * k + p] : b[p * n + j];
        acc += static_cast<double>(av) * bv;
      }
      float out = alpha * static_cast<float>(acc);
      if (c && beta != 0.0f) {
        const int64_t ci = c_rows == 1 ? 0 : i, cj = c_cols == 1 ? 0 : j;
        out += beta * c[ci * c_cols + cj];
      }
      y[i * n + j] = out;
    }
  }
}

}  // namespace scv::ref
