// Session: prepare (plan: src/runtime/planner.cpp, the ops' plans), then run the steps.
// See include/scratchcv/session.h for the contract and docs/architecture.md for the design.
#include "scratchcv/session.h"

#include <chrono>
#include <cstring>

#include "ops/op.h"
#include "runtime/plan.h"

namespace scv {

struct Session::Impl {
  SessionOptions opt;
  Plan plan;
  std::vector<StepInfo> infos;
  std::vector<int64_t> offsets;
  Floats arena;
  int64_t arena_floats = 0;
  int64_t in_count = 0, out_count = 0;
  std::unique_ptr<ThreadPool> pool;
  double flops = 0, exec_flops = 0;
  // Image-parallel batches (SessionOptions::image_parallel): the steps are planned for one
  // image and each thread runs whole images on its own arena (arenas[i]; thread 0 uses arena).
  int64_t images = 0;  // batch size in that mode, 0 otherwise
  std::vector<Floats> arenas;
  ThreadPool serial{1};  // the pool the steps see inside one thread's image
};

namespace {

// Plans g for input_shape into s: steps, memory plan, arena, step infos.
Status prepare(const Graph& g, Graph* consume, const Shape& input_shape, Session::Impl& s) {
  Planner p(g, s.opt, *s.pool, consume, fast_block(s.opt), &s.plan);
  SCV_TRY(p.build(input_shape));
  s.in_count = shape_numel(s.plan.in_shape);
  s.out_count = shape_numel(s.plan.out_shape);
  s.arena_floats = plan_memory(&s.plan.bufs);
  s.offsets.resize(s.plan.bufs.size());
  for (size_t i = 0; i < s.plan.bufs.size(); ++i) s.offsets[i] = s.plan.bufs[i].offset;
  SCV_ASSIGN_OR_RETURN(s.arena, alloc_floats(s.arena_floats));
  for (auto& st : s.plan.steps) {
    if (st->info.exec_flops == 0) st->info.exec_flops = st->info.flops;
    s.infos.push_back(st->info);
    s.flops += st->info.flops;
    s.exec_flops += st->info.exec_flops;
  }
  return Status();
}

// True when every activation of g scales with the batch: shapes at batch n are the batch-1
// shapes with dim 0 = n. Then images never mix and a batch can run image by image.
bool batch_independent(const Graph& g, const Shape& input_shape) {
  if (g.inputs.size() != 1 || input_shape.empty()) return false;
  Shape single = input_shape;
  single[0] = 1;
  std::vector<Shape> one, many;
  if (!infer_shapes(g, single, &one).ok() || !infer_shapes(g, input_shape, &many).ok())
    return false;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (g.values[i].is_constant()) continue;
    const Shape &a = one[i], &b = many[i];
    if (a.empty() || a.size() != b.size() || a[0] != 1 || b[0] != input_shape[0]) return false;
    for (size_t d = 1; d < a.size(); ++d)
      if (a[d] != b[d]) return false;
  }
  return true;
}

// Image-parallel: batch >= threads >= 2 on the blocked kernels, and images provably apart.
bool wants_image_parallel(const Graph& g, const Shape& input_shape, const SessionOptions& opt) {
  return opt.image_parallel && opt.threads > 1 && opt.blocked && opt.simd && opt.prepack &&
         opt.isa != Isa::ref && !input_shape.empty() && input_shape[0] >= opt.threads &&
         batch_independent(g, input_shape);
}

Exec exec_for(Session::Impl& s, int ith, ThreadPool* pool) {
  Exec e;
  e.base = ith == 0 ? s.arena.get() : s.arenas[ith - 1].get();
  e.off = s.offsets.data();
  e.pool = pool;
  return e;
}

// The steps on arena e for one input (an image of an image-parallel batch, or the whole
// batch); step_ms (nullable) accumulates each step's wall time.
void run_steps(Session::Impl& s, const Exec& e, const float* input, float* output,
               double* step_ms) {
  std::memcpy(e.ptr(s.plan.in_slot), input, sizeof(float) * static_cast<size_t>(s.in_count));
  for (size_t i = 0; i < s.plan.steps.size(); ++i) {
    if (!step_ms) {
      s.plan.steps[i]->run(e);
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    s.plan.steps[i]->run(e);
    step_ms[i] +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::memcpy(output, e.ptr(s.plan.out_slot), sizeof(float) * static_cast<size_t>(s.out_count));
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const Graph& g, const Shape& input_shape,
                                                 const SessionOptions& opt) {
  return create_impl(g, nullptr, input_shape, opt);
}

Result<std::unique_ptr<Session>> Session::create(Graph&& g, const Shape& input_shape,
                                                 const SessionOptions& opt) {
  Graph owned = std::move(g);
  return create_impl(owned, &owned, input_shape, opt);
}

Result<std::unique_ptr<Session>> Session::create_impl(const Graph& g, Graph* consume,
                                                      const Shape& input_shape,
                                                      const SessionOptions& opt) {
  auto impl = std::make_unique<Impl>();
  impl->opt = opt;
  if (opt.isa != Isa::ref && !isa_supported(opt.isa))
    return error("ISA ", isa_name(opt.isa), " is not supported by this CPU (", cpu_features().brand,
                 "); use --isa ", isa_name(best_isa()));
  if (opt.threads < 1) return error("threads must be >= 1, got ", opt.threads);
  impl->pool = std::make_unique<ThreadPool>(opt.threads);
  if (wants_image_parallel(g, input_shape, opt)) {
    Shape one = input_shape;
    one[0] = 1;
    SCV_TRY(prepare(g, consume, one, *impl));
    bool reentrant = true;
    for (const auto& st : impl->plan.steps) reentrant = reentrant && st->reentrant();
    if (reentrant) {
      const int64_t n = input_shape[0];
      impl->images = n;
      impl->plan.in_shape = input_shape;
      impl->plan.out_shape[0] = n;
      impl->flops *= static_cast<double>(n);
      impl->exec_flops *= static_cast<double>(n);
      for (auto& info : impl->infos) {
        info.flops *= static_cast<double>(n);
        info.exec_flops *= static_cast<double>(n);
      }
      for (int i = 1; i < opt.threads; ++i) {
        SCV_ASSIGN_OR_RETURN(Floats a, alloc_floats(impl->arena_floats));
        impl->arenas.push_back(std::move(a));
      }
      return std::unique_ptr<Session>(new Session(std::move(impl)));
    }
    if (consume) return error("internal error: a step cannot run image-parallel");
    impl = std::make_unique<Impl>();  // plan the whole batch instead
    impl->opt = opt;
    impl->pool = std::make_unique<ThreadPool>(opt.threads);
  }
  SCV_TRY(prepare(g, consume, input_shape, *impl));
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

namespace {

// Image-parallel run: each thread runs whole images (img = ith, ith + nth, ...) on its own
// arena; the images left over (batch % threads) then run one at a time with all threads on
// each layer. Profiling: thread 0 times its steps (summed over its images), which is what the
// batch's wall time is made of.
void run_images(Session::Impl& s, const float* input, float* output, double* step_ms) {
  const int64_t full = step_ms ? s.images : s.images - s.images % s.pool->num_threads();
  // The task captures one pointer, so building the std::function never allocates.
  struct Job {
    Session::Impl* s;
    const float* in;
    float* out;
    int64_t full;
    double* ms;
  } job{&s, input, output, full, step_ms};
  s.pool->run([&job](int ith, int nth) {
    Session::Impl& s = *job.s;
    const Exec e = exec_for(s, ith, &s.serial);
    for (int64_t img = ith; img < job.full; img += nth)
      run_steps(s, e, job.in + img * s.in_count, job.out + img * s.out_count,
                ith == 0 ? job.ms : nullptr);
  });
  const Exec e = exec_for(s, 0, s.pool.get());
  for (int64_t img = full; img < s.images; ++img)
    run_steps(s, e, input + img * s.in_count, output + img * s.out_count, nullptr);
}

}  // namespace

Status Session::run(const float* input, float* output) {
  Impl& s = *impl_;
  if (s.images > 0) {
    run_images(s, input, output, nullptr);
    return Status();
  }
  run_steps(s, exec_for(s, 0, s.pool.get()), input, output, nullptr);
  return Status();
}

Status Session::run_profiled(const float* input, float* output, std::vector<double>* step_ms) {
  Impl& s = *impl_;
  step_ms->assign(s.plan.steps.size(), 0.0);
  if (s.images > 0) {
    run_images(s, input, output, step_ms->data());
    return Status();
  }
  run_steps(s, exec_for(s, 0, s.pool.get()), input, output, step_ms->data());
  return Status();
}

const Shape& Session::input_shape() const {
  return impl_->plan.in_shape;
}
const Shape& Session::output_shape() const {
  return impl_->plan.out_shape;
}
const SessionOptions& Session::options() const {
  return impl_->opt;
}
const std::vector<StepInfo>& Session::steps() const {
  return impl_->infos;
}
double Session::flops() const {
  return impl_->flops;
}
double Session::exec_flops() const {
  return impl_->exec_flops;
}
size_t Session::arena_bytes() const {
  return sizeof(float) * impl_->arena_floats * (1 + impl_->arenas.size());
}
bool Session::image_parallel() const {
  return impl_->images > 0;
}
size_t Session::weight_bytes() const {
  return impl_->plan.weight_bytes;
}

}  // namespace scv
