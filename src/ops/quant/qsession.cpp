// QSession: a TFLite graph mapped onto quantized steps, one arena, prepare once, run many.
#include "scratchcv/qsession.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ops/quant/qkernels.h"
#include "ops/quant/qmath.h"
#include "scratchcv/thread_pool.h"

namespace scv {

using namespace tflite;
namespace q = quant;

namespace {

// An activation tensor as the session holds it (see qkernels.h for the stored domain).
struct Act {
  std::vector<int32_t> shape;
  int32_t d[4] = {1, 1, 1, 1};  // NHWC view: leading 1s for ranks below 4
  bool f32 = false, s8 = false;
  float scale = 0.0f;
  int32_t zp = 0;  // stored domain
  size_t bytes = 0;
  int storage = -1;
  int64_t numel() const { return int64_t(d[0]) * d[1] * d[2] * d[3]; }
};

struct Storage {
  size_t bytes = 0, offset = 0;
  int first = 0, last = 0;  // steps that write first / read last
};

struct Exec {
  uint8_t* arena;
  const size_t* off;  // per activation id
  ThreadPool* pool;
  uint8_t* in_buf;
  uint8_t* out_buf;
  size_t scratch_off, scratch_per_thread;
};

struct Step {
  virtual ~Step() = default;
  virtual void run(const Exec& e) const = 0;
};

inline uint8_t* at(const Exec& e, int act) {
  return e.arena + e.off[act];
}

// Splits rows over the pool's threads; fn(r0, r1, ith).
template <typename F>
void split_rows(const Exec& e, int64_t rows, const F& fn) {
  const int nth = e.pool->num_threads();
  if (nth == 1 || rows < 2) {
    fn(int64_t(0), rows, 0);
    return;
  }
  struct Ctx {
    const F* fn;
    int64_t rows;
  } ctx{&fn, rows};
  const Ctx* c = &ctx;
  e.pool->run([c](int ith, int n) {
    const int64_t r0 = c->rows * ith / n, r1 = c->rows * (ith + 1) / n;
    if (r0 < r1) (*c->fn)(r0, r1, ith);
  });
}

// ---- steps ----------------------------------------------------------------------------------

struct InputStep : Step {
  int out;
  size_t bytes;
  bool flip;  // int8 input: stored = v + 128
  void run(const Exec& e) const override {
    uint8_t* o = at(e, out);
    if (!flip) {
      std::memcpy(o, e.in_buf, bytes);
    } else {
      for (size_t i = 0; i < bytes; ++i) o[i] = e.in_buf[i] ^ 0x80;
    }
  }
};

struct OutputStep : Step {
  int in;
  size_t bytes;
  bool flip;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    if (!flip) {
      std::memcpy(e.out_buf, s, bytes);
    } else {
      for (size_t i = 0; i < bytes; ++i) e.out_buf[i] = s[i] ^ 0x80;
    }
  }
};

struct ConvStep : Step {
  int in, out;
  bool depthwise = false;
  // Reference parameters and the data they point into.
  q::ConvRef ref;
  std::vector<int16_t> w16;
  std::vector<int32_t> bias, mult, shift;
  // Fast kernels (null: reference).
  const q::QKernels* k = nullptr;
  q::FastConv fc;
  q::FastDw fdw;
  std::vector<int8_t, std::allocator<int8_t>> wpack;
  std::vector<int32_t> fbias, fmult, fshift, w32;
  void run(const Exec& e) const override {
    const uint8_t* src = at(e, in);
    uint8_t* dst = at(e, out);
    const int64_t rows = int64_t(ref.g.n) * ref.g.oh;
    const ConvStep* self = this;
    split_rows(e, rows, [self, src, dst, &e](int64_t r0, int64_t r1, int ith) {
      if (self->k && self->depthwise) {
        self->k->dwconv(self->fdw, src, dst, r0, r1);
      } else if (self->k) {
        self->k->conv(self->fc, src, dst,
                      e.arena + e.scratch_off + size_t(ith) * e.scratch_per_thread, r0, r1);
      } else if (self->depthwise) {
        q::dwconv_ref(self->ref, src, dst, r0, r1);
      } else {
        q::conv_ref(self->ref, src, dst, r0, r1);
      }
    });
  }
};

struct AddStep : Step {
  int a, b, out;
  int64_t n;
  q::AddParams p;
  const q::QKernels* k = nullptr;
  void run(const Exec& e) const override {
    const uint8_t *x = at(e, a), *y = at(e, b);
    uint8_t* o = at(e, out);
    const AddStep* self = this;
    // Chunks of 64 elements so SIMD kernels see whole vectors except at the very end.
    split_rows(e, (n + 63) / 64, [self, x, y, o](int64_t r0, int64_t r1, int) {
      const int64_t i0 = r0 * 64, i1 = std::min(self->n, r1 * 64);
      if (self->k)
        self->k->add(self->p, x, y, o, i0, i1);
      else
        q::add_ref(self->p, x, y, o, i0, i1);
    });
  }
};

struct PoolStep : Step {
  int in, out;
  q::PoolParams p;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    const PoolStep* self = this;
    split_rows(e, int64_t(p.g.n) * p.g.oh,
               [self, s, o](int64_t r0, int64_t r1, int) { q::pool_ref(self->p, s, o, r0, r1); });
  }
};

// MEAN over H and W of NHWC: TFLite's uint8 reference_ops::Mean or int8
// reference_integer_ops::Mean.
struct MeanStep : Step {
  int in, out;
  int n, hw, c;
  bool int8_formula, single;
  int32_t mult, in_zp, out_zp, bias;
  int shift;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        const uint8_t* p = s + int64_t(b) * hw * c + ch;
        if (int8_formula) {
          for (int i = 0; i < hw; ++i) acc += int32_t(p[int64_t(i) * c]) - in_zp;
          acc = q::requantize(acc, mult, shift, single);
          acc = acc > 0 ? (acc + hw / 2) / hw : (acc - hw / 2) / hw;
          acc += out_zp;
        } else {
          for (int i = 0; i < hw; ++i) acc += p[int64_t(i) * c];
          acc = q::requantize(acc, mult, shift, single) + bias;
        }
        o[int64_t(b) * c + ch] = uint8_t(std::clamp(acc, 0, 255));
      }
  }
};

// Softmax on the last axis with a float table of exp(-beta * scale * diff), diff = max - x,
// as TFLite's optimized uint8/int8 kernel; outputs round(p / out_scale) + zero point.
struct SoftmaxStep : Step {
  int in, out;
  int64_t rows, cols;
  float table[256];
  float inv_out_scale;
  int32_t out_zp;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* x = s + r * cols;
      const uint8_t mx = *std::max_element(x, x + cols);
      float sum = 0.0f;
      for (int64_t i = 0; i < cols; ++i) sum += table[mx - x[i]];
      const float k = inv_out_scale / sum;
      for (int64_t i = 0; i < cols; ++i) {
        const int32_t v = int32_t(std::round(table[mx - x[i]] * k)) + out_zp;
        o[r * cols + i] = uint8_t(std::clamp(v, 0, 255));
      }
    }
  }
};

struct QuantizeStep : Step {  // float -> q, or q -> q (requantize)
  int in, out;
  int64_t n;
  bool from_float, single;
  float scale;
  int32_t in_zp, out_zp, mult;
  int shift;
  void run(const Exec& e) const override {
    uint8_t* o = at(e, out);
    if (from_float) {
      const float* x = reinterpret_cast<const float*>(at(e, in));
      for (int64_t i = 0; i < n; ++i) {
        const float r = std::round(x[i] / scale);
        const float c = std::clamp(r, -1e9f, 1e9f);  // NaN/inf safe before the cast
        const int64_t v = (c == c ? int64_t(c) : 0) + out_zp;
        o[i] = uint8_t(std::clamp<int64_t>(v, 0, 255));
      }
    } else {
      const uint8_t* x = at(e, in);
      for (int64_t i = 0; i < n; ++i) {
        const int32_t v = q::requantize(int32_t(x[i]) - in_zp, mult, shift, single) + out_zp;
        o[i] = uint8_t(std::clamp(v, 0, 255));
      }
    }
  }
};

struct DequantizeStep : Step {
  int in, out;
  int64_t n;
  float scale;
  int32_t zp;
  void run(const Exec& e) const override {
    const uint8_t* x = at(e, in);
    float* o = reinterpret_cast<float*>(at(e, out));
    for (int64_t i = 0; i < n; ++i) o[i] = scale * float(int32_t(x[i]) - zp);
  }
};

struct ConcatStep : Step {
  struct Part {
    int act;
    int64_t inner;
    bool same;
    float s, b;
  };
  std::vector<Part> parts;
  int out;
  int64_t outer, out_inner;
  int32_t out_zp, lo, hi;
  void run(const Exec& e) const override {
    uint8_t* o = at(e, out);
    for (int64_t r = 0; r < outer; ++r) {
      uint8_t* dst = o + r * out_inner;
      for (const Part& p : parts) {
        const uint8_t* src = at(e, p.act) + r * p.inner;
        if (p.same) {
          for (int64_t i = 0; i < p.inner; ++i)
            dst[i] = uint8_t(std::clamp<int32_t>(src[i], lo, hi));
        } else {
          for (int64_t i = 0; i < p.inner; ++i) {
            const int32_t v = int32_t(std::round(float(src[i]) * p.s + p.b)) + out_zp;
            dst[i] = uint8_t(std::clamp(v, lo, hi));
          }
        }
        dst += p.inner;
      }
    }
  }
};

struct PadStep : Step {
  int in, out;
  int32_t id[4], od[4], before[4];
  uint8_t value;
  void run(const Exec& e) const override {
    const uint8_t* s = at(e, in);
    uint8_t* o = at(e, out);
    std::memset(o, value, size_t(od[0]) * od[1] * od[2] * od[3]);
    for (int a = 0; a < id[0]; ++a)
      for (int b = 0; b < id[1]; ++b)
        for (int c = 0; c < id[2]; ++c) {
          const uint8_t* src = s + ((int64_t(a) * id[1] + b) * id[2] + c) * id[3];
          uint8_t* dst =
              o +
              ((int64_t(a + before[0]) * od[1] + b + before[1]) * od[2] + c + before[2]) * od[3] +
              before[3];
          std::memcpy(dst, src, size_t(id[3]));
        }
  }
};

// ---- helpers -------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<uint8_t, FreeDeleter>;
AlignedBuf aligned_buf(size_t n) {
  const size_t sz = (n + 64 + 63) / 64 * 64;  // + 64: SIMD tails may over-read
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, sz));
  if (p) std::memset(p, 0, sz);
  return AlignedBuf(p);
}

// TFLite's ComputePaddingHeightWidth for one dimension.
void out_and_pad(Padding pad, int in, int f, int s, int d, int* out, int* before) {
  const int eff = (f - 1) * d + 1;
  *out = pad == Padding::same ? (in + s - 1) / s : (in - eff + s) / s;
  const int total = (*out - 1) * s + eff - in;
  *before = total > 0 ? total / 2 : 0;
}

// Fused activation clamp in the stored domain (TFLite's CalculateActivationRangeQuantized).
Status act_range(Activation a, const Act& o, int32_t* lo, int32_t* hi) {
  const int32_t qmin = o.s8 ? -128 : 0, qmax = o.s8 ? 127 : 255;
  const int32_t zp = o.s8 ? o.zp - 128 : o.zp;
  auto qz = [&](float f) { return zp + int32_t(std::round(f / o.scale)); };
  int32_t l = qmin, h = qmax;
  switch (a) {
    case Activation::none:
      break;
    case Activation::relu:
      l = std::max(qmin, qz(0.0f));
      break;
    case Activation::relu6:
      l = std::max(qmin, qz(0.0f));
      h = std::min(qmax, qz(6.0f));
      break;
    case Activation::relu_n1_to_1:
      l = std::max(qmin, qz(-1.0f));
      h = std::min(qmax, qz(1.0f));
      break;
    default:
      return error("fused activation ", int(a),
                   " is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)");
  }
  const int32_t off = o.s8 ? 128 : 0;
  *lo = l + off;
  *hi = h + off;
  return Status();
}

std::string shape_str(const std::vector<int32_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  return r + "]";
}

}  // namespace

// ---- the session ----------------------------------------------------------------------------

struct QSession::Impl {
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<Act> acts;  // indexed by tflite tensor id (unused entries: storage -1)
  std::vector<Storage> storages;
  std::vector<size_t> act_off;
  AlignedBuf arena, in_buf, out_buf;
  size_t arena_bytes = 0, scratch_per_thread = 0, scratch_off = 0;
  std::unique_ptr<ThreadPool> pool;
  QTensorInfo in_info, out_info;
  Isa isa = Isa::ref;
  const q::QKernels* k = nullptr;
  std::string desc;

  const Model* m = nullptr;
  int cur_step = 0;
  bool keep_all = false;
  bool single = true;

  Status build(const Model& model);
  Status map_op(int index, const OpInfo& op);
  Result<Act> make_act(int tensor) const;
  Status use(int act);            // marks a read at cur_step
  Status define(int act, Act a);  // output written at cur_step
  Result<const TensorInfo*> constant(const OpInfo& op, size_t i, const std::string& who) const;
  Status plan();
};

Result<Act> QSession::Impl::make_act(int tensor) const {
  const TensorInfo& t = m->tensors[size_t(tensor)];
  Act a;
  a.shape = t.shape;
  if (t.shape.size() > 4)
    return error("tensor ", tensor, " '", t.name, "': rank ", t.shape.size(),
                 " (at most 4 supported)");
  for (size_t i = 0; i < t.shape.size(); ++i) a.d[4 - t.shape.size() + i] = t.shape[i];
  if (t.type == DType::f32) {
    a.f32 = true;
    a.bytes = size_t(a.numel()) * 4;
    return a;
  }
  if (t.type != DType::u8 && t.type != DType::i8)
    return error("tensor ", tensor, " '", t.name, "': ", dtype_name(t.type),
                 " activations are not supported (UINT8, INT8 and FLOAT32 are)");
  if (!t.q.present())
    return error("tensor ", tensor, " '", t.name, "': ", dtype_name(t.type),
                 " without quantization parameters");
  if (t.q.per_channel())
    return error("tensor ", tensor, " '", t.name,
                 "': per-channel quantized activations are not supported");
  a.s8 = t.type == DType::i8;
  a.scale = t.q.scale[0];
  const int64_t zp = t.q.zero_point[0];
  if (zp < (a.s8 ? -128 : 0) || zp > (a.s8 ? 127 : 255))
    return error("tensor ", tensor, " '", t.name, "': zero point ", zp, " outside the ",
                 dtype_name(t.type), " range");
  if (!(a.scale > 0.0f))
    return error("tensor ", tensor, " '", t.name, "': quantization scale ", a.scale,
                 " must be > 0");
  a.zp = int32_t(zp) + (a.s8 ? 128 : 0);
  a.bytes = size_t(a.numel());
  return a;
}

Status QSession::Impl::use(int act) {
  if (act < 0 || acts[size_t(act)].storage < 0)
    return error("tensor ", act,
                 " is read before any operator writes it (or is a constant used as an activation)");
  Storage& s = storages[size_t(acts[size_t(act)].storage)];
  s.last = std::max(s.last, cur_step);
  return Status();
}

Status QSession::Impl::define(int act, Act a) {
  if (acts[size_t(act)].storage >= 0) return error("tensor ", act, " is written twice");
  if (m->tensors[size_t(act)].data)
    return error("tensor ", act, " is a constant but an operator writes it");
  if (a.storage < 0) {  // a new storage (aliases pass the input's)
    Storage s;
    s.bytes = a.bytes;
    s.first = s.last = cur_step;
    a.storage = int(storages.size());
    storages.push_back(s);
  } else {
    storages[size_t(a.storage)].last = std::max(storages[size_t(a.storage)].last, cur_step);
  }
  acts[size_t(act)] = std::move(a);
  return Status();
}

Result<const TensorInfo*> QSession::Impl::constant(const OpInfo& op, size_t i,
                                                   const std::string& who) const {
  if (i >= op.inputs.size() || op.inputs[i] < 0) return error(who, ": input ", i, " is missing");
  const TensorInfo& t = m->tensors[size_t(op.inputs[i])];
  if (!t.data) return error(who, ": input ", i, " ('", t.name, "') must be a constant tensor");
  return &t;
}

Status QSession::Impl::map_op(int index, const OpInfo& op) {
  const std::string who = str("operator ", index, " (", builtin_op_name(op.code), ")");
  auto need = [&](size_t nin, size_t nout) -> Status {
    if (op.inputs.size() < nin || op.outputs.size() < nout)
      return error(who, ": expected ", nin, " inputs and ", nout, " outputs, found ",
                   op.inputs.size(), " and ", op.outputs.size());
    for (size_t i = 0; i < nin; ++i)
      if (op.inputs[i] < 0) return error(who, ": input ", i, " is missing");
    return Status();
  };
  auto in_act = [&](size_t i) -> Result<Act> {
    const int t = op.inputs[i];
    if (acts[size_t(t)].storage < 0) {
      if (m->tensors[size_t(t)].data)
        return error(who, ": input ", i,
                     " is a constant tensor; a computed activation is expected");
      return error(who, ": input ", i, " (tensor ", t, ") is not computed by any earlier operator");
    }
    return acts[size_t(t)];
  };
  auto quantized = [&](const Act& a, const char* what) -> Status {
    if (a.f32)
      return error(who, ": float ", what,
                   " (the engine runs quantized models; float is only allowed into QUANTIZE and "
                   "out of DEQUANTIZE)");
    return Status();
  };

  switch (op.code) {
    case kConv2d:
    case kDepthwiseConv2d:
    case kFullyConnected: {
      SCV_TRY(need(2, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_TRY(quantized(x, "input"));
      SCV_ASSIGN_OR_RETURN(const TensorInfo* w, constant(op, 1, who));
      const TensorInfo* bias = nullptr;
      if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
        SCV_ASSIGN_OR_RETURN(bias, constant(op, 2, who));
      }
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(y, "output"));
      if (w->type != DType::u8 && w->type != DType::i8)
        return error(who, ": weights of type ", dtype_name(w->type), " (UINT8 or INT8 expected)");
      if (!w->q.present()) return error(who, ": weights without quantization parameters");
      const bool fc = op.code == kFullyConnected, dw = op.code == kDepthwiseConv2d;
      auto st = std::make_unique<ConvStep>();
      st->depthwise = dw;
      q::ConvGeom& g = st->ref.g;
      int oc = 0, K = 0;
      if (fc) {
        if (w->shape.size() != 2)
          return error(who, ": weights of shape ", shape_str(w->shape), ", expected [out, in]");
        oc = w->shape[0];
        K = w->shape[1];
        if (K <= 0 || x.numel() % K != 0)
          return error(who, ": input of ", x.numel(),
                       " elements is not a multiple of the weights' ", K, " columns");
        g.n = 1;
        g.ih = int(x.numel() / K);
        g.iw = 1;
        g.ic = K;
        g.oh = g.ih;
        g.ow = 1;
        g.oc = oc;
        if (y.numel() != int64_t(g.oh) * oc)
          return error(who, ": output ", shape_str(y.shape), " does not hold ", g.oh, " x ", oc,
                       " values");
      } else {
        if (x.shape.size() != 4)
          return error(who, ": input of shape ", shape_str(x.shape), ", expected NHWC");
        if (w->shape.size() != 4)
          return error(who, ": weights of shape ", shape_str(w->shape), ", expected 4-D");
        if (op.stride_w < 1 || op.stride_h < 1 || op.dilation_w < 1 || op.dilation_h < 1)
          return error(who, ": strides ", op.stride_h, "x", op.stride_w, " / dilations ",
                       op.dilation_h, "x", op.dilation_w, " must be >= 1");
        g.n = x.d[0];
        g.ih = x.d[1];
        g.iw = x.d[2];
        g.ic = x.d[3];
        g.kh = w->shape[1];
        g.kw = w->shape[2];
        g.sh = op.stride_h;
        g.sw = op.stride_w;
        g.dh = op.dilation_h;
        g.dw = op.dilation_w;
        if (dw) {
          oc = w->shape[3];
          if (w->shape[0] != 1 || g.ic <= 0 || oc % g.ic != 0)
            return error(who, ": weights ", shape_str(w->shape), " do not fit ", g.ic,
                         " input channels");
          g.depth_mult = oc / g.ic;
        } else {
          oc = w->shape[0];
          if (w->shape[3] != g.ic)
            return error(who, ": weights ", shape_str(w->shape), " expect ", w->shape[3],
                         " input channels, the input has ", g.ic);
        }
        g.oc = oc;
        out_and_pad(op.padding, g.ih, g.kh, g.sh, g.dh, &g.oh, &g.pad_t);
        out_and_pad(op.padding, g.iw, g.kw, g.sw, g.dw, &g.ow, &g.pad_l);
        if (g.oh < 1 || g.ow < 1) return error(who, ": the window is larger than the input");
        const std::vector<int32_t> want = {g.n, g.oh, g.ow, oc};
        if (y.shape != want)
          return error(who, ": output shape ", shape_str(y.shape), ", the operator gives ",
                       shape_str(want));
        K = g.kh * g.kw * g.ic;
      }
      const int qaxis = dw ? 3 : 0;
      if (w->q.per_channel() && (w->q.axis != qaxis || int(w->q.scale.size()) != oc))
        return error(who, ": per-channel weight quantization on axis ", w->q.axis,
                     " (expected axis ", qaxis, ")");
      if (bias) {
        if (bias->type != DType::i32 || bias->numel() != oc)
          return error(who, ": bias of ", dtype_name(bias->type), " ", shape_str(bias->shape),
                       ", expected INT32 [", oc, "]");
      }
      // Weights minus their zero point, multipliers per output channel.
      const int64_t wn = w->numel();
      st->w16.resize(size_t(wn));
      const bool wu8 = w->type == DType::u8;
      for (int64_t i = 0; i < wn; ++i) {
        const int o = dw ? int(i % oc) : int(i / K);
        const int32_t zp = int32_t(w->q.zero_point[w->q.per_channel() ? size_t(o) : 0]);
        const int32_t v = wu8 ? int32_t(w->data[i]) : int32_t(int8_t(w->data[i]));
        st->w16[size_t(i)] = int16_t(v - zp);
      }
      st->bias.assign(size_t(oc), 0);
      if (bias) std::memcpy(st->bias.data(), bias->data, size_t(oc) * 4);
      st->mult.resize(size_t(oc));
      st->shift.resize(size_t(oc));
      for (int o = 0; o < oc; ++o) {
        const double ws = double(w->q.scale[w->q.per_channel() ? size_t(o) : 0]);
        const double real = double(x.scale) * ws / double(y.scale);
        int sh = 0;
        q::quantize_multiplier(real, &st->mult[size_t(o)], &sh);
        st->shift[size_t(o)] = sh;
      }
      st->ref.in_zp = x.zp;
      st->ref.w = st->w16.data();
      st->ref.bias = st->bias.data();
      st->ref.rq.mult = st->mult.data();
      st->ref.rq.shift = st->shift.data();
      st->ref.rq.out_zp = y.zp;
      st->ref.rq.single = single;
      SCV_TRY(act_range(op.activation, y, &st->ref.rq.lo, &st->ref.rq.hi).with_context(who));
      // Fast kernels.
      if (k && dw && g.depth_mult == 1) {
        const int ocpad = (oc + 15) / 16 * 16;
        st->fdw.g = g;
        st->fdw.in_zp = x.zp;
        st->fdw.ocpad = ocpad;
        st->w32.assign(size_t(g.kh) * g.kw * ocpad, 0);
        for (int t = 0; t < g.kh * g.kw; ++t)
          for (int o = 0; o < oc; ++o) st->w32[size_t(t) * ocpad + o] = st->w16[size_t(t) * oc + o];
        st->fbias.assign(size_t(ocpad), 0);
        st->fmult.assign(size_t(ocpad), 0);
        st->fshift.assign(size_t(ocpad), 0);
        std::copy(st->bias.begin(), st->bias.end(), st->fbias.begin());
        std::copy(st->mult.begin(), st->mult.end(), st->fmult.begin());
        std::copy(st->shift.begin(), st->shift.end(), st->fshift.begin());
        st->fdw.w = st->w32.data();
        st->fdw.bias = st->fbias.data();
        st->fdw.rq = st->ref.rq;
        st->fdw.rq.mult = st->fmult.data();
        st->fdw.rq.shift = st->fshift.data();
        st->k = k;
      } else if (k && !dw) {
        // uint8 weights minus a zero point can leave the int8 range VNNI needs: such layers
        // run the AVX2 (int16) kernels, which every AVX-512 CPU also has.
        const bool fits = std::all_of(st->w16.begin(), st->w16.end(),
                                      [](int16_t v) { return v >= -128 && v <= 127; });
        const q::QKernels* kc = k->int8_weights && !fits ? q::qkernels_avx2() : k;
        if (kc) {
          const q::QKernels* k = kc;  // this layer's kernel set
          const int kpad = (K + k->k_step - 1) / k->k_step * k->k_step;
          const int ocpad = (oc + k->col_block - 1) / k->col_block * k->col_block;
          q::FastConv& f = st->fc;
          f.g = g;
          f.in_zp = x.zp;
          f.kpad = kpad;
          f.ocpad = ocpad;
          f.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_t == 0 &&
                     g.pad_l == 0 && K % k->k_step == 0;
          st->wpack.assign(size_t(kpad) * ocpad * 2, 0);  // int16 for the AVX2 layout
          k->pack_gemm_weights(st->w16.data(), oc, K, kpad, ocpad, st->wpack.data());
          // acc = sum x*w - zp * sum w: fold the zero-point term into the bias. (Padding taps
          // of im2col hold the zero point, so they cancel like the reference's skipped taps.)
          st->fbias.assign(size_t(ocpad), 0);
          st->fmult.assign(size_t(ocpad), 0);
          st->fshift.assign(size_t(ocpad), 0);
          for (int o = 0; o < oc; ++o) {
            int64_t sw = 0;
            for (int i = 0; i < K; ++i) sw += st->w16[size_t(o) * K + i];
            st->fbias[size_t(o)] = int32_t(st->bias[size_t(o)] - int64_t(x.zp) * sw);
            st->fmult[size_t(o)] = st->mult[size_t(o)];
            st->fshift[size_t(o)] = st->shift[size_t(o)];
          }
          f.w = st->wpack.data();
          f.bias = st->fbias.data();
          f.rq = st->ref.rq;
          f.rq.mult = st->fmult.data();
          f.rq.shift = st->fshift.data();
          st->k = k;
          scratch_per_thread = std::max(scratch_per_thread, k->conv_scratch_bytes(f));
        }
      }
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(op.inputs[0]));
      SCV_TRY(define(op.outputs[0], y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kAdd: {
      SCV_TRY(need(2, 1));
      SCV_ASSIGN_OR_RETURN(Act a, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act b, in_act(1));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(a, "input"));
      SCV_TRY(quantized(b, "input"));
      SCV_TRY(quantized(y, "output"));
      if (a.shape != b.shape || a.shape != y.shape)
        return error(who, ": shapes ", shape_str(a.shape), " + ", shape_str(b.shape), " -> ",
                     shape_str(y.shape), "; only equal shapes are supported (no broadcasting)");
      auto st = std::make_unique<AddStep>();
      q::AddParams& p = st->p;
      p.in1_offset = -a.zp;
      p.in2_offset = -b.zp;
      p.out_zp = y.zp;
      p.single = single;
      const double twice_max = 2.0 * double(std::max(a.scale, b.scale));
      q::quantize_multiplier(double(a.scale) / twice_max, &p.in1_mult, &p.in1_shift);
      q::quantize_multiplier(double(b.scale) / twice_max, &p.in2_mult, &p.in2_shift);
      q::quantize_multiplier(twice_max / (double(1 << p.left_shift) * double(y.scale)), &p.out_mult,
                             &p.out_shift);
      SCV_TRY(act_range(op.activation, y, &p.lo, &p.hi).with_context(who));
      st->a = op.inputs[0];
      st->b = op.inputs[1];
      st->out = op.outputs[0];
      st->n = y.numel();
      st->k = k;
      SCV_TRY(use(st->a));
      SCV_TRY(use(st->b));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kAveragePool2d:
    case kMaxPool2d: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(x, "input"));
      SCV_TRY(quantized(y, "output"));
      if (x.shape.size() != 4)
        return error(who, ": input of shape ", shape_str(x.shape), ", expected NHWC");
      if (x.scale != y.scale || x.zp != y.zp || x.s8 != y.s8)
        return error(who, ": input and output quantization differ (TFLite requires them equal)");
      if (op.stride_w < 1 || op.stride_h < 1 || op.filter_w < 1 || op.filter_h < 1)
        return error(who, ": filter ", op.filter_h, "x", op.filter_w, " and strides ", op.stride_h,
                     "x", op.stride_w, " must be >= 1");
      auto st = std::make_unique<PoolStep>();
      q::ConvGeom& g = st->p.g;
      g.n = x.d[0];
      g.ih = x.d[1];
      g.iw = x.d[2];
      g.ic = g.oc = x.d[3];
      g.kh = op.filter_h;
      g.kw = op.filter_w;
      g.sh = op.stride_h;
      g.sw = op.stride_w;
      out_and_pad(op.padding, g.ih, g.kh, g.sh, 1, &g.oh, &g.pad_t);
      out_and_pad(op.padding, g.iw, g.kw, g.sw, 1, &g.ow, &g.pad_l);
      const std::vector<int32_t> want = {g.n, g.oh, g.ow, g.oc};
      if (g.oh < 1 || g.ow < 1 || y.shape != want)
        return error(who, ": output shape ", shape_str(y.shape), ", the operator gives ",
                     shape_str(want));
      st->p.average = op.code == kAveragePool2d;
      st->p.signed_round = x.s8;
      SCV_TRY(act_range(op.activation, y, &st->p.lo, &st->p.hi).with_context(who));
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kMean: {
      SCV_TRY(need(2, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(const TensorInfo* axes, constant(op, 1, who));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(x, "input"));
      SCV_TRY(quantized(y, "output"));
      bool hw = x.shape.size() == 4 && axes->type == DType::i32 && axes->numel() == 2;
      if (hw) {
        int32_t a0, a1;
        std::memcpy(&a0, axes->data, 4);
        std::memcpy(&a1, axes->data + 4, 4);
        a0 = a0 < 0 ? a0 + 4 : a0;
        a1 = a1 < 0 ? a1 + 4 : a1;
        hw = std::min(a0, a1) == 1 && std::max(a0, a1) == 2;
      }
      if (!hw)
        return error(who,
                     ": only the mean over axes 1 and 2 (H, W) of an NHWC tensor is supported");
      if (y.numel() != int64_t(x.d[0]) * x.d[3])
        return error(who, ": output ", shape_str(y.shape), " does not hold N x C values");
      auto st = std::make_unique<MeanStep>();
      st->n = x.d[0];
      st->hw = x.d[1] * x.d[2];
      st->c = x.d[3];
      st->int8_formula = x.s8;
      st->single = single;
      st->in_zp = x.zp;
      st->out_zp = y.zp;
      if (x.s8) {
        q::quantize_multiplier(double(x.scale) / double(y.scale), &st->mult, &st->shift);
      } else {
        float temp = float(x.zp) * x.scale / y.scale;
        temp = temp > 0 ? temp + 0.5f : temp - 0.5f;
        st->bias = y.zp - int32_t(temp);
        const float real = x.scale / (float(st->hw) * y.scale);
        q::quantize_multiplier(double(real), &st->mult, &st->shift);
      }
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kReshape:
    case kSqueeze: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      if (x.numel() != y.numel() || x.f32 != y.f32)
        return error(who, ": ", shape_str(x.shape), " -> ", shape_str(y.shape),
                     " changes the element count or type");
      if (!x.f32 && (x.scale != y.scale || x.zp != y.zp))
        return error(who, ": input and output quantization differ");
      y.storage = x.storage;  // same bytes, new shape
      SCV_TRY(use(op.inputs[0]));
      SCV_TRY(define(op.outputs[0], y));
      return Status();
    }
    case kSoftmax: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(x, "input"));
      SCV_TRY(quantized(y, "output"));
      if (x.shape != y.shape || x.shape.empty())
        return error(who, ": output shape differs from the input's");
      auto st = std::make_unique<SoftmaxStep>();
      st->cols = x.shape.back();
      if (st->cols <= 0) return error(who, ": empty last axis");
      st->rows = x.numel() / st->cols;
      for (int i = 0; i < 256; ++i) st->table[i] = std::exp(-double(op.beta) * double(x.scale) * i);
      st->inv_out_scale = 1.0f / y.scale;
      st->out_zp = y.zp;
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kQuantize: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(y, "output"));
      if (x.numel() != y.numel())
        return error(who, ": output holds ", y.numel(), " values, input ", x.numel());
      auto st = std::make_unique<QuantizeStep>();
      st->from_float = x.f32;
      st->single = single;
      st->n = y.numel();
      st->scale = y.scale;
      st->in_zp = x.zp;
      st->out_zp = y.zp;
      if (!x.f32) q::quantize_multiplier(double(x.scale) / double(y.scale), &st->mult, &st->shift);
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kDequantize: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(x, "input"));
      if (!y.f32 || x.numel() != y.numel())
        return error(who, ": expected a FLOAT32 output of the input's size");
      auto st = std::make_unique<DequantizeStep>();
      st->n = x.numel();
      st->scale = x.scale;
      st->zp = x.zp;
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kConcatenation: {
      SCV_TRY(need(1, 1));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(y, "output"));
      const int rank = int(y.shape.size());
      int axis = op.axis < 0 ? op.axis + rank : op.axis;
      if (axis < 0 || axis >= rank)
        return error(who, ": axis ", op.axis, " out of range for rank ", rank);
      const int ax4 = axis + 4 - rank;
      auto st = std::make_unique<ConcatStep>();
      st->outer = 1;
      for (int i = 0; i < ax4; ++i) st->outer *= y.d[i];
      st->out_inner = y.numel() / std::max<int64_t>(st->outer, 1);
      SCV_TRY(act_range(op.activation, y, &st->lo, &st->hi).with_context(who));
      st->out_zp = y.zp;
      int64_t total = 0;
      int32_t sum_axis = 0;
      for (size_t i = 0; i < op.inputs.size(); ++i) {
        SCV_ASSIGN_OR_RETURN(Act x, in_act(i));
        SCV_TRY(quantized(x, "input"));
        if (int(x.shape.size()) != rank)
          return error(who, ": input ", i, " has rank ", x.shape.size(), ", output ", rank);
        for (int dd = 0; dd < rank; ++dd)
          if (dd != axis && x.shape[size_t(dd)] != y.shape[size_t(dd)])
            return error(who, ": input ", i, " shape ", shape_str(x.shape),
                         " does not match output ", shape_str(y.shape));
        sum_axis += x.shape[size_t(axis)];
        ConcatStep::Part p;
        p.act = op.inputs[i];
        p.inner = x.numel() / std::max<int64_t>(st->outer, 1);
        p.same = x.scale == y.scale && x.zp == y.zp;
        p.s = x.scale / y.scale;
        p.b = -float(x.zp) * p.s;
        total += p.inner;
        st->parts.push_back(p);
        SCV_TRY(use(p.act));
      }
      if (sum_axis != y.shape[size_t(axis)] || total != st->out_inner)
        return error(who, ": inputs add up to ", sum_axis, " along axis ", axis, ", output has ",
                     y.shape[size_t(axis)]);
      st->out = op.outputs[0];
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    case kPad: {
      SCV_TRY(need(2, 1));
      SCV_ASSIGN_OR_RETURN(Act x, in_act(0));
      SCV_ASSIGN_OR_RETURN(const TensorInfo* pads, constant(op, 1, who));
      SCV_ASSIGN_OR_RETURN(Act y, make_act(op.outputs[0]));
      SCV_TRY(quantized(x, "input"));
      SCV_TRY(quantized(y, "output"));
      const int rank = int(x.shape.size());
      if ((pads->type != DType::i32 && pads->type != DType::i64) || pads->numel() != 2 * rank)
        return error(who, ": paddings must be INT32/INT64 [", rank, ", 2]");
      if (x.scale != y.scale || x.zp != y.zp)
        return error(who, ": input and output quantization differ");
      auto st = std::make_unique<PadStep>();
      for (int i = 0; i < 4; ++i) {
        st->id[i] = x.d[i];
        st->before[i] = 0;
      }
      for (int i = 0; i < rank; ++i) {
        int64_t b, a;
        if (pads->type == DType::i32) {
          int32_t v[2];
          std::memcpy(v, pads->data + 8 * i, 8);
          b = v[0];
          a = v[1];
        } else {
          int64_t v[2];
          std::memcpy(v, pads->data + 16 * i, 16);
          b = v[0];
          a = v[1];
        }
        if (b < 0 || a < 0 || b > (1 << 20) || a > (1 << 20))
          return error(who, ": padding ", b, ", ", a, " out of range");
        const int d4 = i + 4 - rank;
        st->before[d4] = int32_t(b);
        if (int64_t(x.d[d4]) + b + a != y.d[d4])
          return error(who, ": output ", shape_str(y.shape),
                       " does not match the input padded by the paddings");
      }
      for (int i = 0; i < 4; ++i) st->od[i] = y.d[i];
      st->value = uint8_t(y.zp);
      st->in = op.inputs[0];
      st->out = op.outputs[0];
      SCV_TRY(use(st->in));
      SCV_TRY(define(st->out, y));
      steps.push_back(std::move(st));
      return Status();
    }
    default:
      break;
  }
  std::string name = builtin_op_name(op.code);
  if (op.code == 32 && !op.custom_code.empty()) name += " '" + op.custom_code + "'";
  return error(who.substr(0, who.find(' ', 9)), ": unsupported TFLite operator ", name,
               " (supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, "
               "MAX_POOL_2D, "
               "MEAN, RESHAPE, SQUEEZE, SOFTMAX, QUANTIZE, DEQUANTIZE, CONCATENATION, PAD)");
}

Status QSession::Impl::plan() {
  // Greedy first fit in order of first write; a storage is free once the step after its last
  // reader starts (no step writes over its own input).
  std::vector<int> order(storages.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return storages[size_t(a)].first < storages[size_t(b)].first;
  });
  std::vector<int> live;
  size_t top = 0;
  for (int id : order) {
    Storage& s = storages[size_t(id)];
    live.erase(
        std::remove_if(live.begin(), live.end(),
                       [&](int o) { return !keep_all && storages[size_t(o)].last < s.first; }),
        live.end());
    std::sort(live.begin(), live.end(), [&](int a, int b) {
      return storages[size_t(a)].offset < storages[size_t(b)].offset;
    });
    const size_t need = (s.bytes + 63) / 64 * 64;
    size_t pos = 0;
    for (int o : live) {
      const Storage& l = storages[size_t(o)];
      if (l.offset >= pos + need) break;
      pos = std::max(pos, l.offset + (l.bytes + 63) / 64 * 64);
    }
    s.offset = pos;
    top = std::max(top, pos + need);
    live.push_back(id);
  }
  scratch_off = top;
  arena_bytes = top + scratch_per_thread * size_t(pool->num_threads());
  arena = aligned_buf(arena_bytes);
  if (!arena)
    return error("out of memory: cannot allocate the ", arena_bytes, "-byte activation arena");
  act_off.assign(acts.size(), 0);
  for (size_t i = 0; i < acts.size(); ++i)
    if (acts[i].storage >= 0) act_off[i] = storages[size_t(acts[i].storage)].offset;
  return Status();
}

Status QSession::Impl::build(const Model& model) {
  m = &model;
  acts.assign(model.tensors.size(), Act{});
  if (model.inputs.size() != 1 || model.outputs.empty())
    return error("the model has ", model.inputs.size(), " inputs and ", model.outputs.size(),
                 " outputs; one input and at least one output are expected");
  const int in_t = model.inputs[0], out_t = model.outputs[0];
  SCV_ASSIGN_OR_RETURN(Act x, make_act(in_t));
  in_info.shape = x.shape;
  in_info.type = model.tensors[size_t(in_t)].type;
  in_info.scale = x.scale;
  in_info.zero_point = x.zp - (x.s8 ? 128 : 0);
  in_info.bytes = x.bytes;
  {
    auto st = std::make_unique<InputStep>();
    st->out = in_t;
    st->bytes = x.bytes;
    st->flip = x.s8;
    cur_step = 0;
    SCV_TRY(define(in_t, x));
    steps.push_back(std::move(st));
  }
  for (size_t i = 0; i < model.ops.size(); ++i) {
    cur_step = int(steps.size());
    SCV_TRY(map_op(int(i), model.ops[i]));
  }
  cur_step = int(steps.size());
  if (acts[size_t(out_t)].storage < 0)
    return error("the model output (tensor ", out_t, ") is never computed");
  const Act& y = acts[size_t(out_t)];
  out_info.shape = y.shape;
  out_info.type = model.tensors[size_t(out_t)].type;
  out_info.scale = y.scale;
  out_info.zero_point = y.zp - (y.s8 ? 128 : 0);
  out_info.bytes = y.bytes;
  {
    auto st = std::make_unique<OutputStep>();
    st->in = out_t;
    st->bytes = y.bytes;
    st->flip = y.s8;
    SCV_TRY(use(out_t));
    steps.push_back(std::move(st));
  }
  in_buf = aligned_buf(in_info.bytes);
  out_buf = aligned_buf(out_info.bytes);
  if (!in_buf || !out_buf) return error("out of memory for the input/output buffers");
  SCV_TRY(plan());
  m = nullptr;
  return Status();
}

QSession::QSession() : impl_(std::make_unique<Impl>()) {}
QSession::~QSession() = default;

Result<std::unique_ptr<QSession>> QSession::create(const Model& model, const QSessionOptions& opt) {
  std::unique_ptr<QSession> s(new QSession());
  Impl& im = *s->impl_;
  im.isa = best_isa();
  if (!opt.isa.empty()) {
    if (!parse_isa(opt.isa, &im.isa))
      return error("unknown ISA '", opt.isa, "' (expected ref, avx2 or avx512)");
    if (!isa_supported(im.isa)) return error("this CPU does not support ", opt.isa);
  }
  if (im.isa == Isa::avx512) {
    im.k = q::qkernels_avx512();
    if (!im.k) im.isa = Isa::avx2;  // AVX-512 without VNNI: the AVX2 kernels
  }
  if (im.isa == Isa::avx2) im.k = q::qkernels_avx2();
  if (opt.double_rounding) im.k = nullptr;  // the fast kernels round once
  if (!im.k) im.isa = Isa::ref;
  const int threads = opt.threads > 0 ? opt.threads : default_num_threads();
  im.pool = std::make_unique<ThreadPool>(threads);
  im.keep_all = opt.keep_all;
  im.single = !opt.double_rounding;
  if (Status st = im.build(model); !st.ok()) return st.with_context("tflite");
  im.desc = str(im.steps.size(), " steps, ", im.k ? im.k->name : "reference", " kernels, ", threads,
                " thread", threads > 1 ? "s" : "", ", arena ", im.arena_bytes / 1024, " KiB");
  return s;
}

const QTensorInfo& QSession::input_info() const {
  return impl_->in_info;
}
const QTensorInfo& QSession::output_info() const {
  return impl_->out_info;
}
uint8_t* QSession::input_data() {
  return impl_->in_buf.get();
}
const uint8_t* QSession::output_data() const {
  return impl_->out_buf.get();
}

void QSession::run() {
  Impl& im = *impl_;
  Exec e{im.arena.get(),   im.act_off.data(), im.pool.get(),        im.in_buf.get(),
         im.out_buf.get(), im.scratch_off,    im.scratch_per_thread};
  for (const auto& st : im.steps) st->run(e);
}

std::vector<float> QSession::output_float() const {
  const QTensorInfo& o = impl_->out_info;
  const uint8_t* p = impl_->out_buf.get();
  std::vector<float> r(o.type == DType::f32 ? o.bytes / 4 : o.bytes);
  if (o.type == DType::f32) {
    std::memcpy(r.data(), p, o.bytes);
  } else {
    for (size_t i = 0; i < r.size(); ++i) {
      const int32_t v = o.type == DType::i8 ? int32_t(int8_t(p[i])) : int32_t(p[i]);
      r[i] = o.scale * float(v - o.zero_point);
    }
  }
  return r;
}

Result<std::vector<uint8_t>> QSession::activation(int tensor) const {
  const Impl& im = *impl_;
  if (tensor < 0 || size_t(tensor) >= im.acts.size() || im.acts[size_t(tensor)].storage < 0)
    return error("tensor ", tensor, " is not an activation of this model");
  if (!im.keep_all) return error("activations are kept only with QSessionOptions::keep_all");
  const Act& a = im.acts[size_t(tensor)];
  const uint8_t* p = im.arena.get() + im.act_off[size_t(tensor)];
  std::vector<uint8_t> r(p, p + a.bytes);
  if (a.s8)
    for (uint8_t& v : r) v ^= 0x80;
  return r;
}

Isa QSession::isa() const {
  return impl_->isa;
}
int QSession::num_threads() const {
  return impl_->pool->num_threads();
}
size_t QSession::arena_bytes() const {
  return impl_->arena_bytes;
}
int QSession::num_steps() const {
  return int(impl_->steps.size());
}
std::string QSession::describe() const {
  return impl_->desc;
}

}  // namespace scv
