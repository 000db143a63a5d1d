// `scratchcv quantize`: float Graph -> calibrated ONNX QDQ model (see scratchcv/int8.h).
//
// Steps: (1) fold the graph into quantizable ops (BatchNorm into Conv, ReLU into its producer,
// Identity away; quantize_fold.cpp); (2) run the folded float graph on the calibration inputs,
// convs by im2col + the training GEMM, the rest by the reference kernels, collecting min, max and a
// histogram of |x| for every activation; (3) choose a range per activation by the method; (4)
// quantize the weights per output channel and write the QDQ model.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "core/enum_names.h"
#include "graph/passes.h"
#include "int8/quantize_internal.h"
#include "io/onnx_proto.h"
#include "io/onnx_writer.h"
#include "ops/conv/im2col.h"
#include "ops/gemm/sgemm.h"
#include "scratchcv/int8.h"

namespace scv {

namespace {
constexpr EnumName<CalibMethod> kCalibMethodNames[] = {{CalibMethod::minmax, "minmax"},
                                                       {CalibMethod::percentile, "percentile"},
                                                       {CalibMethod::entropy, "entropy"}};
}  // namespace

Result<CalibMethod> parse_calib_method(const std::string& name) {
  CalibMethod m;
  if (parse_name(kCalibMethodNames, name, &m)) return m;
  return error("calibration method '", name, "': expected minmax, percentile or entropy");
}

const char* calib_method_name(CalibMethod m) {
  return name_of(kCalibMethodNames, m);
}

namespace {

using namespace quantize_detail;

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

constexpr EnumName<Kind> kOnnxOps[] = {{Kind::Conv, "Conv"},
                                       {Kind::Add, "Add"},
                                       {Kind::MaxPool, "MaxPool"},
                                       {Kind::AvgPool, "AveragePool"},
                                       {Kind::Gap, "GlobalAveragePool"},
                                       {Kind::Flatten, "Flatten"},
                                       {Kind::Gemm, "Gemm"},
                                       {Kind::Softmax, "Softmax"}};

const char* onnx_op(Kind k) {
  return name_of(kOnnxOps, k);
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

// Steps (2) and (3): runs the folded graph on the calibration inputs, collecting each
// activation's statistics and shape, then chooses the ranges (shared ones follow their source).
Status calibrate(Folded& f, const std::vector<Tensor>& calib, const QuantizeOptions& opt,
                 QuantizeReport* rep, std::vector<Shape>* shapes) {
  shapes->assign(f.acts.size(), Shape());
  for (const Tensor& t : calib) {
    if (t.shape().size() != 4) return error("quantize: calibration inputs must be NCHW");
    SCV_TRY(run_float(f, t, [&](int a, const Tensor& v) {
      f.acts[size_t(a)].st.add(v.data(), v.numel());
      (*shapes)[size_t(a)] = v.shape();
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
  return Status();
}

// Step (4): writes the calibrated folded graph as ONNX QDQ: a QuantizeLinear -> DequantizeLinear
// pair after every int8 activation, int8 weights behind a DequantizeLinear.
struct QdqWriter {
  const Folded& f;
  QuantizeReport* rep;
  onnx::GraphParts gp;
  std::map<std::string, int> used_names;
  std::vector<std::string> dq_name, fname;

  QdqWriter(const Folded& folded, QuantizeReport* r)
      : f(folded), rep(r), dq_name(folded.acts.size()), fname(folded.acts.size()) {
    gp.name = "scratchcv_qdq";
    for (size_t i = 0; i < f.acts.size(); ++i)
      fname[i] = uniq(f.acts[i].name.empty() ? str("t", i) : f.acts[i].name);
  }
  std::string uniq(const std::string& base) {
    const int n = used_names[base]++;
    return n == 0 ? base : str(base, "_", n);
  }
  void scalar_f(const std::string& name, float v) {
    gp.initializers.push_back(onnx::tensor_proto(name, {}, onnx::kFloat, &v, 4));
  }
  void scalar_i8(const std::string& name, int32_t v) {
    const int8_t b = int8_t(v);
    gp.initializers.push_back(onnx::tensor_proto(name, {}, onnx::kInt8, &b, 1));
  }
  // Q then DQ after float activation a (its float tensor already named fname[a]).
  void qdq(int a) {
    const Act& act = f.acts[size_t(a)];
    const std::string& n = fname[size_t(a)];
    scalar_f(n + "_scale", act.scale);
    scalar_i8(n + "_zp", act.zp);
    gp.nodes.push_back(
        onnx::node_proto("QuantizeLinear", n + "_Q", {n, n + "_scale", n + "_zp"}, {n + "_q"}));
    gp.nodes.push_back(onnx::node_proto("DequantizeLinear", n + "_DQ",
                                        {n + "_q", n + "_scale", n + "_zp"}, {n + "_dq"}));
    dq_name[size_t(a)] = n + "_dq";
  }
  void weights(const QNode& q, std::vector<std::string>* ins);
  Status node(const QNode& q);
};

// Conv / Gemm weights and bias: per-output-channel symmetric int8 weights; int32 bias at input
// scale x weight scale (float when the input is float). Appends their names to `ins`.
void QdqWriter::weights(const QNode& q, std::vector<std::string>* ins) {
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
  gp.initializers.push_back(onnx::tensor_proto(wn + "_zp", {O}, onnx::kInt8, wz.data(), wz.size()));
  gp.nodes.push_back(onnx::node_proto("DequantizeLinear", wn + "_DQ",
                                      {wn + "_q", wn + "_scale", wn + "_zp"}, {wn},
                                      {onnx::attr_int("axis", 0)}));
  if (float_in) {  // a float input (the pooled features): the bias stays float
    gp.initializers.push_back(onnx::tensor_proto(bn, {O}, onnx::kFloat, q.b.data(), size_t(O) * 4));
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
  ins->push_back(wn);
  ins->push_back(bn);
}

// The ONNX attributes of a folded node.
std::vector<std::string> op_attrs(const QNode& q) {
  std::vector<std::string> attrs;
  const Attrs& a = q.node.attrs;
  if (q.kind == Kind::Conv) {
    const Shape& ws4 = q.w.shape();
    attrs.push_back(onnx::attr_ints("kernel_shape", {ws4[2], ws4[3]}));
    if (!a.strides.empty()) attrs.push_back(onnx::attr_ints("strides", a.strides));
    if (!a.pads.empty()) attrs.push_back(onnx::attr_ints("pads", a.pads));
    if (!a.dilations.empty()) attrs.push_back(onnx::attr_ints("dilations", a.dilations));
    attrs.push_back(onnx::attr_int("group", a.group));
  } else if (q.kind == Kind::Gemm) {
    attrs.push_back(onnx::attr_int("transB", 1));
  } else if (q.kind == Kind::MaxPool || q.kind == Kind::AvgPool) {
    attrs.push_back(onnx::attr_ints("kernel_shape", a.kernel_shape));
    if (!a.strides.empty()) attrs.push_back(onnx::attr_ints("strides", a.strides));
    if (!a.pads.empty()) attrs.push_back(onnx::attr_ints("pads", a.pads));
    if (a.ceil_mode) attrs.push_back(onnx::attr_int("ceil_mode", 1));
    if (q.kind == Kind::AvgPool && a.count_include_pad)
      attrs.push_back(onnx::attr_int("count_include_pad", 1));
  } else if (q.kind == Kind::Flatten) {
    attrs.push_back(onnx::attr_int("axis", 1));
  } else if (q.kind == Kind::Softmax) {
    attrs.push_back(onnx::attr_int("axis", -1));
  }
  return attrs;
}

// One folded node, its weights and the Q / DQ after its output.
Status QdqWriter::node(const QNode& q) {
  const std::string& y = fname[size_t(q.out)];
  const Act& out = f.acts[size_t(q.out)];
  std::vector<std::string> ins;
  for (int i : q.in)
    ins.push_back(f.acts[size_t(i)].quantized ? dq_name[size_t(i)] : fname[size_t(i)]);
  if (q.kind == Kind::Conv || q.kind == Kind::Gemm) {
    weights(q, &ins);
    ++rep->quantized_ops;
  } else if (q.kind == Kind::MaxPool || q.kind == Kind::AvgPool) {
    ++rep->quantized_ops;
  } else if (q.kind == Kind::Flatten) {
    // shares its input's quantization: not counted
  } else if (q.kind == Kind::Softmax) {
    ins = {fname[size_t(q.in[0])]};  // the float logits
  } else if (out.quantized) {
    ++rep->quantized_ops;
  }
  gp.nodes.push_back(onnx::node_proto(
      onnx_op(q.kind), uniq(q.name.empty() ? onnx_op(q.kind) : q.name), ins, {y}, op_attrs(q)));
  if (out.quantized) {
    if (q.relu && out.zp != -128)
      return error("quantize: node '", q.name, "': internal error: a ReLU output with zero point ",
                   out.zp);
    qdq(q.out);
  } else if (q.relu) {
    return error("quantize: node '", q.name, "': a ReLU on the float output is not supported");
  }
  return Status();
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
  std::vector<Shape> shapes;
  SCV_TRY(calibrate(f, calib, opt, rep, &shapes));

  QdqWriter wr(f, rep);
  onnx::GraphParts& gp = wr.gp;
  const Shape& in_shape = shapes[size_t(f.input)];
  gp.inputs.push_back(onnx::value_info(wr.fname[size_t(f.input)], onnx::kFloat,
                                       {-1, in_shape[1], in_shape[2], in_shape[3]}));
  wr.qdq(f.input);
  for (const QNode& q : f.nodes) SCV_TRY(wr.node(q));
  const Act& out = f.acts[size_t(f.output)];
  if (out.quantized && !opt.int8_logits)
    return error("quantize: the model's output must come from a Gemm (a classifier)");
  const Shape& os = shapes[size_t(f.output)];
  std::vector<int64_t> odims = {-1};
  for (size_t d = 1; d < os.size(); ++d) odims.push_back(os[d]);
  gp.outputs.push_back(
      onnx::value_info(out.quantized ? wr.dq_name[size_t(f.output)] : wr.fname[size_t(f.output)],
                       onnx::kFloat, odims));
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
