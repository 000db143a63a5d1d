// int8 inference through standard ONNX QDQ models.
//
// quantize_to_qdq(): post-training quantization of a float Graph (from .pth or ONNX). BatchNorm
// is folded into the convs first and ReLUs into their producers; then the graph runs in float
// on calibration inputs while a histogram of every activation is collected, and the model is
// written as an ONNX QDQ file (QuantizeLinear / DequantizeLinear around Conv, Gemm, Add,
// MaxPool, GlobalAveragePool, Flatten; opset 13) that ONNX Runtime and scratchcv both run:
//   - weights: int8, symmetric (zero point 0, values in [-127, 127]), one scale per output
//     channel; biases int32 with scale = input scale x weight scale;
//   - activations: int8 per tensor, asymmetric (zero point in [-128, 127]). int8 rather than
//     uint8 because scratchcv's int8 engine takes the TFLite int8 scheme as is; a ReLU output
//     gets the range [0, T], so its zero point is -128 and the ReLU itself disappears into the
//     saturation of QuantizeLinear (exactly, as in ONNX Runtime's own quantizer);
//   - kept in higher precision: the network input is calibrated by min/max (no clipping of the
//     image), and the classifier's output (logits) is fp32: the last Gemm multiplies int8 by
//     int8 into int32 and dequantizes, with no QuantizeLinear after it, so close logits keep
//     their order (a softmax after it, if any, runs in float).
// Calibration methods: minmax (the observed range), percentile (the |x| value below which
// `percentile` % of the values fall) and entropy (TensorRT's KL-divergence threshold over a
// 2048-bin histogram).
//
// Int8Session: loads a QDQ ONNX model (ours or one from ONNX Runtime's quantizer: weights as
// int8/uint8 initializers behind DequantizeLinear, per-tensor or per-channel, Relu/Clip between
// an op and its QuantizeLinear fused) and maps every DQ -> op -> Q group onto the quantized
// engine's int8 kernels (scratchcv/qsession.h: convs, residual add, pools, mean, FC; NHWC).
// The input is NCHW float; a final Gemm without QuantizeLinear runs int8 x int8 -> fp32.
// `isa` "ref" runs the reference kernels (the oracle the fast kernels match bit for bit).
// Malformed QDQ (scales <= 0 or NaN, zero points out of range, per-channel axis or size
// mismatches, a QuantizeLinear whose output is not dequantized) is an error naming the node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/cpu.h"
#include "scratchcv/graph.h"
#include "scratchcv/qsession.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

enum class CalibMethod { minmax, percentile, entropy };
Result<CalibMethod> parse_calib_method(const std::string& name);
const char* calib_method_name(CalibMethod m);

struct QuantizeOptions {
  CalibMethod method = CalibMethod::percentile;
  double percentile = 99.99;  // for CalibMethod::percentile
  // Quantize the logits too (Gemm -> QuantizeLinear -> DequantizeLinear at the end): every
  // output is then on an int8 grid, which lets two runtimes be compared step by step.
  bool int8_logits = false;
};

// What the quantizer did, for the command's summary.
struct QuantizeReport {
  int quantized_ops = 0;                // Conv, Gemm, Add, pools written with int8 inputs
  int folded_bn = 0;                    // BatchNorms folded into convs
  int fused_relu = 0;                   // ReLUs absorbed into a QuantizeLinear's range
  int samples = 0;                      // calibration inputs seen
  std::vector<std::string> float_kept;  // what stays in higher precision, and why
};

// calib: NCHW float inputs (any batch each). Returns the ONNX bytes.
Result<std::string> quantize_to_qdq(const Graph& g, const std::vector<Tensor>& calib,
                                    const QuantizeOptions& opt, QuantizeReport* report = nullptr);

// `count` NCHW inputs [1, 3, size, size] made from photos: input i takes photo i % P; the first
// P are the standard ImageNet transform (resize 256, center crop 224, scaled to `size`), the
// others a seeded random square crop (40-100% of the shorter side, anywhere), flipped half the
// time, resized to size x size; all normalized with the ImageNet mean and std.
Result<std::vector<Tensor>> photo_inputs(const std::vector<std::string>& photos, int count,
                                         int size = 224, uint64_t seed = 1);
// The built-in calibration set when no --calib folder is given: 16 inputs from the bundled
// sample photo (data/sample.jpg). A folder of real photos from the target domain is better.
Result<std::vector<Tensor>> builtin_calibration(int size = 224);

// True when the bytes are an ONNX model with QuantizeLinear / DequantizeLinear nodes.
bool is_qdq_onnx(const uint8_t* data, size_t size);

struct Int8Options {
  int threads = 0;  // 0: default_num_threads()
  std::string isa;  // "" = best available, "ref", "avx2", "avx512"
  int batch = 1;    // the batch the session is planned for (a symbolic N takes it)
};

class Int8Session {
 public:
  ~Int8Session();
  static Result<std::unique_ptr<Int8Session>> create(const uint8_t* data, size_t size,
                                                     const Int8Options& opt = {});
  static Result<std::unique_ptr<Int8Session>> load(const std::string& path,
                                                   const Int8Options& opt = {});
  // input: numel(input_shape()) NCHW floats; output: numel(output_shape()) floats.
  void run(const float* input, float* output);
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  std::string describe() const;
  // The quantized engine that runs everything between the float input and the classifier
  // tail: its ISA, threads and steps, and per-step profiles (`bench --per-layer`).
  QSession& engine();

 private:
  Int8Session();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scv
