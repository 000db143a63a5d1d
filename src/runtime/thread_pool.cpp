#include "scratchcv/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SCV_CPU_RELAX() _mm_pause()
#else
#define SCV_CPU_RELAX() ((void)0)
#endif

namespace scv {

int default_num_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int ith) {
  using Clock = std::chrono::steady_clock;
  uint64_t seen = 0;
  for (;;) {
    // Spin a little: the next step usually follows within microseconds.
    uint64_t g = generation_.load(std::memory_order_acquire);
    const auto spin_end = Clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int i = 0; g == seen; ++i) {
      SCV_CPU_RELAX();
      if ((i & 255) == 255 && Clock::now() > spin_end) {
        std::unique_lock<std::mutex> lock(mu_);
        ++sleepers_;
        cv_start_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        --sleepers_;
      }
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    (*task_)(ith, num_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  bool expected = false;
  if (num_threads_ == 1 || !busy_.compare_exchange_strong(expected, true)) {
    // Single thread, or a nested call from inside a task: run serially on this thread.
    for (int i = 0; i < num_threads_; ++i) fn(i, num_threads_);
    return;
  }
  task_ = &fn;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  bool wake = false;
  {
    // Publishing under the lock means a worker about to sleep either sees the new generation
    // or is already counted in sleepers_ and gets the notification.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleepers_ > 0;
  }
  if (wake) cv_start_.notify_all();
  fn(0, num_threads_);
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
    SCV_CPU_RELAX();
    if ((i & 1023) == 1023) sched_yield();  // a descheduled worker needs the core back
  }
  task_ = nullptr;
  busy_.store(false);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  run([&](int ith, int nth) {
    const int64_t chunk = (n + nth - 1) / nth;
    const int64_t b = std::min<int64_t>(n, ith * chunk), e = std::min<int64_t>(n, b + chunk);
    if (b < e) fn(b, e);
  });
}

static std::unique_ptr<ThreadPool>& global_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}

ThreadPool& ThreadPool::global() {
  auto& p = global_slot();
  if (!p) p = std::make_unique<ThreadPool>(default_num_threads());
  return *p;
}

void ThreadPool::set_global_threads(int n) {
  auto& p = global_slot();
  if (p && p->num_threads() == std::max(1, n)) return;
  p = std::make_unique<ThreadPool>(n);
}

}  // namespace scv
