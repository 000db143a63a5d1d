// Inputs made from photos for calibration and accuracy checks (see scratchcv/int8.h).
#include <algorithm>
#include <random>

#include "scratchcv/classifier.h"
#include "scratchcv/image.h"
#include "scratchcv/int8.h"

namespace scv {

Result<std::vector<Tensor>> photo_inputs(const std::vector<std::string>& photos, int count,
                                         int size, uint64_t seed) {
  if (photos.empty()) return error("no photos to make inputs from");
  if (count < 1 || size < 8) return error("count ", count, " and size ", size, " out of range");
  std::vector<Image> imgs;
  for (const std::string& p : photos) {
    SCV_ASSIGN_OR_RETURN(Image im, load_image(p, ColorMode::rgb));
    imgs.push_back(std::move(im));
  }
  static const float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};
  std::vector<Tensor> out;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const Image& im = imgs[size_t(i) % imgs.size()];
    Image crop;
    if (size_t(i) < imgs.size()) {
      crop = resize_and_center_crop(im, size * 256 / 224, size, size);
    } else {
      const int side = std::min(im.width, im.height);
      std::uniform_real_distribution<double> frac(0.4, 1.0);
      const int s = std::max(8, int(side * frac(rng)));
      std::uniform_int_distribution<int> ox(0, im.width - s), oy(0, im.height - s);
      const int x0 = ox(rng), y0 = oy(rng);
      const bool flip = rng() & 1;
      Image c(s, s, 3);
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x)
          for (int ch = 0; ch < 3; ++ch)
            c.at(flip ? s - 1 - x : x, y, ch) = im.at(x0 + x, y0 + y, ch);
      crop = resize_bilinear_antialias(c, size, size);
    }
    Tensor t = to_normalized_tensor(crop, kMean, kStd);
    out.push_back(t.reshaped(Shape{1, 3, size, size}));
  }
  return out;
}

Result<std::vector<Tensor>> builtin_calibration(int size) {
  SCV_ASSIGN_OR_RETURN(std::string path, find_data_file("sample.jpg"));
  return photo_inputs({path}, 16, size, 7);
}

}  // namespace scv
