// What a quantized op's plan may ask of the quantized session (QSession, scratchcv/qsession.h):
// the activation tensors it reads and writes, the constants of the model, the bound kernel set,
// and `emit` to append a step. The quantized ops of the op list (src/ops/qop.h) each define a
// shape rule, a reference plan and optionally a fast plan over this interface, in their family's
// folder (src/ops/conv/conv_q.cpp, src/ops/pool/pool_q.cpp, ...); the session only builds the
// planner, walks the model's operators through the op list and plans one arena.
//
// Steps run on an arena of activations: `Exec` gives each step the arena, the activation offsets
// and the thread pool; a step reads its inputs with at(e, id) and splits rows with split_rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/quant/qkernels.h"
#include "scratchcv/status.h"
#include "scratchcv/tflite.h"
#include "scratchcv/thread_pool.h"

namespace scv::quant {

// An activation tensor as the session holds it (see qkernels.h for the stored domain).
struct Act {
  std::vector<int32_t> shape;
  int32_t d[4] = {1, 1, 1, 1};  // NHWC view: leading 1s for ranks below 4
  bool f32 = false, s8 = false;
  float scale = 0.0f;
  int32_t zp = 0;  // stored domain
  size_t bytes = 0;
  int storage = -1;  // the arena slot; a RESHAPE output shares its input's
  int64_t numel() const { return int64_t(d[0]) * d[1] * d[2] * d[3]; }
};

// What run() hands every step.
struct Exec {
  uint8_t* arena;
  const size_t* off;  // per activation id
  ThreadPool* pool;
  uint8_t* in_buf;
  uint8_t* out_buf;
  size_t scratch_off, scratch_per_thread;
  uint8_t* scratch(int ith) const { return arena + scratch_off + size_t(ith) * scratch_per_thread; }
};

// One step of the plan: in / out are activation ids (set by QPlanner::emit).
struct QStep {
  int in = -1, out = -1;
  std::string name;    // "operator 3 (CONV_2D)" (set by QPlanner::emit), for profiles
  std::string detail;  // optional: the kernel and shape a plan chose, for profiles
  virtual ~QStep() = default;
  virtual void run(const Exec& e) const = 0;
};

inline uint8_t* at(const Exec& e, int act) {
  return e.arena + e.off[act];
}

// Splits rows over the pool's threads; fn(r0, r1, ith).
template <typename F>
void split_rows(const Exec& e, int64_t rows, const F& fn) {
  const int nth = e.pool->num_threads();
  if (nth == 1 || rows < 2) {
    fn(int64_t(0), rows, 0);
    return;
  }
  struct Ctx {
    const F* fn;
    int64_t rows;
  } ctx{&fn, rows};
  const Ctx* c = &ctx;
  e.pool->run([c](int ith, int n) {
    const int64_t r0 = c->rows * ith / n, r1 = c->rows * (ith + 1) / n;
    if (r0 < r1) (*c->fn)(r0, r1, ith);
  });
}

// The builder state of a quantized session: activations by tensor id, their arena slots, the
// steps so far. One operator is planned at a time (begin_op sets its name for errors).
class QPlanner {
 public:
  struct Slot {
    size_t bytes = 0, offset = 0;
    int first = 0, last = 0;  // steps that write first / read last
  };

  QPlanner(const tflite::Model& m, const QKernels* k, bool single) : m_(m), k_(k), single_(single) {
    acts_.assign(m.tensors.size(), Act{});
  }

  const tflite::Model& model() const { return m_; }
  // The fast kernel set bound to the session, or null (reference kernels only).
  const QKernels* kernels() const { return k_; }
  // Single rounding (TFLITE_SINGLE_ROUNDING) rather than TFLite's double rounding.
  bool single_rounding() const { return single_; }
  // "operator 3 (CONV_2D)": the prefix of every error about the current operator.
  const std::string& who() const { return who_; }
  void begin_op(int index, const tflite::OpInfo& op);

  // The Act that tensor `tensor` would be (shape, type and quantization checked).
  Result<Act> make_act(int tensor) const;
  // At least nin inputs (present) and nout outputs.
  Status need(const tflite::OpInfo& op, size_t nin, size_t nout) const;
  // Input i as a computed activation (an error for constants and unwritten tensors).
  Result<Act> in_act(const tflite::OpInfo& op, size_t i) const;
  // Input i as a constant tensor.
  Result<const tflite::TensorInfo*> constant(const tflite::OpInfo& op, size_t i) const;
  // An error when `a` is a float activation (only QUANTIZE reads and DEQUANTIZE writes float).
  Status quantized(const Act& a, const char* what) const;
  // Input 0 and output 0 of a one-in, one-out operator, both quantized.
  Status quantized_io(const tflite::OpInfo& op, Act* x, Act* y) const;
  // The fused activation clamp of `op` in y's stored domain.
  Status act_range(tflite::Activation a, const Act& y, int32_t* lo, int32_t* hi) const;

  // Marks a read of activation `act` by the step being planned.
  Status use(int act);
  // Appends `step`, which reads `ins` (ins[0] becomes step->in) and writes activation `out`
  // described by `y` (y.storage >= 0 makes `out` an alias of that slot, as RESHAPE does).
  Status emit(std::unique_ptr<QStep> step, std::initializer_list<int> ins, int out, Act y);
  // Declares the output `out` without a step (an alias: no bytes move).
  Status define(int out, Act y);
  // Per-thread scratch the fast kernels of a step need; the arena reserves the maximum.
  void need_scratch(size_t bytes) { scratch_per_thread_ = std::max(scratch_per_thread_, bytes); }

  // ---- for the session -----------------------------------------------------------------------
  std::vector<std::unique_ptr<QStep>>& steps() { return steps_; }
  std::vector<Act>& acts() { return acts_; }
  std::vector<Slot>& slots() { return slots_; }
  size_t scratch_per_thread() const { return scratch_per_thread_; }
  void set_step(int s) { cur_step_ = s; }

 private:
  const tflite::Model& m_;
  const QKernels* k_;
  bool single_;
  std::string who_;
  int cur_step_ = 0;
  std::vector<Act> acts_;  // indexed by tflite tensor id (unused entries: storage -1)
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<QStep>> steps_;
  size_t scratch_per_thread_ = 0;
};

// A window op's (conv, pool) output size and leading pads on both axes of g, from its input,
// filter, strides and dilations (TFLite's ComputePaddingHeightWidth); an error when the window
// does not fit the input.
Status window_out(const QPlanner& p, tflite::Padding pad, ConvGeom* g);

// The NHWC output shape of a window op, from the geometry `geom` computes.
template <Status (*geom)(const QPlanner&, const tflite::OpInfo&, ConvGeom*)>
Result<std::vector<int32_t>> infer_window(const QPlanner& p, const tflite::OpInfo& op) {
  ConvGeom g;
  SCV_TRY(geom(p, op, &g));
  return std::vector<int32_t>{g.n, g.oh, g.ow, g.oc};
}

}  // namespace scv::quant
