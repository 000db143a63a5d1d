#include "scratchcv/graph.h"

#include "ops/op.h"

#include <algorithm>

namespace scv {

int Graph::add_value(std::string name, Shape shape) {
  values.push_back(Value{std::move(name), std::move(shape), Tensor()});
  return static_cast<int>(values.size()) - 1;
}

int Graph::add_constant(std::string name, Tensor t) {
  Shape s = t.shape();
  values.push_back(Value{std::move(name), std::move(s), std::move(t)});
  return static_cast<int>(values.size()) - 1;
}

int Graph::find_value(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == name) return static_cast<int>(i);
  return -1;
}

Node& Graph::add_node(OpType op, std::string name, std::vector<int> ins, std::vector<int> outs,
                      Attrs attrs) {
  nodes.push_back(Node{op, std::move(name), std::move(ins), std::move(outs), std::move(attrs)});
  return nodes.back();
}

Status Graph::validate() const {
  const int nv = static_cast<int>(values.size());
  std::vector<char> ready(values.size(), 0);
  for (size_t i = 0; i < values.size(); ++i) ready[i] = values[i].is_constant();
  for (int id : inputs) {
    if (id < 0 || id >= nv) return error("graph input id ", id, " out of range");
    ready[id] = 1;
  }
  for (const Node& n : nodes) {
    const OpDef& def = op_def(n.op);
    const size_t lo = def.min_inputs, hi = def.max_inputs;
    if (n.inputs.size() < lo || n.inputs.size() > hi)
      return error("node '", n.name, "' (", op_name(n.op), "): expected ", lo, "..", hi,
                   " inputs, found ", n.inputs.size());
    if (n.outputs.empty()) return error("node '", n.name, "' has no output");
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      int id = n.inputs[k];
      if (id == -1 && k >= lo) continue;  // omitted optional input
      if (id < 0 || id >= nv) return error("node '", n.name, "': input id out of range");
      if (!ready[id])
        return error("node '", n.name, "': input '", values[id].name,
                     "' is used before any node produces it (graph not in topological order?)");
    }
    for (int id : n.outputs) {
      if (id < 0 || id >= nv) return error("node '", n.name, "': output id out of range");
      ready[id] = 1;
    }
  }
  for (int id : outputs) {
    if (id < 0 || id >= nv || !ready[id])
      return error("graph output id ", id, " is never produced");
  }
  return Status();
}

}  // namespace scv
