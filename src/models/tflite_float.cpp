// A TFLite model as a float32 graph (see scratchcv/tflite_float.h): dequantized weights,
// NHWC -> NCHW, depthwise convolutions as grouped ones, fused activations as nodes, SAME
// padding as explicit pads, and readable module names for explain.
#include "scratchcv/tflite_float.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

namespace scv {

using tflite::Activation;
using tflite::DType;
using tflite::OpInfo;
using tflite::Padding;
using tflite::TensorInfo;

std::array<int64_t, 2> tflite_same_pads(int64_t in, int64_t kernel, int64_t stride,
                                        int64_t dilation) {
  const int64_t eff = (kernel - 1) * dilation + 1;
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>(0, (out - 1) * stride + eff - in);
  return {total / 2, total - total / 2};
}

namespace {

bool is_quant_op(int32_t code) {
  return code == tflite::kQuantize || code == tflite::kDequantize;
}

std::string lower_op_name(int32_t code) {
  std::string s = tflite::builtin_op_name(code);
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : s) c = c == ' ' ? '_' : c;
  return s;
}

// The real values of a constant tensor: float32 as stored, uint8 / int8 dequantized per tensor
// or per slice along the quantization axis.
// A flat [numel] tensor, so that weights already in the graph's layout are used as they are.
Result<Tensor> real_values(const TensorInfo& t, const std::string& who) {
  if (!t.data) return error(who, ": tensor '", t.name, "' must be a constant");
  for (int32_t d : t.shape)
    if (d <= 0) return error(who, ": tensor '", t.name, "' has a dimension ", d);
  const int64_t n = t.numel();
  Tensor out = Tensor::uninitialized({n});  // every element is written below
  if (t.type == DType::f32) {
    std::memcpy(out.data(), t.data, size_t(n) * sizeof(float));
    return out;
  }
  if (t.type != DType::u8 && t.type != DType::i8)
    return error(who, ": tensor '", t.name, "' of type ", tflite::dtype_name(t.type),
                 " (expected FLOAT32, UINT8 or INT8)");
  const tflite::Quant& q = t.q;
  if (!q.present() || q.zero_point.empty())
    return error(who, ": tensor '", t.name, "' has no quantization parameters");
  int64_t ch = 1, inner = 1;
  if (q.per_channel()) {
    if (q.axis < 0 || q.axis >= int(t.shape.size()) ||
        t.shape[size_t(q.axis)] != int64_t(q.scale.size()))
      return error(who, ": tensor '", t.name, "': ", q.scale.size(), " scales on axis ", q.axis,
                   " of shape ", shape_str(Shape(t.shape.begin(), t.shape.end())));
    if (q.zero_point.size() != 1 && q.zero_point.size() != q.scale.size())
      return error(who, ": tensor '", t.name, "': ", q.zero_point.size(), " zero points for ",
                   q.scale.size(), " scales");
    ch = int64_t(q.scale.size());
    for (size_t d = size_t(q.axis) + 1; d < t.shape.size(); ++d) inner *= t.shape[d];
  }
  // Runs of `inner` values share one (scale, zero point): per tensor, one run of n.
  if (ch == 1) inner = n;
  const bool u8 = t.type == DType::u8;
  float* o = out.data();
  for (int64_t r = 0; r < n / inner; ++r) {
    const size_t c = size_t(r % ch);
    const float s = q.scale[c];
    // v - zp is exact in float (|v|, |zp| < 2^24): the same values as the integer difference.
    const float zp = float(q.zero_point[q.zero_point.size() == 1 ? 0 : c]);
    const int64_t base = r * inner;
    if (u8) {
      const uint8_t* d = t.data + base;
      for (int64_t i = 0; i < inner; ++i) o[base + i] = s * (float(d[i]) - zp);
    } else {
      const int8_t* d = reinterpret_cast<const int8_t*>(t.data + base);
      for (int64_t i = 0; i < inner; ++i) o[base + i] = s * (float(d[i]) - zp);
    }
  }
  return out;
}

// Readable module names of the operators (the mapping documented in tflite_float.h); "" for
// QUANTIZE / DEQUANTIZE, which make no nodes.
std::vector<std::string> module_names(const tflite::Model& m) {
  const int n = int(m.ops.size());
  std::vector<std::string> mod(static_cast<size_t>(n));
  auto code = [&](int i) { return m.ops[size_t(i)].code; };
  auto next_real = [&](int i) {
    for (++i; i < n && is_quant_op(code(i));) ++i;
    return i;
  };
  std::vector<int> dws;
  for (int i = 0; i < n; ++i)
    if (code(i) == tflite::kDepthwiseConv2d) dws.push_back(i);
  const int first = next_real(-1);
  int begin = 0;  // first op of block 1
  if (first < n && code(first) == tflite::kConv2d && (dws.empty() || first < dws[0])) {
    mod[size_t(first)] = "conv1";
    begin = first + 1;
  }
  std::set<std::string> used = {"conv1"};
  auto claim = [&](std::string name) {
    for (int k = 2; used.count(name); ++k)
      name = name.substr(0, name.rfind('#')) + "#" + std::to_string(k);
    used.insert(name);
    return name;
  };
  // Blocks: each ends at the first CONV_2D after its depthwise conv, or at the ADD taking it.
  int block_end = begin - 1;
  for (size_t k = 0; k < dws.size(); ++k) {
    int e = dws[k];
    for (int i = dws[k] + 1; i < n && (k + 1 == dws.size() || i < dws[k + 1]); ++i)
      if (code(i) == tflite::kConv2d) {
        e = i;
        break;
      }
    if (const int a = next_real(e);
        a < n && code(a) == tflite::kAdd && (k + 1 == dws.size() || a < dws[k + 1])) {
      const auto& in = m.ops[size_t(a)].inputs;
      const auto& o = m.ops[size_t(e)].outputs;
      if (!o.empty() && std::find(in.begin(), in.end(), o[0]) != in.end()) e = a;
    }
    const std::string block = "layer" + std::to_string(k + 1);
    for (int i = block_end + 1; i <= e; ++i) {
      if (is_quant_op(code(i)) || !mod[size_t(i)].empty()) continue;
      std::string role = i == dws[k]                                ? "dw"
                         : code(i) == tflite::kConv2d && i < dws[k] ? "expand"
                         : code(i) == tflite::kConv2d               ? "project"
                         : code(i) == tflite::kAdd                  ? "add"
                                                                    : lower_op_name(code(i));
      mod[size_t(i)] = claim(block + "." + role);
    }
    block_end = e;
  }
  for (int i = 0; i < n; ++i) {
    if (is_quant_op(code(i)) || !mod[size_t(i)].empty()) continue;
    if (dws.empty() || i < begin) {
      const auto& o = m.ops[size_t(i)].outputs;
      mod[size_t(i)] = claim(o.empty() ? lower_op_name(code(i)) : m.tensors[size_t(o[0])].name);
      continue;
    }
    // The head after the last block.
    const auto& o = m.ops[size_t(i)].outputs;
    const auto& os = o.empty() ? std::vector<int32_t>{} : m.tensors[size_t(o[0])].shape;
    const bool map = os.size() == 4 && int64_t(os[1]) * os[2] > 1;
    std::string name;
    switch (code(i)) {
      case tflite::kConv2d:
        name = map ? "conv_last" : "classifier";
        break;
      case tflite::kFullyConnected:
        name = "classifier";
        break;
      case tflite::kAveragePool2d:
      case tflite::kMaxPool2d:
      case tflite::kMean:
        name = "pool";
        break;
      case tflite::kReshape:
      case tflite::kSqueeze:
        name = "reshape";
        break;
      case tflite::kSoftmax:
        name = "softmax";
        break;
      default:
        name = lower_op_name(code(i));
    }
    mod[size_t(i)] = claim(name);
  }
  return mod;
}

class Builder {
 public:
  explicit Builder(const tflite::Model& m) : m_(m), value_(m.tensors.size(), -1) {}

  Result<TfliteFloat> build() {
    if (m_.inputs.size() != 1 || m_.outputs.empty())
      return error("tflite: the float graph needs one input and an output, the model has ",
                   m_.inputs.size(), " inputs and ", m_.outputs.size(), " outputs");
    SCV_TRY(add_input());
    mod_ = module_names(m_);
    for (size_t i = 0; i < m_.ops.size(); ++i) {
      const OpInfo& op = m_.ops[i];
      who_ = str("tflite operator ", i, " (", tflite::builtin_op_name(op.code), ")");
      if (op.outputs.empty()) return error(who_, ": no output");
      for (int32_t t : op.outputs)
        if (t < 0 || size_t(t) >= m_.tensors.size()) return error(who_, ": bad tensor index");
      for (int32_t t : op.inputs)
        if (t >= 0 && size_t(t) >= m_.tensors.size()) return error(who_, ": bad tensor index");
      SCV_TRY(add_op(op, mod_[i]));
    }
    const int out = value_[size_t(m_.outputs[0])];
    if (out < 0) return error("tflite: the model output is never computed");
    f_.graph.outputs = {out};
    for (const Node& n : f_.graph.nodes)
      if (n.outputs[0] == out) f_.softmax_output = n.op == OpType::Softmax;
    stages();
    SCV_TRY(f_.graph.validate());
    return std::move(f_);
  }

 private:
  const tflite::Model& m_;
  TfliteFloat f_;
  std::vector<int> value_;  // by tensor: its graph value, -1 before it is computed
  std::vector<std::string> mod_;
  std::string who_;
  std::set<std::string> names_;
  int clip_[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};  // bound constants per activation kind

  const TensorInfo& tensor(int32_t t) const { return m_.tensors[size_t(t)]; }

  std::string unique(std::string name) {
    if (name.empty()) name = "t";
    const std::string base = name;
    for (int k = 2; names_.count(name); ++k) name = base + "#" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  // NCHW shape of an NHWC tensor; other ranks as they are.
  static Shape graph_shape(const std::vector<int32_t>& s) {
    if (s.size() == 4) return {s[0], s[3], s[1], s[2]};
    return Shape(s.begin(), s.end());
  }

  Status add_input() {
    const TensorInfo& in = tensor(m_.inputs[0]);
    if (in.shape.size() != 4 || in.shape[0] != 1 || in.shape[1] <= 0 || in.shape[2] <= 0 ||
        in.shape[3] != 3)
      return error("tflite: the float graph needs an image input [1, H, W, 3], found ",
                   shape_str(graph_shape(in.shape)));
    f_.height = in.shape[1];
    f_.width = in.shape[2];
    switch (in.type) {
      case DType::u8:
      case DType::i8:
        if (!in.q.present() || in.q.zero_point.empty())
          return error("tflite: the input has no quantization parameters");
        f_.pixel_scale = in.q.scale[0];
        f_.pixel_zero = float(in.q.zero_point[0]) + (in.type == DType::i8 ? 128.f : 0.f);
        break;
      case DType::f32:
        f_.pixel_scale = 1.f / 127.5f;
        f_.pixel_zero = 127.5f;
        break;
      default:
        return error("tflite: input of type ", tflite::dtype_name(in.type), " is not an image");
    }
    const int v = f_.graph.add_value(unique(in.name), graph_shape(in.shape));
    f_.graph.inputs = {v};
    value_[size_t(m_.inputs[0])] = v;
    return Status();
  }

  Result<int> act(const OpInfo& op, size_t i) {
    if (i >= op.inputs.size() || op.inputs[i] < 0) return error(who_, ": input ", i, " is missing");
    const int v = value_[size_t(op.inputs[i])];
    if (v < 0) {
      if (tensor(op.inputs[i]).data)
        return error(who_, ": input ", i, " is a constant; the float graph supports computed ",
                     "inputs here");
      return error(who_, ": input ", i, " '", tensor(op.inputs[i]).name, "' is not computed yet");
    }
    return v;
  }

  int constant(const std::string& name, Shape shape, const std::vector<float>& data) {
    return f_.graph.add_constant(unique(name), Tensor::from_data(std::move(shape), data.data()));
  }

  // Adds node(s) computing TFLite tensor `out`: the op itself, then its fused activation.
  Status emit(OpType type, const std::string& name, std::vector<int> inputs, int32_t out,
              Attrs attrs, Activation a) {
    const TensorInfo& t = tensor(out);
    for (int32_t d : t.shape)
      if (d <= 0)
        return error(who_, ": output '", t.name, "' of shape ", shape_str(graph_shape(t.shape)),
                     " (dimensions must be positive)");
    const Shape shape = graph_shape(t.shape);
    if (a == Activation::none) {
      const int y = f_.graph.add_value(unique(t.name), shape);
      f_.graph.add_node(type, name, std::move(inputs), {y}, std::move(attrs));
      value_[size_t(out)] = y;
      return Status();
    }
    const int lin = f_.graph.add_value(unique(t.name + ":linear"), shape);
    f_.graph.add_node(type, name, std::move(inputs), {lin}, std::move(attrs));
    const int y = f_.graph.add_value(unique(t.name), shape);
    value_[size_t(out)] = y;
    if (a == Activation::relu) {
      f_.graph.add_node(OpType::Relu, name + ".relu", {lin}, {y});
      return Status();
    }
    int kind = 0;
    float lo = 0, hi = 6;
    if (a == Activation::relu_n1_to_1)
      kind = 1, lo = -1, hi = 1;
    else if (a != Activation::relu6)
      return error(who_, ": fused activation ", int(a), " is not supported (NONE, RELU, RELU6, ",
                   "RELU_N1_TO_1 are)");
    if (clip_[kind][0] < 0) {
      const std::string k = kind ? "relu_n1_to_1" : "relu6";
      clip_[kind][0] = constant(k + ".min", {1}, {lo});
      clip_[kind][1] = constant(k + ".max", {1}, {hi});
    }
    f_.graph.add_node(OpType::Clip, name + (kind ? ".relu_n1_to_1" : ".relu6"),
                      {lin, clip_[kind][0], clip_[kind][1]}, {y});
    return Status();
  }

  // Real bias values: int32 q * s_in * s_w[o], or float32 as stored.
  Result<std::vector<float>> bias_values(const OpInfo& op, const TensorInfo& w, int64_t oc) {
    const TensorInfo& b = tensor(op.inputs[2]);
    if (!b.data) return error(who_, ": the bias must be a constant");
    if (b.numel() != oc)
      return error(who_, ": bias of ", b.numel(), " values for ", oc, " outputs");
    std::vector<float> out(static_cast<size_t>(oc));
    if (b.type == DType::f32) {
      std::memcpy(out.data(), b.data, out.size() * sizeof(float));
      return out;
    }
    if (b.type != DType::i32)
      return error(who_, ": bias of type ", tflite::dtype_name(b.type), " (INT32 or FLOAT32)");
    const TensorInfo& x = tensor(op.inputs[0]);
    if (!x.q.present() || !w.q.present())
      return error(who_, ": an INT32 bias needs quantized input and weights");
    for (int64_t o = 0; o < oc; ++o) {
      int32_t q;
      std::memcpy(&q, b.data + 4 * o, 4);
      const float sw = w.q.scale[w.q.per_channel() ? size_t(o) : 0];
      out[size_t(o)] = float(double(q) * double(x.q.scale[0]) * double(sw));
    }
    return out;
  }

  // Explicit pads [top, left, bottom, right] for a window op; checks the output shape.
  Status window(const OpInfo& op, int64_t ih, int64_t iw, int64_t kh, int64_t kw,
                const std::vector<int32_t>& ys, Attrs* a) {
    if (op.stride_h < 1 || op.stride_w < 1 || op.dilation_h < 1 || op.dilation_w < 1 || kh < 1 ||
        kw < 1)
      return error(who_, ": strides, dilations and the window must be >= 1");
    std::array<int64_t, 2> ph = {0, 0}, pw = {0, 0};
    if (op.padding == Padding::same) {
      ph = tflite_same_pads(ih, kh, op.stride_h, op.dilation_h);
      pw = tflite_same_pads(iw, kw, op.stride_w, op.dilation_w);
    }
    const int64_t oh = (ih + ph[0] + ph[1] - (kh - 1) * op.dilation_h - 1) / op.stride_h + 1;
    const int64_t ow = (iw + pw[0] + pw[1] - (kw - 1) * op.dilation_w - 1) / op.stride_w + 1;
    if (ys.size() != 4 || ys[1] != oh || ys[2] != ow)
      return error(who_, ": output ", shape_str(graph_shape(ys)), " disagrees with the window (",
                   oh, "x", ow, ")");
    a->kernel_shape = {kh, kw};
    a->strides = {op.stride_h, op.stride_w};
    a->pads = {ph[0], pw[0], ph[1], pw[1]};
    return Status();
  }

  Status conv(const OpInfo& op, const std::string& name) {
    const bool dw = op.code == tflite::kDepthwiseConv2d;
    SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
    const auto& xs = tensor(op.inputs[0]).shape;
    if (op.inputs.size() < 2 || op.inputs[1] < 0) return error(who_, ": no weights");
    const TensorInfo& w = tensor(op.inputs[1]);
    if (xs.size() != 4 || w.shape.size() != 4)
      return error(who_, ": expected NHWC input and 4-D weights, found ",
                   shape_str(graph_shape(xs)), " and ", shape_str(graph_shape(w.shape)));
    SCV_ASSIGN_OR_RETURN(Tensor wr, real_values(w, who_));
    const int64_t ic = xs[3], kh = w.shape[1], kw = w.shape[2], khw = kh * kw;
    int64_t oc, group = 1;
    Tensor oihw;
    if (dw) {  // [1, kh, kw, C*M] -> [C*M, 1, kh, kw]; output o reads input channel o / M
      oc = w.shape[3];
      if (w.shape[0] != 1 || ic <= 0 || oc % ic != 0)
        return error(who_, ": weights ", shape_str(graph_shape(w.shape)), " do not fit ", ic,
                     " input channels");
      group = ic;
      oihw = Tensor::uninitialized({oc, 1, kh, kw});
      float* d = oihw.data();
      for (int64_t k = 0; k < khw; ++k)
        for (int64_t o = 0; o < oc; ++o) d[o * khw + k] = wr[k * oc + o];
    } else {  // OHWI -> OIHW (the same order for 1x1 kernels)
      oc = w.shape[0];
      if (w.shape[3] != ic)
        return error(who_, ": weights for ", w.shape[3], " input channels, the input has ", ic);
      oihw = khw == 1 ? wr.reshaped({oc, ic, 1, 1}) : Tensor::uninitialized({oc, ic, kh, kw});
      float* d = oihw.data();
      for (int64_t o = 0; o < oc && khw > 1; ++o)
        for (int64_t k = 0; k < khw; ++k)
          for (int64_t i = 0; i < ic; ++i) d[(o * ic + i) * khw + k] = wr[(o * khw + k) * ic + i];
    }
    Attrs a;
    SCV_TRY(window(op, xs[1], xs[2], kh, kw, tensor(op.outputs[0]).shape, &a));
    a.dilations = {op.dilation_h, op.dilation_w};
    a.group = group;
    if (tensor(op.outputs[0]).shape[3] != oc)
      return error(who_, ": output has ", tensor(op.outputs[0]).shape[3], " channels, weights ",
                   oc);
    std::vector<int> in = {x, f_.graph.add_constant(unique(w.name), std::move(oihw))};
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
      SCV_ASSIGN_OR_RETURN(std::vector<float> b, bias_values(op, w, oc));
      in.push_back(constant(tensor(op.inputs[2]).name, {oc}, b));
    }
    return emit(OpType::Conv, name, std::move(in), op.outputs[0], std::move(a), op.activation);
  }

  Status fully_connected(const OpInfo& op, const std::string& name) {
    SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
    if (op.inputs.size() < 2 || op.inputs[1] < 0) return error(who_, ": no weights");
    const TensorInfo& w = tensor(op.inputs[1]);
    const auto& xs = tensor(op.inputs[0]).shape;
    if (w.shape.size() != 2)
      return error(who_, ": weights of rank ", w.shape.size(), ", expected 2");
    const int64_t oc = w.shape[0], k = w.shape[1];
    int64_t numel = 1;
    for (int32_t d : xs) numel *= d;
    if (k <= 0 || numel % k != 0 || xs.empty() || xs[0] * k != numel)
      return error(who_, ": input ", shape_str(graph_shape(xs)), " does not give rows of ", k);
    SCV_ASSIGN_OR_RETURN(Tensor wr, real_values(w, who_));
    if (xs.size() == 4) {  // columns in NHWC order (h, w, c) -> NCHW's (c, h, w)
      const int64_t h = xs[1], wd = xs[2], c = xs[3];
      Tensor p({wr.numel()});
      for (int64_t o = 0; o < oc; ++o)
        for (int64_t ci = 0; ci < c; ++ci)
          for (int64_t s = 0; s < h * wd; ++s) p[o * k + ci * h * wd + s] = wr[o * k + s * c + ci];
      wr = std::move(p);
    }
    if (xs.size() != 2) {
      const int y = f_.graph.add_value(unique(tensor(op.inputs[0]).name + ":flat"), {xs[0], k});
      f_.graph.add_node(OpType::Flatten, name + ".flatten", {x}, {y});
      x = y;
    }
    if (tensor(op.outputs[0]).shape.size() != 2)
      return error(who_, ": output of rank ", tensor(op.outputs[0]).shape.size(),
                   " (keep_num_dims is not supported)");
    std::vector<int> in = {x, f_.graph.add_constant(unique(w.name), wr.reshaped({oc, k}))};
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
      SCV_ASSIGN_OR_RETURN(std::vector<float> b, bias_values(op, w, oc));
      in.push_back(constant(tensor(op.inputs[2]).name, {oc}, b));
    }
    Attrs a;
    a.trans_b = true;
    return emit(OpType::Gemm, name, std::move(in), op.outputs[0], std::move(a), op.activation);
  }

  Status pool(const OpInfo& op, const std::string& name) {
    SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
    const auto& xs = tensor(op.inputs[0]).shape;
    const auto& ys = tensor(op.outputs[0]).shape;
    if (xs.size() != 4)
      return error(who_, ": input ", shape_str(graph_shape(xs)), ", expected NHWC");
    const bool avg = op.code == tflite::kAveragePool2d;
    if (avg && op.padding == Padding::valid && op.filter_h == xs[1] && op.filter_w == xs[2]) {
      if (ys.size() != 4 || ys[1] != 1 || ys[2] != 1)
        return error(who_, ": output ", shape_str(graph_shape(ys)), ", expected 1x1");
      return emit(OpType::GlobalAveragePool, name, {x}, op.outputs[0], {}, op.activation);
    }
    Attrs a;
    SCV_TRY(window(op, xs[1], xs[2], op.filter_h, op.filter_w, ys, &a));
    a.count_include_pad = false;  // TFLite divides by the taps inside the image
    return emit(avg ? OpType::AveragePool : OpType::MaxPool, name, {x}, op.outputs[0], std::move(a),
                op.activation);
  }

  Status mean(const OpInfo& op, const std::string& name) {
    SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
    const auto& xs = tensor(op.inputs[0]).shape;
    const auto& ys = tensor(op.outputs[0]).shape;
    bool hw = xs.size() == 4 && op.inputs.size() > 1 && op.inputs[1] >= 0;
    if (hw) {
      const TensorInfo& axes = tensor(op.inputs[1]);
      hw = axes.data && axes.type == DType::i32 && axes.numel() == 2;
      if (hw) {
        int32_t a[2];
        std::memcpy(a, axes.data, 8);
        for (int32_t& v : a) v = v < 0 ? v + 4 : v;
        hw = std::min(a[0], a[1]) == 1 && std::max(a[0], a[1]) == 2;
      }
    }
    if (!hw) return error(who_, ": only the mean over H and W of an NHWC tensor is supported");
    if (ys.size() == 4)
      return emit(OpType::GlobalAveragePool, name, {x}, op.outputs[0], {}, Activation::none);
    const int pooled =
        f_.graph.add_value(unique(tensor(op.outputs[0]).name + ":pooled"), {xs[0], xs[3], 1, 1});
    f_.graph.add_node(OpType::GlobalAveragePool, name, {x}, {pooled});
    Attrs a;
    a.shape = graph_shape(ys);
    return emit(OpType::Reshape, name + ".flatten", {pooled}, op.outputs[0], std::move(a),
                Activation::none);
  }

  Status reshape(const OpInfo& op, const std::string& name) {
    SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
    const auto& xs = tensor(op.inputs[0]).shape;
    const auto& ys = tensor(op.outputs[0]).shape;
    // NHWC and NCHW list the elements in the same order when the map is 1x1 or has one channel.
    auto same_order = [](const std::vector<int32_t>& s) {
      return s.size() != 4 || int64_t(s[1]) * s[2] == 1 || s[3] == 1;
    };
    if (!same_order(xs) || !same_order(ys))
      return error(who_, ": ", shape_str(graph_shape(xs)), " -> ", shape_str(graph_shape(ys)),
                   " reorders elements between NHWC and NCHW; not supported in the float graph");
    Attrs a;
    a.shape = graph_shape(ys);
    return emit(OpType::Reshape, name, {x}, op.outputs[0], std::move(a), Activation::none);
  }

  Status add_op(const OpInfo& op, const std::string& name) {
    switch (op.code) {
      case tflite::kQuantize:
      case tflite::kDequantize: {  // the float graph holds real values already
        SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
        value_[size_t(op.outputs[0])] = x;
        return Status();
      }
      case tflite::kConv2d:
      case tflite::kDepthwiseConv2d:
        return conv(op, name);
      case tflite::kFullyConnected:
        return fully_connected(op, name);
      case tflite::kAveragePool2d:
      case tflite::kMaxPool2d:
        return pool(op, name);
      case tflite::kMean:
        return mean(op, name);
      case tflite::kReshape:
      case tflite::kSqueeze:
        return reshape(op, name);
      case tflite::kAdd: {
        SCV_ASSIGN_OR_RETURN(int a, act(op, 0));
        SCV_ASSIGN_OR_RETURN(int b, act(op, 1));
        if (tensor(op.inputs[0]).shape != tensor(op.inputs[1]).shape)
          return error(who_, ": inputs of different shapes (broadcasting ADD is not supported)");
        return emit(OpType::Add, name, {a, b}, op.outputs[0], {}, op.activation);
      }
      case tflite::kSoftmax: {
        SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
        if (op.beta != 1.0f) return error(who_, ": beta ", op.beta, " (only 1 is supported)");
        Attrs a;
        a.axis = -1;
        return emit(OpType::Softmax, name, {x}, op.outputs[0], std::move(a), Activation::none);
      }
      case tflite::kRelu:
      case tflite::kRelu6:
      case tflite::kReluN1To1: {
        SCV_ASSIGN_OR_RETURN(int x, act(op, 0));
        const Activation a = op.code == tflite::kRelu    ? Activation::relu
                             : op.code == tflite::kRelu6 ? Activation::relu6
                                                         : Activation::relu_n1_to_1;
        return emit(OpType::Identity, name, {x}, op.outputs[0], {}, a);
      }
      default:
        return error(
            who_, ": not supported by the float graph (it maps CONV_2D, ",
            "DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, ",
            "RESHAPE, SQUEEZE, SOFTMAX, RELU, RELU6, QUANTIZE, DEQUANTIZE)");
    }
  }

  // conv1 and the last block at each spatial size.
  void stages() {
    const Graph& g = f_.graph;
    std::vector<std::pair<std::string, Shape>> blocks;
    for (const Node& n : g.nodes) {
      const std::string mod = n.name.substr(0, n.name.find('.'));
      const Shape& s = g.values[n.outputs[0]].shape;
      if (mod == "conv1" || (mod.rfind("layer", 0) == 0 && mod.size() > 5 &&
                             std::isdigit(static_cast<unsigned char>(mod[5])))) {
        if (!blocks.empty() && blocks.back().first == mod)
          blocks.back().second = s;
        else
          blocks.push_back({mod, s});
      }
    }
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Shape& s = blocks[i].second;
      const bool last = i + 1 == blocks.size();
      const bool changes = !last && (s.size() != 4 || blocks[i + 1].second.size() != 4 ||
                                     blocks[i + 1].second[2] != s[2]);
      if (blocks[i].first == "conv1" || last || changes) f_.stages.push_back(blocks[i].first);
    }
  }
};

}  // namespace

Result<TfliteFloat> build_tflite_float(const tflite::Model& model) {
  return Builder(model).build();
}

Result<TfliteFloat> load_tflite_float(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(tflite::Model m, tflite::load_tflite(path));
  auto f = build_tflite_float(m);
  if (!f.ok()) return f.status().with_context(path);
  return f;
}

Result<Tensor> tflite_float_input(const TfliteFloat& model, const Image& photo) {
  SCV_ASSIGN_OR_RETURN(Image img, tfslim_preprocess(photo, model.width, model.height));
  const int64_t hw = int64_t(model.height) * model.width;
  Tensor x({1, 3, model.height, model.width});
  for (int64_t i = 0; i < hw; ++i)
    for (int c = 0; c < 3; ++c)
      x[c * hw + i] = (float(img.pixels[size_t(i * 3 + c)]) - model.pixel_zero) * model.pixel_scale;
  return x;
}

}  // namespace scv
