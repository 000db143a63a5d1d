// Reference kernels on tiny inputs whose answers are worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "scratchcv/graph.h"
#include "scratchcv/ops_ref.h"

using namespace scv;

TEST(RefOps, ConvOutDim) {
  EXPECT_EQ(ref::conv_out_dim(224, 7, 2, 3, 3, 1), 112);
  EXPECT_EQ(ref::conv_out_dim(112, 3, 2, 1, 1, 1), 56);
  EXPECT_EQ(ref::conv_out_dim(5, 3, 2, 0, 0, 1, false), 2);
  EXPECT_EQ(ref::conv_out_dim(6, 3, 2, 0, 0, 1, true), 3);  // ceil: windows 0,2,4(partial)
  EXPECT_EQ(ref::conv_out_dim(5, 2, 2, 0, 0, 1, true), 3);  // last window starts at 4 < 5
  EXPECT_EQ(ref::conv_out_dim(4, 2, 2, 0, 1, 1, true), 2);  // would start in end padding
  EXPECT_EQ(ref::conv_out_dim(2, 3, 1, 0, 0, 1), 0);
}

TEST(RefOps, Conv3x3Padding) {
  // 1x1x3x3 input 1..9, all-ones 3x3 kernel, pad 1: each output is the sum of its neighbours.
  Tensor x({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w({1, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  float bias = 0.5f;
  ref::Conv2dParams p;
  p.kh = p.kw = 3;
  p.pad_t = p.pad_l = p.pad_b = p.pad_r = 1;
  float y[9];
  ref::conv2d(x.data(), 1, 1, 3, 3, w.data(), 1, &bias, p, y);
  const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(y[i], want[i] + 0.5f) << i;
}

TEST(RefOps, GroupedStridedConv) {
  // Two groups, each a 1x1 conv with its own scale; stride 2 picks every other pixel.
  Tensor x({1, 2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40});
  Tensor w({2, 1, 1, 1}, {2, -1});
  ref::Conv2dParams p;
  p.sh = p.sw = 2;
  p.groups = 2;
  float y[2];
  ref::conv2d(x.data(), 1, 2, 2, 2, w.data(), 2, nullptr, p, y);
  EXPECT_FLOAT_EQ(y[0], 2.0f);
  EXPECT_FLOAT_EQ(y[1], -10.0f);
}

TEST(RefOps, BatchNormReluPools) {
  float x[4] = {1, 2, 3, 4}, y[4];
  float scale = 2, bias = 1, mean = 2.5f, var = 1.0f;
  ref::batchnorm(x, 1, 1, 4, &scale, &bias, &mean, &var, 0.0f, y);
  EXPECT_FLOAT_EQ(y[0], -2.0f);
  EXPECT_FLOAT_EQ(y[3], 4.0f);
  ref::relu(y, 4, y);
  EXPECT_FLOAT_EQ(y[0], 0.0f);
  EXPECT_FLOAT_EQ(y[3], 4.0f);

  float img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[4];
  ref::Pool2dParams p;
  p.kh = p.kw = 2;
  ref::maxpool2d(img, 1, 3, 3, p, out);
  EXPECT_FLOAT_EQ(out[0], 5);
  EXPECT_FLOAT_EQ(out[3], 9);
  ref::avgpool2d(img, 1, 3, 3, p, out);
  EXPECT_FLOAT_EQ(out[0], 3);
  float g;
  ref::global_avgpool(img, 1, 9, &g);
  EXPECT_FLOAT_EQ(g, 5);
}

TEST(RefOps, GemmAddSoftmax) {
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[2] = {10, 20}, y[4];
  ref::gemm(a, b, c, 1, 2, 2, 2, 2, false, true, 1.0f, 1.0f, y);
  EXPECT_FLOAT_EQ(y[0], 11);
  EXPECT_FLOAT_EQ(y[1], 22);
  EXPECT_FLOAT_EQ(y[3], 24);

  Shape s;
  ASSERT_TRUE(ref::broadcast_shape({2, 3}, {3}, &s));
  EXPECT_EQ(s, (Shape{2, 3}));
  EXPECT_FALSE(ref::broadcast_shape({2, 3}, {2}, &s));
  float p[6] = {0, 1, 2, 3, 4, 5}, q[3] = {10, 20, 30}, r[6];
  ref::add_broadcast(p, {2, 3}, q, {3}, r, {2, 3});
  EXPECT_FLOAT_EQ(r[4], 24);

  float z[3] = {1, 2, 3}, sm[3];
  ref::softmax(z, 1, 3, 1, sm);
  EXPECT_NEAR(sm[0] + sm[1] + sm[2], 1.0f, 1e-6);
  EXPECT_NEAR(sm[2] / sm[1], std::exp(1.0f), 1e-5);
}

TEST(ReferenceExecutor, RejectsBadShapes) {
  Graph g;
  int x = g.add_value("x");
  int w = g.add_constant("w", Tensor({4, 3, 3, 3}));
  int y = g.add_value("y");
  g.inputs = {x};
  g.outputs = {y};
  g.add_node(OpType::Conv, "conv", {x, w}, {y});
  auto bad = run_reference(g, {Tensor({1, 5, 8, 8})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("conv"), std::string::npos);
  auto good = run_reference(g, {Tensor({1, 3, 8, 8})});
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good.value()[0].shape(), (Shape{1, 4, 6, 6}));
}
