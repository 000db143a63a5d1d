// torch.save checkpoints: zip archive -> data.pkl (pickle) -> tensors rebuilt from the raw
// storages under <prefix>/data/<key>.
//
// A tensor in data.pkl is the call
//   torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
//                                   backward_hooks[, metadata])
// where `storage` is a persistent id ('storage', torch.<T>Storage, key, location, numel), and
// parameters wrap it as torch._utils._rebuild_parameter(tensor, requires_grad, hooks).
// Element (i0, i1, ...) of the tensor is storage[offset + sum_k i_k * stride_k]; we copy it into
// a contiguous float32 Tensor, or, reading from a MappedFile, view it in place when it already
// is one (contiguous, float32, aligned).
#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "core/half.h"
#include "io/pickle.h"
#include "io/zip_reader.h"
#include "scratchcv/checked.h"
#include "scratchcv/file_util.h"
#include "scratchcv/pth.h"

namespace scv {
namespace {

// Storages are little-endian; we read them with memcpy into native types.
static_assert(std::endian::native == std::endian::little,
              "pth reader assumes a little-endian host");

using pickle::Kind;
using pickle::Pickle;
using pickle::Value;

enum class DType { f32, f64, f16, bf16, i64, i32, i16, i8, u8, boolean };

struct DTypeInfo {
  const char* storage;  // torch.<storage>
  DType dtype;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"torch.FloatStorage", DType::f32, 4}, {"torch.DoubleStorage", DType::f64, 8},
    {"torch.HalfStorage", DType::f16, 2},  {"torch.BFloat16Storage", DType::bf16, 2},
    {"torch.LongStorage", DType::i64, 8},  {"torch.IntStorage", DType::i32, 4},
    {"torch.ShortStorage", DType::i16, 2}, {"torch.CharStorage", DType::i8, 1},
    {"torch.ByteStorage", DType::u8, 1},   {"torch.BoolStorage", DType::boolean, 1},
};

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float element(const uint8_t* base, DType dt, size_t idx) {
  switch (dt) {
    case DType::f32:
      return load<float>(base + idx * 4);
    case DType::f64:
      return static_cast<float>(load<double>(base + idx * 8));
    case DType::f16:
      return half_to_float(load<uint16_t>(base + idx * 2));
    case DType::bf16: {
      const uint32_t bits = static_cast<uint32_t>(load<uint16_t>(base + idx * 2)) << 16;
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case DType::i64:
      return static_cast<float>(load<int64_t>(base + idx * 8));
    case DType::i32:
      return static_cast<float>(load<int32_t>(base + idx * 4));
    case DType::i16:
      return static_cast<float>(load<int16_t>(base + idx * 2));
    case DType::i8:
      return static_cast<float>(static_cast<int8_t>(base[idx]));
    case DType::u8:
      return static_cast<float>(base[idx]);
    case DType::boolean:
      return base[idx] != 0 ? 1.0f : 0.0f;
  }
  return 0.0f;
}

struct Storage {
  const DTypeInfo* type = nullptr;
  uint64_t numel = 0;
  const uint8_t* data = nullptr;
};

// Owner of one zero-copy view: keeps the mapping alive and, when the view's last copy dies,
// releases the pages wholly inside its bytes (packed copies replace them, rather than adding).
struct MappedRange {
  std::shared_ptr<const MappedFile> file;
  const uint8_t* data = nullptr;
  size_t size = 0;
  ~MappedRange() {
    if (file) file->release(data, size);
  }
};

class Loader {
 public:
  Loader(const zip::ZipReader& zr, std::string prefix, const Pickle& pk,
         std::shared_ptr<const MappedFile> file)
      : zr_(zr), prefix_(std::move(prefix)), pk_(pk), file_(std::move(file)) {}

  Result<StateDict> run(size_t file_size) {
    // Budget for materialised elements: a checkpoint's tensors hold at most about one element
    // per stored byte, unless views overlap; this stops a tiny file from asking for terabytes.
    budget_ = static_cast<uint64_t>(file_size) + (1u << 20);
    int32_t root = pk_.root;
    const Value& r = pk_.at(root);
    if (r.kind == Kind::reduce)
      return error("data.pkl holds a ", pickle::describe(pk_, root),
                   ", not a state_dict (was the whole model saved with torch.save(model)? save "
                   "model.state_dict() instead)");
    if (r.kind != Kind::dict)
      return error("data.pkl holds a ", pickle::describe(pk_, root),
                   ", expected a dict of tensors (a state_dict)");
    // A training checkpoint wraps the weights: {'state_dict': {...}, 'epoch': ...} or
    // {'model': {...}, ...}.
    for (const char* wrap : {"state_dict", "model"}) {
      const int32_t inner = dict_get(root, wrap);
      if (inner >= 0 && pk_.at(inner).kind == Kind::dict) {
        root = inner;
        break;
      }
    }

    StateDict sd;
    const auto& items = pk_.at(root).items;
    for (size_t k = 0; k + 1 < items.size(); k += 2) {
      const Value& key = pk_.at(items[k]);
      if (key.kind != Kind::string)
        return error("state_dict key #", k / 2, " is a ", pickle::describe(pk_, items[k]),
                     ", expected a string");
      Tensor t;
      bool is_tensor = false;
      SCV_TRY(to_tensor(items[k + 1], key.s, &t, &is_tensor));
      if (is_tensor) sd.push_back({key.s, std::move(t)});
    }
    if (sd.empty())
      return error("data.pkl holds a dict of ", items.size() / 2,
                   " entries but no tensors (first key: ",
                   items.empty() ? std::string("none") : pickle::describe(pk_, items[0]), ")");

    // DataParallel / DistributedDataParallel prefix every name with "module.".
    bool all_module = true;
    for (const auto& nt : sd) all_module = all_module && nt.name.rfind("module.", 0) == 0;
    if (all_module)
      for (auto& nt : sd) nt.name.erase(0, 7);
    std::unordered_set<std::string> seen;
    for (const auto& nt : sd)
      if (!seen.insert(nt.name).second) return error("tensor name '", nt.name, "' appears twice");
    return sd;
  }

 private:
  int32_t dict_get(int32_t dict, const std::string& key) const {
    const auto& items = pk_.at(dict).items;
    for (size_t k = 0; k + 1 < items.size(); k += 2) {
      const Value& kv = pk_.at(items[k]);
      if (kv.kind == Kind::string && kv.s == key) return items[k + 1];
    }
    return -1;
  }
  const std::string* callee(const Value& v) const {
    if (v.kind != Kind::reduce) return nullptr;
    const Value& c = pk_.at(v.items[0]);
    return c.kind == Kind::global ? &c.s : nullptr;
  }
  const std::vector<int32_t>& args(const Value& v) const { return pk_.at(v.items[1]).items; }
  bool get_int(int32_t i, int64_t* out) const {
    const Value& v = pk_.at(i);
    if (v.kind != Kind::integer) return false;
    *out = v.i;
    return true;
  }
  bool get_ints(int32_t i, std::vector<int64_t>* out) const {
    const Value& v = pk_.at(i);
    if (v.kind != Kind::tuple && v.kind != Kind::list) return false;
    out->clear();
    for (int32_t x : v.items) {
      int64_t n = 0;
      if (!get_int(x, &n)) return false;
      out->push_back(n);
    }
    return true;
  }

  // Values that are not tensors (ints, None, ...) are skipped: *is_tensor stays false.
  Status to_tensor(int32_t idx, const std::string& name, Tensor* out, bool* is_tensor) {
    const Value* v = &pk_.at(idx);
    const std::string* fn = callee(*v);
    // nn.Parameter: _rebuild_parameter(data, requires_grad, backward_hooks[, state]).
    if (fn && (*fn == "torch._utils._rebuild_parameter" ||
               *fn == "torch._utils._rebuild_parameter_with_state")) {
      if (args(*v).empty()) return error("tensor '", name, "': ", *fn, " without arguments");
      v = &pk_.at(args(*v)[0]);
      fn = callee(*v);
    }
    if (!fn) return Status();
    if (*fn != "torch._utils._rebuild_tensor_v2") {
      if (fn->rfind("torch.", 0) == 0)
        return error("tensor '", name, "' is saved with ", *fn,
                     ", which is not supported (only dense CPU tensors, "
                     "torch._utils._rebuild_tensor_v2)");
      return Status();
    }
    *is_tensor = true;
    const auto& a = args(*v);
    int64_t offset = 0;
    Shape size, stride;
    if (a.size() < 4 || pk_.at(a[0]).kind != Kind::pers_id || !get_int(a[1], &offset) ||
        !get_ints(a[2], &size) || !get_ints(a[3], &stride))
      return error("tensor '", name,
                   "': malformed _rebuild_tensor_v2 arguments (expected storage, offset, size, "
                   "stride, ...)");
    SCV_ASSIGN_OR_RETURN(const Storage* st, storage(pk_.at(a[0]).items[0], name));
    return materialise(name, *st, offset, size, stride, out);
  }

  // Persistent id ('storage', torch.<T>Storage, key, location, numel) -> the entry's bytes.
  Result<const Storage*> storage(int32_t pid, const std::string& name) {
    const Value& t = pk_.at(pid);
    int64_t numel = 0;
    if (t.kind != Kind::tuple || t.items.size() < 5 || pk_.at(t.items[0]).kind != Kind::string ||
        pk_.at(t.items[0]).s != "storage" || pk_.at(t.items[1]).kind != Kind::global ||
        pk_.at(t.items[2]).kind != Kind::string || !get_int(t.items[4], &numel) || numel < 0)
      return error("tensor '", name, "': malformed storage reference ", pickle::describe(pk_, pid),
                   " (expected ('storage', torch.<T>Storage, key, location, numel))");
    const std::string& type_name = pk_.at(t.items[1]).s;
    const std::string& key = pk_.at(t.items[2]).s;
    const DTypeInfo* type = nullptr;
    for (const auto& d : kDTypes)
      if (type_name == d.storage) type = &d;
    if (!type)
      return error("tensor '", name, "': unsupported storage type ", type_name,
                   " (supported: float, double, half, bfloat16, long, int, short, char, byte, "
                   "bool)");
    auto it = storages_.find(key);
    if (it != storages_.end()) {
      if (it->second.type != type || it->second.numel != static_cast<uint64_t>(numel))
        return error("tensor '", name, "': storage '", key,
                     "' is referenced with two different types or sizes");
      return &it->second;
    }
    const std::string entry_name = prefix_ + "data/" + key;
    const zip::Entry* e = zr_.find(entry_name);
    if (!e) return error("tensor '", name, "': storage entry '", entry_name, "' is missing");
    SCV_ASSIGN_OR_RETURN(zip::Bytes bytes, zr_.read(*e));
    // Checked: 2^62 floats would wrap to 0 bytes and match an empty entry.
    int64_t want = 0;
    const bool fits = checked_mul(numel, int64_t(type->size), &want);
    if (!fits || bytes.size != uint64_t(want))
      return error("tensor '", name, "': storage '", entry_name, "' has ", bytes.size,
                   " bytes, expected ", numel, " x ", type->size,
                   fits ? " = " + std::to_string(want) : std::string(" (overflows)"));
    Storage& s = storages_[key];
    s.type = type;
    s.numel = static_cast<uint64_t>(numel);
    s.data = bytes.data;
    return &s;
  }

  Status materialise(const std::string& name, const Storage& st, int64_t offset, const Shape& size,
                     const Shape& stride, Tensor* out) {
    constexpr int64_t kMaxDim = int64_t{1} << 40;
    if (size.size() != stride.size() || size.size() > 16)
      return error("tensor '", name, "': size ", shape_str(size), " and stride ", shape_str(stride),
                   " do not match (or rank > 16)");
    if (offset < 0 || offset > kMaxDim)
      return error("tensor '", name, "': bad storage offset ", offset);
    int64_t numel = 1;
    int64_t last = offset;  // storage index of the last element
    for (size_t k = 0; k < size.size(); ++k) {
      if (size[k] < 0 || size[k] > kMaxDim || stride[k] < 0 || stride[k] > kMaxDim)
        return error("tensor '", name, "': bad size ", shape_str(size), " / stride ",
                     shape_str(stride));
    }
    if (!checked_product(size.data(), size.size(), &numel, kMaxDim))
      return error("tensor '", name, "': size ", shape_str(size), " is too large");
    if (numel > 0) {
      for (size_t k = 0; k < size.size(); ++k) {
        int64_t span = 0;
        if (__builtin_mul_overflow(size[k] - 1, stride[k], &span) ||
            __builtin_add_overflow(last, span, &last))
          return error("tensor '", name, "': stride ", shape_str(stride), " overflows");
      }
      if (static_cast<uint64_t>(last) >= st.numel)
        return error("tensor '", name, "' (size ", shape_str(size), ", stride ", shape_str(stride),
                     ", offset ", offset, ") reaches element ", last, " of a storage of ", st.numel,
                     " elements");
    }
    if (static_cast<uint64_t>(numel) > st.numel)
      return error("tensor '", name, "' has ", numel, " elements but its storage only ", st.numel,
                   " (an expanded or overlapping view); save a .contiguous() copy instead");
    if (static_cast<uint64_t>(numel) > budget_)
      return error("tensor '", name, "': the tensors' total size exceeds what the file can hold");
    budget_ -= static_cast<uint64_t>(numel);

    const int rank = static_cast<int>(size.size());
    // Contiguous (row-major) strides: one linear run.
    bool contiguous = true;
    int64_t expect = 1;
    for (int k = rank - 1; k >= 0 && numel > 0; --k) {
      if (size[k] != 1 && stride[k] != expect) contiguous = false;
      expect *= size[k];  // <= numel <= kMaxDim: no overflow (an empty tensor skips this)
    }
    if (file_ && contiguous && st.type->dtype == DType::f32 && numel > 0) {
      const uint8_t* p = st.data + static_cast<size_t>(offset) * 4;
      const size_t bytes = static_cast<size_t>(numel) * 4;
      // The view needs 64 readable bytes past its end (SIMD tails); a stored entry is followed
      // by at least the central directory, but check rather than assume.
      const size_t room = static_cast<size_t>(file_->data() + file_->size() - p);
      if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0 && room >= bytes + 64) {
        auto owner = std::make_shared<MappedRange>();
        owner->file = file_;
        owner->data = p;
        owner->size = bytes;
        *out = Tensor::view(size, reinterpret_cast<const float*>(p), std::move(owner));
        return Status();
      }
    }
    Tensor t = Tensor::uninitialized(size);  // every element is written below
    float* dst = t.data();
    if (contiguous && st.type->dtype == DType::f32) {
      if (numel > 0)
        std::memcpy(dst, st.data + static_cast<size_t>(offset) * 4, static_cast<size_t>(numel) * 4);
    } else if (contiguous) {
      for (int64_t i = 0; i < numel; ++i)
        dst[i] = element(st.data, st.type->dtype, static_cast<size_t>(offset + i));
    } else if (numel > 0) {
      // Odometer over the index tuple; the innermost dimension moves fastest.
      std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
      int64_t src = offset;
      for (int64_t i = 0; i < numel; ++i) {
        dst[i] = element(st.data, st.type->dtype, static_cast<size_t>(src));
        for (int k = rank - 1; k >= 0; --k) {
          if (++idx[k] < size[k]) {
            src += stride[k];
            break;
          }
          src -= (size[k] - 1) * stride[k];
          idx[k] = 0;
        }
      }
    }
    *out = std::move(t);
    return Status();
  }

  const zip::ZipReader& zr_;
  std::string prefix_;
  const Pickle& pk_;
  std::unordered_map<std::string, Storage> storages_;
  uint64_t budget_ = 0;
  std::shared_ptr<const MappedFile> file_;  // set: view mapped float32 tensors in place
};

std::string describe_start(const uint8_t* data, size_t size) {
  std::string hex, text;
  for (size_t i = 0; i < size && i < 8; ++i) {
    hex +=
        str(i ? " " : "", std::hex, static_cast<int>(data[i] >> 4), static_cast<int>(data[i] & 15));
    text += (data[i] >= 32 && data[i] < 127) ? static_cast<char>(data[i]) : '.';
  }
  return str("bytes ", hex, " (\"", text, "\")");
}

Result<StateDict> parse_impl(const uint8_t* data, size_t size,
                             std::shared_ptr<const MappedFile> file) {
  if (size == 0) return error("empty file (0 bytes), expected a torch.save zip archive");
  if (!zip::looks_like_zip(data, size)) {
    if (size >= 2 && data[0] == 0x80 && data[1] <= 5)
      return error(
          "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it "
          "with PyTorch >= 1.6: torch.save(torch.load(old), new)");
    return error("not a PyTorch checkpoint: expected a zip archive written by torch.save, found ",
                 describe_start(data, size));
  }
  SCV_ASSIGN_OR_RETURN(zip::ZipReader zr, zip::ZipReader::open(data, size));

  // data.pkl lives under one top folder whose name varies ("archive/", "resnet50-0676ba61/").
  const zip::Entry* pkl = nullptr;
  std::string prefix;
  bool torchscript = false;
  for (const auto& e : zr.entries()) {
    const size_t slash = e.name.find('/');
    const std::string rest = slash == std::string::npos ? e.name : e.name.substr(slash + 1);
    if (rest == "constants.pkl" || rest.rfind("code/", 0) == 0) torchscript = true;
    if (!pkl && rest == "data.pkl") {
      pkl = &e;
      prefix = slash == std::string::npos ? std::string() : e.name.substr(0, slash + 1);
    }
  }
  if (torchscript)
    return error("this is a TorchScript archive (torch.jit.save), not a torch.save state_dict");
  if (!pkl) {
    std::string names;
    for (size_t i = 0; i < zr.entries().size() && i < 5; ++i)
      names += (i ? ", " : "") + zr.entries()[i].name;
    return error("zip archive has no <folder>/data.pkl, so it is not a torch.save checkpoint (",
                 zr.entries().size(), " entries: ", names.empty() ? "none" : names,
                 zr.entries().size() > 5 ? ", ..." : "", ")");
  }
  if (const zip::Entry* bo = zr.find(prefix + "byteorder")) {
    SCV_ASSIGN_OR_RETURN(zip::Bytes b, zr.read(*bo));
    const std::string order(reinterpret_cast<const char*>(b.data), b.size);
    if (order != "little")
      return error("checkpoint byte order is '", order, "', only 'little' is supported");
  }
  SCV_ASSIGN_OR_RETURN(zip::Bytes pb, zr.read(*pkl));
  auto pk = pickle::parse(pb.data, pb.size);
  if (!pk.ok()) return pk.status().with_context(pkl->name);
  return Loader(zr, prefix, pk.value(), std::move(file)).run(size);
}

}  // namespace

const Tensor* find_tensor(const StateDict& sd, const std::string& name) {
  for (const auto& nt : sd)
    if (nt.name == name) return &nt.tensor;
  return nullptr;
}

Result<StateDict> parse_pth(const uint8_t* data, size_t size) {
  try {
    return parse_impl(data, size, nullptr);
  } catch (const std::bad_alloc&) {
    return error("out of memory while loading the checkpoint");
  }
}

Result<StateDict> parse_pth(std::shared_ptr<const MappedFile> file) {
  if (!file) return error("no checkpoint file");
  try {
    const uint8_t* data = file->data();
    const size_t size = file->size();
    return parse_impl(data, size, std::move(file));
  } catch (const std::bad_alloc&) {
    return error("out of memory while loading the checkpoint");
  }
}

Result<StateDict> load_pth(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  auto r = parse_pth(bytes.data(), bytes.size());
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

}  // namespace scv
