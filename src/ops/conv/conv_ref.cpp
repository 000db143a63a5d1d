// Reference convolution: the definition the fast conv kernels are tested against.
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

}  // namespace scv::ref
