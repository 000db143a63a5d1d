// 8-bit images, the JPEG/PNG codecs, and the torchvision ImageNet pre-processing.
//
// Image layout: interleaved HWC, row-major, `channels` in {1, 3, 4} (gray, RGB, RGBA),
// no row padding: pixel (x, y) channel c is pixels[(y * width + x) * channels + c].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
  uint8_t& at(int x, int y, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

// Largest image the decoders accept (width * height), to refuse absurd headers before allocating.
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;  // 268 M pixels

enum class ColorMode {
  keep,  // as stored: 1 (gray), 3 (RGB) or 4 (RGBA); CMYK/gray+alpha/16-bit are converted
  rgb,   // 3 channels: gray replicated, alpha dropped, CMYK converted
  gray,  // 1 channel: BT.601 luma, as OpenCV/PIL
};

// Decodes a JPEG, PNG, BMP (uncompressed 1/4/8/24/32-bit), WebP (still) or TIFF (any layout
// libtiff's RGBA reader handles) by content (magic bytes, not the file name).
//  - JPEG: EXIF orientation (APP1 IFD0 tag 0x0112, values 1..8) is applied, as PIL's
//    ImageOps.exif_transpose; CMYK/YCCK is read as Adobe-inverted and converted to RGB as PIL.
//    libjpeg warnings (truncated data, corrupt entropy data) are errors.
//  - PNG: palette -> RGB, tRNS -> alpha, gray+alpha -> RGBA, 1/2/4-bit -> 8-bit, 16-bit -> the
//    high byte.
// Images over kMaxImagePixels, or whose decoded size exceeds max(64 MiB, 1024 x the file's size)
// (no genuine file compresses that far), are refused from the header, before any pixel buffer.
// Errors: "empty file ...", "not a JPEG or PNG file (starts with 'hell')", "truncated JPEG
// data", "corrupt PNG data (...)", ...; load_image prefixes the path ("photo.jpg: ...").
Result<Image> decode_image(const uint8_t* data, size_t size, ColorMode mode = ColorMode::keep);
Result<Image> load_image(const std::string& path, ColorMode mode = ColorMode::keep);

// Encodes 1/3/4-channel 8-bit images as PNG bytes: Sub filter, zlib `level` 0..9 (default 1 with
// the RLE strategy, as OpenCV's imwrite; other levels use zlib's default strategy), no
// interlace; large images are deflated one band of rows per thread.
Result<std::vector<uint8_t>> encode_png(const Image& img, int level = 1);
// Writes a PNG atomically (temp file + rename). Refuses channels outside {1, 3, 4}.
Status save_png(const std::string& path, const Image& img);

// Output formats, chosen by the file name's extension (any case): .png, .jpg/.jpeg, .bmp, .webp,
// .tif/.tiff; anything else (no extension, "-") is PNG.
enum class ImageFormat { png, jpeg, bmp, webp, tiff };
ImageFormat image_format_for_path(const std::string& path);
// Encodes 1/3/4-channel images. quality (1..100) applies to JPEG (libjpeg scale; alpha is
// dropped) and WebP (100 = lossless); PNG (zlib level 1, RLE, as OpenCV), BMP (8-bit gray with
// a palette, 24-bit BGR, 32-bit BGRA) and TIFF (LZW) are lossless.
Result<std::vector<uint8_t>> encode_image(const Image& img, ImageFormat format, int quality = 95);
// encode_image by the extension of `path`, written by write_file_atomic (safe outputs).
Status save_image(const std::string& path, const Image& img, int quality = 95);

// Convert channel count: 1 <-> 3 <-> 4 (alpha dropped / set to 255). To gray uses PIL's
// convert('L') integer BT.601: (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (alpha ignored).
Image convert_channels(const Image& img, int channels);

// Applies EXIF orientation `o` (1..8; others are a copy), as PIL's ImageOps.exif_transpose:
// 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 cw, 7 transverse, 8 rotate 90 ccw.
Image apply_exif_orientation(const Image& img, int o);

// torchvision's ImageNet eval transform, step by step (each matches PIL / torchvision 0.14, which
// apply the transforms to PIL images; tests/py/image_preprocess_golden.py checks bit-exactness):
//   Resize(256) [shorter side to 256, bilinear with antialias, as PIL.Image.resize]
//   CenterCrop(224), ToTensor() [/255], Normalize(mean, std).
//
// resize_bilinear_antialias: PIL's Image.resize(BILINEAR): separable, horizontal pass first into
// an 8-bit temporary, triangle filter widened by the scale when shrinking, 22-bit fixed-point
// weights; 1, 3 or 4 channels, each channel independently (PIL premultiplies RGBA by alpha: we
// do not). Same size returns a copy. Sizes must be positive (assert).
Image resize_bilinear_antialias(const Image& img, int new_width, int new_height);
// Shorter side -> `size`, longer side -> int(size * long / short), as torchvision 0.14.
Image resize_shorter_side(const Image& img, int size);
// torchvision's center_crop: offsets int(round((H - crop) / 2.0)) with Python's round (halves
// to even); a crop larger than the image pads with zeros (left/top get the smaller half).
Image center_crop(const Image& img, int crop_width, int crop_height);
// center_crop(resize_shorter_side(img, size), crop_width, crop_height), bit for bit, computing
// only the resized pixels inside the crop (a 16 x 65521 image resized to 256 x 1048336 would
// take ~1 GB and seconds; its 224 x 224 crop takes what 224 x 224 pixels take).
Image resize_and_center_crop(const Image& img, int size, int crop_width, int crop_height);
// RGB HWC -> float CHW [3, H, W]: (u8 / 255.0f - mean[c]) / std[c] in float32, as torchvision.
Tensor to_normalized_tensor(const Image& rgb, const float mean[3], const float std[3]);
// The whole transform with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
// Input: 1, 3 or 4 channels (gray/RGBA are first converted to RGB as PIL's convert('RGB')).
// Output: float tensor [3, crop, crop], CHW. Errors: empty image, other channel counts,
// non-positive sizes, a resized image over kMaxImagePixels (absurd aspect ratios).
Result<Tensor> imagenet_preprocess(const Image& rgb, int resize = 256, int crop = 224);

// TF-slim's eval transform (inception_preprocessing.preprocess_for_eval), what TFLite ImageNet
// classifiers (MobileNet v1/v2, Inception) were trained and evaluated with:
//   central_crop(0.875) [tf.image.central_crop: start = int((size - size * 0.875) / 2)],
//   resize_bilinear to the model's input size [align_corners=False, half_pixel_centers=False,
//   no antialias], rounded to uint8 RGB. The pixels are then fed as the model's input type
//   asks: uint8 as is, int8 as p - 128, float32 as p / 127.5 - 1 (see set_image_input).
Image central_crop_fraction(const Image& img, double fraction);
Image resize_bilinear_tf(const Image& img, int new_width, int new_height);
// 1, 3 or 4 channels in (converted to RGB), width x height RGB out. Errors: empty image,
// other channel counts, sizes that are not positive.
Result<Image> tfslim_preprocess(const Image& img, int width, int height,
                                double central_fraction = 0.875);

}  // namespace scv
