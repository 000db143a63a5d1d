// Image codecs against PIL: PNG round trips, EXIF orientation, JPEG/PNG colour types and
// ColorMode conversions. The test images and PIL's reading of them are generated at test time
// by tests/py/image_make_test_images.py (PIL's ImageOps.exif_transpose + convert()).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <unistd.h>

// jpeglib.h needs <cstdio> first.
#include <jpeglib.h>

#include "image_test_util.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

using namespace scv;
using scv::testing::expect_same_image;

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
    expect_same_image(*got, want, file + " as " + suffix, "PIL");
  }
  static std::string dir_, skip_reason_;
};
std::string PilImages::dir_, PilImages::skip_reason_;

// Encodes 4-channel data as a CMYK JPEG stored as `space` (JCS_CMYK or JCS_YCCK), quality 100,
// no subsampling. libjpeg writes the Adobe marker for both, as Photoshop does.
std::vector<uint8_t> encode_cmyk_jpeg(const Image& cmyk, J_COLOR_SPACE space) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = JDIMENSION(cmyk.width);
  cinfo.image_height = JDIMENSION(cmyk.height);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, space);
  for (int c = 0; c < 4; ++c)
    cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(cmyk.row(int(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buf, buf + size);
  free(buf);
  return out;
}

}  // namespace

TEST(ImageJpeg, CmykAndYcckAgree) {
  // Stored (Adobe-inverted) CMYK values s; PIL: C = 255 - s, RGB = (255-K) - C (255-K) / 255.
  Image s(24, 16, 4);
  for (int y = 0; y < s.height; ++y)
    for (int x = 0; x < s.width; ++x) {
      s.at(x, y, 0) = uint8_t(255 - x * 10), s.at(x, y, 1) = uint8_t(y * 15);
      s.at(x, y, 2) = uint8_t(128 + x * 2 - y * 3), s.at(x, y, 3) = uint8_t(200 - y * 5);
    }
  for (J_COLOR_SPACE space : {JCS_CMYK, JCS_YCCK}) {
    const auto bytes = encode_cmyk_jpeg(s, space);
    auto rgb = decode_image(bytes.data(), bytes.size());
    ASSERT_TRUE(rgb.ok()) << rgb.status().message();
    ASSERT_EQ(rgb->channels, 3);
    int max_diff = 0;
    for (int y = 0; y < s.height; ++y)
      for (int x = 0; x < s.width; ++x)
        for (int c = 0; c < 3; ++c) {
          const int nk = s.at(x, y, 3);
          const int want = nk - ((255 - s.at(x, y, c)) * nk + 127) / 255;
          max_diff = std::max(max_diff, std::abs(rgb->at(x, y, c) - want));
        }
    std::printf("%s JPEG: max |RGB - formula| = %d\n", space == JCS_CMYK ? "CMYK" : "YCCK",
                max_diff);
    EXPECT_LE(max_diff, space == JCS_CMYK ? 1 : 4) << (space == JCS_CMYK ? "CMYK" : "YCCK");
  }
}

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
      expect_same_image(*back, img,
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
  expect_same_image(*back, good, "old file");
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
  expect_same_image(back, rgb, "rgb -> rgba -> rgb");
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

TEST_F(PilImages, ResizeMatchesPilBilinear) {
  for (int k = 0; k < 9; ++k) {
    Image src, want;
    const std::string base = dir_ + "/resize_" + std::to_string(k);
    ASSERT_TRUE(read_raw(base + ".src.raw", &src) && read_raw(base + ".out.raw", &want)) << k;
    Image got = resize_bilinear_antialias(src, want.width, want.height);
    expect_same_image(got, want,
                      "resize " + std::to_string(src.width) + "x" + std::to_string(src.height) +
                          "x" + std::to_string(src.channels) + " -> " + std::to_string(want.width) +
                          "x" + std::to_string(want.height),
                      "PIL");
  }
}

TEST(ImagePreprocess, CenterCropHalvesAndPadding) {
  // 5x4 image, values 1..20. torchvision: top = round((4 - 3) / 2) = round(0.5) = 0 (halves to
  // even), left = round((5 - 2) / 2) = round(1.5) = 2. (Checked against torchvision itself on
  // real photos by tests/py/image_preprocess_golden.py.)
  Image img(5, 4, 1);
  for (int i = 0; i < 20; ++i) img.pixels[size_t(i)] = uint8_t(i + 1);
  Image c = center_crop(img, 2, 3);
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{3, 4, 8, 9, 13, 14}));
  // Larger than the image: zero padding, left gets (8 - 5) // 2 = 1, top gets (5 - 4) // 2 = 0.
  Image p = center_crop(img, 8, 5);
  ASSERT_EQ(p.width, 8);
  EXPECT_EQ(p.at(0, 0, 0), 0);
  EXPECT_EQ(p.at(1, 0, 0), 1);
  EXPECT_EQ(p.at(5, 3, 0), 20);
  EXPECT_EQ(p.at(6, 3, 0), 0);
  EXPECT_EQ(p.at(3, 4, 0), 0);
}

TEST(ImagePreprocess, ShorterSideRule) {
  // torchvision 0.14: short side -> 256, long side int(256 * long / short).
  const int cases[][4] = {{768, 576, 341, 256}, {576, 768, 256, 341}, {500, 500, 256, 256},
                          {773, 512, 386, 256}, {1, 3, 256, 768},     {640, 427, 383, 256}};
  for (const auto& c : cases) {
    Image img(c[0], c[1], 3);
    Image out = resize_shorter_side(img, 256);
    EXPECT_EQ(out.width, c[2]) << c[0] << "x" << c[1];
    EXPECT_EQ(out.height, c[3]) << c[0] << "x" << c[1];
  }
}

TEST(ImagePreprocess, ConstantImageAndNormalisation) {
  Image img(300, 200, 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = 255, img.pixels[i + 1] = 0, img.pixels[i + 2] = 128;
  }
  auto t = imagenet_preprocess(img);
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->shape(), (Shape{3, 224, 224}));
  const float want[3] = {(1.0f - 0.485f) / 0.229f, (0.0f - 0.456f) / 0.224f,
                         (128 / 255.0f - 0.406f) / 0.225f};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 224 * 224; i += 997) EXPECT_EQ((*t)[c * 224 * 224 + i], want[c]) << c;
}

TEST(ImagePreprocess, RefusesBadInput) {
  EXPECT_FALSE(imagenet_preprocess(Image()).ok());
  EXPECT_FALSE(imagenet_preprocess(Image(4, 4, 2)).ok());
  EXPECT_FALSE(imagenet_preprocess(Image(4, 4, 3), 0, 224).ok());
  // 1 x 100000 would become 256 x 25.6 M pixels: refused rather than allocated.
  auto r = imagenet_preprocess(Image(1, 100000, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("25600000"), std::string::npos) << r.status().message();
  // Gray and RGBA inputs are converted to RGB first (as PIL's convert('RGB')).
  EXPECT_TRUE(imagenet_preprocess(Image(230, 240, 1)).ok());
  EXPECT_TRUE(imagenet_preprocess(Image(230, 240, 4)).ok());
}

// A text file named .jpg: ImageCorrupt.TextFileNamedJpg (test_image_corrupt.cpp).
TEST(ImageLoad, ClearErrors) {
  const std::string dir = temp_dir();
  auto missing = load_image(dir + "/does_not_exist.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does_not_exist.png"), std::string::npos);
}

// write_files_atomic: every file complete, no temporaries left; a bad path anywhere in the batch
// is refused before anything is written.
TEST(FileUtil, WriteFilesAtomicBatch) {
  const std::string dir = temp_dir() + "/batch";
  ASSERT_EQ(std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str()), 0);
  std::vector<std::string> bodies;
  for (int i = 0; i < 20; ++i) bodies.push_back(std::string(size_t(1000 * i + 1), char('a' + i)));
  std::vector<OutputFile> files;
  for (int i = 0; i < 20; ++i)
    files.push_back({dir + "/f" + std::to_string(i), bodies[i].data(), bodies[i].size()});
  ASSERT_TRUE(write_files_atomic(files).ok());
  for (int i = 0; i < 20; ++i) {
    auto b = read_file(files[size_t(i)].path);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(std::string(b->begin(), b->end()), bodies[size_t(i)]);
  }
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
  EXPECT_EQ(entries, 20);
  const std::string fresh = "new content";
  std::vector<OutputFile> bad = {{files[0].path, fresh.data(), fresh.size()},
                                 {dir, fresh.data(), fresh.size()}};  // a directory
  auto st = write_files_atomic(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is a directory"), std::string::npos) << st.message();
  auto b0 = read_file(files[0].path);
  ASSERT_TRUE(b0.ok());
  EXPECT_EQ(std::string(b0->begin(), b0->end()), bodies[0]);
}
