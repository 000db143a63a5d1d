// QSession: a TFLite graph mapped onto quantized steps, one arena, prepare once, run many.
//
// The session only plans and runs: each operator is looked up in the op list (src/ops/qop.h),
// whose shape rule checks the file's output shape and whose plan (src/ops/<family>/*_q.cpp)
// emits the steps; then one arena is planned for every activation.
#include "scratchcv/qsession.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "ops/qop.h"
#include "ops/quant/qplan.h"
#include "scratchcv/thread_pool.h"

namespace scv {

using namespace tflite;
namespace q = quant;
using q::Act;
using q::Exec;

namespace {

// The model's input copied into the arena (int8: stored = v + 128) and the output out of it.
struct InputStep : q::QStep {
  size_t bytes;
  bool flip;
  void run(const Exec& e) const override {
    uint8_t* o = q::at(e, out);
    if (!flip) {
      std::memcpy(o, e.in_buf, bytes);
    } else {
      for (size_t i = 0; i < bytes; ++i) o[i] = e.in_buf[i] ^ 0x80;
    }
  }
};

struct OutputStep : q::QStep {
  size_t bytes;
  bool flip;
  void run(const Exec& e) const override {
    const uint8_t* s = q::at(e, in);
    if (!flip) {
      std::memcpy(e.out_buf, s, bytes);
    } else {
      for (size_t i = 0; i < bytes; ++i) e.out_buf[i] = s[i] ^ 0x80;
    }
  }
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<uint8_t, FreeDeleter>;
AlignedBuf aligned_buf(size_t n) {
  const size_t sz = (n + 64 + 63) / 64 * 64;  // + 64: SIMD tails may over-read
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, sz));
  if (p) std::memset(p, 0, sz);
  return AlignedBuf(p);
}

// The supported operators, from the op list.
std::string supported_ops() {
  std::string r;
  for (const QOpDef* d : all_qops()) r += std::string(r.empty() ? "" : ", ") + d->name;
  return r;
}

// Plans operator `index` through its op-list entry: the shape rule first, then the fast plan
// (when kernels are bound and the op has one) or the reference plan.
Status plan_op(q::QPlanner& p, int index, const OpInfo& op) {
  p.begin_op(index, op);
  const QOpDef* d = find_tflite_op(op.code);
  if (!d) {
    std::string name = builtin_op_name(op.code);
    if (op.code == 32 && !op.custom_code.empty()) name += " '" + op.custom_code + "'";
    return error("operator ", index, ": unsupported TFLite operator ", name,
                 " (supported: ", supported_ops(), ")");
  }
  SCV_ASSIGN_OR_RETURN(std::vector<int32_t> want, d->infer(p, op));
  const auto& y = p.model().tensors[size_t(op.outputs[0])].shape;
  if (y != want)
    return error(p.who(), ": output shape ", shape_str(y), ", the operator gives ",
                 shape_str(want));
  return p.kernels() && d->plan ? d->plan(p, op) : d->ref(p, op);
}

}  // namespace

// ---- the session ----------------------------------------------------------------------------

struct QSession::Impl {
  std::vector<std::unique_ptr<q::QStep>> steps;
  std::vector<Act> acts;  // indexed by tflite tensor id (unused entries: storage -1)
  std::vector<size_t> act_off;
  AlignedBuf arena, in_buf, out_buf;
  size_t arena_bytes = 0, scratch_per_thread = 0, scratch_off = 0;
  std::unique_ptr<ThreadPool> pool;
  QTensorInfo in_info, out_info;
  Isa isa = Isa::ref;
  const q::QKernels* k = nullptr;
  std::string desc;
  bool keep_all = false;
  bool single = true;

  Status build(const Model& model);
  Status plan(std::vector<q::QPlanner::Slot>& slots);
  // What every step sees while it runs (run() and run_profiled()).
  Exec exec() const {
    return {arena.get(),   act_off.data(), pool.get(),        in_buf.get(),
            out_buf.get(), scratch_off,    scratch_per_thread};
  }
};

Status QSession::Impl::plan(std::vector<q::QPlanner::Slot>& storages) {
  // Greedy first fit in order of first write; a storage is free once the step after its last
  // reader starts (no step writes over its own input).
  std::vector<int> order(storages.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return storages[size_t(a)].first < storages[size_t(b)].first;
  });
  std::vector<int> live;
  size_t top = 0;
  for (int id : order) {
    q::QPlanner::Slot& s = storages[size_t(id)];
    live.erase(
        std::remove_if(live.begin(), live.end(),
                       [&](int o) { return !keep_all && storages[size_t(o)].last < s.first; }),
        live.end());
    std::sort(live.begin(), live.end(), [&](int a, int b) {
      return storages[size_t(a)].offset < storages[size_t(b)].offset;
    });
    const size_t need = (s.bytes + 63) / 64 * 64;
    size_t pos = 0;
    for (int o : live) {
      const q::QPlanner::Slot& l = storages[size_t(o)];
      if (l.offset >= pos + need) break;
      pos = std::max(pos, l.offset + (l.bytes + 63) / 64 * 64);
    }
    s.offset = pos;
    top = std::max(top, pos + need);
    live.push_back(id);
  }
  scratch_off = top;
  arena_bytes = top + scratch_per_thread * size_t(pool->num_threads());
  arena = aligned_buf(arena_bytes);
  if (!arena)
    return error("out of memory: cannot allocate the ", arena_bytes, "-byte activation arena");
  act_off.assign(acts.size(), 0);
  for (size_t i = 0; i < acts.size(); ++i)
    if (acts[i].storage >= 0) act_off[i] = storages[size_t(acts[i].storage)].offset;
  return Status();
}

Status QSession::Impl::build(const Model& model) {
  if (model.inputs.size() != 1 || model.outputs.empty())
    return error("the model has ", model.inputs.size(), " inputs and ", model.outputs.size(),
                 " outputs; one input and at least one output are expected");
  q::QPlanner p(model, k, single);
  const int in_t = model.inputs[0], out_t = model.outputs[0];
  SCV_ASSIGN_OR_RETURN(Act x, p.make_act(in_t));
  in_info = {x.shape, model.tensors[size_t(in_t)].type, x.scale, x.zp - (x.s8 ? 128 : 0), x.bytes};
  auto in_step = std::make_unique<InputStep>();
  in_step->name = "input";
  in_step->bytes = x.bytes;
  in_step->flip = x.s8;
  SCV_TRY(p.emit(std::move(in_step), {}, in_t, x));
  for (size_t i = 0; i < model.ops.size(); ++i) {
    p.set_step(int(p.steps().size()));
    SCV_TRY(plan_op(p, int(i), model.ops[i]));
  }
  p.set_step(int(p.steps().size()));
  if (p.acts()[size_t(out_t)].storage < 0)
    return error("the model output (tensor ", out_t, ") is never computed");
  const Act& y = p.acts()[size_t(out_t)];
  out_info = {y.shape, model.tensors[size_t(out_t)].type, y.scale, y.zp - (y.s8 ? 128 : 0),
              y.bytes};
  auto out_step = std::make_unique<OutputStep>();
  out_step->name = "output";
  out_step->bytes = y.bytes;
  out_step->flip = y.s8;
  SCV_TRY(p.emit(std::move(out_step), {out_t}, -1, Act{}));
  in_buf = aligned_buf(in_info.bytes);
  out_buf = aligned_buf(out_info.bytes);
  if (!in_buf || !out_buf) return error("out of memory for the input/output buffers");
  scratch_per_thread = p.scratch_per_thread();
  steps = std::move(p.steps());
  acts = std::move(p.acts());
  return plan(p.slots());
}

QSession::QSession() : impl_(std::make_unique<Impl>()) {}
QSession::~QSession() = default;

Result<std::unique_ptr<QSession>> QSession::create(const Model& model, const QSessionOptions& opt) {
  std::unique_ptr<QSession> s(new QSession());
  Impl& im = *s->impl_;
  im.isa = best_isa();
  if (!opt.isa.empty()) {
    if (!parse_isa(opt.isa, &im.isa))
      return error("unknown ISA '", opt.isa, "' (expected ref, avx2 or avx512)");
    if (!isa_supported(im.isa)) return error("this CPU does not support ", opt.isa);
  }
  if (im.isa == Isa::avx512) {
    im.k = q::qkernels_avx512();
    if (!im.k) im.isa = Isa::avx2;  // AVX-512 without VNNI: the AVX2 kernels
  }
  if (im.isa == Isa::avx2) im.k = q::qkernels_avx2();
  if (opt.double_rounding) im.k = nullptr;  // the fast kernels round once
  if (!im.k) im.isa = Isa::ref;
  const int threads = opt.threads > 0 ? opt.threads : default_num_threads();
  im.pool = std::make_unique<ThreadPool>(threads);
  im.keep_all = opt.keep_all;
  im.single = !opt.double_rounding;
  if (Status st = im.build(model); !st.ok()) return st.with_context("tflite");
  im.desc = str(im.steps.size(), " steps, ", im.k ? im.k->name : "reference", " kernels, ", threads,
                " thread", threads > 1 ? "s" : "", ", arena ", im.arena_bytes / 1024, " KiB");
  return s;
}

const QTensorInfo& QSession::input_info() const {
  return impl_->in_info;
}
const QTensorInfo& QSession::output_info() const {
  return impl_->out_info;
}
uint8_t* QSession::input_data() {
  return impl_->in_buf.get();
}
const uint8_t* QSession::output_data() const {
  return impl_->out_buf.get();
}

void QSession::run() {
  const Exec e = impl_->exec();
  for (const auto& st : impl_->steps) st->run(e);
}

void QSession::run_profiled(std::vector<double>* ms) {
  Impl& im = *impl_;
  const Exec e = im.exec();
  ms->resize(im.steps.size());
  for (size_t i = 0; i < im.steps.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    im.steps[i]->run(e);
    (*ms)[i] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

std::string QSession::step_name(int i) const {
  const q::QStep& s = *impl_->steps[size_t(i)];
  return s.detail.empty() ? s.name : s.name + " " + s.detail;
}

std::vector<float> QSession::output_float() const {
  const QTensorInfo& o = impl_->out_info;
  const uint8_t* p = impl_->out_buf.get();
  std::vector<float> r(o.type == DType::f32 ? o.bytes / 4 : o.bytes);
  if (o.type == DType::f32) {
    std::memcpy(r.data(), p, o.bytes);
  } else {
    for (size_t i = 0; i < r.size(); ++i) {
      const int32_t v = o.type == DType::i8 ? int32_t(int8_t(p[i])) : int32_t(p[i]);
      r[i] = o.scale * float(v - o.zero_point);
    }
  }
  return r;
}

Result<std::vector<uint8_t>> QSession::activation(int tensor) const {
  const Impl& im = *impl_;
  if (tensor < 0 || size_t(tensor) >= im.acts.size() || im.acts[size_t(tensor)].storage < 0)
    return error("tensor ", tensor, " is not an activation of this model");
  if (!im.keep_all) return error("activations are kept only with QSessionOptions::keep_all");
  const Act& a = im.acts[size_t(tensor)];
  const uint8_t* p = im.arena.get() + im.act_off[size_t(tensor)];
  std::vector<uint8_t> r(p, p + a.bytes);
  if (a.s8)
    for (uint8_t& v : r) v ^= 0x80;
  return r;
}

Isa QSession::isa() const {
  return impl_->isa;
}
int QSession::num_threads() const {
  return impl_->pool->num_threads();
}
size_t QSession::arena_bytes() const {
  return impl_->arena_bytes;
}
int QSession::num_steps() const {
  return int(impl_->steps.size());
}
std::string QSession::describe() const {
  return impl_->desc;
}

}  // namespace scv
