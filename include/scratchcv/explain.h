// Seeing inside a network: a forward pass over the graph IR that keeps every activation, a
// backward pass through it, and the pictures' raw material built on the two.
//
//  - run_trace(): runs the graph node by node in fp32 (convolutions through training's
//    im2col + GEMM, depthwise ones through direct per-channel loops, everything else through
//    the reference kernels), keeping every value,
//    max-pool switches (the argmax of each window), and per-node time and FLOPs.
//  - backward(): propagates a seed gradient from any value back towards the input through
//    Conv (any groups: depthwise too), BatchNorm (inference), Relu, Clip (ReLU6), MaxPool,
//    AveragePool, GlobalAveragePool, Flatten, Reshape, Identity, Gemm, MatMul, Add and Softmax.
//    The ReLU rule (also applied by Clip) selects plain gradients, Zeiler and Fergus's
//    deconvnet (rectify the backward signal) or guided backpropagation (both). Convolutions go
//    back through training's col2im and GEMM (src/ops/gemm), so the backward maths is the one
//    training uses; depthwise convolutions through the adjoint of their direct loops, and
//    grouped ones with small groups through conv2d_backward_data_ref.
//  - CAM (Zhou et al. 2016), Grad-CAM (Selvaraju et al. 2017), gradient saliency (Simonyan et
//    al. 2014), deconvnet reconstructions (Zeiler and Fergus 2014) and a per-layer table.
//
// Tensors are float32 NCHW; maps are returned as [h, w] tensors before any colouring. Errors
// (an op the backward pass does not know, an unknown layer name, a model without a pooled
// classifier head for CAM) are Statuses with the node or name in the message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/ops_ref.h"
#include "scratchcv/status.h"
#include "scratchcv/tensor.h"
#include "scratchcv/thread_pool.h"

namespace scv::explain {

// ---- forward ------------------------------------------------------------------------------------
class Arena;  // where a trace's activations and its gradients live (src/explain/arena.h)

struct Trace {
  const Graph* graph = nullptr;  // not owned; must outlive the trace
  std::vector<Tensor> values;    // by value id: constants and every computed activation
  // By node: for MaxPool, the switch of each output element (index of the window's maximum in
  // its input plane, h * W + w; -1 when the window lies wholly in the padding). Empty otherwise.
  std::vector<std::vector<int32_t>> switches;
  std::vector<double> node_ms;      // wall time of each node's forward
  std::vector<int64_t> node_flops;  // multiply-adds count 2; elementwise ops count 1 per output
  std::vector<int> producer;        // by value id: the node that computes it, -1 for inputs
  // The memory of the computed values and of backward()'s gradients (tensors from it keep it
  // alive).
  std::shared_ptr<Arena> arena;
};

// Runs g on one input ([N, C, H, W], the graph's only input), keeping everything backward()
// and the pictures need. Nodes with fused activations (prepared graphs) are refused.
Result<Trace> run_trace(const Graph& g, const Tensor& input, ThreadPool& pool);

// The switch-recording max pool run_trace uses (reference semantics: padding is ignored, the
// first maximum of a window wins, as PyTorch). x [nc, h, w] -> y [nc, oh, ow], sw [nc, oh, ow].
void maxpool2d_switches(const float* x, int64_t nc, int64_t h, int64_t w,
                        const ref::Pool2dParams& p, float* y, int32_t* sw);

// ---- backward -----------------------------------------------------------------------------------
enum class ReluRule {
  gradient,   // dx = dy * [x > 0]             (the true gradient)
  deconvnet,  // dx = max(dy, 0)               (Zeiler & Fergus: rectify the reconstruction)
  guided,     // dx = max(dy, 0) * [x > 0]     (Springenberg et al.'s guided backpropagation)
};

// Starting from d(seed)/d(seed_value) = seed_grad, returns the gradient at each value of `want`
// (in that order). The pass stops as soon as every wanted gradient is complete, and frees
// gradients it no longer needs on the way. A wanted value the seed does not reach gets zeros.
Result<std::vector<Tensor>> backward(const Trace& t, int seed_value, const Tensor& seed_grad,
                                     const std::vector<int>& want, ReluRule rule, ThreadPool& pool);

// The transposed convolution (input gradient of ref::conv2d), written directly from the
// definition: dx[n, ci, iy, ix] = sum over (co, i, j) with iy = oy*sh - pad_t + i*dh, ... of
// w[co, ci_g, i, j] * dy[n, co, oy, ox]. Any groups, strides, pads and dilations; the oracle
// for the im2col path and the fallback for shapes it does not handle. dx is overwritten.
void conv2d_backward_data_ref(const float* dy, int64_t n, int64_t cout, int64_t oh, int64_t ow,
                              const float* weight, const ref::Conv2dParams& p, int64_t c, int64_t h,
                              int64_t w, float* dx);

// ---- maps
// ----------------------------------------------------------------------------------------- Value
// id of a layer, as PyTorch module names and hooks see it: a value name of the graph
// ("conv1" is the conv output before bn1, "layer4.2.relu", an ONNX tensor name), or else a
// module name, meaning the output of the last node named NAME.* ("layer4" -> the last block's
// output, what a forward hook on model.layer4 sees). "input" is the graph input.
Result<int> resolve_layer(const Graph& g, const std::string& name);

// The logits: the graph output, or the input of a final Softmax.
int logits_value(const Graph& g);

// The classifier head CAM needs: features [N, C, h, w] -> GlobalAveragePool -> (Flatten |
// Reshape)* -> Gemm/MatMul with constant weights [classes, C] (or [C, classes]), or a 1x1 Conv
// with weights [classes, C, 1, 1] (TFLite MobileNets).
struct ClassifierHead {
  int features = -1;  // value id of the last feature maps
  Tensor weight;      // [classes, C]
};
Result<ClassifierHead> find_classifier_head(const Graph& g);

// CAM of class k: sum_c W[k, c] * F[0, c] -> [h, w] (the bias is a constant and left out).
Tensor class_activation_map(const Tensor& features, const Tensor& weight, int k);
// Grad-CAM: relu(sum_c alpha_c * A[0, c]) with alpha_c = mean over (h, w) of dA[0, c] -> [h, w].
Tensor grad_cam(const Tensor& a, const Tensor& da);
// Gradient saliency: max over channels of |dX[0, c]| -> [H, W].
Tensor saliency_map(const Tensor& dx);

// Gradients of logit k at a layer and at the input (either may be skipped with -1/false).
struct ClassGradients {
  Tensor layer;  // d logit_k / d A, same shape as the layer's value (empty when not asked)
  Tensor input;  // d logit_k / d x, [N, 3, H, W] (empty when not asked)
};
Result<ClassGradients> class_gradients(const Trace& t, int k, int layer_value, bool to_input,
                                       ThreadPool& pool);

// Deconvnet projections of one channel of a layer: its `top` strongest activations (local maxima
// at least two cells apart), each projected alone to pixel space with the deconvnet rule.
struct Projection {
  int y = 0, x = 0;  // position in the layer's map
  float activation = 0;
  Tensor image;               // [3, H, W] reconstruction in input space
  int box[4] = {0, 0, 0, 0};  // x0, y0, x1, y1 (exclusive): where the reconstruction is non-zero
};
struct DeconvResult {
  int channel = 0;
  std::vector<Projection> projections;
};
// channel < 0 picks the channel with the largest activation.
Result<DeconvResult> deconvnet(const Trace& t, int layer_value, int channel, int top,
                               ThreadPool& pool);

// ---- per-layer table ----------------------------------------------------------------------------
// Consecutive nodes of one module ("layer1.0.*") and a BatchNorm/Relu/Clip following a node are one
// row; the row's output is its last node's.
struct LayerRow {
  std::string name;  // module name
  std::string ops;   // "Conv+BatchNorm+Relu"
  Shape shape;       // output shape
  int64_t flops = 0;
  double ms = 0;
  double mean = 0;         // mean of the output
  double zero_share = -1;  // share of exact zeros in the output of a Relu or Clip, else -1
};
std::vector<LayerRow> layer_table(const Trace& t);

}  // namespace scv::explain
