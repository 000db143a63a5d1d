// Helpers of the explain pass (src/explain/trace.cpp): running a loop on the pool, and the
// depthwise convolutions (src/explain/depthwise.cpp), forward and their adjoint, as direct
// per-channel loops over a zero-padded copy of each plane, four or eight outputs per step.
#pragma once

#include <algorithm>
#include <cstdint>

#include "scratchcv/ops_ref.h"
#include "scratchcv/tensor.h"
#include "scratchcv/thread_pool.h"

namespace scv::explain {

// Below this many elements (or multiply-adds) a loop runs on the calling thread: waking the
// pool costs more than it saves, and on a loaded machine every wake-up may wait for a core.
constexpr int64_t kSerialWork = int64_t(1) << 16;

// f(begin, end) over [0, n) on the pool (parallel_for's chunks; with `align` > 1, one chunk per
// thread whose size is a multiple of `align`: GEMMs split along a kernel's register tile, each
// chunk packing its own operands), or f(0, n) on this thread when `work` is small.
template <typename F>
void for_range(ThreadPool& pool, int64_t n, int64_t work, F&& f, int64_t align = 1) {
  if (work < kSerialWork || pool.num_threads() < 2 || n <= align) {
    f(int64_t(0), n);
  } else if (align == 1) {
    pool.parallel_for(n, f);
  } else {
    pool.run([&](int ith, int nth) {
      const int64_t units = (n + align - 1) / align, per = (units + nth - 1) / nth;
      const int64_t b = std::min(n, ith * per * align), e = std::min(n, b + per * align);
      if (b < e) f(b, e);
    });
  }
}

// A depthwise convolution: one input channel per group (groups = input channels), each output
// channel o reading input channel o / M (M = cout / cin, the channel multiplier).
bool is_depthwise(const ref::Conv2dParams& p, int64_t cin, int64_t cout);

// y = depthwise conv(x, w) + b (bias may be null), threads over output planes; the same values
// as the reference convolution (bit for bit but for the sign of a zero sum).
void depthwise_forward(const Tensor& x, const Tensor& w, const float* bias,
                       const ref::Conv2dParams& p, Tensor* y, ThreadPool& pool);

// dx = the transposed depthwise conv of dy, threads over input planes.
void depthwise_backward(const Tensor& dy, const Tensor& w, const ref::Conv2dParams& p, Tensor* dx,
                        ThreadPool& pool);

}  // namespace scv::explain
