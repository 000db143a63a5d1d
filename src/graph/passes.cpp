#include "graph/passes.h"

#include <cmath>

namespace scv {

std::vector<int> count_uses(const Graph& g) {
  std::vector<int> uses(g.values.size(), 0);
  for (const Node& n : g.nodes)
    for (int id : n.inputs)
      if (id >= 0) ++uses[id];
  for (int id : g.outputs) ++uses[id];
  return uses;
}

FusionPlan plan_fusions(const Graph& g, const std::vector<Shape>& shapes, bool fold_bn,
                        bool fuse_relu, bool fuse_add) {
  FusionPlan plan;
  plan.absorbed_by.assign(g.nodes.size(), -1);
  plan.node.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    plan.node[i].last = static_cast<int>(i);
    plan.node[i].out = g.nodes[i].outputs.empty() ? -1 : g.nodes[i].outputs[0];
  }
  const std::vector<int> uses = count_uses(g);
  // The single consumer node of a value, or -1.
  std::vector<int> consumer(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int id : g.nodes[i].inputs)
      if (id >= 0) consumer[id] = static_cast<int>(i);
  auto sole_consumer = [&](int v) {
    const int c = uses[v] == 1 ? consumer[v] : -1;
    return c >= 0 && plan.absorbed_by[c] < 0 ? c : -1;
  };
  auto is_const = [&](int v) { return v >= 0 && g.values[v].is_constant(); };

  for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
    const Node& conv = g.nodes[ci];
    if (conv.op != OpType::Conv || conv.outputs.size() != 1) continue;
    Fusion f;
    f.last = static_cast<int>(ci);
    f.out = conv.outputs[0];
    f.relu = conv.attrs.fused_relu;
    auto absorb = [&](int node) {
      plan.absorbed_by[node] = static_cast<int>(ci);
      f.last = node;
      f.out = g.nodes[node].outputs[0];
    };
    if (fold_bn && !f.relu) {
      const int c = sole_consumer(f.out);
      if (c >= 0 && g.nodes[c].op == OpType::BatchNorm && g.nodes[c].inputs[0] == f.out &&
          g.nodes[c].inputs.size() == 5 && is_const(g.nodes[c].inputs[1]) &&
          is_const(g.nodes[c].inputs[2]) && is_const(g.nodes[c].inputs[3]) &&
          is_const(g.nodes[c].inputs[4]) && !g.nodes[c].attrs.fused_relu) {
        f.bn = c;
        absorb(c);
      }
    }
    if (fuse_add && !f.relu) {
      const int c = sole_consumer(f.out);
      if (c >= 0 && g.nodes[c].op == OpType::Add && g.nodes[c].inputs.size() == 2) {
        const Node& add = g.nodes[c];
        const int other = add.inputs[0] == f.out ? add.inputs[1] : add.inputs[0];
        if (other != f.out && other >= 0 && !g.values[other].is_constant() &&
            shapes[other] == shapes[f.out]) {
          f.add = c;
          f.residual = other;
          f.relu = add.attrs.fused_relu;
          absorb(c);
        }
      }
    }
    if (fuse_relu && !f.relu) {
      const int c = sole_consumer(f.out);
      if (c >= 0 && g.nodes[c].op == OpType::Relu) {
        f.relu = true;
        absorb(c);
      }
    }
    plan.node[ci] = f;
  }
  return plan;
}

void fold_batchnorm(const float* gamma, const float* beta, const float* mean, const float* var,
                    float eps, int64_t cout, int64_t per_out, float* w, float* bias) {
  for (int64_t co = 0; co < cout; ++co) {
    const float a = gamma[co] / std::sqrt(var[co] + eps);
    for (int64_t i = 0; i < per_out; ++i) w[co * per_out + i] *= a;
    bias[co] = (bias[co] - mean[co]) * a + beta[co];
  }
}

}  // namespace scv
