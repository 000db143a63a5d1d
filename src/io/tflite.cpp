// The .tflite reader: FlatBuffer wire format parsed by hand, every read bounds-checked.
//
// FlatBuffer layout in brief (little-endian throughout):
//  - The file starts with a uoffset (u32) to the root table; bytes 4..7 hold the file
//    identifier ("TFL3").
//  - A table at position T starts with an soffset (i32): its vtable is at T - soffset. A vtable
//    is u16 vtable_size, u16 table_size, then one u16 per field: the field's offset from T, or 0
//    when the field is absent (its default applies).
//  - A field holding a table, vector or string stores a uoffset relative to the field's own
//    position. A vector is a u32 element count followed by the elements; a vector of tables
//    holds one uoffset per element; a string is a byte vector (plus a NUL we do not need).
// Readers below never trust a number before checking it against the buffer size; the first
// failure is recorded in Reader::err and every later read returns a default.
#include "scratchcv/tflite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/enum_names.h"
#include "scratchcv/file_util.h"

namespace scv::tflite {

namespace {
constexpr EnumName<DType> kDTypeNames[] = {{DType::f32, "FLOAT32"},   {DType::f16, "FLOAT16"},
                                           {DType::i32, "INT32"},     {DType::u8, "UINT8"},
                                           {DType::i64, "INT64"},     {DType::str, "STRING"},
                                           {DType::boolean, "BOOL"},  {DType::i16, "INT16"},
                                           {DType::c64, "COMPLEX64"}, {DType::i8, "INT8"}};
}  // namespace

const char* dtype_name(DType t) {
  return name_of(kDTypeNames, t, "unknown type");
}

size_t dtype_size(DType t) {
  // By schema value: FLOAT32 FLOAT16 INT32 UINT8 INT64 STRING BOOL INT16 COMPLEX64 INT8.
  constexpr uint8_t kSizes[] = {4, 2, 4, 1, 8, 0, 1, 2, 8, 1};
  const int i = int(t);
  return i >= 0 && i < int(std::size(kSizes)) ? kSizes[i] : 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int32_t d : shape) n *= d;
  return n;
}

// The schema's BuiltinOperator names, indexed by code (the codes below 128 that image models
// use most).
// clang-format off
constexpr const char* kBuiltinOpNames[] = {
    /*   0 */ "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D",
    /*   4 */ "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP",
    /*   8 */ "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION",
    /*  12 */ "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    /*  16 */ "LSTM", "MAX_POOL_2D", "MUL", "RELU",
    /*  20 */ "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    /*  24 */ "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF",
    /*  28 */ "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    /*  32 */ "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN",
    /*  36 */ "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE",
    /*  40 */ "MEAN", "SUB", "DIV", "SQUEEZE",
    /*  44 */ "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    /*  48 */ "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
    /*  52 */ "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
    /*  56 */ "ARG_MAX", "MINIMUM", "LESS", "NEG",
    /*  60 */ "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
    /*  64 */ "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    /*  68 */ "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
    /*  72 */ "NOT_EQUAL", "LOG", "SUM", "SQRT",
    /*  76 */ "RSQRT", "SHAPE", "POW", "ARG_MIN",
    /*  80 */ "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    /*  84 */ "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",
    /*  88 */ "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
    /*  92 */ "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    /*  96 */ "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    /* 100 */ "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE",
    /* 104 */ "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND",
    /* 108 */ "COS", "WHERE", "RANK", "ELU",
    /* 112 */ "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG",
    /* 116 */ "ROUND", "HARD_SWISH", "IF", "WHILE",
    /* 120 */ "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
    /* 124 */ "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
};
// clang-format on

std::string builtin_op_name(int32_t code) {
  constexpr int32_t n = int32_t(sizeof kBuiltinOpNames / sizeof kBuiltinOpNames[0]);
  if (code >= 0 && code < n) return kBuiltinOpNames[code];
  return str("builtin op ", code);
}

bool is_tflite(const uint8_t* data, size_t size) {
  return data && size >= 8 && std::memcmp(data + 4, "TFL3", 4) == 0;
}

namespace {

// A bounds-checked view of a FlatBuffer; the first error sticks.
class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool ok() const { return err_.empty(); }
  const std::string& err() const { return err_; }
  void fail(const std::string& what) {
    if (err_.empty()) err_ = what;
  }
  bool in(uint64_t pos, uint64_t len) const { return pos <= n_ && len <= n_ - pos; }

  template <typename T>
  T load(uint64_t pos, const char* what) {
    if (!ok()) return T{};
    if (!in(pos, sizeof(T))) {
      fail(str(what, " at byte ", pos, " lies outside the file (", n_, " bytes)"));
      return T{};
    }
    T v;
    std::memcpy(&v, d_ + pos, sizeof(T));
    return v;
  }

  struct Table {
    uint64_t pos = 0, vt = 0;
    uint16_t vt_size = 0, size = 0;
    bool valid = false;
  };

  Table table(uint64_t pos, const char* what) {
    Table t;
    const int32_t soff = load<int32_t>(pos, what);
    if (!ok()) return t;
    const int64_t vt = int64_t(pos) - int64_t(soff);
    if (vt < 0 || !in(uint64_t(vt), 4)) {
      fail(str(what, " at byte ", pos, ": vtable offset ", soff, " points outside the file"));
      return t;
    }
    t.pos = pos;
    t.vt = uint64_t(vt);
    t.vt_size = load<uint16_t>(t.vt, what);
    t.size = load<uint16_t>(t.vt + 2, what);
    if (t.vt_size < 4 || t.vt_size % 2 != 0 || !in(t.vt, t.vt_size)) {
      fail(str(what, " at byte ", pos, ": vtable of ", t.vt_size, " bytes is malformed"));
      return t;
    }
    if (t.size < 4 || !in(pos, t.size)) {
      fail(str(what, " at byte ", pos, ": table of ", t.size, " bytes runs past the file end"));
      return t;
    }
    t.valid = ok();
    return t;
  }

  // Position of field `f` (of `width` bytes) in table `t`, or 0 when absent.
  uint64_t field(const Table& t, int f, size_t width, const char* what) {
    if (!ok() || !t.valid) return 0;
    const uint64_t voff = 4 + 2 * uint64_t(f);
    if (voff + 2 > t.vt_size) return 0;
    const uint16_t off = load<uint16_t>(t.vt + voff, what);
    if (off == 0) return 0;
    if (off < 4 || uint64_t(off) + width > t.size) {
      fail(str(what, ": field ", f, " at offset ", off, " lies outside its ", t.size,
               "-byte table"));
      return 0;
    }
    return t.pos + off;
  }

  template <typename T>
  T scalar(const Table& t, int f, T def, const char* what) {
    const uint64_t p = field(t, f, sizeof(T), what);
    return p ? load<T>(p, what) : def;
  }

  // Follows the uoffset stored at `pos`.
  uint64_t follow(uint64_t pos, const char* what) {
    const uint32_t off = load<uint32_t>(pos, what);
    if (!ok()) return 0;
    const uint64_t target = pos + off;
    if (off == 0 || !in(target, 4)) {
      fail(str(what, ": offset ", off, " at byte ", pos, " points outside the file"));
      return 0;
    }
    return target;
  }

  struct Vec {
    uint64_t data = 0;
    uint32_t len = 0;
  };
  // A vector field of elements of `elem` bytes; empty when absent.
  Vec vec(const Table& t, int f, size_t elem, const char* what) {
    Vec v;
    const uint64_t p = field(t, f, 4, what);
    if (!p) return v;
    const uint64_t at = follow(p, what);
    const uint32_t len = load<uint32_t>(at, what);
    if (!ok()) return v;
    if (!in(at + 4, uint64_t(len) * elem)) {
      fail(str(what, ": vector of ", len, " elements at byte ", at, " runs past the file end (", n_,
               " bytes)"));
      return v;
    }
    v.data = at + 4;
    v.len = len;
    return v;
  }

  template <typename T>
  std::vector<T> vec_of(const Table& t, int f, const char* what) {
    const Vec v = vec(t, f, sizeof(T), what);
    std::vector<T> out(ok() ? v.len : 0);
    if (!out.empty()) std::memcpy(out.data(), d_ + v.data, out.size() * sizeof(T));
    return out;
  }

  std::string string(const Table& t, int f, const char* what) {
    const Vec v = vec(t, f, 1, what);
    return ok() && v.len ? std::string(reinterpret_cast<const char*>(d_ + v.data), v.len)
                         : std::string();
  }

  // Element i of a vector of tables.
  Table table_in(const Vec& v, uint32_t i, const char* what) {
    if (!ok() || i >= v.len) return Table{};
    return table(follow(v.data + 4 * uint64_t(i), what), what);
  }

  // A table-valued field; invalid (valid == false) when absent.
  Table subtable(const Table& t, int f, const char* what) {
    const uint64_t p = field(t, f, 4, what);
    if (!p) return Table{};
    return table(follow(p, what), what);
  }

  const uint8_t* ptr(uint64_t pos) const { return d_ + pos; }
  size_t size() const { return n_; }

 private:
  const uint8_t* d_;
  size_t n_;
  std::string err_;
};

using Table = Reader::Table;

// BuiltinOptions union type each operator expects (schema values: 1 Conv2DOptions,
// 2 DepthwiseConv2DOptions, 5 Pool2DOptions, 8 FullyConnectedOptions, 9 SoftmaxOptions,
// 10 ConcatenationOptions, 11 AddOptions, 17 ReshapeOptions, 22 PadOptions, 27 ReducerOptions,
// 30 SqueezeOptions); 0 for the other operators.
int expected_options_type(int32_t code) {
  static constexpr std::pair<int32_t, int> kOptions[] = {
      {kConv2d, 1},         {kDepthwiseConv2d, 2},
      {kAveragePool2d, 5},  {kMaxPool2d, 5},
      {kFullyConnected, 8}, {kSoftmax, 9},
      {kConcatenation, 10}, {kAdd, 11},
      {kReshape, 17},       {kPad, 22},
      {kMean, 27},          {kSqueeze, 30}};
  for (const auto& [op, type] : kOptions)
    if (op == code) return type;
  return 0;
}

void read_options(Reader& r, const Table& o, OpInfo& op) {
  const char* w = "operator options";
  auto act = [&](int f) { return Activation(r.scalar<int8_t>(o, f, 0, w)); };
  // Conv2DOptions, DepthwiseConv2DOptions and Pool2DOptions start with padding, stride_w,
  // stride_h; the convolutions end with dilation_w, dilation_h (from field f).
  auto window = [&] {
    op.padding = Padding(r.scalar<int8_t>(o, 0, 0, w));
    op.stride_w = r.scalar<int32_t>(o, 1, 0, w);
    op.stride_h = r.scalar<int32_t>(o, 2, 0, w);
  };
  auto dilations = [&](int f) {
    op.dilation_w = r.scalar<int32_t>(o, f, 1, w);
    op.dilation_h = r.scalar<int32_t>(o, f + 1, 1, w);
  };
  switch (op.code) {
    case kConv2d:
      window();
      op.activation = act(3);
      dilations(4);
      break;
    case kDepthwiseConv2d:
      window();
      op.depth_multiplier = r.scalar<int32_t>(o, 3, 0, w);
      op.activation = act(4);
      dilations(5);
      break;
    case kAveragePool2d:
    case kMaxPool2d:
      window();
      op.filter_w = r.scalar<int32_t>(o, 3, 0, w);
      op.filter_h = r.scalar<int32_t>(o, 4, 0, w);
      op.activation = act(5);
      break;
    case kFullyConnected:
      op.activation = act(0);
      if (r.scalar<int8_t>(o, 1, 0, w) != 0) r.fail("FULLY_CONNECTED: shuffled weights format");
      op.keep_dims = r.scalar<uint8_t>(o, 2, 0, w) != 0;
      break;
    case kSoftmax:
      op.beta = r.scalar<float>(o, 0, 0.0f, w);
      break;
    case kConcatenation:
      op.axis = r.scalar<int32_t>(o, 0, 0, w);
      op.activation = act(1);
      break;
    case kAdd:
      op.activation = act(0);
      break;
    case kReshape:
      op.new_shape = r.vec_of<int32_t>(o, 0, w);
      break;
    case kMean:
      op.keep_dims = r.scalar<uint8_t>(o, 0, 0, w) != 0;
      break;
    case kSqueeze:
      op.squeeze_dims = r.vec_of<int32_t>(o, 0, w);
      break;
    default:
      break;
  }
}

struct BufferView {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};

// An operator code: the effective code is the larger of the deprecated int8 field and the int32
// field added when codes passed 127.
struct Code {
  int32_t code = 0, version = 1;
  std::string custom;
};

// Buffers: raw bytes inline (field 0) or, in files over 2 GB, at an absolute offset/size.
std::vector<BufferView> read_buffers(Reader& r, const Table& root, const uint8_t* data) {
  const Reader::Vec bufs = r.vec(root, 4, 4, "buffers");
  std::vector<BufferView> buffers(r.ok() ? bufs.len : 0);
  for (uint32_t i = 0; i < buffers.size() && r.ok(); ++i) {
    const Table b = r.table_in(bufs, i, "buffer");
    const Reader::Vec v = r.vec(b, 0, 1, "buffer data");
    const uint64_t off = r.scalar<uint64_t>(b, 1, 0, "buffer offset");
    const uint64_t sz = r.scalar<uint64_t>(b, 2, 0, "buffer size");
    if (off > 1) {
      if (!r.in(off, sz)) {
        r.fail(str("buffer ", i, ": ", sz, " bytes at offset ", off, " lie outside the file"));
        return buffers;
      }
      buffers[i] = {data + off, sz};
    } else if (v.len) {
      buffers[i] = {data + v.data, v.len};
    }
  }
  return buffers;
}

std::vector<Code> read_codes(Reader& r, const Table& root) {
  const Reader::Vec codes_v = r.vec(root, 1, 4, "operator codes");
  std::vector<Code> codes(r.ok() ? codes_v.len : 0);
  for (uint32_t i = 0; i < codes.size() && r.ok(); ++i) {
    const Table c = r.table_in(codes_v, i, "operator code");
    const int32_t deprecated = r.scalar<int8_t>(c, 0, 0, "operator code");
    const int32_t builtin = r.scalar<int32_t>(c, 3, 0, "operator code");
    codes[i].code = std::max(deprecated, builtin);
    codes[i].custom = r.string(c, 1, "custom code");
    codes[i].version = r.scalar<int32_t>(c, 2, 1, "operator code version");
  }
  return codes;
}

Status check_ids(const std::vector<int32_t>& ids, bool optional, const std::string& who,
                 int32_t nt) {
  for (int32_t id : ids)
    if (id >= nt || id < (optional ? -1 : 0))
      return error("tflite: ", who, " refers to tensor ", id, " (the model has ", nt, ")");
  return Status();
}

// The subgraph's tensors: shape, type, quantization and constant data, checked. Stops early (with
// Reader's error) on a malformed FlatBuffer.
Status read_tensors(Reader& r, const Table& sg, const std::vector<BufferView>& buffers, Model* m) {
  const Reader::Vec tensors = r.vec(sg, 0, 4, "tensors");
  m->tensors.resize(r.ok() ? tensors.len : 0);
  for (uint32_t i = 0; i < m->tensors.size() && r.ok(); ++i) {
    TensorInfo& t = m->tensors[i];
    const Table tt = r.table_in(tensors, i, "tensor");
    t.shape = r.vec_of<int32_t>(tt, 0, "tensor shape");
    const int8_t type = r.scalar<int8_t>(tt, 1, 0, "tensor type");
    t.buffer = r.scalar<uint32_t>(tt, 2, 0, "tensor buffer");
    t.name = r.string(tt, 3, "tensor name");
    const Table q = r.subtable(tt, 4, "quantization");
    if (q.valid) {
      t.q.scale = r.vec_of<float>(q, 2, "quantization scale");
      t.q.zero_point = r.vec_of<int64_t>(q, 3, "quantization zero point");
      t.q.axis = r.scalar<int32_t>(q, 6, 0, "quantized dimension");
    }
    if (r.field(tt, 6, 4, "tensor sparsity") != 0)
      return error("tflite: tensor ", i, " '", t.name,
                   "' is sparse; sparse tensors are not supported");
    if (!r.ok()) break;
    const std::string who = str("tensor ", i, " '", t.name, "'");
    if (type < 0 || type > 9) return error("tflite: ", who, ": unknown tensor type ", int(type));
    t.type = DType(type);
    if (t.shape.size() > 8)
      return error("tflite: ", who, ": ", t.shape.size(), " dimensions (at most 8 supported)");
    // Element count with an overflow guard: at most 2^31 elements.
    int64_t n = 1;
    for (int32_t d : t.shape) {
      if (d < 0) return error("tflite: ", who, ": negative dimension ", d);
      if (d > 0 && n > (int64_t(1) << 31) / d)
        return error("tflite: ", who, ": shape overflows (over 2^31 elements)");
      n *= d;
    }
    if (!t.q.scale.empty() && t.q.zero_point.size() != t.q.scale.size())
      return error("tflite: ", who, ": ", t.q.scale.size(), " quantization scales but ",
                   t.q.zero_point.size(), " zero points");
    for (float s : t.q.scale)
      if (!(s >= 0.0f) || !std::isfinite(s))
        return error("tflite: ", who, ": quantization scale ", s, " is not a finite value >= 0");
    if (t.q.per_channel() && (t.q.axis < 0 || size_t(t.q.axis) >= t.shape.size() ||
                              int64_t(t.q.scale.size()) != t.shape[size_t(t.q.axis)]))
      return error("tflite: ", who, ": ", t.q.scale.size(), " per-channel scales along axis ",
                   t.q.axis, " do not match the shape");
    if (t.buffer >= buffers.size())
      return error("tflite: ", who, ": buffer index ", t.buffer, " out of range (", buffers.size(),
                   " buffers)");
    const BufferView& b = buffers[t.buffer];
    if (b.size) {
      const uint64_t need = uint64_t(n) * dtype_size(t.type);
      if (t.type == DType::str)
        return error("tflite: ", who, ": constant string tensors are not supported");
      if (b.size < need)
        return error("tflite: ", who, ": buffer ", t.buffer, " holds ", b.size,
                     " bytes, the shape ", "needs ", need, " bytes of ", dtype_name(t.type));
      t.data = b.data;
      t.data_size = size_t(need);
    }
  }
  return Status();
}

// The subgraph's operators with their codes and options. Stops early (with Reader's error) on a
// malformed FlatBuffer.
Status read_operators(Reader& r, const Table& sg, const std::vector<Code>& codes, Model* m) {
  const int32_t nt = int32_t(m->tensors.size());
  const Reader::Vec ops = r.vec(sg, 3, 4, "operators");
  m->ops.resize(r.ok() ? ops.len : 0);
  for (uint32_t i = 0; i < m->ops.size() && r.ok(); ++i) {
    OpInfo& op = m->ops[i];
    const Table ot = r.table_in(ops, i, "operator");
    const uint32_t ci = r.scalar<uint32_t>(ot, 0, 0, "opcode index");
    op.inputs = r.vec_of<int32_t>(ot, 1, "operator inputs");
    op.outputs = r.vec_of<int32_t>(ot, 2, "operator outputs");
    const uint8_t opt_type = r.scalar<uint8_t>(ot, 3, 0, "options type");
    if (!r.ok()) break;
    if (ci >= codes.size())
      return error("tflite: operator ", i, ": opcode index ", ci, " out of range (", codes.size(),
                   " codes)");
    op.code = codes[ci].code;
    op.version = codes[ci].version;
    op.custom_code = codes[ci].custom;
    const std::string who = str("operator ", i, " (", builtin_op_name(op.code), ")");
    SCV_TRY(check_ids(op.inputs, true, who + " input", nt));
    SCV_TRY(check_ids(op.outputs, false, who + " output", nt));
    const Table o = r.subtable(ot, 4, "operator options");
    if (o.valid) {
      const int want = expected_options_type(op.code);
      if (want != 0 && opt_type != want)
        return error("tflite: ", who, ": options of union type ", int(opt_type), ", expected ",
                     want);
      if (want != 0) read_options(r, o, op);
    }
  }
  return Status();
}

}  // namespace
Result<Model> parse_tflite(const uint8_t* data, size_t size) {
  if (size == 0) return error("tflite: empty file");
  if (size < 8) return error("tflite: file of ", size, " bytes is too short for a FlatBuffer");
  if (!is_tflite(data, size)) {
    std::string id;
    for (int i = 4; i < 8; ++i) id += (data[i] >= 32 && data[i] < 127) ? char(data[i]) : '?';
    return error("tflite: not a TFLite model (file identifier '", id,
                 "' at byte 4, expected 'TFL3')");
  }
  Reader r(data, size);
  Model m;
  const Table root = r.table(r.follow(0, "root table"), "model");
  m.version = r.scalar<uint32_t>(root, 0, 0, "model version");
  if (r.ok() && m.version != 3) return error("tflite: schema version ", m.version, ", expected 3");
  m.description = r.string(root, 3, "model description");

  const std::vector<BufferView> buffers = read_buffers(r, root, data);
  const std::vector<Code> codes = read_codes(r, root);

  const Reader::Vec subgraphs = r.vec(root, 2, 4, "subgraphs");
  if (r.ok() && subgraphs.len == 0) return error("tflite: the model has no subgraph");
  const Table sg = r.table_in(subgraphs, 0, "subgraph");
  if (!r.ok()) return error("tflite: ", r.err());
  SCV_TRY(read_tensors(r, sg, buffers, &m));
  if (!r.ok()) return error("tflite: ", r.err());
  const int32_t nt = int32_t(m.tensors.size());
  m.inputs = r.vec_of<int32_t>(sg, 1, "subgraph inputs");
  m.outputs = r.vec_of<int32_t>(sg, 2, "subgraph outputs");
  SCV_TRY(check_ids(m.inputs, false, "subgraph inputs", nt));
  SCV_TRY(check_ids(m.outputs, false, "subgraph outputs", nt));
  SCV_TRY(read_operators(r, sg, codes, &m));
  if (!r.ok()) return error("tflite: ", r.err());
  return m;
}

Result<Model> load_tflite(const std::string& path) {
  auto file = MappedFile::open(path);
  if (!file.ok()) return file.status();
  std::shared_ptr<const MappedFile> f = *file;
  auto m = parse_tflite(f->data(), f->size());
  if (!m.ok()) return m.status().with_context(path);
  m->storage = f;
  return m;
}

}  // namespace scv::tflite
