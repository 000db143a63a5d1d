// A small TFLite writer for tests: builds FlatBuffers front to back (each table's vtable just
// before it, children after it), so tests can make tiny models with one operator and corrupt
// them precisely. Not a general FlatBuffers builder; enough for the schema fields we read.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/tflite.h"

namespace scv::test {

struct Fb;
using FbP = std::shared_ptr<Fb>;

// A FlatBuffer object: a table (fields by index), a vector of scalars, a vector of tables or a
// string.
struct Fb {
  enum Kind { table, scalars, tables, string } kind = table;
  struct Field {
    bool present = false;
    std::vector<uint8_t> bytes;  // scalar value
    FbP child;                   // or a child object
  };
  std::vector<Field> fields;
  std::vector<uint8_t> raw;  // scalars / string bytes
  size_t elem = 1;
  uint32_t count = 0;
  std::vector<FbP> elems;

  template <typename T>
  Fb& set(int f, T v) {
    if (fields.size() <= size_t(f)) fields.resize(size_t(f) + 1);
    fields[size_t(f)].present = true;
    fields[size_t(f)].bytes.resize(sizeof(T));
    std::memcpy(fields[size_t(f)].bytes.data(), &v, sizeof(T));
    return *this;
  }
  Fb& child(int f, FbP c) {
    if (fields.size() <= size_t(f)) fields.resize(size_t(f) + 1);
    fields[size_t(f)].present = true;
    fields[size_t(f)].child = std::move(c);
    return *this;
  }
};

inline FbP fb_table() {
  return std::make_shared<Fb>();
}
template <typename T>
FbP fb_vec(const std::vector<T>& v) {
  auto n = std::make_shared<Fb>();
  n->kind = Fb::scalars;
  n->elem = sizeof(T);
  n->count = uint32_t(v.size());
  n->raw.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(n->raw.data(), v.data(), n->raw.size());
  return n;
}
inline FbP fb_tables(std::vector<FbP> v) {
  auto n = std::make_shared<Fb>();
  n->kind = Fb::tables;
  n->count = uint32_t(v.size());
  n->elems = std::move(v);
  return n;
}
inline FbP fb_str(const std::string& s) {
  auto n = std::make_shared<Fb>();
  n->kind = Fb::string;
  n->raw.assign(s.begin(), s.end());
  n->count = uint32_t(s.size());
  return n;
}

class FbWriter {
 public:
  std::vector<uint8_t> finish(const FbP& root, const char* ident = "TFL3") {
    buf_.assign(8, 0);
    std::memcpy(buf_.data() + 4, ident, 4);
    const size_t r = write(*root);
    put32(0, uint32_t(r));
    return buf_;
  }

 private:
  std::vector<uint8_t> buf_;
  void align(size_t a) {
    while (buf_.size() % a) buf_.push_back(0);
  }
  void put32(size_t at, uint32_t v) { std::memcpy(buf_.data() + at, &v, 4); }
  size_t write(const Fb& n) {
    switch (n.kind) {
      case Fb::scalars: {
        align(std::max<size_t>(4, n.elem));
        if (n.elem > 4 && buf_.size() % 8 == 0) buf_.resize(buf_.size() + 4);  // data 8-aligned
        const size_t pos = buf_.size();
        buf_.resize(pos + 4);
        put32(pos, n.count);
        buf_.insert(buf_.end(), n.raw.begin(), n.raw.end());
        return pos;
      }
      case Fb::string: {
        align(4);
        const size_t pos = buf_.size();
        buf_.resize(pos + 4);
        put32(pos, n.count);
        buf_.insert(buf_.end(), n.raw.begin(), n.raw.end());
        buf_.push_back(0);
        return pos;
      }
      case Fb::tables: {
        align(4);
        const size_t pos = buf_.size();
        buf_.resize(pos + 4 + 4 * n.elems.size());
        put32(pos, n.count);
        for (size_t i = 0; i < n.elems.size(); ++i) {
          const size_t c = write(*n.elems[i]);
          put32(pos + 4 + 4 * i, uint32_t(c - (pos + 4 + 4 * i)));
        }
        return pos;
      }
      case Fb::table:
        break;
    }
    // Table: inline layout first (soffset, then fields 8-aligned where needed).
    std::vector<uint16_t> offs(n.fields.size(), 0);
    size_t size = 4;
    for (size_t f = 0; f < n.fields.size(); ++f) {
      if (!n.fields[f].present) continue;
      const size_t w = n.fields[f].child ? 4 : n.fields[f].bytes.size();
      while (size % w) ++size;
      offs[f] = uint16_t(size);
      size += w;
    }
    while (size % 4) ++size;
    const size_t vt_size = 4 + 2 * n.fields.size();
    align(2);
    const size_t vt = buf_.size();
    buf_.resize(vt + vt_size);
    uint16_t h[2] = {uint16_t(vt_size), uint16_t(size)};
    std::memcpy(buf_.data() + vt, h, 4);
    for (size_t f = 0; f < offs.size(); ++f) std::memcpy(buf_.data() + vt + 4 + 2 * f, &offs[f], 2);
    align(8);
    const size_t pos = buf_.size();
    buf_.resize(pos + size);
    const int32_t soff = int32_t(pos - vt);
    std::memcpy(buf_.data() + pos, &soff, 4);
    for (size_t f = 0; f < n.fields.size(); ++f)
      if (n.fields[f].present && !n.fields[f].child)
        std::memcpy(buf_.data() + pos + offs[f], n.fields[f].bytes.data(),
                    n.fields[f].bytes.size());
    for (size_t f = 0; f < n.fields.size(); ++f)
      if (n.fields[f].present && n.fields[f].child) {
        const size_t c = write(*n.fields[f].child);
        put32(pos + offs[f], uint32_t(c - (pos + offs[f])));
      }
    return pos;
  }
};

// A TFLite model made of tensors and operators (schema field numbers as in tflite.h).
struct TfliteModelBuilder {
  struct T {
    std::vector<int32_t> shape;
    int8_t type;
    std::vector<uint8_t> data;  // constant data, empty for activations
    std::vector<float> scale;
    std::vector<int64_t> zp;
    int axis = 0;
  };
  struct Op {
    int32_t code;
    std::vector<int32_t> in, out;
    uint8_t opt_type = 0;  // BuiltinOptions union type
    FbP options = nullptr;
  };
  std::vector<T> tensors;
  std::vector<Op> ops;
  std::vector<int32_t> inputs, outputs;

  int add_tensor(std::vector<int32_t> shape, int8_t type, float scale = 0, int64_t zp = 0,
                 std::vector<uint8_t> data = {}) {
    T t{std::move(shape), type, std::move(data), {}, {}, 0};
    if (scale > 0) {
      t.scale = {scale};
      t.zp = {zp};
    }
    tensors.push_back(std::move(t));
    return int(tensors.size()) - 1;
  }
  template <typename V>
  static std::vector<uint8_t> bytes(const std::vector<V>& v) {
    std::vector<uint8_t> b(v.size() * sizeof(V));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
  }

  std::vector<uint8_t> build() const {
    std::vector<FbP> bufs = {fb_table()};  // buffer 0: empty
    std::vector<FbP> ts;
    for (const T& t : tensors) {
      auto tt = fb_table();
      tt->child(0, fb_vec(t.shape)).set<int8_t>(1, t.type);
      uint32_t b = 0;
      if (!t.data.empty()) {
        auto bt = fb_table();
        bt->child(0, fb_vec(t.data));
        bufs.push_back(bt);
        b = uint32_t(bufs.size() - 1);
      }
      std::string name = "t";
      name += std::to_string(ts.size());
      tt->set<uint32_t>(2, b).child(3, fb_str(name));
      if (!t.scale.empty()) {
        auto q = fb_table();
        q->child(2, fb_vec(t.scale)).child(3, fb_vec(t.zp)).set<int32_t>(6, t.axis);
        tt->child(4, q);
      }
      ts.push_back(tt);
    }
    std::vector<int32_t> codes;
    std::vector<FbP> code_tables, op_tables;
    for (const Op& op : ops) {
      size_t ci = 0;
      while (ci < codes.size() && codes[ci] != op.code) ++ci;
      if (ci == codes.size()) {
        codes.push_back(op.code);
        auto c = fb_table();
        c->set<int8_t>(0, int8_t(std::min(op.code, 127)))
            .set<int32_t>(2, 1)
            .set<int32_t>(3, op.code);
        code_tables.push_back(c);
      }
      auto o = fb_table();
      o->set<uint32_t>(0, uint32_t(ci)).child(1, fb_vec(op.in)).child(2, fb_vec(op.out));
      if (op.options) o->set<uint8_t>(3, op.opt_type).child(4, op.options);
      op_tables.push_back(o);
    }
    auto sg = fb_table();
    sg->child(0, fb_tables(ts))
        .child(1, fb_vec(inputs))
        .child(2, fb_vec(outputs))
        .child(3, fb_tables(op_tables));
    auto model = fb_table();
    model->set<uint32_t>(0, 3)
        .child(1, fb_tables(code_tables))
        .child(2, fb_tables({sg}))
        .child(3, fb_str("test model"))
        .child(4, fb_tables(bufs));
    return FbWriter().finish(model);
  }
};

// One small model with every operator the quantized engine runs (PAD, CONV_2D, DEPTHWISE_CONV_2D
// with multiplier 2, QUANTIZE, ADD, CONCATENATION, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SQUEEZE,
// RESHAPE, FULLY_CONNECTED, SOFTMAX, DEQUANTIZE) on a [1, 5, 5, 3] input: uint8 per-tensor, or
// int8 activations with per-channel int8 weights. A seed of the TFLite fuzz target.
inline std::vector<uint8_t> every_op_model(bool int8) {
  using namespace scv::tflite;  // operator codes
  const int8_t A = int8 ? 9 : 3, W = int8 ? 9 : 3, I32 = 2, F32 = 0;
  const int64_t z = int8 ? -3 : 125;  // activation zero point
  uint32_t seed = 7;
  auto bytes = [&](size_t n) {
    std::vector<uint8_t> v(n);
    for (uint8_t& b : v) b = uint8_t((seed = seed * 1103515245u + 12345u) >> 16);
    return v;
  };
  auto weights = [&](TfliteModelBuilder& b, std::vector<int32_t> shape, int oc, int axis) {
    size_t n = 1;
    for (int32_t d : shape) n *= size_t(d);
    const int t = b.add_tensor(std::move(shape), W, 0.02f, int8 ? 0 : 120, bytes(n));
    if (int8) {
      b.tensors[size_t(t)].scale.assign(size_t(oc), 0.0f);
      for (int o = 0; o < oc; ++o) b.tensors[size_t(t)].scale[size_t(o)] = 0.01f + 0.003f * o;
      b.tensors[size_t(t)].zp.assign(size_t(oc), 0);
      b.tensors[size_t(t)].axis = axis;
    }
    return t;
  };
  auto i32 = [](const std::vector<int32_t>& v) { return TfliteModelBuilder::bytes(v); };
  TfliteModelBuilder b;
  const int t0 = b.add_tensor({1, 5, 5, 3}, A, 0.05f, z);
  const int tpad = b.add_tensor({4, 2}, I32, 0, 0, i32({0, 0, 0, 1, 1, 1, 0, 0}));
  const int t1 = b.add_tensor({1, 6, 7, 3}, A, 0.05f, z);
  b.ops.push_back({kPad, {t0, tpad}, {t1}, 0, nullptr});
  const int w2 = weights(b, {4, 3, 3, 3}, 4, 0);
  const int b2 = b.add_tensor({4}, I32, 0, 0, i32({100, -50, 7, 0}));
  const int t2 = b.add_tensor({1, 6, 7, 4}, A, 0.04f, int8 ? -128 : 0);
  auto conv = fb_table();
  conv->set<int8_t>(0, 0).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int8_t>(3, 3);
  b.ops.push_back({kConv2d, {t1, w2, b2}, {t2}, 1, conv});
  const int w3 = weights(b, {1, 3, 3, 8}, 8, 3);
  const int t3 = b.add_tensor({1, 3, 4, 8}, A, 0.06f, z);
  auto dw = fb_table();
  dw->set<int8_t>(0, 0).set<int32_t>(1, 2).set<int32_t>(2, 2).set<int32_t>(3, 2).set<int8_t>(4, 1);
  b.ops.push_back({kDepthwiseConv2d, {t2, w3, -1}, {t3}, 2, dw});
  const int t4 = b.add_tensor({1, 3, 4, 8}, A, 0.08f, z + 2);
  b.ops.push_back({kQuantize, {t3}, {t4}, 0, nullptr});
  const int t5 = b.add_tensor({1, 3, 4, 8}, A, 0.1f, z);
  auto add = fb_table();
  add->set<int8_t>(0, 0);
  b.ops.push_back({kAdd, {t3, t4}, {t5}, 11, add});
  const int t6 = b.add_tensor({1, 3, 4, 16}, A, 0.1f, z);
  auto cat = fb_table();
  cat->set<int32_t>(0, 3);
  b.ops.push_back({kConcatenation, {t5, t3}, {t6}, 10, cat});
  const int t7 = b.add_tensor({1, 2, 3, 16}, A, 0.1f, z);
  auto avg = fb_table();
  avg->set<int8_t>(0, 1).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int32_t>(3, 2).set<int32_t>(4,
                                                                                                2);
  b.ops.push_back({kAveragePool2d, {t6}, {t7}, 5, avg});
  const int t8 = b.add_tensor({1, 2, 3, 16}, A, 0.1f, z);
  auto mx = fb_table();
  mx->set<int8_t>(0, 0).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int32_t>(3, 2).set<int32_t>(4,
                                                                                               2);
  b.ops.push_back({kMaxPool2d, {t7}, {t8}, 5, mx});
  const int tax = b.add_tensor({2}, I32, 0, 0, i32({1, 2}));
  const int t9 = b.add_tensor({1, 1, 1, 16}, A, 0.05f, z);
  auto keep = fb_table();
  keep->set<uint8_t>(0, 1);
  b.ops.push_back({kMean, {t8, tax}, {t9}, 27, keep});
  const int t10 = b.add_tensor({1, 16}, A, 0.05f, z);
  b.ops.push_back({kSqueeze, {t9}, {t10}, 0, nullptr});
  const int t11 = b.add_tensor({1, 16}, A, 0.05f, z);
  b.ops.push_back({kReshape, {t10}, {t11}, 0, nullptr});
  const int w12 = weights(b, {5, 16}, 5, 0);
  const int t12 = b.add_tensor({1, 5}, A, 0.2f, z);
  b.ops.push_back({kFullyConnected, {t11, w12, -1}, {t12}, 0, nullptr});
  const int t13 = b.add_tensor({1, 5}, A, 1.0f / 256, int8 ? -128 : 0);
  auto beta = fb_table();
  beta->set<float>(0, 1.0f);
  b.ops.push_back({kSoftmax, {t12}, {t13}, 9, beta});
  const int t14 = b.add_tensor({1, 5}, F32);
  b.ops.push_back({kDequantize, {t13}, {t14}, 0, nullptr});
  b.inputs = {t0};
  b.outputs = {t14};
  return b.build();
}

}  // namespace scv::test
