// Layers with forward and backward passes. Batch-parallel layers split the batch into one
// contiguous chunk per thread; per-thread weight gradients are summed in thread order, so results
// are deterministic for a given thread count.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "core/enum_names.h"
#include "ops/conv/im2col.h"
#include "ops/gemm/sgemm.h"
#include "scratchcv/train.h"

namespace scv::train {

TrainContext::TrainContext(ThreadPool& pool, Isa isa) : pool_(&pool), gemm_(&gemm_kernel(isa)) {}

Isa TrainContext::gemm_isa() const {
  return gemm_->isa;
}

namespace {

void ensure(Tensor* t, const Shape& s) {
  if (t->empty() || t->shape() != s) *t = Tensor(s);
}

Shape with_batch(int64_t n, const Shape& s) {
  Shape r{n};
  r.insert(r.end(), s.begin(), s.end());
  return r;
}

// Contiguous chunk [b, e) of n items for thread ith of nth.
void chunk(int64_t n, int ith, int nth, int64_t* b, int64_t* e) {
  const int64_t c = (n + nth - 1) / nth;
  *b = std::min(n, ith * c);
  *e = std::min(n, *b + c);
}

// Per-thread scratch buffers, grown on first use and then reused. threads() must be called
// before the parallel region (it resizes the outer vector); get() then touches only buf[ith].
struct Scratch {
  std::vector<std::vector<float>> buf;
  void threads(int nth) {
    if (buf.size() < size_t(nth)) buf.resize(nth);
  }
  float* get(int ith, size_t n) {
    assert(size_t(ith) < buf.size());
    if (buf[ith].size() < n) buf[ith].resize(n);
    return buf[ith].data();
  }
};

void init_uniform(Tensor& t, float bound, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(-bound, bound);
}

// ---- conv2d
// -------------------------------------------------------------------------------------- x [N, Cin,
// H, W], weight [Cout, Cin, k, k], bias [Cout] -> y [N, Cout, Ho, Wo]. Per example: y = W[Cout,
// Cin*k*k] * im2col(x) + b. Backward per example: dW += dy * col^T, db += rowsum(dy), dcol = W^T *
// dy, dx = col2im(dcol).
class Conv2d : public Layer {
 public:
  Conv2d(int in_c, int out_c, int k, int stride, int pad, Rng& rng, const std::string& name)
      : cin_(in_c), cout_(out_c), k_(k), s_(stride), pad_(pad) {
    w_.name = name + ".weight";
    b_.name = name + ".bias";
    w_.value = Tensor({out_c, in_c, k, k});
    w_.grad = Tensor({out_c, in_c, k, k});
    b_.value = Tensor({out_c});
    b_.grad = Tensor({out_c});
    const float bound = 1.f / std::sqrt(float(in_c * k * k));
    init_uniform(w_.value, bound, rng);
    init_uniform(b_.value, bound, rng);
  }
  std::string describe() const override {
    return str("conv ", cin_, "->", cout_, " k", k_, " s", s_, " p", pad_);
  }
  Shape out_shape(const Shape& in) const override {
    return {cout_, (in[1] + 2 * pad_ - k_) / s_ + 1, (in[2] + 2 * pad_ - k_) / s_ + 1};
  }
  void forward(const Tensor& x, Tensor* y, bool, const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    const int N = int(x.dim(0)), H = int(x.dim(2)), W = int(x.dim(3));
    const Shape os = out_shape({cin_, H, W});
    const int Ho = int(os[1]), Wo = int(os[2]), HWo = Ho * Wo, K = cin_ * k_ * k_;
    ensure(y, with_batch(N, os));
    const float* wd = w_.value.data();
    const float* bd = b_.value.data();
    float* yd = y->data();
    cols_.threads(pool.num_threads());
    pool.run([&](int ith, int nth) {
      int64_t b, e;
      chunk(N, ith, nth, &b, &e);
      if (b >= e) return;
      float* col = cols_.get(ith, size_t(K) * HWo);
      for (int64_t n = b; n < e; ++n) {
        float* yn = yd + n * cout_ * HWo;
        for (int o = 0; o < cout_; ++o) std::fill(yn + o * HWo, yn + (o + 1) * HWo, bd[o]);
        im2col(x.data() + n * cin_ * H * W, H, W, conv_params(), Ho, Wo, 0, cin_, col);
        sgemm(ctx.gemm(), false, false, cout_, HWo, K, 1.f, wd, K, col, HWo, 1.f, yn, HWo);
      }
    });
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    const int N = int(x.dim(0)), H = int(x.dim(2)), W = int(x.dim(3));
    const int Ho = int(y.dim(2)), Wo = int(y.dim(3)), HWo = Ho * Wo, K = cin_ * k_ * k_;
    if (dx) ensure(dx, x.shape());
    const int nth = pool.num_threads();
    const size_t wsz = size_t(cout_) * K;
    cols_.threads(nth);
    dcols_.threads(nth);
    dws_.threads(nth);
    pool.run([&](int ith, int nth_) {
      int64_t b, e;
      chunk(N, ith, nth_, &b, &e);
      float* dw = dws_.get(ith, wsz + cout_);
      std::memset(dw, 0, sizeof(float) * (wsz + cout_));
      if (b >= e) return;
      float* db = dw + wsz;
      float* col = cols_.get(ith, size_t(K) * HWo);
      float* dcol = dx ? dcols_.get(ith, size_t(K) * HWo) : nullptr;
      for (int64_t n = b; n < e; ++n) {
        const float* dyn = dy.data() + n * cout_ * HWo;
        im2col(x.data() + n * cin_ * H * W, H, W, conv_params(), Ho, Wo, 0, cin_, col);
        sgemm(ctx.gemm(), false, true, cout_, K, HWo, 1.f, dyn, HWo, col, HWo, 1.f, dw, K);
        for (int o = 0; o < cout_; ++o) {
          float s = 0.f;
          for (int i = 0; i < HWo; ++i) s += dyn[o * HWo + i];
          db[o] += s;
        }
        if (dx) {
          sgemm(ctx.gemm(), true, false, K, HWo, cout_, 1.f, w_.value.data(), K, dyn, HWo, 0.f,
                dcol, HWo);
          col2im(dcol, H, W, conv_params(), Ho, Wo, 0, cin_, dx->data() + n * cin_ * H * W);
        }
      }
    });
    // Sum the per-thread partial gradients in thread order.
    float* gw = w_.grad.data();
    float* gb = b_.grad.data();
    std::memset(gw, 0, sizeof(float) * wsz);
    std::memset(gb, 0, sizeof(float) * cout_);
    for (int t = 0; t < nth; ++t) {
      const float* p = dws_.get(t, wsz + cout_);
      for (size_t i = 0; i < wsz; ++i) gw[i] += p[i];
      for (int o = 0; o < cout_; ++o) gb[o] += p[wsz + o];
    }
  }
  std::vector<Param*> params() override { return {&w_, &b_}; }

 private:
  ref::Conv2dParams conv_params() const {
    return ref::Conv2dParams{k_, k_, s_, s_, pad_, pad_, pad_, pad_, 1, 1, 1};
  }
  int cin_, cout_, k_, s_, pad_;
  Param w_, b_;
  Scratch cols_, dcols_, dws_;
};

// ---- max pool
// ------------------------------------------------------------------------------------ x [N, C, H,
// W] -> y [N, C, Ho, Wo], Ho = (H - k) / s + 1 (floor, no padding). The forward keeps the argmax of
// each window; backward routes dy there.
class MaxPool : public Layer {
 public:
  MaxPool(int k, int s) : k_(k), s_(s) {}
  std::string describe() const override { return str("maxpool k", k_, " s", s_); }
  Shape out_shape(const Shape& in) const override {
    return {in[0], (in[1] - k_) / s_ + 1, (in[2] - k_) / s_ + 1};
  }
  void forward(const Tensor& x, Tensor* y, bool, const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    const int64_t N = x.dim(0), C = x.dim(1);
    const int H = int(x.dim(2)), W = int(x.dim(3));
    const Shape os = out_shape({C, H, W});
    const int Ho = int(os[1]), Wo = int(os[2]);
    ensure(y, with_batch(N, os));
    arg_.resize(size_t(N * C) * Ho * Wo);
    pool.parallel_for(N * C, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const float* xp = x.data() + p * H * W;
        float* yp = y->data() + p * Ho * Wo;
        int32_t* ap = arg_.data() + p * Ho * Wo;
        for (int oy = 0; oy < Ho; ++oy)
          for (int ox = 0; ox < Wo; ++ox) {
            int best = (oy * s_) * W + ox * s_;
            float m = xp[best];
            for (int ky = 0; ky < k_; ++ky)
              for (int kx = 0; kx < k_; ++kx) {
                const int i = (oy * s_ + ky) * W + ox * s_ + kx;
                if (xp[i] > m) m = xp[i], best = i;
              }
            yp[oy * Wo + ox] = m;
            ap[oy * Wo + ox] = best;
          }
      }
    });
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    if (!dx) return;
    ensure(dx, x.shape());
    const int64_t NC = x.dim(0) * x.dim(1), HW = x.dim(2) * x.dim(3);
    const int64_t HWo = y.dim(2) * y.dim(3);
    pool.parallel_for(NC, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        float* d = dx->data() + p * HW;
        std::memset(d, 0, sizeof(float) * HW);
        const float* g = dy.data() + p * HWo;
        const int32_t* a = arg_.data() + p * HWo;
        for (int64_t i = 0; i < HWo; ++i) d[a[i]] += g[i];
      }
    });
  }

 private:
  int k_, s_;
  std::vector<int32_t> arg_;
};

// ---- fully connected
// ----------------------------------------------------------------------------- x [N, in], weight
// [out, in], bias [out] -> y = x W^T + b. dW = dy^T x, db = colsum(dy), dx = dy W. Threads split
// rows of the output; each element is computed the same way whatever the split, so results do not
// depend on the thread count.
class Linear : public Layer {
 public:
  Linear(int in, int out, Rng& rng, const std::string& name) : in_(in), out_(out) {
    w_.name = name + ".weight";
    b_.name = name + ".bias";
    w_.value = Tensor({out, in});
    w_.grad = Tensor({out, in});
    b_.value = Tensor({out});
    b_.grad = Tensor({out});
    const float bound = 1.f / std::sqrt(float(in));
    init_uniform(w_.value, bound, rng);
    init_uniform(b_.value, bound, rng);
  }
  std::string describe() const override { return str("fc ", in_, "->", out_); }
  Shape out_shape(const Shape&) const override { return {out_}; }
  void forward(const Tensor& x, Tensor* y, bool, const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    const int N = int(x.dim(0));
    ensure(y, {N, out_});
    split_rows(pool, ctx.gemm().mr, N, [&](int r0, int r1) {
      float* yd = y->data() + size_t(r0) * out_;
      for (int r = r0; r < r1; ++r) std::memcpy(yd + (r - r0) * out_, b_.value.data(), 4 * out_);
      sgemm(ctx.gemm(), false, true, r1 - r0, out_, in_, 1.f, x.data() + size_t(r0) * in_, in_,
            w_.value.data(), in_, 1.f, yd, out_);
    });
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const TrainContext& ctx) override {
    ThreadPool& pool = ctx.pool();
    const int N = int(x.dim(0));
    split_rows(pool, ctx.gemm().mr, out_, [&](int r0, int r1) {
      sgemm(ctx.gemm(), true, false, r1 - r0, in_, N, 1.f, dy.data() + r0, out_, x.data(), in_, 0.f,
            w_.grad.data() + size_t(r0) * in_, in_);
      for (int o = r0; o < r1; ++o) {
        float s = 0.f;
        for (int n = 0; n < N; ++n) s += dy[size_t(n) * out_ + o];
        b_.grad[o] = s;
      }
    });
    if (dx) {
      ensure(dx, x.shape());
      split_rows(pool, ctx.gemm().mr, N, [&](int r0, int r1) {
        sgemm(ctx.gemm(), false, false, r1 - r0, in_, out_, 1.f, dy.data() + size_t(r0) * out_,
              out_, w_.value.data(), in_, 0.f, dx->data() + size_t(r0) * in_, in_);
      });
    }
  }
  std::vector<Param*> params() override { return {&w_, &b_}; }

 private:
  // Rows [0, n) in chunks of whole GEMM row panels (mr rows), one chunk per thread.
  template <typename F>
  static void split_rows(ThreadPool& pool, int mr, int n, F&& f) {
    pool.run([&](int ith, int nth) {
      const int tiles = (n + mr - 1) / mr;
      const int per = (tiles + nth - 1) / nth;
      const int r0 = std::min(n, ith * per * mr), r1 = std::min(n, r0 + per * mr);
      if (r0 < r1) f(r0, r1);
    });
  }
  int in_, out_;
  Param w_, b_;
};

// ---- activations
// ---------------------------------------------------------------------------------
class Activation : public Layer {
 public:
  Activation(Act a, float slope) : act_(a), slope_(slope) {}
  std::string describe() const override { return act_name(act_); }
  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor* y, bool, const TrainContext& ctx) override {
    ensure(y, x.shape());
    apply<false>(ctx.pool(), x.numel(), x.data(), nullptr, nullptr, y->data());
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const TrainContext& ctx) override {
    if (!dx) return;
    ensure(dx, x.shape());
    apply<true>(ctx.pool(), x.numel(), x.data(), y.data(), dy.data(), dx->data());
  }

 private:
  // Each activation's rule beside its derivative: forward out = f(x); backward out = dy * f'
  // (from x or from the forward output y).
  template <bool kBackward>
  void apply(ThreadPool& pool, int64_t n, const float* xd, const float* yd, const float* g,
             float* out) const {
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      switch (act_) {
        case Act::relu:
          for (int64_t i = b; i < e; ++i)
            out[i] = kBackward ? (xd[i] > 0.f ? g[i] : 0.f) : (xd[i] > 0.f ? xd[i] : 0.f);
          break;
        case Act::leaky_relu:
          for (int64_t i = b; i < e; ++i)
            out[i] = kBackward ? (xd[i] > 0.f ? g[i] : slope_ * g[i])
                               : (xd[i] > 0.f ? xd[i] : slope_ * xd[i]);
          break;
        case Act::sigmoid:
          for (int64_t i = b; i < e; ++i)
            out[i] = kBackward ? g[i] * yd[i] * (1.f - yd[i]) : 1.f / (1.f + std::exp(-xd[i]));
          break;
        case Act::tanh:
          for (int64_t i = b; i < e; ++i)
            out[i] = kBackward ? g[i] * (1.f - yd[i] * yd[i]) : std::tanh(xd[i]);
          break;
        case Act::none:
          std::memcpy(out + b, (kBackward ? g : xd) + b, sizeof(float) * (e - b));
          break;
      }
    });
  }

  Act act_;
  float slope_;
};

// ---- dropout (inverted: kept units scaled by 1/(1-p) during training, identity in eval) --------
class Dropout : public Layer {
 public:
  Dropout(float p, uint64_t seed) : p_(p), rng_(seed) {}
  std::string describe() const override { return str("dropout ", p_); }
  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor* y, bool training, const TrainContext&) override {
    ensure(y, x.shape());
    const int64_t n = x.numel();
    if (!training || p_ <= 0.f) {
      std::memcpy(y->data(), x.data(), sizeof(float) * n);
      mask_.assign(n, 1.f);
      return;
    }
    mask_.resize(n);
    const float keep = 1.f / (1.f - p_);
    for (int64_t i = 0; i < n; ++i) {  // serial: the mask depends only on the seed
      mask_[i] = rng_.uniform() < p_ ? 0.f : keep;
      (*y)[i] = x[i] * mask_[i];
    }
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const TrainContext&) override {
    if (!dx) return;
    ensure(dx, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) (*dx)[i] = dy[i] * mask_[i];
  }

 private:
  float p_;
  Rng rng_;
  std::vector<float> mask_;
};

class Flatten : public Layer {
 public:
  std::string describe() const override { return "flatten"; }
  Shape out_shape(const Shape& in) const override { return {shape_numel(in)}; }
  void forward(const Tensor& x, Tensor* y, bool, const TrainContext&) override {
    *y = x.reshaped({x.dim(0), x.numel() / x.dim(0)});
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const TrainContext&) override {
    if (dx) *dx = dy.reshaped(x.shape());
  }
};

}  // namespace

namespace {
// "leaky_relu" is also accepted when parsing; names print as the first entry.
constexpr EnumName<Act> kActNames[] = {{Act::none, "none"},        {Act::relu, "relu"},
                                       {Act::sigmoid, "sigmoid"},  {Act::tanh, "tanh"},
                                       {Act::leaky_relu, "leaky"}, {Act::leaky_relu, "leaky_relu"}};
}  // namespace

const char* act_name(Act a) {
  return name_of(kActNames, a);
}

bool parse_act(const std::string& s, Act* out) {
  return parse_name(kActNames, s, out);
}

std::unique_ptr<Layer> make_conv2d(int in_c, int out_c, int k, int stride, int pad, Rng& rng,
                                   const std::string& name) {
  return std::make_unique<Conv2d>(in_c, out_c, k, stride, pad, rng, name);
}
std::unique_ptr<Layer> make_maxpool(int k, int stride) {
  return std::make_unique<MaxPool>(k, stride);
}
std::unique_ptr<Layer> make_linear(int in, int out, Rng& rng, const std::string& name) {
  return std::make_unique<Linear>(in, out, rng, name);
}
std::unique_ptr<Layer> make_activation(Act act, float slope) {
  return std::make_unique<Activation>(act, slope);
}
std::unique_ptr<Layer> make_dropout(float p, uint64_t seed) {
  return std::make_unique<Dropout>(p, seed);
}
std::unique_ptr<Layer> make_flatten() {
  return std::make_unique<Flatten>();
}

double softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels, Tensor* dlogits,
                             int* correct) {
  const int64_t N = logits.dim(0), C = logits.dim(1);
  if (dlogits) ensure(dlogits, logits.shape());
  double loss = 0;
  int hits = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits.data() + n * C;
    int64_t arg = 0;
    for (int64_t c = 1; c < C; ++c)
      if (z[c] > z[arg]) arg = c;
    hits += arg == labels[n];
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(double(z[c]) - z[arg]);
    const double lse = z[arg] + std::log(sum);
    loss += lse - z[labels[n]];
    if (dlogits) {
      float* d = dlogits->data() + n * C;
      for (int64_t c = 0; c < C; ++c)
        d[c] = float((std::exp(double(z[c]) - lse) - (c == labels[n])) / double(N));
    }
  }
  if (correct) *correct = hits;
  return loss / double(N);
}

}  // namespace scv::train
