// Session: prepare (shape inference, fusion, packing, memory plan, kernel binding), then run.
// See include/scratchcv/session.h for the contract and docs/architecture.md for the design.
#include "scratchcv/session.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "graph/passes.h"
#include "ops/x86/kernels.h"
#include "runtime/memory_plan.h"
#include "scratchcv/ops_ref.h"

namespace scv {

namespace {

// ---- aligned float buffers owned by steps -----------------------------------------------------

// Buffers of 2 MiB and more are mapped directly and marked for transparent huge pages: packing
// 100 MB of weights then takes ~50 page faults instead of ~25,000 (prepare time = cold start).
struct FloatsFree {
  size_t mapped = 0;  // bytes mapped with mmap, or 0 for aligned_alloc64
  void operator()(float* p) const {
    if (mapped)
      munmap(p, mapped);
    else
      aligned_free(p);
  }
};
using Floats = std::unique_ptr<float[], FloatsFree>;

// n floats plus 16 of zeroed slack; zero=false leaves the n floats for the caller to fill
// (they are zero anyway when freshly mapped).
Result<Floats> alloc_floats(int64_t n, bool zero = true) {
  const size_t bytes = sizeof(float) * static_cast<size_t>(n + 16);
  if (bytes >= (size_t{2} << 20)) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return error("out of memory mapping ", bytes, " bytes");
    madvise(p, bytes, MADV_HUGEPAGE);  // advisory: ignored where THP is off
    return Floats(static_cast<float*>(p), FloatsFree{bytes});
  }
  float* p = static_cast<float*>(aligned_alloc64(bytes));
  if (!p) return error("out of memory allocating ", bytes, " bytes");
  std::memset(zero ? p : p + n, 0, sizeof(float) * static_cast<size_t>(zero ? n + 16 : 16));
  return Floats(p);
}

// ---- shape inference ---------------------------------------------------------------------------

Status need_rank(const Node& n, const Shape& s, size_t rank, const char* what) {
  if (s.size() != rank)
    return error("node '", n.name, "' (", op_name(n.op), "): expected ", what, " of rank ", rank,
                 ", found shape ", shape_str(s));
  return Status();
}

Status infer_node(const Node& node, std::vector<Shape>& sh) {
  auto in = [&](size_t i) -> const Shape& { return sh[node.inputs[i]]; };
  Shape out;
  const Shape& x = in(0);
  switch (node.op) {
    case OpType::Conv: {
      SCV_TRY(need_rank(node, x, 4, "input"));
      if (node.inputs.size() < 2) return error("node '", node.name, "': Conv needs a weight");
      const Shape& w = in(1);
      SCV_TRY(need_rank(node, w, 4, "weight"));
      const int64_t g = node.attrs.group;
      if (g <= 0 || x[1] % g != 0 || w[0] % g != 0 || w[1] * g != x[1])
        return error("node '", node.name, "': weight ", shape_str(w), " does not fit input ",
                     shape_str(x), " with group=", g);
      if (node.inputs.size() > 2 && node.inputs[2] >= 0 && shape_numel(in(2)) != w[0])
        return error("node '", node.name, "': bias does not match ", w[0], " output channels");
      ref::Pool2dParams p;
      SCV_TRY(window_params(node, x[2], x[3], w[2], w[3], &p));
      const int64_t oh = ref::conv_out_dim(x[2], p.kh, p.sh, p.pad_t, p.pad_b, p.dh);
      const int64_t ow = ref::conv_out_dim(x[3], p.kw, p.sw, p.pad_l, p.pad_r, p.dw);
      if (oh <= 0 || ow <= 0)
        return error("node '", node.name, "': input ", shape_str(x), " is smaller than the kernel");
      out = {x[0], w[0], oh, ow};
      break;
    }
    case OpType::BatchNorm:
      if (x.size() < 2) return error("node '", node.name, "': BatchNorm input must be rank >= 2");
      if (node.inputs.size() != 5) return error("node '", node.name, "': BatchNorm needs 5 inputs");
      for (int i = 1; i <= 4; ++i)
        if (shape_numel(in(i)) != x[1])
          return error("node '", node.name, "': parameter ", i, " does not have ", x[1],
                       " elements");
      out = x;
      break;
    case OpType::Relu:
    case OpType::Identity:
      out = x;
      break;
    case OpType::Softmax: {
      const int64_t r = static_cast<int64_t>(x.size());
      const int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
      if (axis < 0 || axis >= std::max<int64_t>(r, 1))
        return error("node '", node.name, "': axis ", node.attrs.axis, " out of range");
      out = x;
      break;
    }
    case OpType::MaxPool:
    case OpType::AveragePool: {
      SCV_TRY(need_rank(node, x, 4, "input"));
      const auto& k = node.attrs.kernel_shape;
      if (k.size() != 2) return error("node '", node.name, "': expected a 2-D kernel_shape");
      ref::Pool2dParams p;
      SCV_TRY(window_params(node, x[2], x[3], k[0], k[1], &p));
      const int64_t oh = ref::conv_out_dim(x[2], p.kh, p.sh, p.pad_t, p.pad_b, p.dh, p.ceil_mode);
      const int64_t ow = ref::conv_out_dim(x[3], p.kw, p.sw, p.pad_l, p.pad_r, p.dw, p.ceil_mode);
      if (oh <= 0 || ow <= 0)
        return error("node '", node.name, "': input ", shape_str(x), " is smaller than the window");
      out = {x[0], x[1], oh, ow};
      break;
    }
    case OpType::GlobalAveragePool:
      if (x.size() < 3) return error("node '", node.name, "': input must be rank >= 3");
      out = x;
      for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
      break;
    case OpType::Flatten: {
      const int64_t r = static_cast<int64_t>(x.size());
      const int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
      if (axis < 0 || axis > r)
        return error("node '", node.name, "': axis ", node.attrs.axis, " out of range");
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= x[i];
      out = {outer, outer ? shape_numel(x) / outer : 0};
      break;
    }
    case OpType::Reshape: {
      SCV_ASSIGN_OR_RETURN(out, reshape_target(node, x));
      break;
    }
    case OpType::Gemm: {
      const Shape& b = in(1);
      SCV_TRY(need_rank(node, x, 2, "A"));
      SCV_TRY(need_rank(node, b, 2, "B"));
      const Attrs& at = node.attrs;
      const int64_t m = at.trans_a ? x[1] : x[0], k = at.trans_a ? x[0] : x[1];
      const int64_t kb = at.trans_b ? b[1] : b[0], n = at.trans_b ? b[0] : b[1];
      if (k != kb)
        return error("node '", node.name, "': A ", shape_str(x), " and B ", shape_str(b),
                     " have different inner dimensions");
      if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
        const Shape& cs = in(2);
        if (cs.size() > 2) return error("node '", node.name, "': C must have rank <= 2");
        const int64_t cc = cs.empty() ? 1 : cs.back(), cr = cs.size() == 2 ? cs[0] : 1;
        if ((cr != 1 && cr != m) || (cc != 1 && cc != n))
          return error("node '", node.name, "': C ", shape_str(cs), " does not broadcast");
      }
      out = {m, n};
      break;
    }
    case OpType::MatMul: {
      const Shape& b = in(1);
      if (x.size() < 2 || b.size() < 2)
        return error("node '", node.name, "': MatMul of rank < 2 is not supported");
      const int64_t m = x[x.size() - 2], k = x.back(), n = b.back();
      if (b[b.size() - 2] != k)
        return error("node '", node.name, "': MatMul inner dimensions differ");
      const int64_t ba = shape_numel(x) / (m * k), bb = shape_numel(b) / (k * n);
      if (bb != 1 && (bb != ba || x.size() != b.size()))
        return error("node '", node.name, "': MatMul batch broadcasting is not supported");
      out = x;
      out.back() = n;
      break;
    }
    case OpType::Add:
      if (!ref::broadcast_shape(x, in(1), &out))
        return error("node '", node.name, "': shapes ", shape_str(x), " and ", shape_str(in(1)),
                     " do not broadcast");
      break;
  }
  if (node.outputs.empty()) return error("node '", node.name, "' has no output");
  sh[node.outputs[0]] = out;
  return Status();
}

// ---- execution context and steps ---------------------------------------------------------------

struct Exec {
  float* base = nullptr;
  const int64_t* off = nullptr;
  ThreadPool* pool = nullptr;
  float* ptr(int slot) const { return base + off[slot]; }
};

struct Step {
  StepInfo info;
  virtual ~Step() = default;
  // Steps keep no per-run state: all of it is in the Exec (arena, pool), so several threads
  // may run the same step on different arenas at once (image-parallel batches).
  virtual void run(const Exec& e) = 0;
  virtual bool reentrant() const { return true; }
};

// Runs body(begin, end) over [0, n) on the pool; the lambda holds one pointer, so building the
// std::function never allocates.
template <typename S>
void parallel(const Exec& e, S* self, int64_t n) {
  e.pool->parallel_for(n, [self, &e](int64_t b, int64_t end) { self->range(e, b, end); });
}

int64_t blocks_of(int64_t c, int vl) {
  return (c + vl - 1) / vl;
}

struct CopyStep : Step {  // plain copy between slots (Flatten/Reshape/Identity without alias)
  int src = -1, dst = -1;
  int64_t count = 0;
  void run(const Exec& e) override {
    std::memcpy(e.ptr(dst), e.ptr(src), sizeof(float) * static_cast<size_t>(count));
  }
};

struct ReorderStep : Step {  // plain NCHW <-> blocked N[C/VL]HW[VL] (zeros in padded channels)
  int src = -1, dst = -1;
  int64_t n = 0, c = 0, hw = 0;
  int vl = 16;
  bool to_blocked = true;
  void run(const Exec& e) override { parallel(e, this, n * blocks_of(c, vl)); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const float* s = e.ptr(src);
    float* d = e.ptr(dst);
    const int64_t cb = blocks_of(c, vl);
    for (int64_t i = b; i < end; ++i) {
      const int64_t img = i / cb, blk = i % cb;
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < vl; ++k) {
          const int64_t ch = blk * vl + k;
          const int64_t bi = ((img * cb + blk) * hw + p) * vl + k;
          if (to_blocked)
            d[bi] = ch < c ? s[(img * c + ch) * hw + p] : 0.0f;
          else if (ch < c)
            d[(img * c + ch) * hw + p] = s[bi];
        }
    }
  }
};

struct ConvBlockedStep : Step {
  const x86::Kernels* k = nullptr;
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

// 3x3 / stride-1 / pad-1 conv by Winograd F(2x2, 3x3): 16 multiplications per 2x2 output tile
// and channel pair instead of 36 (2.25x fewer). Work units are runs of tiles of one image
// (a thread keeps to one region of the picture, as with split_rows); each unit transforms its
// input patches into the thread's scratch, runs the 16 position GEMMs there with the pixel-tile
// kernel, and transforms the products straight into the output (bias, residual, ReLU fused).
struct WinogradStep : Step {
  const x86::Kernels* k = nullptr;
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

// Fully connected layer on the blocked conv kernel: A [N][K] is an image of height 1 and width N.
struct FcStep : Step {
  const x86::Kernels* k = nullptr;
  x86::ConvBlockedDesc d;
  Floats w, bias;
  int x = -1, scratch = -1, y = -1;
  int64_t n = 0, m = 0, groups = 0;
  void run(const Exec& e) override {
    parallel(e, this, groups);
    const float* s = e.ptr(scratch);
    float* yp = e.ptr(y);
    const int vl = k->vl;
    for (int64_t img = 0; img < n; ++img)
      for (int64_t j = 0; j < m; ++j) yp[img * m + j] = s[(j / vl) * n * vl + img * vl + j % vl];
  }
  void range(const Exec& e, int64_t b, int64_t end) {
    for (int64_t g = b; g < end; ++g)
      k->conv_blocked_row(d, e.ptr(x), nullptr, e.ptr(scratch), 0, g, 0);
  }
};

void im2col(const float* x, int64_t c, int64_t h, int64_t w, const ref::Conv2dParams& p, int64_t oh,
            int64_t ow, int64_t c0, int64_t c1, float* col) {
  for (int64_t ci = c0; ci < c1; ++ci)
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j) {
        float* dst = col + ((ci * p.kh + i) * p.kw + j) * oh * ow;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * p.sh - p.pad_t + i * p.dh;
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t ix = ox * p.sw - p.pad_l + j * p.dw;
            dst[oy * ow + ox] =
                iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ci * h + iy) * w + ix] : 0.0f;
          }
        }
      }
  (void)c;
}

// NCHW conv as GEMM: Y[cout, OH*OW] = W[cout, C*KH*KW] x im2col(X) (1x1/s1/p0 reads X itself).
struct ConvGemmStep : Step {
  const x86::Kernels* k = nullptr;
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
      im2col(ximg, c, h, wd, p, oh, ow, b, end, colp);
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

// Unfused BatchNorm (per-channel y = x * a + s), SIMD or scalar.
struct BatchNormStep : Step {
  const x86::Kernels* k = nullptr;  // nullptr: reference kernel
  const float *gamma = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
  float eps = 1e-5f;
  Tensor keep[4];
  int64_t n = 0, c = 0, hw = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override {
    if (!k) {
      ref::batchnorm(e.ptr(x), n, c, hw, gamma, beta, mean, var, eps, e.ptr(y));
      return;
    }
    const float* xp = e.ptr(x);
    float* yp = e.ptr(y);
    for (int64_t img = 0; img < n; ++img)
      for (int64_t ch = 0; ch < c; ++ch) {
        const float a = gamma[ch] / std::sqrt(var[ch] + eps);
        const int64_t o = (img * c + ch) * hw;
        k->scale_shift(xp + o, a, beta[ch] - mean[ch] * a, yp + o, hw);
      }
  }
};

struct EltwiseStep : Step {  // Relu or same-shape Add (+ReLU), SIMD or scalar, any layout
  const x86::Kernels* k = nullptr;
  bool is_add = false, relu = false;
  int a = -1, b = -1, y = -1;
  int64_t count = 0;
  void run(const Exec& e) override {
    if (!k) {
      range(e, 0, count);
      return;
    }
    parallel(e, this, (count + 4095) / 4096);
  }
  void range(const Exec& e, int64_t bgn, int64_t end) {
    int64_t i0 = bgn, i1 = end;
    if (k) i0 = bgn * 4096, i1 = std::min(count, end * 4096);
    const float* ap = e.ptr(a) + i0;
    float* yp = e.ptr(y) + i0;
    const int64_t len = i1 - i0;
    if (is_add) {
      const float* bp = e.ptr(b) + i0;
      if (k) {
        k->add(ap, bp, yp, len, relu);
      } else {
        for (int64_t i = 0; i < len; ++i) yp[i] = ap[i] + bp[i];
        if (relu) ref::relu(yp, len, yp);
      }
    } else {
      if (k)
        k->relu(ap, yp, len);
      else
        ref::relu(ap, len, yp);
    }
  }
};

struct MaxPoolBlockedStep : Step {
  const x86::Kernels* k = nullptr;
  ref::Pool2dParams p;
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override { parallel(e, this, planes); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const int vl = k->vl;
    for (int64_t i = b; i < end; ++i)
      k->maxpool_blocked_plane(e.ptr(x) + i * h * w * vl, h, w, e.ptr(y) + i * oh * ow * vl, oh, ow,
                               p.kh, p.kw, p.sh, p.sw, p.pad_t, p.pad_l);
  }
};

struct GapBlockedStep : Step {
  const x86::Kernels* k = nullptr;
  int64_t planes = 0, hw = 0;
  int x = -1, y = -1;
  void run(const Exec& e) override { parallel(e, this, planes); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const int vl = k->vl;
    for (int64_t i = b; i < end; ++i)
      k->gap_blocked_plane(e.ptr(x) + i * hw * vl, hw, e.ptr(y) + i * vl);
  }
};

// Any node, reference kernels, plain NCHW buffers in the arena (inputs may be constants).
struct RefStep : Step {
  Node node;
  std::vector<int> in_slots;      // -1 for constants / omitted
  std::vector<Tensor> in_consts;  // constant inputs (shared storage)
  std::vector<Shape> in_shapes;
  Shape out_shape;
  ref::Pool2dParams wp;
  int y = -1;
  const float* in(const Exec& e, size_t i) const {
    if (i >= in_slots.size()) return nullptr;
    if (in_slots[i] >= 0) return e.ptr(in_slots[i]);
    return in_consts[i].empty() ? nullptr : in_consts[i].data();
  }
  void run(const Exec& e) override {
    float* yp = e.ptr(y);
    const float* x = in(e, 0);
    const Shape& xs = in_shapes[0];
    const int64_t cnt = shape_numel(out_shape);
    switch (node.op) {
      case OpType::Conv: {
        ref::Conv2dParams p{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t,        wp.pad_l,
                            wp.pad_b, wp.pad_r, wp.dh, wp.dw, node.attrs.group};
        ref::conv2d(x, xs[0], xs[1], xs[2], xs[3], in(e, 1), out_shape[1], in(e, 2), p, yp);
        break;
      }
      case OpType::BatchNorm:
        ref::batchnorm(x, xs[0], xs[1], shape_numel(xs) / (xs[0] * xs[1]), in(e, 1), in(e, 2),
                       in(e, 3), in(e, 4), node.attrs.epsilon, yp);
        break;
      case OpType::Relu:
        ref::relu(x, cnt, yp);
        break;
      case OpType::MaxPool:
        ref::maxpool2d(x, xs[0] * xs[1], xs[2], xs[3], wp, yp);
        break;
      case OpType::AveragePool:
        ref::avgpool2d(x, xs[0] * xs[1], xs[2], xs[3], wp, yp);
        break;
      case OpType::GlobalAveragePool:
        ref::global_avgpool(x, xs[0] * xs[1], shape_numel(xs) / (xs[0] * xs[1]), yp);
        break;
      case OpType::Flatten:
      case OpType::Reshape:
      case OpType::Identity:
        if (yp != x) std::memmove(yp, x, sizeof(float) * static_cast<size_t>(cnt));
        break;
      case OpType::Gemm: {
        const Attrs& at = node.attrs;
        const Shape& bs = in_shapes[1];
        const int64_t k = at.trans_a ? xs[0] : xs[1];
        int64_t cr = 1, cc = 1;
        const float* c = in(e, 2);
        if (c) {
          const Shape& cs = in_shapes[2];
          cc = cs.empty() ? 1 : cs.back();
          cr = cs.size() == 2 ? cs[0] : 1;
        }
        (void)bs;
        ref::gemm(x, in(e, 1), c, cr, cc, out_shape[0], out_shape[1], k, at.trans_a, at.trans_b,
                  at.alpha, at.beta, yp);
        break;
      }
      case OpType::MatMul: {
        const Shape& bs = in_shapes[1];
        const int64_t m = xs[xs.size() - 2], k = xs.back(), n = bs.back();
        const int64_t ba = shape_numel(xs) / (m * k), bb = shape_numel(bs) / (k * n);
        for (int64_t i = 0; i < ba; ++i)
          ref::gemm(x + i * m * k, in(e, 1) + (bb == 1 ? 0 : i * k * n), nullptr, 1, 1, m, n, k,
                    false, false, 1.0f, 0.0f, yp + i * m * n);
        break;
      }
      case OpType::Add:
        ref::add_broadcast(x, xs, in(e, 1), in_shapes[1], yp, out_shape);
        break;
      case OpType::Softmax: {
        const int64_t r = static_cast<int64_t>(xs.size());
        const int64_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
        int64_t outer = 1, len = 1, inner = 1;
        for (int64_t i = 0; i < r; ++i) {
          if (i < axis)
            outer *= xs[i];
          else if (i == axis || node.attrs.softmax_legacy)
            len *= xs[i];
          else
            inner *= xs[i];
        }
        ref::softmax(x, outer, len, inner, yp);
        break;
      }
    }
    if (node.attrs.fused_relu) ref::relu(yp, cnt, yp);
  }
};

}  // namespace

// ---- the session
// ---------------------------------------------------------------------------------

struct Session::Impl {
  SessionOptions opt;
  Shape in_shape, out_shape;
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<StepInfo> infos;
  std::vector<PlannedBuffer> bufs;
  std::vector<int64_t> offsets;
  Floats arena;
  int64_t arena_floats = 0;
  size_t weight_bytes = 0;
  int in_slot = -1, out_slot = -1;
  int64_t in_count = 0, out_count = 0;
  std::unique_ptr<ThreadPool> pool;
  double flops = 0, exec_flops = 0;
  // Image-parallel batches (SessionOptions::image_parallel): the steps are planned for one
  // image and each thread runs whole images on its own arena (arenas[i]; thread 0 uses arena).
  int64_t images = 0;  // batch size in that mode, 0 otherwise
  std::vector<Floats> arenas;
  ThreadPool serial{1};  // the pool the steps see inside one thread's image
};

namespace {

// Builds the step list for one graph (the "prepare" half).
class Builder {
 public:
  Builder(const Graph& g, const SessionOptions& opt, Session::Impl& s, ThreadPool& pool,
          Graph* consume)
      : g_(g),
        opt_(opt),
        s_(s),
        pool_(pool),
        consume_(consume),
        plain_(g.values.size(), -1),
        blk_(g.values.size(), -1),
        shapes_(g.values.size()) {
    simd_ = opt.simd && opt.isa != Isa::ref ? x86::kernels_for(opt.isa) : nullptr;
    blocked_ = simd_ && opt.blocked;
  }

  Status build(const Shape& input_shape) {
    SCV_TRY(g_.validate());
    if (g_.inputs.size() != 1)
      return error("Session supports graphs with one input, this one has ", g_.inputs.size());
    if (g_.outputs.empty()) return error("graph has no outputs");
    for (size_t i = 0; i < g_.values.size(); ++i)
      if (g_.values[i].is_constant()) shapes_[i] = g_.values[i].constant.shape();
    const Shape& declared = g_.values[g_.inputs[0]].shape;
    if (!declared.empty()) {
      bool fits = declared.size() == input_shape.size();
      for (size_t i = 0; fits && i < declared.size(); ++i)
        fits = declared[i] < 0 || declared[i] == input_shape[i];
      if (!fits)
        return error("input shape ", shape_str(input_shape), " does not match the model's ",
                     shape_str(declared));
    }
    for (int64_t d : input_shape)
      if (d <= 0) return error("input shape ", shape_str(input_shape), " has a non-positive dim");
    shapes_[g_.inputs[0]] = input_shape;
    for (const Node& n : g_.nodes) SCV_TRY(infer_node(n, shapes_));
    plan_ = plan_fusions(g_, shapes_, opt_.fuse, opt_.fuse, opt_.fuse);

    const int in = g_.inputs[0];
    s_.in_shape = input_shape;
    s_.in_count = shape_numel(input_shape);
    s_.in_slot = plain_[in] = new_slot(s_.in_count);
    touch(s_.in_slot);  // written by run() before step 0

    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const int absorber = plan_.absorbed_by[i];
      if (node.op == OpType::Conv && absorber < 0) {
        if (plan_.conv[i].last == static_cast<int>(i)) SCV_TRY(emit_conv(static_cast<int>(i)));
        continue;
      }
      if (absorber >= 0) {
        if (plan_.conv[absorber].last == static_cast<int>(i)) SCV_TRY(emit_conv(absorber));
        continue;
      }
      SCV_TRY(emit_node(node));
    }
    const int outv = g_.outputs[0];
    if (g_.values[outv].is_constant()) return error("graph output is a constant");
    SCV_ASSIGN_OR_RETURN(s_.out_slot, get_plain(outv));
    s_.out_shape = shapes_[outv];
    s_.out_count = shape_numel(s_.out_shape);
    touch(s_.out_slot);
    s_.bufs[s_.out_slot].last = static_cast<int>(s_.steps.size()) + 1;
    // Memory plan and arena.
    s_.arena_floats = plan_memory(&s_.bufs);
    s_.offsets.resize(s_.bufs.size());
    for (size_t i = 0; i < s_.bufs.size(); ++i) s_.offsets[i] = s_.bufs[i].offset;
    SCV_ASSIGN_OR_RETURN(s_.arena, alloc_floats(s_.arena_floats));
    for (auto& st : s_.steps) {
      if (st->info.exec_flops == 0) st->info.exec_flops = st->info.flops;
      s_.infos.push_back(st->info);
      s_.flops += st->info.flops;
      s_.exec_flops += st->info.exec_flops;
    }
    return Status();
  }

 private:
  int new_slot(int64_t floats) {
    PlannedBuffer b;
    b.floats = floats;
    b.first = INT_MAX;
    b.last = -1;
    s_.bufs.push_back(b);
    return static_cast<int>(s_.bufs.size()) - 1;
  }
  // Marks the slot as used by the step about to be pushed.
  void touch(int slot) {
    const int at = static_cast<int>(s_.steps.size());
    auto& b = s_.bufs[slot];
    b.first = std::min(b.first, at);
    b.last = std::max(b.last, at);
  }
  void push(std::unique_ptr<Step> st) { s_.steps.push_back(std::move(st)); }

  int vl() const { return simd_ ? simd_->vl : 16; }
  int64_t blocked_floats(const Shape& s) const {
    const int64_t hw = s.size() == 4 ? s[2] * s[3] : 1;
    return s[0] * blocks_of(s[1], vl()) * vl() * hw;
  }
  bool blockable(const Shape& s) const { return s.size() == 4 || s.size() == 2; }

  Result<int> get_plain(int v) {
    if (plain_[v] >= 0) return plain_[v];
    if (g_.values[v].is_constant())
      return error("constant '", g_.values[v].name, "' used as activation");
    if (blk_[v] < 0) return error("value '", g_.values[v].name, "' is used before it is computed");
    plain_[v] = new_slot(shape_numel(shapes_[v]));
    add_reorder(v, blk_[v], plain_[v], false);
    return plain_[v];
  }
  Result<int> get_blocked(int v) {
    if (blk_[v] >= 0) return blk_[v];
    SCV_ASSIGN_OR_RETURN(int p, get_plain(v));
    blk_[v] = new_slot(blocked_floats(shapes_[v]));
    add_reorder(v, p, blk_[v], true);
    return blk_[v];
  }
  // A step converting value v between plain NCHW (slot of one side) and the blocked layout.
  void add_reorder(int v, int src, int dst, bool to_blocked) {
    const Shape& s = shapes_[v];
    auto st = std::make_unique<ReorderStep>();
    st->info = {g_.values[v].name, to_blocked ? "reorder_to_blocked" : "reorder_to_nchw", 0};
    st->src = src;
    st->dst = dst;
    st->n = s[0];
    st->c = s[1];
    st->hw = s.size() == 4 ? s[2] * s[3] : 1;
    st->vl = vl();
    st->to_blocked = to_blocked;
    touch(st->src);
    touch(st->dst);
    push(std::move(st));
  }

  const Tensor* const_of(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
    const Value& v = g_.values[n.inputs[i]];
    return v.is_constant() ? &v.constant : nullptr;
  }

  Status emit_winograd(const Node& node, const ConvFusion& f, const Tensor& w,
                       const std::vector<float>& scale, const std::vector<float>& bias,
                       const std::string& name, double flops, const Shape& xs, const Shape& ys,
                       int64_t cout) {
    const int vlen = simd_->vl, ocb = simd_->conv_ocb;
    const int64_t cin = xs[1];
    auto st = std::make_unique<WinogradStep>();
    st->info = {name, "winograd_f23", flops};
    st->k = simd_;
    auto& wd = st->wd;
    wd.cin_pad = blocks_of(cin, vlen) * vlen;
    wd.cout_pad = blocks_of(cout, vlen) * vlen;
    wd.h = xs[2];
    wd.w = xs[3];
    // F(4,3) (2.25 multiplications per output instead of 4) where maps are large and the
    // transformed weights (36 positions) small: layer1/2 of ResNet50; F(2,3) elsewhere.
    wd.m = wd.h * wd.w >= 28 * 28 ? 4 : 2;
    st->P = (wd.m + 2) * (wd.m + 2);
    if (wd.m == 4) st->info.kind = "winograd_f43";
    wd.th = (wd.h + wd.m - 1) / wd.m;
    wd.tw = (wd.w + wd.m - 1) / wd.m;
    wd.x_block = wd.h * wd.w * vlen;
    wd.x_row = wd.w * vlen;
    wd.x_batch = blocks_of(cin, vlen) * wd.x_block;
    wd.y_block = ys[2] * ys[3] * vlen;
    wd.y_row = ys[3] * vlen;
    wd.y_batch = blocks_of(cout, vlen) * wd.y_block;
    wd.relu = f.relu;
    st->n = xs[0];
    st->tiles = wd.th * wd.tw;
    st->info.exec_flops = 2.0 * double(st->n * st->tiles * st->P) * double(cin) * double(cout);
    // Tiles per unit: the thread's V and M (P x tiles x (cin + cout) floats) stay within
    // ~1 MiB, and batch 1 still gives every thread a unit.
    const int nth = pool_.num_threads();
    // Same rule as the direct convs' split: weights far above activations -> phased.
    st->phased = double(st->P) * double(wd.cin_pad) * double(wd.cout_pad) >
                 8.0 * double(st->n) * double(wd.cin_pad) * double(wd.h) * double(wd.w);
    const int64_t tb_max = std::max<int64_t>(
        6, (1 << 20) / (st->P * int64_t{sizeof(float)} * (wd.cin_pad + wd.cout_pad)));
    st->units_per_img =
        std::max<int64_t>((st->tiles + tb_max - 1) / tb_max, (nth + st->n - 1) / st->n);
    // Whole rounds of units for the threads (7 units on 2 threads would idle one for 1/7).
    const int64_t step = nth / std::gcd<int64_t>(nth, st->n);
    st->units_per_img = (st->units_per_img + step - 1) / step * step;
    st->units_per_img = std::min(st->units_per_img, st->tiles);
    wd.tb = (st->tiles + st->units_per_img - 1) / st->units_per_img;
    st->groups = x86::conv_blocked_groups(cout, vlen, ocb);
    // Weights: U = G g G^T (BatchNorm scale folded in), each position packed as a 1x1 conv.
    st->wset = x86::packed_conv_blocked_size(cout, wd.cin_pad, 1, 1, vlen, ocb);
    SCV_ASSIGN_OR_RETURN(st->w, alloc_floats(st->P * st->wset, false));
    {
      // Position by position, in parallel, each through a cout x cin scratch.
      float* dst = st->w.get();
      const int64_t wset = st->wset, cin_pad = wd.cin_pad;
      const float* sc = scale.empty() ? nullptr : scale.data();
      const int m = static_cast<int>(wd.m);
      pool_.parallel_for(st->P, [&](int64_t a, int64_t b) {
        std::vector<float> u(static_cast<size_t>(cout * cin));
        for (int64_t xi = a; xi < b; ++xi) {
          x86::winograd_weights_at(w.data(), sc, cout, cin, m, static_cast<int>(xi), u.data());
          x86::pack_conv_blocked(u.data(), nullptr, cout, cin, cin_pad, 1, 1, vlen, ocb,
                                 dst + xi * wset);
        }
      });
    }
    SCV_ASSIGN_OR_RETURN(st->bias, alloc_floats(wd.cout_pad));
    std::copy(bias.begin(), bias.end(), st->bias.get());
    SCV_ASSIGN_OR_RETURN(st->zero_bias, alloc_floats(wd.cout_pad));
    wd.bias = st->bias.get();
    s_.weight_bytes += sizeof(float) * (st->P * st->wset + 2 * wd.cout_pad);
    release(node.inputs[1]);
    auto& gd = st->gd;
    gd.cin_pad = wd.cin_pad;
    gd.x_cb = vlen;
    gd.x_block = wd.tb * vlen;
    gd.x_row = wd.tb * vlen;
    gd.x_pix = vlen;
    gd.h = gd.oh = 1;
    gd.cout_pad = wd.cout_pad;
    gd.y_block = wd.tb * vlen;
    gd.y_row = wd.tb * vlen;
    gd.y_pix = vlen;
    gd.bias = st->zero_bias.get();
    st->per_thread = st->P * wd.tb * (wd.cin_pad + wd.cout_pad);
    if (st->phased) {
      st->units_per_img =
          std::max<int64_t>(1, std::min<int64_t>(st->tiles, (nth + st->n - 1) / st->n));
      wd.tb = st->tiles;
      gd.x_block = gd.x_row = gd.y_block = gd.y_row = wd.tb * vlen;
      st->per_thread = 0;
    }
    st->scratch = new_slot(st->phased ? st->n * st->P * wd.tb * (wd.cin_pad + wd.cout_pad)
                                      : nth * st->per_thread);
    SCV_ASSIGN_OR_RETURN(st->x, get_blocked(node.inputs[0]));
    if (f.add >= 0) {
      SCV_ASSIGN_OR_RETURN(st->res, get_blocked(f.residual));
      touch(st->res);
    }
    touch(st->x);
    touch(st->scratch);
    st->y = blk_[f.out] = new_slot(blocked_floats(ys));
    touch(st->y);
    push(std::move(st));
    return Status();
  }

  Status emit_conv(int ci) {
    const Node& node = g_.nodes[ci];
    const ConvFusion& f = plan_.conv[ci];
    const Tensor* w = const_of(node, 1);
    const bool has_bias_input = node.inputs.size() > 2 && node.inputs[2] >= 0;
    const Tensor* b = const_of(node, 2);
    const Shape& xs = shapes_[node.inputs[0]];
    const Shape& ys = shapes_[node.outputs[0]];
    if (!w || (has_bias_input && !b)) {  // weights computed at run time: generic path
      // (fusion only plans convs; such a conv executes unfused through RefStep)
      if (f.bn >= 0 || f.add >= 0 || (f.relu && !node.attrs.fused_relu))
        return error("node '", node.name, "': internal error: fused conv with non-constant weight");
      return emit_ref(node);
    }
    ref::Pool2dParams wp;
    SCV_TRY(window_params(node, xs[2], xs[3], w->dim(2), w->dim(3), &wp));
    const int64_t cout = w->dim(0), cin_g = w->dim(1), kh = w->dim(2), kw = w->dim(3);
    const int64_t per_out = cin_g * kh * kw;
    // Bias, and the BatchNorm fold as a per-output-channel scale. The blocked path applies the
    // scale while packing (no folded copy of the weights); the other paths fold into a copy.
    std::vector<float> bias(cout, 0.0f), scale;
    if (b)
      for (int64_t i = 0; i < cout; ++i) bias[i] = b->data()[i];
    if (f.bn >= 0) {
      const Node& bn = g_.nodes[f.bn];
      scale.assign(cout, 1.0f);
      fold_batchnorm(const_of(bn, 1)->data(), const_of(bn, 2)->data(), const_of(bn, 3)->data(),
                     const_of(bn, 4)->data(), bn.attrs.epsilon, cout, 1, scale.data(), bias.data());
    }
    // OIHW weights with the scale applied (a copy only when there is a scale).
    auto folded = [&]() -> Tensor {
      if (scale.empty()) return *w;
      Tensor t = w->clone();
      for (int64_t co = 0; co < cout; ++co)
        for (int64_t i = 0; i < per_out; ++i) t[co * per_out + i] *= scale[co];
      return t;
    };
    std::string name = node.name;
    if (f.bn >= 0) name += "+bn";
    if (f.add >= 0) name += "+add";
    if (f.relu) name += "+relu";
    const double flops = 2.0 * shape_numel(ys) * per_out;
    const int out = f.out;
    const bool simple = node.attrs.group == 1 && wp.dh == 1 && wp.dw == 1;

    if (blocked_ && simple && opt_.winograd && kh == 3 && kw == 3 && wp.sh == 1 && wp.sw == 1 &&
        wp.pad_t == 1 && wp.pad_l == 1 && wp.pad_b == 1 && wp.pad_r == 1 && xs[1] >= simd_->vl)
      return emit_winograd(node, f, *w, scale, bias, name, flops, xs, ys, cout);
    if (blocked_ && simple) {
      const int vlen = simd_->vl;
      auto st = std::make_unique<ConvBlockedStep>();
      st->info = {name, "conv_blocked", flops};
      st->k = simd_;
      auto& d = st->d;
      const int64_t c = xs[1];
      if (c < vlen && blk_[node.inputs[0]] < 0) {  // e.g. the 3-channel stem: read NCHW directly
        SCV_ASSIGN_OR_RETURN(st->x, get_plain(node.inputs[0]));
        d.x_cb = 1;
        d.cin_pad = c;
        d.x_block = xs[2] * xs[3];
        d.x_row = xs[3];
        d.x_pix = 1;
        d.x_batch = c * xs[2] * xs[3];
      } else {
        SCV_ASSIGN_OR_RETURN(st->x, get_blocked(node.inputs[0]));
        d.x_cb = vlen;
        d.cin_pad = blocks_of(c, vlen) * vlen;
        d.x_block = xs[2] * xs[3] * vlen;
        d.x_row = xs[3] * vlen;
        d.x_pix = vlen;
        d.x_batch = blocks_of(c, vlen) * d.x_block;
      }
      d.h = xs[2];
      d.w = xs[3];
      d.kh = kh;
      d.kw = kw;
      d.sh = wp.sh;
      d.sw = wp.sw;
      d.pt = wp.pad_t;
      d.pl = wp.pad_l;
      d.oh = ys[2];
      d.ow = ys[3];
      d.cout_pad = blocks_of(cout, vlen) * vlen;
      d.y_pix = vlen;
      d.y_row = ys[3] * vlen;
      d.y_block = ys[2] * ys[3] * vlen;
      d.y_batch = blocks_of(cout, vlen) * d.y_block;
      d.relu = f.relu;
      const int64_t psize =
          x86::packed_conv_blocked_size(cout, d.cin_pad, kh, kw, vlen, simd_->conv_ocb);
      SCV_ASSIGN_OR_RETURN(st->w, alloc_floats(psize, false));
      {
        const float* wsrc = w->data();
        const float* sc = scale.empty() ? nullptr : scale.data();
        float* dst = st->w.get();
        const int ocb = simd_->conv_ocb;
        const int64_t cin_pad = d.cin_pad;
        pool_.parallel_for(x86::conv_blocked_groups(cout, vlen, ocb), [&](int64_t g0, int64_t g1) {
          x86::pack_conv_blocked(wsrc, sc, cout, c, cin_pad, kh, kw, vlen, ocb, dst, g0, g1);
        });
      }
      SCV_ASSIGN_OR_RETURN(st->bias, alloc_floats(d.cout_pad));
      std::copy(bias.begin(), bias.end(), st->bias.get());
      s_.weight_bytes += sizeof(float) * (psize + d.cout_pad);
      release(node.inputs[1]);
      d.weight = st->w.get();
      d.bias = st->bias.get();
      // A 1x1/stride-1/unpadded conv is a GEMM over all H*W pixels, which are contiguous in
      // both layouts: re-cut them into rows of L pixels (a divisor of H*W) that the 6-pixel
      // register tile covers well, e.g. 7x7 -> one row of 49 (6+6+6+6+5+5+5+5+5) instead of
      // seven rows of 7 (4+3).
      if (kh == 1 && kw == 1 && d.sh == 1 && d.sw == 1 && d.pt == 0 && d.pl == 0 && wp.pad_b == 0 &&
          wp.pad_r == 0) {
        const int64_t P = d.oh * d.ow;
        int64_t best = d.ow;
        double best_eff = 0;
        for (int64_t L = 24; L <= 96; ++L) {
          if (P % L) continue;
          const double eff = double(L) / double((L + 5) / 6 * 6);
          if (eff > best_eff + 1e-9) best = L, best_eff = eff;
        }
        const double row_eff = double(d.ow) / double((d.ow + 5) / 6 * 6);
        if (best_eff > row_eff + 1e-9) {
          d.h = d.oh = P / best;
          d.w = d.ow = best;
          d.x_row = best * d.x_pix;
          d.y_row = best * vlen;
        }
      }
      st->n = xs[0];
      st->groups = blocks_of(blocks_of(cout, vlen), simd_->conv_ocb);
      {
        // Measured (2 threads, ResNet50 batch 1, per layer): rows when the input activations
        // weigh at least as much as the packed weights (layer1/2); channel groups otherwise
        // (layer3/4: 1.1-1.2x faster than rows there; rows everywhere cost layer4 1.5x).
        const double act = double(xs[0]) * double(d.cin_pad) * double(xs[2]) * double(xs[3]);
        st->split_rows = act >= double(psize);
      }
      st->tiles = opt_.tiles && d.x_cb == vlen;
      if (st->tiles) st->info.kind = "conv_tiles";
      st->bands = std::max<int64_t>(1, (pool_.num_threads() + st->n - 1) / st->n);
      if (f.add >= 0) {
        SCV_ASSIGN_OR_RETURN(st->res, get_blocked(f.residual));
        touch(st->res);
      }
      touch(st->x);
      st->y = blk_[out] = new_slot(blocked_floats(ys));
      touch(st->y);
      push(std::move(st));
      return Status();
    }

    const Tensor wt = folded();
    SCV_ASSIGN_OR_RETURN(int x, get_plain(node.inputs[0]));
    int res = -1;
    if (f.add >= 0) {
      SCV_ASSIGN_OR_RETURN(res, get_plain(f.residual));
    }
    ref::Conv2dParams p{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t,        wp.pad_l,
                        wp.pad_b, wp.pad_r, wp.dh, wp.dw, node.attrs.group};
    if (simd_ && simple) {
      auto st = std::make_unique<ConvGemmStep>();
      st->info = {name, opt_.prepack ? "conv_gemm" : "conv_gemm_nopack", flops};
      st->k = simd_;
      st->prepack = opt_.prepack;
      st->p = p;
      st->n = xs[0];
      st->c = xs[1];
      st->h = xs[2];
      st->wd = xs[3];
      st->cout = cout;
      st->oh = ys[2];
      st->ow = ys[3];
      st->kdim = per_out;
      st->direct = kh == 1 && kw == 1 && wp.sh == 1 && wp.sw == 1 && wp.pad_t == 0 &&
                   wp.pad_l == 0 && wp.pad_b == 0 && wp.pad_r == 0;
      st->relu = f.relu;
      if (opt_.prepack) {
        const int64_t sz = x86::packed_gemm_a_size(cout, per_out, simd_->gemm_mr);
        SCV_ASSIGN_OR_RETURN(st->a_packed, alloc_floats(sz));
        x86::pack_gemm_a(wt.data(), cout, per_out, simd_->gemm_mr, st->a_packed.get());
        s_.weight_bytes += sizeof(float) * sz;
        if (!st->direct) {
          st->col = new_slot(per_out * ys[2] * ys[3]);
          touch(st->col);
        }
      } else {
        st->w_oihw = wt;
      }
      return push_plain_conv(std::move(st), bias, x, res, out, ys);
    }
    auto st = std::make_unique<ConvRefStep>();
    st->info = {name, "conv_ref", flops};
    st->w = wt;
    st->p = p;
    st->n = xs[0];
    st->c = xs[1];
    st->h = xs[2];
    st->wd = xs[3];
    st->cout = cout;
    st->count = shape_numel(ys);
    st->relu = f.relu;
    return push_plain_conv(std::move(st), bias, x, res, out, ys);
  }

  // The common end of the plain-layout conv steps: bias, input/residual/output slots, push.
  template <typename S>
  Status push_plain_conv(std::unique_ptr<S> st, const std::vector<float>& bias, int x, int res,
                         int out, const Shape& ys) {
    SCV_ASSIGN_OR_RETURN(st->bias, alloc_floats(static_cast<int64_t>(bias.size())));
    std::copy(bias.begin(), bias.end(), st->bias.get());
    st->x = x;
    st->res = res;
    touch(x);
    if (res >= 0) touch(res);
    st->y = plain_[out] = new_slot(shape_numel(ys));
    touch(st->y);
    push(std::move(st));
    return Status();
  }

  // Fully connected Gemm on the blocked kernel: Y = A B^T + C, A [N,K] activation, B const.
  bool fc_eligible(const Node& n) const {
    const Attrs& a = n.attrs;
    if (!blocked_ || a.trans_a || a.alpha != 1.0f || a.fused_relu) return false;
    if (g_.values[n.inputs[0]].is_constant() || !const_of(n, 1)) return false;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      const Tensor* c = const_of(n, 2);
      const int64_t m = shapes_[n.outputs[0]][1];
      if (!c || a.beta != 1.0f || c->numel() != m || (c->rank() == 2 && c->dim(0) != 1))
        return false;
    }
    return true;
  }

  Status emit_fc(const Node& node) {
    const Shape& as = shapes_[node.inputs[0]];
    const Shape& ys = shapes_[node.outputs[0]];
    const int64_t n = as[0], k = as[1], m = ys[1];
    const Tensor* bt = const_of(node, 1);
    const Tensor* ct = const_of(node, 2);
    // Weight as OIHW [m][k][1][1].
    Tensor w = *bt;
    if (!node.attrs.trans_b) {
      w = Tensor({m, k});
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < m; ++j) w[j * k + i] = bt->data()[i * m + j];
    }
    const int vlen = simd_->vl;
    auto st = std::make_unique<FcStep>();
    st->info = {node.name, "fc_blocked", 2.0 * n * m * k};
    st->k = simd_;
    auto& d = st->d;
    SCV_ASSIGN_OR_RETURN(st->x, get_plain(node.inputs[0]));
    d.x_cb = k % vlen == 0 ? vlen : 1;
    d.cin_pad = k;
    d.x_block = d.x_cb == 1 ? 1 : vlen;
    d.x_pix = k;
    d.x_row = 0;
    d.x_batch = 0;
    d.h = 1;
    d.w = n;
    d.oh = 1;
    d.ow = n;
    d.cout_pad = blocks_of(m, vlen) * vlen;
    d.y_pix = vlen;
    d.y_row = 0;
    d.y_block = n * vlen;
    d.y_batch = 0;
    const int64_t psize = x86::packed_conv_blocked_size(m, k, 1, 1, vlen, simd_->conv_ocb);
    SCV_ASSIGN_OR_RETURN(st->w, alloc_floats(psize));
    x86::pack_conv_blocked(w.data(), nullptr, m, k, k, 1, 1, vlen, simd_->conv_ocb, st->w.get());
    w = Tensor();
    release(node.inputs[1]);
    SCV_ASSIGN_OR_RETURN(st->bias, alloc_floats(d.cout_pad));
    if (ct) std::copy(ct->data(), ct->data() + m, st->bias.get());
    s_.weight_bytes += sizeof(float) * (psize + d.cout_pad);
    d.weight = st->w.get();
    d.bias = st->bias.get();
    st->n = n;
    st->m = m;
    st->groups = blocks_of(blocks_of(m, vlen), simd_->conv_ocb);
    st->scratch = new_slot(d.cout_pad * n);
    touch(st->x);
    touch(st->scratch);
    st->y = plain_[node.outputs[0]] = new_slot(n * m);
    touch(st->y);
    push(std::move(st));
    return Status();
  }

  Status emit_node(const Node& node) {
    const int outv = node.outputs[0];
    const Shape& ys = shapes_[outv];
    const int x = node.inputs[0];
    const bool x_const = g_.values[x].is_constant();
    switch (node.op) {
      case OpType::Flatten:
      case OpType::Reshape:
      case OpType::Identity:
        if (!x_const && !node.attrs.fused_relu) {
          // A view: share the buffer. Blocked [N,C,1,1] with C % VL == 0 is already NCHW.
          const Shape& xs = shapes_[x];
          if (plain_[x] < 0 && blk_[x] >= 0 && xs.size() == 4 && xs[2] == 1 && xs[3] == 1 &&
              xs[1] % vl() == 0) {
            plain_[outv] = blk_[x];
          } else {
            SCV_ASSIGN_OR_RETURN(plain_[outv], get_plain(x));
          }
          touch(plain_[outv]);
          return Status();
        }
        break;
      case OpType::Relu:
      case OpType::Add: {
        if (!simd_ || x_const) break;
        const bool is_add = node.op == OpType::Add;
        if (is_add &&
            (g_.values[node.inputs[1]].is_constant() || shapes_[node.inputs[1]] != shapes_[x]))
          break;
        auto st = std::make_unique<EltwiseStep>();
        st->info = {node.name, is_add ? "add" : "relu", 0};
        st->k = simd_;
        st->is_add = is_add;
        st->relu = node.attrs.fused_relu;
        const bool blk =
            blocked_ && blk_[x] >= 0 && blockable(ys) && (!is_add || blk_[node.inputs[1]] >= 0);
        if (blk) {
          st->a = blk_[x];
          if (is_add) st->b = blk_[node.inputs[1]];
          st->count = blocked_floats(ys);
        } else {
          SCV_ASSIGN_OR_RETURN(st->a, get_plain(x));
          if (is_add) {
            SCV_ASSIGN_OR_RETURN(st->b, get_plain(node.inputs[1]));
          }
          st->count = shape_numel(ys);
        }
        if (!is_add && node.attrs.fused_relu) st->relu = false;
        touch(st->a);
        if (is_add) touch(st->b);
        st->y = new_slot(st->count);
        (blk ? blk_ : plain_)[outv] = st->y;
        touch(st->y);
        push(std::move(st));
        return Status();
      }
      case OpType::BatchNorm: {
        if (x_const) break;
        for (int i = 1; i <= 4; ++i)
          if (!const_of(node, i)) return emit_ref(node);
        if (node.attrs.fused_relu) break;
        auto st = std::make_unique<BatchNormStep>();
        st->info = {node.name, simd_ ? "batchnorm" : "ref:BatchNorm", 4.0 * shape_numel(ys)};
        st->k = simd_;
        for (int i = 0; i < 4; ++i) st->keep[i] = *const_of(node, i + 1);
        st->gamma = st->keep[0].data();
        st->beta = st->keep[1].data();
        st->mean = st->keep[2].data();
        st->var = st->keep[3].data();
        st->eps = node.attrs.epsilon;
        st->n = ys[0];
        st->c = ys[1];
        st->hw = shape_numel(ys) / (ys[0] * ys[1]);
        SCV_ASSIGN_OR_RETURN(st->x, get_plain(x));
        touch(st->x);
        st->y = plain_[outv] = new_slot(shape_numel(ys));
        touch(st->y);
        push(std::move(st));
        return Status();
      }
      case OpType::MaxPool: {
        if (!blocked_ || x_const || blk_[x] < 0 || node.attrs.fused_relu) break;
        ref::Pool2dParams p;
        const Shape& xs = shapes_[x];
        SCV_TRY(window_params(node, xs[2], xs[3], node.attrs.kernel_shape[0],
                              node.attrs.kernel_shape[1], &p));
        if (p.dh != 1 || p.dw != 1) break;
        auto st = std::make_unique<MaxPoolBlockedStep>();
        st->info = {node.name, "maxpool_blocked", 0};
        st->k = simd_;
        st->p = p;
        st->planes = xs[0] * blocks_of(xs[1], vl());
        st->h = xs[2];
        st->w = xs[3];
        st->oh = ys[2];
        st->ow = ys[3];
        st->x = blk_[x];
        touch(st->x);
        st->y = blk_[outv] = new_slot(blocked_floats(ys));
        touch(st->y);
        push(std::move(st));
        return Status();
      }
      case OpType::GlobalAveragePool: {
        const Shape& xs = shapes_[x];
        if (!blocked_ || x_const || blk_[x] < 0 || xs.size() != 4 || node.attrs.fused_relu) break;
        auto st = std::make_unique<GapBlockedStep>();
        st->info = {node.name, "gap_blocked", 0};
        st->k = simd_;
        st->planes = xs[0] * blocks_of(xs[1], vl());
        st->hw = xs[2] * xs[3];
        st->x = blk_[x];
        touch(st->x);
        st->y = blk_[outv] = new_slot(blocked_floats(ys));
        touch(st->y);
        push(std::move(st));
        return Status();
      }
      case OpType::Gemm:
        if (fc_eligible(node)) return emit_fc(node);
        break;
      default:
        break;
    }
    return emit_ref(node);
  }

  Status emit_ref(const Node& node) {
    auto st = std::make_unique<RefStep>();
    st->node = node;
    st->info = {node.name, std::string("ref:") + op_name(node.op), 0};
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      st->in_slots.push_back(-1);
      st->in_consts.push_back(Tensor());
      st->in_shapes.push_back(v >= 0 ? shapes_[v] : Shape{});
      if (v < 0) continue;
      if (g_.values[v].is_constant()) {
        st->in_consts.back() = g_.values[v].constant;
      } else {
        SCV_ASSIGN_OR_RETURN(st->in_slots.back(), get_plain(v));
      }
    }
    const Shape& xs = st->in_shapes[0];
    st->out_shape = shapes_[node.outputs[0]];
    if (node.op == OpType::Conv) {
      SCV_TRY(window_params(node, xs[2], xs[3], xs.size() == 4 ? st->in_shapes[1][2] : 1,
                            st->in_shapes[1][3], &st->wp));
      st->info.flops = 2.0 * shape_numel(st->out_shape) * shape_numel(st->in_shapes[1]) /
                       std::max<int64_t>(1, st->in_shapes[1][0]);
    } else if (node.op == OpType::MaxPool || node.op == OpType::AveragePool) {
      SCV_TRY(window_params(node, xs[2], xs[3], node.attrs.kernel_shape[0],
                            node.attrs.kernel_shape[1], &st->wp));
    } else if (node.op == OpType::Gemm) {
      const int64_t k = node.attrs.trans_a ? xs[0] : xs[1];
      st->info.flops = 2.0 * shape_numel(st->out_shape) * k;
    }
    for (int s : st->in_slots)
      if (s >= 0) touch(s);
    st->y = plain_[node.outputs[0]] = new_slot(shape_numel(st->out_shape));
    touch(st->y);
    push(std::move(st));
    return Status();
  }

  const Graph& g_;
  const SessionOptions& opt_;
  Session::Impl& s_;
  ThreadPool& pool_;  // the session's pool, also used to pack weights in parallel
  Graph* consume_;    // == &g_ when the session owns the graph: packed weights are released
  std::vector<int> uses_;

  // Drops the graph's copy of constant v once it is packed (only when consuming the graph and
  // nothing else reads v; the storage is freed if the graph held the last reference).
  void release(int v) {
    if (!consume_ || v < 0 || !g_.values[v].is_constant()) return;
    if (uses_.empty()) uses_ = count_uses(g_);
    if (uses_[v] == 1) consume_->values[v].constant = Tensor();
  }
  std::vector<int> plain_, blk_;  // slot holding each value in NCHW / blocked layout, or -1
  std::vector<Shape> shapes_;
  FusionPlan plan_;
  const x86::Kernels* simd_ = nullptr;
  bool blocked_ = false;
};

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const Graph& g, const Shape& input_shape,
                                                 const SessionOptions& opt) {
  return create_impl(g, nullptr, input_shape, opt);
}

Result<std::unique_ptr<Session>> Session::create(Graph&& g, const Shape& input_shape,
                                                 const SessionOptions& opt) {
  Graph owned = std::move(g);
  return create_impl(owned, &owned, input_shape, opt);
}

namespace {

// True when every activation of g scales with the batch: shapes at batch n are the batch-1
// shapes with dim 0 = n. Then images never mix and a batch can run image by image.
bool batch_independent(const Graph& g, const Shape& input_shape) {
  if (g.inputs.size() != 1 || input_shape.empty()) return false;
  std::vector<Shape> one(g.values.size()), many(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].is_constant()) one[i] = many[i] = g.values[i].constant.shape();
  many[g.inputs[0]] = input_shape;
  one[g.inputs[0]] = input_shape;
  one[g.inputs[0]][0] = 1;
  for (const Node& n : g.nodes)
    if (!infer_node(n, one).ok() || !infer_node(n, many).ok()) return false;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (g.values[i].is_constant()) continue;
    const Shape &a = one[i], &b = many[i];
    if (a.empty() || a.size() != b.size() || a[0] != 1 || b[0] != input_shape[0]) return false;
    for (size_t d = 1; d < a.size(); ++d)
      if (a[d] != b[d]) return false;
  }
  return true;
}

// One image of an image-parallel batch through every step on the arena of e.
void run_image(Session::Impl& s, const Exec& e, const float* input, float* output, int64_t img) {
  std::memcpy(e.ptr(s.in_slot), input + img * s.in_count,
              sizeof(float) * static_cast<size_t>(s.in_count));
  for (auto& st : s.steps) st->run(e);
  std::memcpy(output + img * s.out_count, e.ptr(s.out_slot),
              sizeof(float) * static_cast<size_t>(s.out_count));
}

Exec exec_for(Session::Impl& s, int ith, ThreadPool* pool) {
  Exec e;
  e.base = ith == 0 ? s.arena.get() : s.arenas[ith - 1].get();
  e.off = s.offsets.data();
  e.pool = pool;
  return e;
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create_impl(const Graph& g, Graph* consume,
                                                      const Shape& input_shape,
                                                      const SessionOptions& opt) {
  auto impl = std::make_unique<Impl>();
  impl->opt = opt;
  if (opt.isa != Isa::ref && !isa_supported(opt.isa))
    return error("ISA ", isa_name(opt.isa), " is not supported by this CPU (", cpu_features().brand,
                 "); use --isa ", isa_name(best_isa()));
  if (opt.threads < 1) return error("threads must be >= 1, got ", opt.threads);
  impl->pool = std::make_unique<ThreadPool>(opt.threads);
  // Image-parallel: batch >= threads >= 2 on the blocked kernels, and images provably apart.
  const bool per_image = opt.image_parallel && opt.threads > 1 && opt.blocked && opt.simd &&
                         opt.prepack && opt.isa != Isa::ref && !input_shape.empty() &&
                         input_shape[0] >= opt.threads && batch_independent(g, input_shape);
  if (per_image) {
    Shape one = input_shape;
    one[0] = 1;
    Builder b(g, impl->opt, *impl, *impl->pool, consume);
    SCV_TRY(b.build(one));
    bool reentrant = true;
    for (const auto& st : impl->steps) reentrant = reentrant && st->reentrant();
    if (reentrant) {
      impl->images = input_shape[0];
      impl->in_shape = input_shape;
      impl->out_shape[0] = input_shape[0];
      impl->flops *= static_cast<double>(input_shape[0]);
      impl->exec_flops *= static_cast<double>(input_shape[0]);
      for (auto& info : impl->infos) {
        info.flops *= static_cast<double>(input_shape[0]);
        info.exec_flops *= static_cast<double>(input_shape[0]);
      }
      for (int i = 1; i < opt.threads; ++i) {
        SCV_ASSIGN_OR_RETURN(Floats a, alloc_floats(impl->arena_floats));
        impl->arenas.push_back(std::move(a));
      }
      return std::unique_ptr<Session>(new Session(std::move(impl)));
    }
    if (consume) return error("internal error: a step cannot run image-parallel");
    impl = std::make_unique<Impl>();  // plan the whole batch instead
    impl->opt = opt;
    impl->pool = std::make_unique<ThreadPool>(opt.threads);
  }
  Builder b(g, impl->opt, *impl, *impl->pool, consume);
  SCV_TRY(b.build(input_shape));
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Status Session::run(const float* input, float* output) {
  Impl& s = *impl_;
  if (s.images > 0) {
    // Each thread runs whole images (img = ith, ith + nth, ...) on its own arena; the images
    // left over (batch % threads) then run one at a time with all threads on each layer.
    struct Job {
      Impl* s;
      const float* in;
      float* out;
      int64_t full;
    } job{&s, input, output, s.images - s.images % s.pool->num_threads()};
    s.pool->run([&job](int ith, int nth) {
      const Exec e = exec_for(*job.s, ith, &job.s->serial);
      for (int64_t img = ith; img < job.full; img += nth)
        run_image(*job.s, e, job.in, job.out, img);
    });
    const Exec e = exec_for(s, 0, s.pool.get());
    for (int64_t img = job.full; img < s.images; ++img) run_image(s, e, input, output, img);
    return Status();
  }
  Exec e;
  e.base = s.arena.get();
  e.off = s.offsets.data();
  e.pool = s.pool.get();
  std::memcpy(e.ptr(s.in_slot), input, sizeof(float) * static_cast<size_t>(s.in_count));
  for (auto& st : s.steps) st->run(e);
  std::memcpy(output, e.ptr(s.out_slot), sizeof(float) * static_cast<size_t>(s.out_count));
  return Status();
}

Status Session::run_profiled(const float* input, float* output, std::vector<double>* step_ms) {
  Impl& s = *impl_;
  step_ms->assign(s.steps.size(), 0.0);
  if (s.images > 0) {
    // Image-parallel: every thread runs its images as in run(); thread 0 times its steps
    // (summed over its images), which is what the batch's wall time is made of.
    std::vector<double>& ms = *step_ms;
    s.pool->run([&s, &ms, input, output](int ith, int nth) {
      const Exec e = exec_for(s, ith, &s.serial);
      for (int64_t img = ith; img < s.images; img += nth) {
        std::memcpy(e.ptr(s.in_slot), input + img * s.in_count,
                    sizeof(float) * static_cast<size_t>(s.in_count));
        for (size_t i = 0; i < s.steps.size(); ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          s.steps[i]->run(e);
          if (ith == 0)
            ms[i] +=
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
        }
        std::memcpy(output + img * s.out_count, e.ptr(s.out_slot),
                    sizeof(float) * static_cast<size_t>(s.out_count));
      }
    });
    return Status();
  }
  Exec e;
  e.base = s.arena.get();
  e.off = s.offsets.data();
  e.pool = s.pool.get();
  std::memcpy(e.ptr(s.in_slot), input, sizeof(float) * static_cast<size_t>(s.in_count));
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    s.steps[i]->run(e);
    (*step_ms)[i] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::memcpy(output, e.ptr(s.out_slot), sizeof(float) * static_cast<size_t>(s.out_count));
  return Status();
}

const Shape& Session::input_shape() const {
  return impl_->in_shape;
}
const Shape& Session::output_shape() const {
  return impl_->out_shape;
}
const SessionOptions& Session::options() const {
  return impl_->opt;
}
const std::vector<StepInfo>& Session::steps() const {
  return impl_->infos;
}
double Session::flops() const {
  return impl_->flops;
}
double Session::exec_flops() const {
  return impl_->exec_flops;
}
size_t Session::arena_bytes() const {
  return sizeof(float) * impl_->arena_floats * (1 + impl_->arenas.size());
}
bool Session::image_parallel() const {
  return impl_->images > 0;
}
size_t Session::weight_bytes() const {
  return impl_->weight_bytes;
}

}  // namespace scv
