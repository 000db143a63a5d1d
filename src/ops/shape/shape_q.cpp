// Quantized RESHAPE and SQUEEZE (TFLite, the quantized variants of Reshape): the output is the
// input's bytes under a new shape, an alias of the same arena slot (no step runs).
#include "ops/qop.h"
#include "ops/quant/qplan.h"

namespace scv {
namespace quant {

using namespace tflite;

namespace {

// The output shape is the file's (a constant shape input or new_shape option gives it); the
// element count must be the input's.
Result<std::vector<int32_t>> infer_reshape(const QPlanner& p, const OpInfo& op) {
  SCV_TRY(p.need(op, 1, 1));
  const TensorInfo& x = p.model().tensors[size_t(op.inputs[0])];
  const TensorInfo& y = p.model().tensors[size_t(op.outputs[0])];
  if (x.numel() != y.numel() || (x.type == DType::f32) != (y.type == DType::f32))
    return error(p.who(), ": ", shape_str(x.shape), " -> ", shape_str(y.shape),
                 " changes the element count or type");
  return y.shape;
}

// The reference of a reshape is no arithmetic at all: the output aliases the input.
Status plan_reshape(QPlanner& p, const OpInfo& op) {
  SCV_ASSIGN_OR_RETURN(Act x, p.in_act(op, 0));
  SCV_ASSIGN_OR_RETURN(Act y, p.make_act(op.outputs[0]));
  if (!x.f32 && (x.scale != y.scale || x.zp != y.zp))
    return error(p.who(), ": input and output quantization differ");
  y.storage = x.storage;  // same bytes, new shape
  SCV_TRY(p.use(op.inputs[0]));
  return p.define(op.outputs[0], std::move(y));
}

}  // namespace
}  // namespace quant

SCV_QOPDEF(Reshape, "RESHAPE", OpType::Reshape, quant::infer_reshape, quant::plan_reshape, nullptr);
SCV_QOPDEF(Squeeze, "SQUEEZE", OpType::Reshape, quant::infer_reshape, quant::plan_reshape, nullptr);

}  // namespace scv
