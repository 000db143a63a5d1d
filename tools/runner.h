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
  int threads = 0;         // from resolve_threads_option (0: usable CPUs)
  std::string isa;         // "" = best available
  bool reference = false;  // force the plain reference executor
};

// The --threads option of every command: the library's rule (scv::choose_threads) with the
// CLI's side of it: a bad value is a usage error (exit 2) naming the option, a value above the
// usable CPUs is clamped with one warning line on stderr. Returns 0, or 2 after the error.
int resolve_threads_option(const ArgParser& p, const std::string& text, int* threads);

class Runner {
 public:
  Runner();
  ~Runner();
  Status init(Graph graph, const RunnerOptions& opt);
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
