// QDQ lowering for Int8Session: each compute node (Conv, Gemm / MatMul, Add, pools, Flatten /
// Reshape) with its DequantizeLinear inputs and QuantizeLinear output becomes one int8 operator.
#include <algorithm>
#include <cmath>

#include "int8/qdq_builder.h"

namespace scv::qdq {

Status Builder::on_compute(size_t i) {
  const OnnxNode& n = m.graph.nodes[i];
  const std::string w = who(n);
  const std::string& t = n.op_type;
  static const std::set<std::string> kOps = {
      "Conv",    "Gemm",    "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool",
      "Flatten", "Reshape", "Softmax"};
  if (!kOps.count(t))
    return error(w,
                 ": not supported in QDQ models (supported: QuantizeLinear, DequantizeLinear, "
                 "Conv, Gemm, MatMul, Add, MaxPool, AveragePool, GlobalAveragePool, Flatten, "
                 "Reshape, Relu/Clip after an op, Softmax after the classifier)");
  if (n.outputs.empty()) return error(w, ": no output");
  if (t == "Softmax") {
    if (!tail.on || n.inputs.empty() || !graph_outputs.count(n.outputs[0]))
      return error(w, ": only a Softmax on the float classifier output is supported");
    tail.softmax = true;
    return Status();
  }
  Step s;
  s.i = i;
  s.node = &n;
  s.w = w;
  SCV_ASSIGN_OR_RETURN(s.x, act_in(n, 0));
  if (t == "GlobalAveragePool") {
    bool taken = false;
    SCV_TRY(float_classifier(i, s.x, &taken));
    if (taken) return Status();
  }
  SCV_TRY(output_quant(s));
  s.N = int(s.x.nchw[0]);
  if (t == "Conv") return lower_conv(s);
  if (t == "Gemm" || t == "MatMul") return lower_fc(s);
  if (t == "Add") return lower_add(s);
  if (t == "MaxPool" || t == "AveragePool") return lower_pool(s);
  if (t == "GlobalAveragePool") return lower_global_pool(s);
  return lower_flatten(s);
}

// Where the node's output goes: the QuantizeLinear (and its fused Relu / Clip) that gives s.y,
// or the float classifier output (s.qi = -1, only for a final Gemm / MatMul).
Status Builder::output_quant(Step& s) {
  const OnnxNode& n = *s.node;
  const std::string& w = s.w;
  const std::string& t = n.op_type;
  int& qi = s.qi;
  tfl::Activation& act = s.act;
  std::string yname;
  const bool is_fc = t == "Gemm" || t == "MatMul";
  // Softmax after a float classifier is the graph output.
  Status ost = output_q(s.i, &qi, &act, &yname);
  if (!ost.ok() && is_fc) {
    auto it = consumers.find(n.outputs[0]);
    if (it != consumers.end() && it->second.size() == 1 &&
        m.graph.nodes[size_t(it->second[0])].op_type == "Softmax" &&
        graph_outputs.count(m.graph.nodes[size_t(it->second[0])].outputs[0])) {
      qi = -1;
      act = tfl::Activation::none;
      ost = Status();
    }
  }
  SCV_TRY(ost);
  if (qi < 0 && !is_fc)
    return error(w, ": output '", yname,
                 "' is a float graph output; only a final Gemm / MatMul "
                 "may leave int8 (add QuantizeLinear -> DequantizeLinear)");
  if (qi < 0 && act != tfl::Activation::none)
    return error(w, ": a Relu / Clip on the float classifier output is not supported");
  QAct& y = s.y;
  if (qi >= 0) {
    const OnnxNode& qn = m.graph.nodes[size_t(qi)];
    SCV_TRY(act_qparams(qn, &y));
    auto cit = consumers.find(qn.outputs.empty() ? std::string() : qn.outputs[0]);
    if (cit == consumers.end() || cit->second.empty())
      return error(who(qn), ": a QuantizeLinear without its DequantizeLinear (output not read)");
    for (int c : cit->second)
      if (m.graph.nodes[size_t(c)].op_type != "DequantizeLinear")
        return error(who(qn), ": a QuantizeLinear without its DequantizeLinear: output feeds ",
                     who(m.graph.nodes[size_t(c)]));
    done[size_t(qi)] = true;
  }
  return Status();
}

// Appends the lowered op: its output tensor (shape NHWC, ONNX shape NCHW), recorded as an
// activation, then the operator reading `in` with the node's fused activation.
Status Builder::emit(Step& s, int32_t code, std::vector<int32_t> in, std::vector<int32_t> nhwc,
                     Shape nchw, tfl::OpInfo op) {
  QAct& y = s.y;
  const tfl::DType yt = y.s8 ? tfl::DType::i8 : tfl::DType::u8;
  y.nchw = std::move(nchw);
  y.tensor = add_tensor(m.graph.nodes[size_t(s.qi)].outputs[0], std::move(nhwc), yt, y.scale, y.zp);
  qact[m.graph.nodes[size_t(s.qi)].outputs[0]] = y;
  add_op(code, std::move(in), {y.tensor}, op);
  return Status();
}

Result<const QConst*> Builder::wconst(const Step& s, size_t k) const {
  const OnnxNode& n = *s.node;
  if (k >= n.inputs.size() || n.inputs[k].empty()) return error(s.w, ": input ", k, " is missing");
  auto it = qconst.find(n.inputs[k]);
  if (it == qconst.end())
    return error(s.w, ": input '", n.inputs[k],
                 "' must be a dequantized constant (DequantizeLinear of an int8 initializer)");
  return &it->second;
}

// Bias for weights with per-channel scales ws: int32 at scale sx * ws[o].
Status Builder::bias_i32(const Step& s, size_t k, int oc, const std::vector<float>& ws,
                         std::vector<int32_t>* bq, std::vector<float>* bf) const {
  const OnnxNode& n = *s.node;
  const std::string& w = s.w;
  const QAct& x = s.x;
  bq->assign(size_t(oc), 0);
  if (bf) bf->assign(size_t(oc), 0.0f);
  if (k >= n.inputs.size() || n.inputs[k].empty()) return Status();
  const std::string& bn = n.inputs[k];
  std::vector<float> real(static_cast<size_t>(oc));
  bool exact = false;
  if (auto it = qconst.find(bn); it != qconst.end()) {
    const QConst& b = it->second;
    if (int64_t(b.v.size()) != oc)
      return error(w, ": bias '", bn, "' has ", b.v.size(), " values, expected ", oc);
    exact = b.dtype == kInt32;
    for (int o = 0; o < oc; ++o) {
      const size_t ch = b.axis >= 0 ? size_t(o) : 0;
      const double want = double(x.scale) * double(ws[ws.size() > 1 ? size_t(o) : 0]);
      if (std::fabs(double(b.scale[ch]) - want) > 1e-6 * want) exact = false;
      real[size_t(o)] = float(double(b.v[size_t(o)] - b.zp[ch]) * double(b.scale[ch]));
    }
    if (exact) {
      for (int o = 0; o < oc; ++o)
        (*bq)[size_t(o)] = int32_t(b.v[size_t(o)] - b.zp[b.axis >= 0 ? size_t(o) : 0]);
      return Status();
    }
  } else if (auto jt = init.find(bn); jt != init.end() && jt->second->is_float) {
    if (jt->second->f.numel() != oc)
      return error(w, ": bias '", bn, "' has ", jt->second->f.numel(), " values, expected ", oc);
    for (int o = 0; o < oc; ++o) real[size_t(o)] = jt->second->f[o];
  } else {
    return error(w, ": bias '", bn, "' must be a constant");
  }
  if (bf) {  // float tail: keep the real bias
    *bf = real;
    return Status();
  }
  for (int o = 0; o < oc; ++o) {
    const double s = double(x.scale) * double(ws[ws.size() > 1 ? size_t(o) : 0]);
    (*bq)[size_t(o)] = int32_t(
        std::clamp(std::nearbyint(double(real[size_t(o)]) / s), -2147483647.0, 2147483647.0));
  }
  return Status();
}

// Conv: CONV_2D, or DEPTHWISE_CONV_2D for one filter per channel (a PAD first when needed).
Status Builder::lower_conv(Step& s) {
  const OnnxNode& n = *s.node;
  SCV_ASSIGN_OR_RETURN(const QConst* wc, wconst(s, 1));
  if (wc->dims.size() != 4 || (wc->dtype != kInt8 && wc->dtype != kUint8))
    return error(s.w, ": weights '", n.inputs[1], "' must be 4-D INT8 or UINT8");
  if (wc->axis > 0)
    return error(s.w, ": axis mismatch: weights quantized along axis ", wc->axis,
                 " (per output channel is axis 0)");
  const int O = int(wc->dims[0]), I = int(wc->dims[1]), kh = int(wc->dims[2]),
            kw = int(wc->dims[3]);
  const int C = int(s.x.nchw[1]);
  const int64_t g = attr_i(n, "group", 1);
  const bool dw = g > 1;
  if (dw && !(g == C && O == C && I == 1))
    return error(s.w, ": group ", g,
                 " (only 1 and depthwise with one filter per channel are supported)");
  if (!dw && I != C)
    return error(s.w, ": weights expect ", I, " input channels, the input has ", C);
  std::vector<int64_t> st = attr_ints(n, "strides"), dl = attr_ints(n, "dilations");
  if (st.empty()) st = {1, 1};
  if (dl.empty()) dl = {1, 1};
  if (st.size() != 2 || dl.size() != 2 || st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1)
    return error(s.w, ": strides ", shape_str(st), " / dilations ", shape_str(dl));
  if (auto ks = attr_ints(n, "kernel_shape");
      !ks.empty() && (ks.size() != 2 || ks[0] != kh || ks[1] != kw))
    return error(s.w, ": kernel_shape ", shape_str(ks), " disagrees with the weights ",
                 shape_str(wc->dims));
  tfl::OpInfo op;
  QAct xin;
  int oh, ow;
  SCV_TRY(padding(n, s.x, kh, kw, st, dl, false, false, &xin, &op, &oh, &ow));
  // Weights: OIHW -> OHWI (conv) or [1, kh, kw, O] (depthwise).
  std::vector<uint8_t> wb(size_t(O) * I * kh * kw);
  for (int o = 0; o < O; ++o)
    for (int c = 0; c < I; ++c)
      for (int yy = 0; yy < kh; ++yy)
        for (int xx = 0; xx < kw; ++xx) {
          const int64_t v = wc->v[size_t(((int64_t(o) * I + c) * kh + yy) * kw + xx)];
          const size_t at = dw ? size_t((int64_t(yy) * kw + xx) * O + o)
                               : size_t(((int64_t(o) * kh + yy) * kw + xx) * I + c);
          wb[at] = uint8_t(v);
        }
  const tfl::DType wt = wc->dtype == kInt8 ? tfl::DType::i8 : tfl::DType::u8;
  const int wid = add_const(
      n.inputs[1], dw ? std::vector<int32_t>{1, kh, kw, O} : std::vector<int32_t>{O, kh, kw, I}, wt,
      std::move(wb));
  tfl::Quant& wq = tm.tensors[size_t(wid)].q;
  wq.scale = wc->scale;
  wq.zero_point = wc->zp;
  wq.axis = dw ? 3 : 0;
  std::vector<int32_t> bq;
  SCV_TRY(bias_i32(s, 2, O, wc->scale, &bq, nullptr));
  const int bid = add_const(n.name + "/bias", {O}, tfl::DType::i32, bytes_of(bq));
  return emit(s, dw ? tfl::kDepthwiseConv2d : tfl::kConv2d, {xin.tensor, wid, bid},
              {s.N, oh, ow, O}, {s.N, O, oh, ow}, op);
}

// Gemm / MatMul: FULLY_CONNECTED, or the fp32 classifier after the engine when the output is
// not quantized.
Status Builder::lower_fc(Step& s) {
  const OnnxNode& n = *s.node;
  const std::string& t = n.op_type;
  SCV_ASSIGN_OR_RETURN(const QConst* wc, wconst(s, 1));
  if (wc->dims.size() != 2 || (wc->dtype != kInt8 && wc->dtype != kUint8))
    return error(s.w, ": weights '", n.inputs[1], "' must be 2-D INT8 or UINT8");
  const bool tb = t == "Gemm" && attr_i(n, "transB", 0) != 0;
  if (t == "Gemm" && attr_i(n, "transA", 0) != 0) return error(s.w, ": transA=1 is not supported");
  if (t == "Gemm") {
    const OnnxAttr* al = attr(n, "alpha");
    const OnnxAttr* be = attr(n, "beta");
    if ((al && al->f != 1.0f) || (be && be->f != 1.0f))
      return error(s.w, ": alpha and beta must be 1");
  }
  const int O = int(tb ? wc->dims[0] : wc->dims[1]), K = int(tb ? wc->dims[1] : wc->dims[0]);
  const int want_axis = tb ? 0 : 1;
  if (wc->axis >= 0 && wc->axis != want_axis)
    return error(s.w, ": axis mismatch: weights quantized along axis ", wc->axis,
                 " (per output channel is axis ", want_axis, ")");
  const int64_t xk = s.x.nchw.size() == 2 ? s.x.nchw[1] : -1;
  if (xk != K)
    return error(s.w, ": input of shape ", shape_str(s.x.nchw), ", expected [N, ", K, "]");
  std::vector<uint8_t> wb(size_t(O) * K);
  for (int o = 0; o < O; ++o)
    for (int k = 0; k < K; ++k)
      wb[size_t(o) * K + k] = uint8_t(wc->v[tb ? size_t(o) * K + k : size_t(k) * O + o]);
  if (s.qi < 0) {  // the fp32 classifier, after the engine
    tail.on = true;
    tail.K = K;
    tail.N = O;
    tail.s8 = s.x.s8;
    tail.zx = int32_t(s.x.zp);
    tail.w.resize(wb.size());
    for (int o = 0; o < O; ++o)
      for (int k = 0; k < K; ++k) {
        const int64_t zw = wc->zp[wc->axis >= 0 ? size_t(o) : 0];
        const int64_t v = wc->dtype == kInt8 ? int64_t(int8_t(wb[size_t(o) * K + k]))
                                             : int64_t(wb[size_t(o) * K + k]);
        tail.w[size_t(o) * K + k] = int16_t(v - zw);
      }
    tail.s.resize(size_t(O));
    for (int o = 0; o < O; ++o)
      tail.s[size_t(o)] = s.x.scale * wc->scale[wc->axis >= 0 ? size_t(o) : 0];
    std::vector<int32_t> bq;
    std::vector<float> bf;
    SCV_TRY(bias_i32(s, 2, O, wc->scale, &bq, &bf));
    tail.bq = bq;
    tail.bf = bf;
    out_tensor = s.x.tensor;
    return Status();
  }
  const tfl::DType wt = wc->dtype == kInt8 ? tfl::DType::i8 : tfl::DType::u8;
  const int wid = add_const(n.inputs[1], {O, K}, wt, std::move(wb));
  tm.tensors[size_t(wid)].q.scale = wc->scale;
  tm.tensors[size_t(wid)].q.zero_point = wc->zp;
  tm.tensors[size_t(wid)].q.axis = 0;
  std::vector<int32_t> bq;
  SCV_TRY(bias_i32(s, 2, O, wc->scale, &bq, nullptr));
  const int bid = add_const(n.name + "/bias", {O}, tfl::DType::i32, bytes_of(bq));
  return emit(s, tfl::kFullyConnected, {s.x.tensor, wid, bid}, {s.N, O}, {s.N, O});
}

// Add of two int8 activations of the same shape: ADD.
Status Builder::lower_add(Step& s) {
  const OnnxNode& n = *s.node;
  SCV_ASSIGN_OR_RETURN(QAct b, act_in(n, 1));
  if (s.x.nchw != b.nchw)
    return error(s.w, ": shapes ", shape_str(s.x.nchw), " + ", shape_str(b.nchw),
                 " (equal shapes expected, no broadcasting)");
  return emit(s, tfl::kAdd, {s.x.tensor, b.tensor}, tm.tensors[size_t(s.x.tensor)].shape, s.x.nchw);
}

// MaxPool / AveragePool: MAX_POOL_2D / AVERAGE_POOL_2D (a PAD first when needed).
Status Builder::lower_pool(Step& s) {
  const OnnxNode& n = *s.node;
  const std::string& t = n.op_type;
  if (s.x.nchw.size() != 4) return error(s.w, ": a 4-D input is expected");
  const std::vector<int64_t> ks = attr_ints(n, "kernel_shape");
  std::vector<int64_t> st = attr_ints(n, "strides");
  if (st.empty()) st = {1, 1};
  if (ks.size() != 2 || st.size() != 2 || ks[0] < 1 || ks[1] < 1 || st[0] < 1 || st[1] < 1)
    return error(s.w, ": kernel_shape ", shape_str(ks), " / strides ", shape_str(st));
  if (auto dl = attr_ints(n, "dilations"); !dl.empty() && dl != std::vector<int64_t>{1, 1})
    return error(s.w, ": dilations are not supported");
  const bool is_avg = t == "AveragePool";
  if (is_avg && attr_i(n, "count_include_pad", 0) != 0 &&
      attr_ints(n, "pads") != std::vector<int64_t>{} &&
      attr_ints(n, "pads") != std::vector<int64_t>{0, 0, 0, 0})
    return error(s.w, ": count_include_pad=1 with pads is not supported");
  if (s.y.scale != s.x.scale || s.y.zp != s.x.zp || s.y.s8 != s.x.s8)
    return error(s.w, ": input and output quantization differ (", s.x.scale, ", ", s.x.zp, " vs ",
                 s.y.scale, ", ", s.y.zp, "); pools keep the input's");
  tfl::OpInfo op;
  op.filter_h = int(ks[0]);
  op.filter_w = int(ks[1]);
  QAct xin;
  int oh, ow;
  SCV_TRY(
      padding(n, s.x, op.filter_h, op.filter_w, st, {1, 1}, !is_avg, is_avg, &xin, &op, &oh, &ow));
  const int C = int(s.x.nchw[1]);
  return emit(s, is_avg ? tfl::kAveragePool2d : tfl::kMaxPool2d, {xin.tensor}, {s.N, oh, ow, C},
              {s.N, C, oh, ow}, op);
}

// GlobalAveragePool kept in int8: MEAN over H and W.
Status Builder::lower_global_pool(Step& s) {
  const OnnxNode& n = *s.node;
  if (s.x.nchw.size() != 4) return error(s.w, ": a 4-D input is expected");
  if (s.act != tfl::Activation::none)
    return error(s.w, ": a Relu after GlobalAveragePool is not supported");
  const int C = int(s.x.nchw[1]);
  const int axes =
      add_const(n.name + "/axes", {2}, tfl::DType::i32, bytes_of(std::vector<int32_t>{1, 2}));
  tfl::OpInfo op;
  op.keep_dims = true;
  return emit(s, tfl::kMean, {s.x.tensor, axes}, {s.N, 1, 1, C}, {s.N, C, 1, 1}, op);
}

// Flatten / Reshape to [N, features]: the same bytes when H = W = 1 (NHWC and NCHW agree).
Status Builder::lower_flatten(Step& s) {
  const OnnxNode& n = *s.node;
  const std::string& t = n.op_type;
  if (s.act != tfl::Activation::none) return error(s.w, ": a Relu after ", t, " is not supported");
  int64_t feat = 1;
  for (size_t d = 1; d < s.x.nchw.size(); ++d) feat *= s.x.nchw[d];
  if (t == "Flatten" && attr_i(n, "axis", 1) != 1) return error(s.w, ": only axis 1 is supported");
  if (t == "Reshape") {
    std::vector<int64_t> shp;
    if (n.inputs.size() > 1)
      if (auto it = init.find(n.inputs[1]); it != init.end() && !it->second->is_float)
        shp = it->second->ints;
    const bool ok = shp.size() == 2 && (shp[0] == s.N || shp[0] == 0 || shp[0] == -1) &&
                    (shp[1] == feat || shp[1] == -1) && !(shp[0] == -1 && shp[1] == -1);
    if (!ok) return error(s.w, ": only a constant reshape to [N, ", feat, "] is supported");
  }
  if (s.x.nchw.size() == 4 && (s.x.nchw[2] != 1 || s.x.nchw[3] != 1))
    return error(s.w, ": flattening a ", shape_str(s.x.nchw),
                 " tensor (only H = W = 1 is supported: the engine's NHWC order differs)");
  if (s.y.scale != s.x.scale || s.y.zp != s.x.zp || s.y.s8 != s.x.s8)
    return error(s.w, ": input and output quantization differ; ", t, " keeps the input's");
  return emit(s, tfl::kReshape, {s.x.tensor}, {s.N, int32_t(feat)}, {s.N, feat});
}

}  // namespace scv::qdq
