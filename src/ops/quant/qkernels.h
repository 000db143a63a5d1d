// Quantized kernels: the reference (plain C++, TFLite's integer arithmetic exactly) and the
// per-ISA fast kernels (qkernels_avx512.cpp: AVX-512 VNNI, qkernels_avx2.cpp: AVX2).
//
// Domain: every quantized activation is held as uint8 with an int32 zero point. An int8 tensor
// (real = s * (v - z)) is stored as v + 128 with zero point z + 128: the same real values, so one
// kernel serves uint8 and int8 models, and (x - zx) is unchanged. Clamp bounds are given in the
// stored domain. Weights are stored with their zero point already subtracted.
// Layout: activations NHWC; conv weights [oc][kh][kw][ic]; depthwise weights [kh][kw][oc].
#pragma once

#include <cstddef>
#include <cstdint>

namespace scv::quant {

// Per-output-channel requantization to the output's stored domain.
struct Requant {
  const int32_t* mult = nullptr;   // Q31 mantissas, one per output channel
  const int32_t* shift = nullptr;  // TFLite shifts (> 0 left, < 0 right)
  int32_t out_zp = 0;              // stored-domain zero point
  int32_t lo = 0, hi = 255;        // fused activation clamp, stored domain
  bool single = true;              // single rounding (TFLITE_SINGLE_ROUNDING) or TFLite's double
  bool rshift = false;  // every shift < 0 (multipliers < 1/2): the kernels' cheaper requantization
};

struct ConvGeom {
  int n = 1, ih = 0, iw = 0, ic = 0;
  int oh = 0, ow = 0, oc = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pad_t = 0, pad_l = 0;
  int depth_mult = 1;  // depthwise only: oc = ic * depth_mult
};

// Reference conv / depthwise conv: acc = bias[o] + sum (x - in_zp) * w over in-bounds taps
// (out-of-bounds taps are the zero point, contributing 0), then requantize and clamp. Output
// rows [r0, r1) of the n * oh rows.
struct ConvRef {
  ConvGeom g;
  int32_t in_zp = 0;
  const int16_t* w = nullptr;  // (w - wz), conv [oc][kh][kw][ic] / depthwise [kh][kw][oc]
  const int32_t* bias = nullptr;
  Requant rq;
};
void conv_ref(const ConvRef& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1);
void dwconv_ref(const ConvRef& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1);

// ADD of two equally shaped tensors, TFLite's uint8/int8 scheme (left shift 20).
struct AddParams {
  int32_t in1_offset = 0, in2_offset = 0;  // -zero point (stored domain)
  int32_t in1_mult = 0, in2_mult = 0, out_mult = 0;
  int in1_shift = 0, in2_shift = 0, out_shift = 0;
  int left_shift = 20;
  int32_t out_zp = 0, lo = 0, hi = 255;
  bool single = true;  // see Requant
};
void add_ref(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
             int64_t i1);

// Average / max pooling over a window, TFLite semantics (average counts in-bounds taps only,
// rounds (sum + count/2) / count; `signed_round` rounds as TFLite's int8 kernel does, halves
// away from zero around the int8 value 0 = stored 128).
struct PoolParams {
  ConvGeom g;  // kh, kw, sh, sw, pad_t, pad_l; oc == ic
  bool average = true, signed_round = false;
  int32_t lo = 0, hi = 255;
};
void pool_ref(const PoolParams& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1);

// The per-ISA fast kernels (null where a CPU lacks the ISA).
struct FastConv {
  ConvGeom g;
  int32_t in_zp = 0;
  int kpad = 0;                   // K = kh*kw*ic rounded up to the kernel's K step
  int ocpad = 0;                  // oc rounded up to the kernel's column block
  const int8_t* w = nullptr;      // packed by pack_gemm_weights
  const int32_t* bias = nullptr;  // [ocpad], zero-point corrections folded in
  Requant rq;                     // arrays padded to ocpad
  bool direct = false;            // 1x1 stride 1 unpadded: rows read in place (no im2col)
};
struct FastDw {
  ConvGeom g;
  int32_t in_zp = 0;
  const int32_t* w = nullptr;     // [kh*kw][ocpad] int32 (w - wz)
  const int32_t* bias = nullptr;  // [ocpad]
  Requant rq;
  int ocpad = 0;
  // 3x3, dilation 1 (null otherwise): (w - wz) as int16 pairs of taps [ocpad/8][5][8][2] (the
  // 10th tap 0), bias - in_zp * sum w [ocpad], and in_zp bytes for taps outside the image
  // (iw * ic + 64 bytes).
  const int16_t* wpair = nullptr;
  const int32_t* bias_zp = nullptr;
  const uint8_t* zrow = nullptr;
};
struct QKernels {
  const char* name;
  int k_step;         // GEMM K granularity in bytes (4: vpdpbusd, 2: vpmaddwd)
  int col_block;      // GEMM column block
  bool int8_weights;  // GEMM weights must fit int8 (w - wz in [-128, 127]); else int16 is fine
  // Packs (w - wz) [oc][K] (int16) into the kernel's layout (int8 or int16 elements).
  void (*pack_gemm_weights)(const int16_t* w, int oc, int K, int kpad, int ocpad, int8_t* out);
  size_t (*conv_scratch_bytes)(const FastConv& p);  // per thread
  void (*conv)(const FastConv& p, const uint8_t* in, uint8_t* out, uint8_t* scratch, int64_t r0,
               int64_t r1);
  void (*dwconv)(const FastDw& p, const uint8_t* in, uint8_t* out, int64_t r0, int64_t r1);
  void (*add)(const AddParams& p, const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t i0,
              int64_t i1);
  // Issues `iters` x 8 independent vpdpbusd (or the ISA's int8 dot product); returns the
  // int8 multiply-adds performed (for the benchmark's peak).
  double (*peak_probe)(int64_t iters, int32_t* sink);
};
const QKernels* qkernels_avx512();  // null when the build or CPU lacks AVX-512 VNNI
const QKernels* qkernels_avx2();

}  // namespace scv::quant
