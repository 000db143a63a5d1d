// Memory of the explain pass (src/explain): the activations of a trace and the gradients of its
// backward passes come from one arena instead of one allocation each.
//
// Why: a fresh allocation per value is mapped page by page on first touch, and the plain
// Tensor constructor zero-fills it on one thread first. On the bundled MobileNetV2 that was
// ~25% of explain's CPU time (perf, one thread: page faults 26%, memset 3.5%). Here memory comes
// in chunks of kArenaChunkBytes marked for transparent huge pages (one fault per 2 MiB instead of
// 512), and a released tensor's buffer goes back to a free list, so the gradients of the next
// backward pass (the same shapes) reuse memory that is already mapped.
//
// A tensor from the arena is a Tensor::view whose owner returns the buffer when the last copy
// of the tensor goes; the views keep the arena alive, so they may outlive whoever made them.
// Buffers are 64-byte aligned with 64 readable bytes past the end (SIMD tails). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/plan.h"
#include "scratchcv/tensor.h"

namespace scv::explain {

// 16 MiB: MobileNetV2's trace (~90 MB of activations at 224 x 224) takes a handful of chunks;
// a tensor larger than a chunk gets a mapping of its own.
constexpr int64_t kArenaChunkBytes = int64_t(16) << 20;

class Arena : public std::enable_shared_from_this<Arena> {
 public:
  static std::shared_ptr<Arena> make() { return std::shared_ptr<Arena>(new Arena()); }

  // A tensor of `shape` on arena memory: zero-filled when `zero`, else its elements are
  // unspecified (for outputs the caller writes in full). Throws std::bad_alloc when memory
  // runs out, as the Tensor constructor does.
  Tensor tensor(Shape shape, bool zero);

  int64_t mapped_bytes() const;  // memory held (all chunks), for tests and diagnostics

 private:
  Arena() = default;
  // A buffer of at least *cap floats; *cap becomes its real capacity. *fresh: never used, so
  // it reads as zeros (a fresh mapping).
  float* take(int64_t* cap, bool* fresh);
  void give_back(float* p, int64_t cap);

  mutable std::mutex mu_;
  std::vector<Floats> chunks_;
  int64_t mapped_ = 0;                   // bytes in chunks_
  float* next_ = nullptr;                // bump pointer into the last chunk
  int64_t left_ = 0;                     // floats left after next_
  std::multimap<int64_t, float*> free_;  // released buffers by capacity (floats)
};

}  // namespace scv::explain
