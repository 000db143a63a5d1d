// The planner: shapes, fusion, slots and layouts, and the step list of a session (the
// "prepare" half). Each node's steps come from its op's plan (src/ops/<family>/); nodes
// without one run their reference kernel through RefStep.
#include <sys/mman.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "ops/op.h"
#include "runtime/plan.h"

namespace scv {

void FloatsFree::operator()(float* p) const {
  if (mapped)
    munmap(p, mapped);
  else
    aligned_free(p);
}

Result<Floats> alloc_floats(int64_t n, bool zero) {
  const size_t bytes = sizeof(float) * static_cast<size_t>(n + 16);
  if (bytes >= (size_t{2} << 20)) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return error("out of memory mapping ", bytes, " bytes");
    madvise(p, bytes, MADV_HUGEPAGE);  // advisory: ignored where THP is off
    return Floats(static_cast<float*>(p), FloatsFree{bytes});
  }
  float* p = static_cast<float*>(aligned_alloc64(bytes));
  if (!p) return error("out of memory allocating ", bytes, " bytes");
  std::memset(zero ? p : p + n, 0, sizeof(float) * static_cast<size_t>(zero ? n + 16 : 16));
  return Floats(p);
}

Result<Floats> floats_of(const std::vector<float>& v, int64_t n) {
  SCV_ASSIGN_OR_RETURN(Floats f, alloc_floats(n));
  std::copy(v.begin(), v.end(), f.get());
  return f;
}

namespace {

// Plain NCHW <-> blocked N[C/B]HW[B] (zeros in the padded channels).
struct ReorderStep : Step {
  int src = -1, dst = -1;
  int64_t n = 0, c = 0, hw = 0;
  int vl = 16;
  bool to_blocked = true;
  void run(const Exec& e) override { parallel(e, this, n * blocks_of(c, vl)); }
  void range(const Exec& e, int64_t b, int64_t end) {
    const float* s = e.ptr(src);
    float* d = e.ptr(dst);
    const int64_t cb = blocks_of(c, vl);
    for (int64_t i = b; i < end; ++i) {
      const int64_t img = i / cb, blk = i % cb;
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < vl; ++k) {
          const int64_t ch = blk * vl + k;
          const int64_t bi = ((img * cb + blk) * hw + p) * vl + k;
          if (to_blocked)
            d[bi] = ch < c ? s[(img * c + ch) * hw + p] : 0.0f;
          else if (ch < c)
            d[(img * c + ch) * hw + p] = s[bi];
        }
    }
  }
};

// Any node through its op's reference kernel, on plain NCHW buffers in the arena (inputs may be
// constants). At most kMaxIn inputs, so run() needs no allocation.
struct RefStep : Step {
  static constexpr size_t kMaxIn = 8;
  Node node;
  std::vector<int> in_slots;      // -1 for constants / omitted
  std::vector<Tensor> in_consts;  // constant inputs (shared storage)
  std::vector<Shape> in_shapes;
  Shape out_shape;
  int y = -1;
  void run(const Exec& e) override {
    const float* in[kMaxIn] = {};
    for (size_t i = 0; i < in_slots.size(); ++i)
      in[i] = in_slots[i] >= 0 ? e.ptr(in_slots[i])
                               : (in_consts[i].empty() ? nullptr : in_consts[i].data());
    float* yp = e.ptr(y);
    op_def(node.op).ref(RefArgs{node, {in, in_slots.size()}, in_shapes, yp, out_shape});
    if (node.attrs.fused_relu) ref::relu(yp, shape_numel(out_shape), yp);
  }
};

}  // namespace

Status infer_shapes(const Graph& g, const Shape& input_shape, std::vector<Shape>* shapes) {
  std::vector<Shape>& sh = *shapes;
  sh.assign(g.values.size(), Shape{});
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].is_constant()) sh[i] = g.values[i].constant.shape();
  if (!g.inputs.empty()) sh[g.inputs[0]] = input_shape;
  std::vector<Shape> in;
  for (const Node& n : g.nodes) {
    in.clear();
    for (int v : n.inputs) in.push_back(v >= 0 ? sh[v] : Shape{});
    if (n.outputs.empty()) return error("node '", n.name, "' has no output");
    SCV_TRY(op_def(n.op).infer(n, in, &sh[n.outputs[0]]));
  }
  return Status();
}

Planner::Planner(const Graph& g, const SessionOptions& opt, ThreadPool& pool, Graph* consume,
                 int block, Plan* out)
    : g_(g),
      opt_(opt),
      pool_(pool),
      consume_(consume),
      block_(block),
      plan_(*out),
      plain_(g.values.size(), -1),
      blk_(g.values.size(), -1) {}

const Tensor* Planner::const_of(const Node& n, size_t i) const {
  if (!has_input(n, i)) return nullptr;
  const Value& v = g_.values[n.inputs[i]];
  return v.is_constant() ? &v.constant : nullptr;
}

int64_t Planner::blocked_floats(const Shape& s) const {
  const int64_t hw = s.size() == 4 ? s[2] * s[3] : 1;
  return s[0] * blocks_of(s[1], block_) * block_ * hw;
}

int Planner::new_slot(int64_t floats) {
  PlannedBuffer b;
  b.floats = floats;
  b.first = INT_MAX;
  b.last = -1;
  plan_.bufs.push_back(b);
  return static_cast<int>(plan_.bufs.size()) - 1;
}

void Planner::touch(int slot) {
  const int at = static_cast<int>(plan_.steps.size());
  auto& b = plan_.bufs[slot];
  b.first = std::min(b.first, at);
  b.last = std::max(b.last, at);
}

Result<int> Planner::plain(int v) {
  if (plain_[v] >= 0) return plain_[v];
  if (g_.values[v].is_constant())
    return error("constant '", g_.values[v].name, "' used as activation");
  if (blk_[v] < 0) return error("value '", g_.values[v].name, "' is used before it is computed");
  plain_[v] = new_slot(shape_numel(shapes_[v]));
  add_reorder(v, blk_[v], plain_[v], false);
  return plain_[v];
}

Result<int> Planner::blocked(int v) {
  if (blk_[v] >= 0) return blk_[v];
  SCV_ASSIGN_OR_RETURN(int p, plain(v));
  blk_[v] = new_slot(blocked_floats(shapes_[v]));
  add_reorder(v, p, blk_[v], true);
  return blk_[v];
}

void Planner::add_reorder(int v, int src, int dst, bool to_blocked) {
  const Shape& s = shapes_[v];
  auto st = std::make_unique<ReorderStep>();
  st->info = {g_.values[v].name, to_blocked ? "reorder_to_blocked" : "reorder_to_nchw", 0};
  st->src = src;
  st->dst = dst;
  st->n = s[0];
  st->c = s[1];
  st->hw = s.size() == 4 ? s[2] * s[3] : 1;
  st->vl = block_;
  st->to_blocked = to_blocked;
  touch(st->src);
  touch(st->dst);
  push(std::move(st));
}

void Planner::release(int v) {
  if (!consume_ || v < 0 || !g_.values[v].is_constant()) return;
  if (uses_.empty()) uses_ = count_uses(g_);
  if (uses_[v] == 1) consume_->values[v].constant = Tensor();
}

Status Planner::emit_ref(int i) {
  const Node& node = g_.nodes[i];
  if (node.inputs.size() > RefStep::kMaxIn)
    return error("node '", node.name, "': more than ", RefStep::kMaxIn, " inputs");
  auto st = std::make_unique<RefStep>();
  st->node = node;
  st->info = {node.name, std::string("ref:") + op_name(node.op), 0};
  for (const int v : node.inputs) {
    st->in_slots.push_back(-1);
    st->in_consts.push_back(Tensor());
    st->in_shapes.push_back(v >= 0 ? shapes_[v] : Shape{});
    if (v < 0) continue;
    if (g_.values[v].is_constant()) {
      st->in_consts.back() = g_.values[v].constant;
    } else {
      SCV_ASSIGN_OR_RETURN(st->in_slots.back(), plain(v));
    }
  }
  st->out_shape = shapes_[node.outputs[0]];
  for (int s : st->in_slots)
    if (s >= 0) touch(s);
  st->y = plain_[node.outputs[0]] = new_slot(shape_numel(st->out_shape));
  touch(st->y);
  push(std::move(st));
  return Status();
}

Status Planner::emit(int i) {
  const OpDef& def = op_def(g_.nodes[i].op);
  return def.plan ? def.plan(*this, i) : emit_ref(i);
}

Status Planner::check_input(const Shape& input_shape) const {
  SCV_TRY(g_.validate());
  if (g_.inputs.size() != 1)
    return error("Session supports graphs with one input, this one has ", g_.inputs.size());
  if (g_.outputs.empty()) return error("graph has no outputs");
  const Shape& declared = g_.values[g_.inputs[0]].shape;
  if (!declared.empty()) {
    bool fits = declared.size() == input_shape.size();
    for (size_t i = 0; fits && i < declared.size(); ++i)
      fits = declared[i] < 0 || declared[i] == input_shape[i];
    if (!fits)
      return error("input shape ", shape_str(input_shape), " does not match the model's ",
                   shape_str(declared));
  }
  for (int64_t d : input_shape)
    if (d <= 0) return error("input shape ", shape_str(input_shape), " has a non-positive dim");
  return Status();
}

Status Planner::build(const Shape& input_shape) {
  SCV_TRY(check_input(input_shape));
  SCV_TRY(infer_shapes(g_, input_shape, &shapes_));
  fusion_ = plan_fusions(g_, shapes_, opt_.fuse, opt_.fuse, opt_.fuse);
  plan_.in_shape = input_shape;
  plan_.in_slot = plain_[g_.inputs[0]] = new_slot(shape_numel(input_shape));
  touch(plan_.in_slot);  // written by run() before step 0
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    // A node absorbed into another (BatchNorm, Add, ReLU into a Conv) runs as part of it, at
    // the position of the last node absorbed.
    const int absorber = fusion_.absorbed_by[i];
    const int at = absorber >= 0 ? absorber : static_cast<int>(i);
    if (fusion_.node[at].last == static_cast<int>(i)) SCV_TRY(emit(at));
  }
  const int outv = g_.outputs[0];
  if (g_.values[outv].is_constant()) return error("graph output is a constant");
  SCV_ASSIGN_OR_RETURN(plan_.out_slot, plain(outv));
  plan_.out_shape = shapes_[outv];
  touch(plan_.out_slot);
  plan_.bufs[plan_.out_slot].last = static_cast<int>(plan_.steps.size()) + 1;
  return Status();
}

}  // namespace scv
