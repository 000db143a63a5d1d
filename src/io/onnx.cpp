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

#include "io/onnx_node.h"
#include "io/protobuf.h"
#include "ops/op.h"
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

constexpr int64_t kMaxOpset = 22;

// "Conv, BatchNormalization, ..., Constant": the ONNX op_types of the op list.
std::string supported_ops() {
  std::string s;
  for (const OpDef* d : all_ops())
    if (d->onnx.op_type) s += std::string(d->onnx.op_type) + ", ";
  return s + "Constant";
}

class Builder;

// One node being converted: typed attribute access that remembers which attributes were read,
// so that any attribute left over is reported as unsupported. This is what an op's ONNX
// mapping (OpDef::onnx.read, in its folder) sees.
class NodeCtx : public OnnxNodeReader {
 public:
  NodeCtx(const OnnxNode& n, std::string display, int64_t opset, Builder* b)
      : n_(n),
        display_(std::move(display)),
        opset_(opset),
        b_(b),
        used_(n.attrs.size(), false),
        folded_(n.inputs.size(), false) {}

  const OnnxNode& node() const { return n_; }
  const std::string& name() const { return display_; }
  bool folded(size_t k) const { return k < folded_.size() && folded_[k]; }

  int64_t opset() const override { return opset_; }
  Status fail_msg(const std::string& msg) const override {
    return error("node '", display_, "' (op ", n_.op_type, "): ", msg);
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
  Status get_int(const char* name, int64_t* v) override {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrInt, &a));
    if (a) *v = a->i;
    return Status();
  }
  Status get_bool(const char* name, bool* v) override {
    int64_t i = *v ? 1 : 0;
    SCV_TRY(get_int(name, &i));
    if (i != 0 && i != 1) return fail("attribute '", name, "' must be 0 or 1, found ", i);
    *v = i != 0;
    return Status();
  }
  Status get_float(const char* name, float* v) override {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrFloat, &a));
    if (a) *v = a->f;
    return Status();
  }
  Status get_ints(const char* name, std::vector<int64_t>* v) override {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrInts, &a));
    if (a) *v = a->ints;
    return Status();
  }
  Status get_string(const char* name, std::string* v) override {
    const OnnxAttr* a;
    SCV_TRY(find(name, kAttrString, &a));
    if (a) *v = a->s;
    return Status();
  }
  bool has(const char* name) const override {
    for (const auto& a : n_.attrs)
      if (a.name == name) return true;
    return false;
  }
  void ignore(const char* name) override {
    for (size_t k = 0; k < n_.attrs.size(); ++k)
      if (n_.attrs[k].name == name) used_[k] = true;
  }
  Status check_all_used() const {
    for (size_t k = 0; k < n_.attrs.size(); ++k)
      if (!used_[k]) return fail("unsupported attribute '", n_.attrs[k].name, "'");
    return Status();
  }
  size_t input_count() const override {
    size_t count = n_.inputs.size();
    while (count > 0 && n_.inputs[count - 1].empty()) --count;  // trailing omitted inputs
    return count;
  }
  // Number of non-empty output names (empty names are omitted optional outputs).
  size_t output_count() const override {
    size_t c = 0;
    for (const auto& o : n_.outputs) c += !o.empty();
    return c;
  }
  const Tensor* const_input(size_t k) override;
  Status fold_ints(size_t k, std::vector<int64_t>* v) override;

 private:
  const OnnxNode& n_;
  std::string display_;
  int64_t opset_;
  Builder* b_;
  std::vector<bool> used_;
  std::vector<bool> folded_;
};

class Builder {
 public:
  explicit Builder(int64_t opset) : opset_(opset) {}

  Status build(const OnnxGraph& og, Graph* out);

 private:
  friend class NodeCtx;
  Status add_node(const OnnxNode& n, size_t index);
  Status add_constant_node(NodeCtx& c);
  Status data_inputs(NodeCtx& c, const OpDef& def, std::vector<int>* ins);
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

const Tensor* NodeCtx::const_input(size_t k) {
  if (k >= n_.inputs.size() || n_.inputs[k].empty()) return nullptr;
  const std::string& name = n_.inputs[k];
  if (b_->ids_.count(name)) {
    const Value& v = b_->g_.values[b_->ids_[name]];
    return v.is_constant() ? &v.constant : nullptr;
  }
  auto ct = b_->consts_.find(name);
  if (ct == b_->consts_.end() || !ct->second->status.ok() || !ct->second->is_float) return nullptr;
  return &ct->second->f;
}

Status NodeCtx::fold_ints(size_t k, std::vector<int64_t>* v) {
  const std::string& name = n_.inputs[k];
  auto ct = b_->consts_.find(name);
  if (ct == b_->consts_.end() || b_->ids_.count(name))
    return fail("the shape input '", name,
                "' must be a constant (an initializer or a Constant node); computed "
                "shapes are not supported");
  const OnnxTensor& s = *ct->second;
  if (!s.status.ok()) return fail("shape input: ", s.status.message());
  if (s.is_float || s.dims.size() != 1)
    return fail("the shape input '", name, "' must be a 1-D integer tensor, found ",
                dtype_name(s.dtype), " ", shape_str(s.dims));
  *v = s.ints;
  folded_[k] = true;
  return Status();
}

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

// The node's data inputs (all but those its mapping folded into attributes), checked against
// the op's arity.
Status Builder::data_inputs(NodeCtx& c, const OpDef& def, std::vector<int>* ins) {
  const size_t count = c.input_count();
  size_t data = 0;
  for (size_t k = 0; k < count; ++k) data += !c.folded(k);
  const size_t lo = def.min_inputs, hi = def.max_inputs;
  if (data < lo || data > hi)
    return c.fail("expected ", lo, lo == hi ? "" : str("..", hi), " inputs, found ", count);
  for (size_t k = 0; k < count; ++k) {
    if (c.folded(k)) continue;
    int id;
    SCV_TRY(data_input(c, k, &id));
    if (id < 0 && ins->size() < lo) return c.fail("required input ", k, " is empty");
    ins->push_back(id);
  }
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

// A Constant node becomes a constant value (not a node). Exactly one value attribute is set.
Status Builder::add_constant_node(NodeCtx& c) {
  const OnnxNode& n = c.node();
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

Status Builder::add_node(const OnnxNode& n, size_t index) {
  NodeCtx c(n, n.name.empty() ? str(n.op_type, "#", index) : n.name, opset_, this);
  if (!n.domain.empty() && n.domain != "ai.onnx")
    return c.fail("unsupported op in domain '", n.domain,
                  "'; supported (default domain): ", supported_ops());
  const std::string& op = n.op_type;
  if (op == "Constant") return add_constant_node(c);
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
  const OpDef* def = find_onnx_op(op);
  if (!def) return c.fail("unsupported op; supported: ", supported_ops());
  Attrs a;
  std::vector<int> ins, outs;
  SCV_TRY(def->onnx.read(c, &a));
  SCV_TRY(data_inputs(c, *def, &ins));
  SCV_TRY(c.check_all_used());
  SCV_TRY(add_outputs(c, &outs));
  g_.add_node(def->op, c.name(), std::move(ins), std::move(outs), std::move(a));
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

std::string onnx_supported_ops() {
  return supported_ops();
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
