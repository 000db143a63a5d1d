// Unit tests of the ONNX reader's mapping: data types and storage forms of TensorProto, opset-
// dependent defaults, constants, and the error messages for what we do not support. Models are
// built byte by byte with tests/onnx_test_util.h.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "onnx_test_util.h"
#include "scratchcv/graph.h"
#include "scratchcv/onnx.h"

namespace {

using namespace scv::onnx_test;

scv::Result<scv::Graph> parse(const std::string& bytes) {
  return scv::parse_onnx(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
scv::Result<scv::Tensor> parse_tensor(const std::string& bytes) {
  return scv::parse_onnx_tensor(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Expects parsing to fail with a message containing `needle`.
void expect_error(const std::string& model_bytes, const std::string& needle) {
  auto g = parse(model_bytes);
  ASSERT_FALSE(g.ok()) << "expected an error containing: " << needle;
  EXPECT_NE(g.status().message().find(needle), std::string::npos) << g.status().message();
}

// One-node model: x -> op -> y.
std::string one_node(const std::string& op, const std::vector<std::string>& attrs,
                     const std::vector<int64_t>& x_dims, int64_t opset,
                     std::vector<std::string> extra_outputs = {}) {
  std::vector<std::string> outs = {"y"};
  outs.insert(outs.end(), extra_outputs.begin(), extra_outputs.end());
  GraphParts g;
  g.nodes = {node(op, "the_node", {"x"}, outs, attrs)};
  g.inputs = {value_info("x", kFloat, x_dims)};
  g.outputs = {value_info("y", kFloat, {})};
  return model(graph(g), opset);
}

TEST(OnnxReader, TensorStorageFormsAndTypes) {
  // FLOAT in float_data, packed and unpacked.
  PbWriter packed;
  packed.int_field(1, 2).int_field(2, 1);
  {
    PbWriter data;
    for (float f : {1.5f, -2.0f}) {
      char b[4];
      std::memcpy(b, &f, 4);
      data.buf.append(b, 4);
    }
    packed.bytes_field(4, data.buf);
  }
  PbWriter unpacked;
  unpacked.int_field(1, 2).int_field(2, 1).float_field(4, 1.5f).float_field(4, -2.0f);
  for (const std::string& bytes : {packed.buf, unpacked.buf}) {
    auto t = parse_tensor(bytes);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->shape(), (scv::Shape{2}));
    EXPECT_EQ((*t)[0], 1.5f);
    EXPECT_EQ((*t)[1], -2.0f);
  }
  // DOUBLE in double_data (packed) and in raw_data.
  const double dv[2] = {0.25, -3.5};
  PbWriter dpacked;
  dpacked.int_field(1, 2).int_field(2, 11).bytes_field(
      10, std::string(reinterpret_cast<const char*>(dv), sizeof dv));
  PbWriter draw;
  draw.int_field(1, 2).int_field(2, 11).bytes_field(
      9, std::string(reinterpret_cast<const char*>(dv), sizeof dv));
  for (const std::string& bytes : {dpacked.buf, draw.buf}) {
    auto t = parse_tensor(bytes);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ((*t)[0], 0.25f);
    EXPECT_EQ((*t)[1], -3.5f);
  }
  // FLOAT16: 1.0 (0x3c00), -2.0 (0xc000), smallest subnormal 2^-24 (0x0001), +inf (0x7c00);
  // once as raw little-endian halves, once as bits in int32_data.
  const uint16_t hv[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};
  PbWriter hraw;
  hraw.int_field(1, 4).int_field(2, 10).bytes_field(
      9, std::string(reinterpret_cast<const char*>(hv), sizeof hv));
  PbWriter hint;
  hint.int_field(1, 4).int_field(2, 10);
  for (uint16_t h : hv) hint.int_field(5, h);
  for (const std::string& bytes : {hraw.buf, hint.buf}) {
    auto t = parse_tensor(bytes);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ((*t)[0], 1.0f);
    EXPECT_EQ((*t)[1], -2.0f);
    EXPECT_EQ((*t)[2], std::ldexp(1.0f, -24));
    EXPECT_TRUE(std::isinf((*t)[3]));
  }
  // INT32 (negative values are ten-byte varints) and INT64 convert to float.
  PbWriter i32;
  i32.int_field(1, 3).int_field(2, 6).int_field(5, -7).int_field(5, 0).int_field(5, 9);
  auto t32 = parse_tensor(i32.buf);
  ASSERT_TRUE(t32.ok()) << t32.status().message();
  EXPECT_EQ((*t32)[0], -7.0f);
  EXPECT_EQ((*t32)[2], 9.0f);
  auto t64 = parse_tensor(tensor_i64("s", {2, 1}, {4, -1}));
  ASSERT_TRUE(t64.ok()) << t64.status().message();
  EXPECT_EQ(t64->shape(), (scv::Shape{2, 1}));
  EXPECT_EQ((*t64)[1], -1.0f);
  // A scalar (no dims) has one element.
  auto scalar = parse_tensor(tensor_f32("c", {}, {42.0f}));
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->numel(), 1);
  EXPECT_EQ((*scalar)[0], 42.0f);
}

TEST(OnnxReader, TensorErrors) {
  PbWriter u8;
  u8.int_field(1, 1).int_field(2, kUint8).bytes_field(9, std::string(1, '\x05'));
  auto t = parse_tensor(u8.buf);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("unsupported data type UINT8"), std::string::npos);
  // Element count disagrees with dims.
  EXPECT_FALSE(parse_tensor(tensor_f32("a", {3}, {1.0f, 2.0f})).ok());
  // Absurd dims with no data: an error, not a huge allocation.
  PbWriter huge;
  huge.int_field(1, int64_t{1} << 40).int_field(1, int64_t{1} << 40).int_field(2, 1);
  EXPECT_FALSE(parse_tensor(huge.buf).ok());
  PbWriter neg;
  neg.int_field(1, -3).int_field(2, 1);
  EXPECT_FALSE(parse_tensor(neg.buf).ok());
}

TEST(OnnxReader, ExternalDataIsAClearError) {
  PbWriter entry;
  entry.bytes_field(1, "location").bytes_field(2, "weights.bin");
  PbWriter w;
  w.int_field(1, 4).int_field(2, 1).bytes_field(8, "W").bytes_field(13, entry.buf).int_field(14, 1);
  GraphParts g;
  g.initializers = {w.buf};
  g.nodes = {node("Add", "add_w", {"x", "W"}, {"y"})};
  g.inputs = {value_info("x", kFloat, {4})};
  g.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(g), 13), "node 'add_w' (op Add): input 'W' cannot be loaded");
  expect_error(model(graph(g), 13), "external file");
}

TEST(OnnxReader, InitializerOverridesGraphInputAndUnknownFieldsAreSkipped) {
  // IR < 4 style: the weight is listed as a graph input too. Unknown fields (numbers the reader
  // does not use) are sprinkled into model, graph, node and value info.
  GraphParts g;
  g.initializers = {tensor_f32("b", {3}, {1.0f, 2.0f, 3.0f})};
  std::string n = node("Add", "add", {"x", "b"}, {"y"});
  PbWriter extra;
  extra.int_field(999, 7).bytes_field(1000, "ignored").float_field(1001, 1.0f);
  n += extra.buf;
  g.nodes = {n};
  g.inputs = {value_info("x", kFloat, {-1, 3}) + extra.buf, value_info("b", kFloat, {3})};
  g.outputs = {value_info("y", kFloat, {-1, 3})};
  std::string gb = graph(g) + extra.buf;
  auto r = parse(model(gb, 14) + extra.buf);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->inputs.size(), 1u);  // b is a constant, not an input
  EXPECT_EQ(r->values[r->inputs[0]].name, "x");
  EXPECT_EQ(r->values[r->inputs[0]].shape, (scv::Shape{-1, 3}));  // symbolic dim -> -1
  auto y = scv::run_reference(*r, {scv::Tensor({2, 3}, {0, 0, 0, 10, 10, 10})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ((*y)[0][4], 12.0f);
}

TEST(OnnxReader, SoftmaxAxisDependsOnOpset) {
  // x [2, 2, 2]; opset 11 default axis=1 coerces to [2, 4] (softmax over 4 values); opset 13
  // default axis=-1 normalises the last axis (2 values).
  const scv::Tensor x({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto g11 = parse(one_node("Softmax", {}, {2, 2, 2}, 11));
  auto g13 = parse(one_node("Softmax", {}, {2, 2, 2}, 13));
  ASSERT_TRUE(g11.ok()) << g11.status().message();
  ASSERT_TRUE(g13.ok()) << g13.status().message();
  auto y11 = scv::run_reference(*g11, {x});
  auto y13 = scv::run_reference(*g13, {x});
  ASSERT_TRUE(y11.ok() && y13.ok());
  const double s4 = 1 + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR((*y11)[0][0], 1.0 / s4, 1e-6);
  EXPECT_NEAR((*y13)[0][0], 1.0 / (1 + std::exp(1.0)), 1e-6);
}

TEST(OnnxReader, ConstantAndIdentityFoldIntoReshape) {
  // shape = Identity(Constant(value_ints=[0, -1])); Reshape(x [2,3,2], shape) -> [2, 6].
  GraphParts g;
  g.nodes = {node("Constant", "c", {}, {"s0"}, {attr_ints("value_ints", {0, -1})}),
             node("Identity", "id", {"s0"}, {"s"}),
             node("Constant", "k", {}, {"two"}, {attr_float("value_float", 2.0f)}),
             node("Reshape", "r", {"x", "s"}, {"flat"}), node("Add", "a", {"flat", "two"}, {"y"})};
  g.inputs = {value_info("x", kFloat, {2, 3, 2})};
  g.outputs = {value_info("y", kFloat, {2, 6})};
  auto r = parse(model(graph(g), 13));
  ASSERT_TRUE(r.ok()) << r.status().message();
  scv::Tensor x({2, 3, 2});
  for (int i = 0; i < 12; ++i) x[i] = static_cast<float>(i);
  auto y = scv::run_reference(*r, {x});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ((*y)[0].shape(), (scv::Shape{2, 6}));
  EXPECT_EQ((*y)[0][11], 13.0f);
}

TEST(OnnxReader, UnsupportedThingsNameTheNode) {
  expect_error(
      one_node("AveragePool", {attr_ints("kernel_shape", {2, 2}), attr_int("frobnicate", 1)},
               {1, 1, 4, 4}, 13),
      "node 'the_node' (op AveragePool): unsupported attribute 'frobnicate'");
  expect_error(one_node("MaxPool", {attr_ints("kernel_shape", {2, 2})}, {1, 1, 4, 4}, 12, {"idx"}),
               "node 'the_node' (op MaxPool): the Indices output is not supported");
  expect_error(one_node("MaxPool", {attr_ints("kernel_shape", {2, 2, 2})}, {1, 1, 4, 4, 4}, 12),
               "only 2-D windows are supported");
  expect_error(one_node("Relu", {attr_float("alpha", 1.0f)}, {4}, 13),
               "node 'the_node' (op Relu): unsupported attribute 'alpha'");
  expect_error(one_node("Flatten", {attr_float("axis", 1.0f)}, {4}, 13),
               "attribute 'axis' has type FLOAT, expected INT");
  expect_error(one_node("Add", {}, {4}, 13), "expected 2 inputs, found 1");
  // Reshape whose shape is computed at run time (a graph input).
  GraphParts g;
  g.nodes = {node("Reshape", "dyn", {"x", "s"}, {"y"})};
  g.inputs = {value_info("x", kFloat, {4}), value_info("s", kFloat, {1})};
  g.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(g), 13),
               "node 'dyn' (op Reshape): the shape input 's' must be a "
               "constant");
  // An integer initializer used as data.
  GraphParts gi;
  gi.initializers = {tensor_i64("k", {4}, {1, 2, 3, 4})};
  gi.nodes = {node("Add", "addk", {"x", "k"}, {"y"})};
  gi.inputs = {value_info("x", kFloat, {4})};
  gi.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(gi), 13), "node 'addk' (op Add): input 'k' is an integer tensor");
  // A node in another domain, an input nobody produces, an int64 graph input.
  std::string custom = node("Relu", "ms_relu", {"x"}, {"y"});
  PbWriter dom;
  dom.bytes_field(7, "com.microsoft");
  GraphParts gc;
  gc.nodes = {custom + dom.buf};
  gc.inputs = {value_info("x", kFloat, {4})};
  gc.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(gc), 13), "node 'ms_relu' (op Relu): unsupported op in domain");
  GraphParts gm;
  gm.nodes = {node("Relu", "r", {"nowhere"}, {"y"})};
  gm.inputs = {value_info("x", kFloat, {4})};
  gm.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(gm), 13), "input 'nowhere' is not a graph input");
  GraphParts g64;
  g64.nodes = {node("Relu", "r", {"x"}, {"y"})};
  g64.inputs = {value_info("x", kInt64, {4})};
  g64.outputs = {value_info("y", kFloat, {4})};
  expect_error(model(graph(g64), 13), "graph input 'x' has data type INT64");
  // Opset out of range, and no default-domain opset at all.
  expect_error(one_node("Relu", {}, {4}, 99), "unsupported opset version 99");
  PbWriter no_opset;
  no_opset.int_field(1, 8).bytes_field(7, graph(g64));
  expect_error(no_opset.buf, "no opset_import");
}

TEST(OnnxReader, BatchNormInferenceOnly) {
  GraphParts g;
  g.initializers = {tensor_f32("s", {2}, {1, 2}), tensor_f32("b", {2}, {0, 1}),
                    tensor_f32("m", {2}, {0, 0}), tensor_f32("v", {2}, {1, 1})};
  g.nodes = {node("BatchNormalization", "bn", {"x", "s", "b", "m", "v"}, {"y"},
                  {attr_float("epsilon", 0.0f), attr_float("momentum", 0.9f)})};
  g.inputs = {value_info("x", kFloat, {1, 2, 1, 1})};
  g.outputs = {value_info("y", kFloat, {1, 2, 1, 1})};
  auto r = parse(model(graph(g), 15));
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto y = scv::run_reference(*r, {scv::Tensor({1, 2, 1, 1}, {3, 4})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ((*y)[0][0], 3.0f);
  EXPECT_EQ((*y)[0][1], 9.0f);
  g.nodes = {node("BatchNormalization", "bn_train", {"x", "s", "b", "m", "v"}, {"y", "rm", "rv"})};
  expect_error(model(graph(g), 15),
               "node 'bn_train' (op BatchNormalization): the training "
               "outputs");
}

}  // namespace
