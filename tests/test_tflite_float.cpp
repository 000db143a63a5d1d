// The TFLite float graph (scratchcv/tflite_float.h): TFLite's SAME pads and the depthwise
// multiplier against hand-computed values, and the dequantized bundled model against the
// quantized engine on real photos.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/session.h"
#include "scratchcv/tflite.h"
#include "scratchcv/tflite_float.h"
#include "tflite_test_util.h"

namespace scv {
namespace {

using test::fb_table;
using test::TfliteModelBuilder;

constexpr int8_t U8 = 3, I32 = 2;
const std::string kModel = std::string(SCV_SOURCE_DIR) + "/data/models/" + kBundledModelFile;

TEST(TfliteSamePads, ExtraPixelGoesBottomRight) {
  // Hand-computed: out = ceil(in / s), total = (out - 1) * s + (k - 1) * d + 1 - in.
  using P = std::array<int64_t, 2>;
  EXPECT_EQ(tflite_same_pads(224, 3, 2, 1), (P{0, 1}));  // out 112, total 1
  EXPECT_EQ(tflite_same_pads(112, 3, 2, 1), (P{0, 1}));  // out 56, total 1
  EXPECT_EQ(tflite_same_pads(7, 3, 1, 1), (P{1, 1}));    // out 7, total 2
  EXPECT_EQ(tflite_same_pads(5, 4, 1, 1), (P{1, 2}));    // out 5, total 3
  EXPECT_EQ(tflite_same_pads(10, 3, 1, 2), (P{2, 2}));   // dilated: effective 5, total 4
  EXPECT_EQ(tflite_same_pads(8, 1, 2, 1), (P{0, 0}));    // 1x1 stride 2: total -1 -> 0
  EXPECT_EQ(tflite_same_pads(5, 3, 2, 1), (P{1, 1}));    // out 3, total 2
}

// One DEPTHWISE_CONV_2D, 3 input channels, multiplier 2, 3x3, stride 2, SAME on a 4x4 image.
// Input channel c holds c + 1 everywhere; weight of tap (i, j) for output o is (3i + j + 1)(o + 1);
// bias 100 o. Output o reads input channel o / 2, so y[o](oy, ox) = S(oy, ox) (o + 1)(o / 2 + 1)
// + 100 o, where S sums the taps inside the image: the pads are 0 top/left and 1 bottom/right,
// so S = [[45, 27], [21, 12]] (27 = taps of columns 0, 1; 21 = rows 0, 1; 12 = taps 1+2+4+5).
std::vector<uint8_t> depthwise_model() {
  TfliteModelBuilder b;
  const int ti = b.add_tensor({1, 4, 4, 3}, U8, 1.0f, 0);
  std::vector<uint8_t> w(9 * 6);
  for (int k = 0; k < 9; ++k)
    for (int o = 0; o < 6; ++o) w[size_t(k * 6 + o)] = uint8_t((k + 1) * (o + 1));
  const int tw = b.add_tensor({1, 3, 3, 6}, U8, 1.0f, 0, w);
  std::vector<int32_t> bias = {0, 100, 200, 300, 400, 500};
  const int tb = b.add_tensor({6}, I32, 1.0f, 0, TfliteModelBuilder::bytes(bias));
  const int to = b.add_tensor({1, 2, 2, 6}, U8, 4.0f, 0);
  auto opt = fb_table();
  opt->set<int8_t>(0, 0).set<int32_t>(1, 2).set<int32_t>(2, 2).set<int32_t>(3, 2);
  b.ops.push_back({tflite::kDepthwiseConv2d, {ti, tw, tb}, {to}, uint8_t(2), opt});
  b.inputs = {ti};
  b.outputs = {to};
  return b.build();
}

TEST(TfliteFloat, DepthwiseMultiplierAndAsymmetricSamePads) {
  const std::vector<uint8_t> bytes = depthwise_model();
  auto m = tflite::parse_tflite(bytes.data(), bytes.size());
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto f = build_tflite_float(*m);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const Graph& g = f->graph;
  ASSERT_EQ(g.nodes.size(), 1u);
  const Node& conv = g.nodes[0];
  EXPECT_EQ(conv.op, OpType::Conv);
  EXPECT_EQ(conv.attrs.group, 3);
  EXPECT_EQ(conv.attrs.pads, (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(g.values[conv.inputs[1]].constant.shape(), (Shape{6, 1, 3, 3}));

  Tensor x({1, 3, 4, 4});
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 16; ++i) x[c * 16 + i] = float(c + 1);
  auto y = run_reference(g, {x});
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ((*y)[0].shape(), (Shape{1, 6, 2, 2}));
  const float S[4] = {45, 27, 21, 12};
  for (int o = 0; o < 6; ++o)
    for (int p = 0; p < 4; ++p)
      EXPECT_EQ((*y)[0][o * 4 + p], S[p] * float((o + 1) * (o / 2 + 1)) + 100.f * float(o))
          << "output channel " << o << ", position " << p;
  // The fast session (grouped convolution, asymmetric pads) gives the same numbers.
  auto s = Session::create(g, {1, 3, 4, 4});
  ASSERT_TRUE(s.ok()) << s.status().message();
  Tensor ys({1, 6, 2, 2});
  ASSERT_TRUE((*s)->run(x.data(), ys.data()).ok());
  for (int i = 0; i < 24; ++i) EXPECT_EQ(ys[i], (*y)[0][i]) << i;
}

// Corrupt models: whatever the reader accepts, the builder answers with a graph or an error,
// never a crash (run under ASan/UBSan in the sanitizer pass).
TEST(TfliteFloat, CorruptModelsGiveErrorsNotCrashes) {
  const std::vector<uint8_t> good = depthwise_model();
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int parsed = 0, built = 0;
  for (int i = 0; i < 600; ++i) {
    std::vector<uint8_t> bad = good;
    for (int k = 0; k < 1 + i % 3; ++k) bad[(next() >> 8) % bad.size()] = uint8_t(next() >> 24);
    auto m = tflite::parse_tflite(bad.data(), bad.size());
    if (!m.ok()) continue;
    ++parsed;
    auto f = build_tflite_float(*m);
    if (!f.ok()) {
      EXPECT_FALSE(f.status().message().empty());
      continue;
    }
    ++built;
    Tensor x({1, 3, int64_t(f->height), int64_t(f->width)});
    (void)run_reference(f->graph, {x});  // may fail (e.g. shapes the ops refuse), never crash
  }
  std::printf("%d of 600 mutants parse, %d build a float graph\n", parsed, built);
  EXPECT_GT(parsed, 0);
}

// The dequantized logits of the quantized engine: the input of the model's final SOFTMAX.
std::vector<float> quantized_logits(const tflite::Model& m, const Image& photo) {
  int logits = -1;
  for (const tflite::OpInfo& op : m.ops)
    if (op.code == tflite::kSoftmax) logits = op.inputs[0];
  EXPECT_GE(logits, 0);
  auto s = QSession::create(m, QSessionOptions{1, "", false, true});
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(set_image_input(**s, photo).ok());
  (*s)->run();
  auto bytes = (*s)->activation(logits);
  EXPECT_TRUE(bytes.ok());
  const tflite::TensorInfo& t = m.tensors[size_t(logits)];
  std::vector<float> out;
  for (uint8_t q : *bytes)
    out.push_back(t.q.scale[0] *
                  float(int(t.type == tflite::DType::i8 ? int8_t(q) : q) - t.q.zero_point[0]));
  return out;
}

// The float graph of a quantized model against the quantized engine on the photos the TFLite
// tests use. Top-1: the same class, or (where the engine's best logits tie at 8-bit resolution)
// one of the tied classes. Logits: the engine's are the float network's with every activation
// rounded to 8 bits (1/255 of each layer's range) through 53 layers, which moves them by a few
// output steps (the bundled model's logit step is 0.099, its logits span ~25); measured on these
// photos the largest gap is 0.48 (bundled) and 0.44 (int8 per-channel), so the bound is 1.0
// absolute (10 steps), and the correlation of the 1001 logits must be above 0.99.
constexpr double kLogitTol = 1.0;

void compare_with_engine(const std::string& model_path) {
  auto m = tflite::load_tflite(model_path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto f = build_tflite_float(*m);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_TRUE(f->softmax_output);
  EXPECT_EQ(f->stages, (std::vector<std::string>{"conv1", "layer1", "layer3", "layer6", "layer13",
                                                 "layer17"}));
  const Node& soft = f->graph.nodes.back();
  ASSERT_EQ(soft.op, OpType::Softmax);
  Graph logits_graph = f->graph;  // the same network, its output the Softmax's input
  logits_graph.outputs = {soft.inputs[0]};
  auto s = Session::create(logits_graph, {1, 3, 224, 224});
  ASSERT_TRUE(s.ok()) << s.status().message();
  const std::string sk = "/usr/lib/python3/dist-packages/skimage/data/",
                    dk = "/usr/share/darknet/data/";
  bool first = true;
  for (const std::string& path :
       {std::string(SCV_SOURCE_DIR) + "/data/sample.jpg", sk + "chelsea.png", sk + "coffee.png",
        dk + "dog.jpg", dk + "eagle.jpg", sk + "astronaut.png"}) {
    if (!file_exists(path)) {
      ADD_FAILURE() << path << " is missing (scripts/install-deps.sh installs it)";
      continue;
    }
    auto photo = load_image(path, ColorMode::rgb);
    ASSERT_TRUE(photo.ok()) << photo.status().message();
    const std::vector<float> q = quantized_logits(*m, *photo);
    ASSERT_EQ(q.size(), 1001u);
    auto x = tflite_float_input(*f, *photo);
    ASSERT_TRUE(x.ok());
    Tensor lf({1, 1001});
    ASSERT_TRUE((*s)->run(x->data(), lf.data()).ok());
    if (first) {  // the fast session against the reference executor, once
      first = false;
      auto lr = run_reference(logits_graph, {*x});
      ASSERT_TRUE(lr.ok()) << lr.status().message();
      for (int i = 0; i < 1001; ++i) EXPECT_NEAR(lf[i], (*lr)[0][i], 1e-3f) << "class " << i;
    }
    const int top = int(std::max_element(lf.data(), lf.data() + 1001) - lf.data());
    const float qmax = *std::max_element(q.begin(), q.end());
    EXPECT_EQ(q[size_t(top)], qmax)
        << path << ": float top-1 " << top << " is not (one of) the quantized engine's top-1";
    double gap = 0, mq = 0, mf = 0, sqf = 0, sqq = 0, sff = 0;
    for (int i = 0; i < 1001; ++i) {
      gap = std::max(gap, std::fabs(double(q[size_t(i)]) - lf[i]));
      mq += q[size_t(i)] / 1001.0, mf += lf[i] / 1001.0;
    }
    for (int i = 0; i < 1001; ++i) {
      const double a = q[size_t(i)] - mq, c = lf[i] - mf;
      sqf += a * c, sqq += a * a, sff += c * c;
    }
    const double corr = sqf / std::sqrt(sqq * sff);
    std::printf("%s: top-1 %d, max |float - quantized| logit %.3f, correlation %.5f\n",
                path.c_str(), top, gap, corr);
    EXPECT_LT(gap, kLogitTol) << path;
    EXPECT_GT(corr, 0.99) << path;
  }
}

TEST(TfliteFloat, BundledModelAgreesWithTheQuantizedEngine) {
  compare_with_engine(kModel);
}

// The int8 per-channel MobileNetV2 (TF2 post-training quantization), where present.
TEST(TfliteFloat, PerChannelModelAgreesWithTheQuantizedEngine) {
  const std::string p =
      std::string(SCV_SOURCE_DIR) + "/../shared/models/tf2_mobilenet_v2_1.0_224_ptq.tflite";
  if (!file_exists(p)) GTEST_SKIP() << p << " is absent";
  compare_with_engine(p);
}

TEST(TfliteFloat, LoadModelReadsTflite) {
  auto g = load_model(kModel);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->values[g->inputs[0]].shape, (Shape{1, 3, 224, 224}));
}

}  // namespace
}  // namespace scv
