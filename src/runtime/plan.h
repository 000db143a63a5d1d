// The planning interface between the session (src/runtime/) and the ops (src/ops/<family>/).
//
// A session plan is a list of Steps over slots of one arena. The runtime owns the order, the
// fusion plan, the slots and their layouts, the memory plan and the threads; an op's plan
// (OpDef::plan) asks the Planner for its inputs in the layout it wants, reserves output and
// scratch slots, packs its weights and pushes the steps it chose. Nothing here names an op or
// an ISA.
//
// Layouts: a value may live in plain NCHW and/or in the channel-blocked layout N[C/B]HW[B] of
// the fast kernels (B = Planner::block(), 16 floats for AVX-512, 8 for AVX2; channels past C
// hold zeros). The planner inserts the reorders between them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/passes.h"
#include "runtime/memory_plan.h"
#include "scratchcv/graph.h"
#include "scratchcv/session.h"
#include "scratchcv/thread_pool.h"

namespace scv {

// ---- aligned float buffers owned by steps -----------------------------------------------------

// Buffers of 2 MiB and more are mapped directly and marked for transparent huge pages: packing
// 100 MB of weights then takes ~50 page faults instead of ~25,000 (prepare time = cold start).
struct FloatsFree {
  size_t mapped = 0;  // bytes mapped with mmap, or 0 for aligned_alloc64
  void operator()(float* p) const;
};
using Floats = std::unique_ptr<float[], FloatsFree>;
// n floats plus 16 of zeroed slack; zero=false leaves the n floats for the caller to fill
// (they are zero anyway when freshly mapped).
Result<Floats> alloc_floats(int64_t n, bool zero = true);
// A copy of v in a fresh buffer (with slack).
Result<Floats> floats_of(const std::vector<float>& v, int64_t n);

// ---- steps
// ---------------------------------------------------------------------------------------

// What a step sees while it runs: the arena (slot -> pointer) and the pool to split work on.
struct Exec {
  float* base = nullptr;
  const int64_t* off = nullptr;
  ThreadPool* pool = nullptr;
  float* ptr(int slot) const { return base + off[slot]; }
};

struct Step {
  StepInfo info;
  virtual ~Step() = default;
  // Steps keep no per-run state: all of it is in the Exec (arena, pool), so several threads
  // may run the same step on different arenas at once (image-parallel batches).
  virtual void run(const Exec& e) = 0;
  virtual bool reentrant() const { return true; }
};

// Runs self->range(e, begin, end) over [0, n) on the pool; the lambda holds two pointers, so
// building the std::function never allocates.
template <typename S>
void parallel(const Exec& e, S* self, int64_t n) {
  e.pool->parallel_for(n, [self, &e](int64_t b, int64_t end) { self->range(e, b, end); });
}

inline int64_t blocks_of(int64_t c, int b) {
  return (c + b - 1) / b;
}

// The prepared plan a Session runs.
struct Plan {
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<PlannedBuffer> bufs;  // one per slot
  size_t weight_bytes = 0;
  int in_slot = -1, out_slot = -1;
  Shape in_shape, out_shape;
};

// ---- the planner
// ----------------------------------------------------------------------------------

class Planner {
 public:
  // block: the channel block of the fast kernels' blocked layout, 0 when it is off.
  Planner(const Graph& g, const SessionOptions& opt, ThreadPool& pool, Graph* consume, int block,
          Plan* out);

  // Shape inference, fusion plan and every node's plan, then the output slot.
  Status build(const Shape& input_shape);

  // -- what op plans read
  const Graph& graph() const { return g_; }
  const Node& node(int i) const { return g_.nodes[i]; }
  const SessionOptions& options() const { return opt_; }
  ThreadPool& pool() { return pool_; }  // for packing weights in parallel at prepare time
  int threads() const { return pool_.num_threads(); }
  int block() const { return block_; }
  const Shape& shape(int v) const { return shapes_[v]; }
  bool is_constant(int v) const { return v >= 0 && g_.values[v].is_constant(); }
  // Input i of n when it is a constant, else nullptr.
  const Tensor* const_of(const Node& n, size_t i) const;
  // What fusion absorbed into node i (BatchNorm, residual Add, ReLU); see graph/passes.h.
  const Fusion& fusion(int i) const { return fusion_.node[i]; }
  // Floats of shape s in the blocked layout.
  int64_t blocked_floats(const Shape& s) const;

  // -- slots and layouts
  int new_slot(int64_t floats);
  void touch(int slot);        // the slot is used by the step about to be pushed
  Result<int> plain(int v);    // value v in NCHW (reorders from blocked when needed)
  Result<int> blocked(int v);  // value v in the blocked layout
  int plain_slot(int v) const { return plain_[v]; }  // -1 when not there (yet)
  int blocked_slot(int v) const { return blk_[v]; }
  // Value v lives in `slot` (the step about to be pushed writes it).
  void set_plain(int v, int slot) { plain_[v] = slot; }
  void set_blocked(int v, int slot) { blk_[v] = slot; }
  void push(std::unique_ptr<Step> st) { plan_.steps.push_back(std::move(st)); }
  // How most op plans end: gives the step a new output slot st->y of `floats` floats holding
  // value v (blocked or plain layout), marks it used and appends the step.
  template <typename S>
  Status push_out(std::unique_ptr<S> st, int v, int64_t floats, bool blocked) {
    st->y = new_slot(floats);
    if (blocked)
      set_blocked(v, st->y);
    else
      set_plain(v, st->y);
    touch(st->y);
    push(std::move(st));
    return Status();
  }
  // Packed weights held by the steps (for Session::weight_bytes).
  void add_weight_bytes(size_t b) { plan_.weight_bytes += b; }
  // Drops the graph's copy of constant v once it is packed (only when the session consumes
  // the graph and nothing else reads v).
  void release(int v);

  // The generic step: node i through its op's reference kernel on NCHW arena buffers.
  Status emit_ref(int i);

 private:
  void add_reorder(int v, int src, int dst, bool to_blocked);
  Status check_input(const Shape& input_shape) const;
  Status emit(int i);

  const Graph& g_;
  const SessionOptions& opt_;
  ThreadPool& pool_;
  Graph* consume_;
  int block_;
  Plan& plan_;
  std::vector<int> uses_;
  std::vector<int> plain_, blk_;  // slot holding each value in NCHW / blocked layout, or -1
  std::vector<Shape> shapes_;
  FusionPlan fusion_;
};

// Shapes of every value for the given graph input shape (constants from their tensors).
Status infer_shapes(const Graph& g, const Shape& input_shape, std::vector<Shape>* shapes);

}  // namespace scv
