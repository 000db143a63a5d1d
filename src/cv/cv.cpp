// The dispatching CV functions: argument checks, kernels, borders and threading; the per-row
// arithmetic is in the row-kernel tables (cv_rows.inc), the per-pixel references in cv_ref.cpp.
#include "scratchcv/cv.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <type_traits>

#include "cv/cv_rows.h"
#include "scratchcv/cpu.h"
#include "scratchcv/thread_pool.h"

namespace scv {

namespace cv_rows {
const Kernels* for_isa(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return avx512();
    case Isa::avx2:
      return avx2();
    default:
      return nullptr;
  }
}
}  // namespace cv_rows

namespace {

using cv_ref::reflect101;

const cv_rows::Kernels* kernels() {
  return cv_rows::for_isa(active_isa());
}

// Rows [0, h) split over the global pool: fn(y0, y1) for contiguous bands of at least
// kMinBand rows, about 8 per thread, handed out dynamically (an atomic counter) so that a thread
// the OS deschedules for a while does not hold up the others on a busy machine.
void for_rows(int h, const std::function<void(int, int)>& fn) {
  constexpr int kMinBand = 32;
  ThreadPool& pool = ThreadPool::global();
  const int nth = pool.num_threads();
  if (nth == 1 || h < 2 * kMinBand) {
    fn(0, h);
    return;
  }
  const int bands = std::min(h / kMinBand, nth * 8);
  const int step = (h + bands - 1) / bands;
  std::atomic<int> next{0};
  pool.run([&](int, int) {
    for (;;) {
      const int y0 = next.fetch_add(1, std::memory_order_relaxed) * step;
      if (y0 >= h) break;
      fn(y0, std::min(h, y0 + step));
    }
  });
}

Status check_image(const Image& img, const char* what) {
  if (img.width <= 0 || img.height <= 0)
    return error(what, ": empty image (", img.width, "x", img.height, ")");
  if (img.pixels.size() != size_t(img.width) * img.height * img.channels)
    return error(what, ": pixel buffer size does not match ", img.width, "x", img.height, "x",
                 img.channels);
  return Status();
}

Status check_ksize(int ksize) {
  if (ksize <= 0 || ksize % 2 == 0) return error("ksize must be odd and positive, got ", ksize);
  if (ksize > 255) return error("ksize must be at most 255, got ", ksize);
  return Status();
}

// Copies the cn values of each border pixel into a row buffer holding `r` pixels of border on
// each side of `w` computed pixels, following BORDER_REFLECT_101.
template <typename T>
void fill_border_x(T* buf, int w, int r, int cn) {
  T* row = buf + size_t(r) * cn;
  for (int j = 1; j <= r; ++j) {
    const int l = reflect101(-j, w), rr = reflect101(w - 1 + j, w);
    std::memcpy(row + ptrdiff_t(-j) * cn, row + size_t(l) * cn, sizeof(T) * cn);
    std::memcpy(row + size_t(w - 1 + j) * cn, row + size_t(rr) * cn, sizeof(T) * cn);
  }
}

template <typename T>
void box_fast(const Image& src, int k, Image& dst, const cv_rows::Kernels* kt) {
  const int w = src.width, h = src.height, cn = src.channels, r = k / 2, n = w * cn;
  const float inv_area = float(1.0 / (double(k) * k));
  for_rows(h, [&](int y0, int y1) {
    std::vector<T> buf(size_t(w + 2 * r) * cn);
    T* sum = buf.data() + size_t(r) * cn;
    std::vector<const uint8_t*> rows(k);
    for (int y = y0; y < y1; ++y) {
      if (y == y0) {
        for (int t = 0; t < k; ++t) rows[t] = src.row(reflect101(y - r + t, h));
        if constexpr (sizeof(T) == 2)
          kt->box_vinit16(rows.data(), k, sum, n);
        else
          kt->box_vinit32(rows.data(), k, sum, n);
      } else {
        const uint8_t* add = src.row(reflect101(y + r, h));
        const uint8_t* sub = src.row(reflect101(y - r - 1, h));
        if constexpr (sizeof(T) == 2)
          kt->box_vslide16(add, sub, sum, n);
        else
          kt->box_vslide32(add, sub, sum, n);
      }
      fill_border_x(buf.data(), w, r, cn);
      if constexpr (sizeof(T) == 2)
        kt->box_h16(buf.data(), k, cn, inv_area, dst.row(y), n);
      else
        kt->box_h32(buf.data(), k, cn, inv_area, dst.row(y), n);
    }
  });
}

void gauss_fast(const Image& src, const std::vector<uint16_t>& kx, const std::vector<uint16_t>& ky,
                Image& dst, const cv_rows::Kernels* kt) {
  const int w = src.width, h = src.height, cn = src.channels, n = w * cn;
  const int kxs = int(kx.size()), kys = int(ky.size()), rx = kxs / 2, ry = kys / 2;
  for_rows(h, [&](int y0, int y1) {
    std::vector<uint16_t> buf(size_t(w + 2 * rx) * cn);
    std::vector<const uint8_t*> rows(kys);
    for (int y = y0; y < y1; ++y) {
      for (int t = 0; t < kys; ++t) rows[t] = src.row(reflect101(y - ry + t, h));
      kt->gauss_v(rows.data(), ky.data(), kys, buf.data() + size_t(rx) * cn, n);
      fill_border_x(buf.data(), w, rx, cn);
      kt->gauss_h(buf.data(), kx.data(), kxs, cn, dst.row(y), n);
    }
  });
}

void canny_fast(const Image& gray, int32_t low, int32_t high, bool l2, const cv_rows::Kernels* kt,
                Image& dst) {
  const int w = gray.width, h = gray.height, mw = w + 2;
  // map: (w + 2) x (h + 2), a frame of 1 (not an edge) around the NMS result.
  // The map lives in a per-thread scratch buffer kept between calls (grow-only): a fresh 8 MB
  // allocation per 4K frame costs an mmap, page faults and, with several threads, an munmap TLB
  // shoot-down each call. Left uninitialised (NMS writes every inner pixel); only the frame is set.
  static thread_local std::unique_ptr<uint8_t[]> map_buf;
  static thread_local size_t map_cap = 0;
  const size_t map_size = size_t(mw) * (h + 2);
  if (map_cap < map_size) {
    map_buf.reset(new uint8_t[map_size]);
    map_cap = map_size;
  }
  uint8_t* map = map_buf.get();
  std::memset(map, 1, mw);
  std::memset(map + size_t(h + 1) * mw, 1, mw);
  auto map_row = [&](int y) { return map + size_t(y + 1) * mw + 1; };
  std::vector<std::vector<uint8_t*>> band_seeds;
  std::mutex mu;
  for_rows(h, [&](int y0, int y1) {
    // Ring of 3 rows of dx, dy and magnitude (magnitude padded with a 0 at each end).
    std::vector<int16_t> dxy(size_t(6) * w), tmp(size_t(2) * (w + 2));
    std::vector<int32_t> mag(size_t(3) * mw, 0);
    std::vector<uint8_t> pad(size_t(3) * mw);
    std::vector<uint8_t*> local;
    auto slot = [](int yy) { return (yy + 3) % 3; };
    auto padded = [&](int yy, int s) {  // row yy (replicated vertically and horizontally)
      const uint8_t* srow = gray.row(std::clamp(yy, 0, h - 1));
      uint8_t* p = pad.data() + size_t(s) * mw;
      std::memcpy(p + 1, srow, w);
      p[0] = srow[0], p[w + 1] = srow[w - 1];
      return p + 1;
    };
    auto compute = [&](int yy) {
      const int s = slot(yy);
      int32_t* m = mag.data() + size_t(s) * mw + 1;
      if (yy < 0 || yy >= h) {
        std::fill(m - 1, m + w + 1, 0);
        return;
      }
      const uint8_t* r0 = padded(yy - 1, 0);
      const uint8_t* r1 = padded(yy, 1);
      const uint8_t* r2 = padded(yy + 1, 2);
      int16_t* dx = dxy.data() + size_t(2 * s) * w;
      int16_t* dy = dx + w;
      kt->sobel3(r0, r1, r2, w, tmp.data(), dx, dy);
      kt->magnitude(dx, dy, w, l2, m);
    };
    compute(y0 - 1);
    compute(y0);
    for (int y = y0; y < y1; ++y) {
      compute(y + 1);
      const int s = slot(y);
      const int32_t* mp = mag.data() + size_t(slot(y - 1)) * mw + 1;
      const int32_t* ma = mag.data() + size_t(s) * mw + 1;
      const int32_t* mn = mag.data() + size_t(slot(y + 1)) * mw + 1;
      const int16_t* dx = dxy.data() + size_t(2 * s) * w;
      uint8_t* mrow = map_row(y);
      mrow[-1] = mrow[w] = 1;
      kt->nms(mp, ma, mn, dx, dx + w, w, low, high, mrow);
      for (int x = 0; x < w; ++x)
        if (mrow[x] == 2) local.push_back(mrow + x);
    }
    std::lock_guard<std::mutex> lock(mu);
    band_seeds.push_back(std::move(local));
  });
  // Hysteresis (serial): grow every strong pixel through 8-connected weak candidates (0).
  std::vector<uint8_t*> stack;
  for (auto& b : band_seeds) stack.insert(stack.end(), b.begin(), b.end());
  const ptrdiff_t offs[8] = {-mw - 1, -mw, -mw + 1, -1, 1, mw - 1, mw, mw + 1};
  while (!stack.empty()) {
    uint8_t* p = stack.back();
    stack.pop_back();
    for (ptrdiff_t o : offs)
      if (p[o] == 0) p[o] = 2, stack.push_back(p + o);
  }
  for_rows(h, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) kt->select_eq(map_row(y), 2, dst.row(y), w);
  });
}

// Makes *dst a w x h x c image, reusing its storage when the size already matches (Image's
// constructor zero-fills, which costs as much as a fast filter pass on large images).
void prepare(Image* dst, int w, int h, int c) {
  if (dst->width == w && dst->height == h && dst->channels == c &&
      dst->pixels.size() == size_t(w) * h * c)
    return;
  *dst = Image(w, h, c);
}

}  // namespace

// ---- colour -----------------------------------------------------------------------------------
namespace {

// A per-row colour conversion into *dst (src's size, c channels): the row kernel `kernel` of
// the active kernels over bands of rows, or the reference `ref` when none are active. dst may
// be &src.
template <typename Fn>
void convert_rows(const Image& src, Image* dst, int c, Image (*ref)(const Image&),
                  Fn cv_rows::Kernels::*kernel) {
  const cv_rows::Kernels* kt = kernels();
  if (!kt) {
    *dst = ref(src);
    return;
  }
  if (dst == &src) {
    convert_rows(Image(src), dst, c, ref, kernel);
    return;
  }
  prepare(dst, src.width, src.height, c);
  const Fn row = kt->*kernel;
  for_rows(src.height, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) {
      if constexpr (std::is_invocable_v<Fn, const uint8_t*, uint8_t*, int>)
        row(src.row(y), dst->row(y), src.width);  // from YUV: always 3 channels
      else
        row(src.row(y), src.channels, dst->row(y), src.width);
    }
  });
}

// The value-returning form of a conversion into *dst.
Image to_new(void (*convert)(const Image&, Image*), const Image& src) {
  Image dst;
  convert(src, &dst);
  return dst;
}

}  // namespace

void rgb_to_gray(const Image& src, Image* dst) {
  assert(src.channels == 1 || src.channels == 3 || src.channels == 4);
  if (src.channels == 1 && kernels()) {
    if (dst != &src) *dst = src;
    return;
  }
  convert_rows(src, dst, 1, cv_ref::rgb_to_gray, &cv_rows::Kernels::gray);
}
Image rgb_to_gray(const Image& src) {
  return to_new(rgb_to_gray, src);
}

void rgb_to_yuv(const Image& rgb, Image* dst) {
  assert(rgb.channels == 3 || rgb.channels == 4);
  convert_rows(rgb, dst, 3, cv_ref::rgb_to_yuv, &cv_rows::Kernels::rgb_to_yuv);
}
Image rgb_to_yuv(const Image& rgb) {
  return to_new(rgb_to_yuv, rgb);
}

void yuv_to_rgb(const Image& yuv, Image* dst) {
  assert(yuv.channels == 3);
  convert_rows(yuv, dst, 3, cv_ref::yuv_to_rgb, &cv_rows::Kernels::yuv_to_rgb);
}
Image yuv_to_rgb(const Image& yuv) {
  return to_new(yuv_to_rgb, yuv);
}

// ---- box blur ---------------------------------------------------------------------------------
Status box_blur(const Image& src, int ksize, Image* dst) {
  SCV_TRY(check_image(src, "blur"));
  SCV_TRY(check_ksize(ksize));
  const cv_rows::Kernels* kt = kernels();
  if (!kt || dst == &src) {
    if (!kt) *dst = cv_ref::box_blur(src, ksize);
    if (kt) SCV_TRY(box_blur(Image(src), ksize, dst));
    return Status();
  }
  prepare(dst, src.width, src.height, src.channels);
  if (ksize <= 15)
    box_fast<uint16_t>(src, ksize, *dst, kt);
  else
    box_fast<uint32_t>(src, ksize, *dst, kt);
  return Status();
}
Result<Image> box_blur(const Image& src, int ksize) {
  Image dst;
  SCV_TRY(box_blur(src, ksize, &dst));
  return dst;
}

// ---- Gaussian ---------------------------------------------------------------------------------
namespace {
// The fixed binomial tables OpenCV uses for sigma <= 0 and ksize <= 9.
const std::vector<double>* small_gaussian(int ksize) {
  static const std::vector<double> t1{1.0}, t3{0.25, 0.5, 0.25},
      t5{0.0625, 0.25, 0.375, 0.25, 0.0625},
      t7{0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125},
      t9{4 / 256.0,  13 / 256.0, 30 / 256.0, 51 / 256.0, 60 / 256.0,
         51 / 256.0, 30 / 256.0, 13 / 256.0, 4 / 256.0};
  switch (ksize) {
    case 1:
      return &t1;
    case 3:
      return &t3;
    case 5:
      return &t5;
    case 7:
      return &t7;
    case 9:
      return &t9;
    default:
      return nullptr;
  }
}
Status check_sigma(double sigma) {
  if (!std::isfinite(sigma)) return error("sigma must be a finite number, got ", sigma);
  return Status();
}
}  // namespace

Result<std::vector<double>> gaussian_kernel(int ksize, double sigma) {
  SCV_TRY(check_ksize(ksize));
  SCV_TRY(check_sigma(sigma));
  if (sigma <= 0)
    if (const auto* t = small_gaussian(ksize)) return *t;
  // g(x) = exp(-x^2 / (2 sigma^2)) at x = i - (ksize - 1) / 2, normalised to sum 1, computed as
  // OpenCV does: sigma = 0.15 ksize + 0.35 (= 0.3 ((ksize - 1) / 2 - 1) + 0.8) by a fused
  // multiply-add, x doubled onto an integer grid (2x = 2i + 1 - ksize, so the exponent is
  // -(2x)^2 / 8 sigma^2), the outer half computed once and mirrored, the centre tap exp(0) = 1.
  const double s = sigma > 0 ? sigma : std::fma(double(ksize), 0.15, 0.35);
  const double scale2 = -0.125 / (s * s);
  const int half = (ksize - 1) / 2;
  std::vector<double> values(half);
  double sum = 0;
  for (int i = 0, x2 = 1 - ksize; i < half; ++i, x2 += 2) {
    values[i] = std::exp(double(x2 * x2) * scale2);
    sum += values[i];
  }
  sum = sum * 2 + 1;
  const double inv = 1.0 / sum;
  std::vector<double> k(ksize);
  for (int i = 0; i < half; ++i) k[i] = k[ksize - 1 - i] = values[i] * inv;
  k[half] = inv;
  return k;
}

Result<std::vector<uint16_t>> gaussian_kernel_q8(int ksize, double sigma) {
  SCV_ASSIGN_OR_RETURN(std::vector<double> k, gaussian_kernel(ksize, sigma));
  // Outer taps to Q8 with error diffusion (round half to even, carry the rounding error to the
  // next tap), mirrored; the centre takes what is left of 256.
  std::vector<uint16_t> q(ksize);
  const int half = ksize / 2;
  double err = 0;
  int sum = 0;
  for (int i = 0; i < half; ++i) {
    const double adj = k[i] * 256 + err;
    const double v = std::nearbyint(adj);
    err = adj - v;
    q[i] = q[ksize - 1 - i] = uint16_t(v);
    sum += int(v);
  }
  q[half] = uint16_t(256 - 2 * sum);
  return q;
}

Status gaussian_blur(const Image& src, int ksize, double sigma, Image* dst) {
  SCV_TRY(check_image(src, "gaussian"));
  SCV_ASSIGN_OR_RETURN(std::vector<uint16_t> kq, gaussian_kernel_q8(ksize, sigma));
  const cv_rows::Kernels* kt = kernels();
  if (!kt) {
    *dst = cv_ref::gaussian_blur(src, kq);
    return Status();
  }
  if (dst == &src) return gaussian_blur(Image(src), ksize, sigma, dst);
  const std::vector<uint16_t> one{256};
  prepare(dst, src.width, src.height, src.channels);
  gauss_fast(src, src.width == 1 ? one : kq, src.height == 1 ? one : kq, *dst, kt);
  return Status();
}
Result<Image> gaussian_blur(const Image& src, int ksize, double sigma) {
  Image dst;
  SCV_TRY(gaussian_blur(src, ksize, sigma, &dst));
  return dst;
}

// ---- Canny ------------------------------------------------------------------------------------
Status canny(const Image& gray, const CannyParams& p, Image* dst) {
  SCV_TRY(check_image(gray, "canny"));
  if (gray.channels != 1) return error("canny: expected a 1-channel image, got ", gray.channels);
  if (p.aperture != 3 && p.aperture != 5 && p.aperture != 7)
    return error("aperture must be 3, 5 or 7, got ", p.aperture);
  if (!std::isfinite(p.low) || !std::isfinite(p.high) || p.low < 0 || p.high < 0)
    return error("thresholds must be finite and >= 0, got low ", p.low, ", high ", p.high);
  if (p.low > p.high) return error("low threshold ", p.low, " is above high threshold ", p.high);
  const cv_rows::Kernels* kt = kernels();
  if (!kt || p.aperture != 3) {
    *dst = cv_ref::canny(gray, p);
    return Status();
  }
  if (dst == &gray) return canny(Image(gray), p, dst);
  double lo = std::min(p.low, 1e9), hi = std::min(p.high, 1e9);
  if (p.l2) {
    lo = std::min(32767.0, lo), hi = std::min(32767.0, hi);
    lo *= lo, hi *= hi;
  }
  prepare(dst, gray.width, gray.height, 1);
  canny_fast(gray, int32_t(std::floor(lo)), int32_t(std::floor(hi)), p.l2, kt, *dst);
  return Status();
}
Result<Image> canny(const Image& gray, const CannyParams& p) {
  Image dst;
  SCV_TRY(canny(gray, p, &dst));
  return dst;
}

// ---- Otsu -------------------------------------------------------------------------------------
int otsu_threshold(const Image& gray) {
  assert(gray.channels == 1);
  if (!kernels()) return cv_ref::otsu_from_histogram(cv_ref::histogram(gray));
  // Per-band histograms (4 interleaved sub-histograms each, to break store-to-load chains).
  std::vector<uint32_t> hist(256, 0);
  std::mutex mu;
  const size_t npix = gray.pixels.size();
  ThreadPool::global().parallel_for(int64_t(npix), [&](int64_t b, int64_t e) {
    uint32_t sub[4][256] = {};
    const uint8_t* p = gray.pixels.data();
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {  // one 8-byte load, bytes spread over the 4 sub-histograms
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      ++sub[0][v & 255], ++sub[1][(v >> 8) & 255], ++sub[2][(v >> 16) & 255];
      ++sub[3][(v >> 24) & 255], ++sub[0][(v >> 32) & 255], ++sub[1][(v >> 40) & 255];
      ++sub[2][(v >> 48) & 255], ++sub[3][v >> 56];
    }
    for (; i < e; ++i) ++sub[0][p[i]];
    std::lock_guard<std::mutex> lock(mu);
    for (int v = 0; v < 256; ++v) hist[v] += sub[0][v] + sub[1][v] + sub[2][v] + sub[3][v];
  });
  return cv_ref::otsu_from_histogram(hist);
}

void threshold_binary(const Image& gray, int thresh, Image* dst) {
  assert(gray.channels == 1);
  const cv_rows::Kernels* kt = kernels();
  if (!kt || dst == &gray) {
    *dst = kt ? threshold_binary(Image(gray), thresh) : cv_ref::threshold_binary(gray, thresh);
    return;
  }
  prepare(dst, gray.width, gray.height, 1);
  for_rows(gray.height, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) kt->threshold(gray.row(y), thresh, dst->row(y), gray.width);
  });
}
Image threshold_binary(const Image& gray, int thresh) {
  Image dst;
  threshold_binary(gray, thresh, &dst);
  return dst;
}

}  // namespace scv
