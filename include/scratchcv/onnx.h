// Reader for ONNX models: our own protobuf wire-format decoder and an ONNX -> Graph mapping.
// Supported ops: those of the op list (SCV_OP_LIST, each mapped in its folder under src/ops/)
// plus Constant; onnx_supported_ops() names them. Anything else (op, attribute value, data
// type) is an error naming the node.
//
// Details of the mapping (src/io/onnx.cpp):
// - Default-domain opset versions 1..22 load (tested: 11, 13-17 and the node test data); Softmax
//   below opset 13 sets attrs.softmax_legacy with the old default axis=1.
// - Initializers (also those listed as graph inputs) and Constant nodes become constant Values
//   when used as data; they must be FLOAT, DOUBLE or FLOAT16 (stored as float32). INT64/INT32
//   constants are only accepted as Reshape's shape, which must be constant and is folded into
//   attrs.shape. External-data tensors are an error.
// - Graph inputs must be FLOAT; their Value.shape comes from the model with -1 for symbolic dims.
// - A node without a name is called "<op_type>#<index>" in the Graph and in messages.
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

// "Conv, BatchNormalization, ..., Constant": the ONNX op_types the reader maps.
std::string onnx_supported_ops();

}  // namespace scv
