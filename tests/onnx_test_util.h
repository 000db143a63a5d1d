// A tiny protobuf / ONNX writer for tests: builds ModelProto bytes field by field, so tests can
// make valid, broken and unsupported models without Python. Field numbers are from onnx.proto
// (the same ones src/io/onnx.cpp reads).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace scv::onnx_test {

// Appends protobuf fields to a byte string.
struct PbWriter {
  std::string buf;

  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf.push_back(static_cast<char>(v));
  }
  void tag(uint32_t field, uint32_t wire_type) { varint((uint64_t{field} << 3) | wire_type); }
  PbWriter& int_field(uint32_t field, int64_t v) {
    tag(field, 0);
    varint(static_cast<uint64_t>(v));
    return *this;
  }
  PbWriter& float_field(uint32_t field, float f) {
    tag(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    buf.append(b, 4);
    return *this;
  }
  PbWriter& bytes_field(uint32_t field, const std::string& bytes) {
    tag(field, 2);
    varint(bytes.size());
    buf += bytes;
    return *this;
  }
};

enum { kFloat = 1, kUint8 = 2, kInt64 = 7 };

// TensorProto with FLOAT raw_data.
inline std::string tensor_f32(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
  PbWriter w;
  for (int64_t d : dims) w.int_field(1, d);
  w.int_field(2, kFloat);
  w.bytes_field(8, name);
  w.bytes_field(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return w.buf;
}

// TensorProto with INT64 values in (unpacked) int64_data.
inline std::string tensor_i64(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<int64_t>& values) {
  PbWriter w;
  for (int64_t d : dims) w.int_field(1, d);
  w.int_field(2, kInt64);
  for (int64_t v : values) w.int_field(7, v);
  w.bytes_field(8, name);
  return w.buf;
}

// ValueInfoProto of a tensor; a negative dim is written as a symbolic dim_param "N".
inline std::string value_info(const std::string& name, int elem_type,
                              const std::vector<int64_t>& dims) {
  PbWriter shape;
  for (int64_t d : dims) {
    PbWriter dim;
    if (d >= 0)
      dim.int_field(1, d);
    else
      dim.bytes_field(2, "N");
    shape.bytes_field(1, dim.buf);
  }
  PbWriter tensor;
  tensor.int_field(1, elem_type);
  tensor.bytes_field(2, shape.buf);
  PbWriter type;
  type.bytes_field(1, tensor.buf);
  PbWriter vi;
  vi.bytes_field(1, name);
  vi.bytes_field(2, type.buf);
  return vi.buf;
}

// AttributeProtos (type field 20 set, as current exporters do).
inline std::string attr_int(const std::string& name, int64_t v) {
  PbWriter w;
  w.bytes_field(1, name).int_field(3, v).int_field(20, 2);
  return w.buf;
}
inline std::string attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  PbWriter w;
  w.bytes_field(1, name);
  for (int64_t x : v) w.int_field(8, x);
  w.int_field(20, 7);
  return w.buf;
}
inline std::string attr_float(const std::string& name, float v) {
  PbWriter w;
  w.bytes_field(1, name).float_field(2, v).int_field(20, 1);
  return w.buf;
}
inline std::string attr_tensor(const std::string& name, const std::string& tensor) {
  PbWriter w;
  w.bytes_field(1, name).bytes_field(5, tensor).int_field(20, 4);
  return w.buf;
}

inline std::string node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs,
                        const std::vector<std::string>& attrs = {}) {
  PbWriter w;
  for (const auto& i : inputs) w.bytes_field(1, i);
  for (const auto& o : outputs) w.bytes_field(2, o);
  w.bytes_field(3, name);
  w.bytes_field(4, op);
  for (const auto& a : attrs) w.bytes_field(5, a);
  return w.buf;
}

struct GraphParts {
  std::vector<std::string> nodes, initializers, inputs, outputs;  // serialized sub-messages
};

inline std::string graph(const GraphParts& p) {
  PbWriter w;
  for (const auto& n : p.nodes) w.bytes_field(1, n);
  w.bytes_field(2, "test_graph");
  for (const auto& t : p.initializers) w.bytes_field(5, t);
  for (const auto& i : p.inputs) w.bytes_field(11, i);
  for (const auto& o : p.outputs) w.bytes_field(12, o);
  return w.buf;
}

inline std::string model(const std::string& graph_bytes, int64_t opset) {
  PbWriter opset_id;
  opset_id.bytes_field(1, "").int_field(2, opset);
  PbWriter w;
  w.int_field(1, 8);  // ir_version
  w.bytes_field(2, "scratchcv-test");
  w.bytes_field(7, graph_bytes);
  w.bytes_field(8, opset_id.buf);
  return w.buf;
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
