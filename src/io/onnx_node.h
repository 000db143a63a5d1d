// What an op's ONNX mapping (OpDef::onnx.read, in the op's folder) may read of one ONNX node.
// The ONNX loader (src/io/onnx.cpp) implements it; every attribute a mapping does not read (or
// ignore()) is reported as unsupported, and every message names the node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"
#include "scratchcv/tensor.h"

namespace scv {

class OnnxNodeReader {
 public:
  virtual ~OnnxNodeReader() = default;
  virtual int64_t opset() const = 0;  // of the default domain
  // Attributes: left unchanged when absent; an error when present with another type.
  virtual Status get_int(const char* name, int64_t* v) = 0;
  virtual Status get_bool(const char* name, bool* v) = 0;  // an int that must be 0 or 1
  virtual Status get_float(const char* name, float* v) = 0;
  virtual Status get_ints(const char* name, std::vector<int64_t>* v) = 0;
  virtual Status get_string(const char* name, std::string* v) = 0;
  virtual bool has(const char* name) const = 0;
  // Marks an attribute as understood without reading it (e.g. BatchNorm's momentum).
  virtual void ignore(const char* name) = 0;
  // Inputs (trailing omitted ones not counted) and non-empty outputs of the node.
  virtual size_t input_count() const = 0;
  virtual size_t output_count() const = 0;
  // The float constant feeding input k (initializer or Constant), or nullptr.
  virtual const Tensor* const_input(size_t k) = 0;
  // Folds constant integer input k (e.g. Reshape's shape) into *v: it is then not a data input
  // of the graph node. An error naming the input when it is not a constant 1-D integer tensor.
  virtual Status fold_ints(size_t k, std::vector<int64_t>* v) = 0;
  // An error prefixed with the node's name and op_type.
  virtual Status fail_msg(const std::string& msg) const = 0;
  template <typename... Args>
  Status fail(const Args&... args) const {
    return fail_msg(str(args...));
  }
};

}  // namespace scv
