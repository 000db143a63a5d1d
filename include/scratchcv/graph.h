// The graph IR every model loader produces and every executor consumes.
//
// A Graph is a list of Values (named tensors: graph inputs, constants such as weights, and
// intermediate activations) and a list of Nodes in topological order. Each Node applies one
// OpType to input values and writes output values. Shapes of intermediates may be unknown ({})
// until an executor runs; constants always carry their Tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

// The one list of operators. Each op's shape rule, reference kernel, fast plan and loader
// mappings live in its folder under src/ops/ (an OpDef, src/ops/op.h); the registry, the ONNX
// loader, the reference executor, the session, the CLI's op list and the op-list test all
// expand this X-macro, so an op cannot be added in one place and forgotten in another
// (docs/adding-an-op.md). Unlike other enumerators (lower_snake_case), an op is spelt as the
// ONNX operator it stands for (Conv, BatchNorm, GlobalAveragePool): op_name() prints that
// spelling in errors and in `infer --help`, and a reader finds the ONNX definition by it.
#define SCV_OP_LIST(X) \
  X(Conv)              \
  X(BatchNorm)         \
  X(Relu)              \
  X(MaxPool)           \
  X(AveragePool)       \
  X(GlobalAveragePool) \
  X(Flatten)           \
  X(Reshape)           \
  X(Gemm)              \
  X(MatMul)            \
  X(Add)               \
  X(Softmax)           \
  X(Identity)          \
  X(Clip)

enum class OpType {
#define SCV_OP_ENUM(name) name,
  SCV_OP_LIST(SCV_OP_ENUM)
#undef SCV_OP_ENUM
};

#define SCV_OP_COUNT(name) +1
inline constexpr int kOpCount = 0 SCV_OP_LIST(SCV_OP_COUNT);
#undef SCV_OP_COUNT

const char* op_name(OpType op);

// Attributes of all ops in one struct; each op reads the fields it needs (ONNX semantics).
struct Attrs {
  // Conv, MaxPool, AveragePool (2-D). pads = [top, left, bottom, right].
  std::vector<int64_t> kernel_shape;  // [kh, kw]; Conv may leave empty (taken from the weight)
  std::vector<int64_t> strides;       // default 1
  std::vector<int64_t> pads;          // default 0
  std::vector<int64_t> dilations;     // default 1
  std::string auto_pad = "NOTSET";    // NOTSET | SAME_UPPER | SAME_LOWER | VALID
  int64_t group = 1;                  // Conv
  bool ceil_mode = false;             // pools
  bool count_include_pad = false;     // AveragePool
  // BatchNorm
  float epsilon = 1e-5f;
  // Gemm: Y = alpha * A' * B' + beta * C
  float alpha = 1.0f, beta = 1.0f;
  bool trans_a = false, trans_b = false;
  // Flatten, Softmax
  int64_t axis = 1;
  bool softmax_legacy = false;  // opset < 13: coerce to 2-D at `axis` instead of one axis
  // Reshape: target shape, resolved from its constant input by the loader
  std::vector<int64_t> shape;
  bool allowzero = false;
  // Set by fusion passes: apply ReLU to this node's output.
  bool fused_relu = false;
};

struct Value {
  std::string name;
  Shape shape;      // may be {} (unknown) for intermediates
  Tensor constant;  // non-empty for weights and other constants
  bool is_constant() const { return !constant.empty(); }
};

struct Node {
  OpType op;
  std::string name;
  std::vector<int> inputs;   // value ids; -1 marks an omitted optional input
  std::vector<int> outputs;  // value ids
  Attrs attrs;
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<int> inputs;  // non-constant graph inputs
  std::vector<int> outputs;

  int add_value(std::string name, Shape shape = {});
  int add_constant(std::string name, Tensor t);
  // -1 when absent.
  int find_value(const std::string& name) const;
  Node& add_node(OpType op, std::string name, std::vector<int> inputs, std::vector<int> outputs,
                 Attrs attrs = {});
  // Checks ids are in range, every node's inputs are produced before use, input counts.
  Status validate() const;
};

// Runs the graph with each op's reference kernel (src/ops/<family>/). Inputs in graph.inputs order.
// Slow but obviously correct: this is the oracle for every fast path.
Result<std::vector<Tensor>> run_reference(const Graph& g, const std::vector<Tensor>& inputs);

// Runs one node with reference kernels: inputs are the node's input tensors (an empty Tensor for
// an omitted optional input). Used by run_reference and by tests.
Result<std::vector<Tensor>> run_node_reference(const Node& node, const std::vector<Tensor>& inputs);

}  // namespace scv
