// The fast plan of Conv (with the BatchNorm, residual Add and ReLU fused into it).
#pragma once

#include "runtime/plan.h"
#include "scratchcv/ops_ref.h"

namespace scv {

// Emits the steps of conv node `index` and of the nodes fused into it.
Status plan_conv(Planner& p, int index);

}  // namespace scv
