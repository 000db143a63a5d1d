// Gemm (Y = alpha A' B' + beta C) and MatMul: shape rules, reference steps, ONNX mappings, and
// the fully connected fast step (a Gemm with constant B on the blocked conv kernel).
#include "io/onnx_node.h"
#include "ops/fast.h"
#include "ops/op.h"

namespace scv {

namespace {

Status infer_gemm(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape &x = in[0], &b = in[1];
  SCV_TRY(need_rank(node, x, 2, "A"));
  SCV_TRY(need_rank(node, b, 2, "B"));
  const Attrs& at = node.attrs;
  const int64_t m = at.trans_a ? x[1] : x[0], k = at.trans_a ? x[0] : x[1];
  const int64_t kb = at.trans_b ? b[1] : b[0], n = at.trans_b ? b[0] : b[1];
  if (k != kb)
    return error("node '", node.name, "': A ", shape_str(x), " and B ", shape_str(b),
                 " have different inner dimensions");
  if (has_input(node, 2)) {
    const Shape& cs = in[2];
    if (cs.size() > 2) return error("node '", node.name, "': C must have rank <= 2");
    const int64_t cc = cs.empty() ? 1 : cs.back(), cr = cs.size() == 2 ? cs[0] : 1;
    if ((cr != 1 && cr != m) || (cc != 1 && cc != n))
      return error("node '", node.name, "': C ", shape_str(cs), " does not broadcast to [", m, ", ",
                   n, "]");
  }
  *out = {m, n};
  return Status();
}

// 2-D x 2-D, or batched [..., M, K] x [K, N] / [..., K, N] with equal batch dims.
Status infer_matmul(const Node& node, std::span<const Shape> in, Shape* out) {
  const Shape &x = in[0], &b = in[1];
  if (x.size() < 2 || b.size() < 2)
    return error("node '", node.name, "': MatMul of rank < 2 is not supported");
  const int64_t m = x[x.size() - 2], k = x.back(), n = b.back();
  if (b[b.size() - 2] != k)
    return error("node '", node.name, "': A ", shape_str(x), " and B ", shape_str(b),
                 " have different inner dimensions");
  const int64_t ba = m * k != 0 ? shape_numel(x) / (m * k) : 0;
  const int64_t bb = k * n != 0 ? shape_numel(b) / (k * n) : 0;
  if (bb != 1 && (bb != ba || x.size() != b.size()))
    return error("node '", node.name, "': MatMul batch broadcasting is not supported");
  *out = x;
  out->back() = n;
  return Status();
}

void ref_gemm(const RefArgs& a) {
  const Attrs& at = a.node.attrs;
  const Shape& xs = a.in_shapes[0];
  const int64_t k = at.trans_a ? xs[0] : xs[1];
  const float* c = a.in.size() > 2 ? a.in[2] : nullptr;
  int64_t cr = 1, cc = 1;
  if (c) {
    const Shape& cs = a.in_shapes[2];
    cc = cs.empty() ? 1 : cs.back();
    cr = cs.size() == 2 ? cs[0] : 1;
  }
  ref::gemm(a.in[0], a.in[1], c, cr, cc, a.y_shape[0], a.y_shape[1], k, at.trans_a, at.trans_b,
            at.alpha, at.beta, a.y);
}

void ref_matmul(const RefArgs& a) {
  const Shape &xs = a.in_shapes[0], &bs = a.in_shapes[1];
  const int64_t m = xs[xs.size() - 2], k = xs.back(), n = bs.back();
  if (m * k == 0 || k * n == 0) {
    std::fill(a.y, a.y + shape_numel(a.y_shape), 0.0f);
    return;
  }
  const int64_t ba = shape_numel(xs) / (m * k), bb = shape_numel(bs) / (k * n);
  for (int64_t i = 0; i < ba; ++i)
    ref::gemm(a.in[0] + i * m * k, a.in[1] + (bb == 1 ? 0 : i * k * n), nullptr, 1, 1, m, n, k,
              false, false, 1.0f, 0.0f, a.y + i * m * n);
}

Status read_gemm(OnnxNodeReader& r, Attrs* a) {
  SCV_TRY(r.get_float("alpha", &a->alpha));
  SCV_TRY(r.get_float("beta", &a->beta));
  SCV_TRY(r.get_bool("transA", &a->trans_a));
  SCV_TRY(r.get_bool("transB", &a->trans_b));
  r.ignore("broadcast");  // opset < 7: C broadcasting flag; we always broadcast
  return Status();
}

Status read_matmul(OnnxNodeReader&, Attrs*) {
  return Status();
}

// Fully connected layer on the blocked conv kernel: A [N][K] is an image of height 1 and width
// N; the blocked output is gathered back to [N][M].
struct FcStep : Step {
  const FastKernels* k = nullptr;
  x86::ConvBlockedDesc d;
  Floats w, bias;
  int x = -1, scratch = -1, y = -1;
  int64_t n = 0, m = 0, groups = 0;
  void run(const Exec& e) override {
    parallel(e, this, groups);
    const float* s = e.ptr(scratch);
    float* yp = e.ptr(y);
    const int vl = k->vl;
    for (int64_t img = 0; img < n; ++img)
      for (int64_t j = 0; j < m; ++j) yp[img * m + j] = s[(j / vl) * n * vl + img * vl + j % vl];
  }
  void range(const Exec& e, int64_t b, int64_t end) {
    for (int64_t g = b; g < end; ++g)
      k->conv_blocked_row(d, e.ptr(x), nullptr, e.ptr(scratch), 0, g, 0);
  }
};

// Y = A B^T + C with A an activation [N, K], B constant, C constant [M] or [1, M], alpha 1.
bool fc_eligible(const Planner& p, const Node& n) {
  const Attrs& a = n.attrs;
  if (!blocked_on(p) || a.trans_a || a.alpha != 1.0f || a.fused_relu) return false;
  if (p.is_constant(n.inputs[0]) || !p.const_of(n, 1)) return false;
  if (has_input(n, 2)) {
    const Tensor* c = p.const_of(n, 2);
    const int64_t m = p.shape(n.outputs[0])[1];
    if (!c || a.beta != 1.0f || c->numel() != m || (c->rank() == 2 && c->dim(0) != 1)) return false;
  }
  return true;
}

// The blocked descriptor of an FC: one row of N "pixels" of K channels.
void fc_desc(int64_t n, int64_t k, int64_t m, int vlen, x86::ConvBlockedDesc& d) {
  d.x_cb = k % vlen == 0 ? vlen : 1;
  d.cin_pad = k;
  d.x_block = d.x_cb == 1 ? 1 : vlen;
  d.x_pix = k;
  d.x_row = d.x_batch = 0;
  d.h = d.oh = 1;
  d.w = d.ow = n;
  d.cout_pad = blocks_of(m, vlen) * vlen;
  d.y_pix = vlen;
  d.y_row = d.y_batch = 0;
  d.y_block = n * vlen;
}

Status plan_gemm(Planner& p, int index) {
  const Node& node = p.node(index);
  if (!fc_eligible(p, node)) return p.emit_ref(index);
  const Shape& as = p.shape(node.inputs[0]);
  const int64_t n = as[0], k = as[1], m = p.shape(node.outputs[0])[1];
  const Tensor* bt = p.const_of(node, 1);
  const Tensor* ct = p.const_of(node, 2);
  Tensor w = *bt;  // as OIHW [m][k][1][1]
  if (!node.attrs.trans_b) {
    w = Tensor({m, k});
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < m; ++j) w[j * k + i] = bt->data()[i * m + j];
  }
  const FastKernels* kern = fast_kernels(p.options());
  const int vlen = kern->vl, ocb = kern->conv_ocb;
  auto st = std::make_unique<FcStep>();
  st->info = {node.name, "fc_blocked", 2.0 * n * m * k};
  st->k = kern;
  SCV_ASSIGN_OR_RETURN(st->x, p.plain(node.inputs[0]));
  fc_desc(n, k, m, vlen, st->d);
  const int64_t psize = x86::packed_conv_blocked_size(m, k, 1, 1, vlen, ocb);
  SCV_ASSIGN_OR_RETURN(st->w, alloc_floats(psize));
  x86::pack_conv_blocked(w.data(), nullptr, m, k, k, 1, 1, vlen, ocb, st->w.get());
  w = Tensor();
  p.release(node.inputs[1]);
  SCV_ASSIGN_OR_RETURN(st->bias, alloc_floats(st->d.cout_pad));
  if (ct) std::copy(ct->data(), ct->data() + m, st->bias.get());
  p.add_weight_bytes(sizeof(float) * (psize + st->d.cout_pad));
  st->d.weight = st->w.get();
  st->d.bias = st->bias.get();
  st->n = n;
  st->m = m;
  st->groups = blocks_of(blocks_of(m, vlen), ocb);
  st->scratch = p.new_slot(st->d.cout_pad * n);
  p.touch(st->x);
  p.touch(st->scratch);
  return p.push_out(std::move(st), node.outputs[0], n * m, false);
}

}  // namespace

SCV_OPDEF(Gemm, 2, 3, infer_gemm, ref_gemm, "Gemm", read_gemm, plan_gemm);
SCV_OPDEF(MatMul, 2, 2, infer_matmul, ref_matmul, "MatMul", read_matmul, nullptr);

}  // namespace scv
