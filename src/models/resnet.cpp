// The torchvision ResNet family as a Graph.
//
// torchvision's ResNet (He et al. 2015, "v1.5": the stride sits on the 3x3 conv of a bottleneck):
//   conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2
//   layer1..layer4: blocks[i] residual blocks with 64, 128, 256, 512 "planes", stride 1,2,2,2
//   avgpool (global) -> flatten -> fc
// BasicBlock (resnet18/34):   3x3 conv -> bn -> relu -> 3x3 conv -> bn -> (+ shortcut) -> relu
// Bottleneck (resnet50+):     1x1 -> bn -> relu -> 3x3 (groups) -> bn -> relu -> 1x1 -> bn
//                             -> (+ shortcut) -> relu, output channels = 4 * planes
// The shortcut is the identity, or "downsample" (1x1 conv with the block's stride + bn) when the
// shape changes. Tensor names follow torchvision's state_dict: layer2.0.downsample.0.weight, ...
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include "scratchcv/model.h"

namespace scv {

namespace {

const std::vector<ResNetConfig>& known_configs() {
  static const std::vector<ResNetConfig> v = [] {
    std::vector<ResNetConfig> c;
    auto add = [&](const char* name, bool bottleneck, std::array<int, 4> blocks, int64_t groups,
                   int64_t wpg) {
      ResNetConfig r;
      r.name = name;
      r.bottleneck = bottleneck;
      for (int i = 0; i < 4; ++i) r.blocks[i] = blocks[i];
      r.groups = groups;
      r.width_per_group = wpg;
      c.push_back(r);
    };
    add("resnet18", false, {2, 2, 2, 2}, 1, 64);
    add("resnet34", false, {3, 4, 6, 3}, 1, 64);
    add("resnet50", true, {3, 4, 6, 3}, 1, 64);
    add("resnet101", true, {3, 4, 23, 3}, 1, 64);
    add("resnet152", true, {3, 8, 36, 3}, 1, 64);
    add("resnext50_32x4d", true, {3, 4, 6, 3}, 32, 4);
    add("resnext101_32x8d", true, {3, 4, 23, 3}, 32, 8);
    add("resnext101_64x4d", true, {3, 4, 23, 3}, 64, 4);
    add("wide_resnet50_2", true, {3, 4, 6, 3}, 1, 128);
    add("wide_resnet101_2", true, {3, 4, 23, 3}, 1, 128);
    return c;
  }();
  return v;
}

// Channels of the 3x3 conv inside a bottleneck of `planes`.
int64_t block_width(const ResNetConfig& c, int64_t planes) {
  return c.bottleneck ? planes * c.width_per_group / 64 * c.groups : planes;
}

// Walks the architecture once, calling `conv` for every convolution (with its torchvision name
// prefix) in graph order. Used both to build the graph and to generate random weights, so the
// two can never disagree.
struct ConvSpec {
  std::string prefix;  // "layer1.0.conv1" ; its bn is given separately
  std::string bn;      // "layer1.0.bn1"
  int64_t cin, cout, k, stride, pad, groups;
};

template <typename F>
void for_each_conv(const ResNetConfig& c, F&& f) {
  f(ConvSpec{"conv1", "bn1", 3, 64, 7, 2, 3, 1});
  int64_t inplanes = 64;
  const int expansion = c.bottleneck ? 4 : 1;
  for (int l = 0; l < 4; ++l) {
    const int64_t planes = int64_t(64) << l;
    for (int b = 0; b < c.blocks[l]; ++b) {
      const int64_t stride = (b == 0 && l > 0) ? 2 : 1;
      const std::string p = "layer" + std::to_string(l + 1) + "." + std::to_string(b) + ".";
      const int64_t w = block_width(c, planes);
      if (c.bottleneck) {
        f(ConvSpec{p + "conv1", p + "bn1", inplanes, w, 1, 1, 0, 1});
        f(ConvSpec{p + "conv2", p + "bn2", w, w, 3, stride, 1, c.groups});
        f(ConvSpec{p + "conv3", p + "bn3", w, planes * expansion, 1, 1, 0, 1});
      } else {
        f(ConvSpec{p + "conv1", p + "bn1", inplanes, planes, 3, stride, 1, 1});
        f(ConvSpec{p + "conv2", p + "bn2", planes, planes, 3, 1, 1, 1});
      }
      if (stride != 1 || inplanes != planes * expansion)
        f(ConvSpec{p + "downsample.0", p + "downsample.1", inplanes, planes * expansion, 1, stride,
                   0, 1});
      inplanes = planes * expansion;
    }
  }
}

int64_t final_channels(const ResNetConfig& c) {
  return 512 * (c.bottleneck ? 4 : 1);
}

class Builder {
 public:
  Builder(const StateDict& sd, Graph& g) : sd_(sd), g_(g) {}

  // A named constant whose shape must be exactly `shape`.
  Result<int> weight(const std::string& name, const Shape& shape) {
    const Tensor* t = find_tensor(sd_, name);
    if (!t)
      return error("missing tensor '", name, "' (expected shape ", shape_str(shape),
                   "); is this a torchvision ResNet checkpoint of this architecture?");
    if (t->shape() != shape)
      return error("tensor '", name, "' has shape ", shape_str(t->shape()), ", expected ",
                   shape_str(shape));
    used_.insert(name);
    return g_.add_constant(name, *t);
  }

  // conv -> bn (-> relu when `relu`), returns the output value id.
  Result<int> conv_bn(int x, const ConvSpec& s, bool relu) {
    SCV_ASSIGN_OR_RETURN(int w, weight(s.prefix + ".weight", {s.cout, s.cin / s.groups, s.k, s.k}));
    Attrs a;
    a.kernel_shape = {s.k, s.k};
    a.strides = {s.stride, s.stride};
    a.pads = {s.pad, s.pad, s.pad, s.pad};
    a.group = s.groups;
    int y = g_.add_value(s.prefix);
    g_.add_node(OpType::Conv, s.prefix, {x, w}, {y}, a);
    std::vector<int> bn_in = {y};
    for (const char* suffix : {".weight", ".bias", ".running_mean", ".running_var"}) {
      SCV_ASSIGN_OR_RETURN(int p, weight(s.bn + suffix, {s.cout}));
      bn_in.push_back(p);
    }
    used_.insert(s.bn + ".num_batches_tracked");
    Attrs bn_attrs;
    bn_attrs.epsilon = 1e-5f;
    int z = g_.add_value(s.bn);
    g_.add_node(OpType::BatchNorm, s.bn, bn_in, {z}, bn_attrs);
    return relu ? this->relu(z, s.prefix + ".relu") : z;
  }

  int relu(int x, const std::string& name) {
    int y = g_.add_value(name);
    g_.add_node(OpType::Relu, name, {x}, {y});
    return y;
  }

  int add(int a, int b, const std::string& name) {
    int y = g_.add_value(name);
    g_.add_node(OpType::Add, name, {a, b}, {y});
    return y;
  }

  const std::set<std::string>& used() const { return used_; }

 private:
  const StateDict& sd_;
  Graph& g_;
  std::set<std::string> used_;
};

}  // namespace

std::vector<std::string> resnet_names() {
  std::vector<std::string> v;
  for (const auto& c : known_configs()) v.push_back(c.name);
  return v;
}

Result<ResNetConfig> resnet_config(const std::string& name) {
  for (const auto& c : known_configs())
    if (c.name == name) return c;
  std::string all;
  for (const auto& n : resnet_names()) all += (all.empty() ? "" : ", ") + n;
  return error("unknown architecture '", name, "'; known: ", all);
}

Result<ResNetConfig> detect_resnet(const StateDict& sd) {
  const Tensor* conv1 = find_tensor(sd, "conv1.weight");
  const Tensor* fc = find_tensor(sd, "fc.weight");
  if (!conv1 || !fc) {
    std::string first = sd.empty() ? "(none)" : sd.front().name;
    return error(
        "not a torchvision ResNet checkpoint: no conv1.weight/fc.weight tensors (first "
        "tensor is '",
        first, "'); pass --arch to name the architecture");
  }
  ResNetConfig c;
  c.bottleneck = find_tensor(sd, "layer1.0.conv3.weight") != nullptr;
  for (int l = 0; l < 4; ++l) {
    int n = 0;
    while (find_tensor(sd,
                       "layer" + std::to_string(l + 1) + "." + std::to_string(n) + ".conv1.weight"))
      ++n;
    if (n == 0) return error("not a ResNet checkpoint: layer", l + 1, " has no blocks");
    c.blocks[l] = n;
  }
  if (c.bottleneck) {
    const Tensor* w2 = find_tensor(sd, "layer1.0.conv2.weight");
    if (!w2 || w2->rank() != 4 || w2->dim(0) <= 0 || w2->dim(1) <= 0 ||
        w2->dim(0) % w2->dim(1) != 0)
      return error("layer1.0.conv2.weight is missing or has an unexpected shape");
    const int64_t width = w2->dim(0);  // planes(64) * width_per_group / 64 * groups
    c.groups = width / w2->dim(1);
    c.width_per_group = width / c.groups;
  }
  if (fc->rank() != 2) return error("fc.weight has shape ", shape_str(fc->shape()));
  c.num_classes = fc->dim(0);
  c.name = "custom ResNet";
  for (const auto& k : known_configs()) {
    if (k.bottleneck == c.bottleneck && k.groups == c.groups &&
        k.width_per_group == c.width_per_group && std::equal(k.blocks, k.blocks + 4, c.blocks))
      c.name = k.name;
  }
  return c;
}

Result<Graph> build_resnet(const StateDict& sd, const ResNetConfig& cfg) {
  Graph g;
  Builder b(sd, g);
  int x = g.add_value("input", {-1, 3, -1, -1});
  g.inputs = {x};
  // Collect the conv specs in order, then wire them: the stem, and per block its convs.
  std::vector<ConvSpec> convs;
  for_each_conv(cfg, [&](const ConvSpec& s) { convs.push_back(s); });
  size_t i = 0;
  SCV_ASSIGN_OR_RETURN(x, b.conv_bn(x, convs[i++], true));
  Attrs mp;
  mp.kernel_shape = {3, 3};
  mp.strides = {2, 2};
  mp.pads = {1, 1, 1, 1};
  int pooled = g.add_value("maxpool");
  g.add_node(OpType::MaxPool, "maxpool", {x}, {pooled}, mp);
  x = pooled;
  while (i < convs.size()) {
    // One block: its convs share the "layerL.B." prefix.
    const std::string block = convs[i].prefix.substr(0, convs[i].prefix.rfind("conv"));
    const int nconv = cfg.bottleneck ? 3 : 2;
    int shortcut = x, y = x;
    for (int k = 0; k < nconv; ++k) {
      SCV_ASSIGN_OR_RETURN(y, b.conv_bn(y, convs[i], k + 1 < nconv));
      ++i;
    }
    if (i < convs.size() && convs[i].prefix == block + "downsample.0") {
      SCV_ASSIGN_OR_RETURN(shortcut, b.conv_bn(x, convs[i], false));
      ++i;
    }
    x = b.relu(b.add(y, shortcut, block + "add"), block + "relu");
  }
  int gap = g.add_value("avgpool");
  g.add_node(OpType::GlobalAveragePool, "avgpool", {x}, {gap});
  int flat = g.add_value("flatten");
  g.add_node(OpType::Flatten, "flatten", {gap}, {flat});
  const int64_t feat = final_channels(cfg);
  SCV_ASSIGN_OR_RETURN(int fw, b.weight("fc.weight", {cfg.num_classes, feat}));
  SCV_ASSIGN_OR_RETURN(int fb, b.weight("fc.bias", {cfg.num_classes}));
  Attrs fc;
  fc.trans_b = true;
  int logits = g.add_value("logits");
  g.add_node(OpType::Gemm, "fc", {flat, fw, fb}, {logits}, fc);
  g.outputs = {logits};
  // Tensors the architecture does not use mean the checkpoint is of another architecture.
  for (const auto& nt : sd) {
    if (!b.used().count(nt.name))
      return error("unexpected tensor '", nt.name, "' for ", cfg.name,
                   " (checkpoint of another architecture? use --arch to choose)");
  }
  SCV_TRY(g.validate());
  return g;
}

StateDict random_resnet_weights(const ResNetConfig& cfg, uint64_t seed) {
  // A small, fast generator (splitmix64): weights for the big models are hundreds of millions
  // of numbers. "normal" is the sum of two uniforms, rescaled to unit variance: a triangular
  // distribution is plenty for test and benchmark weights.
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto uni = [&] { return float(next() >> 40) * (1.0f / 16777216.0f); };  // [0, 1)
  auto normal = [&] { return (uni() + uni() - 1.0f) * 2.4494897f; };      // var 1/6 -> 1
  StateDict sd;
  auto fill = [&](const std::string& name, Shape s, auto gen) {
    Tensor t(std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = gen();
    sd.push_back({name, t});
  };
  for_each_conv(cfg, [&](const ConvSpec& s) {
    // He initialisation keeps activations in a sensible range through the depth.
    const float std = std::sqrt(2.0f / float(s.cin / s.groups * s.k * s.k));
    fill(s.prefix + ".weight", {s.cout, s.cin / s.groups, s.k, s.k},
         [&] { return normal() * std; });
    fill(s.bn + ".weight", {s.cout}, [&] { return 0.5f + 0.5f * uni(); });
    fill(s.bn + ".bias", {s.cout}, [&] { return 0.2f * normal(); });
    fill(s.bn + ".running_mean", {s.cout}, [&] { return 0.2f * normal(); });
    fill(s.bn + ".running_var", {s.cout}, [&] { return 0.5f + uni(); });
  });
  const int64_t feat = final_channels(cfg);
  const float fstd = 1.0f / std::sqrt(float(feat));
  fill("fc.weight", {cfg.num_classes, feat}, [&] { return normal() * fstd; });
  fill("fc.bias", {cfg.num_classes}, [&] { return 0.1f * normal(); });
  return sd;
}

}  // namespace scv
