// The fuzz targets: one function per reader, each taking arbitrary bytes and requiring only that
// the reader returns (an error is fine) without a crash, a sanitizer report or a runaway
// allocation. The same functions serve three callers:
//   - libFuzzer (tests/fuzz/fuzz_main.cpp, built by scripts/fuzz.sh with clang);
//   - the corpus replay in the ordinary test suite (tests/test_fuzz_corpus.cpp), which runs every
//     file of tests/fuzz/corpus/<target>/ through its target, also under gcc's ASan+UBSan;
//   - anyone reproducing a crash: build/tests/test_fuzz_corpus --gtest_filter=... or fuzz_main.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "io/pickle.h"
#include "io/zip_reader.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"
#include "scratchcv/pth.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"
#include "scratchcv/train.h"

namespace scv_fuzz {

// Readers that take a path get the bytes through one temporary file per process.
inline std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/scv_fuzz_" + std::to_string(::getpid());
  }();
  return p;
}
// A plain write: write_file_atomic's fsyncs made the path-based targets I/O-bound (a third of
// a core), and a fuzz input needs no durability.
inline bool to_temp(const uint8_t* d, size_t n) {
  FILE* f = std::fopen(temp_path().c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(d, 1, n, f) == n;
  return std::fclose(f) == 0 && ok;
}

inline int fuzz_zip(const uint8_t* d, size_t n) {
  auto z = scv::zip::ZipReader::open(d, n);
  if (z.ok())
    for (const auto& e : z->entries()) (void)z->read(e);
  return 0;
}

inline int fuzz_pickle(const uint8_t* d, size_t n) {
  auto p = scv::pickle::parse(d, n);
  if (p.ok() && p->root >= 0) (void)scv::pickle::describe(*p, p->root);
  return 0;
}

inline int fuzz_pth(const uint8_t* d, size_t n) {
  auto sd = scv::parse_pth(d, n);
  if (sd.ok()) (void)scv::detect_resnet(*sd);
  return 0;
}

inline int fuzz_onnx(const uint8_t* d, size_t n) {
  (void)scv::parse_onnx(d, n);
  (void)scv::parse_onnx_tensor(d, n);
  return 0;
}

inline int fuzz_image(const uint8_t* d, size_t n) {
  auto img = scv::decode_image(d, n, scv::ColorMode::keep);
  if (img.ok() && img->pixels.size() < (size_t(1) << 22))
    (void)scv::imagenet_preprocess(scv::convert_channels(*img, 3), 32, 24);
  return 0;
}

inline int fuzz_idx(const uint8_t* d, size_t n) {
  (void)scv::train::parse_idx(d, n);
  return 0;
}

inline int fuzz_checkpoint(const uint8_t* d, size_t n) {
  if (to_temp(d, n)) (void)scv::train::load_checkpoint(temp_path());
  return 0;
}

inline int fuzz_load_model(const uint8_t* d, size_t n) {
  if (to_temp(d, n)) (void)scv::load_model(temp_path(), "");
  return 0;
}

// TFLite: the reader, then (for models small enough to run within the fuzzer's limits) the
// quantized engine on the reference kernels and on the best fast kernels, which must agree byte
// for byte: a model the planner accepts must never make a kernel read or write out of bounds.
inline int fuzz_tflite(const uint8_t* d, size_t n) {
  auto m = scv::tflite::parse_tflite(d, n);
  if (!m.ok()) return 0;
  // Budget: activations and per-operator work bounded (the reader already bounds constants by
  // the file size); a larger model is valid but not what a 64 KiB fuzz input should run.
  int64_t total = 0, work = 0;
  for (const auto& t : m->tensors) {
    const int64_t e = t.numel();
    if (e < 0 || e > (int64_t(1) << 20)) return 0;
    total += e;
  }
  for (const auto& op : m->ops) {
    int64_t out = 1, w = 1;
    if (!op.outputs.empty() && op.outputs[0] >= 0) out = m->tensors[size_t(op.outputs[0])].numel();
    if (op.inputs.size() > 1 && op.inputs[1] >= 0) w = m->tensors[size_t(op.inputs[1])].numel();
    work += out * std::max<int64_t>(w, 1);
  }
  if (total > (int64_t(1) << 22) || work > (int64_t(1) << 26)) return 0;
  std::vector<uint8_t> ref;
  for (const char* isa : {"ref", ""}) {
    auto s = scv::QSession::create(*m, scv::QSessionOptions{1, isa});
    if (!s.ok()) return 0;
    const scv::QTensorInfo& in = (*s)->input_info();
    for (size_t i = 0; i < in.bytes; ++i) (*s)->input_data()[i] = uint8_t(i * 151 + 7);
    if (in.type == scv::tflite::DType::f32)  // finite floats
      for (size_t i = 0; i + 4 <= in.bytes; i += 4) {
        const float f = float(int(i % 97) - 48) * 0.1f;
        std::memcpy((*s)->input_data() + i, &f, 4);
      }
    (*s)->run();
    const scv::QTensorInfo& o = (*s)->output_info();
    std::vector<uint8_t> out((*s)->output_data(), (*s)->output_data() + o.bytes);
    if (ref.empty()) {
      ref = std::move(out);
    } else if (out != ref) {
      std::fprintf(stderr, "fuzz_tflite: %s kernels differ from the reference\n",
                   (*s)->describe().c_str());
      std::abort();
    }
  }
  return 0;
}

// ---- .pth, structure-aware ----------------------------------------------------------------------
// Byte-level mutation almost never gets a zip with valid CRCs around a pickle that still calls
// _rebuild_tensor_v2, so the size/stride/offset checks stay unreached. Here the input is a
// recipe: each byte picks a value (a tensor count, a storage type and length, an offset, a rank,
// sizes and strides from a palette of awkward values), and the harness writes a well-formed zip
// holding a data.pkl that rebuilds those tensors, then parses it.

class Recipe {
 public:
  Recipe(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint8_t byte() { return pos_ < n_ ? d_[pos_++] : 0; }
  int64_t pick() {
    static const int64_t kPalette[] = {0,
                                       1,
                                       2,
                                       3,
                                       4,
                                       7,
                                       16,
                                       64,
                                       255,
                                       256,
                                       65536,
                                       -1,
                                       int64_t(1) << 31,
                                       int64_t(1) << 32,
                                       int64_t(1) << 40,
                                       int64_t(1) << 62,
                                       INT64_MAX};
    const uint8_t b = byte();
    if (b < 128) return b % 17;
    return kPalette[b % (sizeof kPalette / sizeof kPalette[0])];
  }

 private:
  const uint8_t* d_;
  size_t n_, pos_ = 0;
};

inline void pk_int(std::string& p, int64_t v) {
  if (v >= 0 && v < 256) {
    p += 'K';
    p += char(v);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    p += 'J';
    for (int k = 0; k < 4; ++k) p += char(uint32_t(v) >> (8 * k));
  } else {
    p += '\x8a';
    p += char(8);
    for (int k = 0; k < 8; ++k) p += char(uint64_t(v) >> (8 * k));
  }
}
inline void pk_str(std::string& p, const std::string& s) {
  p += 'X';
  for (int k = 0; k < 4; ++k) p += char(uint32_t(s.size()) >> (8 * k));
  p += s;
}

inline void zip_add(std::vector<uint8_t>& z, std::vector<uint8_t>& cd, const std::string& name,
                    const std::string& data) {
  auto u16 = [](std::vector<uint8_t>& b, uint32_t v) {
    b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8));
  };
  auto u32 = [&](std::vector<uint8_t>& b, uint32_t v) { u16(b, v & 0xffff), u16(b, v >> 16); };
  const uint32_t crc = scv::zip::crc32(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  const uint32_t off = uint32_t(z.size());
  u32(z, 0x04034b50), u16(z, 20), u16(z, 0), u16(z, 0), u16(z, 0), u16(z, 0);
  u32(z, crc), u32(z, uint32_t(data.size())), u32(z, uint32_t(data.size()));
  u16(z, uint32_t(name.size())), u16(z, 0);
  z.insert(z.end(), name.begin(), name.end());
  z.insert(z.end(), data.begin(), data.end());
  u32(cd, 0x02014b50), u16(cd, 20), u16(cd, 20), u16(cd, 0), u16(cd, 0), u16(cd, 0), u16(cd, 0);
  u32(cd, crc), u32(cd, uint32_t(data.size())), u32(cd, uint32_t(data.size()));
  u16(cd, uint32_t(name.size())), u16(cd, 0), u16(cd, 0), u16(cd, 0), u16(cd, 0), u32(cd, 0);
  u32(cd, off);
  cd.insert(cd.end(), name.begin(), name.end());
}

// Appends the central directory and the end record: the archive of `count` entries.
inline std::vector<uint8_t> zip_finish(std::vector<uint8_t> z, const std::vector<uint8_t>& cd,
                                       uint32_t count) {
  const uint32_t cd_off = uint32_t(z.size()), cd_size = uint32_t(cd.size());
  z.insert(z.end(), cd.begin(), cd.end());
  const uint8_t eocd[22] = {0x50,
                            0x4b,
                            0x05,
                            0x06,
                            0,
                            0,
                            0,
                            0,
                            uint8_t(count),
                            uint8_t(count >> 8),
                            uint8_t(count),
                            uint8_t(count >> 8),
                            uint8_t(cd_size),
                            uint8_t(cd_size >> 8),
                            uint8_t(cd_size >> 16),
                            uint8_t(cd_size >> 24),
                            uint8_t(cd_off),
                            uint8_t(cd_off >> 8),
                            uint8_t(cd_off >> 16),
                            uint8_t(cd_off >> 24),
                            0,
                            0};
  z.insert(z.end(), eocd, eocd + 22);
  return z;
}

// The recipe as a torch.save zip (also used to write the seed corpus).
inline std::vector<uint8_t> pth_from_recipe(const uint8_t* d, size_t n) {
  static const char* kTypes[] = {"FloatStorage", "DoubleStorage",   "HalfStorage",  "LongStorage",
                                 "ByteStorage",  "BFloat16Storage", "NoSuchStorage"};
  static const int kSizes[] = {4, 8, 2, 8, 1, 2, 4};
  Recipe r(d, n);
  const int tensors = 1 + r.byte() % 4;
  std::string p = "\x80\x02}(";
  std::vector<std::pair<std::string, std::string>> storages;
  for (int t = 0; t < tensors; ++t) {
    const int type = r.byte() % 7;
    const int key = r.byte() % 3;  // shared keys exercise "referenced with two types/sizes"
    const int64_t numel = r.pick(), offset = r.pick();
    const int rank = r.byte() % 6;
    pk_str(p, t == 0 ? "conv1.weight" : "layer1.0.conv2.weight" + std::to_string(t));
    p += "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(";
    pk_str(p, "storage");
    p += std::string("ctorch\n") + kTypes[type] + "\n";
    pk_str(p, std::to_string(key));
    pk_str(p, "cpu");
    pk_int(p, numel);
    p += "tQ";
    pk_int(p, offset);
    p += "(";
    for (int k = 0; k < rank; ++k) pk_int(p, r.pick());
    p += "t(";
    for (int k = 0; k < rank; ++k) pk_int(p, r.pick());
    p += "t\x89"
         "ccollections\nOrderedDict\n)RtR";
    // Storage bytes: what numel claims, capped at 4 KiB (a shorter entry is an error to find).
    const size_t want = numel >= 0 && numel < 1024 ? size_t(numel) * size_t(kSizes[type]) : 4096;
    std::string bytes(std::min<size_t>(want, 4096), '\0');
    for (char& c : bytes) c = char(r.byte());
    storages.emplace_back(std::to_string(key), bytes);
  }
  p += "u.";
  std::vector<uint8_t> z, cd;
  zip_add(z, cd, "archive/data.pkl", p);
  std::vector<std::string> seen;
  for (const auto& [key, bytes] : storages) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    zip_add(z, cd, "archive/data/" + key, bytes);
  }
  return zip_finish(std::move(z), cd, uint32_t(seen.size() + 1));
}

inline int fuzz_pth_structured(const uint8_t* d, size_t n) {
  const std::vector<uint8_t> z = pth_from_recipe(d, n);
  return fuzz_pth(z.data(), z.size());
}

struct Target {
  const char* name;
  int (*fn)(const uint8_t*, size_t);
};
inline const Target kTargets[] = {
    {"zip", fuzz_zip},
    {"pickle", fuzz_pickle},
    {"pth", fuzz_pth},
    {"pth_structured", fuzz_pth_structured},
    {"onnx", fuzz_onnx},
    {"image", fuzz_image},
    {"idx", fuzz_idx},
    {"checkpoint", fuzz_checkpoint},
    {"load_model", fuzz_load_model},
    {"tflite", fuzz_tflite},
};

}  // namespace scv_fuzz
