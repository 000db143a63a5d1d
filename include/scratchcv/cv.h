// Classic computer vision on 8-bit images: gray, YUV, box and Gaussian blur, Canny, Otsu.
//
// Every function matches the OpenCV function named beside it (Debian's OpenCV 4.6), bit for bit
// where the maths is integer (see docs/cv.md for the measured agreement). Images are scv::Image:
// interleaved HWC, channels in {1, 3, 4}, RGB(A) order, any size >= 1x1.
//
// Dispatch: the functions in namespace scv run the fast path for active_isa() (AVX-512 or AVX2
// row kernels, rows split over ThreadPool::global()); with active_isa() == Isa::ref they run the
// plain per-pixel reference in namespace scv::cv_ref, which is also the oracle in the tests.
// Results never depend on the ISA or the thread count.
//
// Errors: arguments a user can get wrong (even ksize, low > high, ...) return a Status with a
// message; an empty image (0 pixels) is also an error. Channel counts outside {1, 3, 4} are
// programming errors (assert).
#pragma once

#include <cstdint>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/status.h"

namespace scv {

// Luma, as cv::cvtColor(COLOR_RGB2GRAY / RGBA2GRAY) on 8 bits:
//   Y = (9798 R + 19235 G + 3735 B + 2^14) >> 15   (BT.601 0.299/0.587/0.114 in Q15).
// 1-channel input is copied; alpha is ignored. Output: 1 channel.
Image rgb_to_gray(const Image& src);

// BT.601 full-range YUV, as COLOR_RGB2YUV on 8 bits (Q14 fixed point):
//   Y = (4899 R + 9617 G + 1868 B + 2^13) >> 14 (Q14: differs from gray's Y on 0.26% of
//   colours, as in OpenCV); U = ((B - Y) * 8061 + 128 * 2^14 + 2^13) >> 14  (0.492)
//               V = ((R - Y) * 14369 + 128 * 2^14 + 2^13) >> 14 (0.877), saturated to 0..255.
// Input must have 3 or 4 channels (alpha ignored); output 3 channels Y, U, V.
Image rgb_to_yuv(const Image& rgb);
// Inverse, as COLOR_YUV2RGB: R = Y + ((V-128)*18678 + 2^13) >> 14, G = Y + ((U-128)*-6472 +
// (V-128)*-9519 + 2^13) >> 14, B = Y + ((U-128)*33292 + 2^13) >> 14, saturated. 3 channels in/out.
Image yuv_to_rgb(const Image& yuv);

// Mean filter, as cv::blur(src, (k, k)) with BORDER_REFLECT_101: each output is the mean of the
// k x k window, rounded to nearest. ksize must be odd and >= 1. Any channel count.
Result<Image> box_blur(const Image& src, int ksize);

// The 1-D Gaussian, as cv::getGaussianKernel(ksize, sigma, CV_64F): sigma <= 0 takes
// sigma = 0.3 * ((ksize - 1) / 2 - 1) + 0.8, ksize 1/3/5/7 with sigma <= 0 use the fixed binomial
// tables (and ksize 9 the table 4 13 30 51 60 51 30 13 4 / 256). Sums to 1. ksize odd, >= 1.
Result<std::vector<double>> gaussian_kernel(int ksize, double sigma = 0);
// The Q8 fixed-point kernel cv::GaussianBlur uses for 8-bit images: the outer taps rounded to
// 1/256 with error diffusion, the centre tap 256 - sum(others), so the taps sum to exactly 256.
Result<std::vector<uint16_t>> gaussian_kernel_q8(int ksize, double sigma = 0);
// Gaussian blur, as cv::GaussianBlur(src, (k, k), sigma) on 8 bits with BORDER_REFLECT_101:
// separable, out = (sum_i sum_j kq[i] kq[j] src + 2^15) >> 16 with the Q8 kernel kq, which is
// OpenCV's bit-exact path. A 1-row (1-column) image is filtered along x (y) only, as OpenCV does.
Result<Image> gaussian_blur(const Image& src, int ksize, double sigma = 0);

// Canny edges, as cv::Canny(gray, low, high, aperture, L2gradient):
// Sobel gradients (BORDER_REPLICATE, int16), magnitude |gx| + |gy| (or gx^2 + gy^2 with l2 and
// squared thresholds), non-maximum suppression in 4 directions (tan 22.5 deg in Q15), double
// threshold (> low candidate, > high strong) and 8-connected hysteresis.
// Input: 1 channel. Output: 1 channel, 255 on edges, 0 elsewhere.
struct CannyParams {
  double low = 0, high = 0;
  int aperture = 3;  // 3, 5 or 7
  bool l2 = false;
};
Result<Image> canny(const Image& gray, const CannyParams& params);

// Otsu's threshold of a 1-channel image, as cv::threshold(..., THRESH_OTSU): the level t that
// maximises the between-class variance of {<= t} and {> t}. A constant image gives 0.
int otsu_threshold(const Image& gray);
// dst = src > thresh ? 255 : 0 (THRESH_BINARY, maxval 255). 1 channel.
Image threshold_binary(const Image& gray, int thresh);

// The same operations writing into *dst, which is resized only when its size differs: reusing
// one dst across calls avoids allocating (and zero-filling) a new image each time. dst may be
// the input image. Errors as above; on error *dst is unspecified.
void rgb_to_gray(const Image& src, Image* dst);
void rgb_to_yuv(const Image& rgb, Image* dst);
void yuv_to_rgb(const Image& yuv, Image* dst);
Status box_blur(const Image& src, int ksize, Image* dst);
Status gaussian_blur(const Image& src, int ksize, double sigma, Image* dst);
Status canny(const Image& gray, const CannyParams& params, Image* dst);
void threshold_binary(const Image& gray, int thresh, Image* dst);

// Plain per-pixel references (single thread, no SIMD). Same contracts as above; used by the
// dispatching functions when active_isa() == Isa::ref and as the oracle in tests.
namespace cv_ref {
Image rgb_to_gray(const Image& src);
Image rgb_to_yuv(const Image& rgb);
Image yuv_to_rgb(const Image& yuv);
Image box_blur(const Image& src, int ksize);
Image gaussian_blur(const Image& src, const std::vector<uint16_t>& kq);
Image canny(const Image& gray, const CannyParams& params);
std::vector<uint32_t> histogram(const Image& gray);
int otsu_from_histogram(const std::vector<uint32_t>& hist);
Image threshold_binary(const Image& gray, int thresh);
// OpenCV's border maps: index p outside [0, len) mapped into it.
int reflect101(int p, int len);
int replicate(int p, int len);
}  // namespace cv_ref

}  // namespace scv
