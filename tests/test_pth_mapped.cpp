// parse_pth over a MappedFile: float32 contiguous aligned tensors are zero-copy views of the
// mapping, everything else is copied; values, errors and lifetimes match the copying reader.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>

#include "io/zip_reader.h"
#include "pth_testdata.h"

using namespace scv;
using pth_test::expect_matches;
using pth_test::read_expected;

namespace {

bool inside(const Tensor& t, const MappedFile& f) {
  const auto* p = reinterpret_cast<const uint8_t*>(t.data());
  return p >= f.data() && p + t.numel() * sizeof(float) <= f.data() + f.size();
}

std::shared_ptr<const MappedFile> map_or_die(const std::string& path) {
  auto f = MappedFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? *f : nullptr;
}

}  // namespace

class PthMapped : public pth_test::PthData {};

TEST_F(PthMapped, SameValuesAsPyTorchForEveryFixture) {
  struct Case {
    const char* file;
    const char* expected;
  };
  for (const Case& c : {Case{"resnet18.pth", "resnet18"}, Case{"special.pth", "special"},
                        Case{"special_archive.pth", "special"}, Case{"small.pth", "small"},
                        Case{"rezipped.pth", "small"}}) {
    SCOPED_TRACE(c.file);
    auto file = map_or_die(path(c.file));
    ASSERT_NE(file, nullptr);
    auto sd = parse_pth(file);
    ASSERT_TRUE(sd.ok()) << sd.status().message();
    expect_matches(*sd, read_expected(path(c.expected)));
    for (const auto& nt : *sd) {
      if (inside(nt.tensor, *file)) {  // a view: must be float-aligned
        EXPECT_EQ(reinterpret_cast<uintptr_t>(nt.tensor.data()) % alignof(float), 0u) << nt.name;
      }
    }
  }
}

TEST_F(PthMapped, FloatWeightsAreViewsOtherTensorsAreCopies) {
  auto file = map_or_die(path("resnet18.pth"));
  ASSERT_NE(file, nullptr);
  auto sd = parse_pth(file);
  ASSERT_TRUE(sd.ok()) << sd.status().message();
  const Tensor* w = find_tensor(*sd, "conv1.weight");
  const Tensor* nbt = find_tensor(*sd, "bn1.num_batches_tracked");  // int64 -> float copy
  ASSERT_TRUE(w && nbt);
  EXPECT_TRUE(inside(*w, *file));
  EXPECT_FALSE(inside(*nbt, *file));

  auto special = map_or_die(path("special.pth"));
  ASSERT_NE(special, nullptr);
  auto sp = parse_pth(special);
  ASSERT_TRUE(sp.ok()) << sp.status().message();
  for (const char* copied : {"transposed", "f16", "i64"}) {  // strided or not float32
    const Tensor* t = find_tensor(*sp, copied);
    ASSERT_NE(t, nullptr) << copied;
    EXPECT_FALSE(inside(*t, *special)) << copied;
  }
}

// A view keeps the mapping alive after the StateDict and the caller's pointer are gone; the
// pages another view released are read again from the file, unchanged.
TEST_F(PthMapped, ViewsOwnTheMappingAndSurviveReleasedPages) {
  auto file = map_or_die(path("resnet18.pth"));
  ASSERT_NE(file, nullptr);
  std::weak_ptr<const MappedFile> weak = file;
  auto first = parse_pth(file);
  auto second = parse_pth(file);
  ASSERT_TRUE(first.ok() && second.ok());
  file.reset();
  Tensor fc = find_tensor(*second, "fc.weight")->clone();  // a private copy, for comparison
  Tensor fc_view = *find_tensor(*second, "fc.weight");
  first = StateDict();  // releases the pages of every view of `first` (the same pages)
  expect_matches(*second, read_expected(path("resnet18")));
  second = StateDict();
  EXPECT_FALSE(weak.expired());  // fc_view still holds the mapping
  for (int64_t i = 0; i < fc.numel(); ++i) ASSERT_EQ(fc_view[i], fc[i]) << i;
  fc_view = Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST_F(PthMapped, ErrorsMatchTheCopyingReader) {
  for (const char* name :
       {"legacy.pth", "deflated.pth", "text.pth", "fullmodel.pth", "script.pt", "expanded.pth"}) {
    SCOPED_TRACE(name);
    auto bytes = read_file(path(name));
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    auto copied = parse_pth(bytes->data(), bytes->size());
    auto file = map_or_die(path(name));
    ASSERT_NE(file, nullptr);
    auto mapped = parse_pth(file);
    ASSERT_FALSE(copied.ok());
    ASSERT_FALSE(mapped.ok());
    EXPECT_EQ(mapped.status().message(), copied.status().message());
  }
}

TEST(MappedFile, ErrorsAndEmptyFile) {
  const std::string dir = std::string(SCV_BINARY_DIR) + "/testdata";
  std::filesystem::create_directories(dir);
  auto missing = MappedFile::open(dir + "/no_such_file.pth");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot open"), std::string::npos);
  auto directory = MappedFile::open(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("not a regular file"), std::string::npos);
  const std::string empty = dir + "/mapped_empty.bin";
  ASSERT_TRUE(write_file_atomic(empty, "", 0).ok());
  auto e = MappedFile::open(empty);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->size(), 0u);
  EXPECT_EQ((*e)->data(), nullptr);
  auto sd = parse_pth(*e);
  ASSERT_FALSE(sd.ok());
  EXPECT_NE(sd.status().message().find("empty file"), std::string::npos);
  std::remove(empty.c_str());
}

// The zip reader's CRC-32 (carry-less multiply where available) equals zlib's for every length
// around the folding thresholds, at every alignment, with any data.
TEST(ZipCrc32, MatchesZlib) {
  std::vector<uint8_t> buf(5000 + 16);
  uint64_t s = 12345;
  for (auto& b : buf) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<uint8_t>(s >> 56);
  }
  for (size_t align = 0; align < 16; ++align)
    for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{63}, size_t{64},
                     size_t{65}, size_t{79}, size_t{80}, size_t{127}, size_t{128}, size_t{129},
                     size_t{200}, size_t{1000}, size_t{4099}, size_t{5000}}) {
      const uint8_t* p = buf.data() + align;
      const auto want = static_cast<uint32_t>(::crc32(0, p, static_cast<uInt>(n)));
      ASSERT_EQ(zip::crc32(p, n), want) << "align " << align << " n " << n;
    }
  std::vector<uint8_t> ones(4096, 0xFF), zeros(4096, 0);
  EXPECT_EQ(zip::crc32(ones.data(), ones.size()),
            static_cast<uint32_t>(::crc32(0, ones.data(), 4096)));
  EXPECT_EQ(zip::crc32(zeros.data(), zeros.size()),
            static_cast<uint32_t>(::crc32(0, zeros.data(), 4096)));
}
