// Plain per-pixel references for the classic CV algorithms (see include/scratchcv/cv.h).
// Written for reading, not speed: one output pixel at a time, borders through index maps.
#include <cmath>
#include <cstdlib>
#include <vector>

#include "scratchcv/cv.h"

namespace scv::cv_ref {

int reflect101(int p, int len) {
  // OpenCV's BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ... ; a 1-long axis maps to 0.
  if (len == 1) return 0;
  while (p < 0 || p >= len) p = p < 0 ? -p : 2 * len - 2 - p;
  return p;
}

int replicate(int p, int len) {
  return p < 0 ? 0 : (p >= len ? len - 1 : p);
}

static uint8_t sat_u8(int v) {
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// ---- colour -----------------------------------------------------------------------------------
// BT.601 coefficients as OpenCV's 8-bit cvtColor uses them: Q15 for gray (sum 2^15), Q14 for
// YUV (sum 2^14). The two give a different Y for about 0.26% of colours; each matches its OpenCV
// conversion exactly (checked on all 2^24 colours in tests/py/cv_golden.py).
constexpr int kGrayR = 9798, kGrayG = 19235, kGrayB = 3735, kGrayShift = 15;
constexpr int kR2Y = 4899, kG2Y = 9617, kB2Y = 1868;
constexpr int kB2U = 8061, kR2V = 14369;                               // 0.492, 0.877
constexpr int kV2R = 18678, kV2G = -9519, kU2G = -6472, kU2B = 33292;  // 1.140 ... 2.032
constexpr int kShift = 14, kHalf = 1 << (kShift - 1), kDelta = 128 << kShift;

static int luma(int r, int g, int b) {
  return (r * kR2Y + g * kG2Y + b * kB2Y + kHalf) >> kShift;
}
static int gray_q15(int r, int g, int b) {
  return (r * kGrayR + g * kGrayG + b * kGrayB + (1 << (kGrayShift - 1))) >> kGrayShift;
}

Image rgb_to_gray(const Image& src) {
  assert(src.channels == 1 || src.channels == 3 || src.channels == 4);
  Image dst(src.width, src.height, 1);
  for (int y = 0; y < src.height; ++y)
    for (int x = 0; x < src.width; ++x)
      dst.at(x, y, 0) = src.channels == 1
                            ? src.at(x, y, 0)
                            : uint8_t(gray_q15(src.at(x, y, 0), src.at(x, y, 1), src.at(x, y, 2)));
  return dst;
}

Image rgb_to_yuv(const Image& rgb) {
  assert(rgb.channels == 3 || rgb.channels == 4);
  Image dst(rgb.width, rgb.height, 3);
  for (int y = 0; y < rgb.height; ++y)
    for (int x = 0; x < rgb.width; ++x) {
      const int r = rgb.at(x, y, 0), g = rgb.at(x, y, 1), b = rgb.at(x, y, 2);
      const int Y = luma(r, g, b);
      // (B - Y) * 0.492 + 128 and (R - Y) * 0.877 + 128; the shift of a negative sum is an
      // arithmetic shift (floor), as in OpenCV's CV_DESCALE.
      dst.at(x, y, 0) = uint8_t(Y);
      dst.at(x, y, 1) = sat_u8(((b - Y) * kB2U + kDelta + kHalf) >> kShift);
      dst.at(x, y, 2) = sat_u8(((r - Y) * kR2V + kDelta + kHalf) >> kShift);
    }
  return dst;
}

Image yuv_to_rgb(const Image& yuv) {
  assert(yuv.channels == 3);
  Image dst(yuv.width, yuv.height, 3);
  for (int y = 0; y < yuv.height; ++y)
    for (int x = 0; x < yuv.width; ++x) {
      const int Y = yuv.at(x, y, 0), u = yuv.at(x, y, 1) - 128, v = yuv.at(x, y, 2) - 128;
      dst.at(x, y, 0) = sat_u8(Y + ((v * kV2R + kHalf) >> kShift));
      dst.at(x, y, 1) = sat_u8(Y + ((u * kU2G + v * kV2G + kHalf) >> kShift));
      dst.at(x, y, 2) = sat_u8(Y + ((u * kU2B + kHalf) >> kShift));
    }
  return dst;
}

// ---- box and Gaussian filters -----------------------------------------------------------------
Image box_blur(const Image& src, int k) {
  assert(k >= 1 && k % 2 == 1);
  const int r = k / 2, cn = src.channels;
  const int64_t area = int64_t(k) * k;
  Image dst(src.width, src.height, cn);
  for (int y = 0; y < src.height; ++y)
    for (int x = 0; x < src.width; ++x)
      for (int c = 0; c < cn; ++c) {
        int64_t s = 0;
        for (int i = -r; i <= r; ++i)
          for (int j = -r; j <= r; ++j)
            s += src.at(reflect101(x + j, src.width), reflect101(y + i, src.height), c);
        // round(s / k^2): k^2 is odd so s / k^2 is never exactly halfway between integers.
        dst.at(x, y, c) = uint8_t((2 * s + area) / (2 * area));
      }
  return dst;
}

Image gaussian_blur(const Image& src, const std::vector<uint16_t>& kq) {
  // OpenCV's bit-exact 8-bit path: rows first, h = sum_j kq[j] * src (Q8, saturated to 16 bits),
  // then columns, s = sum_i kq[i] * h (Q16, saturated to 32 bits), out = (s + 2^15) >> 16.
  // A 1-row (1-column) image uses the kernel {1.0} vertically (horizontally).
  const int k = int(kq.size()), r = k / 2, cn = src.channels;
  const std::vector<uint16_t> one{256};
  const std::vector<uint16_t>& kx = src.width == 1 ? one : kq;
  const std::vector<uint16_t>& ky = src.height == 1 ? one : kq;
  const int rx = int(kx.size()) / 2, ry = int(ky.size()) / 2;
  (void)r;
  Image dst(src.width, src.height, cn);
  std::vector<uint32_t> h(size_t(ky.size()));
  for (int y = 0; y < src.height; ++y)
    for (int x = 0; x < src.width; ++x)
      for (int c = 0; c < cn; ++c) {
        uint64_t s = 0;
        for (int i = -ry; i <= ry; ++i) {
          const int yy = reflect101(y + i, src.height);
          uint32_t hs = 0;
          for (int j = -rx; j <= rx; ++j)
            hs += uint32_t(kx[j + rx]) * src.at(reflect101(x + j, src.width), yy, c);
          if (hs > 0xFFFF) hs = 0xFFFF;
          s += uint64_t(ky[i + ry]) * hs;
        }
        if (s > 0xFFFFFFFFull) s = 0xFFFFFFFFull;
        const uint64_t v = (s + (1u << 15)) >> 16;
        dst.at(x, y, c) = uint8_t(v > 255 ? 255 : v);
      }
  return dst;
}

// ---- Canny ------------------------------------------------------------------------------------
// Sobel kernels as cv::getDerivKernels: a smoothing row (binomial) and a derivative row.
static void sobel_kernels(int aperture, std::vector<int>* smooth, std::vector<int>* deriv) {
  switch (aperture) {
    case 3:
      *smooth = {1, 2, 1}, *deriv = {-1, 0, 1};
      break;
    case 5:
      *smooth = {1, 4, 6, 4, 1}, *deriv = {-1, -2, 0, 2, 1};
      break;
    default:
      *smooth = {1, 6, 15, 20, 15, 6, 1}, *deriv = {-1, -4, -5, 0, 5, 4, 1};
      break;
  }
}

// Gradient value stored as int16 the way Sobel(..., CV_16S, scale) does: aperture 7 is scaled by
// 1/16 and rounded to nearest even, then everything saturates to int16.
static int to_s16(int v, int aperture) {
  if (aperture == 7) v = int(std::nearbyint(v / 16.0));
  return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

Image canny(const Image& gray, const CannyParams& p) {
  assert(gray.channels == 1);
  const int w = gray.width, h = gray.height, a = p.aperture, r = a / 2;
  std::vector<int> sm, de;
  sobel_kernels(a, &sm, &de);
  // 1. Gradients with replicated borders.
  std::vector<int> gx(size_t(w) * h), gy(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int sx = 0, sy = 0;
      for (int i = -r; i <= r; ++i)
        for (int j = -r; j <= r; ++j) {
          const int v = gray.at(replicate(x + j, w), replicate(y + i, h), 0);
          sx += sm[i + r] * de[j + r] * v;
          sy += de[i + r] * sm[j + r] * v;
        }
      gx[size_t(y) * w + x] = to_s16(sx, a);
      gy[size_t(y) * w + x] = to_s16(sy, a);
    }
  // 2. Thresholds: aperture 7 scales them like its gradients; L2 compares squared magnitudes.
  double lo = p.low, hi = p.high;
  if (a == 7) lo /= 16.0, hi /= 16.0;
  if (p.l2) {
    lo = std::min(32767.0, lo), hi = std::min(32767.0, hi);
    if (lo > 0) lo *= lo;
    if (hi > 0) hi *= hi;
  }
  const int64_t low = int64_t(std::floor(lo)), high = int64_t(std::floor(hi));
  // 3. Magnitude; outside the image it is 0.
  auto mag = [&](int x, int y) -> int64_t {
    if (x < 0 || y < 0 || x >= w || y >= h) return 0;
    const int64_t dx = gx[size_t(y) * w + x], dy = gy[size_t(y) * w + x];
    return p.l2 ? dx * dx + dy * dy : std::abs(dx) + std::abs(dy);
  };
  // 4. Non-maximum suppression along the gradient direction, quantised to 0/45/90/135 degrees
  // with tan(22.5) = 13573 / 2^15. map: 2 strong edge, 0 weak candidate, 1 not an edge.
  constexpr int64_t kTg22 = 13573;
  std::vector<uint8_t> map(size_t(w) * h, 1);
  std::vector<int> stack;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int64_t m = mag(x, y);
      if (m <= low) continue;
      const int xs = gx[size_t(y) * w + x], ys = gy[size_t(y) * w + x];
      const int64_t ax = std::abs(xs), ay = int64_t(std::abs(ys)) << 15;
      const int64_t tg22x = ax * kTg22, tg67x = tg22x + (ax << 16);
      bool peak;
      if (ay < tg22x) {  // near horizontal gradient: compare left and right
        peak = m > mag(x - 1, y) && m >= mag(x + 1, y);
      } else if (ay > tg67x) {  // near vertical: compare above and below
        peak = m > mag(x, y - 1) && m >= mag(x, y + 1);
      } else {  // diagonal: the two neighbours along the gradient
        const int s = (xs ^ ys) < 0 ? -1 : 1;
        peak = m > mag(x - s, y - 1) && m > mag(x + s, y + 1);
      }
      if (!peak) continue;
      map[size_t(y) * w + x] = m > high ? 2 : 0;
      if (m > high) stack.push_back(y * w + x);
    }
  // 5. Hysteresis: grow strong edges through 8-connected weak candidates.
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    const int x = i % w, y = i / w;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        uint8_t& v = map[size_t(yy) * w + xx];
        if (v == 0) v = 2, stack.push_back(yy * w + xx);
      }
  }
  Image dst(w, h, 1);
  for (size_t i = 0; i < map.size(); ++i) dst.pixels[i] = map[i] == 2 ? 255 : 0;
  return dst;
}

// ---- Otsu -------------------------------------------------------------------------------------
std::vector<uint32_t> histogram(const Image& gray) {
  std::vector<uint32_t> hist(256, 0);
  for (uint8_t v : gray.pixels) ++hist[v];
  return hist;
}

int otsu_from_histogram(const std::vector<uint32_t>& hist) {
  // Walk t = 0..255 keeping the weight q1 and mean mu1 of {<= t}; the class {> t} follows from
  // the totals. Maximise q1 q2 (mu1 - mu2)^2. Same operation order as OpenCV, so ties and
  // rounding pick the same t (the first maximum).
  uint64_t total = 0;
  for (uint32_t c : hist) total += c;
  if (total == 0) return 0;
  const double scale = 1.0 / double(total);
  double mu = 0;
  for (int i = 0; i < 256; ++i) mu += i * double(hist[i]);
  mu *= scale;
  double mu1 = 0, q1 = 0, max_sigma = 0;
  int best = 0;
  const double eps = 1.1920928955078125e-07;  // FLT_EPSILON
  for (int i = 0; i < 256; ++i) {
    const double p_i = hist[i] * scale;
    mu1 *= q1;
    q1 += p_i;
    const double q2 = 1.0 - q1;
    if (std::min(q1, q2) < eps || std::max(q1, q2) > 1.0 - eps) continue;
    mu1 = (mu1 + i * p_i) / q1;
    const double mu2 = (mu - q1 * mu1) / q2;
    const double sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (sigma > max_sigma) max_sigma = sigma, best = i;
  }
  return best;
}

Image threshold_binary(const Image& gray, int thresh) {
  Image dst(gray.width, gray.height, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) dst.pixels[i] = gray.pixels[i] > thresh ? 255 : 0;
  return dst;
}

}  // namespace scv::cv_ref
