// The graph backward pass and the maps built on it (scratchcv/explain.h), on small hand-made
// graphs where every quantity can be computed directly. Whole-model gradients are compared with
// PyTorch in tests/py/explain_torch.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/op.h"
#include "scratchcv/explain.h"
#include "scratchcv/model.h"
#include "scratchcv/viz.h"
#include "session_test_util.h"

using namespace scv;
using namespace scv::explain;
using scv::testing::add_op;
using scv::testing::random_resnet;
using scv::testing::random_tensor;
using scv::testing::window_attrs;

namespace {

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += double(a[i]) * b[i];
  return s;
}

float max_abs(const Tensor& t) {
  float m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t[i]));
  return m;
}

float max_diff(const Tensor& a, const Tensor& b) {
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// One conv node on input "x"; the output is the graph output.
struct ConvCase {
  int64_t c, h, w, cout, k, stride, pad_t, pad_l, pad_b, pad_r, dil, groups;
};

Graph conv_graph(const ConvCase& cc, uint32_t seed) {
  Graph g;
  const int x = g.add_value("x", {1, cc.c, cc.h, cc.w});
  g.inputs = {x};
  const int w = g.add_constant("w", random_tensor({cc.cout, cc.c / cc.groups, cc.k, cc.k}, seed));
  const int b = g.add_constant("b", random_tensor({cc.cout}, seed + 1));
  Attrs a;
  a.kernel_shape = {cc.k, cc.k};
  a.strides = {cc.stride, cc.stride};
  a.pads = {cc.pad_t, cc.pad_l, cc.pad_b, cc.pad_r};
  a.dilations = {cc.dil, cc.dil};
  a.group = cc.groups;
  const int y = g.add_value("y");
  g.add_node(OpType::Conv, "conv", {x, w, b}, {y}, a);
  g.outputs = {y};
  return g;
}

const ConvCase kConvCases[] = {
    {3, 13, 11, 5, 3, 1, 1, 1, 1, 1, 1, 1},      // im2col path
    {4, 28, 28, 6, 3, 2, 1, 1, 1, 1, 1, 2},      // strided, grouped
    {8, 7, 7, 16, 1, 1, 0, 0, 0, 0, 1, 1},       // 1x1: the input is the col matrix
    {8, 14, 14, 4, 1, 2, 0, 0, 0, 0, 1, 1},      // 1x1 stride 2 (downsample)
    {3, 23, 23, 7, 7, 2, 3, 3, 3, 3, 1, 1},      // the ResNet stem
    {6, 12, 9, 6, 3, 2, 0, 0, 1, 1, 1, 6},       // asymmetric pads, depthwise (direct loops)
    {2, 11, 13, 3, 3, 1, 2, 2, 2, 2, 2, 1},      // dilated (im2col)
    {128, 28, 28, 128, 3, 1, 1, 1, 1, 1, 1, 1},  // a ResNet layer2 3x3
    {3, 15, 15, 8, 3, 2, 0, 0, 1, 1, 1, 1},      // TFLite's SAME stem: pads bottom/right
    {5, 13, 11, 10, 3, 1, 1, 1, 1, 1, 1, 5},     // depthwise, channel multiplier 2
    {4, 9, 10, 4, 3, 1, 2, 2, 2, 2, 2, 4},       // dilated depthwise
    {3, 5, 6, 3, 3, 2, 3, 3, 3, 3, 1, 3},        // depthwise, windows wholly in the padding
    {8, 20, 21, 8, 3, 1, 1, 1, 1, 1, 1, 8},      // MobileNet depthwise: blocks, gathered adjoint
    {6, 24, 23, 6, 3, 2, 0, 0, 1, 1, 1, 6},      // TFLite SAME depthwise stride 2, blocks
    {4, 19, 22, 4, 5, 1, 2, 2, 2, 2, 1, 4},      // 5x5 depthwise
    {3, 17, 30, 3, 3, 1, 0, 2, 1, 0, 1, 3},      // depthwise, a different pad on each side
    {4, 16, 40, 4, 3, 3, 1, 1, 1, 1, 1, 4},      // depthwise stride 3
};

}  // namespace

// The transposed convolution is the adjoint of the convolution: <conv(x), dy> = <x, conv^T(dy)>
// (without bias). Checked for the direct reference and for the im2col + GEMM path.
TEST(Explain, ConvBackwardIsTheAdjoint) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    uint32_t seed = 10;
    for (const ConvCase& cc : kConvCases) {
      Graph g = conv_graph(cc, seed);
      g.values[g.find_value("b")].constant = Tensor({cc.cout});  // zero bias: a linear map
      const Tensor x = random_tensor({1, cc.c, cc.h, cc.w}, seed + 2);
      auto t = run_trace(g, x, pool);
      ASSERT_TRUE(t.ok()) << t.status().message();
      const Tensor& y = t->values[g.outputs[0]];
      const Tensor dy = random_tensor(y.shape(), seed + 3);
      auto dx = backward(*t, g.outputs[0], dy, {g.inputs[0]}, ReluRule::gradient, pool);
      ASSERT_TRUE(dx.ok()) << dx.status().message();
      const double lhs = dot(y, dy), rhs = dot(x, (*dx)[0]);
      EXPECT_NEAR(lhs, rhs, 1e-4 * (std::fabs(lhs) + 1)) << "case c=" << cc.c << " k=" << cc.k;
      // And the im2col path equals the direct transposed convolution.
      ref::Pool2dParams wp;
      ASSERT_TRUE(window_params(g.nodes[0], cc.h, cc.w, cc.k, cc.k, &wp).ok());
      ref::Conv2dParams p{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t, wp.pad_l,
                          wp.pad_b, wp.pad_r, wp.dh, wp.dw, cc.groups};
      Tensor want(x.shape());
      conv2d_backward_data_ref(dy.data(), 1, cc.cout, y.dim(2), y.dim(3),
                               g.values[g.find_value("w")].constant.data(), p, cc.c, cc.h, cc.w,
                               want.data());
      EXPECT_LE(max_diff((*dx)[0], want), 1e-5f * (max_abs(want) + 1)) << "threads " << threads;
      // The forward through im2col + GEMM equals the reference conv.
      auto ref_y = run_reference(g, {x});
      ASSERT_TRUE(ref_y.ok());
      EXPECT_LE(max_diff(y, (*ref_y)[0]), 1e-5f * (max_abs(y) + 1));
      seed += 7;
    }
  }
}

namespace {

// A small network with every op the ResNets use:
// x -> conv(3x3) -> bn -> relu -> maxpool(3x3 s2 p1) -> conv(3x3 s2 p1) -> relu -> (+ skip via
// 1x1 s2 conv) -> relu -> GAP -> flatten -> fc (Gemm, trans_b) -> logits [1, 5]
Graph small_net(uint32_t seed) {
  Graph g;
  int x = g.add_value("input", {1, 3, 15, 15});
  g.inputs = {x};
  auto conv = [&](const std::string& name, int in, int64_t cin, int64_t cout, int64_t k, int64_t s,
                  int64_t pad) {
    const int w =
        g.add_constant(name + ".weight", random_tensor({cout, cin, k, k}, seed++, -.5f, .5f));
    return add_op(g, OpType::Conv, name, {in, w}, window_attrs(k, s, pad));
  };
  int c1 = conv("conv1", x, 3, 6, 3, 1, 1);
  std::vector<int> bn = {c1};
  bn.push_back(g.add_constant("bn.w", random_tensor({6}, seed++, 0.5f, 1.5f)));
  bn.push_back(g.add_constant("bn.b", random_tensor({6}, seed++, -.2f, .2f)));
  bn.push_back(g.add_constant("bn.m", random_tensor({6}, seed++, -.2f, .2f)));
  bn.push_back(g.add_constant("bn.v", random_tensor({6}, seed++, 0.5f, 1.5f)));
  int b1 = add_op(g, OpType::BatchNorm, "bn1", bn);
  int r1 = add_op(g, OpType::Relu, "conv1.relu", {b1});
  int p1 = add_op(g, OpType::MaxPool, "maxpool", {r1}, window_attrs(3, 2, 1));  // 8x8
  int c2 = conv("layer1.0.conv1", p1, 6, 8, 3, 2, 1);                           // 4x4
  int r2 = add_op(g, OpType::Relu, "layer1.0.relu1", {c2});
  int ds = conv("layer1.0.downsample", p1, 6, 8, 1, 2, 0);
  int add = add_op(g, OpType::Add, "layer1.0.add", {r2, ds});
  int r3 = add_op(g, OpType::Relu, "layer1.0.relu", {add});
  int gap = add_op(g, OpType::GlobalAveragePool, "avgpool", {r3});
  int fl = add_op(g, OpType::Flatten, "flatten", {gap});
  const int fw = g.add_constant("fc.weight", random_tensor({5, 8}, seed++));
  const int fb = g.add_constant("fc.bias", random_tensor({5}, seed++));
  Attrs fc;
  fc.trans_b = true;
  int logits = add_op(g, OpType::Gemm, "fc", {fl, fw, fb}, fc);
  g.outputs = {logits};
  return g;
}

}  // namespace

// Gradients of a logit w.r.t. the input and an inner layer vs central finite differences in
// double precision (the forward is float32; the step is large enough for that).
TEST(Explain, GradientsMatchFiniteDifferences) {
  ThreadPool pool(2);
  const Graph g = small_net(1);
  const Tensor x = random_tensor({1, 3, 15, 15}, 99);
  auto t = run_trace(g, x, pool);
  ASSERT_TRUE(t.ok()) << t.status().message();
  const int k = 2;
  auto gr = class_gradients(*t, k, -1, true, pool);
  ASSERT_TRUE(gr.ok()) << gr.status().message();
  auto logit = [&](const Tensor& xi) {
    auto y = run_reference(g, {xi});
    return double((*y)[0][k]);
  };
  double err = 0, norm = 0;
  const float eps = 1e-3f;
  for (int64_t i = 0; i < x.numel(); i += 7) {
    Tensor xp = x.clone(), xm = x.clone();
    xp[i] += eps;
    xm[i] -= eps;
    const double fd = (logit(xp) - logit(xm)) / (2 * eps);
    err += (fd - gr->input[i]) * (fd - gr->input[i]);
    norm += fd * fd;
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-2) << "relative error of d logit / d input";
  EXPECT_GT(norm, 0);
}

// CAM is the logit decomposed over positions: mean over (h, w) of CAM_k + bias_k = logit_k.
TEST(Explain, CamAveragesToTheLogit) {
  ThreadPool pool(1);
  const Graph g = small_net(3);
  auto t = run_trace(g, random_tensor({1, 3, 15, 15}, 5), pool);
  ASSERT_TRUE(t.ok());
  auto head = find_classifier_head(g);
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ(g.values[head->features].name, "layer1.0.relu");
  const Tensor& logits = t->values[logits_value(g)];
  const Tensor& bias = g.values[g.find_value("fc.bias")].constant;
  for (int k = 0; k < 5; ++k) {
    const Tensor cam = class_activation_map(t->values[head->features], head->weight, k);
    double mean = 0;
    for (int64_t i = 0; i < cam.numel(); ++i) mean += cam[i];
    mean /= double(cam.numel());
    EXPECT_NEAR(mean + bias[k], logits[k], 1e-5);
  }
  // Grad-CAM at the last features of a GAP + linear head: the gradient is W[k] / hw everywhere,
  // so Grad-CAM = relu(CAM) / hw.
  auto gr = class_gradients(*t, 1, head->features, false, pool);
  ASSERT_TRUE(gr.ok());
  const Tensor gc = grad_cam(t->values[head->features], gr->layer);
  const Tensor cam = class_activation_map(t->values[head->features], head->weight, 1);
  for (int64_t i = 0; i < cam.numel(); ++i)
    EXPECT_NEAR(gc[i], std::max(0.f, cam[i]) / float(cam.numel()), 1e-6);
}

// The deconvnet on a hand-made network: conv1 -> relu -> maxpool(2x2) -> conv2. Switches,
// unpooling, rectification and transposed convolutions are computed here directly and compared.
TEST(Explain, DeconvnetMatchesDirectComputation) {
  ThreadPool pool(2);
  Graph g;
  const int x = g.add_value("input", {1, 2, 8, 8});
  g.inputs = {x};
  const Tensor w1 = random_tensor({3, 2, 3, 3}, 21), w2 = random_tensor({4, 3, 3, 3}, 22);
  Attrs ca;
  ca.kernel_shape = {3, 3};
  ca.pads = {1, 1, 1, 1};
  const int c1 = g.add_value("conv1"), r1 = g.add_value("relu1"), p1 = g.add_value("pool1"),
            c2 = g.add_value("conv2");
  g.add_node(OpType::Conv, "conv1", {x, g.add_constant("w1", w1)}, {c1}, ca);
  g.add_node(OpType::Relu, "relu1", {c1}, {r1});
  Attrs pa;
  pa.kernel_shape = {2, 2};
  pa.strides = {2, 2};
  g.add_node(OpType::MaxPool, "pool1", {r1}, {p1}, pa);
  g.add_node(OpType::Conv, "conv2", {p1, g.add_constant("w2", w2)}, {c2}, ca);
  g.outputs = {c2};
  const Tensor in = random_tensor({1, 2, 8, 8}, 23);
  auto t = run_trace(g, in, pool);
  ASSERT_TRUE(t.ok()) << t.status().message();

  // Switches: the first maximum of each 2x2 window of relu1, found by brute force.
  const Tensor& r = t->values[r1];
  const auto& sw = t->switches[2];
  ASSERT_EQ(sw.size(), size_t(3 * 4 * 4));
  for (int c = 0; c < 3; ++c)
    for (int oy = 0; oy < 4; ++oy)
      for (int ox = 0; ox < 4; ++ox) {
        int best = -1;
        float m = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            const int idx = (2 * oy + i) * 8 + 2 * ox + j;
            if (r[c * 64 + idx] > m) m = r[c * 64 + idx], best = idx;
          }
        EXPECT_EQ(sw[size_t((c * 4 + oy) * 4 + ox)], best);
        EXPECT_EQ(t->values[p1][(c * 4 + oy) * 4 + ox], m);
      }

  auto deconv = deconvnet(*t, c2, 1, 2, pool);
  ASSERT_TRUE(deconv.ok()) << deconv.status().message();
  ASSERT_EQ(deconv->channel, 1);
  ASSERT_FALSE(deconv->projections.empty());
  // Transposed 3x3 pad-1 convolution written as a gather: out[ci, y, x] = sum over (co, i, j)
  // of w[co, ci, i, j] * in[co, y + 1 - i, x + 1 - j].
  auto conv_t = [](const Tensor& w, const std::vector<float>& v, int cout, int cin, int hw) {
    std::vector<float> out(size_t(cin) * hw * hw, 0.f);
    for (int ci = 0; ci < cin; ++ci)
      for (int y = 0; y < hw; ++y)
        for (int xx = 0; xx < hw; ++xx) {
          double s = 0;
          for (int co = 0; co < cout; ++co)
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) {
                const int oy = y + 1 - i, ox = xx + 1 - j;
                if (oy >= 0 && oy < hw && ox >= 0 && ox < hw)
                  s += double(w[((co * cin + ci) * 3 + i) * 3 + j]) * v[(co * hw + oy) * hw + ox];
              }
          out[(ci * hw + y) * hw + xx] = float(s);
        }
    return out;
  };
  for (const auto& pr : deconv->projections) {
    // 1. the chosen activation alone
    std::vector<float> a(4 * 16, 0.f);
    a[(1 * 4 + pr.y) * 4 + pr.x] = t->values[c2][(1 * 4 + pr.y) * 4 + pr.x];
    EXPECT_EQ(a[(1 * 4 + pr.y) * 4 + pr.x], pr.activation);
    // 2. through conv2 transposed -> [3, 4, 4]
    std::vector<float> d = conv_t(w2, a, 4, 3, 4);
    // 3. unpool with the switches -> [3, 8, 8]
    std::vector<float> u(3 * 64, 0.f);
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 16; ++i) u[c * 64 + sw[c * 16 + i]] += d[c * 16 + i];
    // 4. rectify (the deconvnet's ReLU), 5. conv1 transposed -> [2, 8, 8]
    for (float& v : u) v = std::max(v, 0.f);
    std::vector<float> rec = conv_t(w1, u, 3, 2, 8);
    ASSERT_EQ(pr.image.numel(), 2 * 64);
    float err = 0, scale = 0;
    for (int i = 0; i < 128; ++i) {
      err = std::max(err, std::fabs(rec[i] - pr.image[i]));
      scale = std::max(scale, std::fabs(rec[i]));
    }
    EXPECT_LE(err, 1e-5f * (scale + 1));
    EXPECT_GT(scale, 0.f);
  }
}

// Layer names resolve as PyTorch module names do; the table groups a ResNet by module.
TEST(Explain, LayerNamesAndTable) {
  const Graph g = random_resnet("resnet18", 1);
  auto name_of = [&](const std::string& n) {
    auto v = resolve_layer(g, n);
    return v.ok() ? g.values[*v].name : "error: " + v.status().message();
  };
  EXPECT_EQ(name_of("layer4"), "layer4.1.relu");
  EXPECT_EQ(name_of("layer1.0"), "layer1.0.relu");
  EXPECT_EQ(name_of("conv1"), "conv1");  // the conv output, as PyTorch's model.conv1
  EXPECT_EQ(name_of("input"), "input");
  EXPECT_NE(name_of("layer9").find("no layer named 'layer9'"), std::string::npos);
  EXPECT_NE(name_of("fc.weight").find("constant"), std::string::npos);
  auto head = find_classifier_head(g);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(g.values[head->features].name, "layer4.1.relu");

  ThreadPool pool(2);
  auto t = run_trace(g, random_tensor({1, 3, 64, 64}, 3), pool);
  ASSERT_TRUE(t.ok());
  const auto rows = layer_table(*t);
  std::vector<std::string> names;
  for (const auto& r : rows) names.push_back(r.name);
  const std::vector<std::string> want = {"conv1",    "maxpool",  "layer1.0", "layer1.1", "layer2.0",
                                         "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1",
                                         "avgpool",  "flatten",  "fc"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(rows[0].ops, "Conv+BatchNorm+Relu");
  EXPECT_EQ(rows[0].shape, (Shape{1, 64, 32, 32}));
  // conv MACs x 2, then one operation per output for the batch-norm and the ReLU
  EXPECT_EQ(rows[0].flops, 2LL * 64 * 32 * 32 * 3 * 7 * 7 + 2LL * 64 * 32 * 32);
  EXPECT_GT(rows[0].zero_share, 0.0);
  EXPECT_LT(rows[0].zero_share, 1.0);
  EXPECT_EQ(rows[1].zero_share, -1.0);  // maxpool is not a ReLU
}

// Ops the backward pass does not know, and bad seeds, are errors, not crashes.
TEST(Explain, Errors) {
  ThreadPool pool(1);
  const Graph g = small_net(7);
  auto t = run_trace(g, random_tensor({1, 3, 15, 15}, 1), pool);
  ASSERT_TRUE(t.ok());
  auto bad = backward(*t, g.outputs[0], Tensor({1, 4}), {g.inputs[0]}, ReluRule::gradient, pool);
  EXPECT_FALSE(bad.ok());
  auto cls = class_gradients(*t, 5, -1, true, pool);
  EXPECT_FALSE(cls.ok());
  EXPECT_NE(cls.status().message().find("out of range"), std::string::npos);
}

// ReLU6 as Clip(0, 6): the gradient passes where 0 <= x <= 6 (as torch.clamp); the deconvnet
// rectifies the backward signal whatever x was; guided backpropagation does both.
TEST(Explain, ClipFollowsTheReluRule) {
  ThreadPool pool(1);
  Graph g;
  const int x = g.add_value("input", {1, 1, 1, 6});
  g.inputs = {x};
  const int lo = g.add_constant("lo", Tensor({1}, {0.f}));
  const int hi = g.add_constant("hi", Tensor({1}, {6.f}));
  const int y = g.add_value("relu6");
  g.add_node(OpType::Clip, "relu6", {x, lo, hi}, {y});
  g.outputs = {y};
  auto t = run_trace(g, Tensor({1, 1, 1, 6}, {-2.f, 0.f, 3.f, 6.f, 8.f, 1.f}), pool);
  ASSERT_TRUE(t.ok()) << t.status().message();
  const Tensor dy({1, 1, 1, 6}, {1.f, 1.f, -1.f, 2.f, 1.f, 1.f});
  const std::pair<ReluRule, std::vector<float>> cases[] = {
      {ReluRule::gradient, {0.f, 1.f, -1.f, 2.f, 0.f, 1.f}},
      {ReluRule::deconvnet, {1.f, 1.f, 0.f, 2.f, 1.f, 1.f}},
      {ReluRule::guided, {0.f, 1.f, 0.f, 2.f, 0.f, 1.f}},
  };
  for (const auto& [rule, want] : cases) {
    auto dx = backward(*t, y, dy, {x}, rule, pool);
    ASSERT_TRUE(dx.ok()) << dx.status().message();
    for (int i = 0; i < 6; ++i) EXPECT_EQ((*dx)[0][i], want[size_t(i)]) << int(rule) << " " << i;
  }
}

// The bundled MobileNetV2's float graph: CAM through its 1x1-conv classifier averages back to
// the logit, as for a linear head.
TEST(Explain, CamThroughAConvClassifier) {
  ThreadPool pool(2);
  auto g =
      load_model(std::string(SCV_SOURCE_DIR) + "/data/models/mobilenet_v2_1.0_224_quant.tflite");
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto t = run_trace(*g, random_tensor({1, 3, 224, 224}, 7), pool);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto head = find_classifier_head(*g);
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ(head->weight.shape(), (Shape{1001, 1280}));
  EXPECT_EQ(t->values[head->features].shape(), (Shape{1, 1280, 7, 7}));
  const Tensor& logits = t->values[logits_value(*g)];
  const Node* cls = nullptr;
  for (const Node& n : g->nodes)
    if (n.name == "classifier") cls = &n;
  ASSERT_NE(cls, nullptr);
  const Tensor& bias = g->values[cls->inputs[2]].constant;
  for (int k : {0, 286, 1000}) {
    const Tensor cam = class_activation_map(t->values[head->features], head->weight, k);
    double mean = 0;
    for (int64_t i = 0; i < cam.numel(); ++i) mean += cam[i];
    EXPECT_NEAR(mean / double(cam.numel()) + bias[k], logits[k], 1e-4) << k;
  }
}

// The data: URIs of the report: base64 as RFC 4648's test vectors give it.
TEST(Viz, Base64MatchesRfc4648) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : cases)
    EXPECT_EQ(viz::base64(reinterpret_cast<const uint8_t*>(in), std::strlen(in)), want) << in;
}

// The colour scale: dark blue, cyan-green-yellow, dark red, within one level of the formula
// (matplotlib's jet: each channel 1.5 - |4 t - k| clipped to [0, 1]) everywhere.
TEST(Viz, JetFollowsTheFormula) {
  for (int i = 0; i <= 1000; ++i) {
    const float t = float(i) / 1000;
    const viz::Rgb c = viz::jet(t);
    const int got[3] = {c.r, c.g, c.b};
    for (int k = 0; k < 3; ++k) {
      const double want = 255.0 * std::clamp(1.5 - std::fabs(4.0 * t - (3 - k)), 0.0, 1.0);
      EXPECT_LE(std::fabs(got[k] - want), 1.0) << "t " << t << " channel " << k;
    }
  }
  EXPECT_EQ(viz::jet(-1.f).b, viz::jet(0.f).b);
  EXPECT_EQ(viz::jet(std::numeric_limits<float>::quiet_NaN()).b, viz::jet(0.f).b);
}
