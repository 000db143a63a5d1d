// Classic CV: the maths on tiny hand-checked inputs, and the fast paths (every ISA this CPU has,
// 1 and 2 threads) against the per-pixel references on awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "image_test_util.h"
#include "scratchcv/cpu.h"
#include "scratchcv/cv.h"
#include "scratchcv/thread_pool.h"

using namespace scv;
using scv::testing::expect_same_image;

namespace {

Image make(int w, int h, int c, std::initializer_list<int> v) {
  Image img(w, h, c);
  EXPECT_EQ(v.size(), img.pixels.size());
  size_t i = 0;
  for (int x : v) img.pixels[i++] = uint8_t(x);
  return img;
}

Image random_image(int w, int h, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img(w, h, c);
  for (auto& p : img.pixels) p = uint8_t(rng() & 255);
  return img;
}

// A smooth image with edges: blobs and a ramp, so Canny has real structure to find.
Image structured_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img(w, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int v = (x * 3 + y * 2) % 200;
      if ((x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < w * h / 10) v = 230;
      if (x > 2 * w / 3 && y < h / 2) v = 20;
      img.at(x, y, 0) = uint8_t(std::clamp(v + int(rng() % 9) - 4, 0, 255));
    }
  return img;
}

// Runs fn for every fast ISA this CPU supports with 1 and 2 threads; restores the defaults.
void for_each_fast_config(const std::function<void(const std::string&)>& fn) {
  const Isa saved = active_isa();
  for (Isa isa : {Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) {
      std::printf("[  NOTE    ] %s not supported by this CPU: not tested here\n", isa_name(isa));
      continue;
    }
    for (int threads : {1, 2}) {
      set_active_isa(isa);
      ThreadPool::set_global_threads(threads);
      fn(std::string(isa_name(isa)) + " x" + std::to_string(threads));
    }
  }
  set_active_isa(saved);
  ThreadPool::set_global_threads(default_num_threads());
}

}  // namespace

// ---- hand-checked maths -----------------------------------------------------------------------
TEST(CvMaths, GrayPrimaries) {
  // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1 (Q15 rounding: 76, 150, 29).
  Image rgb = make(4, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255});
  expect_same_image(cv_ref::rgb_to_gray(rgb), make(4, 1, 1, {76, 150, 29, 255}), "ref");
  // RGBA: alpha ignored; gray copied.
  Image rgba = make(2, 1, 4, {255, 0, 0, 7, 10, 10, 10, 0});
  expect_same_image(cv_ref::rgb_to_gray(rgba), make(2, 1, 1, {76, 10}), "rgba");
  Image g = make(3, 1, 1, {0, 128, 255});
  expect_same_image(cv_ref::rgb_to_gray(g), g, "gray copy");
}

TEST(CvMaths, YuvPrimaries) {
  // Red: Y = 76, U = (0 - 76) * 0.492 + 128 = 90.6 -> 91, V = (255 - 76) * 0.877 + 128 = 285 ->
  // saturated 255. White: 255, 128, 128 (no colour).
  Image rgb = make(4, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255});
  expect_same_image(cv_ref::rgb_to_yuv(rgb),
                    make(4, 1, 3, {76, 91, 255, 150, 54, 0, 29, 239, 103, 255, 128, 128}), "ref");
  // Grays survive the round trip exactly (U = V = 128).
  Image grays(256, 1, 3);
  for (int i = 0; i < 256; ++i)
    grays.pixels[3 * i] = grays.pixels[3 * i + 1] = grays.pixels[3 * i + 2] = uint8_t(i);
  expect_same_image(cv_ref::yuv_to_rgb(cv_ref::rgb_to_yuv(grays)), grays, "gray round trip");
}

TEST(CvMaths, BorderMaps) {
  // REFLECT_101 on 0 1 2 3: -1 -> 1, -2 -> 2, 4 -> 2, 5 -> 1; a 1-long axis maps to 0.
  EXPECT_EQ(cv_ref::reflect101(-1, 4), 1);
  EXPECT_EQ(cv_ref::reflect101(-2, 4), 2);
  EXPECT_EQ(cv_ref::reflect101(4, 4), 2);
  EXPECT_EQ(cv_ref::reflect101(5, 4), 1);
  EXPECT_EQ(cv_ref::reflect101(-7, 1), 0);
  EXPECT_EQ(cv_ref::reflect101(3, 2), 1);  // 0 1 | 0 1 0 ...
  EXPECT_EQ(cv_ref::replicate(-3, 5), 0);
  EXPECT_EQ(cv_ref::replicate(9, 5), 4);
}

TEST(CvMaths, BoxBlur3x3) {
  // 1..9 with reflected borders: row 0 windows see rows {1, 0, 1}: (4+5+6)*2 + (1+2+3) = 36 / 9
  // = 4 for every column; the centre is the mean 5; row 2 gives 6.
  Image a = make(3, 3, 1, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect_same_image(cv_ref::box_blur(a, 3), make(3, 3, 1, {4, 4, 4, 5, 5, 5, 6, 6, 6}), "ref");
  auto fast = box_blur(a, 3);
  ASSERT_TRUE(fast.ok());
  expect_same_image(*fast, make(3, 3, 1, {4, 4, 4, 5, 5, 5, 6, 6, 6}), "dispatch");
  // ksize 1 is the identity.
  expect_same_image(cv_ref::box_blur(a, 1), a, "k1");
}

TEST(CvMaths, GaussianKernelSumsToOne) {
  for (int k = 1; k <= 31; k += 2)
    for (double sigma : {0.0, 0.5, 1.2, 3.0, 10.0}) {
      auto kr = gaussian_kernel(k, sigma);
      ASSERT_TRUE(kr.ok());
      const std::vector<double>& kv = *kr;
      ASSERT_EQ(int(kv.size()), k);
      EXPECT_NEAR(std::accumulate(kv.begin(), kv.end(), 0.0), 1.0, 1e-12) << k << " " << sigma;
      for (int i = 0; i < k; ++i) EXPECT_DOUBLE_EQ(kv[i], kv[k - 1 - i]);  // symmetric
      for (int i = 0; i < k / 2; ++i) EXPECT_LE(kv[i], kv[i + 1]);         // rises to the centre
      auto q = gaussian_kernel_q8(k, sigma);
      ASSERT_TRUE(q.ok());
      EXPECT_EQ(std::accumulate(q->begin(), q->end(), 0), 256) << k << " " << sigma;
    }
}

TEST(CvMaths, GaussianKernelValues) {
  auto k3 = gaussian_kernel(3, 0);
  ASSERT_TRUE(k3.ok());
  EXPECT_EQ(*k3, (std::vector<double>{0.25, 0.5, 0.25}));
  // exp(-x^2 / (2 * 1.2^2)) at x = 0, 1, 2: 1, 0.70664, 0.24935; normalised by their sum 2.91198.
  auto k5 = gaussian_kernel(5, 1.2);
  ASSERT_TRUE(k5.ok());
  const double e1 = std::exp(-1 / 2.88), e2 = std::exp(-4 / 2.88), s = 1 + 2 * e1 + 2 * e2;
  EXPECT_NEAR((*k5)[2], 1 / s, 1e-15);
  EXPECT_NEAR((*k5)[1], e1 / s, 1e-15);
  EXPECT_NEAR((*k5)[0], e2 / s, 1e-15);
  EXPECT_NEAR((*k5)[0], 0.08562916395501292, 1e-15);  // cv2.getGaussianKernel(5, 1.2)
  auto q3 = gaussian_kernel_q8(3, 0);
  ASSERT_TRUE(q3.ok());
  EXPECT_EQ(*q3, (std::vector<uint16_t>{64, 128, 64}));
}

TEST(CvMaths, GaussianImpulseAndConstant) {
  // An impulse of 255 through {64, 128, 64} / 256 twice: centre 255/4 = 63.75 -> 64 (Q16
  // rounding), edge neighbours 31.9 -> 32, diagonal 15.9 -> 16.
  Image imp(5, 5, 1);
  imp.at(2, 2, 0) = 255;
  auto out = gaussian_blur(imp, 3, 0);
  ASSERT_TRUE(out.ok());
  Image want(5, 5, 1);
  const int v[3][3] = {{16, 32, 16}, {32, 64, 32}, {16, 32, 16}};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) want.at(x + 1, y + 1, 0) = uint8_t(v[y][x]);
  expect_same_image(*out, want, "impulse");
  expect_same_image(cv_ref::gaussian_blur(imp, gaussian_kernel_q8(3, 0).value()), want,
                    "impulse ref");
  // A constant image stays constant for every size (the Q8 taps sum to exactly 256).
  for (int k : {3, 5, 7, 9, 15, 31}) {
    Image c(11, 6, 3);
    std::fill(c.pixels.begin(), c.pixels.end(), uint8_t(201));
    auto o = gaussian_blur(c, k, 0);
    ASSERT_TRUE(o.ok());
    expect_same_image(*o, c, "constant k" + std::to_string(k));
  }
}

TEST(CvMaths, OtsuTwoLevels) {
  // Half 50, half 200: every t in [50, 199] splits the classes perfectly; the first is kept.
  Image img(4, 4, 1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) img.at(x, y, 0) = x < 2 ? 50 : 200;
  EXPECT_EQ(otsu_threshold(img), 50);
  EXPECT_EQ(cv_ref::otsu_from_histogram(cv_ref::histogram(img)), 50);
  Image bin = threshold_binary(img, 50);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(bin.at(x, y, 0), x < 2 ? 0 : 255);
  // Three levels 10 / 100 / 250 with weights 1 : 1 : 2: the best split is {10, 100} | {250}.
  std::vector<uint32_t> h(256, 0);
  h[10] = 1, h[100] = 1, h[250] = 2;
  EXPECT_EQ(cv_ref::otsu_from_histogram(h), 100);
  // A constant image has no split: 0, as OpenCV.
  Image c(3, 3, 1);
  std::fill(c.pixels.begin(), c.pixels.end(), uint8_t(9));
  EXPECT_EQ(otsu_threshold(c), 0);
}

TEST(CvMaths, CannyStepEdge) {
  // Left half 0, right half 255: gx = 4 * 255 = 1020 on columns 7 and 8; NMS keeps column 7
  // (m > left and m >= right) and drops column 8 (m is not > its left). One clean line.
  Image step(16, 16, 1);
  for (int y = 0; y < 16; ++y)
    for (int x = 8; x < 16; ++x) step.at(x, y, 0) = 255;
  for (bool l2 : {false, true}) {
    CannyParams p;
    p.low = 100, p.high = 200, p.l2 = l2;
    auto e = canny(step, p);
    ASSERT_TRUE(e.ok());
    Image want(16, 16, 1);
    for (int y = 0; y < 16; ++y) want.at(7, y, 0) = 255;
    expect_same_image(*e, want, l2 ? "L2" : "L1");
    expect_same_image(cv_ref::canny(step, p), want, l2 ? "ref L2" : "ref L1");
    // Above the gradient magnitude: nothing.
    p.low = 1100, p.high = 1200;
    auto none = canny(step, p);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(std::count(none->pixels.begin(), none->pixels.end(), 255), 0);
  }
}

TEST(CvMaths, CannyHysteresis) {
  // A ramp edge whose strength fades along y: only the part connected to a strong pixel
  // survives when high is above the weak part. Rows 0-3 step 200, rows 4-11 step 60.
  Image img(12, 12, 1);
  for (int y = 0; y < 12; ++y)
    for (int x = 6; x < 12; ++x) img.at(x, y, 0) = y < 4 ? 200 : 60;
  CannyParams p;
  p.low = 100, p.high = 500;  // weak edge |gx| = 240 > low, strong 800 > high
  auto e = canny(img, p);
  ASSERT_TRUE(e.ok());
  expect_same_image(*e, cv_ref::canny(img, p), "fast vs ref");
  EXPECT_EQ(e->at(5, 10, 0), 255);  // weak, but 8-connected down the line to the strong part
  p.low = 300;                      // now the weak part is below low: cut off
  auto e2 = canny(img, p);
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->at(5, 10, 0), 0);
  EXPECT_EQ(e2->at(5, 1, 0), 255);
}

TEST(CvMaths, ArgumentErrors) {
  Image img = random_image(5, 4, 3, 1);
  for (int k : {0, -1, 2, 4, 256}) {
    EXPECT_FALSE(box_blur(img, k).ok()) << k;
    EXPECT_FALSE(gaussian_blur(img, k, 0).ok()) << k;
    EXPECT_FALSE(gaussian_kernel(k, 0).ok()) << k;
  }
  EXPECT_FALSE(gaussian_blur(img, 3, std::nan("")).ok());
  Image empty;
  EXPECT_FALSE(box_blur(empty, 3).ok());
  Image gray = random_image(5, 4, 1, 2);
  CannyParams p;
  p.low = 200, p.high = 100;
  auto r = canny(gray, p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("low"), std::string::npos) << r.status().message();
  p.low = 10, p.high = 20, p.aperture = 4;
  EXPECT_FALSE(canny(gray, p).ok());
  p.aperture = 3;
  EXPECT_FALSE(canny(img, p).ok());  // 3 channels
}

// ---- fast paths == references -----------------------------------------------------------------
namespace {
// Heights of 64 and more are split into several row bands when run with 2 threads.
const int kSizes[][2] = {{1, 1},   {1, 13},  {13, 1}, {2, 2},   {7, 5},
                         {33, 17}, {127, 3}, {3, 64}, {61, 300}};
}  // namespace

TEST(CvFast, ColourMatchesReference) {
  for_each_fast_config([](const std::string& cfg) {
    for (auto [w, h] : kSizes)
      for (int c : {1, 3, 4}) {
        Image img = random_image(w, h, c, uint32_t(w * 131 + h * 7 + c));
        const std::string what =
            cfg + " " + std::to_string(w) + "x" + std::to_string(h) + "c" + std::to_string(c);
        expect_same_image(rgb_to_gray(img), cv_ref::rgb_to_gray(img), "gray " + what);
        if (c == 1) continue;
        expect_same_image(rgb_to_yuv(img), cv_ref::rgb_to_yuv(img), "yuv " + what);
        if (c == 3) expect_same_image(yuv_to_rgb(img), cv_ref::yuv_to_rgb(img), "yuv2rgb " + what);
      }
  });
}

TEST(CvFast, FiltersMatchReference) {
  for_each_fast_config([](const std::string& cfg) {
    for (auto [w, h] : kSizes)
      for (int c : {1, 3, 4})
        for (int k : {1, 3, 5, 7, 15, 17}) {
          Image img = random_image(w, h, c, uint32_t(w * 31 + h * 17 + c * 5 + k));
          const std::string what = cfg + " " + std::to_string(w) + "x" + std::to_string(h) + "c" +
                                   std::to_string(c) + " k" + std::to_string(k);
          auto b = box_blur(img, k);
          ASSERT_TRUE(b.ok());
          expect_same_image(*b, cv_ref::box_blur(img, k), "box " + what);
          for (double sigma : {0.0, 2.5}) {
            auto g = gaussian_blur(img, k, sigma);
            ASSERT_TRUE(g.ok());
            const std::vector<uint16_t> q = gaussian_kernel_q8(k, sigma).value();
            expect_same_image(*g, cv_ref::gaussian_blur(img, q), "gaussian " + what);
          }
        }
  });
}

TEST(CvFast, CannyAndOtsuMatchReference) {
  for_each_fast_config([](const std::string& cfg) {
    for (auto [w, h] : kSizes) {
      for (int kind = 0; kind < 2; ++kind) {
        Image img = kind ? structured_image(w, h, uint32_t(w + h)) : random_image(w, h, 1, w * h);
        const std::string what = cfg + " " + std::to_string(w) + "x" + std::to_string(h) +
                                 (kind ? " structured" : " noise");
        for (auto [lo, hi] : {std::pair{20.0, 60.0}, {50.0, 150.0}, {100.0, 100.0}})
          for (bool l2 : {false, true}) {
            CannyParams p;
            p.low = lo, p.high = hi, p.l2 = l2;
            auto e = canny(img, p);
            ASSERT_TRUE(e.ok());
            expect_same_image(*e, cv_ref::canny(img, p), "canny " + what);
          }
        const int t = otsu_threshold(img);
        EXPECT_EQ(t, cv_ref::otsu_from_histogram(cv_ref::histogram(img))) << what;
        expect_same_image(threshold_binary(img, t), cv_ref::threshold_binary(img, t),
                          "bin " + what);
      }
    }
  });
}

TEST(CvFast, IntoVariantsReuseAndAlias) {
  // The dst overloads give the same pixels whether dst is empty, the wrong size, reused, or the
  // input itself; on every ISA path (ref included).
  const Isa saved = active_isa();
  for (Isa isa : {Isa::ref, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) continue;
    set_active_isa(isa);
    const Image rgb = random_image(19, 7, 3, 11);
    const Image gray = structured_image(23, 9, 5);
    CannyParams cp;
    cp.low = 20, cp.high = 60;
    Image wrong = random_image(3, 2, 4, 1);
    Image d = wrong;
    rgb_to_gray(rgb, &d);
    expect_same_image(d, rgb_to_gray(rgb), "gray into");
    rgb_to_yuv(rgb, &d);
    expect_same_image(d, rgb_to_yuv(rgb), "yuv into");
    yuv_to_rgb(rgb, &d);
    yuv_to_rgb(rgb, &d);  // reused, right size
    expect_same_image(d, yuv_to_rgb(rgb), "yuv2rgb into");
    ASSERT_TRUE(box_blur(rgb, 5, &d).ok());
    expect_same_image(d, box_blur(rgb, 5).value(), "box into");
    ASSERT_TRUE(gaussian_blur(rgb, 7, 0, &d).ok());
    expect_same_image(d, gaussian_blur(rgb, 7, 0).value(), "gaussian into");
    ASSERT_TRUE(canny(gray, cp, &d).ok());
    expect_same_image(d, canny(gray, cp).value(), "canny into");
    threshold_binary(gray, 100, &d);
    expect_same_image(d, threshold_binary(gray, 100), "threshold into");
    // In place.
    Image a = rgb;
    ASSERT_TRUE(gaussian_blur(a, 5, 0, &a).ok());
    expect_same_image(a, gaussian_blur(rgb, 5, 0).value(), "gaussian in place");
    a = rgb;
    ASSERT_TRUE(box_blur(a, 3, &a).ok());
    expect_same_image(a, box_blur(rgb, 3).value(), "box in place");
    a = rgb;
    rgb_to_gray(a, &a);
    expect_same_image(a, rgb_to_gray(rgb), "gray in place");
    a = rgb;
    rgb_to_yuv(a, &a);
    expect_same_image(a, rgb_to_yuv(rgb), "yuv in place");
    Image g2 = gray;
    ASSERT_TRUE(canny(g2, cp, &g2).ok());
    expect_same_image(g2, canny(gray, cp).value(), "canny in place");
  }
  set_active_isa(saved);
}
