// BMP (our own reader/writer), WebP (libwebp) and TIFF (libtiff) codecs behind decode_image and
// encode_image. Internal: the public entry points are in scratchcv/image.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scratchcv/image.h"

namespace scv::detail {

// The decoded-size budget every decoder checks from the header, before allocating: w x h must
// be positive and at most kMaxImagePixels, and w x h x channels bytes at most
// max(64 MiB, 1024 x file size). No genuine JPEG or PNG compresses 1024:1 (deflate stops at
// 1032:1 before filter bytes; a JPEG block costs >= 1 bit), so a tiny file claiming a huge
// image is refused before any memory is spent on it.
Status check_image_budget(int64_t w, int64_t h, int channels, size_t file_size, const char* fmt);

bool is_bmp(const uint8_t* d, size_t n);
bool is_webp(const uint8_t* d, size_t n);
bool is_tiff(const uint8_t* d, size_t n);
Result<Image> decode_bmp(const uint8_t* d, size_t n);
Result<Image> decode_webp(const uint8_t* d, size_t n);
Result<Image> decode_tiff(const uint8_t* d, size_t n);
Result<std::vector<uint8_t>> encode_bmp(const Image& img);
Result<std::vector<uint8_t>> encode_webp(const Image& img, int quality);
Result<std::vector<uint8_t>> encode_tiff(const Image& img);

}  // namespace scv::detail
