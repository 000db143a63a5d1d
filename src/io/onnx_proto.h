// ONNX protobuf messages decoded into small structs mirroring onnx.proto (only the fields the
// reader uses; unknown fields are skipped, as protobuf requires). Stage 1 of the ONNX reader
// (src/io/onnx_decode.cpp); stage 2, the mapping onto the Graph, is src/io/onnx.cpp. Field
// numbers are from onnx/onnx.proto.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/protobuf.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv::onnx {

// TensorProto.DataType: values 1 (FLOAT) to 16 (BFLOAT16), in onnx.proto order.
enum DataType : int64_t {
  kFloat = 1,
  kUint8,
  kInt8,
  kUint16,
  kInt16,
  kInt32,
  kInt64,
  kString,
  kBool,
  kFloat16,
  kDouble,
  kUint32,
  kUint64,
  kComplex64,
  kComplex128,
  kBfloat16
};

std::string dtype_name(int64_t t);

// A TensorProto. Float types (FLOAT, DOUBLE, FLOAT16) are converted to float32 in `f`; integer
// types (INT32, INT64) are kept exactly in `ints`.
struct OnnxTensor {
  std::string name;
  Shape dims;
  int64_t dtype = 0;
  bool is_float = false;
  Tensor f;
  std::vector<int64_t> ints;
  // Initializers and tensor attributes that fail to decode (unsupported data type, external
  // data, ...) keep the error here; it is reported, naming the node, only if a node uses them.
  Status status;
};

struct OnnxAttr {
  std::string name;
  int64_t type = 0;  // AttributeProto.AttributeType
  float f = 0;
  int64_t i = 0;
  std::string s;
  OnnxTensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
};

// AttributeProto.AttributeType: values 1 (FLOAT) to 14 (TYPE_PROTOS), in onnx.proto order.
enum AttrType : int64_t {
  kAttrFloat = 1,
  kAttrInt,
  kAttrString,
  kAttrTensor,
  kAttrGraph,
  kAttrFloats,
  kAttrInts,
  kAttrStrings,
  kAttrTensors,
  kAttrGraphs,
  kAttrSparseTensor,
  kAttrSparseTensors,
  kAttrTypeProto,
  kAttrTypeProtos
};

const char* attr_type_name(int64_t t);

struct OnnxNode {
  std::string name, op_type, domain;
  std::vector<std::string> inputs, outputs;
  std::vector<OnnxAttr> attrs;
};

struct OnnxValueInfo {
  std::string name;
  bool is_tensor = false;  // TypeProto.tensor_type present
  int64_t elem_type = 0;
  bool has_shape = false;
  Shape shape;  // -1 for a symbolic or unknown dim
};

struct OnnxGraph {
  std::vector<OnnxNode> nodes;
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxValueInfo> inputs, outputs;
  bool has_sparse_initializer = false;
};

struct OnnxModel {
  int64_t ir_version = 0;
  bool has_graph = false;
  OnnxGraph graph;
  bool has_default_opset = false;
  int64_t opset = 0;  // version of the default ("" / "ai.onnx") domain
};

Status decode_tensor(pb::Reader r, OnnxTensor* t);
Status decode_model(pb::Reader r, OnnxModel* m);

}  // namespace scv::onnx
