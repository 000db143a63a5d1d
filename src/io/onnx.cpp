// ONNX reader: decodes ModelProto with our protobuf wire reader (io/protobuf.h) and maps the
// supported operators onto scv::Graph.
//
// Two stages keep each simple:
//   1. decode: bytes -> small structs mirroring onnx.proto (only the fields we use; unknown
//      fields are skipped, as protobuf requires). Field numbers are from onnx/onnx.proto.
//   2. build: those structs -> Graph. Initializers and Constant nodes become constant Values
//      when a node uses them as data; integer constants feeding Reshape's shape input are folded
//      into attrs.shape. Every op, attribute and data type we do not support is an error that
//      names the node.
#include "scratchcv/onnx.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "io/protobuf.h"
#include "scratchcv/file_util.h"

namespace scv {

namespace {

// ---- TensorProto.DataType
// ------------------------------------------------------------------------

enum DataType : int64_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBfloat16 = 16,
};

std::string dtype_name(int64_t t) {
  static const char* names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  if (t >= 0 && t < static_cast<int64_t>(std::size(names))) return names[t];
  return str("data type ", t);
}

constexpr const char* kSupportedDtypes = "FLOAT, DOUBLE, FLOAT16, INT64, INT32";

// IEEE half -> float, including subnormals, infinities and NaN.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);  // normal: rebias the exponent
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: value = mant * 2^-24. Normalise the mantissa for the float encoding.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while (!(mant & 0x400));
    bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// ---- stage 1: decoded protos
// ----------------------------------------------------------------------

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

// AttributeProto.AttributeType values.
enum AttrType : int64_t {
  kAttrFloat = 1,
  kAttrInt = 2,
  kAttrString = 3,
  kAttrTensor = 4,
  kAttrGraph = 5,
  kAttrFloats = 6,
  kAttrInts = 7,
  kAttrStrings = 8,
  kAttrTensors = 9,
  kAttrGraphs = 10,
  kAttrSparseTensor = 11,
  kAttrSparseTensors = 12,
  kAttrTypeProto = 13,
  kAttrTypeProtos = 14,
};

const char* attr_type_name(int64_t t) {
  switch (t) {
    case kAttrFloat:
      return "FLOAT";
    case kAttrInt:
      return "INT";
    case kAttrString:
      return "STRING";
    case kAttrTensor:
      return "TENSOR";
    case kAttrGraph:
      return "GRAPH";
    case kAttrFloats:
      return "FLOATS";
    case kAttrInts:
      return "INTS";
    case kAttrStrings:
      return "STRINGS";
    case kAttrTensors:
      return "TENSORS";
    case kAttrGraphs:
      return "GRAPHS";
    case kAttrSparseTensor:
      return "SPARSE_TENSOR";
    case kAttrSparseTensors:
      return "SPARSE_TENSORS";
    case kAttrTypeProto:
      return "TYPE_PROTO";
    case kAttrTypeProtos:
      return "TYPE_PROTOS";
  }
  return "UNDEFINED";
}

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

// TensorProto: dims=1 data_type=2 segment=3 float_data=4 int32_data=5 string_data=6 int64_data=7
// name=8 raw_data=9 double_data=10 uint64_data=11 external_data=13 data_location=14.
Status decode_tensor(pb::Reader r, OnnxTensor* t) {
  std::vector<float> float_data;
  std::vector<int64_t> int32_data, int64_data;
  std::vector<double> double_data;
  const uint8_t* raw = nullptr;
  size_t raw_size = 0;
  bool has_raw = false, external = false, segmented = false;
  int64_t location = 0;
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    switch (f.number) {
      case 1:
        SCV_TRY(pb::append_varints(f, &t->dims));
        break;
      case 2:
        SCV_TRY(pb::get_int64(f, &t->dtype));
        break;
      case 3:
        segmented = true;
        break;
      case 4:
        SCV_TRY(pb::append_floats(f, &float_data));
        break;
      case 5:
        SCV_TRY(pb::append_varints(f, &int32_data));
        break;
      case 7:
        SCV_TRY(pb::append_varints(f, &int64_data));
        break;
      case 8:
        SCV_TRY(pb::get_string(f, &t->name));
        break;
      case 9:
        if (f.type != pb::WireType::Len) return error("raw_data: expected bytes");
        raw = f.data, raw_size = f.size, has_raw = true;
        break;
      case 10:
        SCV_TRY(pb::append_doubles(f, &double_data));
        break;
      case 13:
        external = true;
        break;
      case 14:
        SCV_TRY(pb::get_int64(f, &location));
        break;
      default:
        break;  // string_data, uint64_data, doc_string, ...: not used by supported types
    }
  }
  const std::string what = str("tensor '", t->name, "'");
  if (external || location == 1)
    return error(what,
                 ": data is stored in an external file, which is not supported; save the "
                 "model with its weights inside (onnx.save(model, path, "
                 "save_as_external_data=False))");
  if (segmented) return error(what, ": segmented tensors are not supported");

  int64_t numel = 1;
  for (int64_t d : t->dims) {
    if (d < 0) return error(what, ": negative dimension ", d);
    if (d > 0 && numel > std::numeric_limits<int64_t>::max() / d)
      return error(what, ": dimensions ", shape_str(t->dims), " overflow");
    numel *= d;
  }

  size_t elem = 0;
  switch (t->dtype) {
    case kFloat:
    case kInt32:
      elem = 4;
      break;
    case kDouble:
    case kInt64:
      elem = 8;
      break;
    case kFloat16:
      elem = 2;
      break;
    default:
      return error(what, ": unsupported data type ", dtype_name(t->dtype),
                   " (supported: ", kSupportedDtypes, ")");
  }
  // Which typed field holds the data when raw_data is absent, and how many values it has.
  size_t count = 0;
  if (has_raw) {
    if (raw_size % elem != 0 ||
        static_cast<uint64_t>(raw_size / elem) != static_cast<uint64_t>(numel))
      return error(what, ": raw_data has ", raw_size, " bytes, expected ", numel, " x ", elem,
                   " for shape ", shape_str(t->dims));
    count = raw_size / elem;
  } else {
    switch (t->dtype) {
      case kFloat:
        count = float_data.size();
        break;
      case kDouble:
        count = double_data.size();
        break;
      case kFloat16:
      case kInt32:
        count = int32_data.size();
        break;
      case kInt64:
        count = int64_data.size();
        break;
    }
    if (static_cast<uint64_t>(count) != static_cast<uint64_t>(numel))
      return error(what, ": has ", count, " values, expected ", numel, " for shape ",
                   shape_str(t->dims));
  }

  t->is_float = t->dtype == kFloat || t->dtype == kDouble || t->dtype == kFloat16;
  if (t->is_float) {
    t->f = Tensor(t->dims);
    float* out = t->f.data();
    if (t->dtype == kFloat && has_raw) {
      if (count) std::memcpy(out, raw, count * 4);  // the common case: one copy of the weights
      return Status();
    }
    for (size_t k = 0; k < count; ++k) {
      if (t->dtype == kFloat) {
        if (has_raw)
          std::memcpy(&out[k], raw + 4 * k, 4);
        else
          out[k] = float_data[k];
      } else if (t->dtype == kDouble) {
        double v;
        if (has_raw)
          std::memcpy(&v, raw + 8 * k, 8);
        else
          v = double_data[k];
        out[k] = static_cast<float>(v);
      } else {  // FLOAT16: raw little-endian halves, or the bits in int32_data
        uint16_t h;
        if (has_raw)
          std::memcpy(&h, raw + 2 * k, 2);
        else
          h = static_cast<uint16_t>(int32_data[k]);
        out[k] = half_to_float(h);
      }
    }
  } else {
    t->ints.resize(count);
    for (size_t k = 0; k < count; ++k) {
      if (t->dtype == kInt64) {
        if (has_raw)
          std::memcpy(&t->ints[k], raw + 8 * k, 8);
        else
          t->ints[k] = int64_data[k];
      } else {
        int32_t v;
        if (has_raw)
          std::memcpy(&v, raw + 4 * k, 4);
        else
          v = static_cast<int32_t>(int32_data[k]);
        t->ints[k] = v;
      }
    }
  }
  return Status();
}

// AttributeProto: name=1 f=2 i=3 s=4 t=5 g=6 floats=7 ints=8 strings=9 tensors=10 graphs=11
// doc_string=13 tp=14 type_protos=15 type=20 ref_attr_name=21 sparse_tensor=22
// sparse_tensors=23.
Status decode_attr(pb::Reader r, OnnxAttr* a) {
  int64_t inferred = 0;  // from the payload fields, for old files that omit `type`
  bool has_ref = false;
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    switch (f.number) {
      case 1:
        SCV_TRY(pb::get_string(f, &a->name));
        break;
      case 2:
        SCV_TRY(pb::get_float(f, &a->f));
        inferred = kAttrFloat;
        break;
      case 3:
        SCV_TRY(pb::get_int64(f, &a->i));
        inferred = kAttrInt;
        break;
      case 4:
        SCV_TRY(pb::get_string(f, &a->s));
        inferred = kAttrString;
        break;
      case 5: {
        pb::Reader sub(nullptr, 0);
        SCV_TRY(r.message(f, &sub));
        a->t = OnnxTensor();
        // A tensor attribute we cannot decode is only an error if an op uses it.
        a->t.status = decode_tensor(sub, &a->t);
        inferred = kAttrTensor;
        break;
      }
      case 6:
        inferred = kAttrGraph;
        break;
      case 7:
        SCV_TRY(pb::append_floats(f, &a->floats));
        inferred = kAttrFloats;
        break;
      case 8:
        SCV_TRY(pb::append_varints(f, &a->ints));
        inferred = kAttrInts;
        break;
      case 9:
        inferred = kAttrStrings;
        break;
      case 10:
        inferred = kAttrTensors;
        break;
      case 11:
        inferred = kAttrGraphs;
        break;
      case 14:
        inferred = kAttrTypeProto;
        break;
      case 15:
        inferred = kAttrTypeProtos;
        break;
      case 20:
        SCV_TRY(pb::get_int64(f, &a->type));
        break;
      case 21:
        has_ref = true;
        break;
      case 22:
        inferred = kAttrSparseTensor;
        break;
      case 23:
        inferred = kAttrSparseTensors;
        break;
      default:
        break;
    }
  }
  if (has_ref)
    return error("attribute '", a->name,
                 "' refers to a function attribute (ref_attr_name), "
                 "which is not supported");
  if (a->type == 0) a->type = inferred;
  return Status();
}

// NodeProto: input=1 output=2 name=3 op_type=4 attribute=5 doc_string=6 domain=7.
Status decode_node(pb::Reader r, OnnxNode* n) {
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    switch (f.number) {
      case 1:
        SCV_TRY(pb::get_string(f, &n->inputs.emplace_back()));
        break;
      case 2:
        SCV_TRY(pb::get_string(f, &n->outputs.emplace_back()));
        break;
      case 3:
        SCV_TRY(pb::get_string(f, &n->name));
        break;
      case 4:
        SCV_TRY(pb::get_string(f, &n->op_type));
        break;
      case 5: {
        pb::Reader sub(nullptr, 0);
        SCV_TRY(r.message(f, &sub));
        SCV_TRY(decode_attr(sub, &n->attrs.emplace_back()));
        break;
      }
      case 7:
        SCV_TRY(pb::get_string(f, &n->domain));
        break;
      default:
        break;
    }
  }
  return Status();
}

// ValueInfoProto: name=1 type=2. TypeProto: tensor_type=1. TypeProto.Tensor: elem_type=1
// shape=2. TensorShapeProto: dim=1. Dimension: dim_value=1 dim_param=2.
Status decode_value_info(pb::Reader r, OnnxValueInfo* v) {
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    if (f.number == 1) {
      SCV_TRY(pb::get_string(f, &v->name));
    } else if (f.number == 2) {
      pb::Reader type(nullptr, 0);
      SCV_TRY(r.message(f, &type));
      while (!type.at_end()) {
        pb::Field tf;
        SCV_TRY(type.next(&tf));
        if (tf.number != 1) continue;  // sequence, map, optional, sparse: not a dense tensor
        v->is_tensor = true;
        pb::Reader tensor(nullptr, 0);
        SCV_TRY(type.message(tf, &tensor));
        while (!tensor.at_end()) {
          pb::Field ef;
          SCV_TRY(tensor.next(&ef));
          if (ef.number == 1) {
            SCV_TRY(pb::get_int64(ef, &v->elem_type));
          } else if (ef.number == 2) {
            v->has_shape = true;
            v->shape.clear();
            pb::Reader shape(nullptr, 0);
            SCV_TRY(tensor.message(ef, &shape));
            while (!shape.at_end()) {
              pb::Field df;
              SCV_TRY(shape.next(&df));
              if (df.number != 1) continue;
              pb::Reader dim(nullptr, 0);
              SCV_TRY(shape.message(df, &dim));
              int64_t d = -1;
              while (!dim.at_end()) {
                pb::Field vf;
                SCV_TRY(dim.next(&vf));
                if (vf.number == 1) SCV_TRY(pb::get_int64(vf, &d));
              }
              v->shape.push_back(d >= 0 ? d : -1);
            }
          }
        }
      }
    }
  }
  return Status();
}

// GraphProto: node=1 name=2 initializer=5 doc_string=10 input=11 output=12 value_info=13
// sparse_initializer=15. Repeated occurrences of the graph field merge, as protobuf specifies.
Status decode_graph(pb::Reader r, OnnxGraph* g) {
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    pb::Reader sub(nullptr, 0);
    switch (f.number) {
      case 1: {
        SCV_TRY(r.message(f, &sub));
        const size_t idx = g->nodes.size();
        if (Status st = decode_node(sub, &g->nodes.emplace_back()); !st.ok())
          return st.with_context(str("node #", idx));
        break;
      }
      case 5: {
        SCV_TRY(r.message(f, &sub));
        OnnxTensor& t = g->initializers.emplace_back();
        t.status = decode_tensor(sub, &t);  // reported when a node uses it
        break;
      }
      case 11:
      case 12: {
        SCV_TRY(r.message(f, &sub));
        auto& list = f.number == 11 ? g->inputs : g->outputs;
        SCV_TRY(decode_value_info(sub, &list.emplace_back())
                    .with_context(f.number == 11 ? "graph input" : "graph output"));
        break;
      }
      case 15:
        g->has_sparse_initializer = true;
        break;
      default:
        break;
    }
  }
  return Status();
}

// ModelProto: ir_version=1 graph=7 opset_import=8. OperatorSetIdProto: domain=1 version=2.
Status decode_model(pb::Reader r, OnnxModel* m) {
  while (!r.at_end()) {
    pb::Field f;
    SCV_TRY(r.next(&f));
    pb::Reader sub(nullptr, 0);
    if (f.number == 1) {
      SCV_TRY(pb::get_int64(f, &m->ir_version));
    } else if (f.number == 7) {
      SCV_TRY(r.message(f, &sub));
      m->has_graph = true;
      SCV_TRY(decode_graph(sub, &m->graph));
    } else if (f.number == 8) {
      SCV_TRY(r.message(f, &sub));
      std::string domain;
      int64_t version = 0;
      while (!sub.at_end()) {
        pb::Field of;
        SCV_TRY(sub.next(&of));
        if (of.number == 1) SCV_TRY(pb::get_string(of, &domain));
        if (of.number == 2) SCV_TRY(pb::get_int64(of, &version));
      }
      if (domain.empty() || domain == "ai.onnx") {
        m->has_default_opset = true;
        m->opset = version;
      }
    }
  }
  return Status();
}

// ---- stage 2: build the Graph
// ---------------------------------------------------------------------

constexpr const char* kSupportedOps =
    "Conv, BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, "
    "Gemm, MatMul, Add, Softmax, Identity, Constant";
constexpr int64_t kMaxOpset = 22;
constexpr int64_t kMaxWindow = int64_t{1} << 20;

// One node being converted: typed attribute access that remembers which attributes were read,
// so that any attribute left over is reported as unsupported.
class NodeCtx {
 public:
  NodeCtx(const OnnxNode& n, std::string display)
      : n_(n), display_(std::move(display)), used_(n.attrs.size(), false) {}

  const OnnxNode& node() const { return n_; }
  const std::string& name() const { return display_; }

  template <typename... Args>
  Status fail(const Args&... args) const {
    return error("node '", display_, "' (op ", n_.op_type, "): ", args...);
  }

  // Finds attribute `name` of type `type`; nullptr when absent.
  Status find(const char* name, int64_t type, const OnnxAttr** out) {
    *out = nullptr;
    for (size_t k = 0; k < n_.attrs.size(); ++k) {
      if (n_.attrs[k].name != name) continue;
      used_[k] = true;
      if (n_.attrs[k].type != type)
        return fail("attribute '", name, "' has type ", attr_type_name(n_.attrs[k].type),
                    ", expected ", attr_type_name(type));
      *out = &n_.attrs[k];
    }
    return Status();
  }
  Status get_int(const char* name, int64_t* v) {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrInt, &a));
    if (a) *v = a->i;
    return Status();
  }
  Status get_bool(const char* name, bool* v) {
    int64_t i = *v ? 1 : 0;
    SCV_TRY(get_int(name, &i));
    if (i != 0 && i != 1) return fail("attribute '", name, "' must be 0 or 1, found ", i);
    *v = i != 0;
    return Status();
  }
  Status get_float(const char* name, float* v) {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrFloat, &a));
    if (a) *v = a->f;
    return Status();
  }
  Status get_ints(const char* name, std::vector<int64_t>* v) {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrInts, &a));
    if (a) *v = a->ints;
    return Status();
  }
  Status get_string(const char* name, std::string* v) {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrString, &a));
    if (a) *v = a->s;
    return Status();
  }
  // Marks an attribute as understood without reading it (e.g. BatchNorm's momentum).
  void ignore(const char* name) {
    for (size_t k = 0; k < n_.attrs.size(); ++k)
      if (n_.attrs[k].name == name) used_[k] = true;
  }
  Status check_all_used() const {
    for (size_t k = 0; k < n_.attrs.size(); ++k)
      if (!used_[k]) return fail("unsupported attribute '", n_.attrs[k].name, "'");
    return Status();
  }
  // Number of non-empty output names (empty names are omitted optional outputs).
  size_t output_count() const {
    size_t c = 0;
    for (const auto& o : n_.outputs) c += !o.empty();
    return c;
  }

 private:
  const OnnxNode& n_;
  std::string display_;
  std::vector<bool> used_;
};

class Builder {
 public:
  explicit Builder(int64_t opset) : opset_(opset) {}

  Status build(const OnnxGraph& og, Graph* out);

 private:
  Status add_node(const OnnxNode& n, size_t index);
  Status window_attrs(NodeCtx& c, Attrs* a, bool is_conv, bool is_avg);
  // Value id for input k of the node (-1 for an omitted one); materialises float constants.
  Status data_input(NodeCtx& c, size_t k, int* id);
  Status value_for(const std::string& name, int* id, std::string* why);
  Status define(NodeCtx& c, const std::string& name);
  Status add_outputs(NodeCtx& c, std::vector<int>* ids);

  int64_t opset_;
  Graph g_;
  std::unordered_map<std::string, int> ids_;                   // names with a Value
  std::unordered_map<std::string, const OnnxTensor*> consts_;  // initializers, Constant outputs
  std::deque<OnnxTensor> owned_;                               // tensors of Constant nodes
};

Status Builder::value_for(const std::string& name, int* id, std::string* why) {
  if (auto it = ids_.find(name); it != ids_.end()) {
    *id = it->second;
    return Status();
  }
  auto ct = consts_.find(name);
  if (ct == consts_.end()) {
    *why = "is not a graph input, an initializer or the output of an earlier node";
    return error("missing");
  }
  const OnnxTensor& t = *ct->second;
  if (!t.status.ok()) {
    *why = str("cannot be loaded: ", t.status.message());
    return t.status;
  }
  if (!t.is_float) {
    *why = str("is an integer tensor (", dtype_name(t.dtype),
               "); only float tensors can be data (integers are accepted as Reshape shapes)");
    return error("int");
  }
  *id = g_.add_constant(name, t.f);
  ids_[name] = *id;
  return Status();
}

Status Builder::data_input(NodeCtx& c, size_t k, int* id) {
  *id = -1;
  if (k >= c.node().inputs.size() || c.node().inputs[k].empty()) return Status();
  const std::string& name = c.node().inputs[k];
  std::string why;
  if (!value_for(name, id, &why).ok()) return c.fail("input '", name, "' ", why);
  return Status();
}

Status Builder::define(NodeCtx& c, const std::string& name) {
  if (ids_.count(name) || consts_.count(name))
    return c.fail("output '", name, "' is already defined (ONNX values are assigned once)");
  return Status();
}

Status Builder::add_outputs(NodeCtx& c, std::vector<int>* ids) {
  const auto& outs = c.node().outputs;
  if (outs.empty() || outs[0].empty()) return c.fail("the node has no output");
  if (c.output_count() > 1) return c.fail("only one output is supported, found ", c.output_count());
  SCV_TRY(define(c, outs[0]));
  const int id = g_.add_value(outs[0]);
  ids_[outs[0]] = id;
  ids->push_back(id);
  return Status();
}

// Conv / MaxPool / AveragePool attributes; all are 2-D only.
Status Builder::window_attrs(NodeCtx& c, Attrs* a, bool is_conv, bool is_avg) {
  SCV_TRY(c.get_ints("kernel_shape", &a->kernel_shape));
  SCV_TRY(c.get_ints("strides", &a->strides));
  SCV_TRY(c.get_ints("pads", &a->pads));
  SCV_TRY(c.get_ints("dilations", &a->dilations));
  SCV_TRY(c.get_string("auto_pad", &a->auto_pad));
  if (a->auto_pad.empty()) a->auto_pad = "NOTSET";
  if (a->auto_pad != "NOTSET" && a->auto_pad != "SAME_UPPER" && a->auto_pad != "SAME_LOWER" &&
      a->auto_pad != "VALID")
    return c.fail("unsupported auto_pad '", a->auto_pad, "'");
  if (is_conv) {
    SCV_TRY(c.get_int("group", &a->group));
    if (a->group < 1) return c.fail("group must be >= 1, found ", a->group);
  } else {
    SCV_TRY(c.get_bool("ceil_mode", &a->ceil_mode));
    if (is_avg) {
      SCV_TRY(c.get_bool("count_include_pad", &a->count_include_pad));
    } else {
      c.ignore("storage_order");  // only affects the Indices output, which we reject
    }
    if (a->kernel_shape.empty()) return c.fail("missing required attribute 'kernel_shape'");
  }
  auto check = [&](const std::vector<int64_t>& v, size_t n, const char* what) -> Status {
    if (!v.empty() && v.size() != n)
      return c.fail("only 2-D windows are supported: '", what, "' has ", v.size(),
                    " values, expected ", n);
    // Window sizes, strides, dilations and pads beyond kMaxWindow are not images we can hold;
    // rejecting them here also keeps the executor's size arithmetic far from overflow.
    for (int64_t x : v)
      if (x < (std::string(what) == "pads" ? 0 : 1) || x > kMaxWindow)
        return c.fail("invalid '", what, "' value ", x);
    return Status();
  };
  SCV_TRY(check(a->kernel_shape, 2, "kernel_shape"));
  SCV_TRY(check(a->strides, 2, "strides"));
  SCV_TRY(check(a->dilations, 2, "dilations"));
  SCV_TRY(check(a->pads, 4, "pads"));
  return Status();
}

Status Builder::add_node(const OnnxNode& n, size_t index) {
  NodeCtx c(n, n.name.empty() ? str(n.op_type, "#", index) : n.name);
  if (!n.domain.empty() && n.domain != "ai.onnx")
    return c.fail("unsupported op in domain '", n.domain,
                  "'; supported (default domain): ", kSupportedOps);
  const std::string& op = n.op_type;
  Attrs a;
  std::vector<int> ins, outs;
  auto inputs = [&](size_t lo, size_t hi) -> Status {
    size_t count = n.inputs.size();
    while (count > 0 && n.inputs[count - 1].empty()) --count;  // trailing omitted inputs
    if (count < lo || count > hi)
      return c.fail("expected ", lo, lo == hi ? "" : str("..", hi), " inputs, found ", count);
    for (size_t k = 0; k < count; ++k) {
      int id;
      SCV_TRY(data_input(c, k, &id));
      if (id < 0 && k < lo) return c.fail("required input ", k, " is empty");
      ins.push_back(id);
    }
    return Status();
  };
  OpType type;

  if (op == "Constant") {
    // Becomes a constant value (not a node). Exactly one of the value attributes is set.
    if (n.attrs.size() != 1)
      return c.fail("expected exactly one value attribute, found ", n.attrs.size());
    if (!n.inputs.empty()) return c.fail("Constant takes no inputs");
    if (c.output_count() != 1 || n.outputs[0].empty()) return c.fail("expected one output");
    const OnnxAttr& at = n.attrs[0];
    OnnxTensor t;
    t.name = n.outputs[0];
    if (at.name == "value" && at.type == kAttrTensor) {
      if (!at.t.status.ok()) return c.fail("attribute 'value': ", at.t.status.message());
      t = at.t;
      t.name = n.outputs[0];
    } else if (at.name == "value_float" && at.type == kAttrFloat) {
      t.dtype = kFloat, t.is_float = true, t.f = Tensor(Shape{}, {at.f});
    } else if (at.name == "value_floats" && at.type == kAttrFloats) {
      t.dtype = kFloat, t.is_float = true;
      t.dims = {static_cast<int64_t>(at.floats.size())};
      t.f = Tensor::from_data(t.dims, at.floats.data());
    } else if (at.name == "value_int" && at.type == kAttrInt) {
      t.dtype = kInt64, t.ints = {at.i};
    } else if (at.name == "value_ints" && at.type == kAttrInts) {
      t.dtype = kInt64, t.dims = {static_cast<int64_t>(at.ints.size())}, t.ints = at.ints;
    } else {
      return c.fail("unsupported attribute '", at.name, "' of type ", attr_type_name(at.type),
                    " (supported: value, value_float(s), value_int(s))");
    }
    SCV_TRY(define(c, n.outputs[0]));
    owned_.push_back(std::move(t));
    consts_[n.outputs[0]] = &owned_.back();
    return Status();
  }

  if (op == "Identity" && n.inputs.size() == 1 && !ids_.count(n.inputs[0]) &&
      consts_.count(n.inputs[0])) {
    // Identity of a constant (exporters emit these for shared weights): alias the constant, so
    // integer constants stay foldable into Reshape.
    if (c.output_count() != 1 || n.outputs[0].empty()) return c.fail("expected one output");
    SCV_TRY(c.check_all_used());
    SCV_TRY(define(c, n.outputs[0]));
    consts_[n.outputs[0]] = consts_[n.inputs[0]];
    return Status();
  }

  if (op == "Conv") {
    type = OpType::Conv;
    SCV_TRY(inputs(2, 3));
    SCV_TRY(window_attrs(c, &a, true, false));
    const Value& w = g_.values[ins[1]];
    if (w.is_constant() && w.constant.rank() != 4)
      return c.fail("only 2-D convolution is supported; weight shape is ",
                    shape_str(w.constant.shape()));
  } else if (op == "BatchNormalization") {
    type = OpType::BatchNorm;
    SCV_TRY(inputs(5, 5));
    SCV_TRY(c.get_float("epsilon", &a.epsilon));
    c.ignore("momentum");         // only used when training
    c.ignore("is_test");          // opset < 7
    c.ignore("consumed_inputs");  // opset 1
    int64_t training = 0, spatial = 1;
    SCV_TRY(c.get_int("training_mode", &training));
    SCV_TRY(c.get_int("spatial", &spatial));
    if (training != 0)
      return c.fail("training_mode=", training, " is not supported (inference only)");
    if (spatial != 1) return c.fail("spatial=", spatial, " is not supported");
    if (c.output_count() > 1)
      return c.fail("the training outputs (running mean/var) are not supported; found ",
                    c.output_count(), " outputs, expected 1");
  } else if (op == "Relu") {
    type = OpType::Relu;
    SCV_TRY(inputs(1, 1));
  } else if (op == "MaxPool" || op == "AveragePool") {
    type = op == "MaxPool" ? OpType::MaxPool : OpType::AveragePool;
    SCV_TRY(inputs(1, 1));
    SCV_TRY(window_attrs(c, &a, false, type == OpType::AveragePool));
    if (type == OpType::MaxPool && c.output_count() > 1)
      return c.fail("the Indices output is not supported");
  } else if (op == "GlobalAveragePool") {
    type = OpType::GlobalAveragePool;
    SCV_TRY(inputs(1, 1));
  } else if (op == "Flatten") {
    type = OpType::Flatten;
    SCV_TRY(inputs(1, 1));
    SCV_TRY(c.get_int("axis", &a.axis));
  } else if (op == "Reshape") {
    type = OpType::Reshape;
    if (opset_ < 5) {
      // Reshape-1: the target shape is an attribute.
      SCV_TRY(inputs(1, 1));
      SCV_TRY(c.get_ints("shape", &a.shape));
      c.ignore("consumed_inputs");
    } else {
      // The shape input must be known now: it is folded into attrs.shape.
      if (n.inputs.size() != 2 || n.inputs[1].empty())
        return c.fail("expected 2 inputs (data, shape), found ", n.inputs.size());
      int id;
      SCV_TRY(data_input(c, 0, &id));
      if (id < 0) return c.fail("the data input is empty");
      ins.push_back(id);
      auto ct = consts_.find(n.inputs[1]);
      if (ct == consts_.end() || ids_.count(n.inputs[1]))
        return c.fail("the shape input '", n.inputs[1],
                      "' must be a constant (an initializer or a Constant node); computed "
                      "shapes are not supported");
      const OnnxTensor& s = *ct->second;
      if (!s.status.ok()) return c.fail("shape input: ", s.status.message());
      if (s.is_float || s.dims.size() != 1)
        return c.fail("the shape input '", n.inputs[1], "' must be a 1-D integer tensor, found ",
                      dtype_name(s.dtype), " ", shape_str(s.dims));
      a.shape = s.ints;
      SCV_TRY(c.get_bool("allowzero", &a.allowzero));
    }
  } else if (op == "Gemm") {
    type = OpType::Gemm;
    SCV_TRY(inputs(2, 3));
    SCV_TRY(c.get_float("alpha", &a.alpha));
    SCV_TRY(c.get_float("beta", &a.beta));
    SCV_TRY(c.get_bool("transA", &a.trans_a));
    SCV_TRY(c.get_bool("transB", &a.trans_b));
    c.ignore("broadcast");  // opset < 7: C broadcasting flag; we always broadcast
  } else if (op == "MatMul") {
    type = OpType::MatMul;
    SCV_TRY(inputs(2, 2));
  } else if (op == "Add") {
    type = OpType::Add;
    SCV_TRY(inputs(2, 2));
    const OnnxAttr* axis;
    SCV_TRY(c.find("axis", kAttrInt, &axis));
    if (axis) return c.fail("legacy broadcasting with 'axis' (opset < 7) is not supported");
    c.ignore("broadcast");
    c.ignore("consumed_inputs");
  } else if (op == "Softmax") {
    type = OpType::Softmax;
    SCV_TRY(inputs(1, 1));
    // Softmax-1/11 flatten the input to 2-D at `axis` (default 1); Softmax-13 normalises one
    // axis (default -1).
    a.softmax_legacy = opset_ < 13;
    a.axis = a.softmax_legacy ? 1 : -1;
    SCV_TRY(c.get_int("axis", &a.axis));
  } else if (op == "Identity") {
    type = OpType::Identity;
    SCV_TRY(inputs(1, 1));
  } else {
    return c.fail("unsupported op; supported: ", kSupportedOps);
  }
  SCV_TRY(c.check_all_used());
  SCV_TRY(add_outputs(c, &outs));
  g_.add_node(type, c.name(), std::move(ins), std::move(outs), std::move(a));
  return Status();
}

Status Builder::build(const OnnxGraph& og, Graph* out) {
  if (og.has_sparse_initializer) return error("sparse initializers are not supported");
  for (const OnnxTensor& t : og.initializers) {
    if (t.name.empty()) return error("an initializer has no name");
    if (!consts_.emplace(t.name, &t).second)
      return error("initializer '", t.name, "' is defined twice");
  }
  // Graph inputs that also have an initializer are constants (IR < 4 lists every weight as an
  // input); the rest are the real inputs.
  for (const OnnxValueInfo& v : og.inputs) {
    if (consts_.count(v.name)) continue;
    if (v.name.empty()) return error("a graph input has no name");
    if (!v.is_tensor) return error("graph input '", v.name, "' is not a dense tensor");
    if (v.elem_type != kFloat)
      return error("graph input '", v.name, "' has data type ", dtype_name(v.elem_type),
                   "; only FLOAT inputs are supported");
    if (ids_.count(v.name)) return error("graph input '", v.name, "' is listed twice");
    const int id = g_.add_value(v.name, v.has_shape ? v.shape : Shape{});
    ids_[v.name] = id;
    g_.inputs.push_back(id);
  }
  for (size_t k = 0; k < og.nodes.size(); ++k) SCV_TRY(add_node(og.nodes[k], k));
  if (og.outputs.empty()) return error("the graph has no outputs");
  for (const OnnxValueInfo& v : og.outputs) {
    int id;
    std::string why;
    if (!value_for(v.name, &id, &why).ok()) return error("graph output '", v.name, "' ", why);
    g_.outputs.push_back(id);
  }
  SCV_TRY(g_.validate());
  *out = std::move(g_);
  return Status();
}

Result<Graph> parse_onnx_impl(const uint8_t* data, size_t size) {
  if (size == 0) return error("empty file (expected an ONNX ModelProto)");
  OnnxModel m;
  if (Status st = decode_model(pb::Reader(data, size), &m); !st.ok())
    return error("not a valid ONNX model (protobuf decode failed: ", st.message(), ")");
  if (!m.has_graph) return error("not an ONNX model: no graph (ModelProto field 7) found");
  if (!m.has_default_opset)
    return error("the model has no opset_import for the default ONNX domain");
  if (m.opset < 1 || m.opset > kMaxOpset)
    return error("unsupported opset version ", m.opset, " (supported: 1..", kMaxOpset, ")");
  Builder b(m.opset);
  Graph g;
  SCV_TRY(b.build(m.graph, &g));
  return g;
}

}  // namespace

Result<Graph> parse_onnx(const uint8_t* data, size_t size) {
  try {
    return parse_onnx_impl(data, size);
  } catch (const std::bad_alloc&) {
    return error("out of memory while loading the ONNX model");
  } catch (const std::exception& e) {
    return error("failed to load the ONNX model: ", e.what());
  }
}

Result<Graph> load_onnx(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  Result<Graph> g = parse_onnx(bytes.data(), bytes.size());
  if (!g.ok()) return g.status().with_context(path);
  return g;
}

Result<Tensor> parse_onnx_tensor(const uint8_t* data, size_t size) {
  try {
    OnnxTensor t;
    if (Status st = decode_tensor(pb::Reader(data, size), &t); !st.ok())
      return error("not a valid ONNX TensorProto: ", st.message());
    if (t.is_float) return t.f;
    Tensor f(t.dims);
    for (size_t k = 0; k < t.ints.size(); ++k)
      f[static_cast<int64_t>(k)] = static_cast<float>(t.ints[k]);
    return f;
  } catch (const std::bad_alloc&) {
    return error("out of memory while reading an ONNX tensor");
  }
}

}  // namespace scv
