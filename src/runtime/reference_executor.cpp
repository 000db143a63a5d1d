// The reference executor: runs a Graph node by node through each op's shape rule (which checks
// the node and reports a malformed one as a Status, never an out-of-bounds access) and its
// reference kernel. The same two handlers serve the session's fallback steps.
#include "ops/op.h"
#include "scratchcv/graph.h"

namespace scv {

Result<std::vector<Tensor>> run_node_reference(const Node& node, const std::vector<Tensor>& in) {
  if (in.empty() || in[0].empty()) return error("node '", node.name, "': missing input tensor");
  const OpDef& def = op_def(node.op);
  std::vector<Shape> shapes;
  std::vector<const float*> data;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool omitted = in[i].empty() || (i < node.inputs.size() && node.inputs[i] < 0);
    shapes.push_back(omitted ? Shape{} : in[i].shape());
    data.push_back(omitted ? nullptr : in[i].data());
  }
  if (in.size() < static_cast<size_t>(def.min_inputs) ||
      in.size() > static_cast<size_t>(def.max_inputs))
    return error("node '", node.name, "' (", def.name, "): expected ", def.min_inputs, "..",
                 def.max_inputs, " inputs, found ", in.size());
  for (size_t i = 0; i < static_cast<size_t>(def.min_inputs); ++i)
    if (!data[i]) return error("node '", node.name, "': required input ", i, " is missing");
  Shape ys;
  SCV_TRY(def.infer(node, shapes, &ys));
  Tensor y(ys);
  def.ref(RefArgs{node, data, shapes, y.data(), ys});
  if (node.attrs.fused_relu) ref::relu(y.data(), y.numel(), y.data());
  return std::vector<Tensor>{y};
}

Result<std::vector<Tensor>> run_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  SCV_TRY(g.validate());
  if (inputs.size() != g.inputs.size())
    return error("graph expects ", g.inputs.size(), " inputs, got ", inputs.size());
  std::vector<Tensor> env(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].is_constant()) env[i] = g.values[i].constant;
  for (size_t i = 0; i < inputs.size(); ++i) env[g.inputs[i]] = inputs[i];
  for (const Node& node : g.nodes) {
    std::vector<Tensor> in;
    in.reserve(node.inputs.size());
    for (int id : node.inputs) in.push_back(id >= 0 ? env[id] : Tensor());
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_node_reference(node, in));
    for (size_t k = 0; k < node.outputs.size() && k < out.size(); ++k)
      env[node.outputs[k]] = out[k];
  }
  std::vector<Tensor> result;
  for (int id : g.outputs) result.push_back(env[id]);
  return result;
}

}  // namespace scv
