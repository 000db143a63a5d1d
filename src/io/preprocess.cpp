// torchvision's ImageNet eval transform on 8-bit images, reproducing PIL step by step so that
// our tensors match the Python pipeline (Resize(256) -> CenterCrop(224) -> ToTensor ->
// Normalize) to the last bit where possible.
//
// PIL's bilinear resize (libImaging/Resample.c) is separable: a horizontal pass into an 8-bit
// temporary, then a vertical pass. For each output sample it
//   1. centres the filter at in0 + (i + 0.5) * scale, scale = in_size / out_size;
//   2. widens the triangle filter by max(scale, 1) (this is the antialias when shrinking):
//      support = 1 * max(scale, 1), taps xmin = int(center - support + 0.5) ..
//      int(center + support + 0.5) clamped to the image;
//   3. weights w = tri((x - center + 0.5) / max(scale, 1)), normalised to sum 1 (in double);
//   4. turns them into 22-bit fixed point, round half away from zero;
//   5. accumulates ints from 1 << 21 (the rounding half), shifts right by 22, clamps to 0..255.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "scratchcv/image.h"

namespace scv {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS for 8-bit images

double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Per output sample: first input index, tap count, and `ksize` fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

// The coefficients of output samples [out0, out0 + n) of a resize from in_size to out_size
// (index 0 of the result is sample out0).
Coeffs precompute_coeffs(int in_size, int out_size, int out0, int n) {
  Coeffs c;
  const double scale = double(float(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(n);
  c.count.resize(n);
  c.k.assign(size_t(n) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = out0; xx < out0 + n; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t* k = &c.k[size_t(xx - out0) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                   : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[xx - out0] = xmin;
    c.count[xx - out0] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift, as PIL's lookup index
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows [y0, y1) of `in` resampled horizontally into `out` (width from coeffs, y1 - y0 rows).
void resample_horizontal(const Image& in, int y0, int y1, const Coeffs& c, Image* out) {
  const int C = in.channels;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* src = in.row(y);
    uint8_t* dst = out->row(y - y0);
    for (int xx = 0; xx < out->width; ++xx) {
      const int32_t* k = &c.k[size_t(xx) * c.ksize];
      const uint8_t* s = src + size_t(c.first[xx]) * C;
      for (int ch = 0; ch < C; ++ch) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < c.count[xx]; ++x) acc += s[size_t(x) * C + ch] * k[x];
        dst[size_t(xx) * C + ch] = clip8(acc);
      }
    }
  }
}

// Vertical pass; `offset` is subtracted from the coefficient row indices.
void resample_vertical(const Image& in, const Coeffs& c, int offset, Image* out) {
  const size_t row_len = size_t(in.width) * in.channels;
  std::vector<int32_t> acc(row_len);
  for (int yy = 0; yy < out->height; ++yy) {
    const int32_t* k = &c.k[size_t(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* s = in.row(c.first[yy] - offset + y);
      const int32_t w = k[y];
      for (size_t i = 0; i < row_len; ++i) acc[i] += s[i] * w;
    }
    uint8_t* d = out->row(yy);
    for (size_t i = 0; i < row_len; ++i) d[i] = clip8(acc[i]);
  }
}

// Output columns [x0, x0 + w) and rows [y0, y0 + h) of resize_bilinear_antialias(img, new_width,
// new_height): each output sample depends on its own coefficients only, so a window of the
// result is computed alone, bit for bit the same, at the cost of the window.
Image resize_window(const Image& img, int new_width, int new_height, int x0, int y0, int w, int h) {
  assert(w > 0 && h > 0 && x0 >= 0 && y0 >= 0 && x0 + w <= new_width && y0 + h <= new_height);
  const bool need_h = new_width != img.width;
  const bool need_v = new_height != img.height;
  // Source rows the vertical pass reads (all of the window's rows when it does not resample).
  Coeffs cv;
  int y_first = y0, y_last = y0 + h;
  if (need_v) {
    cv = precompute_coeffs(img.height, new_height, y0, h);
    y_first = cv.first[0];
    y_last = cv.first[h - 1] + cv.count[h - 1];
  }
  // Only those rows go through the horizontal pass (as PIL).
  Image rows(w, y_last - y_first, img.channels);
  if (need_h) {
    resample_horizontal(img, y_first, y_last, precompute_coeffs(img.width, new_width, x0, w),
                        &rows);
  } else {
    for (int y = y_first; y < y_last; ++y)
      std::memcpy(rows.row(y - y_first), img.row(y) + size_t(x0) * img.channels,
                  size_t(w) * img.channels);
  }
  if (!need_v) return rows;
  Image out(w, h, img.channels);
  resample_vertical(rows, cv, y_first, &out);
  return out;
}

}  // namespace

Image resize_bilinear_antialias(const Image& img, int new_width, int new_height) {
  assert(new_width > 0 && new_height > 0 && img.width > 0 && img.height > 0);
  if (new_width == img.width && new_height == img.height) return img;
  return resize_window(img, new_width, new_height, 0, 0, new_width, new_height);
}

// torchvision 0.14 _compute_resized_output_size: short side -> size,
// long side -> int(size * long / short) (true division, then truncation).
static void shorter_side_dims(int w, int h, int size, int64_t* nw, int64_t* nh) {
  const int64_t s = w <= h ? w : h, l = w <= h ? h : w;
  const int64_t new_long = int64_t(double(int64_t(size) * l) / double(s));
  *nw = w <= h ? size : new_long;
  *nh = w <= h ? new_long : size;
}

Image resize_shorter_side(const Image& img, int size) {
  int64_t nw, nh;
  shorter_side_dims(img.width, img.height, size, &nw, &nh);
  return resize_bilinear_antialias(img, int(nw), int(nh));
}

// torchvision's crop origin along one axis of `size` pixels: int(round((size - crop) / 2.0))
// with Python's round (halves to even), or minus the zero padding (left/top get the smaller
// half) when the crop is larger.
static int crop_origin(int64_t size, int crop) {
  if (crop > size) return -int((crop - size) / 2);
  return int(std::nearbyint(double(size - crop) / 2.0));  // default mode: halves to even
}

Image center_crop(const Image& img, int crop_width, int crop_height) {
  const int W = img.width, H = img.height;
  const int top = crop_origin(H, crop_height), left = crop_origin(W, crop_width);
  Image out(crop_width, crop_height, img.channels);  // zero-filled
  for (int y = 0; y < crop_height; ++y) {
    const int sy = y + top;
    if (sy < 0 || sy >= H) continue;
    const int x0 = left < 0 ? -left : 0;
    const int x1 = std::min(crop_width, W - left);
    if (x1 <= x0) continue;
    std::memcpy(out.row(y) + size_t(x0) * img.channels,
                img.row(sy) + size_t(x0 + left) * img.channels, size_t(x1 - x0) * img.channels);
  }
  return out;
}

Image resize_and_center_crop(const Image& img, int size, int crop_width, int crop_height) {
  int64_t nw, nh;
  shorter_side_dims(img.width, img.height, size, &nw, &nh);
  const int top = crop_origin(nh, crop_height), left = crop_origin(nw, crop_width);
  // The part of the resized image inside the crop; the rest of the crop is zero padding.
  const int x0 = std::max(left, 0), x1 = int(std::min<int64_t>(left + crop_width, nw));
  const int y0 = std::max(top, 0), y1 = int(std::min<int64_t>(top + crop_height, nh));
  if (x1 - x0 == crop_width && y1 - y0 == crop_height)
    return resize_window(img, int(nw), int(nh), x0, y0, crop_width, crop_height);
  Image out(crop_width, crop_height, img.channels);  // zero-filled
  if (x1 <= x0 || y1 <= y0) return out;
  const Image part = resize_window(img, int(nw), int(nh), x0, y0, x1 - x0, y1 - y0);
  for (int y = 0; y < part.height; ++y)
    std::memcpy(out.row(y0 - top + y) + size_t(x0 - left) * img.channels, part.row(y),
                size_t(part.width) * img.channels);
  return out;
}

Tensor to_normalized_tensor(const Image& rgb, const float mean[3], const float std[3]) {
  assert(rgb.channels == 3);
  const int64_t H = rgb.height, W = rgb.width;
  Tensor t({3, H, W});
  float* d = t.data();
  for (int c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < H * W; ++i) {
      // ToTensor: u8 / 255 in float32; Normalize: (x - mean) / std in float32.
      const float v = float(rgb.pixels[size_t(i) * 3 + c]) / 255.0f;
      d[c * H * W + i] = (v - mean[c]) / std[c];
    }
  }
  return t;
}

Result<Tensor> imagenet_preprocess(const Image& rgb_in, int resize, int crop) {
  if (rgb_in.width <= 0 || rgb_in.height <= 0) return error("cannot preprocess an empty image");
  if (rgb_in.channels != 1 && rgb_in.channels != 3 && rgb_in.channels != 4)
    return error("cannot preprocess an image with ", rgb_in.channels,
                 " channels (expected 1, 3 or 4)");
  if (resize <= 0 || crop <= 0)
    return error("resize and crop sizes must be positive, got ", resize, " and ", crop);
  int64_t nw, nh;
  shorter_side_dims(rgb_in.width, rgb_in.height, resize, &nw, &nh);
  if (nw <= 0 || nh <= 0 || nw * nh > kMaxImagePixels)
    return error("resizing ", rgb_in.width, "x", rgb_in.height, " to shorter side ", resize,
                 " gives ", nw, "x", nh, ", outside the supported image sizes");
  Image converted;
  if (rgb_in.channels != 3) converted = convert_channels(rgb_in, 3);
  const Image& rgb = rgb_in.channels == 3 ? rgb_in : converted;
  const Image cropped = resize_and_center_crop(rgb, resize, crop, crop);
  static const float kMean[3] = {0.485f, 0.456f, 0.406f};
  static const float kStd[3] = {0.229f, 0.224f, 0.225f};
  return to_normalized_tensor(cropped, kMean, kStd);
}

}  // namespace scv

// ---- TF-slim's eval transform (TFLite ImageNet models) ----------------------------------------
namespace scv {

// tf.image.central_crop: start = int((size - size * fraction) / 2) computed in double, the crop
// keeps size - 2 * start pixels (so the crop is centred to the pixel).
Image central_crop_fraction(const Image& img, double fraction) {
  const int y0 = int((img.height - img.height * fraction) / 2.0);
  const int x0 = int((img.width - img.width * fraction) / 2.0);
  const int h = img.height - 2 * y0, w = img.width - 2 * x0;
  Image out(w, h, img.channels);
  for (int y = 0; y < h; ++y)
    std::memcpy(out.row(y), img.row(y + y0) + size_t(x0) * img.channels, size_t(w) * img.channels);
  return out;
}

// tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False), TF 1.x's default that
// TF-slim used: source coordinate = dst * (in / out), no antialias; float interpolation
// top + (bottom - top) * dy of left + (right - left) * dx, then rounded to the nearest uint8.
Image resize_bilinear_tf(const Image& img, int new_width, int new_height) {
  assert(new_width > 0 && new_height > 0 && img.width > 0 && img.height > 0);
  const float sy = float(img.height) / float(new_height), sx = float(img.width) / float(new_width);
  const int c = img.channels;
  std::vector<int> x0(static_cast<size_t>(new_width)), x1(static_cast<size_t>(new_width));
  std::vector<float> dx(static_cast<size_t>(new_width));
  for (int x = 0; x < new_width; ++x) {
    const float in = float(x) * sx;
    x0[size_t(x)] = std::min(int(std::floor(in)), img.width - 1);
    x1[size_t(x)] = std::min(x0[size_t(x)] + 1, img.width - 1);
    dx[size_t(x)] = in - std::floor(in);
  }
  Image out(new_width, new_height, c);
  for (int y = 0; y < new_height; ++y) {
    const float in = float(y) * sy;
    const int y0 = std::min(int(std::floor(in)), img.height - 1),
              y1 = std::min(y0 + 1, img.height - 1);
    const float dy = in - std::floor(in);
    const uint8_t *r0 = img.row(y0), *r1 = img.row(y1);
    uint8_t* o = out.row(y);
    for (int x = 0; x < new_width; ++x)
      for (int ch = 0; ch < c; ++ch) {
        const float tl = r0[x0[size_t(x)] * c + ch], tr = r0[x1[size_t(x)] * c + ch];
        const float bl = r1[x0[size_t(x)] * c + ch], br = r1[x1[size_t(x)] * c + ch];
        const float top = tl + (tr - tl) * dx[size_t(x)];
        const float bottom = bl + (br - bl) * dx[size_t(x)];
        const float v = top + (bottom - top) * dy;
        o[size_t(x) * c + ch] = uint8_t(std::clamp(int(v + 0.5f), 0, 255));
      }
  }
  return out;
}

Result<Image> tfslim_preprocess(const Image& img, int width, int height, double central_fraction) {
  if (img.width <= 0 || img.height <= 0 || img.pixels.empty()) return error("empty image");
  if (img.channels != 1 && img.channels != 3 && img.channels != 4)
    return error("expected 1, 3 or 4 channels, got ", img.channels);
  if (width <= 0 || height <= 0 || int64_t(width) * height > kMaxImagePixels)
    return error("model input size ", width, "x", height, " is not a valid image size");
  if (!(central_fraction > 0.0 && central_fraction <= 1.0))
    return error("central crop fraction ", central_fraction, " must be in (0, 1]");
  const Image rgb = img.channels == 3 ? img : convert_channels(img, 3);
  Image cropped = central_fraction < 1.0 ? central_crop_fraction(rgb, central_fraction) : rgb;
  if (cropped.width <= 0 || cropped.height <= 0)
    return error("image too small for the central crop");
  return resize_bilinear_tf(cropped, width, height);
}

}  // namespace scv
