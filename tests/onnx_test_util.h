// ONNX models for tests, built with the library's writer (src/io/onnx_writer.h) so tests can make
// valid, broken and unsupported models without Python. Adds the few messages only tests need:
// TensorProtos with unpacked int64_data, tensor attributes, and a second `graph` field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/onnx_writer.h"

namespace scv::onnx_test {

using PbWriter = onnx::PbOut;
using onnx::attr_float;
using onnx::attr_int;
using onnx::attr_ints;
using onnx::GraphParts;
using onnx::value_info;  // a negative dim is written as a symbolic dim_param "N"

enum { kFloat = 1, kUint8 = 2, kInt64 = 7 };

// TensorProto with FLOAT raw_data.
inline std::string tensor_f32(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
  return onnx::tensor_proto(name, dims, kFloat, values.data(), values.size() * sizeof(float));
}

// TensorProto with INT64 values in (unpacked) int64_data: dims=1 data_type=2 int64_data=7 name=8.
inline std::string tensor_i64(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<int64_t>& values) {
  PbWriter w;
  for (int64_t d : dims) w.int_field(1, d);
  w.int_field(2, kInt64);
  for (int64_t v : values) w.int_field(7, v);
  w.bytes_field(8, name);
  return w.buf;
}

// AttributeProto holding a tensor: name=1 t=5 type=20 (TENSOR = 4).
inline std::string attr_tensor(const std::string& name, const std::string& tensor) {
  PbWriter w;
  w.bytes_field(1, name).bytes_field(5, tensor).int_field(20, 4);
  return w.buf;
}

inline std::string node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs,
                        const std::vector<std::string>& attrs = {}) {
  return onnx::node_proto(op, name, inputs, outputs, attrs);
}

inline std::string graph(const GraphParts& p) {
  return onnx::graph_proto(p);
}

inline std::string model(const std::string& graph_bytes, int64_t opset) {
  return onnx::model_proto(graph_bytes, opset, "scratchcv-test");
}

// Adds an initializer to a serialized model without re-encoding it: protobuf merges repeated
// occurrences of a message field, so a second `graph` field holding just the initializer extends
// the first graph's initializer list.
inline std::string append_initializer(const std::string& model_bytes,
                                      const std::string& tensor_bytes) {
  PbWriter g;
  g.bytes_field(5, tensor_bytes);
  PbWriter w;
  w.buf = model_bytes;
  w.bytes_field(7, g.buf);
  return w.buf;
}

}  // namespace scv::onnx_test
