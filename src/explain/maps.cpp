// CAM, Grad-CAM, saliency, deconvnet projections and the per-layer table (see explain.h).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "scratchcv/explain.h"

namespace scv::explain {

Result<int> resolve_layer(const Graph& g, const std::string& name) {
  if (name == "input" && !g.inputs.empty()) return g.inputs[0];
  const int v = g.find_value(name);
  if (v >= 0) {
    if (g.values[v].is_constant())
      return error("'", name, "' is a constant (a weight), not a layer output");
    return v;
  }
  int found = -1;
  for (const Node& n : g.nodes)
    if (n.name == name || n.name.rfind(name + ".", 0) == 0) found = n.outputs[0];
  if (found >= 0) return found;
  // A hint: the top-level module names of the graph.
  std::vector<std::string> mods;
  for (const Node& n : g.nodes) {
    const std::string m = n.name.substr(0, n.name.find('.'));
    if (std::find(mods.begin(), mods.end(), m) == mods.end()) mods.push_back(m);
  }
  std::string list;
  for (size_t i = 0; i < mods.size() && i < 12; ++i) list += (i ? ", " : "") + mods[i];
  return error("no layer named '", name, "' in this model (modules: ", list,
               mods.size() > 12 ? ", ..." : "", ")");
}

int logits_value(const Graph& g) {
  const int out = g.outputs.empty() ? -1 : g.outputs[0];
  for (const Node& n : g.nodes)
    if (n.outputs[0] == out && n.op == OpType::Softmax) return n.inputs[0];
  return out;
}

Result<ClassifierHead> find_classifier_head(const Graph& g) {
  int gap = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == OpType::GlobalAveragePool) gap = int(i);
  if (gap < 0)
    return error(
        "CAM needs a global-average-pooled classifier head; this model has no "
        "GlobalAveragePool (use Grad-CAM, which works at any layer)");
  // Follow the pooled value through shape-only ops to the classifier.
  int v = g.nodes[gap].outputs[0];
  for (size_t i = gap + 1; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.inputs.empty() || n.inputs[0] != v) continue;
    if (n.op == OpType::Flatten || n.op == OpType::Reshape || n.op == OpType::Identity) {
      v = n.outputs[0];
      continue;
    }
    // A 1x1 convolution of the pooled [N, C, 1, 1] features (TFLite's MobileNet classifier).
    if (n.op == OpType::Conv && n.attrs.group == 1 && n.inputs.size() > 1 &&
        g.values[n.inputs[1]].is_constant()) {
      const Tensor& w = g.values[n.inputs[1]].constant;
      if (w.rank() != 4 || w.dim(2) != 1 || w.dim(3) != 1) break;
      ClassifierHead h;
      h.features = g.nodes[gap].inputs[0];
      h.weight = w.reshaped({w.dim(0), w.dim(1)});  // shares the weights (no 5 MB copy)
      return h;
    }
    const bool gemm = n.op == OpType::Gemm && !n.attrs.trans_a;
    if ((gemm || n.op == OpType::MatMul) && g.values[n.inputs[1]].is_constant()) {
      const Tensor& b = g.values[n.inputs[1]].constant;
      if (b.rank() != 2) break;
      const bool tb = gemm && n.attrs.trans_b;
      const float alpha = gemm ? n.attrs.alpha : 1.f;
      const int64_t classes = tb ? b.dim(0) : b.dim(1), c = tb ? b.dim(1) : b.dim(0);
      ClassifierHead h;
      h.features = g.nodes[gap].inputs[0];
      if (tb && alpha == 1.f) {  // already [classes, C]: share it
        h.weight = b;
        return h;
      }
      h.weight = Tensor({classes, c});
      for (int64_t k = 0; k < classes; ++k)
        for (int64_t j = 0; j < c; ++j)
          h.weight[k * c + j] = alpha * (tb ? b[k * c + j] : b[j * classes + k]);
      return h;
    }
    break;
  }
  return error(
      "CAM needs GlobalAveragePool -> Flatten -> a fully connected layer (or a 1x1 "
      "convolution) with constant weights; node '",
      g.nodes[gap].name, "' is not followed by one");
}

Tensor class_activation_map(const Tensor& f, const Tensor& weight, int k) {
  const int64_t c = f.dim(1), hw = f.dim(2) * f.dim(3);
  Tensor m({f.dim(2), f.dim(3)});
  std::vector<double> acc(static_cast<size_t>(hw), 0.0);
  const float* wk = weight.data() + int64_t(k) * weight.dim(1);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* fp = f.data() + ch * hw;
    for (int64_t i = 0; i < hw; ++i) acc[i] += double(wk[ch]) * fp[i];
  }
  for (int64_t i = 0; i < hw; ++i) m[i] = float(acc[i]);
  return m;
}

Tensor grad_cam(const Tensor& a, const Tensor& da) {
  const int64_t c = a.dim(1), hw = a.dim(2) * a.dim(3);
  Tensor m({a.dim(2), a.dim(3)});
  std::vector<double> acc(static_cast<size_t>(hw), 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double alpha = 0;
    for (int64_t i = 0; i < hw; ++i) alpha += da[ch * hw + i];
    alpha /= double(hw);
    const float* ap = a.data() + ch * hw;
    for (int64_t i = 0; i < hw; ++i) acc[i] += alpha * ap[i];
  }
  for (int64_t i = 0; i < hw; ++i) m[i] = float(std::max(0.0, acc[i]));
  return m;
}

Tensor saliency_map(const Tensor& dx) {
  const int64_t c = dx.dim(1), hw = dx.dim(2) * dx.dim(3);
  Tensor m({dx.dim(2), dx.dim(3)});
  for (int64_t i = 0; i < hw; ++i) {
    float v = 0;
    for (int64_t ch = 0; ch < c; ++ch) v = std::max(v, std::fabs(dx[ch * hw + i]));
    m[i] = v;
  }
  return m;
}

Result<ClassGradients> class_gradients(const Trace& t, int k, int layer_value, bool to_input,
                                       ThreadPool& pool) {
  const Graph& g = *t.graph;
  const int lv = logits_value(g);
  const Tensor& logits = t.values[lv];
  if (logits.rank() != 2 || k < 0 || k >= logits.dim(1))
    return error("class ", k, " is out of range for logits ", shape_str(logits.shape()));
  Tensor seed(logits.shape());
  seed[k] = 1.f;  // d logit_k / d logits, first image of the batch
  std::vector<int> want;
  if (layer_value >= 0) want.push_back(layer_value);
  if (to_input) want.push_back(g.inputs[0]);
  SCV_ASSIGN_OR_RETURN(auto grads, backward(t, lv, seed, want, ReluRule::gradient, pool));
  ClassGradients r;
  size_t i = 0;
  if (layer_value >= 0) r.layer = grads[i++];
  if (to_input) r.input = grads[i++];
  return r;
}

Result<DeconvResult> deconvnet(const Trace& t, int layer_value, int channel, int top,
                               ThreadPool& pool) {
  const Tensor& a = t.values[layer_value];
  if (a.rank() != 4)
    return error("deconvnet needs a layer with 4-D output, '", t.graph->values[layer_value].name,
                 "' is ", shape_str(a.shape()));
  const int64_t c = a.dim(1), h = a.dim(2), w = a.dim(3), hw = h * w;
  DeconvResult r;
  if (channel < 0) {
    const float* p = std::max_element(a.data(), a.data() + c * hw);
    channel = int((p - a.data()) / hw);
  }
  if (channel >= c)
    return error("channel ", channel, " is out of range: the layer has ", c, " channels");
  r.channel = channel;
  const float* ap = a.data() + channel * hw;
  std::vector<int64_t> order(static_cast<size_t>(hw));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return ap[i] > ap[j]; });
  const int input = t.graph->inputs[0];
  for (int64_t i : order) {
    if (int(r.projections.size()) >= top || ap[i] <= 0.f) break;
    const int y = int(i / w), x = int(i % w);
    bool near = false;
    for (const auto& q : r.projections) near |= std::abs(q.y - y) < 2 && std::abs(q.x - x) < 2;
    if (near) continue;
    // Keep this one activation, zero every other, and project it down to the pixels.
    Tensor seed(a.shape());
    seed[channel * hw + i] = ap[i];
    SCV_ASSIGN_OR_RETURN(auto rec,
                         backward(t, layer_value, seed, {input}, ReluRule::deconvnet, pool));
    Projection pr;
    pr.y = y;
    pr.x = x;
    pr.activation = ap[i];
    const Tensor& im = rec[0];
    const int64_t H = im.dim(2), W = im.dim(3);
    pr.image = Tensor::from_data({im.dim(1), H, W}, im.data());
    int x0 = int(W), y0 = int(H), x1 = 0, y1 = 0;
    for (int64_t ch = 0; ch < im.dim(1); ++ch)
      for (int64_t yy = 0; yy < H; ++yy)
        for (int64_t xx = 0; xx < W; ++xx)
          if (pr.image[(ch * H + yy) * W + xx] != 0.f) {
            x0 = std::min(x0, int(xx)), y0 = std::min(y0, int(yy));
            x1 = std::max(x1, int(xx) + 1), y1 = std::max(y1, int(yy) + 1);
          }
    if (x1 > x0 && y1 > y0) {
      pr.box[0] = x0, pr.box[1] = y0, pr.box[2] = x1, pr.box[3] = y1;
    }
    r.projections.push_back(std::move(pr));
  }
  return r;
}

namespace {

// "layer1.0.conv1" -> "layer1.0"; "conv1.relu" -> "conv1"; "fc" -> "fc".
std::string module_key(const std::string& name) {
  const size_t d1 = name.find('.');
  if (d1 == std::string::npos) return name;
  const size_t d2 = name.find('.', d1 + 1);
  const std::string second =
      name.substr(d1 + 1, d2 == std::string::npos ? std::string::npos : d2 - d1 - 1);
  const bool numbered = !second.empty() && std::all_of(second.begin(), second.end(), ::isdigit);
  return numbered ? name.substr(0, d2) : name.substr(0, d1);
}

}  // namespace

std::vector<LayerRow> layer_table(const Trace& t) {
  const Graph& g = *t.graph;
  std::vector<LayerRow> rows;
  std::vector<int> last_node;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::string key = module_key(n.name);
    const bool follows = n.op == OpType::BatchNorm || n.op == OpType::Relu || n.op == OpType::Clip;
    if (rows.empty() || (key != rows.back().name && !follows)) {
      rows.push_back(LayerRow{});
      rows.back().name = key;
      last_node.push_back(-1);
    }
    LayerRow& r = rows.back();
    const std::string op = op_name(n.op);
    if (("+" + r.ops + "+").find("+" + op + "+") == std::string::npos)
      r.ops += (r.ops.empty() ? "" : "+") + op;
    r.flops += t.node_flops[i];
    r.ms += t.node_ms[i];
    last_node.back() = int(i);
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const Node& n = g.nodes[last_node[r]];
    const Tensor& y = t.values[n.outputs[0]];
    rows[r].shape = y.shape();
    double sum = 0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < y.numel(); ++i) sum += y[i], zeros += y[i] == 0.f;
    rows[r].mean = y.numel() ? sum / double(y.numel()) : 0;
    if ((n.op == OpType::Relu || n.op == OpType::Clip) && y.numel())
      rows[r].zero_share = double(zeros) / double(y.numel());
  }
  return rows;
}

}  // namespace scv::explain
