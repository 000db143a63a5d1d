// Reference kernels: plain scalar loops, NCHW float32, no SIMD, no threads.
//
// These are the definitions of what each operator computes; the fast kernels in src/ops/x86 keep
// exactly this contract and are tested against these functions. Callers validate shapes
// (Status-returning code lives in the executor); here shape mismatches are asserts.
#pragma once

#include <cstdint>

#include "scratchcv/tensor.h"

namespace scv::ref {

struct Conv2dParams {
  int64_t kh = 1, kw = 1;        // kernel
  int64_t sh = 1, sw = 1;        // stride
  int64_t pad_t = 0, pad_l = 0;  // zero padding before
  int64_t pad_b = 0, pad_r = 0;  // zero padding after
  int64_t dh = 1, dw = 1;        // dilation
  int64_t groups = 1;
};

// Output size of one spatial dim: floor((in + pads - dil*(k-1) - 1) / stride) + 1
// (ceil instead of floor when ceil_mode; ceil_mode never starts a window inside the end padding).
int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode = false);

// y[n, co, oh, ow] = bias[co] + sum_{ci in group(co), i, j}
//     w[co, ci - g*Cin/groups, i, j] * x[n, ci, oh*sh - pad_t + i*dh, ow*sw - pad_l + j*dw]
// x: [N, C, H, W]; w: [Cout, C/groups, kh, kw]; bias: [Cout] or nullptr; y: [N, Cout, OH, OW].
void conv2d(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const float* weight,
            int64_t cout, const float* bias, const Conv2dParams& p, float* y);

// Inference batch-norm: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c].
// x, y: [N, C, HW] (y may alias x).
void batchnorm(const float* x, int64_t n, int64_t c, int64_t hw, const float* scale,
               const float* bias, const float* mean, const float* var, float eps, float* y);

// y = max(x, 0); y may alias x.
void relu(const float* x, int64_t count, float* y);

struct Pool2dParams {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int64_t dh = 1, dw = 1;
  bool ceil_mode = false;
  bool count_include_pad = false;  // average pool: divide by the full window incl. padding
};

// Max over each window, padding ignored. x: [N*C, H, W] -> y: [N*C, OH, OW].
void maxpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y);
// Mean over each window. Divisor: the in-image cells, or (count_include_pad) the window cells
// clipped to the padded image.
void avgpool2d(const float* x, int64_t nc, int64_t h, int64_t w, const Pool2dParams& p, float* y);
// y[nc] = mean over hw of x[nc, hw].
void global_avgpool(const float* x, int64_t nc, int64_t hw, float* y);

// Y[M, N] = alpha * op(A) * op(B) + beta * C, op = transpose when trans_*.
// A: [M, K] ([K, M] if trans_a); B: [K, N] ([N, K] if trans_b);
// C: nullptr or broadcastable to [M, N] with shape [c_rows, c_cols] (1 means broadcast).
void gemm(const float* a, const float* b, const float* c, int64_t c_rows, int64_t c_cols, int64_t m,
          int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta, float* y);

// Elementwise y = a + b with NumPy broadcasting. Shapes are right-aligned; out_shape is the
// broadcast shape.
void add_broadcast(const float* a, const Shape& a_shape, const float* b, const Shape& b_shape,
                   float* y, const Shape& out_shape);
// Broadcast shape of a and b; false if they are incompatible.
bool broadcast_shape(const Shape& a, const Shape& b, Shape* out);

// Softmax over the middle dim of x viewed as [outer, len, inner], numerically stable
// (subtract the max). y may alias x.
void softmax(const float* x, int64_t outer, int64_t len, int64_t inner, float* y);

}  // namespace scv::ref
