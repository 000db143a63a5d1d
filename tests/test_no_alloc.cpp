// Session::run() performs no heap allocation: this test binary replaces the global operator new
// and counts calls while run() executes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "scratchcv/model.h"
#include "session_test_util.h"

// The replacements below pair malloc with free on purpose; GCC cannot see that both sides are
// ours once operator new is inlined into a caller, and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Every other replaceable form too, so that no allocation escapes the count and every
// allocation is released by the matching function (AddressSanitizer checks the pairing).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return operator new(n, a);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace scv {
namespace {

long allocations_during_run(const SessionOptions& o, const Shape& shape) {
  static const Graph g = testing::random_resnet("resnet18", 1);
  auto s = Session::create(g, shape, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  const Tensor in = testing::random_tensor(shape, 1);
  std::vector<float> out(shape_numel((*s)->output_shape()));
  EXPECT_TRUE((*s)->run(in.data(), out.data()).ok());  // warm: pool threads started
  g_allocs = 0;
  g_counting = true;
  for (int i = 0; i < 3; ++i) {
    Status st = (*s)->run(in.data(), out.data());
    EXPECT_TRUE(st.ok());
  }
  g_counting = false;
  return g_allocs.load();
}

TEST(NoAlloc, RunDoesNotAllocate) {
  for (Isa isa : testing::available_isas())
    for (int threads : {1, 2})
      for (bool blocked : {true, false}) {
        SessionOptions o;
        o.isa = isa;
        o.threads = threads;
        o.blocked = blocked;
        EXPECT_EQ(allocations_during_run(o, {2, 3, 48, 48}), 0)
            << isa_name(isa) << " threads=" << threads << " blocked=" << blocked;
      }
}

// The counter works: the "no pre-packing" ladder step allocates on every run by design.
TEST(NoAlloc, CounterSeesTheNoPrepackStep) {
  if (best_isa() == Isa::ref) GTEST_SKIP() << "no SIMD ISA on this CPU: no no-prepack path";
  SessionOptions o;
  o.prepack = false;
  o.blocked = false;
  EXPECT_GT(allocations_during_run(o, {1, 3, 48, 48}), 0);
}

}  // namespace
}  // namespace scv
