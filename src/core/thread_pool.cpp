#include "scratchcv/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SCV_CPU_RELAX() _mm_pause()
#else
#define SCV_CPU_RELAX() ((void)0)
#endif

namespace scv {

namespace {

// CPUs granted by the cgroup quota (rounded up), or 0 when there is none.
int cgroup_quota_cpus() {
  double quota = -1, period = -1;
  if (std::FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {  // v2: "max 100000"
    char q[32] = {};
    long p = 0;
    if (std::fscanf(f, "%31s %ld", q, &p) == 2 && std::strcmp(q, "max") != 0) {
      quota = std::atof(q);
      period = static_cast<double>(p);
    }
    std::fclose(f);
  } else if (std::FILE* fq = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) {  // v1
    long q = -1, p = -1;
    if (std::fscanf(fq, "%ld", &q) != 1) q = -1;
    std::fclose(fq);
    if (std::FILE* fp = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) {
      if (std::fscanf(fp, "%ld", &p) != 1) p = -1;
      std::fclose(fp);
    }
    quota = static_cast<double>(q);
    period = static_cast<double>(p);
  }
  if (quota <= 0 || period <= 0) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

}  // namespace

int usable_cpus() {
  static const int n = [] {
    int cpus = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
    const int quota = cgroup_quota_cpus();
    if (quota > 0 && quota < cpus) cpus = quota;
    return std::max(1, cpus);
  }();
  return n;
}

int default_num_threads() {
  return usable_cpus();
}

Result<int> choose_threads(const std::string& text, std::string* warning) {
  const int cpus = usable_cpus();
  if (text.empty()) return cpus;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE || n < 1)
    return error("--threads expects a positive integer (1..", cpus, " usable CPUs), got '", text,
                 "'");
  if (n > cpus) {
    *warning = str("--threads ", text, " is more than the ", cpus,
                   " usable CPUs (affinity mask and CPU quota); using ", cpus);
    return cpus;
  }
  return static_cast<int>(n);
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
    // Spin a little: the next step usually follows within microseconds. Past the pure spin,
    // yield on every check (a contended core goes to whoever has work), then sleep.
    uint64_t g = generation_.load(std::memory_order_acquire);
    const auto start = Clock::now();
    const auto pure_end = start + std::chrono::microseconds(kPureSpinMicros);
    const auto spin_end = start + std::chrono::microseconds(kSpinMicros);
    bool yielding = false;
    for (int i = 0; g == seen; ++i) {
      if (yielding) {
        sched_yield();
      } else {
        SCV_CPU_RELAX();
      }
      if ((yielding || (i & 63) == 63)) {
        const auto now = Clock::now();
        yielding = now > pure_end;
        if (now > spin_end) {
          std::unique_lock<std::mutex> lock(mu_);
          ++sleepers_;
          cv_start_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          --sleepers_;
        }
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
  // Wait for the last worker: a pure spin, then yield on every check (a descheduled worker
  // may need this core back).
  const auto pure_end =
      std::chrono::steady_clock::now() + std::chrono::microseconds(kPureSpinMicros);
  bool yielding = false;
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
    if (yielding) {
      sched_yield();
      continue;
    }
    SCV_CPU_RELAX();
    if ((i & 63) == 63) yielding = std::chrono::steady_clock::now() > pure_end;
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
