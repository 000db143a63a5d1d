// Int8Session: an ONNX QDQ model mapped onto the quantized engine (see scratchcv/int8.h).
//
// The QDQ graph is read with the ONNX decoder (src/io/onnx_decode.cpp) and rewritten as the
// in-memory TFLite model the quantized engine already runs (scratchcv/qsession.h): every
// DequantizeLinear -> op -> [Relu|Clip] -> QuantizeLinear group becomes one int8 operator
// (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MAX/AVERAGE_POOL_2D, MEAN, RESHAPE) on NHWC
// tensors; explicit pads that TFLite's SAME/VALID cannot express become a PAD (with the zero
// point) before the op. A final Gemm / MatMul whose output is not quantized runs here, after the
// engine: int8 x int8 -> int32 -> fp32, as ONNX Runtime's QGemm with a float output.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "io/onnx_proto.h"
#include "scratchcv/file_util.h"
#include "scratchcv/int8.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"

namespace scv {

using namespace onnx;
namespace tfl = tflite;

namespace {

// A quantized constant (a DequantizeLinear of an initializer, or of a QuantizeLinear of one).
struct QConst {
  std::string node;  // the DequantizeLinear, for messages
  Shape dims;
  int64_t dtype = 0;  // kInt8, kUint8, kInt32
  std::vector<int64_t> v;
  std::vector<float> scale;
  std::vector<int64_t> zp;
  int axis = -1;  // -1: per tensor
};

// Quantization of an activation (the QuantizeLinear that made it).
struct QAct {
  int tensor = -1;  // tflite tensor id
  Shape nchw;       // ONNX-order shape
  float scale = 0;
  int64_t zp = 0;
  bool s8 = true;
  std::string q_node;
};

// The fp32 classifier after the engine: out[n][o] = (sum_k (x - zx) * w[o][k] + bq[o]) * s[o]
// (+ bf[o] when the bias was float).
// With `pool`, the input is the int8 [N, H, W, K] map before a float global average pool:
// out[n][o] = sum_k (sx * mean_hw (x - zx)) * wf[o][k] + bf[o].
struct Tail {
  bool on = false, softmax = false, s8 = true, pool = false;
  int K = 0, N = 0, HW = 1;
  float sx = 0;
  std::vector<float> wf;  // pool: [N][K] dequantized weights
  int32_t zx = 0;
  std::vector<int16_t> w;  // [N][K], zero point removed
  std::vector<int32_t> bq;
  std::vector<float> s, bf;
};

struct Builder {
  const OnnxModel& m;
  int batch;
  tfl::Model tm;
  std::shared_ptr<std::deque<std::vector<uint8_t>>> store =
      std::make_shared<std::deque<std::vector<uint8_t>>>();
  std::map<std::string, const OnnxTensor*> init;
  std::map<std::string, std::vector<int>> consumers;
  std::set<std::string> graph_outputs;
  std::map<std::string, QConst> qconst;  // outputs of constant Q / DQ nodes
  std::map<std::string, QAct> qact;      // Q outputs and DQ outputs of activations
  std::vector<bool> done;
  Tail tail;
  int out_tensor = -1;
  Shape out_nchw;  // the output's ONNX shape (the engine holds it NHWC)
  std::string input_name;
  Shape input_nchw;

  explicit Builder(const OnnxModel& mm, int b) : m(mm), batch(b) {}

  static std::string who(const OnnxNode& n) { return str("node '", n.name, "' (", n.op_type, ")"); }
  const OnnxAttr* attr(const OnnxNode& n, const char* name) const {
    for (const OnnxAttr& a : n.attrs)
      if (a.name == name) return &a;
    return nullptr;
  }
  int64_t attr_i(const OnnxNode& n, const char* name, int64_t d) const {
    const OnnxAttr* a = attr(n, name);
    return a ? a->i : d;
  }
  std::vector<int64_t> attr_ints(const OnnxNode& n, const char* name) const {
    const OnnxAttr* a = attr(n, name);
    return a ? a->ints : std::vector<int64_t>{};
  }

  int add_tensor(const std::string& name, std::vector<int32_t> shape, tfl::DType t, float scale = 0,
                 int64_t zp = 0) {
    tfl::TensorInfo ti;
    ti.name = name;
    ti.shape = std::move(shape);
    ti.type = t;
    if (scale > 0) {
      ti.q.scale = {scale};
      ti.q.zero_point = {zp};
    }
    tm.tensors.push_back(std::move(ti));
    return int(tm.tensors.size()) - 1;
  }
  int add_const(const std::string& name, std::vector<int32_t> shape, tfl::DType t,
                std::vector<uint8_t> bytes) {
    store->push_back(std::move(bytes));
    const int id = add_tensor(name, std::move(shape), t);
    tm.tensors[size_t(id)].data = store->back().data();
    tm.tensors[size_t(id)].data_size = store->back().size();
    tm.tensors[size_t(id)].buffer = uint32_t(store->size());
    return id;
  }
  template <typename T>
  static std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
    std::vector<uint8_t> b(v.size() * sizeof(T));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
  }
  void add_op(int32_t code, std::vector<int32_t> in, std::vector<int32_t> out,
              const tfl::OpInfo& proto = {}) {
    tfl::OpInfo op = proto;
    op.code = code;
    op.inputs = std::move(in);
    op.outputs = std::move(out);
    tm.ops.push_back(std::move(op));
  }

  // Scale, zero point and axis of a Q / DQ node, checked. `data_rank`/`data_dims`: the tensor
  // they apply to (per-channel sizes are checked against it when known).
  Status qparams(const OnnxNode& n, const Shape& data_dims, bool dequant, int64_t data_dtype,
                 std::vector<float>* scale, std::vector<int64_t>* zp, int* axis,
                 int64_t* zp_dtype) const {
    const std::string w = who(n);
    if (n.inputs.size() < 2 || n.inputs[1].empty()) return error(w, ": the scale input is missing");
    auto it = init.find(n.inputs[1]);
    if (it == init.end() || !it->second->status.ok() || !it->second->is_float)
      return error(w, ": scale '", n.inputs[1], "' must be a float initializer");
    const Tensor& st = it->second->f;
    scale->assign(st.data(), st.data() + st.numel());
    if (scale->empty()) return error(w, ": empty scale");
    for (float s : *scale)
      if (!(s > 0) || !std::isfinite(s))
        return error(w, ": scale ", s, " must be a finite number > 0");
    *zp_dtype = dequant ? data_dtype : kUint8;
    zp->assign(scale->size(), 0);
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      auto zt = init.find(n.inputs[2]);
      if (zt == init.end() || !zt->second->status.ok() || zt->second->is_float)
        return error(w, ": zero point '", n.inputs[2], "' must be an integer initializer");
      const OnnxTensor& z = *zt->second;
      if (z.ints.size() != scale->size())
        return error(w, ": ", z.ints.size(), " zero points for ", scale->size(), " scales");
      *zp_dtype = z.dtype;
      if (dequant && z.dtype != data_dtype)
        return error(w, ": zero point of type ", dtype_name(z.dtype), " for data of type ",
                     dtype_name(data_dtype));
      const int64_t lo = z.dtype == kInt8 ? -128 : z.dtype == kUint8 ? 0 : 0;
      const int64_t hi = z.dtype == kInt8 ? 127 : z.dtype == kUint8 ? 255 : 0;
      if (z.dtype != kInt8 && z.dtype != kUint8 && z.dtype != kInt32)
        return error(w, ": zero point of type ", dtype_name(z.dtype), " (INT8 or UINT8 expected)");
      for (int64_t v : z.ints)
        if (v < lo || v > hi)
          return error(w, ": zero point ", v, " outside the ", dtype_name(z.dtype), " range [", lo,
                       ", ", hi, "]", z.dtype == kInt32 ? " (an INT32 bias has zero point 0)" : "");
      *zp = z.ints;
    }
    *axis = -1;
    if (scale->size() > 1 || st.shape().size() == 1) {
      int64_t ax = attr_i(n, "axis", 1);
      const int64_t rank = int64_t(data_dims.size());
      if (rank > 0) {
        if (ax < -rank || ax >= rank)
          return error(w, ": axis ", ax, " out of range for a tensor of rank ", rank);
        if (ax < 0) ax += rank;
        if (data_dims[size_t(ax)] != int64_t(scale->size()) && scale->size() > 1)
          return error(w, ": axis mismatch: ", scale->size(), " scales along axis ", ax,
                       " of a tensor of shape ", shape_str(data_dims), " (", data_dims[size_t(ax)],
                       " expected)");
      }
      *axis = scale->size() > 1 ? int(ax) : -1;
    }
    return Status();
  }

  Status build();
  Status on_quantize(size_t i);
  Status on_dequantize(size_t i);
  Status on_compute(size_t i);
  // Where node i's float output goes: a QuantizeLinear (possibly through Relu / Clip). On
  // success *q is its index (or -1 when the output is a graph output), *act the fused clamp.
  Status output_q(size_t i, int* q, tfl::Activation* act, std::string* final_name);
  Result<QAct> act_in(const OnnxNode& n, size_t k) const {
    if (k >= n.inputs.size() || n.inputs[k].empty())
      return error(who(n), ": input ", k, " is missing");
    auto it = qact.find(n.inputs[k]);
    if (it == qact.end() || it->second.q_node.empty() ||
        n.inputs[k] == it->second.q_node /* never */)
      return error(who(n), ": input '", n.inputs[k],
                   "' is not dequantized from int8 (every data input of an op in a QDQ model "
                   "comes from a DequantizeLinear)");
    return it->second;
  }
  Status float_classifier(size_t i, const QAct& x, bool* taken);
  Status padding(const OnnxNode& n, const QAct& x, int kh, int kw, int sh, int sw, int dh, int dw,
                 bool is_max, bool is_avg, QAct* xin, tfl::OpInfo* op, int* oh, int* ow);
};

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
      SCV_TRY(on_quantize(i));
      done[i] = true;
    } else if (n.op_type == "DequantizeLinear" &&
               (init.count(n.inputs[0]) || qconst.count(n.inputs[0]))) {
      SCV_TRY(on_dequantize(i));
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
    if (n.op_type == "QuantizeLinear")
      st = on_quantize(i);
    else if (n.op_type == "DequantizeLinear")
      st = on_dequantize(i);
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

// A QuantizeLinear not claimed by the op before it: of a constant, of the graph input, or a
// requantization of a dequantized activation.
Status Builder::on_quantize(size_t i) {
  const OnnxNode& n = m.graph.nodes[i];
  const std::string w = who(n);
  if (n.inputs.empty() || n.outputs.empty()) return error(w, ": expected an input and an output");
  const std::string& x = n.inputs[0];
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
  std::vector<float> sc;
  std::vector<int64_t> zp;
  int axis;
  int64_t zdt;
  SCV_TRY(qparams(n, {}, false, 0, &sc, &zp, &axis, &zdt));
  if (sc.size() != 1)
    return error(w, ": per-channel quantization of an activation is not supported");
  if (zdt != kInt8 && zdt != kUint8)
    return error(w, ": output type ", dtype_name(zdt), " (INT8 or UINT8 expected)");
  y.scale = sc[0];
  y.zp = zp[0];
  y.s8 = zdt == kInt8;
  y.q_node = n.name;
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

Status Builder::on_dequantize(size_t i) {
  const OnnxNode& n = m.graph.nodes[i];
  const std::string w = who(n);
  if (n.inputs.empty() || n.outputs.empty()) return error(w, ": expected an input and an output");
  const std::string& x = n.inputs[0];
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

Status Builder::padding(const OnnxNode& n, const QAct& x, int kh, int kw, int sh, int sw, int dh,
                        int dw, bool is_max, bool is_avg, QAct* xin, tfl::OpInfo* op, int* oh,
                        int* ow) {
  const std::string w = who(n);
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
  SCV_ASSIGN_OR_RETURN(QAct x, act_in(n, 0));
  if (t == "GlobalAveragePool") {
    bool taken = false;
    SCV_TRY(float_classifier(i, x, &taken));
    if (taken) return Status();
  }
  int qi;
  tfl::Activation act;
  std::string yname;
  const bool is_fc = t == "Gemm" || t == "MatMul";
  // Softmax after a float classifier is the graph output.
  Status ost = output_q(i, &qi, &act, &yname);
  bool to_softmax = false;
  if (!ost.ok() && is_fc) {
    auto it = consumers.find(n.outputs[0]);
    if (it != consumers.end() && it->second.size() == 1 &&
        m.graph.nodes[size_t(it->second[0])].op_type == "Softmax" &&
        graph_outputs.count(m.graph.nodes[size_t(it->second[0])].outputs[0])) {
      to_softmax = true;
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
  QAct y;
  if (qi >= 0) {
    const OnnxNode& qn = m.graph.nodes[size_t(qi)];
    std::vector<float> sc;
    std::vector<int64_t> zp;
    int axis;
    int64_t zdt;
    SCV_TRY(qparams(qn, {}, false, 0, &sc, &zp, &axis, &zdt));
    if (sc.size() != 1)
      return error(who(qn), ": per-channel quantization of an activation is not supported");
    if (zdt != kInt8 && zdt != kUint8)
      return error(who(qn), ": output type ", dtype_name(zdt), " (INT8 or UINT8 expected)");
    auto cit = consumers.find(qn.outputs.empty() ? std::string() : qn.outputs[0]);
    if (cit == consumers.end() || cit->second.empty())
      return error(who(qn), ": a QuantizeLinear without its DequantizeLinear (output not read)");
    for (int c : cit->second)
      if (m.graph.nodes[size_t(c)].op_type != "DequantizeLinear")
        return error(who(qn), ": a QuantizeLinear without its DequantizeLinear: output feeds ",
                     who(m.graph.nodes[size_t(c)]));
    y.scale = sc[0];
    y.zp = zp[0];
    y.s8 = zdt == kInt8;
    y.q_node = qn.name;
    done[size_t(qi)] = true;
  }
  const tfl::DType yt = y.s8 ? tfl::DType::i8 : tfl::DType::u8;
  auto finish = [&](std::vector<int32_t> nhwc, Shape nchw) -> int {
    y.nchw = std::move(nchw);
    y.tensor = add_tensor(m.graph.nodes[size_t(qi)].outputs[0], std::move(nhwc), yt, y.scale, y.zp);
    qact[m.graph.nodes[size_t(qi)].outputs[0]] = y;
    return y.tensor;
  };
  auto wconst = [&](size_t k) -> Result<const QConst*> {
    if (k >= n.inputs.size() || n.inputs[k].empty()) return error(w, ": input ", k, " is missing");
    auto it = qconst.find(n.inputs[k]);
    if (it == qconst.end())
      return error(w, ": input '", n.inputs[k],
                   "' must be a dequantized constant (DequantizeLinear of an int8 initializer)");
    return &it->second;
  };
  const int N = int(x.nchw[0]);
  // Bias for weights with per-channel scales ws: int32 at scale sx * ws[o].
  auto bias_i32 = [&](size_t k, int oc, const std::vector<float>& ws, std::vector<int32_t>* bq,
                      std::vector<float>* bf) -> Status {
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
  };

  if (t == "Conv") {
    SCV_ASSIGN_OR_RETURN(const QConst* wc, wconst(1));
    if (wc->dims.size() != 4 || (wc->dtype != kInt8 && wc->dtype != kUint8))
      return error(w, ": weights '", n.inputs[1], "' must be 4-D INT8 or UINT8");
    if (wc->axis > 0)
      return error(w, ": axis mismatch: weights quantized along axis ", wc->axis,
                   " (per output channel is axis 0)");
    const int O = int(wc->dims[0]), I = int(wc->dims[1]), kh = int(wc->dims[2]),
              kw = int(wc->dims[3]);
    const int C = int(x.nchw[1]);
    const int64_t g = attr_i(n, "group", 1);
    const bool dw = g > 1;
    if (dw && !(g == C && O == C && I == 1))
      return error(w, ": group ", g,
                   " (only 1 and depthwise with one filter per channel are supported)");
    if (!dw && I != C)
      return error(w, ": weights expect ", I, " input channels, the input has ", C);
    std::vector<int64_t> st = attr_ints(n, "strides"), dl = attr_ints(n, "dilations");
    if (st.empty()) st = {1, 1};
    if (dl.empty()) dl = {1, 1};
    if (st.size() != 2 || dl.size() != 2 || st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1)
      return error(w, ": strides ", shape_str(st), " / dilations ", shape_str(dl));
    if (auto ks = attr_ints(n, "kernel_shape");
        !ks.empty() && (ks.size() != 2 || ks[0] != kh || ks[1] != kw))
      return error(w, ": kernel_shape ", shape_str(ks), " disagrees with the weights ",
                   shape_str(wc->dims));
    tfl::OpInfo op;
    op.stride_h = int(st[0]);
    op.stride_w = int(st[1]);
    op.dilation_h = int(dl[0]);
    op.dilation_w = int(dl[1]);
    op.activation = act;
    QAct xin;
    int oh, ow;
    SCV_TRY(padding(n, x, kh, kw, op.stride_h, op.stride_w, op.dilation_h, op.dilation_w, false,
                    false, &xin, &op, &oh, &ow));
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
        n.inputs[1], dw ? std::vector<int32_t>{1, kh, kw, O} : std::vector<int32_t>{O, kh, kw, I},
        wt, std::move(wb));
    tfl::Quant& wq = tm.tensors[size_t(wid)].q;
    wq.scale = wc->scale;
    wq.zero_point = wc->zp;
    wq.axis = dw ? 3 : 0;
    std::vector<int32_t> bq;
    SCV_TRY(bias_i32(2, O, wc->scale, &bq, nullptr));
    const int bid = add_const(n.name + "/bias", {O}, tfl::DType::i32, bytes_of(bq));
    const int yid = finish({N, oh, ow, O}, {N, O, oh, ow});
    add_op(dw ? tfl::kDepthwiseConv2d : tfl::kConv2d, {xin.tensor, wid, bid}, {yid}, op);
    return Status();
  }
  if (is_fc) {
    SCV_ASSIGN_OR_RETURN(const QConst* wc, wconst(1));
    if (wc->dims.size() != 2 || (wc->dtype != kInt8 && wc->dtype != kUint8))
      return error(w, ": weights '", n.inputs[1], "' must be 2-D INT8 or UINT8");
    const bool tb = t == "Gemm" && attr_i(n, "transB", 0) != 0;
    if (t == "Gemm" && attr_i(n, "transA", 0) != 0) return error(w, ": transA=1 is not supported");
    if (t == "Gemm") {
      const OnnxAttr* al = attr(n, "alpha");
      const OnnxAttr* be = attr(n, "beta");
      if ((al && al->f != 1.0f) || (be && be->f != 1.0f))
        return error(w, ": alpha and beta must be 1");
    }
    const int O = int(tb ? wc->dims[0] : wc->dims[1]), K = int(tb ? wc->dims[1] : wc->dims[0]);
    const int want_axis = tb ? 0 : 1;
    if (wc->axis >= 0 && wc->axis != want_axis)
      return error(w, ": axis mismatch: weights quantized along axis ", wc->axis,
                   " (per output channel is axis ", want_axis, ")");
    const int64_t xk = x.nchw.size() == 2 ? x.nchw[1] : -1;
    if (xk != K) return error(w, ": input of shape ", shape_str(x.nchw), ", expected [N, ", K, "]");
    std::vector<uint8_t> wb(size_t(O) * K);
    for (int o = 0; o < O; ++o)
      for (int k = 0; k < K; ++k)
        wb[size_t(o) * K + k] = uint8_t(wc->v[tb ? size_t(o) * K + k : size_t(k) * O + o]);
    if (qi < 0) {  // the fp32 classifier, after the engine
      tail.on = true;
      tail.K = K;
      tail.N = O;
      tail.s8 = x.s8;
      tail.zx = int32_t(x.zp);
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
        tail.s[size_t(o)] = x.scale * wc->scale[wc->axis >= 0 ? size_t(o) : 0];
      std::vector<int32_t> bq;
      std::vector<float> bf;
      SCV_TRY(bias_i32(2, O, wc->scale, &bq, &bf));
      tail.bq = bq;
      tail.bf = bf;
      out_tensor = x.tensor;
      (void)to_softmax;
      return Status();
    }
    const tfl::DType wt = wc->dtype == kInt8 ? tfl::DType::i8 : tfl::DType::u8;
    const int wid = add_const(n.inputs[1], {O, K}, wt, std::move(wb));
    tm.tensors[size_t(wid)].q.scale = wc->scale;
    tm.tensors[size_t(wid)].q.zero_point = wc->zp;
    tm.tensors[size_t(wid)].q.axis = 0;
    std::vector<int32_t> bq;
    SCV_TRY(bias_i32(2, O, wc->scale, &bq, nullptr));
    const int bid = add_const(n.name + "/bias", {O}, tfl::DType::i32, bytes_of(bq));
    tfl::OpInfo op;
    op.activation = act;
    const int yid = finish({N, O}, {N, O});
    add_op(tfl::kFullyConnected, {x.tensor, wid, bid}, {yid}, op);
    return Status();
  }
  if (t == "Add") {
    SCV_ASSIGN_OR_RETURN(QAct b, act_in(n, 1));
    if (x.nchw != b.nchw)
      return error(w, ": shapes ", shape_str(x.nchw), " + ", shape_str(b.nchw),
                   " (equal shapes expected, no broadcasting)");
    tfl::OpInfo op;
    op.activation = act;
    const int yid = finish(tm.tensors[size_t(x.tensor)].shape, x.nchw);
    add_op(tfl::kAdd, {x.tensor, b.tensor}, {yid}, op);
    return Status();
  }
  if (t == "MaxPool" || t == "AveragePool") {
    if (x.nchw.size() != 4) return error(w, ": a 4-D input is expected");
    const std::vector<int64_t> ks = attr_ints(n, "kernel_shape");
    std::vector<int64_t> st = attr_ints(n, "strides");
    if (st.empty()) st = {1, 1};
    if (ks.size() != 2 || st.size() != 2 || ks[0] < 1 || ks[1] < 1 || st[0] < 1 || st[1] < 1)
      return error(w, ": kernel_shape ", shape_str(ks), " / strides ", shape_str(st));
    if (auto dl = attr_ints(n, "dilations"); !dl.empty() && dl != std::vector<int64_t>{1, 1})
      return error(w, ": dilations are not supported");
    const bool is_avg = t == "AveragePool";
    if (is_avg && attr_i(n, "count_include_pad", 0) != 0 &&
        attr_ints(n, "pads") != std::vector<int64_t>{} &&
        attr_ints(n, "pads") != std::vector<int64_t>{0, 0, 0, 0})
      return error(w, ": count_include_pad=1 with pads is not supported");
    if (y.scale != x.scale || y.zp != x.zp || y.s8 != x.s8)
      return error(w, ": input and output quantization differ (", x.scale, ", ", x.zp, " vs ",
                   y.scale, ", ", y.zp, "); pools keep the input's");
    tfl::OpInfo op;
    op.filter_h = int(ks[0]);
    op.filter_w = int(ks[1]);
    op.stride_h = int(st[0]);
    op.stride_w = int(st[1]);
    op.activation = act;
    QAct xin;
    int oh, ow;
    SCV_TRY(padding(n, x, op.filter_h, op.filter_w, op.stride_h, op.stride_w, 1, 1, !is_avg, is_avg,
                    &xin, &op, &oh, &ow));
    const int C = int(x.nchw[1]);
    const int yid = finish({N, oh, ow, C}, {N, C, oh, ow});
    add_op(is_avg ? tfl::kAveragePool2d : tfl::kMaxPool2d, {xin.tensor}, {yid}, op);
    return Status();
  }
  if (t == "GlobalAveragePool") {
    if (x.nchw.size() != 4) return error(w, ": a 4-D input is expected");
    if (act != tfl::Activation::none)
      return error(w, ": a Relu after GlobalAveragePool is not supported");
    const int C = int(x.nchw[1]);
    const int axes =
        add_const(n.name + "/axes", {2}, tfl::DType::i32, bytes_of(std::vector<int32_t>{1, 2}));
    tfl::OpInfo op;
    op.keep_dims = true;
    const int yid = finish({N, 1, 1, C}, {N, C, 1, 1});
    add_op(tfl::kMean, {x.tensor, axes}, {yid}, op);
    return Status();
  }
  // Flatten / Reshape to [N, features]: the same bytes when H = W = 1 (NHWC and NCHW agree).
  if (act != tfl::Activation::none) return error(w, ": a Relu after ", t, " is not supported");
  int64_t feat = 1;
  for (size_t d = 1; d < x.nchw.size(); ++d) feat *= x.nchw[d];
  if (t == "Flatten" && attr_i(n, "axis", 1) != 1) return error(w, ": only axis 1 is supported");
  if (t == "Reshape") {
    std::vector<int64_t> shp;
    if (n.inputs.size() > 1)
      if (auto it = init.find(n.inputs[1]); it != init.end() && !it->second->is_float)
        shp = it->second->ints;
    const bool ok = shp.size() == 2 && (shp[0] == N || shp[0] == 0 || shp[0] == -1) &&
                    (shp[1] == feat || shp[1] == -1) && !(shp[0] == -1 && shp[1] == -1);
    if (!ok) return error(w, ": only a constant reshape to [N, ", feat, "] is supported");
  }
  if (x.nchw.size() == 4 && (x.nchw[2] != 1 || x.nchw[3] != 1))
    return error(w, ": flattening a ", shape_str(x.nchw),
                 " tensor (only H = W = 1 is supported: the engine's NHWC order differs)");
  if (y.scale != x.scale || y.zp != x.zp || y.s8 != x.s8)
    return error(w, ": input and output quantization differ; ", t, " keeps the input's");
  const int yid = finish({N, int32_t(feat)}, {N, feat});
  add_op(tfl::kReshape, {x.tensor}, {yid});
  return Status();
}

void softmax_row(float* o, int n) {
  float mx = o[0];
  for (int j = 1; j < n; ++j) mx = std::max(mx, o[j]);
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += (o[j] = std::exp(o[j] - mx));
  for (int j = 0; j < n; ++j) o[j] = float(o[j] / sum);
}

}  // namespace

bool is_qdq_onnx(const uint8_t* data, size_t size) {
  OnnxModel m;
  if (!decode_model(pb::Reader(data, size), &m).ok()) return false;
  for (const OnnxNode& n : m.graph.nodes)
    if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") return true;
  return false;
}

struct Int8Session::Impl {
  std::unique_ptr<QSession> qs;
  Tail tail;
  Shape in_shape, out_shape;  // NCHW, [N, classes]
  int H = 0, W = 0, C = 0, N = 0;
  std::vector<int32_t> xz;  // tail scratch
  std::vector<float> mean;
};

Int8Session::Int8Session() : impl_(std::make_unique<Impl>()) {}
Int8Session::~Int8Session() = default;

Result<std::unique_ptr<Int8Session>> Int8Session::create(const uint8_t* data, size_t size,
                                                         const Int8Options& opt) {
  try {
    if (opt.batch < 1 || opt.batch > 4096) return error("batch ", opt.batch, " out of range");
    OnnxModel m;
    if (Status st = decode_model(pb::Reader(data, size), &m); !st.ok())
      return error("not a valid ONNX model (protobuf decode failed: ", st.message(), ")");
    if (!m.has_graph) return error("not an ONNX model: no graph");
    if (m.has_default_opset && m.opset < 10)
      return error("opset ", m.opset, ": QuantizeLinear / DequantizeLinear need opset 10 or later");
    Builder b(m, opt.batch);
    SCV_TRY(b.build().with_context("QDQ model"));
    QSessionOptions qo;
    qo.threads = opt.threads;
    qo.isa = opt.isa;
    SCV_ASSIGN_OR_RETURN(auto qs, QSession::create(b.tm, qo));
    std::unique_ptr<Int8Session> s(new Int8Session());
    Impl& im = *s->impl_;
    im.qs = std::move(qs);
    im.tail = std::move(b.tail);
    im.in_shape = b.input_nchw;
    im.N = int(im.in_shape[0]);
    im.C = int(im.in_shape[1]);
    im.H = int(im.in_shape[2]);
    im.W = int(im.in_shape[3]);
    const QTensorInfo& oi = im.qs->output_info();
    int64_t on = 1;
    for (int32_t d : oi.shape) on *= d;
    if (im.tail.on) {
      if (on != int64_t(im.N) * im.tail.K * im.tail.HW)
        return error("QDQ model: the classifier's input holds ", on, " values, expected ", im.N,
                     " x ", im.tail.K);
      im.out_shape = {im.N, im.tail.N};
      im.xz.resize(size_t(im.tail.K));
      im.mean.resize(size_t(im.tail.K));
    } else {
      im.out_shape = b.out_nchw;
      if (shape_numel(im.out_shape) != on)
        return error("QDQ model: output ", shape_str(im.out_shape), " does not hold ", on,
                     " values");
    }
    return s;
  } catch (const std::bad_alloc&) {
    return error("out of memory while loading the QDQ model");
  }
}

Result<std::unique_ptr<Int8Session>> Int8Session::load(const std::string& path,
                                                       const Int8Options& opt) {
  SCV_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  auto s = create(bytes.data(), bytes.size(), opt);
  if (!s.ok()) return error(path, ": ", s.status().message());
  return s;
}

void Int8Session::run(const float* input, float* output) {
  Impl& im = *impl_;
  // NCHW -> NHWC float input of the engine.
  float* in = reinterpret_cast<float*>(im.qs->input_data());
  const int64_t hw = int64_t(im.H) * im.W;
  for (int n = 0; n < im.N; ++n)
    for (int c = 0; c < im.C; ++c) {
      const float* src = input + (int64_t(n) * im.C + c) * hw;
      float* dst = in + int64_t(n) * hw * im.C + c;
      for (int64_t p = 0; p < hw; ++p) dst[p * im.C] = src[p];
    }
  im.qs->run();
  const Tail& t = im.tail;
  if (!t.on) {
    const float* y = reinterpret_cast<const float*>(im.qs->output_data());
    const Shape& os = im.out_shape;
    if (os.size() != 4 || (os[2] == 1 && os[3] == 1)) {
      std::memcpy(output, y, size_t(shape_numel(os)) * 4);
      return;
    }
    const int64_t C = os[1], ohw = os[2] * os[3];  // NHWC -> NCHW
    for (int64_t n = 0; n < os[0]; ++n)
      for (int64_t p = 0; p < ohw; ++p)
        for (int64_t c = 0; c < C; ++c) output[(n * C + c) * ohw + p] = y[(n * ohw + p) * C + c];
    return;
  }
  const uint8_t* q = im.qs->output_data();
  if (t.pool) {
    std::vector<float>& m = im.mean;
    for (int n = 0; n < im.N; ++n) {
      std::fill(im.xz.begin(), im.xz.end(), 0);
      const uint8_t* xr = q + int64_t(n) * t.HW * t.K;
      for (int p = 0; p < t.HW; ++p)
        for (int k = 0; k < t.K; ++k)
          im.xz[size_t(k)] +=
              t.s8 ? int32_t(int8_t(xr[int64_t(p) * t.K + k])) : int32_t(xr[int64_t(p) * t.K + k]);
      const float f = t.sx / float(t.HW);
      for (int k = 0; k < t.K; ++k) m[size_t(k)] = float(im.xz[size_t(k)] - t.zx * t.HW) * f;
      float* o = output + int64_t(n) * t.N;
      for (int j = 0; j < t.N; ++j) {
        const float* wr = t.wf.data() + int64_t(j) * t.K;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int k = 0;
        for (; k + 8 <= t.K; k += 8)
          for (int u = 0; u < 8; ++u) acc[u] += m[size_t(k + u)] * wr[k + u];
        for (; k < t.K; ++k) acc[0] += m[size_t(k)] * wr[k];
        o[j] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
               t.bf[size_t(j)];
      }
      if (t.softmax) softmax_row(o, t.N);
    }
    return;
  }
  for (int n = 0; n < im.N; ++n) {
    const uint8_t* xr = q + int64_t(n) * t.K;
    for (int k = 0; k < t.K; ++k)
      im.xz[size_t(k)] = (t.s8 ? int32_t(int8_t(xr[k])) : int32_t(xr[k])) - t.zx;
    float* o = output + int64_t(n) * t.N;
    for (int j = 0; j < t.N; ++j) {
      const int16_t* wr = t.w.data() + int64_t(j) * t.K;
      int32_t acc = 0;
      for (int k = 0; k < t.K; ++k) acc += im.xz[size_t(k)] * int32_t(wr[k]);
      o[j] = float(acc + t.bq[size_t(j)]) * t.s[size_t(j)] + t.bf[size_t(j)];
    }
    if (t.softmax) softmax_row(o, t.N);
  }
}

const Shape& Int8Session::input_shape() const {
  return impl_->in_shape;
}
const Shape& Int8Session::output_shape() const {
  return impl_->out_shape;
}
Isa Int8Session::isa() const {
  return impl_->qs->isa();
}
int Int8Session::num_threads() const {
  return impl_->qs->num_threads();
}
std::string Int8Session::describe() const {
  const Tail& t = impl_->tail;
  return impl_->qs->describe() + (!t.on    ? ""
                                  : t.pool ? " + fp32 pool and classifier (int8 weights)"
                                           : " + int8 x int8 -> fp32 classifier");
}

}  // namespace scv
