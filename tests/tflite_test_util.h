// A small TFLite writer for tests: builds FlatBuffers front to back (each table's vtable just
// before it, children after it), so tests can make tiny models with one operator and corrupt
// them precisely. Not a general FlatBuffers builder; enough for the schema fields we read.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

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

}  // namespace scv::test
