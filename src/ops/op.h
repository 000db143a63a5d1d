// The operator registry: what each op of SCV_OP_LIST (include/scratchcv/graph.h) knows about
// itself, bound once in one table (src/ops/registry.cpp).
//
// An op family lives in one folder, src/ops/<family>/, which defines one row `kOpDef<Name>` per
// op of the list with SCV_OPDEF (a missing definition is a link error, so an op cannot be
// listed and forgotten). An OpDef carries:
//   - infer:  the shape rule, also every validity check of the node (the only place that
//             rejects a malformed node: the reference executor and the session both call it);
//   - ref:    the reference kernel (plain scalar code, the oracle of every fast path);
//   - onnx:   how an ONNX node of that op_type maps onto the node (attributes, folded inputs);
//   - plan:   the fast plan (algorithm choice, packing, the steps it emits into a session), or
//             nullptr: the session then runs the reference kernel on arena buffers.
// docs/adding-an-op.md walks through adding one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/ops_ref.h"
#include "scratchcv/session.h"
#include "scratchcv/status.h"

namespace scv {

class Planner;         // src/runtime/plan.h: what a fast plan may ask of the session
class OnnxNodeReader;  // src/io/onnx_node.h: what an ONNX mapping may read of a node

// Arguments of a reference kernel: the node's input data (nullptr for an omitted optional
// input) and shapes, already validated by infer; y holds numel(y_shape) floats.
struct RefArgs {
  const Node& node;
  std::span<const float* const> in;
  std::span<const Shape> in_shapes;
  float* y;
  const Shape& y_shape;
};

struct OpDef {
  OpType op;
  const char* name;            // as in OpType
  int min_inputs, max_inputs;  // graph arity (omitted optional inputs are -1)
  // Output shape of `node` for input shapes `in` (in[i] = {} where node.inputs[i] < 0).
  Status (*infer)(const Node& node, std::span<const Shape> in, Shape* out);
  void (*ref)(const RefArgs& a);
  struct Onnx {
    const char* op_type;  // ONNX op_type in the default domain
    // Reads the node's attributes into `attrs`; may fold constant inputs (r.fold_ints).
    Status (*read)(OnnxNodeReader& r, Attrs* attrs);
  } onnx;
  // Emits the steps of node `index` (and of the nodes fused into it) into the session plan.
  Status (*plan)(Planner& p, int index);
};

// Every op's row, kOpDef<Name>, declared here and defined in its folder with SCV_OPDEF.
#define SCV_OP_DECLARE(name) extern const OpDef kOpDef##name;
SCV_OP_LIST(SCV_OP_DECLARE)
#undef SCV_OP_DECLARE

// Defines the row of op Name (OpType::Name, named "Name"), the op's name written once:
//   SCV_OPDEF(Clip, 1, 3, infer, ref_step, "Clip", read_onnx, nullptr);
// min_in..max_in is the graph arity, onnx_type the ONNX op_type that read maps, plan the fast
// plan or nullptr (see OpDef).
#define SCV_OPDEF(Name, min_in, max_in, infer_fn, ref_fn, onnx_type, read_fn, plan_fn) \
  const OpDef kOpDef##Name = {.op = OpType::Name,                                      \
                              .name = #Name,                                           \
                              .min_inputs = min_in,                                    \
                              .max_inputs = max_in,                                    \
                              .infer = infer_fn,                                       \
                              .ref = ref_fn,                                           \
                              .onnx = {.op_type = onnx_type, .read = read_fn},         \
                              .plan = plan_fn}

// The definition of op (one table, built once from SCV_OP_LIST).
const OpDef& op_def(OpType op);
// Every op, in list order.
std::span<const OpDef* const> all_ops();
// The op whose ONNX op_type is `op_type`, or nullptr.
const OpDef* find_onnx_op(const std::string& op_type);

// The channel block of the fast kernels' blocked layout for these options (the vector length
// of the bound ISA's kernels), or 0 when no SIMD kernels run.
int fast_block(const SessionOptions& opt);

// ---- helpers shared by op folders ------------------------------------------------------------

// i < node.inputs.size() and input i is not omitted.
inline bool has_input(const Node& n, size_t i) {
  return i < n.inputs.size() && n.inputs[i] >= 0;
}
Status need_rank(const Node& n, const Shape& s, size_t rank, const char* what);
// An axis attribute normalised against `rank` (negative counts from the end); an error outside
// [0, rank) ([0, rank] when allow_rank, as Flatten allows; a scalar still has axis 0).
Result<int64_t> norm_axis(const Node& n, int64_t axis, int64_t rank, bool allow_rank = false);

// Kernel, stride, pads and dilations of a 2-D window op (Conv, MaxPool, AveragePool) on an
// h x w input with a kh x kw kernel, auto_pad resolved.
Status window_params(const Node& node, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     ref::Pool2dParams* p);
ref::Conv2dParams conv_params(const ref::Pool2dParams& wp, int64_t groups);

// Output shape of a Reshape node on input shape x (ONNX rules: 0 copies the input dim unless
// allowzero, one -1 is inferred); an error when the element counts differ or overflow.
Result<Shape> reshape_target(const Node& node, const Shape& x);

// ONNX attributes of a 2-D window op (Conv, MaxPool, AveragePool), checked for range.
Status onnx_window_attrs(OnnxNodeReader& r, Attrs* a, bool is_conv, bool is_avg);

}  // namespace scv
