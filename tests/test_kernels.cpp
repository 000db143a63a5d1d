// Differential tests: every fast kernel (blocked direct conv, NCHW GEMM conv, FC, pools,
// elementwise, the general GEMM of training and im2col / col2im) against the reference, for each
// ISA this CPU has x {1, 2} threads, on awkward shapes that reach the remainder paths (channels 1,
// 3, 7, 13, 127; spatial 1, 7, 13; stride 1 and 2; kernels 1x1, 3x3, 7x7). Graphs with one op are
// run through Session, which packs the weights and binds the kernel exactly as for a whole model.
#include <gtest/gtest.h>

#include <cstring>

#include "ops/conv/im2col.h"
#include "ops/gemm/sgemm.h"
#include "ops/x86/kernels.h"
#include "session_test_util.h"

namespace scv {
namespace {

using testing::add_conv;
using testing::add_op;
using testing::all_option_sets;
using testing::expect_session_matches;
using testing::random_tensor;
using testing::window_attrs;

struct ConvCase {
  int64_t cin, cout, k, stride, pad, h, w;
};

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> v;
  const std::pair<int64_t, int64_t> chans[] = {{1, 7},    {3, 13},   {7, 1},
                                               {13, 127}, {127, 13}, {16, 32}};
  for (auto [cin, cout] : chans)
    for (int64_t hw : {1, 7, 13})
      for (int64_t stride : {1, 2})
        for (int64_t k : {1, 3, 7}) {
          if (k == 7 && cin * cout > 500) continue;  // keeps the reference fast
          v.push_back({cin, cout, k, stride, k / 2, hw, hw + (hw > 1 ? 2 : 0)});
        }
  return v;
}

// A GEMM descriptor over dense row-major B and Y (leading dimension p) with a per-row bias.
x86::GemmDesc dense_gemm(int64_t m, int64_t kk, int64_t p, const float* a_packed, const float* b,
                         float* y, const float* bias) {
  x86::GemmDesc d;
  d.m = m;
  d.k = kk;
  d.p = p;
  d.a_packed = a_packed;
  d.b = b;
  d.ldb = p;
  d.y = y;
  d.ldy = p;
  d.bias = bias;
  return d;
}

TEST(KernelsDiff, ConvAllIsasThreadsShapes) {
  int n = 0;
  for (const ConvCase& c : conv_cases()) {
    Graph g;
    int x = g.add_value("x", {-1, c.cin, -1, -1});
    g.inputs = {x};
    g.outputs = {add_conv(g, x, c.cin, c.cout, c.k, c.stride, c.pad, false, false, 7, "conv")};
    const Tensor in = random_tensor({1, c.cin, c.h, c.w}, 11);
    auto ref = run_reference(g, {in});
    ASSERT_TRUE(ref.ok()) << ref.status().message();
    const std::string what = "conv cin=" + std::to_string(c.cin) +
                             " cout=" + std::to_string(c.cout) + " k=" + std::to_string(c.k) +
                             " s=" + std::to_string(c.stride) + " " + std::to_string(c.h) + "x" +
                             std::to_string(c.w);
    for (const SessionOptions& o : all_option_sets())
      expect_session_matches(g, in, (*ref)[0], o, 1e-4, what);
    ++n;
  }
  EXPECT_GT(n, 50);
}

// Conv + BN + residual Add + ReLU: the fused epilogue, batch 2, blocked input from a first conv.
TEST(KernelsDiff, FusedConvBnAddRelu) {
  for (int64_t c : {3, 13, 32}) {
    for (int64_t hw : {1, 7, 13}) {
      // kb = 3: the conv carrying the residual is a 3x3 (Winograd when it has >= vl channels).
      const int64_t kb = hw == 7 ? 3 : 1;
      Graph g;
      int x = g.add_value("x", {-1, c, -1, -1});
      g.inputs = {x};
      int a = add_conv(g, x, c, 24, 3, 1, 1, true, true, 1, "a");
      int b = add_conv(g, a, 24, 24, kb, 1, kb / 2, true, false, 2, "b", false);
      int sc = add_conv(g, x, c, 24, 1, 1, 0, true, false, 3, "sc");
      int s = add_op(g, OpType::Add, "add", {b, sc});
      g.outputs = {add_op(g, OpType::Relu, "relu", {s})};
      const Tensor in = random_tensor({2, c, hw, hw}, 5);
      auto ref = run_reference(g, {in});
      ASSERT_TRUE(ref.ok());
      for (const SessionOptions& o : all_option_sets())
        expect_session_matches(g, in, (*ref)[0], o, 1e-4, "fused c=" + std::to_string(c));
    }
  }
}

// Winograd: F(4,3) (maps >= 28x28) and F(2,3), fused (tile blocks) and phased (weights larger
// than activations) modes, odd sizes (partial edge tiles), BN + residual Add + ReLU epilogue,
// batch 2 (image-parallel with 2 threads).
TEST(KernelsDiff, WinogradShapes) {
  struct Case {
    int64_t c, h, w;
  };
  for (Case k :
       {Case{16, 28, 28}, Case{24, 29, 31}, Case{40, 33, 30}, Case{16, 14, 15}, Case{64, 5, 6}}) {
    Graph g;
    int x = g.add_value("x", {-1, 8, -1, -1});
    g.inputs = {x};
    int a = add_conv(g, x, 8, k.c, 1, 1, 0, true, true, 1, "a");
    int b = add_conv(g, a, k.c, k.c, 3, 1, 1, true, false, 2, "b");
    int s = add_op(g, OpType::Add, "add", {b, a});
    g.outputs = {add_op(g, OpType::Relu, "relu", {s})};
    const Tensor in = random_tensor({2, 8, k.h, k.w}, 6);
    auto ref = run_reference(g, {in});
    ASSERT_TRUE(ref.ok());
    for (const SessionOptions& o : all_option_sets())
      expect_session_matches(g, in, (*ref)[0], o, 1e-4,
                             "winograd c=" + std::to_string(k.c) + " " + std::to_string(k.h) + "x" +
                                 std::to_string(k.w));
  }
}

// Stem-like pipeline: conv 7x7/2 -> maxpool 3x3/2 -> ... -> GAP -> flatten -> FC (odd sizes).
TEST(KernelsDiff, PoolsAndFc) {
  for (int64_t cout : {7, 16, 40})
    for (int64_t classes : {1, 10, 37}) {
      Graph g;
      int x = g.add_value("x", {-1, 3, -1, -1});
      g.inputs = {x};
      int a = add_conv(g, x, 3, cout, 7, 2, 3, true, true, 9, "stem");
      int p = add_op(g, OpType::MaxPool, "pool", {a}, window_attrs(3, 2, 1));
      int gp = add_op(g, OpType::GlobalAveragePool, "gap", {p});
      int f = add_op(g, OpType::Flatten, "flat", {gp});
      int w = g.add_constant("fc.w", random_tensor({classes, cout}, 3));
      int b = g.add_constant("fc.b", random_tensor({classes}, 4));
      Attrs fa;
      fa.trans_b = true;
      g.outputs = {add_op(g, OpType::Gemm, "fc", {f, w, b}, fa)};
      for (int64_t n : {1, 3}) {
        const Tensor in = random_tensor({n, 3, 29, 23}, 8);
        auto ref = run_reference(g, {in});
        ASSERT_TRUE(ref.ok());
        for (const SessionOptions& o : all_option_sets())
          expect_session_matches(g, in, (*ref)[0], o, 1e-4, "pools+fc");
      }
    }
}

// The GEMM microkernel directly: every (m, k, p) remainder against a scalar product.
TEST(KernelsDiff, GemmMicrokernelTails) {
  for (Isa isa : testing::available_isas()) {
    const x86::Kernels* k = x86::kernels_for(isa);
    if (!k) continue;  // ref has no SIMD table
    for (int64_t m : {1, 5, 13, 127})
      for (int64_t kk : {1, 7, 64})
        for (int64_t p : {1, 13, 33, 70}) {
          Tensor a = random_tensor({m, kk}, 1), b = random_tensor({kk, p}, 2);
          Tensor bias = random_tensor({m}, 3);
          std::vector<float> ap(x86::packed_gemm_a_size(m, kk, k->gemm_mr));
          x86::pack_gemm_a(a.data(), m, kk, k->gemm_mr, ap.data());
          std::vector<float> y(m * p, -7.0f);
          x86::GemmDesc d = dense_gemm(m, kk, p, ap.data(), b.data(), y.data(), bias.data());
          d.relu = true;
          for (int64_t panel = 0; panel * k->gemm_mr < m; ++panel) k->gemm_panel(d, panel, 0, p);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < p; ++j) {
              double s = bias[i];
              for (int64_t q = 0; q < kk; ++q) s += (double)a[i * kk + q] * b[q * p + j];
              ASSERT_NEAR(y[i * p + j], std::max(0.0, s), 1e-4)
                  << isa_name(isa) << " m=" << m << " k=" << kk << " p=" << p;
            }
        }
  }
}

// The general GEMM (training, the backward pass) on every ISA's kernel, every transpose, alpha
// and beta, against a double-precision loop; shapes reach the register-tile tails (1, 7, 13,
// 127), more than one K chunk (kGemmKC = 256) and more than one N block (kGemmNC = 2048). Every
// ISA must give the reference kernel's bits (same operation order by contract).
TEST(KernelsDiff, SgemmAllIsasTransposesMatchReference) {
  const int64_t sizes[][3] = {{1, 1, 1},      {7, 13, 5},   {6, 16, 256},
                              {13, 127, 300}, {127, 7, 1},  {32, 196, 513},
                              {100, 33, 7},   {3, 2100, 5}, {97, 5, 1000}};
  uint32_t seed = 1;
  for (auto& mnk : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t M = mnk[0], N = mnk[1], K = mnk[2];
        const Tensor a = random_tensor({M * K}, seed++), b = random_tensor({K * N}, seed++);
        const Tensor c0 = random_tensor({M * N}, seed++);
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        const float alpha = 0.5f, beta = 0.25f;
        std::vector<float> want(M * N);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t p = 0; p < K; ++p)
              s += double(ta ? a[p * lda + i] : a[i * lda + p]) *
                   (tb ? b[j * ldb + p] : b[p * ldb + j]);
            want[i * N + j] = float(alpha * s + beta * double(c0[i * N + j]));
          }
        std::vector<float> ref_bits;
        for (Isa isa : testing::available_isas()) {
          const GemmKernel& k = gemm_kernel(isa);
          ASSERT_EQ(k.isa, isa);
          std::vector<float> c(c0.data(), c0.data() + M * N);
          sgemm(k, ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), N);
          for (int64_t i = 0; i < M * N; ++i)
            ASSERT_NEAR(c[i], want[i], 1e-4f * (1 + std::sqrt(float(K))))
                << isa_name(isa) << " M=" << M << " N=" << N << " K=" << K << " ta=" << ta
                << " tb=" << tb << " i=" << i;
          if (isa == Isa::ref)
            ref_bits = c;
          else
            EXPECT_EQ(0, std::memcmp(c.data(), ref_bits.data(), sizeof(float) * c.size()))
                << isa_name(isa) << " differs from ref in bits: M=" << M << " N=" << N << " K=" << K
                << " ta=" << ta << " tb=" << tb;
        }
      }
}

// The panel kernel's accumulate mode with bias, residual and ReLU, every ISA against the
// reference panel kernel on the same packed A (each ISA packs with its own panel height).
TEST(KernelsDiff, GemmPanelAccumulateEpilogue) {
  for (Isa isa : testing::available_isas()) {
    const GemmKernel& k = gemm_kernel(isa);
    for (int64_t m : {1, 7, 13}) {
      for (int64_t p : {1, 13, 33, 70}) {
        const int64_t kk = 9;
        Tensor a = random_tensor({m, kk}, 11), b = random_tensor({kk, p}, 12);
        Tensor bias = random_tensor({m}, 13), res = random_tensor({m, p}, 14);
        Tensor y0 = random_tensor({m, p}, 15);
        std::vector<float> ap(x86::packed_gemm_a_size(m, kk, k.mr));
        x86::pack_gemm_a(a.data(), m, kk, k.mr, ap.data());
        std::vector<float> y(y0.data(), y0.data() + m * p);
        x86::GemmDesc d = dense_gemm(m, kk, p, ap.data(), b.data(), y.data(), bias.data());
        d.residual = res.data();
        d.relu = true;
        d.accumulate = true;
        for (int64_t panel = 0; panel * k.mr < m; ++panel) k.panel(d, panel, 0, p);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < p; ++j) {
            double s = y0[i * p + j] + bias[i] + res[i * p + j];
            for (int64_t q = 0; q < kk; ++q) s += (double)a[i * kk + q] * b[q * p + j];
            ASSERT_NEAR(y[i * p + j], std::max(0.0, s), 1e-4)
                << isa_name(isa) << " m=" << m << " p=" << p;
          }
      }
    }
  }
}

// im2col against its definition and col2im against its adjoint identity
// <im2col(x), c> == <x, col2im(c)>, over strides, dilations, asymmetric pads and a channel range.
TEST(KernelsDiff, Im2colAndCol2imAreAdjoint) {
  struct Case {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, h, w;
  };
  const Case cases[] = {
      {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 7, 9}, {5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 13, 13},
      {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 5, 3}, {3, 2, 2, 1, 0, 1, 1, 0, 2, 1, 9, 7},
      {7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1}, {3, 3, 1, 2, 2, 0, 0, 2, 1, 3, 8, 11}};
  const int64_t C = 3, c0 = 1, c1 = 3;
  for (const Case& cs : cases) {
    ref::Conv2dParams p{cs.kh, cs.kw, cs.sh, cs.sw, cs.pt, cs.pl, cs.pb, cs.pr, cs.dh, cs.dw, 1};
    const int64_t oh = ref::conv_out_dim(cs.h, cs.kh, cs.sh, cs.pt, cs.pb, cs.dh);
    const int64_t ow = ref::conv_out_dim(cs.w, cs.kw, cs.sw, cs.pl, cs.pr, cs.dw);
    const int64_t rows = C * cs.kh * cs.kw;
    const Tensor x = random_tensor({C, cs.h, cs.w}, 21), c = random_tensor({rows, oh * ow}, 22);
    std::vector<float> col(rows * oh * ow, 99.f), dx(C * cs.h * cs.w, 99.f);
    im2col(x.data(), cs.h, cs.w, p, oh, ow, c0, c1, col.data());
    col2im(c.data(), cs.h, cs.w, p, oh, ow, c0, c1, dx.data());
    double lhs = 0, rhs = 0;
    for (int64_t ci = 0; ci < C; ++ci)
      for (int64_t i = 0; i < cs.kh; ++i)
        for (int64_t j = 0; j < cs.kw; ++j)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t r = (ci * cs.kh + i) * cs.kw + j, q = r * oh * ow + oy * ow + ox;
              const int64_t iy = oy * cs.sh - cs.pt + i * cs.dh,
                            ix = ox * cs.sw - cs.pl + j * cs.dw;
              const bool in = iy >= 0 && iy < cs.h && ix >= 0 && ix < cs.w;
              if (ci < c0) {
                ASSERT_EQ(col[q], 99.f) << "rows of channels outside [c0, c1) are not touched";
                continue;
              }
              ASSERT_EQ(col[q], in ? x[(ci * cs.h + iy) * cs.w + ix] : 0.f);
              lhs += double(col[q]) * c[q];
            }
    for (int64_t i = 0; i < C * cs.h * cs.w; ++i) {
      if (i < c0 * cs.h * cs.w) {
        ASSERT_EQ(dx[i], 99.f);
        continue;
      }
      rhs += double(x[i]) * dx[i];
    }
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::fabs(lhs)));
  }
}

}  // namespace
}  // namespace scv
