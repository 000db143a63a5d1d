// A subset of the Python pickle virtual machine: enough for the data.pkl that torch.save writes
// (protocol 2, plus the few protocol 3/4 opcodes newer writers may emit). Private to src/io.
//
// Nothing is executed: GLOBAL only records a "module.name" string and REDUCE/NEWOBJ record the
// call (callable, args) for the caller to interpret. The one exception is
// collections.OrderedDict(), which becomes a Dict so that the SETITEMS that follow work.
//
// All objects live in one flat pool and refer to each other by index, so shared and even cyclic
// references (memo) cost nothing and tear-down never recurses. The stack, memo and pool are
// bounded; any malformed or unsupported opcode stream is an error Status, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv::pickle {

enum class Kind : uint8_t {
  none,
  boolean,   // i
  integer,   // i
  floating,  // f
  string,    // s (UTF-8)
  bytes,     // s
  tuple,     // items
  list,      // items
  dict,      // items = k0, v0, k1, v1, ... in insertion order
  global,    // s = "module.name"
  reduce,    // items = {callable, args}; state = BUILD argument or -1
  pers_id,   // items = {pid}: a persistent id (BINPERSID) for the caller to resolve
};

const char* kind_name(Kind k);

struct Value {
  Kind kind = Kind::none;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<int32_t> items;
  int32_t state = -1;
};

struct Pickle {
  std::vector<Value> values;  // the object pool
  int32_t root = -1;          // the object STOP returned
  const Value& at(int32_t index) const { return values[static_cast<size_t>(index)]; }
};

struct Limits {
  // A state_dict of the largest torchvision models holds ~100 k objects.
  size_t max_stack = 1u << 20;
  size_t max_memo = 1u << 21;
  size_t max_values = 1u << 21;
};

// Runs the opcode stream up to STOP. Errors name the opcode and its byte offset.
Result<Pickle> parse(const uint8_t* data, size_t size, const Limits& limits = Limits());

// A short description for error messages: "dict (3 items)", "collections.OrderedDict(...)", ...
std::string describe(const Pickle& p, int32_t index);

}  // namespace scv::pickle
