// Quantized convolution steps shared by CONV_2D, DEPTHWISE_CONV_2D (src/ops/conv/conv_q.cpp) and
// FULLY_CONNECTED (src/ops/gemm/fc_q.cpp, a 1x1 convolution over rows of K values).
#pragma once

#include "ops/quant/qplan.h"

namespace scv::quant {

// Plans the step of a conv-like operator whose geometry g is already checked: input 0 the
// activation, input 1 the weights (conv [oc][kh][kw][ic], depthwise [1][kh][kw][oc], fully
// connected [oc][K]), optional input 2 the INT32 bias. Precomputes (w - zero point), the
// per-channel multipliers and, when `fast` and the planner has kernels, packs the weights for
// them; otherwise the step runs conv_ref / dwconv_ref.
Status plan_conv_step(QPlanner& p, const tflite::OpInfo& op, const ConvGeom& g, bool depthwise,
                      bool fast);

}  // namespace scv::quant
