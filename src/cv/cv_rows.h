// Row kernels behind the fast paths in cv.cpp: one table per ISA (AVX2, AVX-512), each built from
// the same source (cv_rows.inc) with that ISA's compiler flags. Every kernel works on one image
// row (or a few rows), n elements, any n >= 1, and touches exactly the elements it is given:
// borders are laid out by the caller in padded buffers, so no kernel reads out of bounds.
#pragma once

#include <cstdint>

#include "scratchcv/cpu.h"

namespace scv::cv_rows {

struct Kernels {
  // dst[x] = luma of src pixel x (src has cn = 3 or 4 channels), n pixels.
  void (*gray)(const uint8_t* src, int cn, uint8_t* dst, int n);
  // dst = Y U V per pixel (src cn = 3 or 4), n pixels.
  void (*rgb_to_yuv)(const uint8_t* src, int cn, uint8_t* dst, int n);
  // dst = R G B per pixel from Y U V, n pixels.
  void (*yuv_to_rgb)(const uint8_t* src, uint8_t* dst, int n);
  // Box filter, column sums kept in 16 bits (k <= 15) or 32 bits:
  //   init: sum[i] = sum over the k rows; slide: sum[i] += add[i] - sub[i];
  //   h: dst[i] = round(sum_{j<k} buf[i + j*cn] * inv_area), n outputs, buf holds n + (k-1)*cn.
  void (*box_vinit16)(const uint8_t* const* rows, int k, uint16_t* sum, int n);
  void (*box_vslide16)(const uint8_t* add, const uint8_t* sub, uint16_t* sum, int n);
  void (*box_h16)(const uint16_t* buf, int k, int cn, float inv_area, uint8_t* dst, int n);
  void (*box_vinit32)(const uint8_t* const* rows, int k, uint32_t* sum, int n);
  void (*box_vslide32)(const uint8_t* add, const uint8_t* sub, uint32_t* sum, int n);
  void (*box_h32)(const uint32_t* buf, int k, int cn, float inv_area, uint8_t* dst, int n);
  // Gaussian (Q8 kernel kq, sum(kq) * 255 < 2^16): v: dst[i] = sum_t kq[t] * rows[t][i];
  // h: dst[i] = (sum_j kq[j] * buf[i + j*cn] + 2^15) >> 16, buf holds n + (k-1)*cn.
  void (*gauss_v)(const uint8_t* const* rows, const uint16_t* kq, int k, uint16_t* dst, int n);
  void (*gauss_h)(const uint16_t* buf, const uint16_t* kq, int k, int cn, uint8_t* dst, int n);
  // 3x3 Sobel of one row from rows r0 (above), r1, r2 (below), each padded: r[-1] and r[w] valid.
  // tmp: 2 * (w + 2) int16 scratch. dx, dy: w values.
  void (*sobel3)(const uint8_t* r0, const uint8_t* r1, const uint8_t* r2, int w, int16_t* tmp,
                 int16_t* dx, int16_t* dy);
  // mag[x] = |dx| + |dy| or dx^2 + dy^2.
  void (*magnitude)(const int16_t* dx, const int16_t* dy, int n, bool l2, int32_t* mag);
  // Non-maximum suppression of one row (see cv_ref::canny). mp/ma/mn: magnitudes of the rows
  // above/at/below, each with mag[-1] and mag[w] valid (0 outside the image).
  // map[x] = 2 strong peak, 0 weak peak, 1 otherwise.
  void (*nms)(const int32_t* mp, const int32_t* ma, const int32_t* mn, const int16_t* dx,
              const int16_t* dy, int w, int32_t low, int32_t high, uint8_t* map);
  // dst[i] = src[i] == from ? 255 : 0.
  void (*select_eq)(const uint8_t* src, uint8_t from, uint8_t* dst, int n);
  // dst[i] = src[i] > t ? 255 : 0.
  void (*threshold)(const uint8_t* src, int t, uint8_t* dst, int n);
};

const Kernels* avx2();
const Kernels* avx512();
// The table for `isa` (nullptr for Isa::ref: callers use the cv_ref functions).
const Kernels* for_isa(Isa isa);

}  // namespace scv::cv_rows
