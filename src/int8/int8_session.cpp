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

#include "int8/qdq_builder.h"

namespace scv {

using namespace onnx;
using qdq::Builder;
using qdq::Tail;

namespace {

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
std::string Int8Session::describe() const {
  const Tail& t = impl_->tail;
  return impl_->qs->describe() + (!t.on    ? ""
                                  : t.pool ? " + fp32 pool and classifier (int8 weights)"
                                           : " + int8 x int8 -> fp32 classifier");
}

QSession& Int8Session::engine() {
  return *impl_->qs;
}

}  // namespace scv
