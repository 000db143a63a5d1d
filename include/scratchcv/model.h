// Models: the torchvision ResNet family built as a Graph, and loading any model file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/pth.h"
#include "scratchcv/status.h"

namespace scv {

// torchvision's ResNet hyper-parameters.
struct ResNetConfig {
  std::string name;        // "resnet50", "resnext50_32x4d", ...
  bool bottleneck = true;  // BasicBlock (18/34) or Bottleneck (50+)
  int blocks[4] = {3, 4, 6, 3};
  int64_t groups = 1;
  int64_t width_per_group = 64;
  int64_t num_classes = 1000;
};

// Names: resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x8d
// resnext101_64x4d wide_resnet50_2 wide_resnet101_2.
Result<ResNetConfig> resnet_config(const std::string& name);
std::vector<std::string> resnet_names();
// Recognises the architecture from tensor names and shapes of a torchvision state_dict.
Result<ResNetConfig> detect_resnet(const StateDict& sd);
// Builds the inference graph (input "input" [N,3,H,W] -> output "logits" [N,classes]) and checks
// every tensor is present with the right shape.
Result<Graph> build_resnet(const StateDict& sd, const ResNetConfig& cfg);
// Seeded random weights in torchvision's naming (for tests and benchmarks).
StateDict random_resnet_weights(const ResNetConfig& cfg, uint64_t seed);

// Loads a .pth (by content: a zip archive), an .onnx or a .tflite model (its dequantized float
// graph, scratchcv/tflite_float.h) as a Graph. `arch` ("" = detect)
// overrides architecture recognition for .pth files.
Result<Graph> load_model(const std::string& path, const std::string& arch = "");

// ImageNet class names (1000), from data/imagenet_classes.txt.
Result<std::vector<std::string>> imagenet_labels();

}  // namespace scv
