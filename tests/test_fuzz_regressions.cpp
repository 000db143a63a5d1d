// Findings of fuzzing the readers, each kept as a regression test, and the budget rule every
// reader follows: a small crafted file (< 64 KiB) gets its error without the process using more
// than 256 MB or 2 s (checked in a child process under RLIMIT_AS; skipped under ASan, whose
// shadow memory needs terabytes of address space).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"
#include "io/pickle.h"
#include "ops/quant/qmath.h"
#include "scratchcv/checked.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"
#include "scratchcv/pth.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"
#include "scratchcv/train.h"
#include "tflite_test_util.h"

namespace {

using Bytes = std::vector<uint8_t>;

void be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}
template <typename T>
void raw(Bytes& b, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof v);
}

Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, uLong(in.size())) + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// ---- the fuzzing findings ---------------------------------------------------------------------

TEST(FuzzRegressions, ResnetConv2WithZeroOutputChannels) {
  // A bottleneck checkpoint whose layer1.0.conv2.weight has 0 output channels: detect_resnet
  // divided by zero (width / groups) and `scratchcv classify` died of SIGFPE.
  scv::StateDict sd;
  auto add = [&](const std::string& n, scv::Shape s) { sd.push_back({n, scv::Tensor(s)}); };
  add("conv1.weight", {64, 3, 7, 7});
  add("fc.weight", {10, 2048});
  for (int l = 1; l <= 4; ++l) add("layer" + std::to_string(l) + ".0.conv1.weight", {4, 4, 1, 1});
  add("layer1.0.conv3.weight", {4, 4, 1, 1});
  add("layer1.0.conv2.weight", {0, 64, 3, 3});
  auto c = scv::detect_resnet(sd);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("layer1.0.conv2.weight"), std::string::npos);
}

TEST(FuzzRegressions, PthZeroDimWithHugeOtherDims) {
  // size (0, 2^40, 2^40), stride (1, 1, 1): the contiguity check multiplied the sizes into an
  // int64 and overflowed (UBSan). An empty tensor is valid.
  auto sd = scv::load_pth(std::string(SCV_SOURCE_DIR) +
                          "/tests/fuzz/corpus/pth/zero_dim_huge_strides.pth");
  ASSERT_TRUE(sd.ok()) << sd.status().message();
  ASSERT_EQ(sd->size(), 1u);
  EXPECT_EQ((*sd)[0].tensor.numel(), 0);
}

TEST(FuzzRegressions, IdxHeaderProductOverflow) {
  // [16, 2^30, 2^30] overflowed numel to 0, so a 16-byte header was accepted with no data.
  Bytes b = {0, 0, 8, 3};
  be32(b, 16), be32(b, 1u << 30), be32(b, 1u << 30);
  auto r = scv::train::parse_idx(b.data(), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("absurdly large"), std::string::npos) << r.status().message();
}

TEST(FuzzRegressions, IdxGzipAnnouncingMoreThanItCanHold) {
  Bytes b = {0, 0, 8, 3};
  be32(b, 60000), be32(b, 100), be32(b, 100);  // 600 MB announced
  b.resize(b.size() + 4096, 0);
  const Bytes gz = gzip(b);
  auto r = scv::train::parse_idx(gz.data(), gz.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("inflates to at most"), std::string::npos)
      << r.status().message();
}

TEST(FuzzRegressions, PthStorageWhoseByteCountWrapsToZero) {
  // A FloatStorage of 2^62 elements stored as an empty entry: numel x 4 wrapped to 0 bytes and
  // matched, so a [16] tensor was "inside" its storage and read 64 bytes past the empty entry.
  // Found while writing the budget cases below (the structure-aware target always writes 4 KiB
  // for a large storage, so it could not produce this).
  std::string p = "\x80\x02}(";
  scv_fuzz::pk_str(p, "conv1.weight");
  p += "ctorch._utils\n_rebuild_tensor_v2\n((";
  scv_fuzz::pk_str(p, "storage");
  p += "ctorch\nFloatStorage\n";
  scv_fuzz::pk_str(p, "0");
  scv_fuzz::pk_str(p, "cpu");
  scv_fuzz::pk_int(p, int64_t(1) << 62);
  p += "tQ";
  scv_fuzz::pk_int(p, 0);
  p += "(";
  scv_fuzz::pk_int(p, 16);
  p += "t(";
  scv_fuzz::pk_int(p, 1);
  p += "t\x89";  // NEWFALSE (requires_grad), then OrderedDict() for the hooks
  p += "ccollections\nOrderedDict\n)RtRu.";
  Bytes z, cd;
  scv_fuzz::zip_add(z, cd, "archive/data.pkl", p);
  scv_fuzz::zip_add(z, cd, "archive/data/0", "");
  const Bytes f = scv_fuzz::zip_finish(std::move(z), cd, 2);
  auto r = scv::parse_pth(f.data(), f.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("has 0 bytes, expected 4611686018427387904 x 4 (overflows)"),
            std::string::npos)
      << r.status().message();
}

TEST(FuzzRegressions, BmpBitfieldsWithoutTheirMasks) {
  // A 54-byte BMP (40-byte info header, 32 bits, BI_BITFIELDS): the three colour masks that
  // follow the header were read past the end of the file (ASan heap-buffer-overflow).
  Bytes b = {'B', 'M'};
  raw<uint32_t>(b, 54), raw<uint32_t>(b, 0), raw<uint32_t>(b, 54);  // size, reserved, offset
  raw<uint32_t>(b, 40), raw<int32_t>(b, 1), raw<int32_t>(b, 1);     // header size, 1x1
  raw<uint16_t>(b, 1), raw<uint16_t>(b, 32), raw<uint32_t>(b, 3);   // planes, bpp, BITFIELDS
  b.resize(54, 0);
  auto r = scv::decode_image(b.data(), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated BMP colour masks"), std::string::npos)
      << r.status().message();
  b.resize(54 + 12, 0);  // masks present (but not the standard ones): a plain error
  r = scv::decode_image(b.data(), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("colour masks"), std::string::npos) << r.status().message();
}

TEST(FuzzRegressions, TfliteRequantizedValuePlusZeroPointSaturates) {
  // A QUANTIZE (uint8 -> uint8) whose scale ratio makes the multiplier huge: the requantized
  // value 2147483583 plus the zero point 125 overflowed int32 (UBSan). Sums after a
  // requantization now saturate; the result is clamped to 0..255 either way.
  EXPECT_EQ(scv::quant::add_sat(2147483583, 125), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(scv::quant::add_sat(-2147483600, -100), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(scv::quant::add_sat(-7, 5), -2);
  // The same in a model: scale ratio 1e12 (the multiplier clamps to ~2^30), input 0..3 minus
  // zero point 0: x = 2 requantizes to 2^31 - 1 under single rounding, then + 125.
  scv::test::TfliteModelBuilder mb;
  const int x = mb.add_tensor({1, 4}, 3, 1.0f, 0), y = mb.add_tensor({1, 4}, 3, 1e-12f, 125);
  mb.ops.push_back({scv::tflite::kQuantize, {x}, {y}, 0, nullptr});
  mb.inputs = {x};
  mb.outputs = {y};
  const std::vector<uint8_t> f = mb.build();
  auto m = scv::tflite::parse_tflite(f.data(), f.size());
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::vector<uint8_t> first;
  for (const char* isa : {"ref", ""}) {  // the reference and the fast kernels agree
    auto s = scv::QSession::create(*m, scv::QSessionOptions{1, isa});
    ASSERT_TRUE(s.ok()) << s.status().message();
    for (int i = 0; i < 4; ++i) (*s)->input_data()[i] = uint8_t(i);
    (*s)->run();
    const std::vector<uint8_t> o((*s)->output_data(), (*s)->output_data() + 4);
    EXPECT_EQ(o[0], 125);  // 0 stays the zero point
    EXPECT_EQ(o[1], 255);  // 2^30 + 125, clamped
    EXPECT_EQ(o[2], 255);  // 2^31 - 1 + 125: saturates (x = 3 wraps in int32, as in TFLite)
    if (first.empty())
      first = o;
    else
      EXPECT_EQ(o, first);
  }
}

TEST(FuzzRegressions, TfliteConvOutputNextToTheInt32LimitSaturates) {
  // The same sum in a CONV_2D: acc = 2 requantizes to 2^31 - 1; the reference saturates + 125
  // to 255, and the fast kernels' store must too (it added the zero point in wrapping 32-bit
  // lanes, then clamped: 0).
  scv::test::TfliteModelBuilder mb;
  const int x = mb.add_tensor({1, 1, 1, 8}, 3, 1.0f, 0);
  const int w = mb.add_tensor({8, 1, 1, 8}, 3, 1.0f, 0, Bytes(64, 1));
  const int y = mb.add_tensor({1, 1, 1, 8}, 3, 1e-12f, 125);
  auto opt = scv::test::fb_table();  // padding VALID, strides 1, no activation
  opt->set<int8_t>(0, 1).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int8_t>(3, 0);
  mb.ops.push_back({scv::tflite::kConv2d, {x, w, -1}, {y}, 1, opt});
  mb.inputs = {x};
  mb.outputs = {y};
  const Bytes f = mb.build();
  auto m = scv::tflite::parse_tflite(f.data(), f.size());
  ASSERT_TRUE(m.ok()) << m.status().message();
  for (const char* isa : {"ref", ""}) {
    auto s = scv::QSession::create(*m, scv::QSessionOptions{1, isa});
    ASSERT_TRUE(s.ok()) << s.status().message();
    const uint8_t in[8] = {1, 1, 0, 0, 0, 0, 0, 0};
    std::memcpy((*s)->input_data(), in, 8);
    (*s)->run();
    for (int o = 0; o < 8; ++o) EXPECT_EQ((*s)->output_data()[o], 255) << isa << " channel " << o;
  }
}

// The error of planning a TFLite model (which must parse) on the kernels `isa`; "" when the
// session was created.
std::string tflite_plan_error(const Bytes& f, const char* isa) {
  auto m = scv::tflite::parse_tflite(f.data(), f.size());
  if (!m.ok()) return "parse error: " + m.status().message();
  auto s = scv::QSession::create(*m, scv::QSessionOptions{1, isa});
  return s.ok() ? "" : s.status().message();
}
Bytes tflite_seed(const std::string& name) {
  return scv::read_file(std::string(SCV_SOURCE_DIR) + "/tests/fuzz/corpus/tflite/" + name).value();
}

TEST(FuzzRegressions, TfliteWeightZeroPointOutsideItsType) {
  // A FULLY_CONNECTED whose INT8 weights claim the zero point 2^31 (-2^31 as int32): weight
  // minus zero point overflowed int32 (UBSan). Weight zero points are now checked against their
  // type, as activations' are.
  const std::string e =
      tflite_plan_error(tflite_seed("regress_weight_zero_point_int32_min.tflite"), "ref");
  EXPECT_NE(e.find("weight zero point 2147483648 outside the INT8 range"), std::string::npos) << e;
}

TEST(FuzzRegressions, TfliteConvolutionWithAnEmptyExtent) {
  // A conv whose weights are [4, 0, 3, 3] (kernel height 0): the fast kernels sized their im2col
  // block by a row of 0 bytes and divided by zero (UBSan). Empty extents are refused when
  // planning, with the geometry in the message.
  for (const char* isa : {"ref", ""}) {
    const std::string e =
        tflite_plan_error(tflite_seed("regress_conv_with_zero_kernel_height.tflite"), isa);
    EXPECT_NE(e.find("empty convolution (input 1x6x7x3, kernel 0x3"), std::string::npos) << e;
  }
}

TEST(FuzzRegressions, TfliteWindowWiderThanAnInt) {
  // The output size and padding of a window were computed in int: a kernel of 50331651 rows, or
  // a dilation of 2^30, overflowed (UBSan). Now in 64 bits, and a window whose padded extent
  // passes 2^30 pixels is refused.
  scv::test::TfliteModelBuilder mb;
  const int x = mb.add_tensor({1, 4, 4, 1}, 3, 0.1f, 0);
  const int w = mb.add_tensor({1, 3, 3, 1}, 3, 0.1f, 0, Bytes(9, 1));
  const int y = mb.add_tensor({1, 4, 4, 1}, 3, 0.1f, 0);
  auto opt = scv::test::fb_table();  // padding SAME, strides 1, no activation, dilation 2^30
  opt->set<int8_t>(0, 0).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int8_t>(3, 0);
  opt->set<int32_t>(4, 1).set<int32_t>(5, 1 << 30);
  mb.ops.push_back({scv::tflite::kConv2d, {x, w, -1}, {y}, 1, opt});
  mb.inputs = {x};
  mb.outputs = {y};
  for (const Bytes& f : {mb.build(), tflite_seed("regress_window_extent_overflow.tflite")}) {
    const std::string e = tflite_plan_error(f, "");
    EXPECT_NE(e.find("spans more than 2^30 pixels"), std::string::npos) << e;
  }
}

TEST(CheckedMath, Products) {
  int64_t p = 0;
  EXPECT_TRUE(scv::checked_mul(1 << 20, 1 << 20, &p));
  EXPECT_EQ(p, int64_t(1) << 40);
  EXPECT_FALSE(scv::checked_mul(int64_t(1) << 32, int64_t(1) << 32, &p));
  EXPECT_FALSE(scv::checked_mul(-1, 2, &p));
  EXPECT_FALSE(scv::checked_mul(1 << 20, 1 << 20, &p, 1 << 30));
  const int64_t dims[] = {0, int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_TRUE(scv::checked_product(dims, 3, &p));
  EXPECT_EQ(p, 0);
  EXPECT_FALSE(scv::checked_product(dims + 1, 2, &p));
}

// ---- crafted small files: error within 256 MB and 2 s -----------------------------------------

Bytes png_claiming(uint32_t w, uint32_t h) {
  auto chunk = [](Bytes& b, const char* t, const Bytes& d) {
    be32(b, uint32_t(d.size()));
    Bytes td(t, t + 4);
    td.insert(td.end(), d.begin(), d.end());
    b.insert(b.end(), td.begin(), td.end());
    be32(b, uint32_t(crc32(0, td.data(), uInt(td.size()))));
  };
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, ihdr;
  be32(ihdr, w), be32(ihdr, h);
  for (uint8_t v : {8, 2, 0, 0, 0}) ihdr.push_back(v);
  chunk(b, "IHDR", ihdr);
  Bytes zero(64, 0), z(128);
  uLongf zn = z.size();
  compress(z.data(), &zn, zero.data(), zero.size());
  z.resize(zn);
  chunk(b, "IDAT", z);
  chunk(b, "IEND", {});
  return b;
}

// A JPEG/TIFF/WebP of our own encoder, then its header patched to claim `w` x `h`.
Bytes small_image(scv::ImageFormat f) {
  scv::Image img(8, 8, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7);
  return scv::encode_image(img, f, 100).value();
}
Bytes jpeg_claiming(uint16_t w, uint16_t h) {
  Bytes b = small_image(scv::ImageFormat::jpeg);
  for (size_t i = 2; i + 9 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xC0) {  // SOF0: FF C0 len(2) precision(1) H(2) W(2)
      b[i + 5] = uint8_t(h >> 8), b[i + 6] = uint8_t(h), b[i + 7] = uint8_t(w >> 8),
            b[i + 8] = uint8_t(w);
      break;
    }
  return b;
}
Bytes tiff_claiming(uint32_t w, uint32_t h) {
  Bytes b = small_image(scv::ImageFormat::tiff);  // little-endian ("II")
  auto u16 = [&](size_t o) { return uint32_t(b[o]) | uint32_t(b[o + 1]) << 8; };
  const size_t ifd = u16(4) | u16(6) << 16;
  for (size_t e = ifd + 2, n = u16(ifd); n--; e += 12) {
    const uint32_t tag = u16(e), v = tag == 256 ? w : tag == 257 ? h : 0;
    if (!v) continue;
    for (int k = 0; k < 4; ++k) b[e + 8 + k] = uint8_t(v >> (8 * k));
  }
  return b;
}
Bytes webp_claiming(uint32_t w, uint32_t h) {
  Bytes b = small_image(scv::ImageFormat::webp);  // lossless: RIFF....WEBPVP8L<len><0x2f>...
  const uint32_t bits = (w - 1) | (h - 1) << 14 | (b[24] >> 4 & 1u) << 28;
  for (int k = 0; k < 4; ++k) b[21 + k] = uint8_t(bits >> (8 * k));
  return b;
}
Bytes bmp_claiming(int32_t w, int32_t h) {
  Bytes b = {'B', 'M'};
  raw<uint32_t>(b, 0), raw<uint32_t>(b, 0), raw<uint32_t>(b, 54);
  raw<uint32_t>(b, 40), raw<int32_t>(b, w), raw<int32_t>(b, h), raw<uint16_t>(b, 1);
  raw<uint16_t>(b, 24);
  for (int i = 0; i < 6; ++i) raw<uint32_t>(b, 0);
  b.resize(b.size() + 4096, 0x55);
  return b;
}
Bytes checkpoint_claiming_huge_fc() {
  const std::string cfg = "input 1 28 28\nflatten\nfc 170000 act=relu\nfc 10\n";
  Bytes b = {'S', 'C', 'V', 'C', 'K', 'P', 'T', '1'};
  raw<uint32_t>(b, 1), raw<uint32_t>(b, uint32_t(cfg.size()));
  b.insert(b.end(), cfg.begin(), cfg.end());
  raw<int32_t>(b, 0), raw<uint64_t>(b, 1), raw<float>(b, 0.f), raw<uint32_t>(b, 4);
  return b;
}
Bytes onnx_claiming_huge_initializer() {
  // ModelProto{ir_version 8, graph{initializer{dims 65536, dims 65536, data_type FLOAT}}}
  Bytes init = {0x08, 0x80, 0x80, 0x04, 0x08, 0x80, 0x80, 0x04, 0x10, 0x01, 0x42, 0x01, 'w'};
  Bytes graph = {0x2a, uint8_t(init.size())};
  graph.insert(graph.end(), init.begin(), init.end());
  Bytes b = {0x08, 0x08, 0x3a, uint8_t(graph.size())};
  b.insert(b.end(), graph.begin(), graph.end());
  return b;
}

// TFLite: a 2^30-element constant backed by 16 bytes (refused by the reader), and a 16000 x
// 16000 x 3 activation followed by an operator the engine does not run (refused while planning,
// before the activation arena is allocated).
Bytes tflite_huge_constant() {
  scv::test::TfliteModelBuilder mb;
  const int x = mb.add_tensor({1, 4}, 3, 0.1f, 0);
  const int w = mb.add_tensor({1 << 15, 1 << 15}, 3, 0.1f, 0, Bytes(16, 1));
  const int y = mb.add_tensor({1, 1 << 15}, 3, 0.1f, 0);
  mb.ops.push_back({scv::tflite::kFullyConnected, {x, w, -1}, {y}, 0, nullptr});
  mb.inputs = {x};
  mb.outputs = {y};
  return mb.build();
}
Bytes tflite_huge_activation() {
  scv::test::TfliteModelBuilder mb;
  const int x = mb.add_tensor({1, 16000, 16000, 3}, 3, 0.1f, 0);
  const int y = mb.add_tensor({1, 16000, 16000, 3}, 3, 0.2f, 0);
  const int z = mb.add_tensor({1, 16000, 16000, 3}, 3, 0.2f, 0);
  mb.ops.push_back({scv::tflite::kQuantize, {x}, {y}, 0, nullptr});
  mb.ops.push_back({120, {y}, {z}, 0, nullptr});  // no such operator in the engine
  mb.inputs = {x};
  mb.outputs = {z};
  return mb.build();
}
// zip: an end record claiming 65000 entries in a 2.99 MB central directory, in a 22-byte file.
Bytes zip_claiming_entries() {
  Bytes b = {0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0};
  raw<uint16_t>(b, 65000), raw<uint16_t>(b, 65000);
  raw<uint32_t>(b, 65000u * 46u), raw<uint32_t>(b, 0), raw<uint16_t>(b, 0);
  return b;
}
// .pth: one float tensor of 2^40 elements (size [2^40], stride [1]) over a 4 KiB storage, built
// by the structure-aware fuzz target's recipe: 1 tensor, FloatStorage, key 0, storage numel
// 2^40 (palette byte 133), offset 0, rank 1, size 2^40, stride 1.
Bytes pth_claiming_huge_tensor() {
  const uint8_t recipe[] = {0, 0, 0, 133, 0, 1, 133, 1};
  return scv_fuzz::pth_from_recipe(recipe, sizeof recipe);
}
bool pth_fails(const Bytes& b) {
  return !scv::parse_pth(b.data(), b.size()).ok();
}

bool tflite_fails(const Bytes& b) {
  auto m = scv::tflite::parse_tflite(b.data(), b.size());
  return !m.ok() || !scv::QSession::create(*m, scv::QSessionOptions{1, ""}).ok();
}

struct Crafted {
  const char* name;
  Bytes bytes;
  std::function<bool(const Bytes&)> read;  // true when the reader returned an error
};

Bytes tall_png() {
  scv::Image img(16, 65521, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i % 3 * 60 + 30);
  return scv::encode_png(img, 9).value();  // ~10 KB
}

bool image_fails(const Bytes& b) {
  return !scv::decode_image(b.data(), b.size()).ok();
}
bool model_fails(const Bytes& b) {
  const std::string p = testing::TempDir() + "/crafted_" + std::to_string(::getpid());
  if (!scv::write_file_atomic(p, b.data(), b.size()).ok()) return false;
  const bool failed = !scv::load_model(p, "").ok();
  ::unlink(p.c_str());
  return failed;
}

TEST(ReaderBudgets, CraftedSmallFilesFailWithin256MBAnd2s) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RLIMIT_AS cannot be combined with AddressSanitizer's shadow memory";
#endif
  Bytes idx = {0, 0, 8, 3};
  be32(idx, 60000), be32(idx, 100), be32(idx, 100);
  idx.resize(idx.size() + 60000, 0);
  const Bytes idx_gz = gzip(idx);
  Bytes pickle_many(60000, ']');  // 60000 empty lists on the stack
  pickle_many.push_back('.');
  std::vector<Crafted> cases = {
      {"PNG 16000x16000", png_claiming(16000, 16000), image_fails},
      {"JPEG 16000x16000", jpeg_claiming(16000, 16000), image_fails},
      {"TIFF 16000x16000", tiff_claiming(16000, 16000), image_fails},
      {"WebP 16000x16000", webp_claiming(16000, 16000), image_fails},
      {"BMP 16000x16000", bmp_claiming(16000, 16000), image_fails},
      {"IDX gzip 600 MB", gzip(idx),
       [](const Bytes& b) { return !scv::train::parse_idx(b.data(), b.size()).ok(); }},
      {"training checkpoint, 133 M parameters", checkpoint_claiming_huge_fc(),
       [](const Bytes& b) {
         const std::string p = testing::TempDir() + "/ck_" + std::to_string(::getpid());
         if (!scv::write_file_atomic(p, b.data(), b.size()).ok()) return false;
         const bool failed = !scv::train::load_checkpoint(p).ok();
         ::unlink(p.c_str());
         return failed;
       }},
      {"ONNX 2^32-element initializer", onnx_claiming_huge_initializer(), model_fails},
      {"pickle of 60000 objects (not a state_dict)", pickle_many,
       [](const Bytes& b) {
         auto p = scv::pickle::parse(b.data(), b.size());
         return p.ok();  // a valid pickle: what matters is the memory it took
       }},
      {"PNG via load_model", png_claiming(16000, 16000), model_fails},
      {"zip end record claiming 65000 entries", zip_claiming_entries(),
       [](const Bytes& b) { return !scv::zip::ZipReader::open(b.data(), b.size()).ok(); }},
      {".pth with a 2^40-element tensor over 4 KiB", pth_claiming_huge_tensor(), pth_fails},
      {".pth with a 2^40-element tensor via load_model", pth_claiming_huge_tensor(), model_fails},
      {"TFLite 2^30-element constant in 16 bytes", tflite_huge_constant(), tflite_fails},
      {"TFLite 768 MB activation, then an unknown operator", tflite_huge_activation(),
       tflite_fails},
      // A valid 16 x 65521 photo: the ImageNet transform resizes it to 256 x 1048336 (0.8 GB)
      // unless only the 224 x 224 crop is computed. Not an error: what matters is the cost.
      {"PNG 16x65521 through the ImageNet transform", tall_png(),
       [](const Bytes& b) {
         auto img = scv::decode_image(b.data(), b.size());
         return img.ok() && scv::imagenet_preprocess(*img, 256, 224).ok();
       }},
  };
  for (const Crafted& c : cases) {
    ASSERT_LT(c.bytes.size(), 65536u) << c.name;
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      rlimit lim{256u << 20, 256u << 20};
      ::setrlimit(RLIMIT_AS, &lim);
      ::_exit(c.read(c.bytes) ? 0 : 3);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << c.name << ": " << (WIFSIGNALED(status) ? "killed by signal " : "exit ")
        << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status))
        << " (3: no error reported; a crash or bad_alloc: over 256 MB)";
    EXPECT_LT(s, 2.0) << c.name;
  }
}

}  // namespace
