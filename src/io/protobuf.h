// A small, bounds-checked reader for the protobuf wire format (proto2/proto3 binary encoding).
//
// A message is a sequence of fields; each field is a varint tag (field_number << 3 | wire_type)
// followed by a payload whose form the wire type gives:
//   0 VARINT  a base-128 varint (int32, int64, uint64, bool, enum)
//   1 I64     8 little-endian bytes (fixed64, sfixed64, double)
//   2 LEN     a varint byte count, then that many bytes (string, bytes, sub-message, packed
//             repeated scalars)
//   5 I32     4 little-endian bytes (fixed32, sfixed32, float)
// Wire types 3 and 4 (proto2 groups) are not used by the formats we read and are an error.
//
// The reader never reads past the buffer it was given: every length is checked against the bytes
// that remain, and nested messages are limited to kMaxDepth levels. It does not know any schema;
// callers switch on field numbers and skip fields they do not know (a Field is consumed whole by
// next(), so skipping is simply ignoring it). Errors are Statuses, never crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "scratchcv/status.h"

namespace scv::pb {

enum class WireType : uint8_t { Varint = 0, I64, Len, StartGroup, EndGroup, I32 };

const char* wire_type_name(WireType t);

// Nested messages deeper than this are rejected (a hostile file cannot exhaust the stack).
constexpr int kMaxDepth = 32;

// One decoded field. For Varint the value is in `value`; for I64 / I32 `value` holds the raw
// little-endian bits; for Len, `data`/`size` point into the reader's buffer (not owned).
struct Field {
  uint32_t number = 0;
  WireType type = WireType::Varint;
  uint64_t value = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, int depth = 0)
      : p_(data), end_(data + size), depth_(depth) {}

  bool at_end() const { return p_ == end_; }
  int depth() const { return depth_; }

  // Reads the next tag and its payload. Call only when !at_end().
  Status next(Field* f);

  // A reader over a LEN field's bytes (a sub-message), one level deeper. Errors when the field
  // is not LEN or the depth limit is reached.
  Status message(const Field& f, Reader* sub) const;

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  int depth_;
};

// Calls fn(f), which returns a Status, for each field of the message r reads, in order; stops
// at the first error, the wire format's or fn's. A decoder maps f.number in fn (read_bound
// below for plain fields).
// fn may also take the reader, fn(f, r), to read a field's sub-message at the right depth.
template <typename F>
Status for_each_field(Reader r, F&& fn) {
  while (!r.at_end()) {
    Field f;
    SCV_TRY(r.next(&f));
    if constexpr (std::is_invocable_v<F&, const Field&, const Reader&>)
      SCV_TRY(fn(static_cast<const Field&>(f), static_cast<const Reader&>(r)));
    else
      SCV_TRY(fn(static_cast<const Field&>(f)));
  }
  return Status();
}

// The same over the sub-message a LEN field of r's message holds (one level deeper than r).
template <typename F>
Status for_each_field(const Reader& r, const Field& f, F&& fn) {
  Reader sub(nullptr, 0);
  SCV_TRY(r.message(f, &sub));
  return for_each_field(sub, fn);
}

// Decodes one varint from [*p, end), advancing *p. Errors on truncation or more than 64 bits.
Status read_varint(const uint8_t** p, const uint8_t* end, uint64_t* out);

// Typed access to a single field; each checks the wire type.
Status get_int64(const Field& f, int64_t* out);       // VARINT (two's complement int64/int32/enum)
Status get_float(const Field& f, float* out);         // I32
Status get_double(const Field& f, double* out);       // I64
Status get_string(const Field& f, std::string* out);  // LEN

// Repeated scalars arrive either packed (one LEN field holding back-to-back payloads) or
// unpacked (one field per element). These append the element(s) of `f` in either form.
Status append_varints(const Field& f, std::vector<int64_t>* out);
Status append_floats(const Field& f, std::vector<float>* out);
Status append_doubles(const Field& f, std::vector<double>* out);

// A field number bound to where its value goes; the destination's type says how the field is
// read: int64_t (get_int64), float (get_float), std::string (get_string), std::vector of
// int64_t / float / double (append_varints / append_floats / append_doubles, packed or not),
// std::vector<std::string> (one more string per occurrence: a repeated string field).
struct Bind {
  uint32_t number;
  std::variant<int64_t*, float*, std::string*, std::vector<int64_t>*, std::vector<float>*,
               std::vector<double>*, std::vector<std::string>*>
      to;
};
// Reads f into the destination `binds` gives its number (checking the wire type); a field
// bound to nothing is skipped. A decoder of plain fields is one table of binds:
//   const pb::Bind binds[] = {{1, &n->name}, {2, &n->dims}};
//   return pb::for_each_field(r, [&](const pb::Field& f) { return pb::read_bound(f, binds); });
Status read_bound(const Field& f, std::span<const Bind> binds);

}  // namespace scv::pb
