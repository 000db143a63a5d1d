// Whole-model tests of Session: every ladder configuration and ISA against run_reference on
// random-weight ResNets (small inputs keep the reference fast), generic graphs whose nodes fall
// back to reference kernels, and bad input.
#include <gtest/gtest.h>

#include "scratchcv/model.h"
#include "session_test_util.h"

namespace scv {
namespace {

using testing::available_isas;
using testing::expect_session_matches;
using testing::random_tensor;

Graph resnet(const std::string& name) {
  return testing::random_resnet(name, 3);
}

// The ladder of `scratchcv bench --ladder`, plus the fully optimised session on 2 threads.
std::vector<SessionOptions> ladder(Isa isa) {
  std::vector<SessionOptions> v;
  SessionOptions o;
  o.isa = isa;
  o.threads = 1;
  o.simd = o.prepack = o.fuse = o.blocked = false;
  v.push_back(o);
  if (isa == Isa::ref) {
    o.fuse = o.prepack = true;
    v.push_back(o);
    return v;
  }
  o.simd = true;
  v.push_back(o);
  o.prepack = true;
  v.push_back(o);
  o.fuse = true;
  v.push_back(o);
  o.blocked = true;
  o.tiles = o.winograd = false;
  v.push_back(o);
  o.tiles = true;
  v.push_back(o);
  o.winograd = true;
  v.push_back(o);
  o.threads = 2;
  v.push_back(o);
  return v;
}

void check_model(const Graph& g, const Shape& in_shape) {
  const Tensor in = random_tensor(in_shape, 17, -2.0f, 2.0f);
  auto ref = run_reference(g, {in});
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  for (Isa isa : available_isas())
    for (const SessionOptions& o : ladder(isa))
      expect_session_matches(g, in, (*ref)[0], o, 1e-3, "model " + shape_str(in_shape));
}

TEST(Session, Resnet18LadderAllIsas) {
  check_model(resnet("resnet18"), {1, 3, 64, 64});
}

// Batch 2 at 32x32: layer4 runs on 1x1 feature maps (every conv tap but the centre is padding).
TEST(Session, Resnet50LadderAllIsasBatch2) {
  check_model(resnet("resnet50"), {2, 3, 32, 32});
}

// Grouped convs (ResNeXt) take the reference conv inside an otherwise fast session.
TEST(Session, ResNeXtGroupedConvFallsBack) {
  Graph g = resnet("resnext50_32x4d");
  const Tensor in = random_tensor({1, 3, 32, 32}, 5);
  auto ref = run_reference(g, {in});
  ASSERT_TRUE(ref.ok());
  SessionOptions o;
  o.threads = 2;
  expect_session_matches(g, in, (*ref)[0], o, 1e-3, "resnext50");
}

// Ops without a fast kernel: dilated conv, AveragePool, Softmax, MatMul, broadcasting Add with a
// constant, Reshape of a blocked activation, Identity, a Relu on a reshaped value.
TEST(Session, GenericOpsFallBackToReference) {
  Graph g;
  int x = g.add_value("x", {-1, 5, -1, -1});
  g.inputs = {x};
  int c1 = testing::add_conv(g, x, 5, 20, 3, 1, 1, true, true, 1, "c1");
  Attrs dil;
  dil.kernel_shape = {3, 3};
  dil.dilations = {2, 2};
  dil.pads = {2, 2, 2, 2};
  int dw = g.add_constant("dw", random_tensor({20, 20, 3, 3}, 2, -0.1f, 0.1f));
  int c2 = g.add_value("c2");
  g.add_node(OpType::Conv, "dilated", {c1, dw}, {c2}, dil);
  Attrs ap;
  ap.kernel_shape = {2, 2};
  ap.strides = {2, 2};
  ap.ceil_mode = true;
  int p = g.add_value("p");
  g.add_node(OpType::AveragePool, "avg", {c2}, {p}, ap);
  int bias = g.add_constant("bias", random_tensor({20, 1, 1}, 3));
  int a = g.add_value("a");
  g.add_node(OpType::Add, "badd", {p, bias}, {a});
  int c3 = testing::add_conv(g, a, 20, 16, 1, 1, 0, false, true, 4, "c3");
  Attrs rs;
  rs.shape = {0, 16, -1};
  int r = g.add_value("r");
  g.add_node(OpType::Reshape, "reshape", {c3}, {r}, rs);
  int mw = g.add_constant("mw", random_tensor({16, 6}, 5));
  // [N,16,HW] -> MatMul needs [.., M, K] x [K, N]: transpose-free use: treat HW as rows
  Attrs fl;
  fl.axis = 1;
  int f = g.add_value("f");
  g.add_node(OpType::Flatten, "flat", {r}, {f}, fl);
  int gw = g.add_constant("gw", random_tensor({7, 16 * 36}, 6));
  Attrs ga;
  ga.trans_b = true;
  ga.alpha = 0.5f;
  int y = g.add_value("y");
  g.add_node(OpType::Gemm, "gemm", {f, gw}, {y}, ga);
  int mm = g.add_value("mm");
  int mwt = g.add_constant("mwt", random_tensor({7, 6}, 7));
  (void)mw;
  g.add_node(OpType::MatMul, "matmul", {y, mwt}, {mm});
  int id = g.add_value("id");
  g.add_node(OpType::Identity, "id", {mm}, {id});
  Attrs sm;
  sm.axis = -1;
  int out = g.add_value("out");
  g.add_node(OpType::Softmax, "softmax", {id}, {out}, sm);
  g.outputs = {out};
  const Tensor in = random_tensor({2, 5, 11, 11}, 9);
  auto ref = run_reference(g, {in});
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  ASSERT_EQ((*ref)[0].shape(), (Shape{2, 6}));
  for (const SessionOptions& o : testing::all_option_sets())
    expect_session_matches(g, in, (*ref)[0], o, 1e-4, "generic");
}

// create(Graph&&) releases each weight after packing it; results are unchanged.
TEST(Session, ConsumingCreateMatches) {
  Graph g = resnet("resnet18");
  const Tensor in = random_tensor({1, 3, 40, 40}, 4);
  auto ref = run_reference(g, {in});
  ASSERT_TRUE(ref.ok());
  for (Isa isa : available_isas()) {
    SessionOptions o;
    o.isa = isa;
    Graph copy = g;  // shares weight storage with g, so g stays intact for the next ISA
    auto s = Session::create(std::move(copy), in.shape(), o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    std::vector<float> out((*ref)[0].numel());
    ASSERT_TRUE((*s)->run(in.data(), out.data()).ok());
    EXPECT_LE(testing::max_rel_diff((*ref)[0], out), 1e-3) << isa_name(isa);
  }
}

TEST(Session, BadInputIsAnError) {
  Graph g = resnet("resnet18");
  auto s = Session::create(g, {1, 4, 64, 64}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("does not match"), std::string::npos) << s.status().message();
  auto s2 = Session::create(g, {1, 3, 0, 64}, {});
  EXPECT_FALSE(s2.ok());
  SessionOptions o;
  o.threads = 0;
  auto s3 = Session::create(g, {1, 3, 64, 64}, o);
  EXPECT_FALSE(s3.ok());
  auto s4 = Session::create(g, {1, 3, 64}, {});  // wrong rank
  EXPECT_FALSE(s4.ok());
}

TEST(Session, ReportsStepsAndFlops) {
  Graph g = resnet("resnet50");
  auto s = Session::create(g, {1, 3, 224, 224}, {});
  ASSERT_TRUE(s.ok());
  // ResNet50: 4.09 GMAC conv+fc, i.e. ~8.18 GFLOP per image.
  EXPECT_NEAR((*s)->flops() / 1e9, 8.18, 0.05);
  EXPECT_EQ((*s)->output_shape(), (Shape{1, 1000}));
  if (best_isa() != Isa::ref) {
    // All 53 convs, BN, ReLU and Add fused: 53 conv steps + maxpool + gap + fc, nothing else.
    EXPECT_EQ((*s)->steps().size(), 56u);
  }
}

// Batches of >= threads images run image by image (one thread each), the remainder with all
// threads per layer; both must equal the whole-batch plan and the reference.
TEST(Session, ImageParallelBatchesMatchReference) {
  const Graph g = resnet("resnet18");
  for (int64_t n : {2, 3, 5}) {
    const Tensor in = random_tensor({n, 3, 64, 64}, 23, -2.0f, 2.0f);
    auto ref = run_reference(g, {in});
    ASSERT_TRUE(ref.ok());
    for (Isa isa : testing::available_isas()) {
      if (isa == Isa::ref) continue;
      for (bool ip : {true, false}) {
        SessionOptions o;
        o.isa = isa;
        o.threads = 2;
        o.image_parallel = ip;
        auto s = Session::create(g, in.shape(), o);
        ASSERT_TRUE(s.ok()) << s.status().message();
        EXPECT_EQ((*s)->image_parallel(), ip);
        EXPECT_EQ((*s)->output_shape(), (*ref)[0].shape());
        std::vector<float> out((*ref)[0].numel());
        ASSERT_TRUE((*s)->run(in.data(), out.data()).ok());
        EXPECT_LE(testing::max_rel_diff((*ref)[0], out), 1e-3)
            << "n=" << n << " isa=" << isa_name(isa) << " image_parallel=" << ip;
      }
    }
  }
}

}  // namespace
}  // namespace scv
