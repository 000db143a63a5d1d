// TFLite reader, quantized engine and bundled model: reader fields, per-operator results against
// hand computation and a float64 oracle, every ISA x thread count against the reference, corrupt
// files, model names and labels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "scratchcv/cpu.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/sha256.h"
#include "scratchcv/tflite.h"
#include "tflite_test_util.h"

namespace scv {
namespace {

using test::fb_table;
using test::fb_vec;
using test::TfliteModelBuilder;
using tflite::DType;

const std::string kModel = std::string(SCV_SOURCE_DIR) + "/data/models/" + kBundledModelFile;
const std::string kLabels = std::string(SCV_SOURCE_DIR) + "/data/models/" + kBundledLabelsFile;
constexpr int8_t U8 = 3, I8 = 9, I32 = 2, F32 = 0;

// ---- the bundled model -----------------------------------------------------------------------

TEST(BundledModel, ChecksumsMatch) {
  auto h = sha256_file_hex(kModel);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(*h, kBundledModelSha256);
  auto l = sha256_file_hex(kLabels);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1");
}

TEST(BundledModel, FoundRelativeToTheExecutableAndLabelled) {
  auto p = find_bundled_file(kBundledModelFile);
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto found_hash = sha256_file_hex(*p);  // the source file or the build tree's copy
  ASSERT_TRUE(found_hash.ok());
  EXPECT_EQ(*found_hash, kBundledModelSha256);
  auto c = resolve_model("mobilenet_v2");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->tflite);
  EXPECT_EQ(c->source, "bundled");
  auto labels = labels_for(1001);
  ASSERT_TRUE(labels.ok()) << labels.status().message();
  EXPECT_EQ((*labels)[0], "background");
  EXPECT_EQ((*labels)[286], "Egyptian cat");
  auto none = labels_for(7);  // a fine-tuned model without labels: indices only
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(labels_for(5, kLabels).ok());  // 1001 lines for 5 classes
  EXPECT_FALSE(resolve_model("no_such_model_or_file").ok());
  EXPECT_TRUE(is_tflite_file(kModel));
  EXPECT_FALSE(is_tflite_file(kLabels));
}

TEST(TfliteReader, ReadsTheBundledModel) {
  auto m = tflite::load_tflite(kModel);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->version, 3u);
  EXPECT_EQ(m->tensors.size(), 174u);
  EXPECT_EQ(m->ops.size(), 66u);
  ASSERT_EQ(m->inputs.size(), 1u);
  const tflite::TensorInfo& in = m->tensors[size_t(m->inputs[0])];
  EXPECT_EQ(in.shape, (std::vector<int32_t>{1, 224, 224, 3}));
  EXPECT_EQ(in.type, DType::u8);
  EXPECT_FLOAT_EQ(in.q.scale[0], 0.0078125f);
  EXPECT_EQ(in.q.zero_point[0], 128);
  const tflite::OpInfo& c0 = m->ops[0];
  EXPECT_EQ(c0.code, tflite::kConv2d);
  EXPECT_EQ(c0.stride_h, 2);
  EXPECT_EQ(c0.padding, tflite::Padding::same);
  EXPECT_EQ(c0.activation, tflite::Activation::relu6);
  EXPECT_EQ(m->ops[1].code, tflite::kDepthwiseConv2d);
  const tflite::TensorInfo& w = m->tensors[size_t(c0.inputs[1])];
  EXPECT_EQ(w.shape, (std::vector<int32_t>{32, 3, 3, 3}));
  EXPECT_NE(w.data, nullptr);
  EXPECT_EQ(m->tensors[size_t(m->outputs[0])].shape, (std::vector<int32_t>{1, 1001}));
}

TEST(BundledModel, ClassifiesTheSamplePhotoOnEveryIsa) {
  auto m = tflite::load_tflite(kModel);
  ASSERT_TRUE(m.ok());
  auto img = load_image(std::string(SCV_SOURCE_DIR) + "/data/sample.jpg", ColorMode::rgb);
  ASSERT_TRUE(img.ok());
  std::vector<uint8_t> ref;
  for (const char* isa : {"ref", "avx2", "avx512"}) {
    Isa i;
    ASSERT_TRUE(parse_isa(isa, &i));
    if (!isa_supported(i)) continue;
    for (int threads : {1, 2}) {
      if (std::string(isa) == "ref" && threads == 2) continue;
      auto s = QSession::create(*m, QSessionOptions{threads, isa});
      ASSERT_TRUE(s.ok()) << s.status().message();
      ASSERT_TRUE(set_image_input(**s, *img).ok());
      (*s)->run();
      std::vector<uint8_t> out((*s)->output_data(),
                               (*s)->output_data() + (*s)->output_info().bytes);
      if (ref.empty()) ref = out;
      EXPECT_EQ(out, ref) << isa << " x " << threads << " threads differs from the reference";
      const std::vector<float> p = (*s)->output_float();
      EXPECT_EQ(std::max_element(p.begin(), p.end()) - p.begin(), 286);  // Egyptian cat
    }
  }
}

// ---- single-operator models against a float64 oracle ------------------------------------------

struct QT {
  std::vector<int32_t> shape;
  int8_t type;
  float scale;
  int64_t zp;
};

int64_t numel(const std::vector<int32_t>& s) {
  int64_t n = 1;
  for (int32_t d : s) n *= d;
  return n;
}

double deq(const std::vector<uint8_t>& b, size_t i, const QT& t) {
  const int v = t.type == I8 ? int(int8_t(b[i])) : int(b[i]);
  return t.scale * (v - t.zp);
}

// round half up (single rounding) of real / scale + zp, clamped to the type and [lo, hi] reals.
int quantize_ref(double real, const QT& t) {
  const int qmin = t.type == I8 ? -128 : 0, qmax = t.type == I8 ? 127 : 255;
  const double q = std::floor(real / t.scale + 0.5) + double(t.zp);
  return int(std::clamp(q, double(qmin), double(qmax)));
}

double activate(double v, int act) {
  if (act == 1) return std::max(v, 0.0);
  if (act == 3) return std::clamp(v, 0.0, 6.0);
  if (act == 2) return std::clamp(v, -1.0, 1.0);
  return v;
}

std::vector<uint8_t> random_bytes(int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (uint8_t& b : v) b = uint8_t(rng() & 0xff);
  return v;
}

// Runs the model on every ISA x {1, 2} threads; all must give the reference kernels' bytes.
std::vector<uint8_t> run_everywhere(const std::vector<uint8_t>& file,
                                    const std::vector<uint8_t>& input) {
  auto m = tflite::parse_tflite(file.data(), file.size());
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return {};
  std::vector<uint8_t> ref;
  for (const char* isa : {"ref", "avx2", "avx512"}) {
    Isa i;
    parse_isa(isa, &i);
    if (!isa_supported(i)) continue;
    for (int threads : {1, 2}) {
      auto s = QSession::create(*m, QSessionOptions{threads, isa});
      EXPECT_TRUE(s.ok()) << s.status().message();
      if (!s.ok()) return {};
      EXPECT_EQ((*s)->input_info().bytes, input.size());
      std::copy(input.begin(), input.end(), (*s)->input_data());
      (*s)->run();
      std::vector<uint8_t> out((*s)->output_data(),
                               (*s)->output_data() + (*s)->output_info().bytes);
      if (ref.empty())
        ref = out;
      else
        EXPECT_EQ(out, ref) << isa << " x " << threads << " threads differs from the reference";
    }
  }
  return ref;
}

// Output bytes within one step of the oracle; returns how many differ at all.
int64_t expect_close(const std::vector<uint8_t>& got, const std::vector<int>& want, const QT& t) {
  EXPECT_EQ(got.size(), want.size());
  int64_t off = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const int g = t.type == I8 ? int(int8_t(got[i])) : int(got[i]);
    EXPECT_LE(std::abs(g - want[i]), 1) << "element " << i;
    off += g != want[i];
  }
  return off;
}

struct ConvCase {
  const char* name;
  bool depthwise;
  int n, h, w, ic, oc, k, stride, dil;
  bool same;
  int act;
  int8_t type;       // activations
  bool per_channel;  // int8 per-channel weights (else uint8 per-tensor)
  int64_t in_zp, out_zp;
};

void run_conv_case(const ConvCase& c) {
  SCOPED_TRACE(c.name);
  std::mt19937 rng(1234);
  TfliteModelBuilder b;
  const QT in{{c.n, c.h, c.w, c.ic}, c.type, 0.05f, c.in_zp};
  const int mult = c.depthwise ? c.oc / c.ic : 1;
  const int eff = (c.k - 1) * c.dil + 1;
  const int oh = c.same ? (c.h + c.stride - 1) / c.stride : (c.h - eff + c.stride) / c.stride;
  const int ow = c.same ? (c.w + c.stride - 1) / c.stride : (c.w - eff + c.stride) / c.stride;
  const int pt = std::max(0, ((oh - 1) * c.stride + eff - c.h) / 2),
            pl = std::max(0, ((ow - 1) * c.stride + eff - c.w) / 2);
  const QT out{{c.n, oh, ow, c.oc}, c.type, 0.11f, c.out_zp};
  const std::vector<int32_t> wshape = c.depthwise ? std::vector<int32_t>{1, c.k, c.k, c.oc}
                                                  : std::vector<int32_t>{c.oc, c.k, c.k, c.ic};
  std::vector<uint8_t> wbytes = random_bytes(numel(wshape), rng);
  std::vector<float> wscale(size_t(c.oc));
  std::vector<int64_t> wzp(size_t(c.oc), 0);
  for (float& s : wscale)
    s = c.per_channel ? 0.002f + 0.01f * float(rng() % 100) / 100.0f : 0.0123f;
  const int64_t wz_u8 = 117;
  std::vector<int32_t> bias(size_t(c.oc));
  for (int32_t& v : bias) v = int32_t(rng() % 20001) - 10000;
  const int ti = b.add_tensor(in.shape, in.type, in.scale, in.zp);
  const int tw = b.add_tensor(wshape, c.per_channel ? I8 : U8, 0, 0, wbytes);
  if (c.per_channel) {
    b.tensors[size_t(tw)].scale = wscale;
    b.tensors[size_t(tw)].zp = wzp;
    b.tensors[size_t(tw)].axis = c.depthwise ? 3 : 0;
  } else {
    b.tensors[size_t(tw)].scale = {wscale[0]};
    b.tensors[size_t(tw)].zp = {wz_u8};
  }
  const int tb = b.add_tensor({c.oc}, I32, 0, 0, TfliteModelBuilder::bytes(bias));
  b.tensors[size_t(tb)].scale = {in.scale * wscale[0]};
  b.tensors[size_t(tb)].zp = {0};
  const int to = b.add_tensor(out.shape, out.type, out.scale, out.zp);
  auto opt = fb_table();
  opt->set<int8_t>(0, c.same ? 0 : 1).set<int32_t>(1, c.stride).set<int32_t>(2, c.stride);
  if (c.depthwise)
    opt->set<int32_t>(3, mult)
        .set<int8_t>(4, int8_t(c.act))
        .set<int32_t>(5, c.dil)
        .set<int32_t>(6, c.dil);
  else
    opt->set<int8_t>(3, int8_t(c.act)).set<int32_t>(4, c.dil).set<int32_t>(5, c.dil);
  b.ops.push_back({c.depthwise ? tflite::kDepthwiseConv2d : tflite::kConv2d,
                   {ti, tw, tb},
                   {to},
                   uint8_t(c.depthwise ? 2 : 1),
                   opt});
  b.inputs = {ti};
  b.outputs = {to};
  const std::vector<uint8_t> x = random_bytes(numel(in.shape), rng);
  const std::vector<uint8_t> got = run_everywhere(b.build(), x);

  // float64 oracle: dequantize, convolve (out-of-image taps are real 0), bias, activation.
  auto wval = [&](size_t i, int o) {
    const double s = c.per_channel ? wscale[size_t(o)] : wscale[0];
    return c.per_channel ? s * int8_t(wbytes[i]) : s * (int(wbytes[i]) - wz_u8);
  };
  std::vector<int> want(size_t(numel(out.shape)));
  for (int nb = 0; nb < c.n; ++nb)
    for (int y = 0; y < oh; ++y)
      for (int xx = 0; xx < ow; ++xx)
        for (int o = 0; o < c.oc; ++o) {
          const double bs =
              c.per_channel ? double(in.scale) * wscale[size_t(o)] : double(in.scale) * wscale[0];
          double acc = bias[size_t(o)] * bs;
          for (int ky = 0; ky < c.k; ++ky)
            for (int kx = 0; kx < c.k; ++kx) {
              const int iy = y * c.stride - pt + ky * c.dil, ix = xx * c.stride - pl + kx * c.dil;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              const size_t base = ((size_t(nb) * c.h + iy) * c.w + ix) * c.ic;
              if (c.depthwise) {
                acc +=
                    deq(x, base + size_t(o / mult), in) * wval(size_t(ky * c.k + kx) * c.oc + o, o);
              } else {
                for (int i = 0; i < c.ic; ++i)
                  acc += deq(x, base + i, in) *
                         wval(((size_t(o) * c.k + ky) * c.k + kx) * c.ic + i, o);
              }
            }
          want[((size_t(nb) * oh + y) * ow + xx) * c.oc + o] =
              quantize_ref(activate(acc, c.act), out);
        }
  const int64_t off = expect_close(got, want, out);
  EXPECT_LE(off, int64_t(want.size()) / 50 + 1) << "too many one-step differences";
}

TEST(QuantOps, ConvAndDepthwiseMatchTheFloatOracle) {
  const ConvCase cases[] = {
      // name, dw, n, h, w, ic, oc, k, stride, dil, same, act, type, per_channel, in_zp, out_zp
      {"conv 1x1 uint8 relu6", false, 1, 5, 7, 24, 37, 1, 1, 1, true, 3, U8, false, 128, 0},
      {"conv 3x3 s2 SAME odd sizes, int8 per-channel", false, 1, 13, 7, 3, 33, 3, 2, 1, true, 0, I8,
       true, -5, 3},
      {"conv 3x3 zero points at both ends", false, 2, 7, 9, 13, 16, 3, 1, 1, true, 1, U8, false,
       255, 0},
      {"conv 3x3 zero points at both ends, int8", false, 1, 6, 6, 8, 17, 3, 1, 1, false, 0, I8,
       true, 127, -128},
      {"conv 5x5 dilation 2 VALID", false, 1, 12, 11, 5, 9, 3, 1, 2, false, 2, U8, false, 0, 255},
      {"conv 1x1 K not a multiple of 4", false, 1, 3, 5, 7, 130, 1, 1, 1, true, 0, I8, true, 1, 0},
      {"depthwise 3x3 s1 relu6", true, 1, 9, 8, 40, 40, 3, 1, 1, true, 3, U8, false, 0, 0},
      {"depthwise 3x3 s2 SAME odd, int8 per-channel", true, 1, 13, 11, 19, 19, 3, 2, 1, true, 0, I8,
       true, -3, 2},
      {"depthwise multiplier 2", true, 1, 7, 7, 6, 12, 3, 1, 1, true, 1, U8, false, 120, 7},
      {"depthwise 5x5 VALID", true, 2, 9, 9, 17, 17, 5, 1, 1, false, 0, I8, true, 0, 0},
      {"depthwise 3x3 on an image narrower than the window", true, 1, 2, 1, 12, 12, 3, 1, 1, true,
       2, U8, false, 200, 5},
      {"depthwise 3x3 s2 VALID even sizes", true, 1, 10, 12, 24, 24, 3, 2, 1, false, 3, U8, false,
       37, 0},
  };
  for (const ConvCase& c : cases) run_conv_case(c);
}

TEST(QuantOps, Conv1x1HandComputed) {
  // One pixel, two input channels, one output: x = (130, 126) zp 128 scale 0.5 -> reals (1, -1);
  // w = (3, -2) int8 scale 0.25 -> (0.75, -0.5); bias 4 (scale 0.125) -> 0.5.
  // acc = 0.75 + 0.5 + 0.5 = 1.75; output scale 0.5 zp 10 -> 3.5 + 10 = 13.5 -> 14 (half up).
  TfliteModelBuilder b;
  const int ti = b.add_tensor({1, 1, 1, 2}, U8, 0.5f, 128);
  const int tw = b.add_tensor({1, 1, 1, 2}, I8, 0.25f, 0, {3, uint8_t(int8_t(-2))});
  const int tb =
      b.add_tensor({1}, I32, 0.125f, 0, TfliteModelBuilder::bytes(std::vector<int32_t>{4}));
  const int to = b.add_tensor({1, 1, 1, 1}, U8, 0.5f, 10);
  auto opt = fb_table();
  opt->set<int8_t>(0, 1).set<int32_t>(1, 1).set<int32_t>(2, 1);
  b.ops.push_back({tflite::kConv2d, {ti, tw, tb}, {to}, 1, opt});
  b.inputs = {ti};
  b.outputs = {to};
  EXPECT_EQ(run_everywhere(b.build(), {130, 126}), (std::vector<uint8_t>{14}));
  // RELU6 clamp: input reals (20, -20) -> 15 + 10 + 0.5 = 25.5 -> clamped to 6 -> 12 + 10 = 22.
  auto opt6 = fb_table();
  opt6->set<int8_t>(0, 1).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int8_t>(3, 3);
  b.ops[0].options = opt6;
  EXPECT_EQ(run_everywhere(b.build(), {168, 88}), (std::vector<uint8_t>{22}));
  // A multiplier above 1 (input 0.5 x weight 0.25 / output 0.0625 = 2: a left shift), no clamp:
  // 1.75 / 0.0625 = 28 -> 28 + 10 = 38.
  b.ops[0].options = opt;
  b.tensors[size_t(to)].scale = {0.0625f};
  EXPECT_EQ(run_everywhere(b.build(), {130, 126}), (std::vector<uint8_t>{38}));
}

// Elementwise / pooling / reshaping operators on [1, h, w, c].
TEST(QuantOps, OtherOperatorsMatchTheFloatOracle) {
  std::mt19937 rng(99);
  const int H = 5, W = 7, C = 19;
  const QT a{{1, H, W, C}, U8, 0.07f, 100}, b2{{1, H, W, C}, U8, 0.03f, 7},
      y{{1, H, W, C}, U8, 0.09f, 120};
  const std::vector<uint8_t> xa = random_bytes(numel(a.shape), rng),
                             xb = random_bytes(numel(b2.shape), rng);
  {  // ADD of a computed tensor and ... the input itself through a QUANTIZE (requantize)
    SCOPED_TRACE("QUANTIZE + ADD relu");
    TfliteModelBuilder m;
    const int t0 = m.add_tensor(a.shape, U8, a.scale, a.zp);
    const int t1 = m.add_tensor(b2.shape, U8, b2.scale, b2.zp);
    const int t2 = m.add_tensor(y.shape, U8, y.scale, y.zp);
    m.ops.push_back({tflite::kQuantize, {t0}, {t1}, 0, nullptr});
    auto opt = fb_table();
    opt->set<int8_t>(0, 1);
    m.ops.push_back({tflite::kAdd, {t0, t1}, {t2}, 11, opt});
    m.inputs = {t0};
    m.outputs = {t2};
    const auto got = run_everywhere(m.build(), xa);
    std::vector<int> want(xa.size());
    for (size_t i = 0; i < xa.size(); ++i) {
      const int q1 = quantize_ref(deq(xa, i, a), b2);
      want[i] = quantize_ref(std::max(0.0, deq(xa, i, a) + b2.scale * (q1 - b2.zp)), y);
    }
    expect_close(got, want, y);
  }
  for (int avg = 0; avg < 2; ++avg) {  // pooling 3x3 stride 2 SAME on odd sizes
    SCOPED_TRACE(avg ? "AVERAGE_POOL_2D" : "MAX_POOL_2D");
    TfliteModelBuilder m;
    const int oh = (H + 1) / 2, ow = (W + 1) / 2;
    const int t0 = m.add_tensor(a.shape, U8, a.scale, a.zp);
    const int t1 = m.add_tensor({1, oh, ow, C}, U8, a.scale, a.zp);
    auto opt = fb_table();
    opt->set<int8_t>(0, 0).set<int32_t>(1, 2).set<int32_t>(2, 2).set<int32_t>(3, 3).set<int32_t>(4,
                                                                                                 3);
    m.ops.push_back({avg ? tflite::kAveragePool2d : tflite::kMaxPool2d, {t0}, {t1}, 5, opt});
    m.inputs = {t0};
    m.outputs = {t1};
    const auto got = run_everywhere(m.build(), xa);
    std::vector<int> want;
    const int pt = ((oh - 1) * 2 + 3 - H) / 2, pl = ((ow - 1) * 2 + 3 - W) / 2;
    for (int yy = 0; yy < oh; ++yy)
      for (int xx = 0; xx < ow; ++xx)
        for (int c = 0; c < C; ++c) {
          double s = 0, mx = -1e9;
          int n = 0;
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = yy * 2 - pt + ky, ix = xx * 2 - pl + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              const double v = deq(xa, (size_t(iy) * W + ix) * C + c, a);
              s += v;
              mx = std::max(mx, v);
              ++n;
            }
          want.push_back(quantize_ref(avg ? s / n : mx, a));
        }
    expect_close(got, want, a);
  }
  {  // MEAN over H, W, then SQUEEZE, RESHAPE, FULLY_CONNECTED, SOFTMAX (a classifier head)
    SCOPED_TRACE("MEAN + SQUEEZE + RESHAPE + FULLY_CONNECTED + SOFTMAX");
    TfliteModelBuilder m;
    const int K = 11;
    const QT mq{{1, 1, 1, C}, U8, 0.02f, 3}, fq{{1, K}, U8, 0.2f, 128},
        sq{{1, K}, U8, 1.0f / 256, 0};
    std::vector<uint8_t> w = random_bytes(int64_t(K) * C, rng);
    const int t0 = m.add_tensor(a.shape, U8, a.scale, a.zp);
    const int tax =
        m.add_tensor({2}, I32, 0, 0, TfliteModelBuilder::bytes(std::vector<int32_t>{1, 2}));
    const int t1 = m.add_tensor(mq.shape, U8, mq.scale, mq.zp);
    const int tsq = m.add_tensor({1, C}, U8, mq.scale, mq.zp);
    const int t2 = m.add_tensor({1, C}, U8, mq.scale, mq.zp);
    const int tw = m.add_tensor({K, C}, U8, 0.01f, 131, w);
    const int t3 = m.add_tensor(fq.shape, U8, fq.scale, fq.zp);
    const int t4 = m.add_tensor(sq.shape, U8, sq.scale, sq.zp);
    auto keep = fb_table();
    keep->set<uint8_t>(0, 1);
    m.ops.push_back({tflite::kMean, {t0, tax}, {t1}, 27, keep});
    m.ops.push_back({tflite::kSqueeze, {t1}, {tsq}, 0, nullptr});
    m.ops.push_back({tflite::kReshape, {tsq}, {t2}, 0, nullptr});
    m.ops.push_back({tflite::kFullyConnected, {t2, tw, -1}, {t3}, 0, nullptr});
    auto beta = fb_table();
    beta->set<float>(0, 1.0f);
    m.ops.push_back({tflite::kSoftmax, {t3}, {t4}, 9, beta});
    m.inputs = {t0};
    m.outputs = {t4};
    const auto got = run_everywhere(m.build(), xa);
    // Oracle on our own intermediate quantization: mean -> q, fc -> q, softmax.
    std::vector<uint8_t> mean(static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) {
      double s = 0;
      for (int i = 0; i < H * W; ++i) s += deq(xa, size_t(i) * C + c, a);
      mean[size_t(c)] = uint8_t(quantize_ref(s / (H * W), mq));
    }
    std::vector<double> logit(static_cast<size_t>(K));
    for (int k = 0; k < K; ++k) {
      double s = 0;
      for (int c = 0; c < C; ++c)
        s += deq(mean, size_t(c), mq) * 0.01 * (int(w[size_t(k) * C + c]) - 131);
      logit[size_t(k)] = fq.scale * (quantize_ref(s, fq) - fq.zp);
    }
    const double mx = *std::max_element(logit.begin(), logit.end());
    double sum = 0;
    for (double v : logit) sum += std::exp(v - mx);
    std::vector<int> want;
    for (double v : logit) want.push_back(quantize_ref(std::exp(v - mx) / sum, sq));
    expect_close(got, want, sq);
  }
  {  // PAD then CONCATENATION of two inputs with different quantization, then DEQUANTIZE
    SCOPED_TRACE("PAD + CONCATENATION + DEQUANTIZE");
    TfliteModelBuilder m;
    const int t0 = m.add_tensor(a.shape, U8, a.scale, a.zp);
    const int tp = m.add_tensor(
        {4, 2}, I32, 0, 0, TfliteModelBuilder::bytes(std::vector<int32_t>{0, 0, 1, 2, 0, 0, 0, 0}));
    const int t1 = m.add_tensor({1, H + 3, W, C}, U8, a.scale, a.zp);
    const int t2 = m.add_tensor({1, H + 3, W, C}, U8, b2.scale, b2.zp);
    const int t3 = m.add_tensor({1, H + 3, W, 2 * C}, U8, y.scale, y.zp);
    const int t4 = m.add_tensor({1, H + 3, W, 2 * C}, F32);
    m.ops.push_back({tflite::kPad, {t0, tp}, {t1}, 0, nullptr});
    m.ops.push_back({tflite::kQuantize, {t1}, {t2}, 0, nullptr});
    auto ax = fb_table();
    ax->set<int32_t>(0, -1);
    m.ops.push_back({tflite::kConcatenation, {t1, t2}, {t3}, 10, ax});
    m.ops.push_back({tflite::kDequantize, {t3}, {t4}, 0, nullptr});
    m.inputs = {t0};
    m.outputs = {t4};
    const auto got = run_everywhere(m.build(), xa);
    ASSERT_EQ(got.size(), size_t(H + 3) * W * 2 * C * 4);
    for (int yy = 0; yy < H + 3; ++yy)
      for (int xx = 0; xx < W; ++xx)
        for (int c = 0; c < 2 * C; ++c) {
          const int sy = yy - 1;
          const double real =
              (sy < 0 || sy >= H) ? 0.0 : deq(xa, (size_t(sy) * W + xx) * C + (c % C), a);
          const double in_q = c < C ? real : b2.scale * (quantize_ref(real, b2) - b2.zp);
          const double want = y.scale * (quantize_ref(in_q, y) - y.zp);
          float g;
          std::memcpy(&g, got.data() + 4 * ((size_t(yy) * W + xx) * 2 * C + c), 4);
          EXPECT_NEAR(g, want, y.scale * 1.01) << yy << "," << xx << "," << c;
        }
  }
}

// The every-operator model (a fuzzing seed) runs on every ISA x threads with the same bytes, and
// its softmax output is a distribution.
TEST(QuantOps, EveryOperatorModelRuns) {
  for (bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8 per-channel" : "uint8");
    std::vector<uint8_t> x(75);
    for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i * 37);
    const std::vector<uint8_t> got = run_everywhere(test::every_op_model(int8), x);
    ASSERT_EQ(got.size(), 5u * 4);
    float sum = 0;
    for (int i = 0; i < 5; ++i) {
      float p;
      std::memcpy(&p, got.data() + 4 * i, 4);
      EXPECT_GE(p, 0.0f);
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0f, 3.0f / 256);
  }
}

// Writes the TFLite fuzzing seeds (tests/fuzz/corpus/tflite/): run with
//   build/tests/test_tflite --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzSeeds'
TEST(TfliteFuzzSeeds, DISABLED_WriteFuzzSeeds) {
  const std::string dir = std::string(SCV_SOURCE_DIR) + "/tests/fuzz/corpus/tflite/";
  auto put = [&](const std::string& name, const std::vector<uint8_t>& b) {
    ASSERT_TRUE(write_file_atomic(dir + name, b.data(), b.size()).ok()) << dir + name;
  };
  put("every_op_u8.tflite", test::every_op_model(false));
  put("every_op_i8.tflite", test::every_op_model(true));
  auto bundled =
      read_file(std::string(SCV_SOURCE_DIR) + "/data/models/mobilenet_v2_1.0_224_quant.tflite");
  ASSERT_TRUE(bundled.ok());
  bundled->resize(4096);  // the header, operator codes and the first tables: a truncated model
  put("bundled_truncated.tflite", *bundled);
}

// ---- corrupt files ---------------------------------------------------------------------------

std::vector<uint8_t> small_model() {
  TfliteModelBuilder b;
  const int ti = b.add_tensor({1, 4, 4, 3}, U8, 0.5f, 128);
  std::vector<uint8_t> w(2 * 9 * 3, 3);
  const int tw = b.add_tensor({2, 3, 3, 3}, U8, 0.1f, 1, w);
  const int tb =
      b.add_tensor({2}, I32, 0.05f, 0, TfliteModelBuilder::bytes(std::vector<int32_t>{1, -1}));
  const int to = b.add_tensor({1, 2, 2, 2}, U8, 0.25f, 5);
  auto opt = fb_table();
  opt->set<int8_t>(0, 0).set<int32_t>(1, 2).set<int32_t>(2, 2).set<int8_t>(3, 3);
  b.ops.push_back({tflite::kConv2d, {ti, tw, tb}, {to}, 1, opt});
  b.inputs = {ti};
  b.outputs = {to};
  return b.build();
}

// Parses and, when that succeeds, prepares and runs: must never crash; errors carry a message.
bool load_and_run(const std::vector<uint8_t>& f) {
  auto m = tflite::parse_tflite(f.data(), f.size());
  if (!m.ok()) {
    EXPECT_FALSE(m.status().message().empty());
    EXPECT_EQ(m.status().message().find('\n'), std::string::npos);
    return false;
  }
  auto s = QSession::create(*m, QSessionOptions{1, "ref"});
  if (!s.ok()) {
    EXPECT_FALSE(s.status().message().empty());
    return false;
  }
  std::fill((*s)->input_data(), (*s)->input_data() + (*s)->input_info().bytes, uint8_t(77));
  (*s)->run();
  return true;
}

TEST(TfliteCorrupt, ValidSmallModelRuns) {
  EXPECT_TRUE(load_and_run(small_model()));
}

TEST(TfliteCorrupt, EmptyAndEveryTruncationAreErrors) {
  const std::vector<uint8_t> f = small_model();
  auto e = tflite::parse_tflite(nullptr, 0);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("empty"), std::string::npos);
  for (size_t n = 1; n < f.size(); ++n) {
    std::vector<uint8_t> t(f.begin(), f.begin() + long(n));
    EXPECT_FALSE(load_and_run(t)) << "truncated to " << n << " bytes";
  }
}

TEST(TfliteCorrupt, SeededBitFlipsNeverCrash) {
  const std::vector<uint8_t> f = small_model();
  std::mt19937 rng(5);
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> g = f;
    const int flips = 1 + int(rng() % 4);
    for (int i = 0; i < flips; ++i) g[rng() % g.size()] ^= uint8_t(1u << (rng() % 8));
    (void)load_and_run(g);
  }
  // Every single byte set to 0xff in turn.
  for (size_t i = 0; i < f.size(); ++i) {
    std::vector<uint8_t> g = f;
    g[i] = 0xff;
    (void)load_and_run(g);
  }
}

TEST(TfliteCorrupt, SpecificDefectsGiveClearErrors) {
  auto msg = [](const std::vector<uint8_t>& f) {
    auto m = tflite::parse_tflite(f.data(), f.size());
    if (!m.ok()) return m.status().message();
    auto s = QSession::create(*m, QSessionOptions{1, "ref"});
    return s.ok() ? std::string("OK") : s.status().message();
  };
  std::vector<uint8_t> f = small_model();
  {  // root offset outside the file
    std::vector<uint8_t> g = f;
    const uint32_t big = uint32_t(g.size() + 100);
    std::memcpy(g.data(), &big, 4);
    EXPECT_NE(msg(g).find("outside the file"), std::string::npos) << msg(g);
  }
  {  // vtable offset out of range
    std::vector<uint8_t> g = f;
    uint32_t root;
    std::memcpy(&root, g.data(), 4);
    const int32_t bad = -int32_t(g.size());
    std::memcpy(g.data() + root, &bad, 4);
    EXPECT_NE(msg(g).find("vtable"), std::string::npos) << msg(g);
  }
  {  // wrong file identifier
    std::vector<uint8_t> g = f;
    std::memcpy(g.data() + 4, "ONNX", 4);
    EXPECT_NE(msg(g).find("not a TFLite model"), std::string::npos) << msg(g);
  }
  {  // shape that overflows
    TfliteModelBuilder b;
    const int ti = b.add_tensor({65536, 65536, 65536, 3}, U8, 0.5f, 0);
    b.inputs = {ti};
    b.outputs = {ti};
    EXPECT_NE(msg(b.build()).find("overflows"), std::string::npos) << msg(b.build());
  }
  {  // a buffer shorter than its tensor
    TfliteModelBuilder b;
    const int ti = b.add_tensor({1, 2, 2, 3}, U8, 0.5f, 0);
    const int tw = b.add_tensor({2, 3, 3, 3}, U8, 0.1f, 0, std::vector<uint8_t>(10, 1));
    const int to = b.add_tensor({1, 2, 2, 2}, U8, 0.5f, 0);
    b.ops.push_back({tflite::kConv2d, {ti, tw, -1}, {to}, 0, nullptr});
    b.inputs = {ti};
    b.outputs = {to};
    const std::string m = msg(b.build());
    EXPECT_NE(m.find("holds 10 bytes"), std::string::npos) << m;
  }
  {  // an unknown operator, named with its index
    TfliteModelBuilder b;
    const int ti = b.add_tensor({1, 4}, U8, 0.5f, 0);
    const int to = b.add_tensor({1, 4}, U8, 1.0f / 256, 0);
    b.ops.push_back({14, {ti}, {to}, 0, nullptr});  // LOGISTIC
    b.inputs = {ti};
    b.outputs = {to};
    const std::string m = msg(b.build());
    EXPECT_NE(m.find("operator 0"), std::string::npos) << m;
    EXPECT_NE(m.find("LOGISTIC"), std::string::npos) << m;
  }
  {  // MEAN whose scales put TFLite's uint8 zero-point correction out of float range (found by
     // fuzz_tflite: the float -> int conversion was undefined behaviour)
    TfliteModelBuilder b;
    const int ti = b.add_tensor({1, 2, 2, 3}, U8, 1e20f, 255);
    const int tax =
        b.add_tensor({2}, I32, 0, 0, TfliteModelBuilder::bytes(std::vector<int32_t>{1, 2}));
    const int to = b.add_tensor({1, 3}, U8, 1e-20f, 0);
    b.ops.push_back({tflite::kMean, {ti, tax}, {to}, 0, nullptr});
    b.inputs = {ti};
    b.outputs = {to};
    const std::string m = msg(b.build());
    EXPECT_NE(m.find("out of range"), std::string::npos) << m;
  }
  {  // a scale outside what any model uses
    TfliteModelBuilder b;
    const int ti = b.add_tensor({1, 4}, U8, 1e-38f, 0);
    const int to = b.add_tensor({1, 4}, U8, 0.5f, 0);
    b.ops.push_back({tflite::kQuantize, {ti}, {to}, 0, nullptr});
    b.inputs = {ti};
    b.outputs = {to};
    const std::string m = msg(b.build());
    EXPECT_NE(m.find("outside [1e-30, 1e30]"), std::string::npos) << m;
  }
  {  // tensor index out of range in an operator
    TfliteModelBuilder b;
    const int ti = b.add_tensor({1, 4}, U8, 0.5f, 0);
    b.ops.push_back({tflite::kReshape, {ti, 57}, {ti}, 0, nullptr});
    b.inputs = {ti};
    b.outputs = {ti};
    EXPECT_NE(msg(b.build()).find("refers to tensor 57"), std::string::npos) << msg(b.build());
  }
}

TEST(TfliteCorrupt, CliGivesOneErrorLine) {
  const std::string dir = ::testing::TempDir();
  std::vector<uint8_t> f = small_model();
  f.resize(f.size() / 2);
  const std::string bad = dir + "/scv_truncated.tflite";
  ASSERT_TRUE(write_file_atomic(bad, f.data(), f.size()).ok());
  // A truncated file has no "TFL3"? It does (bytes 4..7 survive): it is read as TFLite and fails.
  const std::string cmd = std::string(SCV_CLI) + " classify --model " + bad + " " + SCV_SOURCE_DIR +
                          "/data/sample.jpg 2>&1 >/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) err += buf;
  const int rc = pclose(p);
  EXPECT_NE(rc, 0);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("scratchcv classify: "), std::string::npos) << err;
}

}  // namespace
}  // namespace scv
