// Hostile and broken image files: every one must give an error Status (or, for bit flips that
// keep the file valid, a sane image), never a crash, an exit() or a huge allocation.
// Run this under -DSCV_SANITIZE=ON as well (ASan + UBSan).
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

using namespace scv;

namespace {

std::vector<uint8_t> sample_jpeg() {
  auto bytes = read_file(std::string(SCV_SOURCE_DIR) + "/data/sample.jpg");
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

std::vector<uint8_t> sample_png(int channels) {
  Image img(37, 21, channels);
  std::mt19937 rng(5);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7 + (rng() & 15));
  auto bytes = encode_png(img);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

Result<Image> decode(const std::vector<uint8_t>& b, ColorMode mode = ColorMode::keep) {
  return decode_image(b.data(), b.size(), mode);
}

// Cut points: every byte of the first 64 and last 16, plus ~100 spread through the middle.
std::vector<size_t> cut_points(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 0; i < n && i < 64; ++i) cuts.push_back(i);
  for (size_t i = 64; i + 16 < n; i += std::max<size_t>(1, n / 100)) cuts.push_back(i);
  for (size_t i = n > 16 ? n - 16 : 0; i < n; ++i) cuts.push_back(i);
  return cuts;
}

void put_be32(std::vector<uint8_t>* v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v->push_back(uint8_t(x >> s));
}

// A PNG chunk with a correct CRC.
void add_chunk(std::vector<uint8_t>* png, const char type[4], const std::vector<uint8_t>& data) {
  put_be32(png, uint32_t(data.size()));
  const size_t start = png->size();
  png->insert(png->end(), type, type + 4);
  png->insert(png->end(), data.begin(), data.end());
  const uLong crc = crc32(0L, png->data() + start, uInt(png->size() - start));
  put_be32(png, uint32_t(crc));
}

std::vector<uint8_t> png_with_size(uint32_t w, uint32_t h) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(&ihdr, w);
  put_be32(&ihdr, h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB
  add_chunk(&png, "IHDR", ihdr);
  add_chunk(&png, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  add_chunk(&png, "IEND", {});
  return png;
}

// Offset of the first SOFn marker's height field, or 0.
size_t jpeg_sof_dims(const std::vector<uint8_t>& j) {
  for (size_t i = 2; i + 9 < j.size();) {
    if (j[i] != 0xFF) return 0;
    const uint8_t m = j[i + 1];
    const size_t len = size_t(j[i + 2]) << 8 | j[i + 3];
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) return i + 5;
    i += 2 + len;
  }
  return 0;
}

}  // namespace

TEST(ImageCorrupt, EmptyAndTiny) {
  std::vector<uint8_t> none;
  auto r = decode_image(nullptr, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status().message();
  for (std::vector<uint8_t> b : {std::vector<uint8_t>{0xFF},
                                 {0xFF, 0xD8},
                                 {0x89, 'P', 'N'},
                                 {0},
                                 {'G', 'I', 'F', '8', '9', 'a'}}) {
    auto t = decode(b);
    EXPECT_FALSE(t.ok());
  }
}

TEST(ImageCorrupt, TextFileNamedJpg) {
  const std::string path = std::string(SCV_BINARY_DIR) + "/corrupt_text.jpg";
  const char text[] = "hello, I am not a picture\n";
  ASSERT_TRUE(write_file_atomic(path, text, sizeof text - 1).ok());
  auto r = load_image(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path + ": not a JPEG, PNG, BMP, WebP or TIFF file (starts with 'hell')");
  const uint8_t bin[] = {0x00, 0x01, 'A', 0x7f, 9};
  auto b = decode_image(bin, sizeof bin);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "not a JPEG, PNG, BMP, WebP or TIFF file (starts with '\\x00\\x01A\\x7f')");
}

TEST(ImageCorrupt, TruncatedJpegAtManyPoints) {
  const auto full = sample_jpeg();
  ASSERT_GT(full.size(), 1000u);
  ASSERT_TRUE(decode(full).ok());
  int truncated_msgs = 0;
  for (size_t cut : cut_points(full.size())) {
    std::vector<uint8_t> b(full.begin(), full.begin() + cut);
    auto r = decode(b, ColorMode::rgb);
    EXPECT_FALSE(r.ok()) << "cut at " << cut << " of " << full.size() << " decoded";
    if (!r.ok() && r.status().message().find("truncated") != std::string::npos) ++truncated_msgs;
  }
  EXPECT_GT(truncated_msgs, 50);  // most cuts land in the entropy-coded data
}

TEST(ImageCorrupt, TruncatedPngAtManyPoints) {
  for (int c : {1, 3, 4}) {
    const auto full = sample_png(c);
    ASSERT_TRUE(decode(full).ok());
    for (size_t cut : cut_points(full.size())) {
      std::vector<uint8_t> b(full.begin(), full.begin() + cut);
      auto r = decode(b);
      EXPECT_FALSE(r.ok()) << "cut at " << cut << " of " << full.size() << " decoded";
    }
  }
}

TEST(ImageCorrupt, BitFlippedJpeg) {
  const auto full = sample_jpeg();
  auto ref = decode(full);
  ASSERT_TRUE(ref.ok());
  std::mt19937 rng(20240601);
  int errors = 0, total = 0;
  for (int trial = 0; trial < 300; ++trial) {
    auto b = full;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
    auto r = decode(b, trial % 2 ? ColorMode::rgb : ColorMode::gray);
    ++total;
    if (!r.ok()) {
      ++errors;
      EXPECT_FALSE(r.status().message().empty());
    } else {
      EXPECT_GT(r->width, 0);
      EXPECT_EQ(r->pixels.size(), size_t(r->width) * r->height * r->channels);
    }
  }
  std::printf("bit-flipped JPEG: %d of %d rejected\n", errors, total);
  EXPECT_GT(errors, 0);
}

TEST(ImageCorrupt, BitFlippedPngIsRejectedByChecksums) {
  const auto full = sample_png(3);
  std::mt19937 rng(77);
  int accepted = 0;
  for (int trial = 0; trial < 300; ++trial) {
    auto b = full;
    b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
    auto r = decode(b);
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(r->pixels.size(), size_t(r->width) * r->height * r->channels);
    }
  }
  // A single flipped bit breaks a chunk CRC, the zlib stream or the signature.
  EXPECT_EQ(accepted, 0);
}

TEST(ImageCorrupt, HugePngHeaderRefusedBeforeAllocating) {
  auto r = decode(png_with_size(100000, 100000));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger than the limit"), std::string::npos)
      << r.status().message();
  // Zero and over-2^31 sizes are invalid PNG headers.
  EXPECT_FALSE(decode(png_with_size(0, 10)).ok());
  EXPECT_FALSE(decode(png_with_size(0x80000000u, 1)).ok());
  // A small valid header with too little image data is a clean error too.
  EXPECT_FALSE(decode(png_with_size(10, 10)).ok());
}

TEST(ImageCorrupt, HugeJpegHeaderRefusedBeforeAllocating) {
  auto b = sample_jpeg();
  const size_t at = jpeg_sof_dims(b);
  ASSERT_GT(at, 0u);
  b[at] = b[at + 2] = 0xEA, b[at + 1] = b[at + 3] = 0x60;  // 60000 x 60000
  auto r = decode(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger than the limit"), std::string::npos)
      << r.status().message();
}

TEST(ImageCorrupt, BrokenExifIsIgnored) {
  const auto base = sample_jpeg();
  auto ref = decode(base);
  ASSERT_TRUE(ref.ok());
  // APP1 payloads: IFD offset past the end, entry count past the end, wrong type, bad value,
  // truncated TIFF header.
  const std::vector<std::vector<uint8_t>> payloads = {
      {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 0xFF, 0xFF, 0, 0},
      {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 0xFF, 0xFF, 0x12, 0x01},
      {'E', 'x', 'i',  'f',  0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
       0,   1,   0x01, 0x12, 0, 4, 0,   0,   0, 1,  0, 6, 0, 0},
      {'E', 'x', 'i',  'f',  0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
       0,   1,   0x01, 0x12, 0, 3, 0,   0,   0, 1,  0, 9, 0, 0},
      {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0},
  };
  for (size_t k = 0; k < payloads.size(); ++k) {
    std::vector<uint8_t> b(base.begin(), base.begin() + 2);
    const size_t len = payloads[k].size() + 2;
    b.insert(b.end(), {0xFF, 0xE1, uint8_t(len >> 8), uint8_t(len)});
    b.insert(b.end(), payloads[k].begin(), payloads[k].end());
    b.insert(b.end(), base.begin() + 2, base.end());
    auto r = decode(b);
    ASSERT_TRUE(r.ok()) << "payload " << k << ": " << r.status().message();
    EXPECT_EQ(r->width, ref->width) << "payload " << k;
    EXPECT_EQ(r->pixels, ref->pixels) << "payload " << k;
  }
}

TEST(ImageCorrupt, StrayBytesBetweenMarkersAreTolerated) {
  // libjpeg warns "extraneous bytes before marker" and loses nothing; PIL decodes such files.
  const auto base = sample_jpeg();
  auto ref = decode(base);
  ASSERT_TRUE(ref.ok());
  const size_t len = size_t(base[4]) << 8 | base[5];  // the segment right after SOI
  std::vector<uint8_t> b(base.begin(), base.begin() + 4 + len);
  b.insert(b.end(), {0x00, 0x12, 0x34});
  b.insert(b.end(), base.begin() + 4 + len, base.end());
  auto r = decode(b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pixels, ref->pixels);
}
