// Which tests cover each op of SCV_OP_LIST. test_op_list checks that every listed op has an
// entry here and that its ONNX conformance pattern matches test directories;
// test_onnx_conformance runs exactly the directories these patterns match. A new op adds its
// line here (docs/adding-an-op.md).
#pragma once

#include <string>
#include <vector>

#include "ops/qop.h"
#include "scratchcv/graph.h"

namespace scv::testing {

struct OpCoverage {
  OpType op;
  // ONNX backend node tests (libonnx-testdata/data/node) for this op: a regex over directory
  // names. The ops ResNet50 uses are also compared whole-model against PyTorch
  // (tests/cmake/resnet.cmake).
  const char* onnx_tests;
};

inline const std::vector<OpCoverage>& op_coverage() {
  static const std::vector<OpCoverage> table = {
      {OpType::Conv, "test_conv_.*"},
      {OpType::BatchNorm, "test_batchnorm_.*"},
      {OpType::Relu, "test_relu"},
      {OpType::MaxPool, "test_maxpool_2d_.*"},
      {OpType::AveragePool, "test_averagepool_2d_.*"},
      {OpType::GlobalAveragePool, "test_globalaveragepool.*"},
      {OpType::Flatten, "test_flatten_.*"},
      {OpType::Reshape, "test_reshape_.*"},
      {OpType::Gemm, "test_gemm_.*"},
      {OpType::MatMul, "test_matmul_2d"},
      {OpType::Add, "test_add.*"},
      {OpType::Softmax, "test_softmax_.*"},
      {OpType::Identity, "test_identity"},
      {OpType::Clip, "test_clip.*"},
  };
  return table;
}

// All patterns as one regex: ^(p1|p2|...)$.
inline std::string onnx_test_pattern() {
  std::string s = "^(";
  for (const OpCoverage& c : op_coverage()) s += std::string(c.onnx_tests) + "|";
  s.back() = ')';
  return s + "$";
}

// The quantized rows (src/ops/qop.h): the tests of tests/test_tflite.cpp that run TFLite
// operators on every ISA x {1, 2} threads against a float64 oracle or hand-computed values, each
// with the operators it runs.
struct QOpCoverage {
  const char* test;  // "Suite.Name" in test_tflite
  std::vector<QOpType> ops;
};

inline const std::vector<QOpCoverage>& qop_coverage() {
  static const std::vector<QOpCoverage> table = {
      {"QuantOps.ConvAndDepthwiseMatchTheFloatOracle", {QOpType::Conv2d, QOpType::DepthwiseConv2d}},
      {"QuantOps.OtherOperatorsMatchTheFloatOracle",
       {QOpType::FullyConnected, QOpType::Add, QOpType::AveragePool2d, QOpType::MaxPool2d,
        QOpType::Mean, QOpType::Reshape, QOpType::Squeeze, QOpType::Softmax, QOpType::Quantize,
        QOpType::Dequantize, QOpType::Concatenation, QOpType::Pad}},
  };
  return table;
}

// The test of qop_coverage() that runs `op`, or nullptr.
inline const char* qop_test(QOpType op) {
  for (const QOpCoverage& c : qop_coverage())
    for (QOpType o : c.ops)
      if (o == op) return c.test;
  return nullptr;
}

}  // namespace scv::testing
