// torch.onnx.export of torchvision resnet18 (seeded random weights, generated at test time by
// tests/py/onnx_export_resnet18.py) loads with our reader and, run by the reference executor,
// matches PyTorch's logits: |ours - torch| <= 1e-3 for every logit.
//   opset 11: exported with BatchNormalization and Identity nodes (no BN folding)
//   opset 17: the default export (BN folded into Conv by the exporter)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "scratchcv/file_util.h"
#include "scratchcv/graph.h"
#include "scratchcv/onnx.h"

namespace {

const std::string kOutDir = std::string(SCV_BINARY_DIR) + "/onnx_torch_export";

scv::Result<scv::Tensor> load_tensor(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(auto bytes, scv::read_file(path));
  return scv::parse_onnx_tensor(bytes.data(), bytes.size());
}

class OnnxTorchExport : public ::testing::TestWithParam<int> {};

TEST_P(OnnxTorchExport, Resnet18MatchesPytorch) {
  const int opset = GetParam();
  // One directory per opset: ctest may run the two tests in parallel processes.
  const std::string dir = kOutDir + "/opset" + std::to_string(opset);
  const std::string cmd = "/usr/bin/python3 " + std::string(SCV_SOURCE_DIR) +
                          "/tests/py/onnx_export_resnet18.py " + dir + " " + std::to_string(opset);
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << "exporting resnet18 failed: needs /usr/bin/python3 with torch, "
         "torchvision and onnx (python3-torch python3-torchvision "
         "python3-onnx)";
  auto g = scv::load_onnx(dir + "/resnet18.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  int batchnorms = 0;
  for (const scv::Node& n : g->nodes) batchnorms += n.op == scv::OpType::BatchNorm;
  if (opset < 13) {
    EXPECT_EQ(batchnorms, 20) << "the opset-11 export should keep resnet18's BatchNorm nodes";
  } else {
    EXPECT_EQ(batchnorms, 0) << "the default export folds BatchNorm into Conv";
  }
  auto x = load_tensor(dir + "/input.pb");
  auto want = load_tensor(dir + "/logits.pb");
  ASSERT_TRUE(x.ok()) << x.status().message();
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto y = scv::run_reference(*g, {*x});
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y->size(), 1u);
  const scv::Tensor& got = (*y)[0];
  ASSERT_EQ(got.shape(), (scv::Shape{1, 1000}));
  double max_err = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - (*want)[i]));
  std::printf("[resnet18 opset %d] max |ours - torch| = %.3g over 1000 logits\n", opset, max_err);
  EXPECT_LE(max_err, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Opsets, OnnxTorchExport, ::testing::Values(11, 17),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "opset" + std::to_string(info.param);
                         });

}  // namespace
