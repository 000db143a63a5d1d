// The QDQ -> TFLite rewriter behind Int8Session (internal to src/int8/).
//
// Builder walks an ONNX QDQ graph and writes the in-memory TFLite model the quantized engine runs:
// qdq_pattern.cpp recognises the Q / DQ structure (constants, activations, the float classifier,
// padding), qdq_lower.cpp lowers each compute node to its int8 operator.
#pragma once

#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/onnx_proto.h"
#include "scratchcv/tflite.h"

namespace scv::qdq {

using namespace onnx;
namespace tfl = tflite;

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
  // The one scale and zero point (INT8 or UINT8) of an activation's QuantizeLinear, into y.
  Status act_qparams(const OnnxNode& q, QAct* y) const {
    std::vector<float> sc;
    std::vector<int64_t> zp;
    int axis;
    int64_t zdt;
    SCV_TRY(qparams(q, {}, false, 0, &sc, &zp, &axis, &zdt));
    if (sc.size() != 1)
      return error(who(q), ": per-channel quantization of an activation is not supported");
    if (zdt != kInt8 && zdt != kUint8)
      return error(who(q), ": output type ", dtype_name(zdt), " (INT8 or UINT8 expected)");
    y->scale = sc[0];
    y->zp = zp[0];
    y->s8 = zdt == kInt8;
    y->q_node = q.name;
    return Status();
  }

  Status build();
  Status on_qdq(size_t i);
  Status on_quantize(const OnnxNode& n, const std::string& w, const std::string& x);
  Status on_dequantize(const OnnxNode& n, const std::string& w, const std::string& x);
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
  // A window op (conv, pool) over x: sets op's strides, dilations and padding, adding a PAD
  // first when the ONNX pads are neither VALID nor SAME (*xin is then the padded input).
  Status padding(const OnnxNode& n, const QAct& x, int kh, int kw, const std::vector<int64_t>& st,
                 const std::vector<int64_t>& dl, bool is_max, bool is_avg, QAct* xin,
                 tfl::OpInfo* op, int* oh, int* ow);
  // One compute node being lowered: its int8 input, its quantized output and the fused clamp.
  struct Step {
    size_t i = 0;
    const OnnxNode* node = nullptr;
    std::string w;  // who(node), for messages
    QAct x, y;
    int qi = -1;  // the QuantizeLinear of the output, -1 for the float classifier
    tfl::Activation act = tfl::Activation::none;
    int N = 0;  // batch
  };
  Status output_quant(Step& s);
  Status emit(Step& s, int32_t code, std::vector<int32_t> in, std::vector<int32_t> nhwc, Shape nchw,
              tfl::OpInfo op = {});
  Result<const QConst*> wconst(const Step& s, size_t k) const;
  Status bias_i32(const Step& s, size_t k, int oc, const std::vector<float>& ws,
                  std::vector<int32_t>* bq, std::vector<float>* bf) const;
  Status lower_conv(Step& s);
  Status lower_fc(Step& s);
  Status lower_add(Step& s);
  Status lower_pool(Step& s);
  Status lower_global_pool(Step& s);
  Status lower_flatten(Step& s);
};

}  // namespace scv::qdq
