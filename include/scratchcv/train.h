// Training a small CNN from scratch: IDX data, layers with forward/backward, optimisers, model
// configs and checkpoints.
//
// Tensors are float32 NCHW (activations) or [N, features] after flatten; the batch is dim 0.
// Everything that reads user input (IDX files, config text, checkpoints) returns a Status with a
// one-line message. Results are deterministic for a given seed, thread count and ISA.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/cpu.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"
#include "scratchcv/thread_pool.h"

namespace scv {
struct GemmKernel;  // the bound GEMM kernel of one ISA (src/ops/gemm/sgemm.h)
}  // namespace scv

namespace scv::train {

// ---- IDX files (the MNIST / Fashion-MNIST format) ----------------------------------------------
// Layout: 0x00 0x00 <type> <ndim>, ndim big-endian uint32 dims, then the data. Only type 0x08
// (unsigned byte) is accepted. A file starting with the gzip magic is inflated first (zlib).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // numel(dims) bytes
};
Result<IdxArray> parse_idx(const uint8_t* data, size_t size);
Result<IdxArray> read_idx(const std::string& path);  // errors are prefixed with the path

// Images [count, rows, cols] (uint8) and labels [count] in 0..9.
struct Dataset {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> images;
  std::vector<uint8_t> labels;
};
// Pairs an images file (3 dims) with a labels file (1 dim); checks counts and label range.
Result<Dataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path);
// DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
Result<Dataset> load_mnist_dir(const std::string& dir, bool train_split);
// The first n examples (n clamped to count).
Dataset dataset_head(const Dataset& d, int64_t n);
// Fills x [n, 1, rows, cols] with pixels / 255 and labels for the given example indices.
void make_batch(const Dataset& d, const int64_t* indices, int n, Tensor* x, std::vector<int>* y);

// ---- random numbers (our own, so results do not depend on the standard library) -------------
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next();
  float uniform();  // [0, 1)
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  float normal();

 private:
  uint64_t s_[4];
};

// ---- what training runs on --------------------------------------------------------------------
// The trainer's thread pool and the GEMM kernel of one ISA (the inference GEMM: the same x86
// kernel table as Session, scalar reference for Isa::ref), bound once when the context is made.
// A ThreadPool converts to a context on active_isa(), so `net.forward(x, true, pool)` works.
class TrainContext {
 public:
  TrainContext(ThreadPool& pool, Isa isa = active_isa());  // NOLINT: implicit by design
  ThreadPool& pool() const { return *pool_; }
  const GemmKernel& gemm() const { return *gemm_; }
  // The ISA the GEMM really runs: `isa`, or ref when this CPU lacks it.
  Isa gemm_isa() const;

 private:
  ThreadPool* pool_;
  const GemmKernel* gemm_;
};

// ---- layers ------------------------------------------------------------------------------------
enum class Act { none, relu, sigmoid, tanh, leaky_relu };
const char* act_name(Act a);
bool parse_act(const std::string& s, Act* out);

struct Param {
  std::string name;  // "conv1.weight"
  Tensor value, grad;
};

// A layer maps a batch x to y. backward() gets the forward's x and y and dy = dL/dy, writes the
// parameter gradients (overwriting, mean over the batch is already in dy) and, when dx is not
// null, dx = dL/dx (same shape as x). Shapes exclude the batch dim in out_shape().
class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string describe() const = 0;
  virtual Shape out_shape(const Shape& in) const = 0;  // per example, e.g. {C, H, W}
  virtual void forward(const Tensor& x, Tensor* y, bool training, const TrainContext& ctx) = 0;
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                        const TrainContext& ctx) = 0;
  virtual std::vector<Param*> params() { return {}; }
};

// Factories. Weights use PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
std::unique_ptr<Layer> make_conv2d(int in_c, int out_c, int k, int stride, int pad, Rng& rng,
                                   const std::string& name);
std::unique_ptr<Layer> make_maxpool(int k, int stride);
std::unique_ptr<Layer> make_linear(int in, int out, Rng& rng, const std::string& name);
std::unique_ptr<Layer> make_activation(Act act, float leaky_slope = 0.01f);
std::unique_ptr<Layer> make_dropout(float p, uint64_t seed);
std::unique_ptr<Layer> make_flatten();

// Softmax cross-entropy, mean over the batch. logits [N, C]; writes dlogits (same shape) and,
// if correct != nullptr, the number of argmax hits.
double softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels, Tensor* dlogits,
                             int* correct);

// ---- model configs -----------------------------------------------------------------------------
// A small text format, one layer per line, '#' starts a comment:
//   input 1 28 28
//   conv 16 5 pad=2 stride=1 act=relu     # out_channels kernel
//   maxpool 2 stride=2
//   flatten
//   fc 128 act=relu                      # out_features
//   dropout 0.5
//   fc 10
// act= is one of none, relu, sigmoid, tanh, leaky (leaky ReLU, slope 0.01).
struct LayerSpec {
  std::string type;  // conv, maxpool, flatten, fc, dropout
  int out = 0, k = 0, stride = 1, pad = 0;
  float p = 0.f;
  Act act = Act::none;
};
struct ModelConfig {
  int in_c = 1, in_h = 28, in_w = 28;
  std::vector<LayerSpec> layers;
};
Result<ModelConfig> parse_model_config(const std::string& text);
std::string model_config_text(const ModelConfig& cfg);  // canonical text
// "lenet" / "mlp" -> built-in text; anything else is read as a config file path.
Result<ModelConfig> load_model_config(const std::string& name_or_path);
std::string builtin_model_text(const std::string& name);  // "" if unknown

class Network {
 public:
  // Checks that shapes work out (e.g. a conv after flatten is an error) and initialises weights.
  // More than `max_params` parameters (default 2^27) is an error found before that many are
  // allocated (a checkpoint passes what its file size can hold).
  static Result<Network> build(const ModelConfig& cfg, uint64_t seed,
                               int64_t max_params = int64_t(1) << 27);
  const ModelConfig& config() const { return cfg_; }
  // x [N, in_c, in_h, in_w] -> logits [N, classes]. The returned tensor is owned by the network.
  const Tensor& forward(const Tensor& x, bool training, const TrainContext& ctx);
  // After forward(): dlogits -> parameter gradients.
  void backward(const Tensor& dlogits, const TrainContext& ctx);
  std::vector<Param*> params();
  int num_classes() const;
  int64_t num_parameters();
  std::string summary() const;

 private:
  ModelConfig cfg_;
  std::vector<std::shared_ptr<Layer>> layers_;
  std::vector<Tensor> acts_;   // acts_[0] = input, acts_[i+1] = output of layer i
  std::vector<Tensor> grads_;  // same shapes as acts_
};

// ---- optimisers --------------------------------------------------------------------------------
enum class OptKind { sgd, adam };
enum class Schedule { constant, step, cosine };
struct OptimConfig {
  OptKind kind = OptKind::adam;
  float lr = 1e-3f;
  float momentum = 0.9f;                            // SGD
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // Adam
  float weight_decay = 0.f;  // L2 added to the gradient (PyTorch's weight_decay)
  Schedule schedule = Schedule::constant;
  int step_epochs = 5;  // Schedule::step: lr *= gamma every step_epochs
  float gamma = 0.1f;
};
// Learning rate for a (0-based) epoch out of total_epochs.
float scheduled_lr(const OptimConfig& c, int epoch, int total_epochs);

// PyTorch semantics: SGD  g += wd*p; v = mu*v + g; p -= lr*v
//                    Adam g += wd*p; m,v moments; p -= lr * mhat / (sqrt(vhat) + eps)
class Optimizer {
 public:
  Optimizer(OptimConfig cfg, std::vector<Param*> params);
  void step(float lr, const TrainContext& ctx);
  const OptimConfig& config() const { return cfg_; }
  int64_t steps() const { return t_; }
  // State for checkpoints: one tensor per parameter (SGD) or two (Adam).
  std::vector<Tensor>& state() { return state_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  OptimConfig cfg_;
  std::vector<Param*> params_;
  std::vector<Tensor> state_;
  int64_t t_ = 0;
};

// ---- checkpoints -------------------------------------------------------------------------------
// Our own format, little-endian: "SCVCKPT1" magic, uint32 version, the model config text, the
// training state (epoch, seed, optimiser kind and step count), then every parameter and optimiser
// state tensor as (name, rank, dims, float32 data), and a CRC-32 of everything before it.
struct TrainState {
  int epochs_done = 0;
  uint64_t seed = 0;
  float best_test_acc = 0.f;
};
Status save_checkpoint(const std::string& path, Network& net, Optimizer* opt, const TrainState& st);
// Loads the config and builds a network with the stored weights.
struct LoadedCheckpoint {
  ModelConfig config;
  std::string config_text;
  TrainState state;
  OptKind opt_kind = OptKind::adam;
  int64_t opt_steps = 0;
  std::vector<Tensor> opt_state;
  std::unique_ptr<Network> net;
};
Result<LoadedCheckpoint> load_checkpoint(const std::string& path);
// Optimiser state from a checkpoint into opt (checks kind and shapes).
Status restore_optimizer(const LoadedCheckpoint& ck, Optimizer* opt);

// ---- training and evaluation -------------------------------------------------------------------
struct BatchProgress {
  int epoch = 0, batch = 0, num_batches = 0;
  double loss = 0, running_acc = 0;  // running over the epoch so far
  int64_t images_done = 0;
};
struct EpochResult {
  double loss = 0, acc = 0, seconds = 0;
};
// One epoch over `data` in an order shuffled by Rng(seed + epoch). progress may be null.
EpochResult train_epoch(Network& net, Optimizer& opt, const Dataset& data, int batch, float lr,
                        int epoch, uint64_t seed, const TrainContext& ctx,
                        const std::function<void(const BatchProgress&)>& progress);
struct EvalResult {
  double accuracy = 0, loss = 0;
  std::vector<int64_t> confusion;  // [classes * classes], row = true label, col = predicted
};
EvalResult evaluate(Network& net, const Dataset& data, int batch, const TrainContext& ctx);

}  // namespace scv::train
