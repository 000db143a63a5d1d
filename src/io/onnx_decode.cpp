// Stage 1 of the ONNX reader: protobuf bytes -> the structs of io/onnx_proto.h.
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/enum_names.h"
#include "core/half.h"
#include "io/onnx_proto.h"

namespace scv::onnx {

std::string dtype_name(int64_t t) {
  static const char* names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  if (t >= 0 && t < static_cast<int64_t>(std::size(names))) return names[t];
  return str("data type ", t);
}

namespace {
constexpr EnumName<int64_t> kAttrTypeNames[] = {{kAttrFloat, "FLOAT"},
                                                {kAttrInt, "INT"},
                                                {kAttrString, "STRING"},
                                                {kAttrTensor, "TENSOR"},
                                                {kAttrGraph, "GRAPH"},
                                                {kAttrFloats, "FLOATS"},
                                                {kAttrInts, "INTS"},
                                                {kAttrStrings, "STRINGS"},
                                                {kAttrTensors, "TENSORS"},
                                                {kAttrGraphs, "GRAPHS"},
                                                {kAttrSparseTensor, "SPARSE_TENSOR"},
                                                {kAttrSparseTensors, "SPARSE_TENSORS"},
                                                {kAttrTypeProto, "TYPE_PROTO"},
                                                {kAttrTypeProtos, "TYPE_PROTOS"}};
}  // namespace

const char* attr_type_name(int64_t t) {
  return name_of(kAttrTypeNames, t, "UNDEFINED");
}

namespace {

constexpr const char* kSupportedDtypes = "FLOAT, DOUBLE, FLOAT16, INT64, INT32, INT8, UINT8";

// TensorProto: dims=1 data_type=2 segment=3 float_data=4 int32_data=5 string_data=6 int64_data=7
// name=8 raw_data=9 double_data=10 uint64_data=11 external_data=13 data_location=14.

// The value fields of one TensorProto, as found on the wire.
struct TensorFields {
  std::vector<float> float_data;
  std::vector<int64_t> int32_data, int64_data;
  std::vector<double> double_data;
  const uint8_t* raw = nullptr;
  size_t raw_size = 0;
  bool has_raw = false, external = false, segmented = false;
  int64_t location = 0;
};

Status read_tensor_fields(pb::Reader r, OnnxTensor* t, TensorFields* tf) {
  const pb::Bind binds[] = {{1, &t->dims},          {2, &t->dtype},       {4, &tf->float_data},
                            {5, &tf->int32_data},   {7, &tf->int64_data}, {8, &t->name},
                            {10, &tf->double_data}, {14, &tf->location}};
  return pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    if (f.number == 3) tf->segmented = true;
    if (f.number == 13) tf->external = true;
    if (f.number == 9) {
      if (f.type != pb::WireType::Len) return error("raw_data: expected bytes");
      tf->raw = f.data, tf->raw_size = f.size, tf->has_raw = true;
    }
    // string_data, uint64_data, doc_string, ...: not used by supported types
    return pb::read_bound(f, binds);
  });
}

// How a supported data type is stored: bytes per element in raw_data, and the number of values
// in the typed field that holds them when raw_data is absent (INT8/UINT8 are quantized weights
// and zero points of QDQ models; FLOAT16 keeps its bits in int32_data).
struct DtypeLayout {
  int64_t dtype;
  size_t elem;
  size_t (*typed_count)(const TensorFields& tf);
};
// The number of values in the typed field `Field` of TensorFields.
template <auto Field>
size_t count_of(const TensorFields& tf) {
  return (tf.*Field).size();
}
constexpr DtypeLayout kDtypeLayouts[] = {{kFloat, 4, count_of<&TensorFields::float_data>},
                                         {kDouble, 8, count_of<&TensorFields::double_data>},
                                         {kFloat16, 2, count_of<&TensorFields::int32_data>},
                                         {kInt32, 4, count_of<&TensorFields::int32_data>},
                                         {kInt64, 8, count_of<&TensorFields::int64_data>},
                                         {kInt8, 1, count_of<&TensorFields::int32_data>},
                                         {kUint8, 1, count_of<&TensorFields::int32_data>}};

// The element count the fields hold for t's dtype and dims (an error when it disagrees).
Result<size_t> tensor_count(const OnnxTensor* t, const TensorFields& tf) {
  const std::string what = str("tensor '", t->name, "'");
  if (tf.external || tf.location == 1)
    return error(what,
                 ": data is stored in an external file, which is not supported; save the "
                 "model with its weights inside (onnx.save(model, path, "
                 "save_as_external_data=False))");
  if (tf.segmented) return error(what, ": segmented tensors are not supported");

  int64_t numel = 1;
  for (int64_t d : t->dims) {
    if (d < 0) return error(what, ": negative dimension ", d);
    if (d > 0 && numel > std::numeric_limits<int64_t>::max() / d)
      return error(what, ": dimensions ", shape_str(t->dims), " overflow");
    numel *= d;
  }

  const DtypeLayout* layout = nullptr;
  for (const DtypeLayout& l : kDtypeLayouts)
    if (l.dtype == t->dtype) layout = &l;
  if (!layout)
    return error(what, ": unsupported data type ", dtype_name(t->dtype),
                 " (supported: ", kSupportedDtypes, ")");
  const size_t elem = layout->elem;
  if (tf.has_raw) {
    if (tf.raw_size % elem != 0 ||
        static_cast<uint64_t>(tf.raw_size / elem) != static_cast<uint64_t>(numel))
      return error(what, ": raw_data has ", tf.raw_size, " bytes, expected ", numel, " x ", elem,
                   " for shape ", shape_str(t->dims));
    return tf.raw_size / elem;
  }
  const size_t count = layout->typed_count(tf);
  if (static_cast<uint64_t>(count) != static_cast<uint64_t>(numel))
    return error(what, ": has ", count, " values, expected ", numel, " for shape ",
                 shape_str(t->dims));
  return count;
}

// Element k of a tensor's values: from raw_data (little-endian T) when present, else from the
// typed field `data`.
template <typename T, typename V>
T value(const TensorFields& tf, const std::vector<V>& data, size_t k) {
  if (!tf.has_raw) return static_cast<T>(data[k]);
  T v;
  std::memcpy(&v, tf.raw + sizeof(T) * k, sizeof(T));
  return v;
}

// Converts count values of the fields into t->f (float types, as float32) or t->ints.
void tensor_values(OnnxTensor* t, const TensorFields& tf, size_t count) {
  t->is_float = t->dtype == kFloat || t->dtype == kDouble || t->dtype == kFloat16;
  if (t->is_float) {
    t->f = Tensor(t->dims);
    float* out = t->f.data();
    if (t->dtype == kFloat && tf.has_raw) {
      if (count) std::memcpy(out, tf.raw, count * 4);  // the common case: one copy of the weights
      return;
    }
    for (size_t k = 0; k < count; ++k) {
      if (t->dtype == kFloat)
        out[k] = value<float>(tf, tf.float_data, k);
      else if (t->dtype == kDouble)
        out[k] = static_cast<float>(value<double>(tf, tf.double_data, k));
      else  // FLOAT16: raw little-endian halves, or the bits in int32_data
        out[k] = half_to_float(value<uint16_t>(tf, tf.int32_data, k));
    }
  } else {
    t->ints.resize(count);
    for (size_t k = 0; k < count; ++k) {
      if (t->dtype == kInt64) {
        t->ints[k] = value<int64_t>(tf, tf.int64_data, k);
      } else if (t->dtype == kInt8 || t->dtype == kUint8) {
        // Raw bytes are in range by their type; int32_data may hold anything (checked by users).
        if (tf.has_raw)
          t->ints[k] = t->dtype == kInt8 ? int64_t(int8_t(tf.raw[k])) : int64_t(tf.raw[k]);
        else
          t->ints[k] = tf.int32_data[k];
      } else {
        t->ints[k] = value<int32_t>(tf, tf.int32_data, k);
      }
    }
  }
}

}  // namespace

Status decode_tensor(pb::Reader r, OnnxTensor* t) {
  TensorFields tf;
  SCV_TRY(read_tensor_fields(r, t, &tf));
  SCV_ASSIGN_OR_RETURN(const size_t count, tensor_count(t, tf));
  tensor_values(t, tf, count);
  return Status();
}

// AttributeProto: name=1 f=2 i=3 s=4 t=5 g=6 floats=7 ints=8 strings=9 tensors=10 graphs=11
// doc_string=13 tp=14 type_protos=15 type=20 ref_attr_name=21 sparse_tensor=22
// sparse_tensors=23.
Status decode_attr(pb::Reader r, OnnxAttr* a) {
  // The type each payload field implies, for old files that omit `type`.
  static constexpr std::pair<uint32_t, int64_t> kFieldType[] = {
      {2, kAttrFloat},         {3, kAttrInt},           {4, kAttrString},     {5, kAttrTensor},
      {6, kAttrGraph},         {7, kAttrFloats},        {8, kAttrInts},       {9, kAttrStrings},
      {10, kAttrTensors},      {11, kAttrGraphs},       {14, kAttrTypeProto}, {15, kAttrTypeProtos},
      {22, kAttrSparseTensor}, {23, kAttrSparseTensors}};
  int64_t inferred = 0;
  bool has_ref = false;
  const pb::Bind binds[] = {{1, &a->name},   {2, &a->f},    {3, &a->i},    {4, &a->s},
                            {7, &a->floats}, {8, &a->ints}, {20, &a->type}};
  SCV_TRY(pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    for (const auto& [field, type] : kFieldType)
      if (f.number == field) inferred = type;
    if (f.number == 21) has_ref = true;
    if (f.number == 5) {
      pb::Reader sub(nullptr, 0);
      SCV_TRY(r.message(f, &sub));
      a->t = OnnxTensor();
      // A tensor attribute we cannot decode is only an error if an op uses it.
      a->t.status = decode_tensor(sub, &a->t);
    }
    return pb::read_bound(f, binds);
  }));
  if (has_ref)
    return error("attribute '", a->name,
                 "' refers to a function attribute (ref_attr_name), "
                 "which is not supported");
  if (a->type == 0) a->type = inferred;
  return Status();
}

// NodeProto: input=1 output=2 name=3 op_type=4 attribute=5 doc_string=6 domain=7.
Status decode_node(pb::Reader r, OnnxNode* n) {
  const pb::Bind binds[] = {
      {1, &n->inputs}, {2, &n->outputs}, {3, &n->name}, {4, &n->op_type}, {7, &n->domain}};
  return pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    if (f.number != 5) return pb::read_bound(f, binds);
    pb::Reader sub(nullptr, 0);
    SCV_TRY(r.message(f, &sub));
    return decode_attr(sub, &n->attrs.emplace_back());
  });
}

// ValueInfoProto: name=1 type=2. TypeProto: tensor_type=1. TypeProto.Tensor: elem_type=1
// shape=2. TensorShapeProto: dim=1. Dimension: dim_value=1 dim_param=2.
Status decode_value_info(pb::Reader r, OnnxValueInfo* v) {
  return pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    if (f.number == 1) return pb::get_string(f, &v->name);
    if (f.number != 2) return Status();
    return pb::for_each_field(r, f, [&](const pb::Field& tf, const pb::Reader& type) -> Status {
      if (tf.number != 1) return Status();  // sequence, map, optional, sparse: not a dense tensor
      v->is_tensor = true;
      return pb::for_each_field(type, tf, [&](const pb::Field& ef, const pb::Reader& tensor) {
        if (ef.number == 1) return pb::get_int64(ef, &v->elem_type);
        if (ef.number != 2) return Status();
        v->has_shape = true;
        v->shape.clear();
        return pb::for_each_field(tensor, ef, [&](const pb::Field& df, const pb::Reader& shape) {
          if (df.number != 1) return Status();
          int64_t d = -1;
          SCV_TRY(pb::for_each_field(shape, df, [&](const pb::Field& vf) {
            return vf.number == 1 ? pb::get_int64(vf, &d) : Status();
          }));
          v->shape.push_back(d >= 0 ? d : -1);
          return Status();
        });
      });
    });
  });
}

// GraphProto: node=1 name=2 initializer=5 doc_string=10 input=11 output=12 value_info=13
// sparse_initializer=15. Repeated occurrences of the graph field merge, as protobuf specifies.
Status decode_graph(pb::Reader r, OnnxGraph* g) {
  return pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    if (f.number == 15) g->has_sparse_initializer = true;
    if (f.number != 1 && f.number != 5 && f.number != 11 && f.number != 12) return Status();
    pb::Reader sub(nullptr, 0);
    SCV_TRY(r.message(f, &sub));
    if (f.number == 1) {
      const size_t idx = g->nodes.size();
      if (Status st = decode_node(sub, &g->nodes.emplace_back()); !st.ok())
        return st.with_context(str("node #", idx));
      return Status();
    }
    if (f.number == 5) {
      OnnxTensor& t = g->initializers.emplace_back();
      t.status = decode_tensor(sub, &t);  // reported when a node uses it
      return Status();
    }
    auto& list = f.number == 11 ? g->inputs : g->outputs;
    return decode_value_info(sub, &list.emplace_back())
        .with_context(f.number == 11 ? "graph input" : "graph output");
  });
}

// ModelProto: ir_version=1 graph=7 opset_import=8. OperatorSetIdProto: domain=1 version=2.
Status decode_model(pb::Reader r, OnnxModel* m) {
  return pb::for_each_field(r, [&](const pb::Field& f) -> Status {
    if (f.number == 1) return pb::get_int64(f, &m->ir_version);
    if (f.number == 7) {
      pb::Reader sub(nullptr, 0);
      SCV_TRY(r.message(f, &sub));
      m->has_graph = true;
      return decode_graph(sub, &m->graph);
    }
    if (f.number != 8) return Status();
    std::string domain;
    int64_t version = 0;
    SCV_TRY(pb::for_each_field(r, f, [&](const pb::Field& of) -> Status {
      if (of.number == 1) SCV_TRY(pb::get_string(of, &domain));
      if (of.number == 2) SCV_TRY(pb::get_int64(of, &version));
      return Status();
    }));
    if (domain.empty() || domain == "ai.onnx") {
      m->has_default_opset = true;
      m->opset = version;
    }
    return Status();
  });
}

}  // namespace scv::onnx
