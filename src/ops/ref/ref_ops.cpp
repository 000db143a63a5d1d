// Reference kernels. Read these to learn what each operator computes; see ops_ref.h for shapes.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "scratchcv/ops_ref.h"

namespace scv::ref {

int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode) {
  const int64_t span = dilation * (k - 1) + 1;  // extent of one (dilated) window
  const int64_t room = in + pad_begin + pad_end - span;
  if (room < 0) return 0;
  int64_t out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
  // In ceil mode the last window must start inside the image or the leading padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

void conv2d(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const float* weight,
            int64_t cout, const float* bias, const Conv2dParams& p, float* y) {
  const int64_t oh = conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh);
  const int64_t ow = conv_out_dim(w, p.kw, p.sw, p.pad_l, p.pad_r, p.dw);
  const int64_t cin_g = c / p.groups;      // input channels per group
  const int64_t cout_g = cout / p.groups;  // output channels per group
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t g = co / cout_g;
      float* yp = y + (b * cout + co) * oh * ow;
      // Start from the bias, then accumulate one (input channel, kernel tap) plane at a time:
      // the innermost loop runs along an output row, which keeps memory access sequential.
      std::fill(yp, yp + oh * ow, bias ? bias[co] : 0.0f);
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        const float* xp = x + (b * c + g * cin_g + ci) * h * w;
        const float* wp = weight + ((co * cin_g + ci) * p.kh) * p.kw;
        for (int64_t i = 0; i < p.kh; ++i) {
          for (int64_t j = 0; j < p.kw; ++j) {
            const float wv = wp[i * p.kw + j];
            for (int64_t oy = 0; oy < oh; ++oy) {
              const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
              if (iy < 0 || iy >= h) continue;  // zero padding contributes nothing
              const float* xrow = xp + iy * w;
              float* yrow = yp + oy * ow;
              for (int64_t ox = 0; ox < ow; ++ox) {
                const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
                if (ix >= 0 && ix < w) yrow[ox] += wv * xrow[ix];
              }
            }
          }
        }
      }
    }
  }
}

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

void relu(const float* x, int64_t count, float* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void maxpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y) {
  const int64_t oh = conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = conv_out_dim(w, p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  for (int64_t plane = 0; plane < nc; ++plane) {
    const float* xp = x + plane * h * w;
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          if (iy < 0 || iy >= h) continue;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            if (ix >= 0 && ix < w) m = std::max(m, xp[iy * w + ix]);
          }
        }
        y[(plane * oh + oy) * ow + ox] = m;
      }
    }
  }
}

void avgpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y) {
  const int64_t oh = conv_out_dim(h, p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
  const int64_t ow = conv_out_dim(w, p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
  for (int64_t plane = 0; plane < nc; ++plane) {
    const float* xp = x + plane * h * w;
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double sum = 0.0;
        int64_t inside = 0, in_padded = 0;
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            // Cells in the padded image (image + explicit pads) count when count_include_pad;
            // cells past the padding (possible with ceil_mode) never count.
            if (iy >= -p.pad_t && iy < h + p.pad_b && ix >= -p.pad_l && ix < w + p.pad_r)
              ++in_padded;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            sum += xp[iy * w + ix];
            ++inside;
          }
        }
        const int64_t div = p.count_include_pad ? in_padded : inside;
        y[(plane * oh + oy) * ow + ox] = div > 0 ? static_cast<float>(sum / div) : 0.0f;
      }
    }
  }
}

void global_avgpool(const float* x, int64_t nc, int64_t hw, float* y) {
  for (int64_t i = 0; i < nc; ++i) {
    double s = 0.0;
    for (int64_t k = 0; k < hw; ++k) s += x[i * hw + k];
    y[i] = static_cast<float>(s / static_cast<double>(hw));
  }
}

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
