// Bad input to the .pth reader: every case must come back as an error Status (or, for a bit
// flip in bytes the reader never uses, as the unchanged state_dict), never a crash. Also run
// under ASan+UBSan (-DSCV_SANITIZE=ON).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <iostream>
#include <random>

#include "io/pickle.h"
#include "io/zip_reader.h"
#include "pth_testdata.h"

using namespace scv;
using namespace std::string_literals;
using pth_test::PthData;
using pth_test::read_expected;

namespace {

std::vector<uint8_t> bytes_of(const std::string& p) {
  auto r = read_file(p);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<uint8_t>();
}

Result<StateDict> parse(const std::vector<uint8_t>& b) {
  return parse_pth(b.data(), b.size());
}

// Same names, shapes and bits as `want`.
bool same(const StateDict& sd, const std::vector<pth_test::Expected>& want) {
  if (sd.size() != want.size()) return false;
  for (size_t i = 0; i < sd.size(); ++i) {
    if (sd[i].name != want[i].name || sd[i].tensor.shape() != want[i].shape) return false;
    if (std::memcmp(sd[i].tensor.data(), want[i].values.data(),
                    want[i].values.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

// ---- a tiny stored-zip writer and pickle builder for hand-made checkpoints ----------------

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v));
  put32(s, static_cast<uint32_t>(v >> 32));
}

struct ZipFile {
  std::string name, data;
};

// zip64: the central directory records carry 0xFFFFFFFF and a ZIP64 extra field, and the
// archive ends with ZIP64 end-of-central-directory record + locator.
std::vector<uint8_t> make_zip(const std::vector<ZipFile>& files, bool zip64) {
  std::string out, cd;
  for (const auto& f : files) {
    const uint32_t off = static_cast<uint32_t>(out.size());
    const uint32_t crc = static_cast<uint32_t>(::crc32(
        0, reinterpret_cast<const Bytef*>(f.data.data()), static_cast<uInt>(f.data.size())));
    const uint32_t n = static_cast<uint32_t>(f.data.size());
    put32(out, 0x04034b50);
    for (uint32_t v : {20u, 0u, 0u, 0u, 0u}) put16(out, v);  // version, flags, method, time, date
    put32(out, crc);
    put32(out, n);
    put32(out, n);
    put16(out, static_cast<uint32_t>(f.name.size()));
    put16(out, 0);
    out += f.name + f.data;

    put32(cd, 0x02014b50);
    for (uint32_t v : {45u, 45u, 0u, 0u, 0u, 0u}) put16(cd, v);
    put32(cd, crc);
    put32(cd, zip64 ? 0xFFFFFFFF : n);
    put32(cd, zip64 ? 0xFFFFFFFF : n);
    put16(cd, static_cast<uint32_t>(f.name.size()));
    put16(cd, zip64 ? 28 : 0);
    for (uint32_t v : {0u, 0u, 0u}) put16(cd, v);  // comment, disk, internal attributes
    put32(cd, 0);                                  // external attributes
    put32(cd, zip64 ? 0xFFFFFFFF : off);
    cd += f.name;
    if (zip64) {
      put16(cd, 1);
      put16(cd, 24);
      put64(cd, n);
      put64(cd, n);
      put64(cd, off);
    }
  }
  const uint64_t cd_off = out.size();
  out += cd;
  if (zip64) {
    const uint64_t z = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, files.size());
    put64(out, files.size());
    put64(out, cd.size());
    put64(out, cd_off);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, z);
    put32(out, 1);
  }
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, zip64 ? 0xFFFF : static_cast<uint32_t>(files.size()));
  put16(out, zip64 ? 0xFFFF : static_cast<uint32_t>(files.size()));
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd.size()));
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd_off));
  put16(out, 0);
  return std::vector<uint8_t>(out.begin(), out.end());
}

// Pickle opcodes for a state_dict of _rebuild_tensor_v2 calls.
struct PickleBuilder {
  std::string s = "\x80\x02}(";  // PROTO 2, EMPTY_DICT, MARK
  void str(const std::string& v) {
    s += 'X';
    put32(s, static_cast<uint32_t>(v.size()));
    s += v;
  }
  void integer(int64_t v) {  // LONG1, 8 bytes
    s += "\x8a\x08";
    put64(s, static_cast<uint64_t>(v));
  }
  void ints(const std::vector<int64_t>& v) {
    s += '(';
    for (int64_t x : v) integer(x);
    s += 't';
  }
  void tensor(const std::string& name, const std::string& storage_type, const std::string& key,
              int64_t storage_numel, int64_t offset, const std::vector<int64_t>& size,
              const std::vector<int64_t>& stride) {
    str(name);
    s += "ctorch._utils\n_rebuild_tensor_v2\n((";
    str("storage");
    s += "ctorch\n" + storage_type + "\n";
    str(key);
    str("cpu");
    integer(storage_numel);
    s += "tQ";  // TUPLE, BINPERSID
    integer(offset);
    ints(size);
    ints(stride);
    s += "\x89";  // NEWFALSE
    s += "ccollections\nOrderedDict\n)R";
    s += "tR";
  }
  std::string finish() const { return s + "u."; }
};

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(v.begin()), v.size() * sizeof(float));
}

// Points the central-directory CRC of `name` at its (possibly modified) data, so corruption
// reaches the pickle VM instead of stopping at the CRC check.
void fix_crc(std::vector<uint8_t>& zip, const std::string& name, const uint8_t* data, size_t n) {
  const uint32_t crc = static_cast<uint32_t>(::crc32(0, data, static_cast<uInt>(n)));
  for (size_t p = 0; p + 46 + name.size() <= zip.size(); ++p) {
    if (zip[p] == 'P' && zip[p + 1] == 'K' && zip[p + 2] == 1 && zip[p + 3] == 2 &&
        zip[p + 28] == name.size() && zip[p + 29] == 0 &&
        std::memcmp(&zip[p + 46], name.data(), name.size()) == 0) {
      for (int i = 0; i < 4; ++i) zip[p + 16 + i] = static_cast<uint8_t>(crc >> (8 * i));
      return;
    }
  }
  ADD_FAILURE() << "no central directory entry for " << name;
}

// Offset and size of the entry's data (via our own reader, checked by the good-file tests).
std::pair<size_t, size_t> entry_span(const std::vector<uint8_t>& zip, const std::string& name) {
  auto zr = zip::ZipReader::open(zip.data(), zip.size());
  EXPECT_TRUE(zr.ok());
  const zip::Entry* e = zr->find(name);
  EXPECT_NE(e, nullptr);
  auto b = zr->read(*e);
  EXPECT_TRUE(b.ok());
  return {static_cast<size_t>(b->data - zip.data()), b->size};
}

}  // namespace

class PthCorrupt : public PthData {};

TEST_F(PthCorrupt, EmptyFile) {
  EXPECT_FALSE(parse_pth(nullptr, 0).ok());
  const std::string p = std::string(SCV_BINARY_DIR) + "/testdata/pth_empty.pth";
  ASSERT_TRUE(write_file_atomic(p, "", 0).ok());
  auto r = load_pth(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status().message();
}

TEST_F(PthCorrupt, NotACheckpoint) {
  for (const char* f : {"text.pth", "legacy.pth", "deflated.pth", "fullmodel.pth", "script.pt",
                        "expanded.pth", "small.txt", "small.bin"}) {
    auto r = load_pth(path(f));
    EXPECT_FALSE(r.ok()) << f;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(f), std::string::npos);
    }
  }
  auto legacy = load_pth(path("legacy.pth"));
  ASSERT_FALSE(legacy.ok());
  EXPECT_NE(legacy.status().message().find("legacy"), std::string::npos);
  auto deflated = load_pth(path("deflated.pth"));
  ASSERT_FALSE(deflated.ok());
  EXPECT_NE(deflated.status().message().find("method 8 = deflate"), std::string::npos);
  auto expanded = load_pth(path("expanded.pth"));
  ASSERT_FALSE(expanded.ok());
  EXPECT_NE(expanded.status().message().find("contiguous"), std::string::npos);
}

// Truncated at every 1/50 of the length and at every byte of the last 300 (the zip trailer).
TEST_F(PthCorrupt, Truncated) {
  for (const char* f : {"small.pth", "special.pth", "rezipped.pth"}) {
    const auto full = bytes_of(path(f));
    ASSERT_GT(full.size(), 300u);
    ASSERT_TRUE(parse(full).ok()) << f;
    std::vector<size_t> cuts;
    for (size_t k = 0; k < 50; ++k) cuts.push_back(full.size() * k / 50);
    for (size_t k = full.size() - 300; k < full.size(); ++k) cuts.push_back(k);
    for (size_t n : cuts) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
      EXPECT_FALSE(parse(cut).ok()) << f << " cut at " << n;
    }
  }
}

// Every single-bit flip of two small checkpoints: CRC-32 catches any flip in data the reader
// uses, so each result is an error or exactly the original state_dict.
TEST_F(PthCorrupt, EveryBitFlip) {
  for (const char* f : {"small", "rezipped"}) {
    const auto good = bytes_of(path(std::string(f) + ".pth"));
    const auto want = read_expected(path("small"));
    size_t errors = 0, same_result = 0;
    auto b = good;
    for (size_t pos = 0; pos < b.size(); ++pos) {
      for (int bit = 0; bit < 8; ++bit) {
        b[pos] ^= static_cast<uint8_t>(1u << bit);
        auto r = parse(b);
        if (!r.ok()) {
          ++errors;
        } else if (same(*r, want)) {
          ++same_result;
        } else {
          ADD_FAILURE() << f << ": flip of bit " << bit << " at byte " << pos
                        << " changed the result without an error";
        }
        b[pos] = good[pos];
      }
    }
    std::cout << f << ".pth: " << good.size() * 8 << " single-bit flips: " << errors << " errors, "
              << same_result << " unchanged results\n";
    // Most bytes matter (tensor data, pickle, headers); padding and timestamps do not.
    EXPECT_GT(errors, good.size() * 8 / 2) << f;
    EXPECT_GT(same_result, 0u) << f;
  }
}

// Bytes of data.pkl replaced (seeded) with its CRC fixed up so the pickle VM and the tensor
// rebuild see the damage: any result is fine as long as nothing crashes or leaks.
TEST_F(PthCorrupt, MutatedPickleWithValidCrc) {
  std::mt19937 rng(1234);
  for (const char* f : {"small", "special"}) {
    const auto good = bytes_of(path(std::string(f) + ".pth"));
    const std::string pkl = std::string(f) + "/data.pkl";
    const auto [off, n] = entry_span(good, pkl);
    ASSERT_GT(n, 100u);
    size_t errors = 0;
    const int kTrials = 3000;
    for (int t = 0; t < kTrials; ++t) {
      auto b = good;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = off + rng() % n;
        switch (rng() % 4) {
          case 0:
            b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            b[pos] = static_cast<uint8_t>(rng());
            break;
          case 2:
            b[pos] = 0xFF;
            break;
          default:
            b[pos] = 0;
            break;
        }
      }
      fix_crc(b, pkl, b.data() + off, n);
      errors += !parse(b).ok();
    }
    EXPECT_GT(errors, 0u);
    EXPECT_LT(errors, static_cast<size_t>(kTrials));  // some edits (e.g. to floats) still parse
  }
}

// ---- hand-made checkpoints: our zip writer and pickle builder ----------------------------------

TEST(PthHandMade, GoodClassicAndZip64) {
  PickleBuilder pb;
  pb.tensor("w", "FloatStorage", "0", 6, 0, {2, 3}, {1, 2});  // transposed view of (3, 2)
  pb.tensor("b", "FloatStorage", "0", 6, 4, {2}, {1});        // same storage, offset 4
  for (bool zip64 : {false, true}) {
    auto z =
        make_zip({{"m/data.pkl", pb.finish()}, {"m/data/0", floats({0, 1, 2, 3, 4, 5})}}, zip64);
    auto r = parse(z);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].tensor.shape(), (Shape{2, 3}));
    const float want_w[6] = {0, 2, 4, 1, 3, 5};
    for (int i = 0; i < 6; ++i) EXPECT_EQ((*r)[0].tensor[i], want_w[i]) << i;
    EXPECT_EQ((*r)[1].tensor[0], 4.0f);
    EXPECT_EQ((*r)[1].tensor[1], 5.0f);
  }
}

TEST(PthHandMade, BadTensorRecordsAreErrors) {
  constexpr int64_t kBig = int64_t{1} << 40;
  struct Case {
    const char* what;
    std::string type;
    int64_t storage_numel, offset;
    std::vector<int64_t> size, stride;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"offset past end", "FloatStorage", 6, 6, {1}, {1}, "reaches element"},
      {"stride past end", "FloatStorage", 6, 0, {2, 3}, {3, 2}, "reaches element"},
      {"negative offset", "FloatStorage", 6, -1, {2}, {1}, "offset"},
      {"negative size", "FloatStorage", 6, 0, {-2}, {1}, "bad size"},
      {"negative stride", "FloatStorage", 6, 3, {2}, {-1}, "bad size"},
      {"rank mismatch", "FloatStorage", 6, 0, {2, 3}, {1}, "do not match"},
      {"huge size", "FloatStorage", 6, 0, {kBig, kBig}, {0, 0}, "too large"},
      {"int64 overflow", "FloatStorage", 6, 0, {INT64_MAX}, {1}, "bad size"},
      {"expanded", "FloatStorage", 6, 0, {100, 6}, {0, 1}, "contiguous"},
      {"numel vs bytes", "FloatStorage", 5, 0, {5}, {1}, "bytes, expected"},
      {"numel vs bytes (dtype)", "DoubleStorage", 6, 0, {6}, {1}, "bytes, expected"},
      {"unknown storage", "ComplexFloatStorage", 3, 0, {1}, {1}, "unsupported storage"},
      {"negative numel", "FloatStorage", -6, 0, {1}, {1}, "malformed storage"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    PickleBuilder pb;
    pb.tensor("t", c.type, "0", c.storage_numel, c.offset, c.size, c.stride);
    auto r = parse(
        make_zip({{"m/data.pkl", pb.finish()}, {"m/data/0", floats({0, 1, 2, 3, 4, 5})}}, false));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("'t'"), std::string::npos) << r.status().message();
  }
}

TEST(PthHandMade, BadArchivesAreErrors) {
  PickleBuilder one;
  one.tensor("t", "FloatStorage", "0", 2, 0, {2}, {1});
  PickleBuilder two;
  two.tensor("t", "FloatStorage", "0", 2, 0, {2}, {1});
  two.tensor("t", "FloatStorage", "0", 2, 0, {2}, {1});
  PickleBuilder retyped;
  retyped.tensor("a", "FloatStorage", "0", 2, 0, {2}, {1});
  retyped.tensor("b", "IntStorage", "0", 2, 0, {2}, {1});
  const std::string data = floats({1, 2});
  struct Case {
    const char* what;
    std::vector<ZipFile> files;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"no data.pkl", {{"m/other", "x"}}, "no <folder>/data.pkl"},
      {"no entries", {}, "0 entries"},
      {"missing storage", {{"m/data.pkl", one.finish()}}, "storage entry 'm/data/0' is missing"},
      {"duplicate names", {{"m/data.pkl", two.finish()}, {"m/data/0", data}}, "appears twice"},
      {"one storage two types",
       {{"m/data.pkl", retyped.finish()}, {"m/data/0", data}},
       "two different types"},
      {"root is a list", {{"m/data.pkl", "\x80\x02]."}}, "expected a dict"},
      {"no tensors",
       {{"m/data.pkl",
         "\x80\x02}X\x01\x00\x00\x00"
         "aK\x01s."s}},
       "no tensors"},
      {"int key", {{"m/data.pkl", "\x80\x02}K\x01K\x02s."}}, "expected a string"},
      {"big endian",
       {{"m/data.pkl", one.finish()}, {"m/data/0", data}, {"m/byteorder", "big"}},
       "byte order"},
      {"pickle without STOP", {{"m/data.pkl", "\x80\x02}"}}, "m/data.pkl: pickle"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = parse(make_zip(c.files, false));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
  // Sanity: the same builder with a matching storage loads.
  auto ok = parse(make_zip(
      {{"m/data.pkl", one.finish()}, {"m/data/0", data}, {"m/byteorder", "little"}}, false));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)[0].tensor[1], 2.0f);
}

// ---- the pickle VM directly ---------------------------------------------------------------

namespace {
Result<pickle::Pickle> run(const std::string& s, const pickle::Limits& lim = pickle::Limits()) {
  return pickle::parse(reinterpret_cast<const uint8_t*>(s.data()), s.size(), lim);
}
}  // namespace

TEST(Pickle, Values) {
  auto none = run("N.");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->at(none->root).kind, pickle::Kind::none);
  auto neg = run("\x8a\x01\xff.");  // LONG1 -1
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(neg->at(neg->root).i, -1);
  auto i4 = run(std::string("J\xfe\xff\xff\xff.", 6));  // BININT -2
  ASSERT_TRUE(i4.ok());
  EXPECT_EQ(i4->at(i4->root).i, -2);
  auto fl = run(std::string("G\x3f\xf8\x00\x00\x00\x00\x00\x00.", 10));  // BINFLOAT 1.5
  ASSERT_TRUE(fl.ok());
  EXPECT_EQ(fl->at(fl->root).f, 1.5);
  auto tup = run("(K\x01K\x02K\x03t.");
  ASSERT_TRUE(tup.ok());
  EXPECT_EQ(tup->at(tup->root).items.size(), 3u);
  auto od =
      run("ccollections\nOrderedDict\n)RX\x01\x00\x00\x00"
          "kK\x07s."s);
  ASSERT_TRUE(od.ok());
  EXPECT_EQ(od->at(od->root).kind, pickle::Kind::dict);
  EXPECT_EQ(od->at(od->root).items.size(), 2u);
}

TEST(Pickle, MalformedStreamsAreErrors) {
  const std::vector<std::string> bad = {
      std::string(),                                           // empty
      ".",                                                     // STOP on an empty stack
      "N",                                                     // no STOP
      "\xff.",                                                 // unknown opcode
      "\x80\x09N.",                                            // protocol 9
      "t.",                                                    // TUPLE without MARK
      "(N\x86.",                                               // TUPLE2 reaching below the MARK
      "h\x05.",                                                // BINGET of a key never stored
      "X\xff\xff\xff\xff",                                     // string longer than the stream
      std::string("\x8d\xff\xff\xff\xff\xff\xff\xff\xff", 9),  // BINUNICODE8 huge length
      "\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.",         // 9-byte LONG1
      "]K\x01K\x02s.",                                         // SETITEM on a list
      "}K\x01"
      "a.",             // APPEND on a dict
      "cfoo\n",         // unterminated GLOBAL
      "NNR.",           // REDUCE args None
      "\x95\x01\x00"s,  // truncated FRAME
  };
  for (size_t i = 0; i < bad.size(); ++i) EXPECT_FALSE(run(bad[i]).ok()) << "case " << i;
  EXPECT_TRUE(run("N)\x85R.").ok());  // REDUCE(None, ((),)) is recorded, never executed
}

TEST(Pickle, LimitsAndDeepStructures) {
  pickle::Limits small;
  small.max_stack = 1000;
  small.max_memo = 10;
  small.max_values = 5000;
  EXPECT_FALSE(run(std::string(2000, ']') + ".", small).ok());   // stack
  EXPECT_FALSE(run(std::string(2000, '(') + "N.", small).ok());  // marks
  std::string memo = "N";
  for (int i = 0; i < 20; ++i) {
    memo += 'q';  // BINPUT i
    memo += static_cast<char>(i);
  }
  EXPECT_FALSE(run(memo + ".", small).ok());  // memo
  std::string many;
  for (int i = 0; i < 6000; ++i) many += "N0";  // NONE, POP
  EXPECT_FALSE(run(many + "N.", small).ok());   // values
  EXPECT_TRUE(run(many + "N.").ok());

  // 50k nested 1-tuples and a list that contains itself: no recursion, no leak.
  std::string nest(50000, '\x85');  // TUPLE1
  nest.insert(0, 1, 'N');
  nest += '.';
  auto deep = run(nest);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(pickle::describe(*deep, deep->root), "tuple (1 items)");
  auto cyc =
      run("]q\x00h\x00"
          "a."s);
  ASSERT_TRUE(cyc.ok());
  EXPECT_EQ(cyc->at(cyc->root).items[0], cyc->root);
}
