// Pickle VM subset. Opcode semantics follow CPython's Lib/pickle.py (Unpickler.load_*) and
// Lib/pickletools.py; the stack discipline is CPython's: MARK pushes the current stack height on
// a separate mark stack and ops never pop below the innermost mark.
#include "io/pickle.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/enum_names.h"

namespace scv::pickle {

namespace {
constexpr EnumName<Kind> kKindNames[] = {
    {Kind::none, "None"},      {Kind::boolean, "bool"},  {Kind::integer, "int"},
    {Kind::floating, "float"}, {Kind::string, "str"},    {Kind::bytes, "bytes"},
    {Kind::tuple, "tuple"},    {Kind::list, "list"},     {Kind::dict, "dict"},
    {Kind::global, "global"},  {Kind::reduce, "object"}, {Kind::pers_id, "persistent id"}};
}  // namespace

const char* kind_name(Kind k) {
  return name_of(kKindNames, k);
}

std::string describe(const Pickle& p, int32_t index) {
  if (index < 0 || static_cast<size_t>(index) >= p.values.size()) return "<nothing>";
  const Value& v = p.at(index);
  switch (v.kind) {
    case Kind::integer:
      return str("int ", v.i);
    case Kind::boolean:
      return v.i ? "True" : "False";
    case Kind::floating:
      return str("float ", v.f);
    case Kind::string:
      return str("str '", v.s.substr(0, 40), v.s.size() > 40 ? "...'" : "'");
    case Kind::tuple:
    case Kind::list:
      return str(kind_name(v.kind), " (", v.items.size(), " items)");
    case Kind::dict:
      return str("dict (", v.items.size() / 2, " items)");
    case Kind::global:
      return str("global ", v.s);
    case Kind::reduce: {
      const Value& c = p.at(v.items[0]);
      return c.kind == Kind::global ? str(c.s, "(...) object") : std::string("object");
    }
    default:
      return kind_name(v.kind);
  }
}

namespace {

// Opcodes (pickletools names).
enum : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINUNICODE = 'X',
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  EMPTY_LIST = ']',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  LIST = 'l',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  EMPTY_DICT = '}',
  EMPTY_TUPLE = ')',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  LONG1 = 0x8a,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

// The opcodes that push a str or bytes, and the size of their length prefix.
struct StringOp {
  uint8_t op;
  Kind kind;
  size_t len_bytes;
};
constexpr StringOp kStringOps[] = {
    {SHORT_BINUNICODE, Kind::string, 1}, {BINUNICODE, Kind::string, 4},
    {BINUNICODE8, Kind::string, 8},      {SHORT_BINBYTES, Kind::bytes, 1},
    {BINBYTES, Kind::bytes, 4},          {BINBYTES8, Kind::bytes, 8}};

class Vm {
 public:
  Vm(const uint8_t* data, size_t size, const Limits& limits) : p_(data), n_(size), lim_(limits) {}

  Result<Pickle> run() {
    while (true) {
      if (pos_ >= n_) return fail_at(n_, "stream ends without a STOP opcode (truncated?)");
      op_pos_ = pos_;
      const uint8_t op = p_[pos_++];
      Status st = step(op);
      if (!st.ok()) return st;
      if (done_) return std::move(out_);
    }
  }

 private:
  // ---- error helpers
  Status fail_at(size_t at, const std::string& what) const {
    return error("pickle: ", what, " (at byte ", at, " of ", n_, ")");
  }
  Status fail(const std::string& what) const {
    return fail_at(op_pos_,
                   str("opcode 0x", std::hex, static_cast<int>(p_[op_pos_]), std::dec, ": ", what));
  }

  // ---- reading arguments
  bool need(size_t k) const { return k <= n_ - pos_; }
  Status read_bytes(size_t k, const uint8_t** out) {
    if (!need(k)) return fail(str("argument of ", k, " bytes runs past the end of the stream"));
    *out = p_ + pos_;
    pos_ += k;
    return Status();
  }
  Status read_uint(size_t k, uint64_t* v) {
    const uint8_t* b = nullptr;
    SCV_TRY(read_bytes(k, &b));
    *v = 0;
    for (size_t i = 0; i < k; ++i) *v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return Status();
  }
  Status read_line(std::string* s) {
    const void* nl = std::memchr(p_ + pos_, '\n', n_ - pos_);
    if (!nl) return fail("unterminated text line");
    const size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (p_ + pos_));
    if (len > 4096) return fail("text line too long");
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len + 1;
    return Status();
  }

  // ---- the pool and the stack
  Result<int32_t> make(Kind k) {
    if (out_.values.size() >= lim_.max_values)
      return fail(str("too many objects (limit ", lim_.max_values, ")"));
    Value v;
    v.kind = k;
    out_.values.push_back(std::move(v));
    return static_cast<int32_t>(out_.values.size() - 1);
  }
  Value& val(int32_t i) { return out_.values[static_cast<size_t>(i)]; }
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  Status push(int32_t i) {
    if (stack_.size() >= lim_.max_stack)
      return fail(str("stack too deep (limit ", lim_.max_stack, ")"));
    stack_.push_back(i);
    return Status();
  }
  Status push_new(Kind k, int32_t* idx = nullptr) {
    SCV_ASSIGN_OR_RETURN(int32_t i, make(k));
    if (idx) *idx = i;
    return push(i);
  }
  Status pop(int32_t* i) {
    if (stack_.size() <= fence()) return fail("stack underflow");
    *i = stack_.back();
    stack_.pop_back();
    return Status();
  }
  Status top(int32_t* i) const {
    if (stack_.size() <= fence()) return fail("stack underflow");
    *i = stack_.back();
    return Status();
  }
  // Pops everything above the innermost mark, and the mark.
  Status pop_mark(std::vector<int32_t>* items) {
    if (marks_.empty()) return fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    items->assign(stack_.begin() + static_cast<ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return Status();
  }
  Status memo_put(uint64_t key) {
    int32_t t = 0;
    SCV_TRY(top(&t));
    if (memo_.size() >= lim_.max_memo && memo_.find(key) == memo_.end())
      return fail(str("memo too large (limit ", lim_.max_memo, ")"));
    memo_[key] = t;
    return Status();
  }
  Status memo_get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) return fail(str("memo key ", key, " was never stored"));
    return push(it->second);
  }
  Status push_string(Kind k, size_t len_bytes) {
    uint64_t len = 0;
    SCV_TRY(read_uint(len_bytes, &len));
    if (len > n_ - pos_) return fail(str("string of ", len, " bytes runs past the end"));
    int32_t i = 0;
    SCV_TRY(push_new(k, &i));
    val(i).s.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status();
  }
  Status push_int(int64_t v) {
    int32_t i = 0;
    SCV_TRY(push_new(Kind::integer, &i));
    val(i).i = v;
    return Status();
  }
  Status push_global(std::string name) {
    int32_t i = 0;
    SCV_TRY(push_new(Kind::global, &i));
    val(i).s = std::move(name);
    return Status();
  }
  Status set_items(int32_t dict, const std::vector<int32_t>& kv) {
    if (val(dict).kind != Kind::dict)
      return fail(str("SETITEM(S) on a ", kind_name(val(dict).kind), ", expected a dict"));
    if (kv.size() % 2 != 0) return fail("SETITEMS with an odd number of stack items");
    auto& items = val(dict).items;
    items.insert(items.end(), kv.begin(), kv.end());
    return Status();
  }
  Status append_items(int32_t list, const std::vector<int32_t>& xs) {
    if (val(list).kind != Kind::list)
      return fail(str("APPEND(S) on a ", kind_name(val(list).kind), ", expected a list"));
    auto& items = val(list).items;
    items.insert(items.end(), xs.begin(), xs.end());
    return Status();
  }
  Status make_seq(Kind k, std::vector<int32_t> xs) {
    int32_t i = 0;
    SCV_TRY(push_new(k, &i));
    val(i).items = std::move(xs);
    return Status();
  }
  Status reduce(int32_t callable, int32_t args) {
    if (val(args).kind != Kind::tuple)
      return fail(str("REDUCE arguments are a ", kind_name(val(args).kind), ", expected a tuple"));
    if (val(callable).kind == Kind::global && val(callable).s == "collections.OrderedDict") {
      if (!val(args).items.empty()) return fail("OrderedDict(...) with arguments is not supported");
      return push_new(Kind::dict);
    }
    int32_t i = 0;
    SCV_TRY(push_new(Kind::reduce, &i));
    val(i).items = {callable, args};
    return Status();
  }

  // Opcodes that push one literal: None, booleans, integers, floats, strings, bytes.
  Status step_literal(uint8_t op) {
    uint64_t u = 0;
    int32_t a = 0;
    switch (op) {
      case NONE:
        return push_new(Kind::none);
      case NEWTRUE:
      case NEWFALSE:
        SCV_TRY(push_new(Kind::boolean, &a));
        val(a).i = op == NEWTRUE;
        return Status();
      case BININT:
        SCV_TRY(read_uint(4, &u));
        return push_int(static_cast<int32_t>(static_cast<uint32_t>(u)));
      case BININT1:
      case BININT2:  // unsigned, 1 or 2 bytes
        SCV_TRY(read_uint(op == BININT1 ? 1 : 2, &u));
        return push_int(static_cast<int64_t>(u));
      case LONG1: {
        SCV_TRY(read_uint(1, &u));
        const size_t k = static_cast<size_t>(u);
        if (k > 8) return fail(str("integer of ", k, " bytes is too large"));
        uint64_t v = 0;
        SCV_TRY(read_uint(k, &v));
        if (k > 0 && k < 8 && (v >> (8 * k - 1)) & 1) v |= ~uint64_t{0} << (8 * k);  // sign
        return push_int(static_cast<int64_t>(v));
      }
      case BINFLOAT: {
        SCV_TRY(read_uint(8, &u));
        uint64_t be = 0;  // stored big-endian
        for (int i = 0; i < 8; ++i) be = (be << 8) | ((u >> (8 * i)) & 0xFF);
        double d = 0;
        std::memcpy(&d, &be, sizeof d);
        SCV_TRY(push_new(Kind::floating, &a));
        val(a).f = d;
        return Status();
      }
      default:
        for (const StringOp& k : kStringOps)
          if (k.op == op) return push_string(k.kind, k.len_bytes);
        return fail("unsupported or invalid opcode");
    }
  }

  // Opcodes that build or fill tuples, lists and dicts.
  Status step_container(uint8_t op) {
    int32_t a = 0, b = 0, c = 0;
    std::vector<int32_t> xs;
    switch (op) {
      case EMPTY_DICT:
        return push_new(Kind::dict);
      case EMPTY_LIST:
        return push_new(Kind::list);
      case EMPTY_TUPLE:
        return push_new(Kind::tuple);
      case TUPLE:
        SCV_TRY(pop_mark(&xs));
        return make_seq(Kind::tuple, std::move(xs));
      case LIST:
        SCV_TRY(pop_mark(&xs));
        return make_seq(Kind::list, std::move(xs));
      case DICT:
        SCV_TRY(pop_mark(&xs));
        SCV_TRY(push_new(Kind::dict, &a));
        return set_items(a, xs);
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const size_t k = op - TUPLE1 + 1;
        if (stack_.size() < fence() + k) return fail("stack underflow");
        xs.assign(stack_.end() - static_cast<ptrdiff_t>(k), stack_.end());
        stack_.resize(stack_.size() - k);
        return make_seq(Kind::tuple, std::move(xs));
      }
      case SETITEM:
      case SETITEMS:
      case APPEND:
      case APPENDS: {
        // The items (a key and a value, one value, or all above the mark), then the dict or
        // list under them, which stays on the stack.
        if (op == SETITEMS || op == APPENDS) {
          SCV_TRY(pop_mark(&xs));
        } else {
          if (op == SETITEM) SCV_TRY(pop(&c));
          SCV_TRY(pop(&b));
          xs = op == SETITEM ? std::vector<int32_t>{b, c} : std::vector<int32_t>{b};
        }
        SCV_TRY(top(&a));
        return op == SETITEM || op == SETITEMS ? set_items(a, xs) : append_items(a, xs);
      }
      default:
        return step_literal(op);
    }
  }

  // One opcode: protocol and framing, the stack and marks, globals and objects, the memo;
  // containers and literals in the two steps above.
  Status step(uint8_t op) {
    uint64_t u = 0;
    int32_t a = 0, b = 0;
    std::vector<int32_t> xs;
    switch (op) {
      case PROTO:
        SCV_TRY(read_uint(1, &u));
        if (u > 5) return fail(str("unsupported pickle protocol ", u));
        return Status();
      case FRAME:
        return read_uint(8, &u);  // frames only group opcodes; nothing to do
      case STOP:
        SCV_TRY(pop(&a));
        out_.root = a;
        done_ = true;
        return Status();
      case MARK:
        if (marks_.size() >= lim_.max_stack) return fail("too many nested MARKs");
        marks_.push_back(stack_.size());
        return Status();
      case POP:
        return pop(&a);
      case POP_MARK:
        return pop_mark(&xs);
      case DUP:
        SCV_TRY(top(&a));
        return push(a);
      case GLOBAL: {
        std::string mod, name;
        SCV_TRY(read_line(&mod));
        SCV_TRY(read_line(&name));
        return push_global(mod + "." + name);
      }
      case STACK_GLOBAL:
        SCV_TRY(pop(&b));
        SCV_TRY(pop(&a));
        if (val(a).kind != Kind::string || val(b).kind != Kind::string)
          return fail("STACK_GLOBAL needs two strings");
        return push_global(val(a).s + "." + val(b).s);
      case REDUCE:
      case NEWOBJ:
        SCV_TRY(pop(&b));
        SCV_TRY(pop(&a));
        return reduce(a, b);
      case BINPERSID:
        SCV_TRY(pop(&a));
        SCV_TRY(push_new(Kind::pers_id, &b));
        val(b).items = {a};
        return Status();
      case BUILD:
        SCV_TRY(pop(&b));
        SCV_TRY(top(&a));
        if (val(a).kind == Kind::reduce) val(a).state = b;
        // Anything else (e.g. the OrderedDict's _metadata attribute) carries nothing we use.
        return Status();
      case MEMOIZE:
        return memo_put(memo_.size());
      case BINPUT:
      case LONG_BINPUT:
      case BINGET:
      case LONG_BINGET:  // a memo index of 1 (BIN-) or 4 (LONG_BIN-) bytes
        SCV_TRY(read_uint(op == BINPUT || op == BINGET ? 1 : 4, &u));
        return op == BINPUT || op == LONG_BINPUT ? memo_put(u) : memo_get(u);
      default:
        return step_container(op);
    }
  }

  const uint8_t* p_;
  size_t n_;
  Limits lim_;
  size_t pos_ = 0, op_pos_ = 0;
  bool done_ = false;
  Pickle out_;
  std::vector<int32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, int32_t> memo_;
};

}  // namespace

Result<Pickle> parse(const uint8_t* data, size_t size, const Limits& limits) {
  if (size == 0) return error("pickle: empty stream");
  // Objects against input length: an opcode is at least one byte and makes at most one new
  // object, so more objects than 2 per input byte (plus slack) cannot come from a real stream;
  // the absolute limits stop a large hostile stream (each object costs ~100 bytes).
  Limits lim = limits;
  lim.max_values = std::min(lim.max_values, 2 * size + 1024);
  lim.max_memo = std::min(lim.max_memo, size + 1024);
  return Vm(data, size, lim).run();
}

}  // namespace scv::pickle
