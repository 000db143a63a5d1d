// The op list is the one list: for every op of SCV_OP_LIST the registry has a complete
// definition (shape rule, reference kernel, ONNX mapping), the ONNX loader finds it by its
// op_type, `scratchcv infer --help` names it, and a conformance test covers it (tests/
// op_coverage.h, whose patterns test_onnx_conformance runs). The quantized rows (src/ops/qop.h)
// are checked the same way: each has its TFLite mapping, a shape rule, a reference plan and a
// conformance test in test_tflite.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "op_coverage.h"
#include "ops/op.h"
#include "ops/qop.h"

namespace scv {
namespace {

const char* kOnnxNodeTests = "/usr/share/libonnx-testdata/data/node";

std::string command_output(const std::string& cmd) {
  std::FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "";
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  return out;
}

std::vector<OpType> listed_ops() {
  return {
#define SCV_OP_VALUE(name) OpType::name,
      SCV_OP_LIST(SCV_OP_VALUE)
#undef SCV_OP_VALUE
  };
}

TEST(OpList, EveryOpHasACompleteDefinition) {
  const auto ops = listed_ops();
  ASSERT_EQ(ops.size(), static_cast<size_t>(kOpCount));
  ASSERT_EQ(all_ops().size(), ops.size());
  std::set<std::string> onnx_names;
  for (size_t i = 0; i < ops.size(); ++i) {
    const OpDef& d = op_def(ops[i]);
    SCOPED_TRACE(d.name);
    EXPECT_EQ(d.op, ops[i]);
    EXPECT_EQ(all_ops()[i], &d);
    EXPECT_STREQ(d.name, op_name(ops[i]));
    EXPECT_GE(d.min_inputs, 1);
    EXPECT_LE(d.min_inputs, d.max_inputs);
    EXPECT_NE(d.infer, nullptr) << "no shape inference";
    EXPECT_NE(d.ref, nullptr) << "no reference kernel";
    ASSERT_NE(d.onnx.op_type, nullptr) << "no ONNX mapping";
    EXPECT_NE(d.onnx.read, nullptr) << "no ONNX attribute reader";
    EXPECT_EQ(find_onnx_op(d.onnx.op_type), &d);
    EXPECT_TRUE(onnx_names.insert(d.onnx.op_type).second) << "ONNX op_type mapped twice";
  }
}

TEST(OpList, EveryOpHasAConformanceTest) {
  const auto& cov = testing::op_coverage();
  std::set<OpType> covered;
  for (const auto& c : cov) EXPECT_TRUE(covered.insert(c.op).second) << op_name(c.op);
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(kOnnxNodeTests))
    dirs.push_back(e.path().filename().string());
  ASSERT_FALSE(dirs.empty()) << kOnnxNodeTests << " missing: install libonnx-testdata";
  for (OpType op : listed_ops()) {
    SCOPED_TRACE(op_name(op));
    auto it = std::find_if(cov.begin(), cov.end(), [&](const auto& c) { return c.op == op; });
    ASSERT_NE(it, cov.end()) << "no entry in tests/op_coverage.h";
    const std::regex re(std::string("^(") + it->onnx_tests + ")$");
    int matches = 0;
    for (const auto& d : dirs) matches += std::regex_match(d, re);
    EXPECT_GE(matches, 1) << it->onnx_tests << " matches no ONNX test directory";
  }
}

// The CLI's op list is generated from the table: every ONNX op_type appears in `infer --help`.
TEST(OpList, InferHelpNamesEveryOp) {
  const std::string out = command_output(std::string(SCV_CLI) + " infer --help 2>&1");
  for (const OpDef* d : all_ops())
    EXPECT_NE(out.find(d->onnx.op_type), std::string::npos) << d->onnx.op_type << "\n" << out;
}

TEST(OpList, EveryQuantizedOpHasACompleteDefinition) {
  ASSERT_EQ(all_qops().size(), static_cast<size_t>(kQOpCount));
  std::set<int32_t> codes;
  for (size_t i = 0; i < all_qops().size(); ++i) {
    const QOpDef& d = *all_qops()[i];
    SCOPED_TRACE(d.name);
    EXPECT_EQ(static_cast<size_t>(d.op), i);
    EXPECT_EQ(&qop_def(d.op), &d);
    EXPECT_EQ(tflite::builtin_op_name(d.tflite), d.name) << "TFLite mapping and name disagree";
    EXPECT_TRUE(codes.insert(d.tflite).second) << "TFLite code mapped twice";
    EXPECT_EQ(find_tflite_op(d.tflite), &d);
    EXPECT_NE(d.infer, nullptr) << "no shape rule";
    EXPECT_NE(d.ref, nullptr) << "no reference plan";
    if (d.float_op) {
      EXPECT_EQ(op_def(*d.float_op).op, *d.float_op);
    }
  }
  EXPECT_EQ(find_tflite_op(14), nullptr);  // LOGISTIC: not supported
}

// Every quantized op names a test of test_tflite that runs it, and that test exists.
TEST(OpList, EveryQuantizedOpHasAConformanceTest) {
  const std::string listed =
      command_output(std::string(SCV_BINARY_DIR) + "/tests/test_tflite --gtest_list_tests");
  ASSERT_NE(listed.find("QuantOps."), std::string::npos) << listed;
  for (const QOpDef* d : all_qops()) {
    SCOPED_TRACE(d->name);
    const char* covering = testing::qop_test(d->op);
    ASSERT_NE(covering, nullptr) << "no entry in tests/op_coverage.h";
    const std::string test = covering;
    const std::string suite = test.substr(0, test.find('.') + 1),
                      name = test.substr(test.find('.') + 1);
    const size_t at = listed.find(suite);
    ASSERT_NE(at, std::string::npos) << test;
    EXPECT_NE(listed.find("  " + name + "\n", at), std::string::npos)
        << test << " not in test_tflite";
  }
}

}  // namespace
}  // namespace scv
