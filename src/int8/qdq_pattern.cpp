// QDQ pattern recognition for Int8Session: the graph walk, Q / DQ nodes of constants and
// activations, the QuantizeLinear after an op, the float classifier tail and explicit padding.
#include <algorithm>
#include <cmath>

#include "int8/qdq_builder.h"

namespace scv::qdq {

Status Builder::build() {
  for (const OnnxTensor& t : m.graph.initializers) init[t.name] = &t;
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
    const OnnxNode& n = m.graph.nodes[i];
    if (n.op_type == "Constant") {
      for (const OnnxAttr& a : n.attrs)
        if (a.name == "value" && !n.outputs.empty()) init[n.outputs[0]] = &a.t;
    }
    for (const std::string& in : n.inputs)
      if (!in.empty()) consumers[in].push_back(int(i));
  }
  for (const OnnxValueInfo& o : m.graph.outputs) graph_outputs.insert(o.name);
  std::vector<const OnnxValueInfo*> ins;
  for (const OnnxValueInfo& v : m.graph.inputs)
    if (!init.count(v.name)) ins.push_back(&v);
  if (ins.size() != 1 || m.graph.outputs.size() != 1)
    return error("a QDQ model with one input and one output is expected, found ", ins.size(),
                 " and ", m.graph.outputs.size());
  const OnnxValueInfo& in = *ins[0];
  if (!in.is_tensor || in.elem_type != kFloat || !in.has_shape || in.shape.size() != 4)
    return error("input '", in.name, "': a FLOAT NCHW tensor is expected");
  input_name = in.name;
  input_nchw = in.shape;
  if (input_nchw[0] < 0) input_nchw[0] = batch;
  if (input_nchw[0] != batch)
    return error("input '", in.name, "' has batch ", input_nchw[0], "; the session wants ", batch);
  for (int64_t d : input_nchw)
    if (d <= 0 || d > (1 << 20)) return error("input '", in.name, "': shape ", shape_str(in.shape));
  done.assign(m.graph.nodes.size(), false);
  // Constants first (weights may be dequantized after an op that looks ahead at them).
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
    const OnnxNode& n = m.graph.nodes[i];
    if (n.inputs.empty()) continue;
    if (n.op_type == "QuantizeLinear" && init.count(n.inputs[0])) {
      SCV_TRY(on_qdq(i));
      done[i] = true;
    } else if (n.op_type == "DequantizeLinear" &&
               (init.count(n.inputs[0]) || qconst.count(n.inputs[0]))) {
      SCV_TRY(on_qdq(i));
      done[i] = true;
    }
  }
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
    if (done[i]) continue;
    const OnnxNode& n = m.graph.nodes[i];
    if (!n.domain.empty() && n.domain != "ai.onnx")
      return error(who(n), ": domain '", n.domain, "' is not supported");
    if (n.op_type == "Constant") continue;
    Status st;
    if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear")
      st = on_qdq(i);
    else
      st = on_compute(i);
    SCV_TRY(st);
    done[i] = true;
  }
  if (out_tensor < 0)
    return error("the graph output '", m.graph.outputs[0].name, "' is not computed");
  tm.outputs = {out_tensor};
  tm.storage = store;
  tm.version = 3;
  return Status();
}

// QuantizeLinear / DequantizeLinear: the data input (then scale and zero point) and one output.
Status Builder::on_qdq(size_t i) {
  const OnnxNode& n = m.graph.nodes[i];
  const std::string w = who(n);
  if (n.inputs.empty() || n.outputs.empty()) return error(w, ": expected an input and an output");
  if (n.op_type == "QuantizeLinear") return on_quantize(n, w, n.inputs[0]);
  return on_dequantize(n, w, n.inputs[0]);
}

// A QuantizeLinear not claimed by the op before it: of a constant, of the graph input, or a
// requantization of a dequantized activation.
Status Builder::on_quantize(const OnnxNode& n, const std::string& w, const std::string& x) {
  // Every QuantizeLinear output must be read by DequantizeLinear nodes only.
  auto cit = consumers.find(n.outputs[0]);
  if (cit == consumers.end() || cit->second.empty())
    return error(w, ": a QuantizeLinear without its DequantizeLinear (output '", n.outputs[0],
                 "' is not read)");
  for (int c : cit->second)
    if (m.graph.nodes[size_t(c)].op_type != "DequantizeLinear")
      return error(w, ": a QuantizeLinear without its DequantizeLinear: output '", n.outputs[0],
                   "' feeds ", who(m.graph.nodes[size_t(c)]));
  auto it = init.find(x);
  if (it != init.end()) {  // a float constant quantized in the file: quantize it here
    if (!it->second->status.ok() || !it->second->is_float)
      return error(w, ": input '", x, "' must be a float tensor");
    QConst c;
    c.node = n.name;
    c.dims = it->second->dims;
    std::vector<float> sc;
    int64_t zdt;
    SCV_TRY(qparams(n, c.dims, false, 0, &sc, &c.zp, &c.axis, &zdt));
    c.dtype = zdt;
    c.scale = sc;
    const Tensor& f = it->second->f;
    const int64_t lo = zdt == kInt8 ? -128 : 0, hi = zdt == kInt8 ? 127 : 255;
    int64_t inner = 1;
    if (c.axis >= 0)
      for (size_t d = size_t(c.axis) + 1; d < c.dims.size(); ++d) inner *= c.dims[d];
    c.v.resize(size_t(f.numel()));
    for (int64_t k = 0; k < f.numel(); ++k) {
      const size_t ch = c.axis >= 0 ? size_t((k / inner) % int64_t(sc.size())) : 0;
      c.v[size_t(k)] = std::clamp<int64_t>(std::llrint(f[k] / sc[ch]) + c.zp[ch], lo, hi);
    }
    qconst[n.outputs[0]] = std::move(c);
    return Status();
  }
  QAct y;
  SCV_TRY(act_qparams(n, &y));
  if (x == input_name) {
    y.nchw = input_nchw;
    const std::vector<int32_t> nhwc = {int32_t(input_nchw[0]), int32_t(input_nchw[2]),
                                       int32_t(input_nchw[3]), int32_t(input_nchw[1])};
    const int fin = add_tensor(x, nhwc, tfl::DType::f32);
    tm.inputs = {fin};
    y.tensor =
        add_tensor(n.outputs[0], nhwc, y.s8 ? tfl::DType::i8 : tfl::DType::u8, y.scale, y.zp);
    add_op(tfl::kQuantize, {fin}, {y.tensor});
  } else if (auto a = qact.find(x); a != qact.end() && a->first != a->second.q_node) {
    const QAct& src = a->second;
    y.nchw = src.nchw;
    y.tensor = add_tensor(n.outputs[0], tm.tensors[size_t(src.tensor)].shape,
                          y.s8 ? tfl::DType::i8 : tfl::DType::u8, y.scale, y.zp);
    add_op(tfl::kQuantize, {src.tensor}, {y.tensor});
  } else {
    return error(w, ": input '", x,
                 "' is neither the model input, a constant, nor the output of an op this reader "
                 "maps (Conv, Gemm, MatMul, Add, MaxPool, AveragePool, GlobalAveragePool, "
                 "Flatten, Reshape)");
  }
  qact[n.outputs[0]] = y;
  return Status();
}

Status Builder::on_dequantize(const OnnxNode& n, const std::string& w, const std::string& x) {
  if (auto it = init.find(x); it != init.end()) {
    const OnnxTensor& t = *it->second;
    if (!t.status.ok()) return error(w, ": ", t.status.message());
    if (t.is_float || (t.dtype != kInt8 && t.dtype != kUint8 && t.dtype != kInt32))
      return error(w, ": input '", x, "' of type ", dtype_name(t.dtype),
                   " (INT8, UINT8 or INT32 expected)");
    QConst c;
    c.node = n.name;
    c.dims = t.dims;
    c.dtype = t.dtype;
    c.v = t.ints;
    const int64_t lo = t.dtype == kInt8 ? -128 : t.dtype == kUint8 ? 0 : INT32_MIN;
    const int64_t hi = t.dtype == kInt8 ? 127 : t.dtype == kUint8 ? 255 : INT32_MAX;
    for (int64_t v : c.v)
      if (v < lo || v > hi)
        return error(w, ": value ", v, " of '", x, "' outside the ", dtype_name(t.dtype), " range");
    int64_t zdt;
    SCV_TRY(qparams(n, c.dims, true, t.dtype, &c.scale, &c.zp, &c.axis, &zdt));
    qconst[n.outputs[0]] = std::move(c);
    return Status();
  }
  if (auto it = qconst.find(x); it != qconst.end()) {
    QConst c = it->second;
    std::vector<float> sc;
    std::vector<int64_t> zp;
    int axis;
    int64_t zdt;
    SCV_TRY(qparams(n, c.dims, true, c.dtype, &sc, &zp, &axis, &zdt));
    if (sc != c.scale || zp != c.zp)
      return error(w, ": scale or zero point differ from its QuantizeLinear '", c.node, "'");
    c.node = n.name;
    qconst[n.outputs[0]] = std::move(c);
    return Status();
  }
  auto it = qact.find(x);
  if (it == qact.end() || it->first != x || it->second.q_node.empty())
    return error(w, ": input '", x, "' is neither a constant nor the output of a QuantizeLinear");
  QAct a = it->second;
  std::vector<float> sc;
  std::vector<int64_t> zp;
  int axis;
  int64_t zdt;
  SCV_TRY(qparams(n, {}, true, a.s8 ? kInt8 : kUint8, &sc, &zp, &axis, &zdt));
  if (sc.size() != 1 || sc[0] != a.scale || zp[0] != a.zp)
    return error(w, ": scale or zero point differ from its QuantizeLinear '", a.q_node, "'");
  qact[n.outputs[0]] = a;
  if (graph_outputs.count(n.outputs[0])) {
    const int y = add_tensor(n.outputs[0], tm.tensors[size_t(a.tensor)].shape, tfl::DType::f32);
    add_op(tfl::kDequantize, {a.tensor}, {y});
    out_tensor = y;
    out_nchw = a.nchw;
  }
  return Status();
}

Status Builder::output_q(size_t i, int* q, tfl::Activation* act, std::string* final_name) {
  const OnnxNode& n = m.graph.nodes[i];
  *act = tfl::Activation::none;
  std::string v = n.outputs.empty() ? std::string() : n.outputs[0];
  for (int hop = 0; hop < 2; ++hop) {
    *final_name = v;
    if (graph_outputs.count(v)) {
      *q = -1;
      return Status();
    }
    auto it = consumers.find(v);
    if (it == consumers.end() || it->second.size() != 1)
      return error(who(n), ": output '", v, "' must be read by exactly one QuantizeLinear (found ",
                   it == consumers.end() ? 0 : it->second.size(), " readers)");
    const size_t c = size_t(it->second[0]);
    const OnnxNode& cn = m.graph.nodes[c];
    if (cn.op_type == "QuantizeLinear") {
      *q = int(c);
      return Status();
    }
    if (hop == 0 && (cn.op_type == "Relu" || cn.op_type == "Clip")) {
      if (cn.op_type == "Relu") {
        *act = tfl::Activation::relu;
      } else {  // Clip(0, 6) only, as min/max initializers (opset 11+) or attributes
        float lo = -INFINITY, hi = INFINITY;
        if (const OnnxAttr* a = attr(cn, "min")) lo = a->f;
        if (const OnnxAttr* a = attr(cn, "max")) hi = a->f;
        auto cf = [&](size_t k, float* v) {
          if (k < cn.inputs.size() && !cn.inputs[k].empty()) {
            auto t = init.find(cn.inputs[k]);
            if (t != init.end() && t->second->is_float && t->second->f.numel() == 1)
              *v = t->second->f[0];
          }
        };
        cf(1, &lo);
        cf(2, &hi);
        if (lo == 0 && hi == 6)
          *act = tfl::Activation::relu6;
        else if (lo == 0 && std::isinf(hi))
          *act = tfl::Activation::relu;
        else
          return error(who(cn), ": only Clip(0, 6) and Clip(0) are fused");
      }
      done[c] = true;
      v = cn.outputs.empty() ? std::string() : cn.outputs[0];
      continue;
    }
    return error(who(n), ": output '", v, "' is not quantized (a QuantizeLinear must follow; ",
                 who(cn), " reads it)");
  }
  return error(who(n), ": output '", v, "' is not quantized");
}

// GlobalAveragePool -> [Flatten | Reshape] -> Gemm | MatMul -> [Softmax] -> graph output, in
// float after the engine (the pool's output not requantized). *taken false: not this pattern.
Status Builder::float_classifier(size_t i, const QAct& x, bool* taken) {
  *taken = false;
  auto sole = [&](const std::string& v) -> int {
    auto it = consumers.find(v);
    return it != consumers.end() && it->second.size() == 1 && !graph_outputs.count(v)
               ? it->second[0]
               : -1;
  };
  const OnnxNode& gap = m.graph.nodes[i];
  int c = sole(gap.outputs[0]);
  if (c < 0) return Status();
  std::vector<size_t> chain;
  if (m.graph.nodes[size_t(c)].op_type == "Flatten" ||
      m.graph.nodes[size_t(c)].op_type == "Reshape") {
    chain.push_back(size_t(c));
    c = m.graph.nodes[size_t(c)].outputs.empty() ? -1 : sole(m.graph.nodes[size_t(c)].outputs[0]);
    if (c < 0) return Status();
  }
  const OnnxNode& g = m.graph.nodes[size_t(c)];
  if (g.op_type != "Gemm" && g.op_type != "MatMul") return Status();
  if (g.inputs.empty() || g.outputs.empty()) return Status();
  if (g.inputs[0] != (chain.empty() ? gap.outputs[0] : m.graph.nodes[chain[0]].outputs[0]))
    return Status();
  bool softmax = false;
  if (!graph_outputs.count(g.outputs[0])) {
    const int sm = sole(g.outputs[0]);
    if (sm < 0 || m.graph.nodes[size_t(sm)].op_type != "Softmax" ||
        m.graph.nodes[size_t(sm)].outputs.empty() ||
        !graph_outputs.count(m.graph.nodes[size_t(sm)].outputs[0]))
      return Status();
    softmax = true;
    chain.push_back(size_t(sm));
  }
  const std::string w = who(g);
  if (x.nchw.size() != 4) return error(who(gap), ": a 4-D input is expected");
  auto wit = g.inputs.size() > 1 ? qconst.find(g.inputs[1]) : qconst.end();
  if (wit == qconst.end())
    return error(
        w, ": weights must be a dequantized constant (DequantizeLinear of an int8 initializer)");
  const QConst& wc = wit->second;
  const bool tb = g.op_type == "Gemm" && attr_i(g, "transB", 0) != 0;
  if (g.op_type == "Gemm") {
    const OnnxAttr* al = attr(g, "alpha");
    const OnnxAttr* be = attr(g, "beta");
    if (attr_i(g, "transA", 0) != 0 || (al && al->f != 1.0f) || (be && be->f != 1.0f))
      return error(w, ": transA, alpha and beta must keep their defaults");
  }
  if (wc.dims.size() != 2) return error(w, ": 2-D weights expected");
  const int O = int(tb ? wc.dims[0] : wc.dims[1]), K = int(tb ? wc.dims[1] : wc.dims[0]);
  if (wc.axis >= 0 && wc.axis != (tb ? 0 : 1))
    return error(w, ": axis mismatch: weights quantized along axis ", wc.axis,
                 " (per output channel is axis ", tb ? 0 : 1, ")");
  if (K != x.nchw[1])
    return error(w, ": weights take ", K, " features, the pool gives ", x.nchw[1]);
  tail.on = tail.pool = true;
  tail.softmax = softmax;
  tail.K = K;
  tail.N = O;
  tail.HW = int(x.nchw[2] * x.nchw[3]);
  tail.s8 = x.s8;
  tail.zx = int32_t(x.zp);
  tail.sx = x.scale;
  tail.wf.resize(size_t(O) * K);
  for (int o = 0; o < O; ++o) {
    const size_t ch = wc.axis >= 0 ? size_t(o) : 0;
    for (int k = 0; k < K; ++k) {
      const int64_t v = wc.v[tb ? size_t(o) * K + k : size_t(k) * O + o];
      tail.wf[size_t(o) * K + k] = float(v - wc.zp[ch]) * wc.scale[ch];
    }
  }
  tail.bf.assign(size_t(O), 0.0f);
  if (g.op_type == "Gemm" && g.inputs.size() > 2 && !g.inputs[2].empty()) {
    const std::string& bn = g.inputs[2];
    if (auto bt = init.find(bn);
        bt != init.end() && bt->second->is_float && bt->second->f.numel() == O) {
      for (int o = 0; o < O; ++o) tail.bf[size_t(o)] = bt->second->f[o];
    } else if (auto bq = qconst.find(bn); bq != qconst.end() && int64_t(bq->second.v.size()) == O) {
      const QConst& b = bq->second;
      for (int o = 0; o < O; ++o) {
        const size_t ch = b.axis >= 0 ? size_t(o) : 0;
        tail.bf[size_t(o)] = float(double(b.v[size_t(o)] - b.zp[ch]) * double(b.scale[ch]));
      }
    } else {
      return error(w, ": bias '", bn, "' must be a constant of ", O, " values");
    }
  }
  for (size_t k : chain) done[k] = true;
  done[size_t(c)] = true;
  out_tensor = x.tensor;
  *taken = true;
  return Status();
}

Status Builder::padding(const OnnxNode& n, const QAct& x, int kh, int kw,
                        const std::vector<int64_t>& st, const std::vector<int64_t>& dl, bool is_max,
                        bool is_avg, QAct* xin, tfl::OpInfo* op, int* oh, int* ow) {
  const std::string w = who(n);
  const int sh = int(st[0]), sw = int(st[1]), dh = int(dl[0]), dw = int(dl[1]);
  op->stride_h = sh;
  op->stride_w = sw;
  op->dilation_h = dh;
  op->dilation_w = dw;
  const std::string ap = attr(n, "auto_pad") ? attr(n, "auto_pad")->s : "NOTSET";
  std::vector<int64_t> pads = attr_ints(n, "pads");
  if (pads.empty()) pads = {0, 0, 0, 0};
  if (pads.size() != 4) return error(w, ": pads of ", pads.size(), " values (4 expected)");
  for (int64_t p : pads)
    if (p < 0 || p > 1024) return error(w, ": pad ", p, " out of range");
  if (ap != "NOTSET" && ap != "VALID" && ap != "")
    return error(w, ": auto_pad ", ap, " is not supported");
  if (ap == "VALID") pads = {0, 0, 0, 0};
  if (attr_i(n, "ceil_mode", 0) != 0) return error(w, ": ceil_mode=1 is not supported");
  const int H = int(x.nchw[2]), W = int(x.nchw[3]);
  *oh = int((H + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh + 1);
  *ow = int((W + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw + 1);
  if (*oh < 1 || *ow < 1) return error(w, ": the window is larger than the padded input");
  *xin = x;
  auto same = [](int in, int k, int s, int d, int out, int64_t b, int64_t a) {
    const int o = (in + s - 1) / s;
    const int total = std::max((o - 1) * s + d * (k - 1) + 1 - in, 0);
    return o == out && b == total / 2 && a == total - total / 2;
  };
  if (pads == std::vector<int64_t>{0, 0, 0, 0}) {
    op->padding = tfl::Padding::valid;
  } else if (same(H, kh, sh, dh, *oh, pads[0], pads[2]) &&
             same(W, kw, sw, dw, *ow, pads[1], pads[3])) {
    op->padding = tfl::Padding::same;
  } else {
    if (is_avg) return error(w, ": pads ", shape_str(pads), " are not supported for AveragePool");
    const int64_t qmin = x.s8 ? -128 : 0;
    if (is_max && x.zp != qmin)
      return error(w, ": explicit pads on an input whose zero point (", x.zp,
                   ") is not the type's minimum are not supported for MaxPool");
    // PAD with the zero point (a real 0; for MaxPool the minimum, as -inf would be).
    const std::vector<int32_t> pv = {
        0, 0, int32_t(pads[0]), int32_t(pads[2]), int32_t(pads[1]), int32_t(pads[3]), 0, 0};
    const int pt = add_const(n.name + "/pads", {4, 2}, tfl::DType::i32, bytes_of(pv));
    xin->nchw = {x.nchw[0], x.nchw[1], H + pads[0] + pads[2], W + pads[1] + pads[3]};
    xin->tensor = add_tensor(n.name + "/padded",
                             {int32_t(xin->nchw[0]), int32_t(xin->nchw[2]), int32_t(xin->nchw[3]),
                              int32_t(xin->nchw[1])},
                             x.s8 ? tfl::DType::i8 : tfl::DType::u8, x.scale, x.zp);
    add_op(tfl::kPad, {x.tensor, pt}, {xin->tensor});
    op->padding = tfl::Padding::valid;
  }
  return Status();
}

}  // namespace scv::qdq
