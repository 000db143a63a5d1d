// Helpers shared by the Session / kernel differential tests: seeded random tensors, small
// hand-built graphs, and a comparison against run_reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "scratchcv/cpu.h"
#include "scratchcv/graph.h"
#include "scratchcv/model.h"
#include "scratchcv/session.h"

namespace scv::testing {

inline Tensor random_tensor(const Shape& s, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = d(rng);
  return t;
}

// ISAs this CPU runs (ref always).
inline std::vector<Isa> available_isas() {
  std::vector<Isa> v{Isa::ref};
  if (isa_supported(Isa::avx2)) v.push_back(Isa::avx2);
  if (isa_supported(Isa::avx512)) v.push_back(Isa::avx512);
  return v;
}

// A ResNet of architecture `arch` (resnet18, ...) with random_resnet_weights(seed); an empty
// graph, and a test failure, where it cannot be built.
inline Graph random_resnet(const std::string& arch, uint64_t seed) {
  auto cfg = resnet_config(arch);
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  if (!cfg.ok()) return Graph();
  auto g = build_resnet(random_resnet_weights(*cfg, seed), *cfg);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? std::move(g).value() : Graph();
}

// Attrs of a square k x k window with the same stride and padding on every side (conv, pools).
inline Attrs window_attrs(int64_t k, int64_t stride, int64_t pad) {
  Attrs a;
  a.kernel_shape = {k, k};
  a.strides = {stride, stride};
  a.pads = {pad, pad, pad, pad};
  return a;
}

// Adds node `name` of type `op` reading `inputs`, with one output value also named `name`;
// returns the output value id.
inline int add_op(Graph& g, OpType op, const std::string& name, std::vector<int> inputs,
                  const Attrs& a = {}) {
  const int y = g.add_value(name);
  g.add_node(op, name, std::move(inputs), {y}, a);
  return y;
}

// Adds conv (+BN) (+ReLU) to g reading value x; returns the output value id.
inline int add_conv(Graph& g, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                    int64_t pad, bool bn, bool relu, uint32_t seed, const std::string& name,
                    bool bias = true) {
  const Attrs a = window_attrs(k, stride, pad);
  const float scale = 1.0f / std::sqrt(static_cast<float>(cin * k * k));
  int w = g.add_constant(name + ".w", random_tensor({cout, cin, k, k}, seed, -scale, scale));
  std::vector<int> in{x, w};
  if (bias) in.push_back(g.add_constant(name + ".b", random_tensor({cout}, seed + 1)));
  int y = add_op(g, OpType::Conv, name, in, a);
  if (bn) {
    int ga = g.add_constant(name + ".g", random_tensor({cout}, seed + 2, 0.5f, 1.5f));
    int be = g.add_constant(name + ".be", random_tensor({cout}, seed + 3));
    int me = g.add_constant(name + ".m", random_tensor({cout}, seed + 4));
    int va = g.add_constant(name + ".v", random_tensor({cout}, seed + 5, 0.5f, 2.0f));
    y = add_op(g, OpType::BatchNorm, name + ".bn", {y, ga, be, me, va});
  }
  if (relu) y = add_op(g, OpType::Relu, name + ".relu", {y});
  return y;
}

// max |a - b| relative to max(1, max |ref|).
inline double max_rel_diff(const Tensor& ref, const std::vector<float>& got) {
  double mx = 1.0, d = 0.0;
  for (int64_t i = 0; i < ref.numel(); ++i) mx = std::max(mx, std::fabs((double)ref[i]));
  for (int64_t i = 0; i < ref.numel(); ++i) d = std::max(d, std::fabs((double)ref[i] - got[i]));
  return d / mx;
}

// Runs g through a Session with `opt` and compares with the reference output.
inline void expect_session_matches(const Graph& g, const Tensor& input, const Tensor& ref,
                                   const SessionOptions& opt, double tol, const std::string& what) {
  auto s = Session::create(g, input.shape(), opt);
  ASSERT_TRUE(s.ok()) << what << ": " << s.status().message();
  ASSERT_EQ((*s)->output_shape(), ref.shape()) << what;
  std::vector<float> out(ref.numel(), std::nanf(""));
  ASSERT_TRUE((*s)->run(input.data(), out.data()).ok());
  const double d = max_rel_diff(ref, out);
  EXPECT_LE(d, tol) << what << " isa=" << isa_name(opt.isa) << " threads=" << opt.threads
                    << " simd=" << opt.simd << " prepack=" << opt.prepack << " fuse=" << opt.fuse
                    << " blocked=" << opt.blocked << " tiles=" << opt.tiles
                    << " winograd=" << opt.winograd;
  // A second run on the same session gives the same answer (no state leaks between runs).
  std::vector<float> again(ref.numel());
  ASSERT_TRUE((*s)->run(input.data(), again.data()).ok());
  EXPECT_EQ(out, again) << what;
}

// Every ISA x {1, 2} threads x {NCHW GEMM path, blocked path (pixel tiles + Winograd, or
// row kernel + direct 3x3)} (x fused / unfused).
inline std::vector<SessionOptions> all_option_sets() {
  std::vector<SessionOptions> v;
  for (Isa isa : available_isas())
    for (int threads : {1, 2})
      for (int mode = 0; mode < 4; ++mode) {
        if (isa == Isa::ref && mode > 0) continue;
        SessionOptions o;
        o.isa = isa;
        o.threads = threads;
        o.blocked = mode == 0 || mode == 3;
        o.tiles = o.winograd = mode != 3;  // mode 3: the row kernel, direct 3x3
        o.fuse = mode != 2;
        o.prepack = mode != 2;
        v.push_back(o);
      }
  return v;
}

}  // namespace scv::testing
