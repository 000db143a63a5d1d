// Reader for ONNX models: our own protobuf wire-format decoder and an ONNX -> Graph mapping.
// Supported ops: Conv, BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool,
// Flatten, Reshape, Gemm, MatMul, Add, Softmax, Identity, Constant (opsets 11-17). Anything else
// (op, attribute value, data type) is an error naming the node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcv/graph.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

Result<Graph> parse_onnx(const uint8_t* data, size_t size);
Result<Graph> load_onnx(const std::string& path);

// A serialized onnx.TensorProto (as in the ONNX test suite's input_0.pb / output_0.pb),
// converted to float32.
Result<Tensor> parse_onnx_tensor(const uint8_t* data, size_t size);

}  // namespace scv
