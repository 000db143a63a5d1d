// QSession: runs a quantized TFLite model (uint8 per-tensor or int8 per-channel) on the CPU.
//
// create() maps the model's operators onto quantized steps, checks every shape, precomputes
// the requantization multipliers, packs weights for the chosen ISA and plans one arena for all
// activations (tensors share space once their last reader has run). run() then does arithmetic
// only: no allocation, no checks. Threads come from a ThreadPool owned by the session.
//
// Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D,
// MAX_POOL_2D, MEAN (over H and W), RESHAPE, SQUEEZE, SOFTMAX, QUANTIZE, DEQUANTIZE,
// CONCATENATION, PAD; fused NONE / RELU / RELU6 / RELU_N1_TO_1; padding SAME / VALID.
// Others give an error naming the operator and its index.
//
// Arithmetic: TFLite's integer kernels (int32 accumulation, Q31 multiplier + shift with its
// rounding, single or double as TFLite builds allow, zero points, saturation, fused clamp). SOFTMAX
// and CONCATENATION of inputs with other scales use float as TFLite's kernels do. The fast kernels
// give the same bytes as the reference (tests/test_tflite.cpp checks it for every ISA and thread
// count). Each operator's shape rule and plan live with its op family (src/ops/qop.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/cpu.h"
#include "scratchcv/status.h"
#include "scratchcv/tflite.h"

namespace scv {

struct QSessionOptions {
  int threads = 0;  // 0: default_num_threads()
  std::string isa;  // "" = best available; "ref", "avx2" or "avx512" force a kernel set
  // Requantization: TFLite's default double rounding (gemmlowp) instead of single rounding
  // (TFLITE_SINGLE_ROUNDING, the default here: within half a step of the exact product, as
  // float runtimes are; the fast kernels implement single rounding only, so double rounding
  // runs the reference kernels).
  bool double_rounding = false;
  bool keep_all = false;  // no arena reuse: every activation stays readable after run()
};

// Shape, type and quantization of a model input or output.
struct QTensorInfo {
  std::vector<int32_t> shape;
  tflite::DType type = tflite::DType::u8;
  float scale = 0.0f;
  int32_t zero_point = 0;
  size_t bytes = 0;
};

class QSession {
 public:
  ~QSession();
  // Copies everything it needs from the model: the Model may be destroyed afterwards.
  static Result<std::unique_ptr<QSession>> create(const tflite::Model& model,
                                                  const QSessionOptions& opt = {});

  const QTensorInfo& input_info() const;
  const QTensorInfo& output_info() const;
  // The input buffer, input_info().bytes bytes in the model's input type: fill, then run().
  uint8_t* input_data();
  void run();
  // run() timing each step: ms[i] is step i's wall time (for profiles; see step_name).
  void run_profiled(std::vector<double>* ms);
  // "operator 3 (CONV_2D) 1x1 56x56x24->144" for step i < num_steps().
  std::string step_name(int i) const;
  const uint8_t* output_data() const;
  // The output as real numbers (scale * (q - zero_point)); allocates.
  std::vector<float> output_float() const;

  // After run() with keep_all: the bytes of activation `tensor` in the model's type.
  // Errors: not an activation of this session, or overwritten (keep_all off).
  Result<std::vector<uint8_t>> activation(int tensor) const;

  Isa isa() const;
  int num_threads() const;
  size_t arena_bytes() const;
  int num_steps() const;
  // One line: "mobilenet: 65 steps, avx512 kernels, 2 threads, arena 1.2 MB".
  std::string describe() const;

 private:
  QSession();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scv
