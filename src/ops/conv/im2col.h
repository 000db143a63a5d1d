// im2col and its adjoint col2im: the lowering that turns a convolution into a GEMM (inference's
// NCHW conv step, training's Conv2d layer, the graph backward pass in src/explain) and the
// scatter that turns the GEMM's column gradient back into an input gradient. Written once here.
#pragma once

#include <cstdint>

#include "scratchcv/ops_ref.h"

namespace scv {

// Channels [c0, c1) of one image x [C, H, W] (h x w) into col, whose row (ci*kh + i)*kw + j
// holds x[ci][oy*sh - pad_t + i*dh][ox*sw - pad_l + j*dw] at column oy*ow + ox (0 outside the
// image). col and x are indexed from channel 0: rows of other channels are not touched.
// p.groups is ignored (the rows of group g are those of its channels).
void im2col(const float* x, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* col);

// The adjoint of im2col over channels [c0, c1): dx[ci] = the sum of the col entries that read
// each pixel of channel ci (those channels of dx are overwritten; taps in the padding are
// dropped).
void col2im(const float* col, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* dx);

}  // namespace scv
