// Session: prepare a Graph once, then run it many times with no heap allocation.
//
// create() infers every shape for the given input shape, folds BatchNorm into the preceding
// Conv, fuses ReLU and the residual Add(+ReLU) into the producing Conv, packs weights once into
// the layout the chosen kernels read, plans every activation into one 64-byte-aligned arena and
// binds a kernel to each step. run() then only does arithmetic: it copies the input in, runs the
// steps on the persistent thread pool and copies the output out.
//
// Any graph the loaders produce runs: nodes the fast kernels do not cover (grouped or dilated
// convs, Softmax, MatMul, broadcasting Add, ...) run the reference kernels on arena buffers.
// The ladder switches turn optimisations off one by one (the `scratchcv bench --ladder` table);
// every combination computes the same function as run_reference to float tolerance.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scratchcv/cpu.h"
#include "scratchcv/graph.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"
#include "scratchcv/thread_pool.h"

namespace scv {

struct SessionOptions {
  Isa isa = active_isa();  // ref forces the scalar reference kernels everywhere
  int threads = default_num_threads();
  // Ladder switches (each step of the ladder turns one more on):
  bool simd = true;      // SIMD kernels (im2col + GEMM microkernel on NCHW) instead of scalar loops
  bool prepack = true;   // weights packed once at create(), scratch planned in the arena
                         // (off: packed and malloc'ed again on every run)
  bool fuse = true;      // BatchNorm folded into Conv; ReLU and Add(+ReLU) fused into Conv
  bool blocked = true;   // NCHW{16|8}c layout + direct register-tiled conv kernels, SIMD pools
  bool tiles = true;     // (with blocked) cache blocking: convs tile the flattened pixels and
                         // cut the reduction into L2-sized chunks (off: one output row at a time)
  bool winograd = true;  // (with blocked) 3x3 stride-1 convs by Winograd F(4x4 or 2x2, 3x3)
  // Batches of at least `threads` images (blocked path): each thread runs whole images through
  // a one-image plan on its own arena, instead of all threads sharing every layer of the
  // whole batch (activations of one image stay in cache; no barrier between layers).
  bool image_parallel = true;
};

// One executed step (for --per-layer and the docs).
struct StepInfo {
  std::string name;  // node name (fused nodes: "conv+bn+add+relu")
  std::string kind;  // "conv_blocked", "conv_gemm", "ref:Softmax", "reorder", ...
  double flops = 0;  // floating-point operations per run (2 x MACs for conv and FC)
  // Multiply-add FLOPs the kernels actually execute: below `flops` for Winograd convs (their
  // GEMMs do fewer multiplications than the direct convolution they compute); else = flops.
  double exec_flops = 0;
};

class Session {
 public:
  // input_shape is [N, C, H, W] (or whatever rank the graph's single input has).
  static Result<std::unique_ptr<Session>> create(const Graph& g, const Shape& input_shape,
                                                 const SessionOptions& opt = {});
  // Same, consuming the graph: each weight is released as soon as it is packed (when the graph
  // held the only reference), so prepare never holds two full copies of the weights.
  static Result<std::unique_ptr<Session>> create(Graph&& g, const Shape& input_shape,
                                                 const SessionOptions& opt = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // input: numel(input_shape) floats (NCHW); output: numel(output_shape()) floats.
  // Performs no heap allocation (unless prepack is off, by design).
  Status run(const float* input, float* output);
  // Same, recording the wall time of each step in milliseconds into step_ms (resized once).
  Status run_profiled(const float* input, float* output, std::vector<double>* step_ms);

  const Shape& input_shape() const;
  const Shape& output_shape() const;
  const SessionOptions& options() const;
  const std::vector<StepInfo>& steps() const;
  double flops() const;         // per run (whole batch), direct-convolution count
  double exec_flops() const;    // per run, as executed (Winograd does fewer)
  size_t arena_bytes() const;   // activations + scratch
  size_t weight_bytes() const;  // packed weights and biases held by the session
  bool image_parallel() const;  // batch runs image by image, one thread per image

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Session>> create_impl(const Graph& g, Graph* consume,
                                                      const Shape& input_shape,
                                                      const SessionOptions& opt);
  std::unique_ptr<Impl> impl_;
};

}  // namespace scv
