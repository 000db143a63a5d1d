// A TFLite model as a float32 graph: the quantized network dequantized into the graph IR every
// fp32 executor, explain and training's backward consume.
//
// From the parsed model (scratchcv/tflite.h) each operator becomes nodes of the op list
// (scratchcv/graph.h), activations in NCHW:
//   CONV_2D            -> Conv, weights OHWI -> OIHW
//   DEPTHWISE_CONV_2D  -> Conv with group = C: filter [1, kh, kw, C*M] -> [C*M, 1, kh, kw];
//                         output channel o reads input channel o / M (TFLite's multiplier M)
//   FULLY_CONNECTED    -> Gemm (trans_b; weight columns of a 4-D input permuted from the
//                         NHWC flattening order to NCHW's)
//   ADD                -> Add;  AVERAGE_POOL_2D -> AveragePool (GlobalAveragePool when the
//   window is the whole map);  MAX_POOL_2D -> MaxPool;  MEAN over H, W -> GlobalAveragePool
//   RESHAPE / SQUEEZE  -> Reshape (when NHWC and NCHW orders agree: a 1x1 map or one channel)
//   SOFTMAX (beta 1)   -> Softmax;  QUANTIZE / DEQUANTIZE vanish (the graph is float)
//   fused RELU / RELU6 / RELU_N1_TO_1 -> Relu / Clip(0, 6) / Clip(-1, 1) after the node
// Weights are dequantized: w = scale * (q - zero_point), per tensor or per output channel;
// int32 biases become b = q * s_in * s_w (per channel when the weights are). SAME padding
// becomes explicit pads, TFLite's way: the odd extra pixel goes to the bottom / right. Float32
// constants (float .tflite models) are taken as they are.
//
// Names: values keep the model's tensor names (a fused activation's output has the tensor's
// name, the node's own output before it gets "<name>:linear"). Nodes get readable module
// names that explain's --layers understands (resolve_layer: "layer3" = the last node named
// layer3.*):
//   conv1        the first convolution (the stem) and its activation ("conv1.relu6")
//   layerK       the K-th block: the ops from after the previous block up to the first
//                CONV_2D after its K-th DEPTHWISE_CONV_2D (the projection), and the ADD that
//                takes that conv's output (the residual); in MobileNetV2 layer1..layer17 are
//                the 17 inverted-residual blocks, inside them layerK.expand, layerK.dw,
//                layerK.project, layerK.add
//   conv_last, pool, classifier, reshape, softmax   the head after the last block
// Models without depthwise convolutions keep the first conv's "conv1"; other nodes are named
// after their output tensors.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/image.h"
#include "scratchcv/status.h"
#include "scratchcv/tflite.h"

namespace scv {

struct TfliteFloat {
  Graph graph;  // input [1, 3, H, W] (the dequantized model input), output as the model's
  int height = 0, width = 0;
  // The float input from TF-slim's uint8 pixels: x = (p - pixel_zero) * pixel_scale (the model
  // input's dequantization; p / 127.5 - 1 for a float input).
  float pixel_zero = 0, pixel_scale = 1;
  bool softmax_output = false;  // the output is a Softmax (its input holds the logits)
  // conv1 and the last block at each spatial size ("conv1,layer1,layer3,layer6,layer13,layer17"
  // for MobileNetV2): a default set of layers to look at.
  std::vector<std::string> stages;
};

// Builds the float graph. Errors name the operator index and kind that cannot be mapped.
Result<TfliteFloat> build_tflite_float(const tflite::Model& model);
Result<TfliteFloat> load_tflite_float(const std::string& path);

// TF-slim pre-processing (tfslim_preprocess) to the model's input size, then dequantized into a
// [1, 3, H, W] float tensor: exactly what the quantized engine's input means.
Result<Tensor> tflite_float_input(const TfliteFloat& model, const Image& photo);

// TFLite's SAME padding of one dimension: {before, after}, output = ceil(in / stride); the
// odd pixel goes after (bottom / right). VALID is {0, 0}.
std::array<int64_t, 2> tflite_same_pads(int64_t in, int64_t kernel, int64_t stride,
                                        int64_t dilation);

}  // namespace scv
