// Internal to the quantizer (src/int8/quantize*.cpp): the folded graph and its calibration data.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/int8.h"

namespace scv::quantize_detail {

constexpr int kBins = 2048;

// Per-activation statistics: the range seen and a histogram of |x| over [0, range), whose range
// doubles (merging bin pairs) when a larger value arrives, so one pass suffices.
struct Stats {
  float mn = std::numeric_limits<float>::infinity();
  float mx = -std::numeric_limits<float>::infinity();
  double range = 0;  // histogram covers [0, range)
  std::vector<double> hist = std::vector<double>(kBins, 0.0);

  void add(const float* x, int64_t n) {
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
      amax = std::max(amax, std::fabs(x[i]));
    }
    if (amax <= 0) {
      hist[0] += double(n);
      return;
    }
    if (range == 0) range = double(amax) * 1.0001;
    while (double(amax) >= range) {  // double the range: bin pairs merge
      for (int b = 0; b < kBins / 2; ++b)
        hist[size_t(b)] = hist[size_t(2 * b)] + hist[size_t(2 * b + 1)];
      std::fill(hist.begin() + kBins / 2, hist.end(), 0.0);
      range *= 2;
    }
    const double inv = kBins / range;
    for (int64_t i = 0; i < n; ++i) {
      const int b = std::min(kBins - 1, int(std::fabs(x[i]) * inv));
      hist[size_t(b)] += 1;
    }
  }
  double bin_width() const { return range / kBins; }
};

enum class Kind { Conv, Add, MaxPool, AvgPool, Gap, Flatten, Gemm, Softmax };

// One op of the folded graph. Activation ids index Folded::acts.
struct QNode {
  Kind kind;
  std::string name;
  std::vector<int> in;
  int out = -1;
  bool relu = false;
  Node node;    // the original node's attributes (op type adjusted), for the reference kernel
  Tensor w, b;  // Conv: [O, I/g, kh, kw] and [O]; Gemm: [N, K] (B transposed) and [N]
};

struct Act {
  std::string name;
  int producer = -1;  // node index, -1: graph input
  int share = -1;     // takes the quantization of this activation (MaxPool, Flatten)
  bool quantized = true;
  Stats st;
  float scale = 1.0f;
  int32_t zp = 0;
};

struct Folded {
  std::vector<QNode> nodes;
  std::vector<Act> acts;
  int input = 0, output = -1;
};

// Step (1): folds the graph into quantizable ops (BatchNorm into Conv, ReLU into its producer,
// Identity away) and marks the classifier's activations that stay float.
Result<Folded> fold(const Graph& g, QuantizeReport* rep, bool int8_logits);

}  // namespace scv::quantize_detail
