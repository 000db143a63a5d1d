// int8 through ONNX QDQ: quantize_to_qdq writes a model, Int8Session runs it.
//  - differential: the reference int8 kernels vs every available ISA x {1, 2} threads x batch,
//    bit for bit, on a graph with awkward sizes (13 and 7 channels, odd/even maps, explicit pads
//    TFLite's SAME cannot express, depthwise, residual add, pools) and on a random ResNet18;
//  - the int8 result stays close to the float graph (reference executor);
//  - QDQ files in ONNX Runtime's quantizer layout (uint8 activations, Relu before Q, weights as
//    Q(float) -> DQ, float bias) run and match the QDQ semantics within one step;
//  - malformed QDQ files give an error naming the node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/onnx_proto.h"
#include "io/onnx_writer.h"
#include "scratchcv/int8.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"
#include "session_test_util.h"

namespace {

using namespace scv;
using scv::testing::add_conv;
using scv::testing::available_isas;
using scv::testing::random_tensor;

// input [N, 3, 18, 20] -> conv 3x3 s2 p1 (13) + BN + ReLU -> maxpool 3x3 s2 p1
//   -> depthwise 3x3 (13) + BN + ReLU -> 1x1 (7) + BN, and
//   -> 1x1 (7) + BN (shortcut from the pool)            -> Add + ReLU -> GAP -> Flatten -> Gemm 10
Graph awkward_graph() {
  Graph g;
  const int x = g.add_value("input", {-1, 3, 18, 20});
  g.inputs = {x};
  int a = add_conv(g, x, 3, 13, 3, 2, 1, true, true, 11, "stem");
  Attrs mp;
  mp.kernel_shape = {3, 3};
  mp.strides = {2, 2};
  mp.pads = {1, 1, 1, 1};
  const int p = g.add_value("pool");
  g.add_node(OpType::MaxPool, "pool", {a}, {p}, mp);
  // depthwise
  Attrs dwa;
  dwa.kernel_shape = {3, 3};
  dwa.pads = {1, 1, 1, 1};
  dwa.group = 13;
  const int dww = g.add_constant("dw.w", random_tensor({13, 1, 3, 3}, 21, -0.5f, 0.5f));
  const int dwb = g.add_constant("dw.b", random_tensor({13}, 22));
  const int dwy = g.add_value("dw");
  g.add_node(OpType::Conv, "dw", {p, dww, dwb}, {dwy}, dwa);
  const int dwr = g.add_value("dw.relu");
  g.add_node(OpType::Relu, "dw.relu", {dwy}, {dwr});
  const int c = add_conv(g, dwr, 13, 7, 1, 1, 0, true, false, 31, "proj");
  const int d = add_conv(g, p, 13, 7, 1, 1, 0, true, false, 41, "short");
  const int s = g.add_value("add");
  g.add_node(OpType::Add, "add", {c, d}, {s});
  const int r = g.add_value("add.relu");
  g.add_node(OpType::Relu, "add.relu", {s}, {r});
  const int gp = g.add_value("gap");
  g.add_node(OpType::GlobalAveragePool, "gap", {r}, {gp});
  const int fl = g.add_value("flat");
  g.add_node(OpType::Flatten, "flat", {gp}, {fl});
  const int fw = g.add_constant("fc.w", random_tensor({10, 7}, 51));
  const int fb = g.add_constant("fc.b", random_tensor({10}, 52));
  Attrs ga;
  ga.trans_b = true;
  const int y = g.add_value("logits");
  g.add_node(OpType::Gemm, "fc", {fl, fw, fb}, {y}, ga);
  g.outputs = {y};
  return g;
}

std::string quantize(const Graph& g, const Shape& in, int n_calib,
                     CalibMethod m = CalibMethod::percentile) {
  std::vector<Tensor> calib;
  for (int i = 0; i < n_calib; ++i) calib.push_back(random_tensor(in, 100 + i, -2.0f, 2.0f));
  QuantizeOptions qo;
  qo.method = m;
  auto bytes = quantize_to_qdq(g, calib, qo);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

std::vector<float> run_int8(const std::string& model, const Tensor& x, const std::string& isa,
                            int threads) {
  Int8Options o;
  o.isa = isa;
  o.threads = threads;
  o.batch = int(x.shape()[0]);
  auto s = Int8Session::create(reinterpret_cast<const uint8_t*>(model.data()), model.size(), o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return {};
  std::vector<float> y(size_t(shape_numel((*s)->output_shape())));
  (*s)->run(x.data(), y.data());
  return y;
}

// every_combination false: only the best ISA with 2 threads (keeps the ResNet case cheap).
void expect_all_isas_match_reference(const std::string& model, const Tensor& x,
                                     bool every_combination = true) {
  const std::vector<float> ref = run_int8(model, x, "ref", 1);
  ASSERT_FALSE(ref.empty());
  for (Isa isa : available_isas())
    for (int t : {1, 2}) {
      if (!every_combination && (isa != available_isas().back() || t != 2)) continue;
      const std::vector<float> y = run_int8(model, x, isa_name(isa), t);
      ASSERT_EQ(y.size(), ref.size());
      EXPECT_EQ(std::memcmp(y.data(), ref.data(), y.size() * 4), 0)
          << isa_name(isa) << " x " << t << " threads differs from the reference int8 kernels";
    }
}

TEST(Int8, FastKernelsMatchReferenceBitForBit) {
  const Graph g = awkward_graph();
  const std::string model = quantize(g, {1, 3, 18, 20}, 4);
  ASSERT_TRUE(is_qdq_onnx(reinterpret_cast<const uint8_t*>(model.data()), model.size()));
  for (int n : {1, 3})
    expect_all_isas_match_reference(model, random_tensor({n, 3, 18, 20}, 7 + n, -2.0f, 2.0f));
}

TEST(Int8, FloatLoaderPointsToInt8) {
  const std::string model = quantize(awkward_graph(), {1, 3, 18, 20}, 1);
  auto g = parse_onnx(reinterpret_cast<const uint8_t*>(model.data()), model.size());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("int8 QDQ model"), std::string::npos) << g.status().message();
}

TEST(Int8, CloseToFloatForEveryMethod) {
  const Graph g = awkward_graph();
  const Tensor x = random_tensor({4, 3, 18, 20}, 77, -2.0f, 2.0f);
  auto ref = run_reference(g, {x});
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const Tensor& yf = (*ref)[0];
  float span = 0;
  for (int64_t i = 0; i < yf.numel(); ++i) span = std::max(span, std::fabs(yf[i]));
  for (CalibMethod m : {CalibMethod::minmax, CalibMethod::percentile, CalibMethod::entropy}) {
    const std::vector<float> y = run_int8(quantize(g, {1, 3, 18, 20}, 8, m), x, "", 2);
    ASSERT_EQ(int64_t(y.size()), yf.numel());
    double err = 0;
    for (int64_t i = 0; i < yf.numel(); ++i)
      err = std::max(err, double(std::fabs(y[size_t(i)] - yf[i])));
    std::printf("%s: max |int8 - fp32| %.4f of logits up to %.4f\n", calib_method_name(m), err,
                span);
    EXPECT_LT(err, (m == CalibMethod::entropy ? 0.15 : 0.08) * span)
        << calib_method_name(m) << ": max |int8 - fp32| " << err << " of logits up to " << span;
  }
}

TEST(Int8, RandomResnet18FastKernelsMatchReference) {
  const std::string model = quantize(scv::testing::random_resnet("resnet18", 5), {1, 3, 40, 40}, 2);
  const Tensor x = random_tensor({2, 3, 40, 40}, 9, -2.0f, 2.0f);
  expect_all_isas_match_reference(model, x, false);
}

// ---- hand-written QDQ files ---------------------------------------------------------------

struct Spec {
  float x_scale = 0.05f, y_scale = 0.1f, w_scale0 = 0.02f;
  int64_t y_zp = 3;  // written through int32_data (as protobuf stores small types)
  int64_t act_type = onnx::kInt8;
  std::vector<float> w_scales;  // per channel when set (else w_scale0 per tensor)
  int64_t w_axis = 0;
  bool drop_last_dq = false;  // the output QuantizeLinear feeds the graph output directly
  bool ort_layout = false;    // uint8 activations, Relu before Q, Q(float W) -> DQ, float bias
};

std::string zp_tensor(const std::string& name, int64_t type, int64_t v) {
  onnx::PbOut w;
  w.int_field(2, type);
  w.int_field(5, v);  // int32_data
  w.bytes_field(8, name);
  return w.buf;
}

// x [1, 2, 5, 5] -> Q -> DQ -> Conv 3x3 pad 1 (3 filters) [-> Relu] -> Q -> DQ -> y
std::string qdq_conv_model(const Spec& s, std::vector<float>* w_real = nullptr) {
  onnx::GraphParts gp;
  const int64_t at = s.ort_layout ? onnx::kUint8 : s.act_type;
  auto fscalar = [&](const std::string& n, float v) {
    gp.initializers.push_back(onnx::tensor_proto(n, {}, onnx::kFloat, &v, 4));
  };
  fscalar("x_scale", s.x_scale);
  gp.initializers.push_back(zp_tensor("x_zp", at, s.ort_layout ? 128 : 0));
  fscalar("y_scale", s.y_scale);
  gp.initializers.push_back(zp_tensor("y_zp", at, s.ort_layout ? 0 : s.y_zp));
  const Tensor wf = random_tensor({3, 2, 3, 3}, 5, -1.0f, 1.0f);
  if (w_real) w_real->assign(wf.data(), wf.data() + wf.numel());
  std::vector<std::string> conv_in = {"x_dq", "w"};
  if (s.ort_layout) {
    gp.initializers.push_back(
        onnx::tensor_proto("w_f", {3, 2, 3, 3}, onnx::kFloat, wf.data(), 54 * 4));
    fscalar("w_scale", 1.0f / 127);
    gp.initializers.push_back(zp_tensor("w_zp", onnx::kUint8, 127));
    gp.nodes.push_back(
        onnx::node_proto("QuantizeLinear", "w_Q", {"w_f", "w_scale", "w_zp"}, {"w_q"}));
    const std::vector<float> b = {0.1f, -0.2f, 0.3f};
    gp.initializers.push_back(onnx::tensor_proto("b", {3}, onnx::kFloat, b.data(), 12));
    conv_in.push_back("b");
  } else {
    std::vector<int8_t> wq(54);
    for (int i = 0; i < 54; ++i) wq[size_t(i)] = int8_t(std::lround(wf[i] * 127));
    gp.initializers.push_back(onnx::tensor_proto("w_q", {3, 2, 3, 3}, onnx::kInt8, wq.data(), 54));
    const std::vector<float> ws = s.w_scales.empty() ? std::vector<float>{s.w_scale0} : s.w_scales;
    const std::vector<int64_t> dims =
        s.w_scales.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{int64_t(ws.size())};
    gp.initializers.push_back(
        onnx::tensor_proto("w_scale", dims, onnx::kFloat, ws.data(), ws.size() * 4));
    std::vector<int8_t> wz(ws.size(), 0);
    gp.initializers.push_back(onnx::tensor_proto("w_zp", dims, onnx::kInt8, wz.data(), wz.size()));
  }
  gp.nodes.insert(gp.nodes.begin(),
                  onnx::node_proto("QuantizeLinear", "x_Q", {"x", "x_scale", "x_zp"}, {"x_q"}));
  gp.nodes.push_back(
      onnx::node_proto("DequantizeLinear", "x_DQ", {"x_q", "x_scale", "x_zp"}, {"x_dq"}));
  gp.nodes.push_back(onnx::node_proto("DequantizeLinear", "w_DQ", {"w_q", "w_scale", "w_zp"}, {"w"},
                                      {onnx::attr_int("axis", s.w_axis)}));
  gp.nodes.push_back(onnx::node_proto(
      "Conv", "conv", conv_in, {s.ort_layout ? "c" : "y_f"},
      {onnx::attr_ints("kernel_shape", {3, 3}), onnx::attr_ints("pads", {1, 1, 1, 1})}));
  if (s.ort_layout) gp.nodes.push_back(onnx::node_proto("Relu", "relu", {"c"}, {"y_f"}));
  gp.nodes.push_back(
      onnx::node_proto("QuantizeLinear", "y_Q", {"y_f", "y_scale", "y_zp"}, {"y_q"}));
  std::string out = "y";
  if (s.drop_last_dq)
    out = "y_q";
  else
    gp.nodes.push_back(
        onnx::node_proto("DequantizeLinear", "y_DQ", {"y_q", "y_scale", "y_zp"}, {"y"}));
  gp.inputs.push_back(onnx::value_info("x", onnx::kFloat, {1, 2, 5, 5}));
  gp.outputs.push_back(onnx::value_info(out, onnx::kFloat, {1, 3, 5, 5}));
  return onnx::model_proto(onnx::graph_proto(gp), 13, "test");
}

Status load(const std::string& m) {
  auto s = Int8Session::create(reinterpret_cast<const uint8_t*>(m.data()), m.size());
  return s.ok() ? Status() : s.status();
}

void expect_error(const Spec& s, const std::string& node, const std::string& what) {
  const Status st = load(qdq_conv_model(s));
  ASSERT_FALSE(st.ok()) << "expected an error about " << what;
  EXPECT_NE(st.message().find("'" + node + "'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.message();
}

TEST(Int8BadQdq, ValidModelLoads) {
  EXPECT_TRUE(load(qdq_conv_model(Spec())).ok()) << load(qdq_conv_model(Spec())).message();
}

TEST(Int8BadQdq, ScalesMustBePositiveAndFinite) {
  for (float bad : {0.0f, -0.5f, std::nanf(""), INFINITY}) {
    Spec s;
    s.x_scale = bad;
    expect_error(s, "x_Q", "must be a finite number > 0");
    Spec t;
    t.y_scale = bad;
    expect_error(t, "y_Q", "must be a finite number > 0");
    Spec w;
    w.w_scales = {0.02f, bad, 0.03f};
    expect_error(w, "w_DQ", "must be a finite number > 0");
  }
}

TEST(Int8BadQdq, ZeroPointsInRange) {
  Spec s;
  s.y_zp = 300;
  expect_error(s, "y_Q", "zero point 300 outside the INT8 range");
  Spec u;
  u.act_type = onnx::kUint8;
  u.y_zp = -1;
  expect_error(u, "y_Q", "zero point -1 outside the UINT8 range");
}

TEST(Int8BadQdq, AxisMismatches) {
  Spec count;
  count.w_scales = {0.02f, 0.02f};  // 2 scales for 3 output channels
  expect_error(count, "w_DQ", "axis mismatch");
  Spec axis;
  axis.w_scales = {0.02f, 0.02f};  // along axis 1 (2 input channels): not per output channel
  axis.w_axis = 1;
  expect_error(axis, "conv", "axis mismatch");
  Spec range;
  range.w_scales = {0.02f, 0.02f, 0.02f};
  range.w_axis = 4;
  expect_error(range, "w_DQ", "axis 4 out of range");
}

TEST(Int8BadQdq, QuantizeWithoutDequantize) {
  Spec s;
  s.drop_last_dq = true;
  expect_error(s, "y_Q", "without its DequantizeLinear");
}

// ONNX Runtime's quantizer layout; the expected output follows the QDQ semantics literally:
// dequantize, float conv with the dequantized weights, Relu, quantize (round half to even).
TEST(Int8, OrtQuantizerLayoutMatchesQdqSemantics) {
  Spec s;
  s.ort_layout = true;
  std::vector<float> w;
  const std::string model = qdq_conv_model(s, &w);
  auto sess = Int8Session::create(reinterpret_cast<const uint8_t*>(model.data()), model.size());
  ASSERT_TRUE(sess.ok()) << sess.status().message();
  const Tensor x = random_tensor({1, 2, 5, 5}, 3, -3.0f, 3.0f);
  std::vector<float> y(75);
  (*sess)->run(x.data(), y.data());
  // The semantics.
  Tensor xd({1, 2, 5, 5}), wd({3, 2, 3, 3});
  for (int64_t i = 0; i < xd.numel(); ++i)
    xd[i] = s.x_scale *
            float(std::clamp(std::nearbyint(x[i] / s.x_scale) + 128.0f, 0.0f, 255.0f) - 128.0f);
  for (int64_t i = 0; i < wd.numel(); ++i)
    wd[i] = (1.0f / 127) *
            float(std::clamp(std::nearbyint(w[size_t(i)] * 127) + 127.0f, 0.0f, 255.0f) - 127.0f);
  Node conv;
  conv.op = OpType::Conv;
  conv.name = "conv";
  conv.attrs.kernel_shape = {3, 3};
  conv.attrs.pads = {1, 1, 1, 1};
  auto r = run_node_reference(conv, {xd, wd, Tensor(Shape{3}, {0.1f, -0.2f, 0.3f})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  int off = 0;
  for (int64_t i = 0; i < 75; ++i) {
    const float want =
        s.y_scale *
        std::clamp(std::nearbyint(std::max(0.0f, (*r)[0][i]) / s.y_scale), 0.0f, 255.0f);
    const float steps = std::fabs(y[size_t(i)] - want) / s.y_scale;
    EXPECT_LE(steps, 1.001f) << "element " << i << ": " << y[size_t(i)] << " vs " << want;
    off += steps > 0.5f;
  }
  EXPECT_LE(off, 3) << "outputs one step off the QDQ semantics";
}

}  // namespace
