// `scratchcv quantize`: float Graph -> calibrated ONNX QDQ model (see scratchcv/int8.h).
//
// Steps: (1) fold the graph into quantizable ops (BatchNorm into Conv, ReLU into its producer,
// Identity away); (2) run the folded float graph on the calibration inputs, convs by im2col +
// the training GEMM, the rest by the reference kernels, collecting min, max and a histogram of
// |x| for every activation; (3) choose a range per activation by the method; (4) quantize the
// weights per output channel and write the QDQ model.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "graph/passes.h"
#include "io/onnx_proto.h"
#include "io/onnx_writer.h"
#include "ops/conv/im2col.h"
#include "ops/gemm/sgemm.h"
#include "scratchcv/int8.h"

namespace scv {

Result<CalibMethod> parse_calib_method(const std::string& name) {
  if (name == "minmax") return CalibMethod::minmax;
  if (name == "percentile") return CalibMethod::percentile;
  if (name == "entropy") return CalibMethod::entropy;
  return error("calibration method '", name, "': expected minmax, percentile or entropy");
}

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::minmax:
      return "minmax";
    case CalibMethod::percentile:
      return "percentile";
    case CalibMethod::entropy:
      return "entropy";
  }
  return "?";
}

namespace {

constexpr int kBins = 2048;

// Per-activation statistics: the range seen and a histogram of |x| over [0, range), whose range
// doubles (merging bin pairs) when a larger value arrives, so one pass suffices.
struct Stats {
  float mn = std::numeric_limits<float>::infinity();
  float mx = -std::numeric_limits<float>::infinity();
  double range = 0;  // histogram covers [0, range)
  std::vector<double> hist = std::vector<double>(kBins, 0.0);

  void add(const float* x, int64_t n) {
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
      amax = std::max(amax, std::fabs(x[i]));
    }
    if (amax <= 0) {
      hist[0] += double(n);
      return;
    }
    if (range == 0) range = double(amax) * 1.0001;
    while (double(amax) >= range) {  // double the range: bin pairs merge
      for (int b = 0; b < kBins / 2; ++b)
        hist[size_t(b)] = hist[size_t(2 * b)] + hist[size_t(2 * b + 1)];
      std::fill(hist.begin() + kBins / 2, hist.end(), 0.0);
      range *= 2;
    }
    const double inv = kBins / range;
    for (int64_t i = 0; i < n; ++i) {
      const int b = std::min(kBins - 1, int(std::fabs(x[i]) * inv));
      hist[size_t(b)] += 1;
    }
  }
  double bin_width() const { return range / kBins; }
};

// The |x| below which `pct` percent of the values fall.
double percentile_threshold(const Stats& s, double pct) {
  double total = 0;
  for (double h : s.hist) total += h;
  const double want = total * pct / 100.0;
  double acc = 0;
  for (int b = 0; b < kBins; ++b) {
    acc += s.hist[size_t(b)];
    if (acc >= want) return (b + 1) * s.bin_width();
  }
  return s.range;
}

// TensorRT's entropy calibration: the threshold whose `levels`-level quantization of the
// histogram diverges least (KL) from the clipped histogram.
double entropy_threshold(const Stats& s, int levels) {
  const std::vector<double>& h = s.hist;
  int last = kBins;
  while (last > 1 && h[size_t(last - 1)] == 0) --last;
  if (last <= levels) return last * s.bin_width();
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = last;
  std::vector<double> p, q;
  for (int i = levels; i <= last; ++i) {
    p.assign(h.begin(), h.begin() + i);
    double outliers = 0;
    for (int b = i; b < kBins; ++b) outliers += h[size_t(b)];
    p[size_t(i - 1)] += outliers;
    q.assign(size_t(i), 0.0);
    for (int l = 0; l < levels; ++l) {  // bins [b0, b1) merge into level l
      const int b0 = int(int64_t(l) * i / levels), b1 = int(int64_t(l + 1) * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int b = b0; b < b1; ++b) {
        sum += h[size_t(b)];
        nonzero += h[size_t(b)] != 0;
      }
      for (int b = b0; b < b1; ++b)
        if (h[size_t(b)] != 0) q[size_t(b)] = sum / nonzero;
    }
    double ps = 0, qs = 0;
    for (int b = 0; b < i; ++b) {
      ps += p[size_t(b)];
      qs += q[size_t(b)];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int b = 0; b < i; ++b) {
      const double pb = p[size_t(b)] / ps;
      if (pb <= 0) continue;
      const double qb = q[size_t(b)] / qs;
      kl += qb > 0 ? pb * std::log(pb / qb) : pb * 30.0;  // a bin q cannot represent
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * s.bin_width();
}

enum class Kind { Conv, Add, MaxPool, AvgPool, Gap, Flatten, Gemm, Softmax };

const char* onnx_op(Kind k) {
  switch (k) {
    case Kind::Conv:
      return "Conv";
    case Kind::Add:
      return "Add";
    case Kind::MaxPool:
      return "MaxPool";
    case Kind::AvgPool:
      return "AveragePool";
    case Kind::Gap:
      return "GlobalAveragePool";
    case Kind::Flatten:
      return "Flatten";
    case Kind::Gemm:
      return "Gemm";
    case Kind::Softmax:
      return "Softmax";
  }
  return "?";
}

// One op of the folded graph. Activation ids index Folded::acts.
struct QNode {
  Kind kind;
  std::string name;
  std::vector<int> in;
  int out = -1;
  bool relu = false;
  Node node;    // the original node's attributes (op type adjusted), for the reference kernel
  Tensor w, b;  // Conv: [O, I/g, kh, kw] and [O]; Gemm: [N, K] (B transposed) and [N]
};

struct Act {
  std::string name;
  int producer = -1;  // node index, -1: graph input
  int share = -1;     // takes the quantization of this activation (MaxPool, Flatten)
  bool quantized = true;
  Stats st;
  float scale = 1.0f;
  int32_t zp = 0;
};

struct Folded {
  std::vector<QNode> nodes;
  std::vector<Act> acts;
  int input = 0, output = -1;
};

Result<Folded> fold(const Graph& g, QuantizeReport* rep, bool int8_logits) {
  if (g.inputs.size() != 1 || g.outputs.size() != 1)
    return error("quantize: expected a model with one input and one output, found ",
                 g.inputs.size(), " and ", g.outputs.size());
  const std::vector<int> uses = count_uses(g);
  Folded f;
  std::vector<int> act_of(g.values.size(), -1);  // graph value -> activation
  auto new_act = [&](int value, int producer) {
    Act a;
    a.name = g.values[size_t(value)].name;
    a.producer = producer;
    f.acts.push_back(a);
    act_of[size_t(value)] = int(f.acts.size()) - 1;
    return int(f.acts.size()) - 1;
  };
  new_act(g.inputs[0], -1);
  auto act_in = [&](const Node& n, size_t i) -> Result<int> {
    if (i >= n.inputs.size() || n.inputs[i] < 0)
      return error("node '", n.name, "': input ", i, " is missing");
    const int a = act_of[size_t(n.inputs[i])];
    if (a < 0)
      return error("quantize: node '", n.name, "' (", op_name(n.op), "): input ", i,
                   " is not an activation (a constant where the quantizer expects data)");
    return a;
  };
  auto constant = [&](const Node& n, size_t i) -> const Tensor* {
    if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
    const Value& v = g.values[size_t(n.inputs[i])];
    return v.is_constant() ? &v.constant : nullptr;
  };
  // The folded node that writes activation a, when only one graph node reads it.
  auto sole_producer = [&](const Node& n) -> QNode* {
    const int v = n.inputs.empty() ? -1 : n.inputs[0];
    if (v < 0 || uses[size_t(v)] != 1) return nullptr;
    const int a = act_of[size_t(v)];
    if (a < 0 || f.acts[size_t(a)].producer < 0) return nullptr;
    QNode& p = f.nodes[size_t(f.acts[size_t(a)].producer)];
    return p.out == a ? &p : nullptr;
  };
  for (const Node& n : g.nodes) {
    const std::string who = str("quantize: node '", n.name, "' (", op_name(n.op), ")");
    auto add = [&](Kind k, std::vector<int> in) -> QNode& {
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
    };
    switch (n.op) {
      case OpType::Identity: {
        SCV_ASSIGN_OR_RETURN(int a, act_in(n, 0));
        act_of[size_t(n.outputs[0])] = a;
        break;
      }
      case OpType::Conv: {
        SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
        const Tensor* w = constant(n, 1);
        if (!w || w->shape().size() != 4)
          return error(who, ": the weights must be a constant 4-D tensor");
        if (n.attrs.auto_pad != "NOTSET")
          return error(who, ": auto_pad ", n.attrs.auto_pad,
                       " is not supported by the quantizer (explicit pads are)");
        QNode& q = add(Kind::Conv, {x});
        q.w = w->clone();
        q.b = Tensor(Shape{w->shape()[0]});
        if (const Tensor* b = constant(n, 2))
          std::memcpy(q.b.data(), b->data(), size_t(q.b.numel()) * 4);
        break;
      }
      case OpType::BatchNorm: {
        QNode* p = sole_producer(n);
        if (!p || p->kind != Kind::Conv || p->relu)
          return error(who,
                       ": a BatchNormalization must follow a Conv whose output it alone reads");
        const Tensor *ga = constant(n, 1), *be = constant(n, 2), *me = constant(n, 3),
                     *va = constant(n, 4);
        const int64_t co = p->w.shape()[0];
        if (!ga || !be || !me || !va || ga->numel() != co || be->numel() != co ||
            me->numel() != co || va->numel() != co)
          return error(who, ": expected constant scale, bias, mean and variance of ", co,
                       " values");
        fold_batchnorm(ga->data(), be->data(), me->data(), va->data(), n.attrs.epsilon, co,
                       p->w.numel() / co, p->w.data(), p->b.data());
        act_of[size_t(n.outputs[0])] = p->out;
        f.acts[size_t(p->out)].name = g.values[size_t(n.outputs[0])].name;
        if (rep) ++rep->folded_bn;
        break;
      }
      case OpType::Relu: {
        QNode* p = sole_producer(n);
        if (!p || (p->kind != Kind::Conv && p->kind != Kind::Add && p->kind != Kind::Gemm))
          return error(who, ": a Relu must follow a Conv, Add or Gemm whose output it alone reads");
        p->relu = true;
        act_of[size_t(n.outputs[0])] = p->out;
        f.acts[size_t(p->out)].name = g.values[size_t(n.outputs[0])].name;
        if (rep) ++rep->fused_relu;
        break;
      }
      case OpType::Add: {
        SCV_ASSIGN_OR_RETURN(int a, act_in(n, 0));
        SCV_ASSIGN_OR_RETURN(int b, act_in(n, 1));
        add(Kind::Add, {a, b});
        break;
      }
      case OpType::MaxPool:
      case OpType::AveragePool:
      case OpType::GlobalAveragePool:
      case OpType::Flatten:
      case OpType::Reshape:
      case OpType::Softmax: {
        SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
        if ((n.op == OpType::MaxPool || n.op == OpType::AveragePool) &&
            n.attrs.auto_pad != "NOTSET")
          return error(who, ": auto_pad ", n.attrs.auto_pad, " is not supported by the quantizer");
        const Kind k = n.op == OpType::MaxPool             ? Kind::MaxPool
                       : n.op == OpType::AveragePool       ? Kind::AvgPool
                       : n.op == OpType::GlobalAveragePool ? Kind::Gap
                       : n.op == OpType::Softmax           ? Kind::Softmax
                                                           : Kind::Flatten;
        QNode& q = add(k, {x});
        if (n.op == OpType::Reshape) {  // written as Flatten: only [N, rest] reshapes
          if (n.attrs.shape.size() != 2)
            return error(who, ": only reshapes to [N, features] are supported");
          q.node.op = OpType::Flatten;
          q.node.attrs.axis = 1;
        }
        if (k == Kind::Flatten && q.node.attrs.axis != 1)
          return error(who, ": only Flatten with axis 1 is supported");
        if (k == Kind::MaxPool || k == Kind::Flatten) f.acts[size_t(q.out)].share = x;
        break;
      }
      case OpType::Gemm:
      case OpType::MatMul: {
        SCV_ASSIGN_OR_RETURN(int x, act_in(n, 0));
        const Tensor* bw = constant(n, 1);
        if (!bw || bw->shape().size() != 2 || (n.op == OpType::Gemm && n.attrs.trans_a))
          return error(who, ": expected constant 2-D weights and an untransposed input");
        const bool tb = n.op == OpType::Gemm && n.attrs.trans_b;
        const int64_t N = tb ? bw->shape()[0] : bw->shape()[1],
                      K = tb ? bw->shape()[1] : bw->shape()[0];
        QNode& q = add(Kind::Gemm, {x});
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
        break;
      }
      default:
        return error(who,
                     ": not supported by the quantizer (Conv, BatchNormalization, Relu, Add, "
                     "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, "
                     "Softmax, Identity are)");
    }
  }
  f.output = act_of[size_t(g.outputs[0])];
  if (f.output < 0) return error("quantize: the graph output is not computed");
  // The classifier's output stays float: the last Gemm (and a Softmax after it).
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
  for (const QNode& q : f.nodes)
    if (q.kind == Kind::Softmax && f.acts[size_t(q.out)].quantized)
      return error("quantize: node '", q.name,
                   "' (Softmax): only a Softmax on the classifier's "
                   "output is supported");
  return f;
}

// Runs the folded graph in float on one input, handing every activation to `seen`.
template <typename F>
Status run_float(const Folded& f, const Tensor& input, const F& seen) {
  std::vector<Tensor> val(f.acts.size());
  val[size_t(f.input)] = input;
  seen(f.input, input);
  std::vector<float> col;
  for (const QNode& q : f.nodes) {
    const Tensor& x = val[size_t(q.in[0])];
    Tensor y;
    const Attrs& a = q.node.attrs;
    if (q.kind == Kind::Conv) {
      const Shape& ws = q.w.shape();
      const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
      const int64_t O = ws[0];
      auto at = [](const std::vector<int64_t>& v, size_t i, int64_t d) {
        return i < v.size() ? v[i] : d;
      };
      ref::Conv2dParams cp;
      cp.kh = ws[2];
      cp.kw = ws[3];
      cp.sh = at(a.strides, 0, 1);
      cp.sw = at(a.strides, 1, 1);
      cp.pad_t = at(a.pads, 0, 0);
      cp.pad_l = at(a.pads, 1, 0);
      cp.pad_b = at(a.pads, 2, 0);
      cp.pad_r = at(a.pads, 3, 0);
      cp.dh = at(a.dilations, 0, 1);
      cp.dw = at(a.dilations, 1, 1);
      const bool simple = a.group == 1 && ws[1] == C && cp.sh > 0 && cp.sw > 0;
      if (simple) {  // im2col + the GEMM of the best ISA
        const int64_t Ho = ref::conv_out_dim(H, cp.kh, cp.sh, cp.pad_t, cp.pad_b, cp.dh);
        const int64_t Wo = ref::conv_out_dim(W, cp.kw, cp.sw, cp.pad_l, cp.pad_r, cp.dw);
        const int64_t K = C * cp.kh * cp.kw;
        y = Tensor(Shape{N, O, Ho, Wo});
        col.resize(size_t(K * Ho * Wo));
        const bool direct = cp.kh == 1 && cp.kw == 1 && cp.sh == 1 && cp.sw == 1 && cp.pad_t == 0 &&
                            cp.pad_l == 0 && cp.pad_b == 0 && cp.pad_r == 0;
        for (int64_t b = 0; b < N; ++b) {
          const float* xb = x.data() + b * C * H * W;
          const float* src = xb;
          if (!direct) {
            im2col(xb, H, W, cp, Ho, Wo, 0, C, col.data());
            src = col.data();
          }
          float* yb = y.data() + b * O * Ho * Wo;
          for (int64_t o = 0; o < O; ++o)
            std::fill(yb + o * Ho * Wo, yb + (o + 1) * Ho * Wo, q.b[o]);
          sgemm(gemm_kernel(active_isa()), false, false, O, Ho * Wo, K, 1.0f, q.w.data(), K, src,
                Ho * Wo, 1.0f, yb, Ho * Wo);
        }
      } else {
        Node n = q.node;
        n.attrs.fused_relu = false;
        SCV_ASSIGN_OR_RETURN(auto out, run_node_reference(n, {x, q.w, q.b}));
        y = std::move(out[0]);
      }
    } else if (q.kind == Kind::Gemm) {
      Node n = q.node;
      n.attrs.fused_relu = false;
      const Tensor x2 =
          x.shape().size() == 2 ? x : x.reshaped(Shape{x.shape()[0], x.numel() / x.shape()[0]});
      SCV_ASSIGN_OR_RETURN(auto out, run_node_reference(n, {x2, q.w, q.b}));
      y = std::move(out[0]);
    } else {
      Node n = q.node;
      n.attrs.fused_relu = false;
      std::vector<Tensor> ins;
      for (int i : q.in) ins.push_back(val[size_t(i)]);
      SCV_ASSIGN_OR_RETURN(auto out, run_node_reference(n, ins));
      y = std::move(out[0]);
    }
    if (q.relu)
      for (int64_t i = 0; i < y.numel(); ++i) y[i] = std::max(y[i], 0.0f);
    seen(q.out, y);
    val[size_t(q.out)] = std::move(y);
    // Free activations no later node reads (ResNet50's would not all fit otherwise at batch 8).
  }
  return Status();
}

void choose_range(Act& a, CalibMethod m, double pct, bool is_input) {
  const Stats& s = a.st;
  double lo = std::min(0.0f, s.mn), hi = std::max(0.0f, s.mx);
  if (!is_input && m != CalibMethod::minmax && s.range > 0) {
    const double t = m == CalibMethod::percentile ? percentile_threshold(s, pct)
                                                  : entropy_threshold(s, s.mn >= 0 ? 256 : 128);
    lo = std::max(lo, -t);
    hi = std::min(hi, t);
  }
  if (!(hi - lo > 0) || !std::isfinite(hi - lo)) {
    a.scale = 1.0f;
    a.zp = s.mn >= 0 ? -128 : 0;
    return;
  }
  a.scale = float((hi - lo) / 255.0);
  a.zp = int32_t(std::clamp(std::lround(-128.0 - lo / double(a.scale)), -128L, 127L));
}

}  // namespace

Result<std::string> quantize_to_qdq(const Graph& g, const std::vector<Tensor>& calib,
                                    const QuantizeOptions& opt, QuantizeReport* rep) {
  if (calib.empty()) return error("quantize: no calibration inputs");
  if (!(opt.percentile > 0 && opt.percentile <= 100))
    return error("quantize: percentile ", opt.percentile, " must be in (0, 100]");
  QuantizeReport local;
  if (!rep) rep = &local;
  SCV_ASSIGN_OR_RETURN(Folded f, fold(g, rep, opt.int8_logits));
  std::vector<Shape> shapes(f.acts.size());
  for (const Tensor& t : calib) {
    if (t.shape().size() != 4) return error("quantize: calibration inputs must be NCHW");
    SCV_TRY(run_float(f, t, [&](int a, const Tensor& v) {
      f.acts[size_t(a)].st.add(v.data(), v.numel());
      shapes[size_t(a)] = v.shape();
    }));
    rep->samples += int(t.shape()[0]);
  }
  for (size_t i = 0; i < f.acts.size(); ++i) {
    Act& a = f.acts[i];
    if (!a.quantized || a.share >= 0) continue;
    choose_range(a, opt.method, opt.percentile, int(i) == f.input);
  }
  for (Act& a : f.acts)
    if (a.share >= 0) {
      int s = a.share;
      while (f.acts[size_t(s)].share >= 0) s = f.acts[size_t(s)].share;
      a.scale = f.acts[size_t(s)].scale;
      a.zp = f.acts[size_t(s)].zp;
    }

  // ---- write ----
  onnx::GraphParts gp;
  gp.name = "scratchcv_qdq";
  std::map<std::string, int> used_names;
  auto uniq = [&](const std::string& base) {
    const int n = used_names[base]++;
    return n == 0 ? base : str(base, "_", n);
  };
  std::vector<std::string> dq_name(f.acts.size()), fname(f.acts.size());
  for (size_t i = 0; i < f.acts.size(); ++i)
    fname[i] = uniq(f.acts[i].name.empty() ? str("t", i) : f.acts[i].name);
  auto scalar_f = [&](const std::string& name, float v) {
    gp.initializers.push_back(onnx::tensor_proto(name, {}, onnx::kFloat, &v, 4));
  };
  auto scalar_i8 = [&](const std::string& name, int32_t v) {
    const int8_t b = int8_t(v);
    gp.initializers.push_back(onnx::tensor_proto(name, {}, onnx::kInt8, &b, 1));
  };
  // Q then DQ after float activation a (its float tensor already named fname[a]).
  auto qdq = [&](int a) {
    const Act& act = f.acts[size_t(a)];
    const std::string& n = fname[size_t(a)];
    scalar_f(n + "_scale", act.scale);
    scalar_i8(n + "_zp", act.zp);
    gp.nodes.push_back(
        onnx::node_proto("QuantizeLinear", n + "_Q", {n, n + "_scale", n + "_zp"}, {n + "_q"}));
    gp.nodes.push_back(onnx::node_proto("DequantizeLinear", n + "_DQ",
                                        {n + "_q", n + "_scale", n + "_zp"}, {n + "_dq"}));
    dq_name[size_t(a)] = n + "_dq";
  };
  const Shape& in_shape = shapes[size_t(f.input)];
  gp.inputs.push_back(onnx::value_info(fname[size_t(f.input)], onnx::kFloat,
                                       {-1, in_shape[1], in_shape[2], in_shape[3]}));
  qdq(f.input);
  for (const QNode& q : f.nodes) {
    const std::string& y = fname[size_t(q.out)];
    const Act& out = f.acts[size_t(q.out)];
    std::vector<std::string> ins;
    for (int i : q.in)
      ins.push_back(f.acts[size_t(i)].quantized ? dq_name[size_t(i)] : fname[size_t(i)]);
    std::vector<std::string> attrs;
    const Attrs& a = q.node.attrs;
    if (q.kind == Kind::Conv || q.kind == Kind::Gemm) {
      // Per-output-channel symmetric int8 weights; int32 bias at input scale x weight scale.
      const int64_t O = q.w.shape()[0], per = q.w.numel() / O;
      const bool float_in = !f.acts[size_t(q.in[0])].quantized;
      const float sx = f.acts[size_t(q.in[0])].scale;
      std::vector<int8_t> wq(size_t(q.w.numel()));
      std::vector<float> ws(static_cast<size_t>(O)), bs(static_cast<size_t>(O));
      std::vector<int8_t> wz(static_cast<size_t>(O), 0);
      std::vector<int32_t> bq(static_cast<size_t>(O)), bz(static_cast<size_t>(O), 0);
      for (int64_t o = 0; o < O; ++o) {
        float amax = 0;
        for (int64_t i = 0; i < per; ++i) amax = std::max(amax, std::fabs(q.w[o * per + i]));
        ws[size_t(o)] = amax > 0 ? amax / 127.0f : 1.0f;
        for (int64_t i = 0; i < per; ++i)
          wq[size_t(o * per + i)] =
              int8_t(std::clamp(std::nearbyint(q.w[o * per + i] / ws[size_t(o)]), -127.0f, 127.0f));
        bs[size_t(o)] = float(double(sx) * double(ws[size_t(o)]));
        const double bv = std::nearbyint(double(q.b[o]) / double(bs[size_t(o)]));
        bq[size_t(o)] = int32_t(std::clamp(bv, -2147483647.0, 2147483647.0));
      }
      const std::string wn = uniq(q.name + ".weight"), bn = uniq(q.name + ".bias");
      std::vector<int64_t> wdims(q.w.shape().begin(), q.w.shape().end());
      gp.initializers.push_back(
          onnx::tensor_proto(wn + "_q", wdims, onnx::kInt8, wq.data(), wq.size()));
      gp.initializers.push_back(
          onnx::tensor_proto(wn + "_scale", {O}, onnx::kFloat, ws.data(), ws.size() * 4));
      gp.initializers.push_back(
          onnx::tensor_proto(wn + "_zp", {O}, onnx::kInt8, wz.data(), wz.size()));
      gp.nodes.push_back(onnx::node_proto("DequantizeLinear", wn + "_DQ",
                                          {wn + "_q", wn + "_scale", wn + "_zp"}, {wn},
                                          {onnx::attr_int("axis", 0)}));
      if (float_in) {  // a float input (the pooled features): the bias stays float
        gp.initializers.push_back(
            onnx::tensor_proto(bn, {O}, onnx::kFloat, q.b.data(), size_t(O) * 4));
      } else {
        gp.initializers.push_back(
            onnx::tensor_proto(bn + "_q", {O}, onnx::kInt32, bq.data(), bq.size() * 4));
        gp.initializers.push_back(
            onnx::tensor_proto(bn + "_scale", {O}, onnx::kFloat, bs.data(), bs.size() * 4));
        gp.initializers.push_back(
            onnx::tensor_proto(bn + "_zp", {O}, onnx::kInt32, bz.data(), bz.size() * 4));
        gp.nodes.push_back(onnx::node_proto("DequantizeLinear", bn + "_DQ",
                                            {bn + "_q", bn + "_scale", bn + "_zp"}, {bn},
                                            {onnx::attr_int("axis", 0)}));
      }
      ins.push_back(wn);
      ins.push_back(bn);
      if (q.kind == Kind::Conv) {
        const Shape& ws4 = q.w.shape();
        attrs.push_back(onnx::attr_ints("kernel_shape", {ws4[2], ws4[3]}));
        if (!a.strides.empty()) attrs.push_back(onnx::attr_ints("strides", a.strides));
        if (!a.pads.empty()) attrs.push_back(onnx::attr_ints("pads", a.pads));
        if (!a.dilations.empty()) attrs.push_back(onnx::attr_ints("dilations", a.dilations));
        attrs.push_back(onnx::attr_int("group", a.group));
      } else {
        attrs.push_back(onnx::attr_int("transB", 1));
      }
      ++rep->quantized_ops;
    } else if (q.kind == Kind::MaxPool || q.kind == Kind::AvgPool) {
      attrs.push_back(onnx::attr_ints("kernel_shape", a.kernel_shape));
      if (!a.strides.empty()) attrs.push_back(onnx::attr_ints("strides", a.strides));
      if (!a.pads.empty()) attrs.push_back(onnx::attr_ints("pads", a.pads));
      if (a.ceil_mode) attrs.push_back(onnx::attr_int("ceil_mode", 1));
      if (q.kind == Kind::AvgPool && a.count_include_pad)
        attrs.push_back(onnx::attr_int("count_include_pad", 1));
      ++rep->quantized_ops;
    } else if (q.kind == Kind::Flatten) {
      attrs.push_back(onnx::attr_int("axis", 1));
    } else if (q.kind == Kind::Softmax) {
      attrs.push_back(onnx::attr_int("axis", -1));
      ins = {fname[size_t(q.in[0])]};  // the float logits
    } else if (out.quantized) {
      ++rep->quantized_ops;
    }
    gp.nodes.push_back(onnx::node_proto(
        onnx_op(q.kind), uniq(q.name.empty() ? onnx_op(q.kind) : q.name), ins, {y}, attrs));
    if (out.quantized) {
      if (q.relu && out.zp != -128)
        return error("quantize: node '", q.name,
                     "': internal error: a ReLU output with zero point ", out.zp);
      qdq(q.out);
    } else if (q.relu) {
      return error("quantize: node '", q.name, "': a ReLU on the float output is not supported");
    }
  }
  const Act& out = f.acts[size_t(f.output)];
  if (out.quantized && !opt.int8_logits)
    return error("quantize: the model's output must come from a Gemm (a classifier)");
  const Shape& os = shapes[size_t(f.output)];
  std::vector<int64_t> odims = {-1};
  for (size_t d = 1; d < os.size(); ++d) odims.push_back(os[d]);
  gp.outputs.push_back(onnx::value_info(
      out.quantized ? dq_name[size_t(f.output)] : fname[size_t(f.output)], onnx::kFloat, odims));
  rep->float_kept.push_back("network input: min/max calibration (never clipped)");
  if (!out.quantized)
    rep->float_kept.push_back(
        "classifier: the global average pool and the last Gemm run on the dequantized int8 "
        "features with int8 weights in fp32 (pooled features and logits not requantized)");
  return onnx::model_proto(onnx::graph_proto(gp), 13, "scratchcv",
                           str("post-training int8 QDQ, calibration ",
                               calib_method_name(opt.method), " on ", rep->samples, " inputs"));
}

}  // namespace scv
