#include "scratchcv/tensor.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

namespace scv {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

namespace {
template <typename T>
std::string dims_str(const std::vector<T>& s, const char* sep) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? sep : "") << s[i];
  os << ']';
  return os.str();
}
}  // namespace

std::string shape_str(const Shape& s) {
  return dims_str(s, ", ");
}
std::string shape_str(const std::vector<int32_t>& s) {
  return dims_str(s, ",");
}

void* aligned_alloc64(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  return std::aligned_alloc(64, rounded);
}

void aligned_free(void* p) {
  std::free(p);
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)), numel_(shape_numel(shape_)) {
  assert(numel_ >= 0);
  const size_t bytes = static_cast<size_t>(numel_) * sizeof(float) + 64;  // +64: SIMD tail pad
  float* p = static_cast<float*>(aligned_alloc64(bytes));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  storage_.reset(p, [](float* q) { aligned_free(q); });
  data_ = p;
}

Tensor::Tensor(Shape shape, std::initializer_list<float> values) : Tensor(std::move(shape)) {
  assert(static_cast<int64_t>(values.size()) == numel_);
  std::memcpy(data_, values.begin(), values.size() * sizeof(float));
}

Tensor Tensor::uninitialized(Shape shape) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  assert(t.numel_ >= 0);
  const size_t payload = static_cast<size_t>(t.numel_) * sizeof(float);
  float* p = static_cast<float*>(aligned_alloc64(payload + 64));  // +64: SIMD tail pad
  if (!p) throw std::bad_alloc();
  std::memset(reinterpret_cast<char*>(p) + payload, 0, 64);
  t.storage_.reset(p, [](float* q) { aligned_free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::view(Shape shape, const float* data, std::shared_ptr<const void> owner) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  assert(t.numel_ >= 0 && data != nullptr);
  float* p = const_cast<float*>(data);  // read-only memory stays read-only: see tensor.h
  // Aliasing constructor: shares ownership of `owner`, points at `data`.
  t.storage_ = std::shared_ptr<float>(std::move(owner), p);
  t.data_ = p;
  return t;
}

Tensor Tensor::from_data(Shape shape, const float* data) {
  Tensor t = uninitialized(std::move(shape));
  if (t.numel_) std::memcpy(t.data_, data, static_cast<size_t>(t.numel_) * sizeof(float));
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(shape_numel(shape) == numel_);
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!storage_) return Tensor();
  return from_data(shape_, data_);
}

}  // namespace scv
