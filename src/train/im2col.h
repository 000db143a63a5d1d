// im2col / col2im for square kernels with one stride and symmetric zero padding: the lowering
// that turns a convolution into a GEMM (forward) and its adjoint (the input gradient). Shared by
// training's Conv2d layer and the graph backward pass (src/explain), so the maths is written once.
#pragma once

namespace scv::train {

// x [C, H, W] -> col [C*k*k, Ho*Wo], row (c, ky, kx), zero outside the image.
void im2col(const float* x, int C, int H, int W, int k, int s, int pad, int Ho, int Wo, float* col);
// The adjoint of im2col: dx [C, H, W] = sum of the col entries that read each pixel (dx is
// overwritten).
void col2im(const float* col, int C, int H, int W, int k, int s, int pad, int Ho, int Wo,
            float* dx);

}  // namespace scv::train
