// The quantized rows of the op list: every TFLite operator the quantized engine runs, with the
// fp32 op of SCV_OP_LIST it is a quantized variant of (where one exists), bound once in
// src/ops/registry.cpp beside the fp32 table.
//
// A quantized op lives in its family's folder beside the fp32 one (CONV_2D in
// src/ops/conv/conv_q.cpp, ADD in src/ops/eltwise/add_q.cpp, ...), which defines one row
// `kQOpDef<Name>` with SCV_QOPDEF (a missing definition is a link error). A QOpDef carries:
//   - tflite: the TFLite builtin operator code it maps (the TFLite loader keeps no list of its
//             own: QSession looks every operator up here);
//   - infer:  the shape rule, also every validity check of the operator's tensors: the output
//             shape the operator gives for its inputs and options (the session checks the
//             file's output shape against it);
//   - ref:    the reference plan: steps that run the reference kernels (ops/quant/qkernels.h:
//             TFLite's integer arithmetic, the oracle of the fast ones);
//   - plan:   the fast plan (packing for the bound ISA's kernels), or nullptr: the reference
//             plan is used on every ISA.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "scratchcv/graph.h"
#include "scratchcv/status.h"
#include "scratchcv/tflite.h"

namespace scv {

namespace quant {
class QPlanner;
}

// X(Name): the quantized ops; each op file defines kQOpDef<Name> (with its TFLite code).
#define SCV_QOP_LIST(X) \
  X(Conv2d)             \
  X(DepthwiseConv2d)    \
  X(FullyConnected)     \
  X(Add)                \
  X(AveragePool2d)      \
  X(MaxPool2d)          \
  X(Mean)               \
  X(Reshape)            \
  X(Squeeze)            \
  X(Softmax)            \
  X(Quantize)           \
  X(Dequantize)         \
  X(Concatenation)      \
  X(Pad)

enum class QOpType {
#define SCV_QOP_ENUM(name) name,
  SCV_QOP_LIST(SCV_QOP_ENUM)
#undef SCV_QOP_ENUM
};

#define SCV_QOP_COUNT(name) +1
inline constexpr int kQOpCount = 0 SCV_QOP_LIST(SCV_QOP_COUNT);
#undef SCV_QOP_COUNT

struct QOpDef {
  QOpType op;
  const char* name;  // the TFLite name, "CONV_2D"
  int32_t tflite;    // TFLite builtin operator code
  // The fp32 op it is a quantized variant of; none for quantized-only ops (QUANTIZE, PAD...).
  std::optional<OpType> float_op;
  // The output shape of `op` (validating its inputs and options); errors name p.who().
  Result<std::vector<int32_t>> (*infer)(const quant::QPlanner& p, const tflite::OpInfo& op);
  Status (*ref)(quant::QPlanner& p, const tflite::OpInfo& op);
  Status (*plan)(quant::QPlanner& p, const tflite::OpInfo& op);  // nullptr: ref on every ISA
};

// Every quantized row, kQOpDef<Name>, declared here and defined in its folder with SCV_QOPDEF.
#define SCV_QOP_DECLARE(name) extern const QOpDef kQOpDef##name;
SCV_QOP_LIST(SCV_QOP_DECLARE)
#undef SCV_QOP_DECLARE

// Defines the row of quantized op Name (QOpType::Name, TFLite code tflite::k<Name>), the op's
// name written once besides its TFLite spelling, e.g.
//   SCV_QOPDEF(Softmax, "SOFTMAX", OpType::Softmax, quant::infer_softmax, quant::plan_softmax,
//              nullptr);
// float_op is the fp32 op (or std::nullopt); infer, ref and plan as in QOpDef.
#define SCV_QOPDEF(Name, tflite_name, float_op_, infer_fn, ref_fn, plan_fn) \
  const QOpDef kQOpDef##Name = {.op = QOpType::Name,                        \
                                .name = tflite_name,                        \
                                .tflite = tflite::k##Name,                  \
                                .float_op = float_op_,                      \
                                .infer = infer_fn,                          \
                                .ref = ref_fn,                              \
                                .plan = plan_fn}

const QOpDef& qop_def(QOpType op);
std::span<const QOpDef* const> all_qops();
// The quantized op of a TFLite builtin code, or nullptr.
const QOpDef* find_tflite_op(int32_t code);

}  // namespace scv
