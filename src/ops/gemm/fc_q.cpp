// Quantized FULLY_CONNECTED (TFLite, the quantized variant of Gemm): y[r] = W x[r] + b over the
// rows of K input values, run as a 1x1 convolution of the shared conv step (conv_q.h).
#include "ops/conv/conv_q.h"
#include "ops/qop.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

// The input is read as numel / K rows of K values (weights [units, K]).
Status fc_geom(const QPlanner& p, const OpInfo& op, ConvGeom* out) {
  SCV_TRY(p.need(op, 2, 1));
  const TensorInfo& x = p.model().tensors[size_t(op.inputs[0])];
  const auto& w = p.model().tensors[size_t(op.inputs[1])].shape;
  if (w.size() != 2)
    return error(p.who(), ": weights of shape ", shape_str(w), ", expected [out, in]");
  const int K = w[1];
  if (K <= 0 || x.numel() % K != 0)
    return error(p.who(), ": input of ", x.numel(), " elements is not a multiple of the weights' ",
                 K, " columns");
  ConvGeom g;
  g.n = 1;
  g.ih = g.oh = int(x.numel() / K);
  g.iw = g.ow = 1;
  g.ic = K;
  g.oc = w[0];
  *out = g;
  return Status();
}

// TFLite writes [rows, units], or the input's leading dimensions then units (keep_num_dims):
// any output of rows x units values is accepted.
Result<std::vector<int32_t>> infer_fc(const QPlanner& p, const OpInfo& op) {
  ConvGeom g;
  SCV_TRY(fc_geom(p, op, &g));
  const TensorInfo& y = p.model().tensors[size_t(op.outputs[0])];
  if (y.numel() != int64_t(g.oh) * g.oc)
    return error(p.who(), ": output ", shape_str(y.shape), " does not hold ", g.oh, " x ", g.oc,
                 " values");
  return y.shape;
}

template <bool kFast>
Status plan_fc(QPlanner& p, const OpInfo& op) {
  ConvGeom g;
  SCV_TRY(fc_geom(p, op, &g));
  return plan_conv_step(p, op, g, false, kFast);
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(FullyConnected, "FULLY_CONNECTED", OpType::Gemm, quant::infer_fc, quant::plan_fc<false>,
           quant::plan_fc<true>);

}  // namespace scv
