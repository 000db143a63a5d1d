// TFLite models: a hand-written, bounds-checked reader of the .tflite FlatBuffer format.
//
// A .tflite file is one FlatBuffer (schema: tensorflow/lite/schema/schema.fbs, version 3):
//   Model { version, operator_codes[], subgraphs[], description, buffers[] }
//   SubGraph { tensors[], inputs[], outputs[], operators[], name }
//   Tensor { shape[], type, buffer, name, quantization { scale[], zero_point[],
//            quantized_dimension } }
//   Operator { opcode_index, inputs[], outputs[], builtin_options (a union table) }
// The reader checks every offset, vtable, vector length and string against the file size before
// it reads, so a corrupt file gives an error Status, never an out-of-bounds read. Only the first
// subgraph is read (image classifiers have one). Constant tensor data stays a view into the
// file bytes, which the Model keeps alive.
//
// What is read is what the quantized engine (scratchcv/qsession.h) needs; operators are kept by
// their builtin code, so an unsupported one is reported by the engine with its name and index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv {
class MappedFile;
}

namespace scv::tflite {

// TensorType in the schema: values 0 (f32) to 9 (i8), in schema order.
enum class DType : int8_t { f32 = 0, f16, i32, u8, i64, str, boolean, i16, c64, i8 };
const char* dtype_name(DType t);
// Bytes per element; 0 for types without a fixed size (string).
size_t dtype_size(DType t);

// Quantization: real = scale * (q - zero_point). One scale/zero point per tensor, or one per
// slice along `axis` (per-channel weights).
struct Quant {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int axis = 0;
  bool present() const { return !scale.empty(); }
  bool per_channel() const { return scale.size() > 1; }
};

struct TensorInfo {
  std::string name;
  std::vector<int32_t> shape;  // NHWC for activations, OHWI for conv filters
  DType type = DType::f32;
  uint32_t buffer = 0;
  const uint8_t* data = nullptr;  // constant data (a view into the file), or null
  size_t data_size = 0;
  Quant q;
  int64_t numel() const;
};

// BuiltinOperator codes the engine knows (schema values).
enum BuiltinOp : int32_t {
  kAdd = 0,
  kAveragePool2d = 1,
  kConcatenation = 2,
  kConv2d = 3,
  kDepthwiseConv2d = 4,
  kDequantize = 6,
  kFullyConnected = 9,
  kMaxPool2d = 17,
  kRelu = 19,
  kReluN1To1 = 20,
  kRelu6 = 21,
  kReshape = 22,
  kSoftmax = 25,
  kPad = 34,
  kMean = 40,
  kSqueeze = 43,
  kQuantize = 114,
};
// Name of a builtin operator code ("CONV_2D"), or "builtin op <code>" for codes not listed.
std::string builtin_op_name(int32_t code);

enum class Padding : int8_t { same = 0, valid = 1 };
// ActivationFunctionType, values 0 (none) to 5 (sign_bit); tanh and sign_bit are read but the
// engine refuses them.
enum class Activation : int8_t { none = 0, relu, relu_n1_to_1, relu6, tanh, sign_bit };

// One operator with the options of its kind (fields other kinds do not use keep defaults).
struct OpInfo {
  int32_t code = 0;         // builtin code (max of the deprecated and the new field)
  std::string custom_code;  // for CUSTOM ops
  int32_t version = 1;
  std::vector<int32_t> inputs, outputs;  // tensor indices; -1 = optional input absent
  Padding padding = Padding::same;
  int32_t stride_w = 1, stride_h = 1, dilation_w = 1, dilation_h = 1;
  int32_t depth_multiplier = 1, filter_w = 1, filter_h = 1;
  Activation activation = Activation::none;
  float beta = 1.0f;       // SOFTMAX
  int32_t axis = 0;        // CONCATENATION
  bool keep_dims = false;  // MEAN, FULLY_CONNECTED (keep_num_dims)
  std::vector<int32_t> squeeze_dims, new_shape;
};

struct Model {
  uint32_t version = 0;
  std::string description;
  std::vector<TensorInfo> tensors;
  std::vector<OpInfo> ops;
  std::vector<int32_t> inputs, outputs;
  // Keeps the bytes that TensorInfo::data points into.
  std::shared_ptr<const void> storage;
};

// True if the bytes look like a TFLite FlatBuffer: the file identifier "TFL3" at offset 4.
bool is_tflite(const uint8_t* data, size_t size);

// Parses a .tflite held in memory. Tensor data points into `data`, which must outlive the Model
// (parse_tflite_copy / load_tflite keep their own storage). Errors say what was expected and
// where: "tflite: tensor 12 'conv/weights': buffer 40 holds 100 bytes, shape [8,3,3,3] of UINT8
// needs 216".
Result<Model> parse_tflite(const uint8_t* data, size_t size);
// Reads (maps) the file and parses it; errors are prefixed with the path.
Result<Model> load_tflite(const std::string& path);

}  // namespace scv::tflite
