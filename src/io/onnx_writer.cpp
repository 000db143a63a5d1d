// Protobuf / ONNX writer (see onnx_writer.h).
#include "io/onnx_writer.h"

#include <cstring>

namespace scv::onnx {

void PbOut::varint(uint64_t v) {
  while (v >= 0x80) {
    buf.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf.push_back(static_cast<char>(v));
}

PbOut& PbOut::int_field(uint32_t field, int64_t v) {
  tag(field, 0);
  varint(static_cast<uint64_t>(v));
  return *this;
}

PbOut& PbOut::float_field(uint32_t field, float f) {
  tag(field, 5);
  char b[4];
  std::memcpy(b, &f, 4);
  buf.append(b, 4);
  return *this;
}

PbOut& PbOut::bytes_field(uint32_t field, const std::string& bytes) {
  return bytes_field(field, bytes.data(), bytes.size());
}

PbOut& PbOut::bytes_field(uint32_t field, const void* data, size_t size) {
  tag(field, 2);
  varint(size);
  buf.append(static_cast<const char*>(data), size);
  return *this;
}

// TensorProto: dims=1 data_type=2 name=8 raw_data=9.
std::string tensor_proto(const std::string& name, const std::vector<int64_t>& dims, int64_t dtype,
                         const void* data, size_t bytes) {
  PbOut w;
  for (int64_t d : dims) w.int_field(1, d);
  w.int_field(2, dtype);
  w.bytes_field(8, name);
  w.bytes_field(9, data, bytes);
  return w.buf;
}

// AttributeProto: name=1 f=2 i=3 ints=8 type=20.
std::string attr_int(const std::string& name, int64_t v) {
  PbOut w;
  w.bytes_field(1, name).int_field(3, v).int_field(20, 2);
  return w.buf;
}

std::string attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  PbOut w;
  w.bytes_field(1, name);
  for (int64_t x : v) w.int_field(8, x);
  w.int_field(20, 7);
  return w.buf;
}

std::string attr_float(const std::string& name, float v) {
  PbOut w;
  w.bytes_field(1, name).float_field(2, v).int_field(20, 1);
  return w.buf;
}

// NodeProto: input=1 output=2 name=3 op_type=4 attribute=5.
std::string node_proto(const std::string& op_type, const std::string& name,
                       const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs,
                       const std::vector<std::string>& attrs) {
  PbOut w;
  for (const auto& i : inputs) w.bytes_field(1, i);
  for (const auto& o : outputs) w.bytes_field(2, o);
  w.bytes_field(3, name);
  w.bytes_field(4, op_type);
  for (const auto& a : attrs) w.bytes_field(5, a);
  return w.buf;
}

// ValueInfoProto{name=1 type=2}; TypeProto{tensor_type=1}; Tensor{elem_type=1 shape=2};
// TensorShapeProto{dim=1}; Dimension{dim_value=1 dim_param=2}.
std::string value_info(const std::string& name, int64_t elem_type,
                       const std::vector<int64_t>& dims) {
  PbOut shape;
  for (int64_t d : dims) {
    PbOut dim;
    if (d >= 0)
      dim.int_field(1, d);
    else
      dim.bytes_field(2, std::string("N"));
    shape.bytes_field(1, dim.buf);
  }
  PbOut tensor;
  tensor.int_field(1, elem_type);
  tensor.bytes_field(2, shape.buf);
  PbOut type;
  type.bytes_field(1, tensor.buf);
  PbOut vi;
  vi.bytes_field(1, name);
  vi.bytes_field(2, type.buf);
  return vi.buf;
}

// GraphProto: node=1 name=2 initializer=5 input=11 output=12.
std::string graph_proto(const GraphParts& p) {
  PbOut w;
  for (const auto& n : p.nodes) w.bytes_field(1, n);
  w.bytes_field(2, p.name);
  for (const auto& t : p.initializers) w.bytes_field(5, t);
  for (const auto& i : p.inputs) w.bytes_field(11, i);
  for (const auto& o : p.outputs) w.bytes_field(12, o);
  return w.buf;
}

// ModelProto: ir_version=1 producer_name=2 producer_version=3 doc_string=6 graph=7
// opset_import=8; OperatorSetIdProto{domain=1 version=2}.
std::string model_proto(const std::string& graph_bytes, int64_t opset, const std::string& producer,
                        const std::string& doc) {
  PbOut opset_id;
  opset_id.bytes_field(1, std::string()).int_field(2, opset);
  PbOut w;
  w.int_field(1, 8);
  w.bytes_field(2, producer);
  if (!doc.empty()) w.bytes_field(6, doc);
  w.bytes_field(7, graph_bytes);
  w.bytes_field(8, opset_id.buf);
  return w.buf;
}

}  // namespace scv::onnx
