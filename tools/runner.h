// Runner: runs a loaded model on input tensors with the chosen executor. classify, infer and
// bench share it, so every command takes the same --isa/--threads/--reference switches.
#pragma once

#include <memory>
#include <string>

#include "cli.h"
#include "scratchcv/graph.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv::cli {

struct RunnerOptions {
  int threads = 0;         // from --threads (ArgParser::threads; 0: usable CPUs)
  std::string isa;         // "" = best available
  bool reference = false;  // force the plain reference executor (int8: the reference kernels)
  std::string precision = "fp32";  // fp32 | int8 | bf16 (see Runner::load)
};

// The --precision option: "fp32", "int8" or "bf16"; anything else is an error.
Status check_precision(const std::string& p);

// The executor switches of classify and infer: --threads, --isa, --reference, --precision.
// Declares the four options on `ap` (in that order), storing into the fields of those names of
// *o (a RunnerOptions, or the library's ClassifierOptions).
template <typename Options>
void declare_runner_options(ArgParser& ap, Options* o) {
  ap.threads(&o->threads)
      .option("isa", &o->isa, "ISA", "force kernels: ref, avx2 or avx512 (default: best)")
      .flag("reference", &o->reference, "use the plain reference executor (slow; for checking)")
      .option("precision", &o->precision, "P",
              "fp32 (default), int8 (a QDQ .onnx from `scratchcv quantize` always runs in int8; a "
              "float model is quantized with the built-in calibration) or bf16 (AVX-512 BF16)");
}
// After parse(): checks --precision. Returns 0, or 2 after a usage error (printed).
int check_runner_options(const ArgParser& ap, const std::string& precision);

class Runner {
 public:
  Runner();
  ~Runner();
  Status init(Graph graph, const RunnerOptions& opt);
  // Loads MODEL (.pth or .onnx) for opt.precision and init()s: an ONNX QDQ file always runs in
  // int8 (scratchcv/int8.h); int8 on a float model quantizes it first with the built-in
  // calibration (*warning says a --calib folder with `scratchcv quantize` is better); bf16 needs
  // AVX-512 BF16 and is refused with a clear message elsewhere.
  Status load(const std::string& path, const std::string& arch, const RunnerOptions& opt,
              std::string* warning);
  bool int8() const;
  // Prepares the executor for inputs of this shape ahead of the first run() (optional).
  Status prepare(const Shape& input_shape);
  // x: [N, C, H, W]; returns the first graph output (logits).
  Result<Tensor> run(const Tensor& x);
  std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scv::cli
