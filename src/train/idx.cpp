// IDX reader (MNIST format), gzip via zlib, datasets and our RNG.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "scratchcv/checked.h"
#include "scratchcv/file_util.h"
#include "scratchcv/train.h"

namespace scv::train {

namespace {

// Deflate cannot compress more than 1032:1, so a gzip stream of n bytes inflates to at most
// about 1032 n: a header claiming more is refused before anything is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Inflates a gzip stream into at most `limit` bytes. With `prefix_only` it stops once `limit`
// bytes are out (to read a header); otherwise more output than `limit` is an error. The output
// buffer grows by doubling but never beyond `limit`, so memory stays within what was allowed.
Result<std::vector<uint8_t>> gunzip(const uint8_t* data, size_t size, size_t limit,
                                    bool prefix_only) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return error("zlib inflateInit2 failed");
  std::vector<uint8_t> out(std::min<size_t>(std::max<size_t>(size * 4, 1 << 16), limit + 1));
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  size_t produced = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (produced >= limit) {
      inflateEnd(&zs);
      if (prefix_only) {
        out.resize(limit);
        return out;
      }
      return error("gzip data inflates to more than the ", limit,
                   " bytes its IDX header announces");
    }
    if (produced == out.size()) out.resize(std::min(out.size() * 2, limit + 1));
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = out.size() - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      return error("gzip stream is truncated (", produced, " bytes inflated before the end)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg ? zs.msg : "unknown error";
      inflateEnd(&zs);
      return error("corrupt gzip data: ", msg);
    }
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

}  // namespace

namespace {

// Checks the header at data[0..size) and returns the dims and the total file size they imply.
Status parse_idx_header(const uint8_t* data, size_t size, std::vector<int64_t>* dims,
                        int64_t* total) {
  if (size < 4) return error("too short for an IDX header (", size, " bytes, need at least 4)");
  if (data[0] != 0 || data[1] != 0)
    return error("bad IDX magic: expected 00 00 <type> <ndim>, found bytes ", int(data[0]), " ",
                 int(data[1]), " (not an IDX file?)");
  if (data[2] != 0x08)
    return error("unsupported IDX element type 0x", std::hex, int(data[2]),
                 " (only 0x08 = unsigned byte, as in MNIST, is supported)");
  const int ndim = data[3];
  if (ndim < 1 || ndim > 4) return error("IDX header says ", ndim, " dims; expected 1 to 4");
  if (size < 4 + 4 * size_t(ndim))
    return error("truncated IDX header: ", ndim, " dims need ", 4 + 4 * ndim, " bytes, file has ",
                 size);
  dims->clear();
  for (int i = 0; i < ndim; ++i) {
    const uint32_t d = be32(data + 4 + 4 * i);
    if (d == 0 || d > (1u << 30)) return error("IDX dim ", i, " is ", d, "; expected 1..2^30");
    dims->push_back(d);
  }
  int64_t numel = 0;
  if (!checked_product(dims->data(), dims->size(), &numel, int64_t(1) << 34))
    return error("IDX dims ", shape_str(*dims), " are absurdly large (over 2^34 bytes)");
  *total = int64_t(4 + 4 * ndim) + numel;
  return Status();
}

}  // namespace

Result<IdxArray> parse_idx(const uint8_t* data, size_t size) {
  std::vector<uint8_t> inflated;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    // The header first (at most 20 bytes), then exactly the size it announces, if a gzip of
    // this length can hold it.
    SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> head, gunzip(data, size, 20, true));
    std::vector<int64_t> dims;
    int64_t total = 0;
    SCV_TRY(parse_idx_header(head.data(), head.size(), &dims, &total));
    if (uint64_t(total) > kMaxDeflateRatio * size + 1024)
      return error("IDX header announces ", total, " bytes (dims ", shape_str(dims),
                   ") but a gzip stream of ", size, " bytes inflates to at most ",
                   kMaxDeflateRatio * size + 1024, " (corrupt or hostile file)");
    SCV_ASSIGN_OR_RETURN(inflated, gunzip(data, size, size_t(total), false));
    data = inflated.data();
    size = inflated.size();
  }
  IdxArray a;
  int64_t total = 0;
  SCV_TRY(parse_idx_header(data, size, &a.dims, &total));
  const size_t header = 4 + 4 * a.dims.size();
  const int64_t numel = total - int64_t(header);
  const size_t payload = size - header;
  if (payload != size_t(numel))
    return error("IDX size mismatch: dims ", shape_str(a.dims), " need ", numel, " data bytes, ",
                 payload < size_t(numel) ? "file is truncated with " : "file has ", payload);
  a.data.assign(data + header, data + size);
  return a;
}

Result<IdxArray> read_idx(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  auto r = parse_idx(bytes.data(), bytes.size());
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<Dataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  SCV_ASSIGN_OR_RETURN(IdxArray im, read_idx(images_path));
  SCV_ASSIGN_OR_RETURN(IdxArray lb, read_idx(labels_path));
  if (im.dims.size() != 3)
    return error(images_path, ": expected an images file with 3 dims [count, rows, cols], found ",
                 shape_str(im.dims), " (labels and images swapped?)");
  if (lb.dims.size() != 1)
    return error(labels_path, ": expected a labels file with 1 dim [count], found ",
                 shape_str(lb.dims));
  if (im.dims[0] != lb.dims[0])
    return error("image/label count mismatch: ", images_path, " has ", im.dims[0], " images but ",
                 labels_path, " has ", lb.dims[0], " labels");
  Dataset d;
  d.count = im.dims[0];
  d.rows = int(im.dims[1]);
  d.cols = int(im.dims[2]);
  for (int64_t i = 0; i < d.count; ++i)
    if (lb.data[i] > 9)
      return error(labels_path, ": label ", int(lb.data[i]), " at index ", i,
                   " is out of range 0..9");
  d.images = std::move(im.data);
  d.labels = std::move(lb.data);
  return d;
}

Result<Dataset> load_mnist_dir(const std::string& dir, bool train_split) {
  if (!is_directory(dir)) return error(dir, ": not a directory (expected the MNIST IDX files)");
  const std::string pre = dir + "/" + (train_split ? "train" : "t10k");
  auto pick = [](const std::string& base) {
    return file_exists(base) || !file_exists(base + ".gz") ? base : base + ".gz";
  };
  const std::string im = pick(pre + "-images-idx3-ubyte"), lb = pick(pre + "-labels-idx1-ubyte");
  if (!file_exists(im))
    return error("missing ", im, "[.gz] (expected MNIST-style IDX files in ", dir, ")");
  if (!file_exists(lb))
    return error("missing ", lb, "[.gz] (expected MNIST-style IDX files in ", dir, ")");
  return load_idx_dataset(im, lb);
}

Dataset dataset_head(const Dataset& d, int64_t n) {
  Dataset o;
  o.count = std::clamp<int64_t>(n, 0, d.count);
  o.rows = d.rows;
  o.cols = d.cols;
  const size_t px = size_t(d.rows) * d.cols;
  o.images.assign(d.images.begin(), d.images.begin() + o.count * px);
  o.labels.assign(d.labels.begin(), d.labels.begin() + o.count);
  return o;
}

void make_batch(const Dataset& d, const int64_t* idx, int n, Tensor* x, std::vector<int>* y) {
  const size_t px = size_t(d.rows) * d.cols;
  if (x->empty() || x->dim(0) != n) *x = Tensor({n, 1, d.rows, d.cols});
  y->resize(n);
  float* xd = x->data();
  for (int i = 0; i < n; ++i) {
    const uint8_t* src = d.images.data() + idx[i] * px;
    for (size_t k = 0; k < px; ++k) xd[i * px + k] = src[k] * (1.f / 255.f);
    (*y)[i] = d.labels[idx[i]];
  }
}

// ---- xoshiro256** seeded by splitmix64 ----------------------------------------------------------
Rng::Rng(uint64_t seed) {
  for (auto& s : s_) {
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s = z ^ (z >> 31);
  }
}

uint64_t Rng::next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return r;
}

float Rng::uniform() {
  return float(next() >> 40) * (1.f / 16777216.f);
}

float Rng::normal() {
  const float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
  return std::sqrt(-2.f * std::log(u1)) * std::cos(6.2831853f * u2);
}

}  // namespace scv::train
