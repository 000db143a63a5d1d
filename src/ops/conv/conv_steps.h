// The steps a conv may run as: blocked direct (row or pixel-tile kernel), Winograd F(2x2, 3x3)
// or F(4x4, 3x3), NCHW im2col + GEMM, and the scalar reference with the fused epilogue. Each is
// bound to its kernels at prepare time (conv_plan.cpp chooses and fills them).
#pragma once

#include <algorithm>
#include <numeric>

#include "ops/conv/conv_plan.h"
#include "ops/conv/im2col.h"
#include "ops/fast.h"

namespace scv::conv {

struct ConvBlockedStep : Step {
  const FastKernels* k = nullptr;
  x86::ConvBlockedDesc d;
  Floats w, bias;
  int x = -1, res = -1, y = -1;
  int64_t n = 0, groups = 0;
  // How the threads share the work. split_rows: each thread takes a contiguous run of output
  // rows or pixels (all channel groups), so a thread mostly reads activations that it produced
  // itself in the previous step (they are in its own cache); chosen when activations outweigh
  // weights. Otherwise each thread takes a run of channel groups (all pixels) and reads only
  // its share of the weights. Either way a thread walks group-outer, so one group's packed
  // weights stay in cache while it sweeps its pixels (and images).
  bool split_rows = false;
  // tiles: the pixel-tile kernel (blocked input), work units are pixel bands (split_rows:
  // `bands` per image) or (group, image) pairs; otherwise the row kernel on (row, group) items.
  bool tiles = false;
  int64_t bands = 1;
  void run(const Exec& e) override {
    if (tiles)
      parallel(e, this, split_rows ? n * bands : groups * n);
    else
      parallel(e, this, n * groups * d.oh);
  }
  void range(const Exec& e, int64_t b, int64_t end) {
    const float* xp = e.ptr(x);
    const float* rp = res >= 0 ? e.ptr(res) : nullptr;
    float* yp = e.ptr(y);
    if (tiles) {
      const int64_t P = d.oh * d.ow;
      if (!split_rows) {
        for (int64_t u = b; u < end; ++u) k->conv_blocked_pixels(d, xp, rp, yp, u % n, u / n, 0, P);
        return;
      }
      // Pixel blocks outer, groups inner: a block of input is read from memory once and
      // reused by every group while it sits in L2.
      for (int64_t u = b; u < end; ++u) {
        const int64_t img = u / bands, band = u % bands;
        const int64_t q0 = P * band / bands, q1 = P * (band + 1) / bands;
        const int64_t nb = (q1 - q0 + x86::kConvPixelBlock - 1) / x86::kConvPixelBlock;
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t a = q0 + (q1 - q0) * i / nb, z = q0 + (q1 - q0) * (i + 1) / nb;
          for (int64_t g = 0; g < groups; ++g) k->conv_blocked_pixels(d, xp, rp, yp, img, g, a, z);
        }
      }
      return;
    }
    if (!split_rows) {
      for (int64_t i = b; i < end; ++i) {
        const int64_t oy = i % d.oh, g = (i / d.oh) % groups, img = i / (d.oh * groups);
        k->conv_blocked_row(d, xp, rp, yp, img, g, oy);
      }
      return;
    }
    // Items are (row, group) pairs in row-major order: [b, end) covers whole rows except
    // perhaps a partial first and last row; walk it group by group.
    const int64_t r0 = b / groups, r1 = (end - 1) / groups;
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t r = r0; r <= r1; ++r) {
        const int64_t i = r * groups + g;
        if (i < b || i >= end) continue;
        k->conv_blocked_row(d, xp, rp, yp, r / d.oh, g, r % d.oh);
      }
  }
};

// 3x3 / stride-1 / pad-1 conv by Winograd F(m x m, 3x3), m = 2 or 4: (m+2)^2 multiplications per
// m x m output tile and channel pair instead of 9 m^2 (F(2,3): 2.25x fewer, F(4,3): 4x). Work units
// are runs of tiles of one image (a thread keeps to one region of the picture, as with split_rows);
// each unit transforms its input patches into the thread's scratch, runs the 16 position GEMMs
// there with the pixel-tile kernel, and transforms the products straight into the output (bias,
// residual, ReLU fused).
struct WinogradStep : Step {
  const FastKernels* k = nullptr;
  x86::WinoDesc wd;
  x86::ConvBlockedDesc gd;  // one position's GEMM as a 1x1 conv over a row of tiles
  Floats w, bias, zero_bias;
  int64_t wset = 0;  // floats per packed position
  int x = -1, res = -1, y = -1, scratch = -1;
  int64_t n = 0, tiles = 0, units_per_img = 1, groups = 0, per_thread = 0;
  int64_t P = 16;  // positions: (m + 2)^2
  // phased: for convs whose weights outweigh their activations (late layers at small batch).
  // Three parallel phases over shared V and M buffers (whole images, tile stride = tiles):
  // input transform split by tiles, the 16 x groups position GEMMs split by (position, group)
  // so each thread reads only its share of the weights, output transform split by tiles.
  bool phased = false;
  void run(const Exec& e) override {
    if (phased) {
      e.pool->run([this, &e](int ith, int nth) { phase_input(e, ith, nth); });
      e.pool->run([this, &e](int ith, int nth) { phase_gemm(e, ith, nth); });
      e.pool->run([this, &e](int ith, int nth) { phase_output(e, ith, nth); });
      return;
    }
    e.pool->run([this, &e](int ith, int nth) {
      const int64_t units = n * units_per_img, chunk = (units + nth - 1) / nth;
      float* sc = e.ptr(scratch) + ith * per_thread;
      for (int64_t u = ith * chunk; u < std::min(units, (ith + 1) * chunk); ++u) unit(e, u, sc);
    });
  }
  void unit(const Exec& e, int64_t u, float* sc) {
    const int64_t img = u / units_per_img, b = u % units_per_img;
    const int64_t t0 = tiles * b / units_per_img, t1 = tiles * (b + 1) / units_per_img;
    const int64_t cnt = t1 - t0;
    if (cnt <= 0) return;
    float* v = sc;
    float* m = sc + P * wd.cin_pad * wd.tb;
    k->wino_input(wd, e.ptr(x), v, img, t0, t1);
    x86::ConvBlockedDesc g = gd;
    g.w = g.ow = cnt;
    for (int64_t xi = 0; xi < P; ++xi) {
      g.weight = w.get() + xi * wset;
      const float* vx = v + xi * wd.cin_pad * wd.tb;
      float* mx = m + xi * wd.cout_pad * wd.tb;
      for (int64_t grp = 0; grp < groups; ++grp)
        k->conv_blocked_pixels(g, vx, nullptr, mx, 0, grp, 0, cnt);
    }
    k->wino_output(wd, m, res >= 0 ? e.ptr(res) : nullptr, e.ptr(y), img, t0, t1);
  }
  // Phased mode: V of image i at v_img(i), M at m_img(i); tile t of position xi, block b at
  // [xi][b][t][vl] within them.
  float* v_img(const Exec& e, int64_t i) const {
    return e.ptr(scratch) + i * P * wd.cin_pad * tiles;
  }
  float* m_img(const Exec& e, int64_t i) const {
    return e.ptr(scratch) + n * P * wd.cin_pad * tiles + i * P * wd.cout_pad * tiles;
  }
  // Unit u of n * units_per_img over (image, run of tiles) for thread ith of nth.
  template <typename F>
  void tile_runs(int ith, int nth, F&& f) const {
    const int64_t units = n * units_per_img, chunk = (units + nth - 1) / nth;
    for (int64_t u = ith * chunk; u < std::min(units, (ith + 1) * chunk); ++u) {
      const int64_t img = u / units_per_img, b = u % units_per_img;
      const int64_t t0 = tiles * b / units_per_img, t1 = tiles * (b + 1) / units_per_img;
      if (t0 < t1) f(img, t0, t1);
    }
  }
  void phase_input(const Exec& e, int ith, int nth) {
    tile_runs(ith, nth, [&](int64_t img, int64_t t0, int64_t t1) {
      k->wino_input(wd, e.ptr(x), v_img(e, img) + t0 * k->vl, img, t0, t1);
    });
  }
  void phase_gemm(const Exec& e, int ith, int nth) {
    const int64_t units = P * groups * n, chunk = (units + nth - 1) / nth;
    x86::ConvBlockedDesc g = gd;
    g.w = g.ow = tiles;
    for (int64_t u = ith * chunk; u < std::min(units, (ith + 1) * chunk); ++u) {
      const int64_t img = u % n, grp = (u / n) % groups, xi = u / (n * groups);
      g.weight = w.get() + xi * wset;
      k->conv_blocked_pixels(g, v_img(e, img) + xi * wd.cin_pad * tiles, nullptr,
                             m_img(e, img) + xi * wd.cout_pad * tiles, 0, grp, 0, tiles);
    }
  }
  void phase_output(const Exec& e, int ith, int nth) {
    const float* r = res >= 0 ? e.ptr(res) : nullptr;
    tile_runs(ith, nth, [&](int64_t img, int64_t t0, int64_t t1) {
      k->wino_output(wd, m_img(e, img) + t0 * k->vl, r, e.ptr(y), img, t0, t1);
    });
  }
};

// NCHW conv as GEMM: Y[cout, OH*OW] = W[cout, C*KH*KW] x im2col(X) (1x1/s1/p0 reads X itself).
struct ConvGemmStep : Step {
  const FastKernels* k = nullptr;
  bool prepack = true;
  Floats a_packed;  // prepack: packed once
  Tensor w_oihw;    // !prepack: packed on every run
  Floats bias;
  ref::Conv2dParams p;
  int64_t n = 0, c = 0, h = 0, wd = 0, cout = 0, oh = 0, ow = 0, kdim = 0;
  bool direct = false, relu = false;
  int x = -1, res = -1, y = -1, col = -1;
  // per-run state
  x86::GemmDesc gd;
  const float* ximg = nullptr;
  float* colp = nullptr;
  int64_t pchunks = 0, phase = 0;
  void run(const Exec& e) override {
    float* apack = a_packed.get();
    float* heap_a = nullptr;
    float* heap_col = nullptr;
    if (!prepack) {  // the "no pre-packing" ladder step: pack and allocate on every call
      heap_a = new float[x86::packed_gemm_a_size(cout, kdim, k->gemm_mr)];
      x86::pack_gemm_a(w_oihw.data(), cout, kdim, k->gemm_mr, heap_a);
      apack = heap_a;
      if (!direct) heap_col = new float[kdim * oh * ow + 16];
    }
    colp = direct ? nullptr : (prepack ? e.ptr(col) : heap_col);
    const int64_t P = oh * ow;
    const int64_t chunk = 8 * k->gemm_nr;
    pchunks = (P + chunk - 1) / chunk;
    for (int64_t img = 0; img < n; ++img) {
      ximg = e.ptr(x) + img * c * h * wd;
      if (!direct) {
        phase = 0;
        parallel(e, this, c);
      }
      gd = x86::GemmDesc{};
      gd.m = cout;
      gd.k = kdim;
      gd.p = P;
      gd.a_packed = apack;
      gd.b = direct ? ximg : colp;
      gd.ldb = P;
      gd.y = e.ptr(y) + img * cout * P;
      gd.ldy = P;
      gd.bias = bias.get();
      gd.residual = res >= 0 ? e.ptr(res) + img * cout * P : nullptr;
      gd.relu = relu;
      phase = 1;
      parallel(e, this, (cout + k->gemm_mr - 1) / k->gemm_mr * pchunks);
    }
    delete[] heap_a;
    delete[] heap_col;
  }
  bool reentrant() const override { return false; }  // per-run state lives in the step
  void range(const Exec&, int64_t b, int64_t end) {
    if (phase == 0) {
      im2col(ximg, h, wd, p, oh, ow, b, end, colp);
      return;
    }
    const int64_t chunk = 8 * k->gemm_nr, P = oh * ow;
    for (int64_t i = b; i < end; ++i) {
      const int64_t panel = i / pchunks, pc = i % pchunks;
      k->gemm_panel(gd, panel, pc * chunk, std::min(P, (pc + 1) * chunk));
    }
  }
};

// Scalar reference conv (any group/dilation) with the same fused epilogue.
struct ConvRefStep : Step {
  Tensor w;  // OIHW (BatchNorm folded when fused)
  Floats bias;
  ref::Conv2dParams p;
  int64_t n = 0, c = 0, h = 0, wd = 0, cout = 0, count = 0;
  bool relu = false;
  int x = -1, res = -1, y = -1;
  void run(const Exec& e) override {
    float* yp = e.ptr(y);
    ref::conv2d(e.ptr(x), n, c, h, wd, w.data(), cout, bias.get(), p, yp);
    if (res >= 0) {
      const float* r = e.ptr(res);
      for (int64_t i = 0; i < count; ++i) yp[i] += r[i];
    }
    if (relu) ref::relu(yp, count, yp);
  }
};

}  // namespace scv::conv
