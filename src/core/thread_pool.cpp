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

ThreadPool::ThreadPool(int num_threads, int spin_micros)
    : num_threads_(std::max(1, num_threads)), spin_micros_(std::max(kPureSpinMicros, spin_micros)) {
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

void ThreadPool::worker(int) {
  using Clock = std::chrono::steady_clock;
  uint64_t seen = 0;
  for (;;) {
    // Spin a little: the next step usually follows within microseconds. Past the pure spin,
    // yield on every check (a contended core goes to whoever has work), then sleep.
    uint64_t g = generation_.load(std::memory_order_acquire);
    const auto start = Clock::now();
    const auto pure_end = start + std::chrono::microseconds(kPureSpinMicros);
    const auto spin_end = start + std::chrono::microseconds(spin_micros_);
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
    // Enter the job unless the caller has closed it (all items done): a worker that wakes late
    // must not touch a task that has returned.
    int in = inside_.load(std::memory_order_relaxed);
    do {
      if (in & kClosed) break;
    } while (!inside_.compare_exchange_weak(in, in + 1, std::memory_order_acquire,
                                            std::memory_order_relaxed));
    if (in & kClosed) continue;
    claim_items();
    inside_.fetch_sub(1, std::memory_order_release);
  }
}

int ThreadPool::claim_items() {
  const int n = items_;
  int count = 0;
  for (int i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n; ++count) {
    (*task_)(i, n);
    done_.fetch_add(1, std::memory_order_release);
  }
  return count;
}

void ThreadPool::account(int n, int mine, double busy_ns, double wait_ns) {
  // What the workers saved the caller (their items at the caller's pace) minus what waiting for
  // them cost. A worker on a core shared with a busy process can be descheduled holding an
  // item; when that costs more than the workers give over a window of jobs, the next kSoloJobs
  // jobs run on the calling thread alone (the idle workers go to sleep, which also lets the
  // scheduler move the caller to a free core), then the workers are tried again.
  const double gain = mine > 0 ? busy_ns * (n - mine) / mine : 0.0;
  window_net_ns_ += gain - wait_ns;
  if (++window_jobs_ < kWindowJobs) return;
  if (window_net_ns_ < 0) solo_jobs_ = kSoloJobs;
  window_net_ns_ = 0;
  window_jobs_ = 0;
}

void ThreadPool::run_items(int n, const std::function<void(int, int)>& fn,
                           const std::function<void()>* serial) {
  auto run_serially = [&] {
    if (serial) {
      (*serial)();
    } else {
      for (int i = 0; i < n; ++i) fn(i, n);
    }
  };
  bool expected = false;
  if (num_threads_ == 1 || n == 1 || !busy_.compare_exchange_strong(expected, true)) {
    // Single thread, or a nested call from inside a task: run serially on this thread.
    run_serially();
    return;
  }
  if (solo_jobs_ > 0) {
    --solo_jobs_;
    run_serially();
    busy_.store(false);
    return;
  }
  task_ = &fn;
  items_ = n;
  next_.store(0, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  inside_.store(0, std::memory_order_release);  // open the job
  bool wake = false;
  {
    // Publishing under the lock means a worker about to sleep either sees the new generation
    // or is already counted in sleepers_ and gets the notification.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleepers_ > 0;
  }
  if (wake) cv_start_.notify_all();
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int mine = claim_items();
  const auto t1 = Clock::now();
  // Wait for the items other threads claimed: a pure spin, then yield on every check (a
  // descheduled worker may need this core back). Then close the job and wait for the workers
  // still inside it (they find nothing left to claim).
  const auto pure_end = t1 + std::chrono::microseconds(kPureSpinMicros);
  bool yielding = false;
  auto wait_until = [&](auto&& ready) {
    for (int i = 0; !ready(); ++i) {
      if (yielding) {
        sched_yield();
        continue;
      }
      SCV_CPU_RELAX();
      if ((i & 63) == 63) yielding = Clock::now() > pure_end;
    }
  };
  wait_until([&] { return done_.load(std::memory_order_acquire) == n; });
  const auto t2 = Clock::now();
  inside_.fetch_or(kClosed, std::memory_order_acq_rel);
  wait_until([&] { return (inside_.load(std::memory_order_acquire) & ~kClosed) == 0; });
  task_ = nullptr;
  using ns = std::chrono::duration<double, std::nano>;
  account(n, mine, ns(t1 - t0).count(), ns(t2 - t1).count());
  busy_.store(false);
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  run_items(num_threads_, fn);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  // More chunks than threads, claimed one at a time: a thread that runs slower (a core shared
  // with another process) takes fewer of them instead of holding everyone up. On the calling
  // thread alone (a nested call, or the workers left out for a while) they are one fn(0, n).
  const int64_t chunks = std::min<int64_t>(n, int64_t{num_threads_} * kChunksPerThread);
  const std::function<void()> whole = [&] { fn(0, n); };
  run_items(
      static_cast<int>(chunks),
      [&](int i, int nc) {
        const int64_t b = n * i / nc, e = n * (i + 1) / nc;
        if (b < e) fn(b, e);
      },
      &whole);
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
