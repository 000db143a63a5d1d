// Image codecs against PIL: PNG round trips, EXIF orientation, JPEG/PNG colour types and
// ColorMode conversions. The test images and PIL's reading of them are generated at test time
// by tests/py/image_make_test_images.py (PIL's ImageOps.exif_transpose + convert()).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <unistd.h>

#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

using namespace scv;

namespace {

Image random_image(int w, int h, int c, uint32_t seed) {
  Image img(w, h, c);
  std::mt19937 rng(seed);
  for (auto& p : img.pixels) p = uint8_t(rng());
  return img;
}

std::string temp_dir() {
  std::string d = std::string(SCV_BINARY_DIR) + "/test_image_tmp";
  std::string cmd = "mkdir -p '" + d + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return d;
}

// Reads "W H C\n" + bytes written by the generator script.
bool read_raw(const std::string& path, Image* img) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::string header;
  std::getline(f, header);
  std::istringstream hs(header);
  int w = 0, h = 0, c = 0;
  hs >> w >> h >> c;
  if (w <= 0 || h <= 0 || c <= 0) return false;
  *img = Image(w, h, c);
  f.read(reinterpret_cast<char*>(img->pixels.data()), std::streamsize(img->pixels.size()));
  return bool(f);
}

void expect_same(const Image& got, const Image& want, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, want.channels) << what;
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    if (got.pixels[i] != want.pixels[i] && diff++ == 0) first = i;
  EXPECT_EQ(diff, 0u) << what << ": " << diff << " bytes differ, first at byte " << first
                      << " (got " << int(got.pixels[first]) << ", PIL " << int(want.pixels[first])
                      << ")";
}

// Generated once for the whole suite; empty string with a reason when Python/PIL are missing.
class PilImages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest runs each test case in its own process, maybe in parallel.
    dir_ = temp_dir() + "/pil_" + std::to_string(getpid());
    const std::string cmd = "/usr/bin/python3 '" + std::string(SCV_SOURCE_DIR) +
                            "/tests/py/image_make_test_images.py' '" + dir_ + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) {
      skip_reason_ = "generator failed (needs /usr/bin/python3 with PIL and numpy): " + cmd;
    }
  }
  static void TearDownTestSuite() {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }
  // Decodes dir/file in `mode` and compares with dir/<name>.<suffix>.raw.
  void check(const std::string& file, const std::string& name, ColorMode mode,
             const std::string& suffix) {
    Image want;
    ASSERT_TRUE(read_raw(dir_ + "/" + name + "." + suffix + ".raw", &want)) << name << suffix;
    auto got = load_image(dir_ + "/" + file, mode);
    ASSERT_TRUE(got.ok()) << got.status().message();
    expect_same(*got, want, file + " as " + suffix);
  }
  static std::string dir_, skip_reason_;
};
std::string PilImages::dir_, PilImages::skip_reason_;

}  // namespace

TEST(ImagePng, RoundTripChannelsAndOddSizes) {
  const std::string dir = temp_dir();
  const int sizes[][2] = {{1, 1}, {7, 13}, {127, 3}, {300, 1}, {1, 65}};
  uint32_t seed = 1;
  for (int c : {1, 3, 4}) {
    for (const auto& s : sizes) {
      Image img = random_image(s[0], s[1], c, seed++);
      const std::string path = dir + "/rt.png";
      ASSERT_TRUE(save_png(path, img).ok());
      auto back = load_image(path);
      ASSERT_TRUE(back.ok()) << back.status().message();
      expect_same(*back, img,
                  "round trip " + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" +
                      std::to_string(c));
    }
  }
}

TEST(ImagePng, SaveRefusesBadImagesAndKeepsOldFile) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/keep.png";
  Image good = random_image(5, 4, 3, 7);
  ASSERT_TRUE(save_png(path, good).ok());
  Image two(5, 4, 2);
  Status st = save_png(path, two);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("2 channels"), std::string::npos) << st.message();
  Image empty;
  EXPECT_FALSE(save_png(path, empty).ok());
  auto back = load_image(path);  // the failed saves left the old file intact
  ASSERT_TRUE(back.ok());
  expect_same(*back, good, "old file");
  EXPECT_FALSE(save_png(dir + "/no/such/dir/x.png", good).ok());
}

TEST(ImageConvert, ChannelsAndLuma) {
  Image rgb(3, 1, 3);
  const uint8_t px[] = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  std::copy(std::begin(px), std::end(px), rgb.pixels.begin());
  Image g = convert_channels(rgb, 1);
  // PIL: (19595 R + 38470 G + 7471 B + 0x8000) >> 16
  EXPECT_EQ(g.pixels[0], 76);
  EXPECT_EQ(g.pixels[1], 150);
  EXPECT_EQ(g.pixels[2], (10 * 19595 + 20 * 38470 + 30 * 7471 + 0x8000) >> 16);
  Image rgba = convert_channels(g, 4);
  EXPECT_EQ(rgba.channels, 4);
  EXPECT_EQ(rgba.at(1, 0, 0), 150);
  EXPECT_EQ(rgba.at(1, 0, 2), 150);
  EXPECT_EQ(rgba.at(1, 0, 3), 255);
  Image back = convert_channels(convert_channels(rgb, 4), 3);
  expect_same(back, rgb, "rgb -> rgba -> rgb");
}

TEST(ImageOrientation, AllEightOnA2x3) {
  // Source (w=2, h=3): values 1..6 row by row.  1 2 / 3 4 / 5 6
  Image src(2, 3, 1);
  for (int i = 0; i < 6; ++i) src.pixels[size_t(i)] = uint8_t(i + 1);
  const std::vector<uint8_t> want[9] = {
      {},
      {1, 2, 3, 4, 5, 6},  // 1 identity
      {2, 1, 4, 3, 6, 5},  // 2 mirror
      {6, 5, 4, 3, 2, 1},  // 3 rotate 180
      {5, 6, 3, 4, 1, 2},  // 4 flip
      {1, 3, 5, 2, 4, 6},  // 5 transpose (3x2)
      {5, 3, 1, 6, 4, 2},  // 6 rotate 90 cw
      {6, 4, 2, 5, 3, 1},  // 7 transverse
      {2, 4, 6, 1, 3, 5},  // 8 rotate 90 ccw
  };
  for (int o = 1; o <= 8; ++o) {
    Image out = apply_exif_orientation(src, o);
    EXPECT_EQ(out.width, o >= 5 ? 3 : 2) << o;
    EXPECT_EQ(out.pixels, want[o]) << "orientation " << o;
  }
}

TEST_F(PilImages, ExifOrientationMatchesExifTranspose) {
  for (int o = 1; o <= 8; ++o) {
    for (const char* endian : {"ii", "mm"}) {
      const std::string name = "exif" + std::to_string(o) + "_" + endian;
      check(name + ".jpg", name, ColorMode::rgb, "rgb");
      check(name + ".jpg", name, ColorMode::gray, "l");
    }
  }
}

TEST_F(PilImages, JpegColourTypes) {
  for (const char* name : {"gray", "rgb444", "progressive", "cmyk"}) {
    check(std::string(name) + ".jpg", name, ColorMode::keep, "keep");
    check(std::string(name) + ".jpg", name, ColorMode::rgb, "rgb");
    check(std::string(name) + ".jpg", name, ColorMode::gray, "l");
  }
}

TEST_F(PilImages, PngColourTypes) {
  for (const char* name : {"rgba", "la", "gray_png", "bilevel", "palette"}) {
    check(std::string(name) + ".png", name, ColorMode::keep, "keep");
    check(std::string(name) + ".png", name, ColorMode::rgb, "rgb");
    check(std::string(name) + ".png", name, ColorMode::gray, "l");
  }
  check("gray16.png", "gray16", ColorMode::keep, "keep");  // high byte of each sample
}

TEST(ImageLoad, ClearErrors) {
  const std::string dir = temp_dir();
  const std::string txt = dir + "/photo.jpg";
  const char hello[] = "hello world\n";
  ASSERT_TRUE(write_file_atomic(txt, hello, sizeof hello - 1).ok());
  auto r = load_image(txt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), txt + ": not a JPEG or PNG file (starts with 'hell')");
  auto missing = load_image(dir + "/does_not_exist.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does_not_exist.png"), std::string::npos);
}
