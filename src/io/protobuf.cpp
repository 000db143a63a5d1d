// Protobuf wire-format reader; see protobuf.h for the format and the safety contract.
#include "io/protobuf.h"

#include <bit>
#include <cstring>

#include "core/enum_names.h"

namespace scv::pb {

static_assert(std::endian::native == std::endian::little,
              "the fixed-width payloads are copied as little-endian");

namespace {
constexpr EnumName<WireType> kWireTypeNames[] = {
    {WireType::Varint, "VARINT"},     {WireType::I64, "I64"},         {WireType::Len, "LEN"},
    {WireType::StartGroup, "SGROUP"}, {WireType::EndGroup, "EGROUP"}, {WireType::I32, "I32"}};
}  // namespace

const char* wire_type_name(WireType t) {
  return name_of(kWireTypeNames, t);
}

Status read_varint(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  // Seven payload bits per byte, least significant group first; the high bit says "more".
  // A 64-bit value needs at most 10 bytes, and the 10th may only carry the top bit.
  uint64_t v = 0;
  const uint8_t* q = *p;
  for (int i = 0; i < 10; ++i) {
    if (q == end) return error("truncated varint");
    const uint8_t b = *q++;
    if (i == 9 && b > 1) return error("varint longer than 64 bits");
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *p = q;
      *out = v;
      return Status();
    }
  }
  return error("varint longer than 10 bytes");
}

Status Reader::next(Field* f) {
  uint64_t tag;
  if (Status st = read_varint(&p_, end_, &tag); !st.ok()) return st.with_context("field tag");
  const uint64_t number = tag >> 3;
  if (number == 0 || number > 0x1fffffff) return error("invalid field number ", number);
  f->number = static_cast<uint32_t>(number);
  f->type = static_cast<WireType>(tag & 7);
  f->value = 0;
  f->data = nullptr;
  f->size = 0;
  const size_t left = static_cast<size_t>(end_ - p_);
  switch (f->type) {
    case WireType::Varint:
      if (Status st = read_varint(&p_, end_, &f->value); !st.ok())
        return st.with_context(str("field ", number));
      return Status();
    case WireType::I64:
      if (left < 8) return error("field ", number, ": truncated 8-byte value");
      std::memcpy(&f->value, p_, 8);
      p_ += 8;
      return Status();
    case WireType::I32: {
      if (left < 4) return error("field ", number, ": truncated 4-byte value");
      uint32_t v;
      std::memcpy(&v, p_, 4);
      f->value = v;
      p_ += 4;
      return Status();
    }
    case WireType::Len: {
      uint64_t n;
      if (Status st = read_varint(&p_, end_, &n); !st.ok())
        return st.with_context(str("field ", number, " length"));
      const size_t remaining = static_cast<size_t>(end_ - p_);
      if (n > remaining)
        return error("field ", number, ": length ", n, " runs past the end (", remaining,
                     " bytes left)");
      f->data = p_;
      f->size = static_cast<size_t>(n);
      p_ += n;
      return Status();
    }
    case WireType::StartGroup:
    case WireType::EndGroup:
      return error("field ", number, ": groups (wire type ", static_cast<int>(f->type),
                   ") are not supported");
  }
  return error("field ", number, ": invalid wire type ", static_cast<int>(tag & 7));
}

Status Reader::message(const Field& f, Reader* sub) const {
  if (f.type != WireType::Len)
    return error("field ", f.number, ": expected a sub-message (LEN), found ",
                 wire_type_name(f.type));
  if (depth_ + 1 > kMaxDepth) return error("messages nested deeper than ", kMaxDepth, " levels");
  *sub = Reader(f.data, f.size, depth_ + 1);
  return Status();
}

static Status expect_type(const Field& f, WireType t) {
  if (f.type != t)
    return error("field ", f.number, ": expected wire type ", wire_type_name(t), ", found ",
                 wire_type_name(f.type));
  return Status();
}

Status get_int64(const Field& f, int64_t* out) {
  SCV_TRY(expect_type(f, WireType::Varint));
  *out = static_cast<int64_t>(f.value);
  return Status();
}

Status get_float(const Field& f, float* out) {
  SCV_TRY(expect_type(f, WireType::I32));
  const uint32_t bits = static_cast<uint32_t>(f.value);
  std::memcpy(out, &bits, 4);
  return Status();
}

Status get_double(const Field& f, double* out) {
  SCV_TRY(expect_type(f, WireType::I64));
  std::memcpy(out, &f.value, 8);
  return Status();
}

Status get_string(const Field& f, std::string* out) {
  SCV_TRY(expect_type(f, WireType::Len));
  out->assign(reinterpret_cast<const char*>(f.data), f.size);
  return Status();
}

Status append_varints(const Field& f, std::vector<int64_t>* out) {
  if (f.type == WireType::Varint) {
    out->push_back(static_cast<int64_t>(f.value));
    return Status();
  }
  SCV_TRY(expect_type(f, WireType::Len));
  const uint8_t* p = f.data;
  const uint8_t* end = f.data + f.size;
  while (p != end) {
    uint64_t v;
    if (Status st = read_varint(&p, end, &v); !st.ok())
      return st.with_context(str("packed field ", f.number));
    out->push_back(static_cast<int64_t>(v));
  }
  return Status();
}

// Packed fixed-width elements: the byte count must be a multiple of the element size.
template <typename T>
static Status append_fixed(const Field& f, WireType single, std::vector<T>* out) {
  if (f.type == single) {
    T v;
    std::memcpy(&v, &f.value, sizeof(T));  // little-endian: the low bytes hold the payload
    out->push_back(v);
    return Status();
  }
  SCV_TRY(expect_type(f, WireType::Len));
  if (f.size % sizeof(T) != 0)
    return error("packed field ", f.number, ": ", f.size, " bytes is not a multiple of ",
                 sizeof(T));
  const size_t n = f.size / sizeof(T);
  const size_t old = out->size();
  out->resize(old + n);
  if (n) std::memcpy(out->data() + old, f.data, f.size);
  return Status();
}

Status append_floats(const Field& f, std::vector<float>* out) {
  return append_fixed(f, WireType::I32, out);
}

Status append_doubles(const Field& f, std::vector<double>* out) {
  return append_fixed(f, WireType::I64, out);
}

namespace {
Status read_into(const Field& f, int64_t* out) {
  return get_int64(f, out);
}
Status read_into(const Field& f, float* out) {
  return get_float(f, out);
}
Status read_into(const Field& f, std::string* out) {
  return get_string(f, out);
}
Status read_into(const Field& f, std::vector<int64_t>* out) {
  return append_varints(f, out);
}
Status read_into(const Field& f, std::vector<float>* out) {
  return append_floats(f, out);
}
Status read_into(const Field& f, std::vector<double>* out) {
  return append_doubles(f, out);
}
Status read_into(const Field& f, std::vector<std::string>* out) {
  std::string s;
  SCV_TRY(get_string(f, &s));
  out->push_back(std::move(s));
  return Status();
}
}  // namespace

Status read_bound(const Field& f, std::span<const Bind> binds) {
  for (const Bind& b : binds)
    if (b.number == f.number) return std::visit([&](auto* to) { return read_into(f, to); }, b.to);
  return Status();
}

}  // namespace scv::pb
