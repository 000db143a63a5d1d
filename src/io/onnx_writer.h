// A small writer of the protobuf wire format and of the ONNX messages `scratchcv quantize`
// emits (ModelProto, GraphProto, NodeProto, TensorProto, AttributeProto, ValueInfoProto). The
// mirror of the reader in protobuf.h / onnx_proto.h: the same field numbers (onnx/onnx.proto).
// Each function returns the serialized bytes of one message; parents embed them as LEN fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scv::onnx {

// Appends protobuf fields to a byte string.
struct PbOut {
  std::string buf;
  void varint(uint64_t v);
  void tag(uint32_t field, uint32_t wire_type) { varint((uint64_t{field} << 3) | wire_type); }
  PbOut& int_field(uint32_t field, int64_t v);
  PbOut& float_field(uint32_t field, float f);
  PbOut& bytes_field(uint32_t field, const std::string& bytes);
  PbOut& bytes_field(uint32_t field, const void* data, size_t size);
};

// TensorProto with its values as raw_data (little-endian, `bytes` bytes of `dtype` elements).
std::string tensor_proto(const std::string& name, const std::vector<int64_t>& dims, int64_t dtype,
                         const void* data, size_t bytes);

// AttributeProtos (type field set).
std::string attr_int(const std::string& name, int64_t v);
std::string attr_ints(const std::string& name, const std::vector<int64_t>& v);
std::string attr_float(const std::string& name, float v);

std::string node_proto(const std::string& op_type, const std::string& name,
                       const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs,
                       const std::vector<std::string>& attrs = {});

// ValueInfoProto of a tensor; a negative dim is written as the symbolic dim "N".
std::string value_info(const std::string& name, int64_t elem_type,
                       const std::vector<int64_t>& dims);

struct GraphParts {
  std::string name = "graph";
  std::vector<std::string> nodes, initializers, inputs, outputs;  // serialized messages
};
std::string graph_proto(const GraphParts& p);

// ModelProto, IR version 8, one default-domain opset import.
std::string model_proto(const std::string& graph_bytes, int64_t opset, const std::string& producer,
                        const std::string& doc = "");

}  // namespace scv::onnx
