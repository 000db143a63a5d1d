// The op list is the one list: for every op of SCV_OP_LIST the registry has a complete
// definition (shape rule, reference kernel, ONNX mapping), the ONNX loader finds it by its
// op_type, `scratchcv infer --help` names it, and a conformance test covers it (tests/
// op_coverage.h, whose patterns test_onnx_conformance runs). A TFLite mapping joins these
// checks when the TFLite reader lands.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "op_coverage.h"
#include "ops/op.h"

namespace scv {
namespace {

const char* kOnnxNodeTests = "/usr/share/libonnx-testdata/data/node";

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
  std::FILE* f = popen((std::string(SCV_CLI) + " infer --help 2>&1").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  for (const OpDef* d : all_ops())
    EXPECT_NE(out.find(d->onnx.op_type), std::string::npos) << d->onnx.op_type << "\n" << out;
}

}  // namespace
}  // namespace scv
