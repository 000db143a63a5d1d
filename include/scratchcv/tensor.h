// Tensor: a float32 n-d array with shared, 64-byte-aligned storage.
//
// Layout is row-major ("C order"); for images and activations that is NCHW. Copies of a Tensor
// share storage (like a shared_ptr); clone() makes a deep copy. Storage is zero-initialised and
// padded by 64 bytes so SIMD tails may over-read safely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace scv {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for a scalar shape {}).
int64_t shape_numel(const Shape& s);
// "[1, 3, 224, 224]"
std::string shape_str(const Shape& s);
// "[1,224,224,3]": TFLite's int32 shapes, written without spaces.
std::string shape_str(const std::vector<int32_t>& s);

// 64-byte aligned allocation for SIMD; free with aligned_free. Returns nullptr on failure.
void* aligned_alloc64(size_t bytes);
void aligned_free(void* p);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape);  // zero-filled
  Tensor(Shape shape, std::initializer_list<float> values);
  static Tensor from_data(Shape shape, const float* data);  // copies numel(shape) floats
  // Fresh storage whose elements are NOT initialised (the 64-byte tail pad is zeroed): only for
  // callers that overwrite every element at once, e.g. copies.
  static Tensor uninitialized(Shape shape);
  // A tensor over memory it does not own (e.g. a read-only file mapping): no copy. `owner` is
  // kept alive while any copy of the tensor lives and released with the last one. `data` must
  // be 4-byte aligned with numel(shape) floats plus 64 readable bytes after them (SIMD tails).
  // When the memory is read-only, writing through data() crashes: clone() before modifying.
  static Tensor view(Shape shape, const float* data, std::shared_ptr<const void> owner);

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return numel_; }
  bool empty() const { return storage_ == nullptr; }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }

  // Same storage, new shape (numel must match).
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;

 private:
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<float> storage_;
  float* data_ = nullptr;
};

}  // namespace scv
