// Names of enum values, written once per enum as a table of {value, "name"} pairs and read in
// both directions: name_of (value -> name, for messages and printing) and parse_name (name ->
// value, for flags and files). The tables are short, so a linear scan is all either needs.
#pragma once

#include <cstddef>
#include <string_view>

namespace scv {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `v` in `table`, or `fallback` when the table does not list it.
template <typename E, size_t N>
constexpr const char* name_of(const EnumName<E> (&table)[N], E v, const char* fallback = "?") {
  for (const EnumName<E>& e : table)
    if (e.value == v) return e.name;
  return fallback;
}

// Sets *out to the value named `s` and returns true; false (and *out untouched) when no entry
// has that name. A value may have several entries (aliases); name_of gives the first.
template <typename E, size_t N>
constexpr bool parse_name(const EnumName<E> (&table)[N], std::string_view s, E* out) {
  for (const EnumName<E>& e : table)
    if (s == e.name) {
      *out = e.value;
      return true;
    }
  return false;
}

}  // namespace scv
