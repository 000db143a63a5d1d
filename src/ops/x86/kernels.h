// Fast x86 kernels (AVX2+FMA and AVX-512): one table of function pointers per ISA.
//
// Two conv paths live here:
//  * conv_blocked: direct convolution on the channel-blocked layout NCHW{VL}c (VL = 16 floats
//    for AVX-512, 8 for AVX2): activations are [N][C/VL][H][W][VL]. One call computes one output
//    row of one output-channel group (OCB blocks of VL channels) with a register tile of T
//    output pixels x OCB vectors (AVX-512: 6 x 4 zmm = 24 accumulators; AVX2: 6 x 2 ymm = 12);
//    for 1x1 convs and the FC layer this tile is a GEMM microkernel (K = input channels).
//    Bias, ReLU and a residual Add are applied in the epilogue, before the single store.
//    The input may be plain NCHW (x_cb = 1, for the 3-channel stem) or blocked (x_cb = VL).
//  * gemm: Y[M, P] (+)= A[M, K] * B[K, P] (+bias[m], +residual, ReLU) on plain row-major
//    matrices, A pre-packed into panels of MR rows ([K][MR] each, zero-padded), B read in place.
//    Used for NCHW convs (1x1 directly, others after im2col) in the lower ladder steps, and by
//    scv::sgemm (src/ops/gemm/sgemm.h), the general GEMM of training and the backward pass.
// Padded channels (C rounded up to VL) always hold zeros: packed weights and biases are zero
// there, so every blocked producer writes zeros into them.
#pragma once

#include <cstdint>

#include "scratchcv/cpu.h"

namespace scv::x86 {

struct ConvBlockedDesc {
  // Input: element (n, c, ih, iw) at x[n*x_batch + (c/x_cb)*x_block + ih*x_row + iw*x_pix +
  // c%x_cb].
  int64_t cin_pad = 0;  // input channels rounded up to x_cb (weights are zero beyond cin)
  int64_t x_cb = 1, x_batch = 0, x_block = 0, x_row = 0, x_pix = 0;
  int64_t h = 0, w = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0;
  int64_t oh = 0, ow = 0;
  // Output (and residual): (n, c, oy, ox) at y[n*y_batch + (c/VL)*y_block + oy*y_row + ox*y_pix
  // + c%VL]; cout_pad is a multiple of VL.
  int64_t cout_pad = 0;
  int64_t y_batch = 0, y_block = 0, y_row = 0, y_pix = 0;
  const float* weight = nullptr;  // packed by pack_conv_blocked
  const float* bias = nullptr;    // [cout_pad]
  bool relu = false;
};

struct GemmDesc {
  int64_t m = 0, k = 0, p = 0;      // Y[m, p] = A[m, k] B[k, p]
  const float* a_packed = nullptr;  // pack_gemm_a(.., mr)
  const float* b = nullptr;
  int64_t ldb = 0;
  float* y = nullptr;
  int64_t ldy = 0;
  const float* bias = nullptr;      // [m] or nullptr
  const float* residual = nullptr;  // like y (ldy) or nullptr
  bool relu = false;
  bool accumulate = false;  // y += A B (then bias, residual, ReLU) instead of y = A B + ...
};

// Winograd F(m x m, 3x3), m = 2 or 4, for 3x3 / stride-1 / pad-1 convs on the blocked layout.
// The output is cut into m x m tiles (t = ty*tw + tx); each tile reads an (m+2)^2 input patch.
// For a run of tiles [t0, t1) the transformed input V and the products M are stored
// position-major: v[xi][cb][t - t0][vl], m[xi][ob][t - t0][vl] (xi < (m+2)^2, tile stride tb),
// so that each position is a 1x1 conv (a GEMM over channels) that conv_blocked_pixels runs.
struct WinoDesc {
  int64_t m = 2;  // output tile m x m: F(2x2, 3x3) (16 positions) or F(4x4, 3x3) (36)
  int64_t cin_pad = 0, cout_pad = 0;
  int64_t h = 0, w = 0;                         // input and output size
  int64_t th = 0, tw = 0;                       // tiles: ceil(h/m) x ceil(w/m)
  int64_t x_batch = 0, x_block = 0, x_row = 0;  // blocked input, pixel stride vl
  int64_t y_batch = 0, y_block = 0, y_row = 0;  // blocked output and residual
  int64_t tb = 0;                               // tile stride of v and m
  const float* bias = nullptr;                  // [cout_pad]
  bool relu = false;
};

struct Kernels {
  Isa isa;
  int vl;        // floats per vector = channel block of the blocked layout
  int conv_ocb;  // output-channel blocks per conv register tile (group size)
  int gemm_mr;   // rows per packed A panel
  int gemm_nr;   // columns per gemm tile
  // One output row `oy` of output-channel group `g` (channels [g*conv_ocb*vl, ...)) of image n.
  void (*conv_blocked_row)(const ConvBlockedDesc& d, const float* x, const float* residual,
                           float* y, int64_t n, int64_t g, int64_t oy);
  // Output pixels [p0, p1) (flattened oy*ow + ox) of group g of image n; blocked input only
  // (x_cb == vl). Tiles may span rows; padding taps read zeros; K cut into L2-sized chunks
  // (kConvChunkBytes below).
  void (*conv_blocked_pixels)(const ConvBlockedDesc& d, const float* x, const float* residual,
                              float* y, int64_t n, int64_t g, int64_t p0, int64_t p1);
  // Winograd transforms of tiles [t0, t1) of image n: input patches -> v (B^T d B); products m
  // -> y (A^T m A, + bias, + residual, ReLU; pixels past the right/bottom edge are dropped).
  void (*wino_input)(const WinoDesc& d, const float* x, float* v, int64_t n, int64_t t0,
                     int64_t t1);
  void (*wino_output)(const WinoDesc& d, const float* m, const float* residual, float* y, int64_t n,
                      int64_t t0, int64_t t1);
  // Tiles of A panel `panel` and columns [p0, p1).
  void (*gemm_panel)(const GemmDesc& d, int64_t panel, int64_t p0, int64_t p1);
  // Blocked pools over one (n, channel block) plane: x [h][w][vl] -> y [oh][ow][vl].
  void (*maxpool_blocked_plane)(const float* x, int64_t h, int64_t w, float* y, int64_t oh,
                                int64_t ow, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                int64_t pt, int64_t pl);
  void (*gap_blocked_plane)(const float* x, int64_t hw, float* y);  // y[vl] = mean over hw
  // Elementwise over `count` floats (any layout): y = a + b (ReLU optional); y = max(x, 0).
  void (*add)(const float* a, const float* b, float* y, int64_t count, bool relu);
  void (*relu)(const float* x, float* y, int64_t count);
  // y[i] = x[i] * s + t over one plane of `count` floats.
  void (*scale_shift)(const float* x, float s, float t, float* y, int64_t count);
  // FMA throughput probe (for the bench's "% of peak"): runs `iters` rounds of 12 independent
  // FMAs and returns the FLOPs done; *sink receives a result so nothing is optimised away.
  double (*fma_peak_probe)(int64_t iters, float* sink);
};

// Cache blocking of conv_blocked_pixels: a reduction chunk's packed weights plus the input it
// reads for one block of output pixels stay within kConvChunkBytes (L2). Measured on ResNet50
// shapes: chunks sized for L1 (32 KiB of weights) lose 3-10% to L2-sized ones, since every
// extra chunk re-loads and re-stores the accumulators of every tile; with no cut at all, 2
// threads lose 1.7x on layer3's 1x1 convs (1024 input channels over 196 pixels spill L2).
constexpr int64_t kConvChunkBytes = 384 * 1024;
constexpr int64_t kConvPixelBlock = 256;

// nullptr for Isa::ref or when the CPU lacks the ISA.
const Kernels* kernels_for(Isa isa);
const Kernels* kernels_avx2();
const Kernels* kernels_avx512();

// Weight packing (plain C++, any ISA).
// Conv weight OIHW [cout][cin][kh][kw] -> per group of ocb*vl output channels a block
// [kh][kw][cin_pad][ocb*vl] (the last group may be narrower: its own width); zero padding.
// Group g starts at g * kh*kw*cin_pad*ocb*vl floats. Returns the packed size in floats.
int64_t packed_conv_blocked_size(int64_t cout, int64_t cin_pad, int64_t kh, int64_t kw, int vl,
                                 int ocb);
// scale (nullable, [cout]) multiplies each output channel's weights while packing (the folded
// BatchNorm), so no folded copy of the weights is ever materialised.
// Packs groups [g0, g1) (g1 = -1: all), so that packing can be split across threads.
void pack_conv_blocked(const float* w, const float* scale, int64_t cout, int64_t cin,
                       int64_t cin_pad, int64_t kh, int64_t kw, int vl, int ocb, float* out,
                       int64_t g0 = 0, int64_t g1 = -1);
int64_t conv_blocked_groups(int64_t cout, int vl, int ocb);
// Winograd weight transform U = G g G^T of OIHW 3x3 weights [cout][cin][3][3] at one position
// xi < (m+2)^2 of F(m x m, 3x3), m = 2 or 4 (xi = row * (m+2) + col of U), each output channel
// multiplied by scale (nullable): u[cout][cin], ready to pack as a 1x1 conv.
void winograd_weights_at(const float* w, const float* scale, int64_t cout, int64_t cin, int m,
                         int xi, float* u);
// A [m][k] row-major -> panels of mr rows: panel i = [k][mr], rows past m are zero.
int64_t packed_gemm_a_size(int64_t m, int64_t k, int mr);
void pack_gemm_a(const float* a, int64_t m, int64_t k, int mr, float* out);

}  // namespace scv::x86
