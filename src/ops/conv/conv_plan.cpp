// The fast plan of Conv: which algorithm runs each conv (named rules below, each with the
// measurement that chose it), weight packing with the BatchNorm fold applied, and the steps.
#include "ops/conv/conv_plan.h"

#include "graph/passes.h"
#include "ops/conv/conv_steps.h"
#include "ops/op.h"

namespace scv {

namespace {

using conv::ConvBlockedStep;
using conv::ConvGemmStep;
using conv::ConvRefStep;
using conv::WinogradStep;

// Everything the algorithms share about one (fused) conv.
struct ConvJob {
  const Node* node = nullptr;
  const Fusion* f = nullptr;
  const Tensor* w = nullptr;  // OIHW
  Shape xs, ys;
  ref::Pool2dParams wp;
  int64_t cout = 0, cin = 0, kh = 0, kw = 0, per_out = 0;
  std::vector<float> bias, scale;  // scale: the folded BatchNorm ([cout]) or empty
  std::string name;
  double flops = 0;
  bool simple = false;  // one group, no dilation
};

// ---- algorithm rules ------------------------------------------------------------------------

// Winograd for 3x3 / stride-1 / pad-1 convs with at least one channel block of input.
bool use_winograd(const Planner& p, const ConvJob& j) {
  const auto& wp = j.wp;
  return blocked_on(p) && j.simple && p.options().winograd && j.kh == 3 && j.kw == 3 &&
         wp.sh == 1 && wp.sw == 1 && wp.pad_t == 1 && wp.pad_l == 1 && wp.pad_b == 1 &&
         wp.pad_r == 1 && j.xs[1] >= p.block();
}

// F(4x4, 3x3) (2.25 multiplications per output instead of 4, 36 positions) where maps are
// large and the transformed weights small: layer1/2 of ResNet50; F(2x2, 3x3) elsewhere.
int64_t winograd_tile(int64_t h, int64_t w) {
  return h * w >= 28 * 28 ? 4 : 2;
}

// Phased Winograd (three parallel phases over shared buffers) when the transformed weights
// outweigh the activations 8x: the same rule as the direct convs' thread split.
bool winograd_phased(int64_t positions, int64_t cin_pad, int64_t cout_pad, int64_t n, int64_t h,
                     int64_t w) {
  return double(positions) * double(cin_pad) * double(cout_pad) >
         8.0 * double(n) * double(cin_pad) * double(h) * double(w);
}

// Measured (2 threads, ResNet50 batch 1, per layer): split a direct conv by rows when the input
// activations weigh at least as much as the packed weights (layer1/2); by channel groups
// otherwise (layer3/4: 1.1-1.2x faster than rows there; rows everywhere cost layer4 1.5x).
bool split_by_rows(int64_t n, int64_t cin_pad, int64_t h, int64_t w, int64_t packed_weights) {
  return double(n) * double(cin_pad) * double(h) * double(w) >= double(packed_weights);
}

// A 1x1/stride-1/unpadded conv is a GEMM over all H*W pixels, which are contiguous in both
// layouts: re-cut them into rows of L pixels (a divisor of H*W, 24..96) that the 6-pixel
// register tile covers well, e.g. 7x7 -> one row of 49 (6+6+6+6+5+5+5+5+5) instead of seven
// rows of 7 (4+3). Returns the row length (ow when no cut is better).
int64_t pointwise_row(int64_t oh, int64_t ow) {
  const int64_t P = oh * ow;
  int64_t best = ow;
  double best_eff = 0;
  for (int64_t L = 24; L <= 96; ++L) {
    if (P % L) continue;
    const double eff = double(L) / double((L + 5) / 6 * 6);
    if (eff > best_eff + 1e-9) best = L, best_eff = eff;
  }
  const double row_eff = double(ow) / double((ow + 5) / 6 * 6);
  return best_eff > row_eff + 1e-9 ? best : ow;
}

// The common end of the blocked conv steps: residual, slots (input, scratch, output), push.
template <typename S>
Status push_blocked(Planner& p, const ConvJob& j, std::unique_ptr<S> st, int scratch) {
  if (j.f->add >= 0) {
    SCV_ASSIGN_OR_RETURN(st->res, p.blocked(j.f->residual));
    p.touch(st->res);
  }
  p.touch(st->x);
  if (scratch >= 0) p.touch(scratch);
  return p.push_out(std::move(st), j.f->out, p.blocked_floats(j.ys), true);
}

// ---- Winograd -----------------------------------------------------------------------------------

// Tiles per unit: the thread's V and M (P x tiles x (cin + cout) floats) stay within ~1 MiB,
// batch 1 still gives every thread a unit, and units come in whole rounds for the threads (7
// units on 2 threads would idle one for 1/7).
void winograd_units(WinogradStep& st, int nth) {
  auto& wd = st.wd;
  const int64_t tb_max = std::max<int64_t>(
      6, (1 << 20) / (st.P * int64_t{sizeof(float)} * (wd.cin_pad + wd.cout_pad)));
  st.units_per_img = std::max<int64_t>((st.tiles + tb_max - 1) / tb_max, (nth + st.n - 1) / st.n);
  const int64_t step = nth / std::gcd<int64_t>(nth, st.n);
  st.units_per_img = (st.units_per_img + step - 1) / step * step;
  st.units_per_img = std::min(st.units_per_img, st.tiles);
  wd.tb = (st.tiles + st.units_per_img - 1) / st.units_per_img;
}

// Weights: U = G g G^T (BatchNorm scale folded in), each position packed as a 1x1 conv,
// position by position in parallel, each through a cout x cin scratch.
Status winograd_pack(Planner& p, const ConvJob& j, WinogradStep& st) {
  const FastKernels* k = st.k;
  const int vlen = k->vl, ocb = k->conv_ocb;
  st.groups = x86::conv_blocked_groups(j.cout, vlen, ocb);
  st.wset = x86::packed_conv_blocked_size(j.cout, st.wd.cin_pad, 1, 1, vlen, ocb);
  SCV_ASSIGN_OR_RETURN(st.w, alloc_floats(st.P * st.wset, false));
  float* dst = st.w.get();
  const int64_t wset = st.wset, cin_pad = st.wd.cin_pad, cout = j.cout, cin = j.cin;
  const float* sc = j.scale.empty() ? nullptr : j.scale.data();
  const float* w = j.w->data();
  const int m = static_cast<int>(st.wd.m);
  p.pool().parallel_for(st.P, [&](int64_t a, int64_t b) {
    std::vector<float> u(static_cast<size_t>(cout * cin));
    for (int64_t xi = a; xi < b; ++xi) {
      x86::winograd_weights_at(w, sc, cout, cin, m, static_cast<int>(xi), u.data());
      x86::pack_conv_blocked(u.data(), nullptr, cout, cin, cin_pad, 1, 1, vlen, ocb,
                             dst + xi * wset);
    }
  });
  SCV_ASSIGN_OR_RETURN(st.bias, floats_of(j.bias, st.wd.cout_pad));
  SCV_ASSIGN_OR_RETURN(st.zero_bias, alloc_floats(st.wd.cout_pad));
  st.wd.bias = st.bias.get();
  p.add_weight_bytes(sizeof(float) * (st.P * st.wset + 2 * st.wd.cout_pad));
  p.release(j.node->inputs[1]);
  return Status();
}

// One position's GEMM as a 1x1 conv over a row of wd.tb tiles.
void winograd_gemm_desc(WinogradStep& st, int vlen) {
  auto& wd = st.wd;
  auto& gd = st.gd;
  gd.cin_pad = wd.cin_pad;
  gd.x_cb = vlen;
  gd.x_block = gd.x_row = wd.tb * vlen;
  gd.x_pix = vlen;
  gd.h = gd.oh = 1;
  gd.cout_pad = wd.cout_pad;
  gd.y_block = gd.y_row = wd.tb * vlen;
  gd.y_pix = vlen;
  gd.bias = st.zero_bias.get();
}

Status emit_winograd(Planner& p, const ConvJob& j) {
  const FastKernels* k = fast_kernels(p.options());
  const int vlen = k->vl;
  const int nth = p.threads();
  auto st = std::make_unique<WinogradStep>();
  st->k = k;
  auto& wd = st->wd;
  wd.cin_pad = blocks_of(j.cin, vlen) * vlen;
  wd.cout_pad = blocks_of(j.cout, vlen) * vlen;
  wd.h = j.xs[2];
  wd.w = j.xs[3];
  wd.m = winograd_tile(wd.h, wd.w);
  st->info = {j.name, wd.m == 4 ? "winograd_f43" : "winograd_f23", j.flops};
  st->P = (wd.m + 2) * (wd.m + 2);
  wd.th = (wd.h + wd.m - 1) / wd.m;
  wd.tw = (wd.w + wd.m - 1) / wd.m;
  wd.x_block = wd.h * wd.w * vlen;
  wd.x_row = wd.w * vlen;
  wd.x_batch = blocks_of(j.cin, vlen) * wd.x_block;
  wd.y_block = j.ys[2] * j.ys[3] * vlen;
  wd.y_row = j.ys[3] * vlen;
  wd.y_batch = blocks_of(j.cout, vlen) * wd.y_block;
  wd.relu = j.f->relu;
  st->n = j.xs[0];
  st->tiles = wd.th * wd.tw;
  st->info.exec_flops = 2.0 * double(st->n * st->tiles * st->P) * double(j.cin) * double(j.cout);
  st->phased = winograd_phased(st->P, wd.cin_pad, wd.cout_pad, st->n, wd.h, wd.w);
  winograd_units(*st, nth);
  SCV_TRY(winograd_pack(p, j, *st));
  winograd_gemm_desc(*st, vlen);
  st->per_thread = st->P * wd.tb * (wd.cin_pad + wd.cout_pad);
  if (st->phased) {
    st->units_per_img =
        std::max<int64_t>(1, std::min<int64_t>(st->tiles, (nth + st->n - 1) / st->n));
    wd.tb = st->tiles;
    st->gd.x_block = st->gd.x_row = st->gd.y_block = st->gd.y_row = wd.tb * vlen;
    st->per_thread = 0;
  }
  st->scratch = p.new_slot(st->phased ? st->n * st->P * wd.tb * (wd.cin_pad + wd.cout_pad)
                                      : nth * st->per_thread);
  SCV_ASSIGN_OR_RETURN(st->x, p.blocked(j.node->inputs[0]));
  const int scratch = st->scratch;
  return push_blocked(p, j, std::move(st), scratch);
}

// ---- blocked direct ---------------------------------------------------------------------------

// Input side of the blocked descriptor: the 3-channel stem reads NCHW directly (x_cb = 1),
// everything else the blocked layout.
Status blocked_input(Planner& p, const ConvJob& j, ConvBlockedStep& st) {
  auto& d = st.d;
  const int vlen = p.block();
  const int64_t c = j.xs[1];
  const int xv = j.node->inputs[0];
  if (c < vlen && p.blocked_slot(xv) < 0) {
    SCV_ASSIGN_OR_RETURN(st.x, p.plain(xv));
    d.x_cb = 1;
    d.cin_pad = c;
    d.x_block = j.xs[2] * j.xs[3];
    d.x_row = j.xs[3];
    d.x_pix = 1;
    d.x_batch = c * j.xs[2] * j.xs[3];
  } else {
    SCV_ASSIGN_OR_RETURN(st.x, p.blocked(xv));
    d.x_cb = vlen;
    d.cin_pad = blocks_of(c, vlen) * vlen;
    d.x_block = j.xs[2] * j.xs[3] * vlen;
    d.x_row = j.xs[3] * vlen;
    d.x_pix = vlen;
    d.x_batch = blocks_of(c, vlen) * d.x_block;
  }
  return Status();
}

void blocked_geometry(const ConvJob& j, int vlen, x86::ConvBlockedDesc& d) {
  d.h = j.xs[2];
  d.w = j.xs[3];
  d.kh = j.kh;
  d.kw = j.kw;
  d.sh = j.wp.sh;
  d.sw = j.wp.sw;
  d.pt = j.wp.pad_t;
  d.pl = j.wp.pad_l;
  d.oh = j.ys[2];
  d.ow = j.ys[3];
  d.cout_pad = blocks_of(j.cout, vlen) * vlen;
  d.y_pix = vlen;
  d.y_row = j.ys[3] * vlen;
  d.y_block = j.ys[2] * j.ys[3] * vlen;
  d.y_batch = blocks_of(j.cout, vlen) * d.y_block;
  d.relu = j.f->relu;
  const auto& wp = j.wp;
  const bool pointwise = j.kh == 1 && j.kw == 1 && d.sh == 1 && d.sw == 1 && d.pt == 0 &&
                         d.pl == 0 && wp.pad_b == 0 && wp.pad_r == 0;
  if (pointwise) {
    const int64_t L = pointwise_row(d.oh, d.ow);
    if (L != d.ow) {
      d.h = d.oh = d.oh * d.ow / L;
      d.w = d.ow = L;
      d.x_row = L * d.x_pix;
      d.y_row = L * vlen;
    }
  }
}

Status emit_blocked(Planner& p, const ConvJob& j) {
  const FastKernels* k = fast_kernels(p.options());
  const int vlen = k->vl, ocb = k->conv_ocb;
  auto st = std::make_unique<ConvBlockedStep>();
  st->info = {j.name, "conv_blocked", j.flops};
  st->k = k;
  auto& d = st->d;
  SCV_TRY(blocked_input(p, j, *st));
  const int64_t psize = x86::packed_conv_blocked_size(j.cout, d.cin_pad, j.kh, j.kw, vlen, ocb);
  SCV_ASSIGN_OR_RETURN(st->w, alloc_floats(psize, false));
  {
    const float* wsrc = j.w->data();
    const float* sc = j.scale.empty() ? nullptr : j.scale.data();
    float* dst = st->w.get();
    const int64_t cin_pad = d.cin_pad, cout = j.cout, c = j.xs[1], kh = j.kh, kw = j.kw;
    p.pool().parallel_for(x86::conv_blocked_groups(cout, vlen, ocb), [&](int64_t g0, int64_t g1) {
      x86::pack_conv_blocked(wsrc, sc, cout, c, cin_pad, kh, kw, vlen, ocb, dst, g0, g1);
    });
  }
  blocked_geometry(j, vlen, d);
  SCV_ASSIGN_OR_RETURN(st->bias, floats_of(j.bias, d.cout_pad));
  p.add_weight_bytes(sizeof(float) * (psize + d.cout_pad));
  p.release(j.node->inputs[1]);
  d.weight = st->w.get();
  d.bias = st->bias.get();
  st->n = j.xs[0];
  st->groups = blocks_of(blocks_of(j.cout, vlen), ocb);
  st->split_rows = split_by_rows(j.xs[0], d.cin_pad, j.xs[2], j.xs[3], psize);
  st->tiles = p.options().tiles && d.x_cb == vlen;
  if (st->tiles) st->info.kind = "conv_tiles";
  st->bands = std::max<int64_t>(1, (p.threads() + st->n - 1) / st->n);
  return push_blocked(p, j, std::move(st), -1);
}

// ---- plain NCHW: im2col + GEMM, or the scalar reference ---------------------------------------

// OIHW weights with the BatchNorm scale applied (a copy only when there is a scale).
Tensor folded_weights(const ConvJob& j) {
  if (j.scale.empty()) return *j.w;
  Tensor t = j.w->clone();
  for (int64_t co = 0; co < j.cout; ++co)
    for (int64_t i = 0; i < j.per_out; ++i) t[co * j.per_out + i] *= j.scale[co];
  return t;
}

// The input and residual of a plain-layout conv step (before its scratch is reserved).
template <typename S>
Status plain_inputs(Planner& p, const ConvJob& j, S& st) {
  SCV_ASSIGN_OR_RETURN(st.x, p.plain(j.node->inputs[0]));
  if (j.f->add >= 0) {
    SCV_ASSIGN_OR_RETURN(st.res, p.plain(j.f->residual));
  }
  return Status();
}

// The common end of the plain-layout conv steps: bias, slots, push.
template <typename S>
Status push_plain(Planner& p, const ConvJob& j, std::unique_ptr<S> st) {
  SCV_ASSIGN_OR_RETURN(st->bias, floats_of(j.bias, j.cout));
  p.touch(st->x);
  if (st->res >= 0) p.touch(st->res);
  return p.push_out(std::move(st), j.f->out, shape_numel(j.ys), false);
}

Status emit_gemm(Planner& p, const ConvJob& j, Tensor wt) {
  const FastKernels* k = fast_kernels(p.options());
  const bool prepack = p.options().prepack;
  const auto& wp = j.wp;
  auto st = std::make_unique<ConvGemmStep>();
  SCV_TRY(plain_inputs(p, j, *st));
  st->info = {j.name, prepack ? "conv_gemm" : "conv_gemm_nopack", j.flops};
  st->k = k;
  st->prepack = prepack;
  st->p = conv_params(wp, j.node->attrs.group);
  st->n = j.xs[0];
  st->c = j.xs[1];
  st->h = j.xs[2];
  st->wd = j.xs[3];
  st->cout = j.cout;
  st->oh = j.ys[2];
  st->ow = j.ys[3];
  st->kdim = j.per_out;
  st->direct = j.kh == 1 && j.kw == 1 && wp.sh == 1 && wp.sw == 1 && wp.pad_t == 0 &&
               wp.pad_l == 0 && wp.pad_b == 0 && wp.pad_r == 0;
  st->relu = j.f->relu;
  if (prepack) {
    const int64_t sz = x86::packed_gemm_a_size(j.cout, j.per_out, k->gemm_mr);
    SCV_ASSIGN_OR_RETURN(st->a_packed, alloc_floats(sz));
    x86::pack_gemm_a(wt.data(), j.cout, j.per_out, k->gemm_mr, st->a_packed.get());
    p.add_weight_bytes(sizeof(float) * sz);
    if (!st->direct) {
      st->col = p.new_slot(j.per_out * j.ys[2] * j.ys[3]);
      p.touch(st->col);
    }
  } else {
    st->w_oihw = wt;
  }
  return push_plain(p, j, std::move(st));
}

Status emit_ref_fused(Planner& p, const ConvJob& j, Tensor wt) {
  auto st = std::make_unique<ConvRefStep>();
  SCV_TRY(plain_inputs(p, j, *st));
  st->info = {j.name, "conv_ref", j.flops};
  st->w = wt;
  st->p = conv_params(j.wp, j.node->attrs.group);
  st->n = j.xs[0];
  st->c = j.xs[1];
  st->h = j.xs[2];
  st->wd = j.xs[3];
  st->cout = j.cout;
  st->count = shape_numel(j.ys);
  st->relu = j.f->relu;
  return push_plain(p, j, std::move(st));
}

// Bias, and the BatchNorm fold as a per-output-channel scale. The blocked paths apply the
// scale while packing (no folded copy of the weights); the plain paths fold into a copy.
void fold(const Planner& p, ConvJob& j, const Tensor* b) {
  j.bias.assign(j.cout, 0.0f);
  if (b)
    for (int64_t i = 0; i < j.cout; ++i) j.bias[i] = b->data()[i];
  if (j.f->bn < 0) return;
  const Node& bn = p.node(j.f->bn);
  j.scale.assign(j.cout, 1.0f);
  fold_batchnorm(p.const_of(bn, 1)->data(), p.const_of(bn, 2)->data(), p.const_of(bn, 3)->data(),
                 p.const_of(bn, 4)->data(), bn.attrs.epsilon, j.cout, 1, j.scale.data(),
                 j.bias.data());
}

}  // namespace

Status plan_conv(Planner& p, int index) {
  const Node& node = p.node(index);
  const Fusion& f = p.fusion(index);
  ConvJob j;
  j.node = &node;
  j.f = &f;
  j.w = p.const_of(node, 1);
  const Tensor* b = p.const_of(node, 2);
  if (!j.w || (has_input(node, 2) && !b)) {  // weights computed at run time: generic path
    // (fusion only plans convs; such a conv executes unfused through the reference step)
    if (f.bn >= 0 || f.add >= 0 || (f.relu && !node.attrs.fused_relu))
      return error("node '", node.name, "': internal error: fused conv with non-constant weight");
    return p.emit_ref(index);
  }
  j.xs = p.shape(node.inputs[0]);
  j.ys = p.shape(node.outputs[0]);
  SCV_TRY(window_params(node, j.xs[2], j.xs[3], j.w->dim(2), j.w->dim(3), &j.wp));
  j.cout = j.w->dim(0);
  j.cin = j.xs[1];
  j.kh = j.w->dim(2);
  j.kw = j.w->dim(3);
  j.per_out = j.w->dim(1) * j.kh * j.kw;
  fold(p, j, b);
  j.name =
      node.name + (f.bn >= 0 ? "+bn" : "") + (f.add >= 0 ? "+add" : "") + (f.relu ? "+relu" : "");
  j.flops = 2.0 * shape_numel(j.ys) * j.per_out;
  j.simple = node.attrs.group == 1 && j.wp.dh == 1 && j.wp.dw == 1;
  if (use_winograd(p, j)) return emit_winograd(p, j);
  if (blocked_on(p) && j.simple) return emit_blocked(p, j);
  if (fast_kernels(p.options()) && j.simple) return emit_gemm(p, j, folded_weights(j));
  return emit_ref_fused(p, j, folded_weights(j));
}

}  // namespace scv
