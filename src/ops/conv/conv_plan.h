// The fast plan of Conv (with the BatchNorm, residual Add and ReLU fused into it).
#pragma once

#include "runtime/plan.h"
#include "scratchcv/ops_ref.h"

namespace scv {

// Emits the steps of conv node `index` and of the nodes fused into it.
Status plan_conv(Planner& p, int index);

// im2col of channels [c0, c1) of one image x [C, H, W]: col[(ci*kh + i)*kw + j][oy*ow + ox] =
// x[ci][oy*sh - pad_t + i*dh][ox*sw - pad_l + j*dw] (0 outside). Shared with training.
void im2col(const float* x, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* col);

}  // namespace scv
