// The quantizer's graph folding (step 1 of `scratchcv quantize`, see quantize.cpp).
#include <cstring>

#include "graph/passes.h"
#include "int8/quantize_internal.h"

namespace scv::quantize_detail {

namespace {

// Folds the graph's nodes one by one into quantizable ops: the state the per-op steps share.
struct Folder {
  const Graph& g;
  QuantizeReport* rep;
  std::vector<int> uses;
  Folded f;
  std::vector<int> act_of;  // graph value -> activation

  Folder(const Graph& graph, QuantizeReport* r)
      : g(graph), rep(r), uses(count_uses(graph)), act_of(graph.values.size(), -1) {}

  int new_act(int value, int producer) {
    Act a;
    a.name = g.values[size_t(value)].name;
    a.producer = producer;
    f.acts.push_back(a);
    act_of[size_t(value)] = int(f.acts.size()) - 1;
    return int(f.acts.size()) - 1;
  }
  Result<int> act_in(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i] < 0)
      return error("node '", n.name, "': input ", i, " is missing");
    const int a = act_of[size_t(n.inputs[i])];
    if (a < 0)
      return error("quantize: node '", n.name, "' (", op_name(n.op), "): input ", i,
                   " is not an activation (a constant where the quantizer expects data)");
    return a;
  }
  const Tensor* constant(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
    const Value& v = g.values[size_t(n.inputs[i])];
    return v.is_constant() ? &v.constant : nullptr;
  }
  // The folded node that writes activation a, when only one graph node reads it.
  QNode* sole_producer(const Node& n) {
    const int v = n.inputs.empty() ? -1 : n.inputs[0];
    if (v < 0 || uses[size_t(v)] != 1) return nullptr;
    const int a = act_of[size_t(v)];
    if (a < 0 || f.acts[size_t(a)].producer < 0) return nullptr;
    QNode& p = f.nodes[size_t(f.acts[size_t(a)].producer)];
    return p.out == a ? &p : nullptr;
  }
  QNode& add(const Node& n, Kind k, std::vector<int> in) {
    QNode q;
    q.kind = k;
    q.name = n.name;
    q.in = std::move(in);
    q.node = n;
    q.relu = n.attrs.fused_relu;
    f.nodes.push_back(std::move(q));
    const int id = int(f.nodes.size()) - 1;
    f.nodes.back().out = new_act(n.outputs[0], id);
    return f.nodes.back();
  }

  Status node(const Node& n);
  Status conv(const Node& n, const std::string& who);
  Status batchnorm(const Node& n, const std::string& who);
  Status relu(const Node& n, const std::string& who);
  Status window(const Node& n, const std::string& who);
  Status gemm(const Node& n, const std::string& who);
};

Status Folder::node(const Node& n) {
  const std::string who = str("quantize: node '", n.name, "' (", op_name(n.op), ")");
  switch (n.op) {
    case OpType::Identity: {
      SCV_ASSIGN_OR_RETURN(int a, act_in(n, 0));
      act_of[size_t(n.outputs[0])] = a;
      return Status();
    }
    case OpType::Conv:
      return conv(n, who);
    case OpType::BatchNorm:
      return batchnorm(n, who);
    case OpType::Relu:
      return relu(n, who);
    case OpType::Add: {
      SCV_ASSIGN_OR_RETURN(int a, act_in(n, 0));
      SCV_ASSIGN_OR_RETURN(int b, act_in(n, 1));
      add(n, Kind::Add, {a, b});
      return Status();
    }
    case OpType::MaxPool:
    case OpType::AveragePool:
    case OpType::GlobalAveragePool:
    case OpType::Flatten:
    case OpType::Reshape:
    case OpType::Softmax:
      return window(n, who);
    case OpType::Gemm:
    case OpType::MatMul:
      return gemm(n, who);
    default:
      return error(who,
                   ": not supported by the quantizer (Conv, BatchNormalization, Relu, Add, "
                   "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, "
                   "Softmax, Identity are)");
  }
}

// Conv with constant 4-D weights (and bias).
Status Folder::conv(const Node& n, const std::string& who) {
  SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
  const Tensor* w = constant(n, 1);
  if (!w || w->shape().size() != 4)
    return error(who, ": the weights must be a constant 4-D tensor");
  if (n.attrs.auto_pad != "NOTSET")
    return error(who, ": auto_pad ", n.attrs.auto_pad,
                 " is not supported by the quantizer (explicit pads are)");
  QNode& q = add(n, Kind::Conv, {x});
  q.w = w->clone();
  q.b = Tensor(Shape{w->shape()[0]});
  if (const Tensor* b = constant(n, 2)) std::memcpy(q.b.data(), b->data(), size_t(q.b.numel()) * 4);
  return Status();
}

// BatchNormalization folded into the Conv before it.
Status Folder::batchnorm(const Node& n, const std::string& who) {
  QNode* p = sole_producer(n);
  if (!p || p->kind != Kind::Conv || p->relu)
    return error(who, ": a BatchNormalization must follow a Conv whose output it alone reads");
  const Tensor *ga = constant(n, 1), *be = constant(n, 2), *me = constant(n, 3),
               *va = constant(n, 4);
  const int64_t co = p->w.shape()[0];
  if (!ga || !be || !me || !va || ga->numel() != co || be->numel() != co || me->numel() != co ||
      va->numel() != co)
    return error(who, ": expected constant scale, bias, mean and variance of ", co, " values");
  fold_batchnorm(ga->data(), be->data(), me->data(), va->data(), n.attrs.epsilon, co,
                 p->w.numel() / co, p->w.data(), p->b.data());
  act_of[size_t(n.outputs[0])] = p->out;
  f.acts[size_t(p->out)].name = g.values[size_t(n.outputs[0])].name;
  if (rep) ++rep->folded_bn;
  return Status();
}

// Relu fused into the Conv, Add or Gemm before it.
Status Folder::relu(const Node& n, const std::string& who) {
  QNode* p = sole_producer(n);
  if (!p || (p->kind != Kind::Conv && p->kind != Kind::Add && p->kind != Kind::Gemm))
    return error(who, ": a Relu must follow a Conv, Add or Gemm whose output it alone reads");
  p->relu = true;
  act_of[size_t(n.outputs[0])] = p->out;
  f.acts[size_t(p->out)].name = g.values[size_t(n.outputs[0])].name;
  if (rep) ++rep->fused_relu;
  return Status();
}

// Pools, Flatten / Reshape and Softmax: one data input, no weights.
Status Folder::window(const Node& n, const std::string& who) {
  SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
  if ((n.op == OpType::MaxPool || n.op == OpType::AveragePool) && n.attrs.auto_pad != "NOTSET")
    return error(who, ": auto_pad ", n.attrs.auto_pad, " is not supported by the quantizer");
  const Kind k = n.op == OpType::MaxPool             ? Kind::MaxPool
                 : n.op == OpType::AveragePool       ? Kind::AvgPool
                 : n.op == OpType::GlobalAveragePool ? Kind::Gap
                 : n.op == OpType::Softmax           ? Kind::Softmax
                                                     : Kind::Flatten;
  QNode& q = add(n, k, {x});
  if (n.op == OpType::Reshape) {  // written as Flatten: only [N, rest] reshapes
    if (n.attrs.shape.size() != 2)
      return error(who, ": only reshapes to [N, features] are supported");
    q.node.op = OpType::Flatten;
    q.node.attrs.axis = 1;
  }
  if (k == Kind::Flatten && q.node.attrs.axis != 1)
    return error(who, ": only Flatten with axis 1 is supported");
  if (k == Kind::MaxPool || k == Kind::Flatten) f.acts[size_t(q.out)].share = x;
  return Status();
}

// Gemm / MatMul with constant 2-D weights, stored as Gemm with B transposed ([N, K]).
Status Folder::gemm(const Node& n, const std::string& who) {
  SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
  const Tensor* bw = constant(n, 1);
  if (!bw || bw->shape().size() != 2 || (n.op == OpType::Gemm && n.attrs.trans_a))
    return error(who, ": expected constant 2-D weights and an untransposed input");
  const bool tb = n.op == OpType::Gemm && n.attrs.trans_b;
  const int64_t N = tb ? bw->shape()[0] : bw->shape()[1], K = tb ? bw->shape()[1] : bw->shape()[0];
  QNode& q = add(n, Kind::Gemm, {x});
  q.w = Tensor(Shape{N, K});
  const float alpha = n.op == OpType::Gemm ? n.attrs.alpha : 1.0f;
  for (int64_t o = 0; o < N; ++o)
    for (int64_t k = 0; k < K; ++k)
      q.w[o * K + k] = alpha * (tb ? (*bw)[o * K + k] : (*bw)[k * N + o]);
  q.b = Tensor(Shape{N});
  if (const Tensor* c = n.op == OpType::Gemm ? constant(n, 2) : nullptr) {
    if (c->numel() != N && c->numel() != 1)
      return error(who, ": bias of ", c->numel(), " values, expected ", N);
    for (int64_t o = 0; o < N; ++o) q.b[o] = n.attrs.beta * (*c)[c->numel() == 1 ? 0 : o];
  }
  q.node.op = OpType::Gemm;
  q.node.attrs = Attrs();
  q.node.attrs.trans_b = true;
  return Status();
}

// The classifier's output stays float: the last Gemm (and a Softmax after it), and the global
// average pool and flatten feeding it unless int8_logits.
void keep_classifier_float(Folded& f, bool int8_logits) {
  int last = f.output;
  if (f.acts[size_t(last)].producer >= 0 &&
      f.nodes[size_t(f.acts[size_t(last)].producer)].kind == Kind::Softmax) {
    f.acts[size_t(last)].quantized = false;
    last = f.nodes[size_t(f.acts[size_t(last)].producer)].in[0];
  }
  if (!int8_logits && f.acts[size_t(last)].producer >= 0 &&
      f.nodes[size_t(f.acts[size_t(last)].producer)].kind == Kind::Gemm &&
      !f.nodes[size_t(f.acts[size_t(last)].producer)].relu) {
    f.acts[size_t(last)].quantized = false;
    // The global average pool (and the flatten) feeding the classifier stay float too: the
    // pooled features differ little between inputs next to their range, and an int8 step there
    // moves the logits more than all the convs before it.
    int a = f.nodes[size_t(f.acts[size_t(last)].producer)].in[0];
    for (int hop = 0; hop < 2 && f.acts[size_t(a)].producer >= 0; ++hop) {
      const QNode& p = f.nodes[size_t(f.acts[size_t(a)].producer)];
      if (p.kind == Kind::Flatten) {
        f.acts[size_t(a)].quantized = false;
        f.acts[size_t(a)].share = -1;
        a = p.in[0];
      } else if (p.kind == Kind::Gap) {
        f.acts[size_t(a)].quantized = false;
        break;
      } else {
        break;
      }
    }
  }
}

}  // namespace

Result<Folded> fold(const Graph& g, QuantizeReport* rep, bool int8_logits) {
  if (g.inputs.size() != 1 || g.outputs.size() != 1)
    return error("quantize: expected a model with one input and one output, found ",
                 g.inputs.size(), " and ", g.outputs.size());
  Folder fo(g, rep);
  fo.new_act(g.inputs[0], -1);
  for (const Node& n : g.nodes) SCV_TRY(fo.node(n));
  Folded& f = fo.f;
  const std::vector<int>& act_of = fo.act_of;
  f.output = act_of[size_t(g.outputs[0])];
  if (f.output < 0) return error("quantize: the graph output is not computed");
  keep_classifier_float(f, int8_logits);
  for (const QNode& q : f.nodes)
    if (q.kind == Kind::Softmax && f.acts[size_t(q.out)].quantized)
      return error("quantize: node '", q.name,
                   "' (Softmax): only a Softmax on the classifier's "
                   "output is supported");
  return std::move(f);
}

}  // namespace scv::quantize_detail
