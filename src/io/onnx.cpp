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
#include "io/onnx_proto.h"
#include "ops/op.h"
#include "scratchcv/file_util.h"

namespace scv {
namespace {

using namespace onnx;

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
  // *v = the `field` of attribute `name` when the node has it (of type `type`).
  template <typename T>
  Status get(const char* name, int64_t type, T OnnxAttr::*field, T* v) {
    const OnnxAttr* a;
    SCV_TRY(find(name, type, &a));
    if (a) *v = a->*field;
    return Status();
  }
  Status get_int(const char* name, int64_t* v) override {
    return get(name, kAttrInt, &OnnxAttr::i, v);
  }
  Status get_bool(const char* name, bool* v) override {
    int64_t i = *v ? 1 : 0;
    SCV_TRY(get_int(name, &i));
    if (i != 0 && i != 1) return fail("attribute '", name, "' must be 0 or 1, found ", i);
    *v = i != 0;
    return Status();
  }
  Status get_float(const char* name, float* v) override {
    return get(name, kAttrFloat, &OnnxAttr::f, v);
  }
  Status get_ints(const char* name, std::vector<int64_t>* v) override {
    return get(name, kAttrInts, &OnnxAttr::ints, v);
  }
  Status get_string(const char* name, std::string* v) override {
    return get(name, kAttrString, &OnnxAttr::s, v);
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
  for (const OnnxNode& n : m.graph.nodes)
    if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear")
      return error("node '", n.name, "' (", n.op_type,
                   "): this is an int8 QDQ model, which runs in int8 (--precision int8, "
                   "scv::Int8Session in scratchcv/int8.h), not as a float graph");
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
    if (t.dtype == kInt8 || t.dtype == kUint8)  // read for QDQ models only (scratchcv/int8.h)
      return error("not a valid ONNX TensorProto: tensor '", t.name, "': unsupported data type ",
                   dtype_name(t.dtype), " (supported: FLOAT, DOUBLE, FLOAT16, INT64, INT32)");
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
