// The explain pass's memory (see arena.h).
#include "explain/arena.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace scv::explain {

// alloc_floats maps buffers of 2 MiB and more (zeroed by the kernel, huge-page advised).
static_assert(kArenaChunkBytes >= (int64_t(2) << 20), "chunks must be mapped memory");

float* Arena::take(int64_t* cap, bool* fresh) {
  std::lock_guard<std::mutex> lock(mu_);
  // A released buffer at most twice the size: shapes repeat from one backward pass to the
  // next, and within one most gradients have the shape of one released a few nodes earlier.
  if (auto it = free_.lower_bound(*cap); it != free_.end() && it->first <= 2 * *cap) {
    float* p = it->second;
    *cap = it->first;
    free_.erase(it);
    *fresh = false;
    return p;
  }
  *fresh = true;
  if (*cap > left_) {
    const int64_t floats = std::max<int64_t>(*cap, kArenaChunkBytes / int64_t(sizeof(float)));
    auto chunk = alloc_floats(floats, /*zero=*/false);
    if (!chunk.ok()) throw std::bad_alloc();
    next_ = chunk->get();
    left_ = floats;
    mapped_ += floats * int64_t(sizeof(float));
    chunks_.push_back(std::move(*chunk));
  }
  float* p = next_;
  next_ += *cap;
  left_ -= *cap;
  return p;
}

void Arena::give_back(float* p, int64_t cap) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace(cap, p);
}

Tensor Arena::tensor(Shape shape, bool zero) {
  const int64_t n = shape_numel(shape);
  // n floats and the 16-float (64-byte) tail pad, rounded to 64 bytes: buffers stay aligned.
  int64_t cap = (n + 16 + 15) / 16 * 16;
  bool fresh = false;
  float* p = take(&cap, &fresh);
  if (!fresh) std::memset(zero ? p : p + n, 0, sizeof(float) * size_t(zero ? cap : cap - n));
  std::shared_ptr<const void> owner(p, [self = shared_from_this(), cap](const void* q) {
    self->give_back(static_cast<float*>(const_cast<void*>(q)), cap);
  });
  return Tensor::view(std::move(shape), p, std::move(owner));
}

int64_t Arena::mapped_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mapped_;
}

}  // namespace scv::explain
