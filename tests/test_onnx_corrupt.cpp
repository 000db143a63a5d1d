// Corrupt and hostile ONNX input: the reader must return an error Status (with a message), never
// crash, hang or read out of bounds. Run this under -DSCV_SANITIZE=ON as well.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "io/protobuf.h"
#include "onnx_test_util.h"
#include "scratchcv/file_util.h"
#include "scratchcv/graph.h"
#include "scratchcv/onnx.h"

namespace {

using namespace scv::onnx_test;

scv::Result<scv::Graph> parse(const std::string& bytes) {
  return scv::parse_onnx(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// A small valid model touching most of the decoder: x[1,2,4,4] -> Conv(3x3, pad 1) -> Relu ->
// MaxPool(2x2) -> Reshape(Constant [1, -1]) -> Gemm(+bias) -> Softmax.
std::string small_model() {
  std::vector<float> w(3 * 2 * 3 * 3), b{0.1f, -0.2f, 0.3f}, fc(5 * 12), fcb(5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.05f * static_cast<float>(i % 7) - 0.1f;
  for (size_t i = 0; i < fc.size(); ++i) fc[i] = 0.02f * static_cast<float>(i % 11) - 0.1f;
  GraphParts g;
  g.initializers = {tensor_f32("w", {3, 2, 3, 3}, w), tensor_f32("b", {3}, b),
                    tensor_f32("fc", {5, 12}, fc), tensor_f32("fcb", {5}, fcb)};
  g.nodes = {
      node("Conv", "conv1", {"x", "w", "b"}, {"c"},
           {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})}),
      node("Relu", "relu1", {"c"}, {"r"}),
      node("MaxPool", "pool1", {"r"}, {"p"},
           {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}),
      node("Constant", "shape_const", {}, {"s"},
           {attr_tensor("value", tensor_i64("", {2}, {1, -1}))}),
      node("Reshape", "flat", {"p", "s"}, {"f"}),
      node("Gemm", "fc1", {"f", "fc", "fcb"}, {"logits"}, {attr_int("transB", 1)}),
      node("Softmax", "prob", {"logits"}, {"y"}, {attr_int("axis", 1)}),
  };
  g.inputs = {value_info("x", kFloat, {1, 2, 4, 4})};
  g.outputs = {value_info("y", kFloat, {1, 5})};
  return model(graph(g), 13);
}

scv::Tensor small_input() {
  scv::Tensor x({1, 2, 4, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = 0.1f * static_cast<float>(i % 9) - 0.3f;
  return x;
}

TEST(OnnxCorrupt, ValidSmallModelLoadsAndRuns) {
  auto g = parse(small_model());
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto y = scv::run_reference(*g, {small_input()});
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ((*y)[0].shape(), (scv::Shape{1, 5}));
  float sum = 0;
  for (int i = 0; i < 5; ++i) sum += (*y)[0][i];
  EXPECT_NEAR(sum, 1.0f, 1e-5f);  // softmax output
}

TEST(OnnxCorrupt, EmptyInputIsAnError) {
  auto g = scv::parse_onnx(nullptr, 0);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("empty"), std::string::npos) << g.status().message();
  EXPECT_FALSE(scv::parse_onnx_tensor(nullptr, 0).ok());  // a TensorProto without a data type
}

TEST(OnnxCorrupt, EveryTruncationIsAnError) {
  const std::string full = small_model();
  ASSERT_TRUE(parse(full).ok());
  for (size_t len = 0; len < full.size(); ++len) {
    auto g = parse(full.substr(0, len));
    ASSERT_FALSE(g.ok()) << "prefix of " << len << " / " << full.size() << " bytes loaded";
    EXPECT_FALSE(g.status().message().empty());
  }
}

// Seeded mutations: 1-3 flipped bits, a random byte overwritten, or a byte deleted/inserted.
// SCV_ONNX_FUZZ_ITERS overrides the iteration count (3000) for a longer local run.
TEST(OnnxCorrupt, SeededMutationsNeverCrash) {
  const std::string full = small_model();
  const char* env = std::getenv("SCV_ONNX_FUZZ_ITERS");
  const int iters = env ? std::atoi(env) : 3000;
  std::mt19937 rng(1234);
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < iters; ++iter) {
    std::string bytes = full;
    const size_t pos = rng() % bytes.size();
    switch (iter % 4) {
      case 0:
      case 1: {
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < flips; ++k)
          bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      }
      case 2:
        bytes[pos] = static_cast<char>(rng());
        break;
      case 3:
        if (rng() % 2)
          bytes.erase(pos, 1);
        else
          bytes.insert(pos, 1, static_cast<char>(rng()));
        break;
    }
    auto g = parse(bytes);
    // The same bytes as a TensorProto: also an error or a tensor, never a crash.
    (void)scv::parse_onnx_tensor(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (!g.ok()) {
      ++rejected;
      EXPECT_FALSE(g.status().message().empty());
      continue;
    }
    ++loaded;
    // A model that still loads (e.g. a flipped weight bit) must run or fail cleanly too.
    auto y = scv::run_reference(*g, {small_input()});
    if (!y.ok()) {
      EXPECT_FALSE(y.status().message().empty());
    }
  }
  // Both outcomes must occur, or the corruption is not reaching the decoder.
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 0);
}

TEST(OnnxCorrupt, TextFileIsAnError) {
  const std::string text = "This is not a model.\nIt is a plain text file with some words in it.\n";
  auto g = parse(text);
  ASSERT_FALSE(g.ok());
  const std::string json = "{\"graph\": {\"node\": [{\"op_type\": \"Relu\"}]}}";
  EXPECT_FALSE(parse(json).ok());
}

TEST(OnnxCorrupt, UnsupportedOpNamesTheNode) {
  GraphParts g;
  g.nodes = {node("Relu", "ok_relu", {"x"}, {"r"}), node("FooBar", "weird_node", {"r"}, {"y"})};
  g.inputs = {value_info("x", kFloat, {1, 4})};
  g.outputs = {value_info("y", kFloat, {1, 4})};
  auto r = parse(model(graph(g), 17));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node 'weird_node' (op FooBar): unsupported op; supported:"),
            std::string::npos)
      << r.status().message();
}

TEST(OnnxCorrupt, FileErrorsNameThePath) {
  auto r = scv::load_onnx("/nonexistent/dir/model.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/model.onnx"), std::string::npos);
  // A text file on disk: the error carries the path as context.
  const std::string path = std::string(SCV_BINARY_DIR) + "/onnx_corrupt_text.onnx";
  const std::string text = "hello, not protobuf\n";
  ASSERT_TRUE(scv::write_file_atomic(path, text.data(), text.size()).ok());
  auto t = scv::load_onnx(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().rfind(path + ": ", 0), 0u) << t.status().message();
}

// ---- the wire reader itself
// ----------------------------------------------------------------------

scv::Status read_all(const std::string& bytes) {
  scv::pb::Reader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  while (!r.at_end()) {
    scv::pb::Field f;
    SCV_TRY(r.next(&f));
  }
  return scv::Status();
}

TEST(ProtobufReader, RejectsMalformedWire) {
  EXPECT_FALSE(read_all(std::string("\x08", 1)).ok());  // varint missing
  EXPECT_FALSE(read_all(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11)).ok());
  EXPECT_FALSE(read_all(std::string("\x0a\x05"
                                    "abc",
                                    5))
                   .ok());                                                  // LEN past the end
  EXPECT_FALSE(read_all(std::string("\x0a\xff\xff\xff\xff\x0f", 6)).ok());  // huge LEN
  EXPECT_FALSE(read_all(std::string("\x0b", 1)).ok());                      // group start
  EXPECT_FALSE(read_all(std::string("\x0e", 1)).ok());                      // wire type 6
  EXPECT_FALSE(read_all(std::string("\x00", 1)).ok());                      // field number 0
  EXPECT_FALSE(read_all(std::string("\x09\x01\x02", 3)).ok());              // short I64
  EXPECT_FALSE(read_all(std::string("\x0d\x01", 2)).ok());                  // short I32
  EXPECT_TRUE(read_all(std::string("\x08\x96\x01\x12\x02hi\x1d\x00\x00\x80\x3f", 12)).ok());
}

TEST(ProtobufReader, DecodesScalarsPackedAndUnpacked) {
  PbWriter w;
  w.int_field(1, -5);   // negative int64: ten-byte varint
  w.int_field(2, 150);  // unpacked repeated element
  PbWriter packed;
  for (int v : {1, 300, 70000}) packed.varint(static_cast<uint64_t>(v));
  w.bytes_field(2, packed.buf);  // packed elements of the same field
  w.float_field(3, 1.5f);
  scv::pb::Reader r(reinterpret_cast<const uint8_t*>(w.buf.data()), w.buf.size());
  std::vector<int64_t> rep;
  int64_t neg = 0;
  float f = 0;
  while (!r.at_end()) {
    scv::pb::Field fl;
    ASSERT_TRUE(r.next(&fl).ok());
    if (fl.number == 1) {
      ASSERT_TRUE(scv::pb::get_int64(fl, &neg).ok());
    }
    if (fl.number == 2) {
      ASSERT_TRUE(scv::pb::append_varints(fl, &rep).ok());
    }
    if (fl.number == 3) {
      ASSERT_TRUE(scv::pb::get_float(fl, &f).ok());
      EXPECT_FALSE(scv::pb::get_int64(fl, &neg).ok());  // wrong wire type is an error
    }
  }
  EXPECT_EQ(neg, -5);
  EXPECT_EQ(rep, (std::vector<int64_t>{150, 1, 300, 70000}));
  EXPECT_EQ(f, 1.5f);
}

TEST(ProtobufReader, LimitsNestingDepth) {
  // Field 1 holding field 1 holding ... 40 levels deep.
  std::string msg;
  for (int i = 0; i < 40; ++i) {
    PbWriter w;
    w.bytes_field(1, msg);
    msg = w.buf;
  }
  std::function<scv::Status(scv::pb::Reader)> walk = [&](scv::pb::Reader r) -> scv::Status {
    while (!r.at_end()) {
      scv::pb::Field f;
      SCV_TRY(r.next(&f));
      scv::pb::Reader sub(nullptr, 0);
      SCV_TRY(r.message(f, &sub));
      SCV_TRY(walk(sub));
    }
    return scv::Status();
  };
  scv::Status st = walk(scv::pb::Reader(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nested deeper"), std::string::npos) << st.message();
}

}  // namespace
