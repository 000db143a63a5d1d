// Quantized CONV_2D and DEPTHWISE_CONV_2D (TFLite; NHWC activations, the quantized variant of
// Conv): shape rule, reference plan (conv_ref / dwconv_ref) and fast plan (the bound ISA's GEMM
// or depthwise kernels, src/ops/quant/qkernels_*.cpp). FULLY_CONNECTED shares the step
// (src/ops/gemm/fc_q.cpp).
#include <algorithm>
#include <cstring>

#include "ops/conv/conv_q.h"
#include "ops/qop.h"
#include "ops/quant/qmath.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

struct ConvStep : QStep {
  bool depthwise = false;
  // Reference parameters and the data they point into.
  ConvRef ref;
  std::vector<int16_t> w16;
  std::vector<int32_t> bias, mult, shift;
  // Fast kernels (null: reference).
  const QKernels* k = nullptr;
  FastConv fc;
  FastDw fdw;
  std::vector<int8_t> wpack;
  std::vector<int32_t> fbias, fmult, fshift, w32, bias_zp;
  std::vector<int16_t> wpair;
  std::vector<uint8_t> zrow;
  void run(const Exec& e) const override {
    const uint8_t* src = at(e, in);
    uint8_t* dst = at(e, out);
    const int64_t rows = int64_t(ref.g.n) * ref.g.oh;
    const ConvStep* self = this;
    split_rows(e, rows, [self, src, dst, &e](int64_t r0, int64_t r1, int ith) {
      if (self->k && self->depthwise) {
        self->k->dwconv(self->fdw, src, dst, r0, r1);
      } else if (self->k) {
        self->k->conv(self->fc, src, dst, e.scratch(ith), r0, r1);
      } else if (self->depthwise) {
        dwconv_ref(self->ref, src, dst, r0, r1);
      } else {
        conv_ref(self->ref, src, dst, r0, r1);
      }
    });
  }
};

// Weights minus their zero point, bias and multipliers per output channel.
Status prepare_weights(const QPlanner& p, const OpInfo& op, const Act& x, const Act& y,
                       const TensorInfo& w, const TensorInfo* bias, ConvStep& st) {
  const ConvGeom& g = st.ref.g;
  const bool dw = st.depthwise;
  const int oc = g.oc, K = dw ? 1 : int(w.numel() / std::max(oc, 1));
  if (w.type != DType::u8 && w.type != DType::i8)
    return error(p.who(), ": weights of type ", dtype_name(w.type), " (UINT8 or INT8 expected)");
  if (!w.q.present()) return error(p.who(), ": weights without quantization parameters");
  const int qaxis = dw ? 3 : 0;
  if (w.q.per_channel() && (w.q.axis != qaxis || int(w.q.scale.size()) != oc))
    return error(p.who(), ": per-channel weight quantization on axis ", w.q.axis,
                 " (expected axis ", qaxis, ")");
  if (bias && (bias->type != DType::i32 || bias->numel() != oc))
    return error(p.who(), ": bias of ", dtype_name(bias->type), " ", shape_str(bias->shape),
                 ", expected INT32 [", oc, "]");
  const bool wu8 = w.type == DType::u8;
  for (const int64_t zp : w.q.zero_point)
    if (zp < (wu8 ? 0 : -128) || zp > (wu8 ? 255 : 127))
      return error(p.who(), ": weight zero point ", zp, " outside the ", dtype_name(w.type),
                   " range");
  const int64_t wn = w.numel();
  st.w16.resize(size_t(wn));
  for (int64_t i = 0; i < wn; ++i) {
    const int o = dw ? int(i % oc) : int(i / K);
    const int32_t zp = int32_t(w.q.zero_point[w.q.per_channel() ? size_t(o) : 0]);
    const int32_t v = wu8 ? int32_t(w.data[i]) : int32_t(int8_t(w.data[i]));
    st.w16[size_t(i)] = int16_t(v - zp);
  }
  st.bias.assign(size_t(oc), 0);
  if (bias) std::memcpy(st.bias.data(), bias->data, size_t(oc) * 4);
  st.mult.resize(size_t(oc));
  st.shift.resize(size_t(oc));
  for (int o = 0; o < oc; ++o) {
    const double ws = double(w.q.scale[w.q.per_channel() ? size_t(o) : 0]);
    const double real = double(x.scale) * ws / double(y.scale);
    int sh = 0;
    quantize_multiplier(real, &st.mult[size_t(o)], &sh);
    st.shift[size_t(o)] = sh;
  }
  st.ref.in_zp = x.zp;
  st.ref.w = st.w16.data();
  st.ref.bias = st.bias.data();
  st.ref.rq.mult = st.mult.data();
  st.ref.rq.shift = st.shift.data();
  st.ref.rq.out_zp = y.zp;
  st.ref.rq.single = p.single_rounding();
  return p.act_range(op.activation, y, &st.ref.rq.lo, &st.ref.rq.hi);
}

// Multipliers and bias padded to ocpad for the kernels' column blocks.
void pad_requant(ConvStep& st, int ocpad, Requant* rq) {
  st.fmult.assign(size_t(ocpad), 0);
  st.fshift.assign(size_t(ocpad), 0);
  std::copy(st.mult.begin(), st.mult.end(), st.fmult.begin());
  std::copy(st.shift.begin(), st.shift.end(), st.fshift.begin());
  *rq = st.ref.rq;
  rq->mult = st.fmult.data();
  rq->shift = st.fshift.data();
  rq->rshift = std::all_of(st.shift.begin(), st.shift.end(), [](int32_t v) { return v < 0; });
}

// Depthwise 3x3 and friends (multiplier 1): weights as int32 [kh*kw][ocpad].
void bind_dw(const QKernels* k, ConvStep& st) {
  const ConvGeom& g = st.ref.g;
  const int oc = g.oc, ocpad = (oc + 15) / 16 * 16;
  st.fdw.g = g;
  st.fdw.in_zp = st.ref.in_zp;
  st.fdw.ocpad = ocpad;
  st.w32.assign(size_t(g.kh) * g.kw * ocpad, 0);
  for (int t = 0; t < g.kh * g.kw; ++t)
    for (int o = 0; o < oc; ++o) st.w32[size_t(t) * ocpad + o] = st.w16[size_t(t) * oc + o];
  st.fbias.assign(size_t(ocpad), 0);
  std::copy(st.bias.begin(), st.bias.end(), st.fbias.begin());
  st.fdw.w = st.w32.data();
  st.fdw.bias = st.fbias.data();
  pad_requant(st, ocpad, &st.fdw.rq);
  if (g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1) {
    // Pairs of taps for vpmaddwd (qkernels.h, FastDw::wpair); out-of-image taps read zp bytes,
    // so the bias takes - zp * sum w over all 9 taps.
    st.wpair.assign(size_t(ocpad) * 10, 0);
    st.bias_zp.assign(size_t(ocpad), 0);
    for (int o = 0; o < oc; ++o) {
      int32_t sw = 0;
      for (int t = 0; t < 9; ++t) {
        const int16_t v = st.w16[size_t(t) * oc + o];
        sw += v;
        st.wpair[size_t(o / 8) * 80 + size_t(t / 2) * 16 + size_t(o % 8) * 2 + size_t(t % 2)] = v;
      }
      st.bias_zp[size_t(o)] = st.bias[size_t(o)] - st.ref.in_zp * sw;
    }
    st.zrow.assign(size_t(g.iw) * g.ic + 64, uint8_t(st.ref.in_zp));
    st.fdw.wpair = st.wpair.data();
    st.fdw.bias_zp = st.bias_zp.data();
    st.fdw.zrow = st.zrow.data();
  }
  st.k = k;
}

// GEMM conv (im2col or direct 1x1). Returns the per-thread scratch the kernels need.
size_t bind_gemm(const QKernels* k, ConvStep& st) {
  const ConvGeom& g = st.ref.g;
  const int oc = g.oc, K = g.kh * g.kw * g.ic;
  const int kpad = (K + k->k_step - 1) / k->k_step * k->k_step;
  const int ocpad = (oc + k->col_block - 1) / k->col_block * k->col_block;
  FastConv& f = st.fc;
  f.g = g;
  f.in_zp = st.ref.in_zp;
  f.kpad = kpad;
  f.ocpad = ocpad;
  f.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_t == 0 && g.pad_l == 0 &&
             K % k->k_step == 0;
  st.wpack.assign(size_t(kpad) * ocpad * 2, 0);  // int16 for the AVX2 layout
  k->pack_gemm_weights(st.w16.data(), oc, K, kpad, ocpad, st.wpack.data());
  // acc = sum x*w - zp * sum w: fold the zero-point term into the bias. (Padding taps of im2col
  // hold the zero point, so they cancel like the reference's skipped taps.)
  st.fbias.assign(size_t(ocpad), 0);
  for (int o = 0; o < oc; ++o) {
    int64_t sw = 0;
    for (int i = 0; i < K; ++i) sw += st.w16[size_t(o) * K + i];
    st.fbias[size_t(o)] = int32_t(st.bias[size_t(o)] - int64_t(st.ref.in_zp) * sw);
  }
  f.w = st.wpack.data();
  f.bias = st.fbias.data();
  pad_requant(st, ocpad, &f.rq);
  st.k = k;
  return k->conv_scratch_bytes(f);
}

// The geometry of CONV_2D / DEPTHWISE_CONV_2D from the input and weight shapes and the options.
Status conv_geom(const QPlanner& p, const OpInfo& op, ConvGeom* out) {
  SCV_TRY(p.need(op, 2, 1));
  const auto& x = p.model().tensors[size_t(op.inputs[0])].shape;
  const auto& w = p.model().tensors[size_t(op.inputs[1])].shape;
  const bool dw = op.code == kDepthwiseConv2d;
  if (x.size() != 4) return error(p.who(), ": input of shape ", shape_str(x), ", expected NHWC");
  if (w.size() != 4) return error(p.who(), ": weights of shape ", shape_str(w), ", expected 4-D");
  if (op.stride_w < 1 || op.stride_h < 1 || op.dilation_w < 1 || op.dilation_h < 1)
    return error(p.who(), ": strides ", op.stride_h, "x", op.stride_w, " / dilations ",
                 op.dilation_h, "x", op.dilation_w, " must be >= 1");
  ConvGeom g;
  g.n = x[0];
  g.ih = x[1];
  g.iw = x[2];
  g.ic = x[3];
  g.kh = w[1];
  g.kw = w[2];
  g.sh = op.stride_h;
  g.sw = op.stride_w;
  g.dh = op.dilation_h;
  g.dw = op.dilation_w;
  if (dw) {
    g.oc = w[3];
    if (w[0] != 1 || g.ic <= 0 || g.oc % g.ic != 0)
      return error(p.who(), ": weights ", shape_str(w), " do not fit ", g.ic, " input channels");
    g.depth_mult = g.oc / g.ic;
  } else {
    g.oc = w[0];
    if (w[3] != g.ic)
      return error(p.who(), ": weights ", shape_str(w), " expect ", w[3],
                   " input channels, the input has ", g.ic);
  }
  SCV_TRY(window_out(p, op.padding, &g));
  *out = g;
  return Status();
}
constexpr auto infer_conv = infer_window<conv_geom>;

template <bool kFast>
Status plan_conv(QPlanner& p, const OpInfo& op) {
  ConvGeom g;
  SCV_TRY(conv_geom(p, op, &g));
  return plan_conv_step(p, op, g, op.code == kDepthwiseConv2d, kFast);
}

}  // namespace

Status plan_conv_step(QPlanner& p, const OpInfo& op, const ConvGeom& g, bool depthwise, bool fast) {
  SCV_TRY(p.need(op, 2, 1));
  // Every extent at least 1: an empty input, weights or output is a broken file (and a K of 0
  // would size the kernels' blocks by zero).
  if (std::min({g.n, g.ih, g.iw, g.ic, g.kh, g.kw, g.oh, g.ow, g.oc}) < 1)
    return error(p.who(), ": empty convolution (input ", g.n, "x", g.ih, "x", g.iw, "x", g.ic,
                 ", kernel ", g.kh, "x", g.kw, ", output ", g.oh, "x", g.ow, "x", g.oc, ")");
  SCV_ASSIGN_OR_RETURN(Act x, p.in_act(op, 0));
  SCV_TRY(p.quantized(x, "input"));
  SCV_ASSIGN_OR_RETURN(const TensorInfo* w, p.constant(op, 1));
  const TensorInfo* bias = nullptr;
  if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
    SCV_ASSIGN_OR_RETURN(bias, p.constant(op, 2));
  }
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  SCV_TRY(p.quantized(y, "output"));
  auto st = std::make_unique<ConvStep>();
  st->depthwise = depthwise;
  st->ref.g = g;
  SCV_TRY(prepare_weights(p, op, x, y, *w, bias, *st));
  const QKernels* k = fast ? p.kernels() : nullptr;
  if (k && depthwise && g.depth_mult == 1) {
    bind_dw(k, *st);
  } else if (k && !depthwise) {
    // uint8 weights minus a zero point can leave the int8 range VNNI needs: such layers run the
    // AVX2 (int16) kernels, which every AVX-512 CPU also has.
    const bool fits = std::all_of(st->w16.begin(), st->w16.end(),
                                  [](int16_t v) { return v >= -128 && v <= 127; });
    const QKernels* kc = k->int8_weights && !fits ? qkernels_avx2() : k;
    if (kc) p.need_scratch(bind_gemm(kc, *st));
  }
  st->detail = str(depthwise ? "dw " : "", g.kh, "x", g.kw, "/", g.sh, " ", g.ih, "x", g.iw, "x",
                   g.ic, "->", g.oc, st->k ? "" : " (ref)",
                   st->fc.rq.rshift || st->fdw.rq.rshift ? "" : " (shift >= 0)");
  return p.emit(std::move(st), {op.inputs[0]}, op.outputs[0], std::move(y));
}

}  // namespace quant

SCV_QOPDEF(Conv2d, "CONV_2D", OpType::Conv, quant::infer_conv, quant::plan_conv<false>,
           quant::plan_conv<true>);
SCV_QOPDEF(DepthwiseConv2d, "DEPTHWISE_CONV_2D", OpType::Conv, quant::infer_conv,
           quant::plan_conv<false>, quant::plan_conv<true>);

}  // namespace scv
