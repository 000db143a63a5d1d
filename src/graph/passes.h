// Graph analysis passes used by Session: which nodes a Conv absorbs.
//
// Every node has a Fusion entry (nothing absorbed: it runs where it stands). For every Conv the
// plan names the BatchNorm folded into it, the residual Add fused into its
// epilogue (the other operand is read while the Conv writes) and the ReLU applied last. Absorbed
// nodes are not executed; the Conv runs at the position of the last node it absorbed (its
// output has exactly one consumer, so moving it later keeps the order valid).
#pragma once

#include <vector>

#include "scratchcv/graph.h"

namespace scv {

struct Fusion {
  int bn = -1;        // BatchNorm node folded into the weights and bias
  int add = -1;       // Add node fused into the epilogue
  int residual = -1;  // the Add's other operand (value id)
  bool relu = false;  // a ReLU (node or fused_relu attribute) is applied last
  int last = -1;      // index of the last absorbed node (where the fused conv executes)
  int out = -1;       // value id the fused conv writes
};

struct FusionPlan {
  std::vector<int> absorbed_by;  // per node: -1, or the index of the Conv that absorbed it
  std::vector<Fusion> node;      // per node: what it absorbed, where it runs, what it writes
};

// Number of uses of each value: node inputs plus graph outputs.
std::vector<int> count_uses(const Graph& g);

// shapes: the inferred shape of every value (Add fusion requires equal operand shapes).
FusionPlan plan_fusions(const Graph& g, const std::vector<Shape>& shapes, bool fold_bn,
                        bool fuse_relu, bool fuse_add);

// Folds BatchNorm parameters into conv weight/bias: w'[co] = w[co] * a, b' = (b - mean) * a + beta
// with a = gamma / sqrt(var + eps). w: [cout][per_out] (modified in place), bias: [cout] (in/out).
void fold_batchnorm(const float* gamma, const float* beta, const float* mean, const float* var,
                    float eps, int64_t cout, int64_t per_out, float* w, float* bias);

}  // namespace scv
