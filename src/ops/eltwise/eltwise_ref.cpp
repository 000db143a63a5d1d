// Reference elementwise ops: ReLU and broadcasting Add.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

void relu(const float* x, int64_t count, float* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

bool broadcast_shape(const Shape& a, const Shape& b, Shape* out) {
  const size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    s[i] = da == 1 ? db : da;
  }
  *out = s;
  return true;
}

void add_broadcast(const float* a, const Shape& a_shape, const float* b, const Shape& b_shape,
                   float* y, const Shape& out_shape) {
  const size_t r = out_shape.size();
  // Strides of a and b in the output's index space (0 where a dim is broadcast).
  std::vector<int64_t> sa(r, 0), sb(r, 0);
  int64_t acc_a = 1, acc_b = 1;
  for (size_t k = r; k-- > 0;) {
    const size_t ia = k + a_shape.size(), ib = k + b_shape.size();
    if (ia >= r) {
      const int64_t d = a_shape[ia - r];
      sa[k] = d == 1 ? 0 : acc_a;
      acc_a *= d;
    }
    if (ib >= r) {
      const int64_t d = b_shape[ib - r];
      sb[k] = d == 1 ? 0 : acc_b;
      acc_b *= d;
    }
  }
  const int64_t total = shape_numel(out_shape);
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t t = 0; t < total; ++t) {
    y[t] = a[oa] + b[ob];
    // Increment the multi-index like an odometer, updating both offsets.
    for (size_t k = r; k-- > 0;) {
      ++idx[k];
      oa += sa[k];
      ob += sb[k];
      if (idx[k] < out_shape[k]) break;
      oa -= sa[k] * idx[k];
      ob -= sb[k] * idx[k];
      idx[k] = 0;
    }
  }
}

}  // namespace scv::ref
