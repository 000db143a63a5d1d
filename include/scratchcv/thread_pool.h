// ThreadPool: one persistent pool of worker threads; kernels never start threads.
//
// parallel_for(n, fn) splits [0, n) into contiguous chunks (up to kChunksPerThread per thread)
// and calls fn(begin, end) for each; run(fn) calls fn(ith, nth) for every ith in [0, nth). The
// chunks (or ith values) are claimed one at a time by the calling thread and the workers, so a
// thread slowed down by another process on its core takes fewer of them; each is run exactly
// once, by one thread. Both return when all are done and never allocate after construction.
// Not re-entrant: a task must not call back into the same pool (it runs the nested call
// serially instead).
//
// Who owns a pool: whoever runs (a Session, the trainer, the CV calls through global()); the
// thread count comes from the one rule below (choose_threads), which every command's
// --threads option goes through.
//
// Hand-off: a network runs ~60 short parallel steps per image (0.1-2 ms each), so waking a
// sleeping thread per step (a futex wake-up costs ~100 us on a virtual machine) would eat a
// large share of the time. Workers therefore wait on an atomic generation counter after each
// task: a pure spin for kPureSpinMicros, then spinning with sched_yield() (a core shared with
// another runnable thread is handed over instead of burnt) until kSpinMicros, then they sleep
// on a condition variable. The caller waits for the last worker the same way, without the
// sleep. A step hand-off costs ~1 us while work keeps coming, and an oversubscribed or
// contended machine degrades gracefully instead of spinning against the threads doing work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scratchcv/status.h"

namespace scv {

class ThreadPool {
 public:
  // num_threads: total threads including the caller. spin_micros: how long an idle worker
  // waits for the next task before it sleeps; a caller with long serial stretches between its
  // parallel steps (explain draws pictures between passes) burns less CPU with a shorter one.
  explicit ThreadPool(int num_threads = 1, int spin_micros = kSpinMicros);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // fn(ith, nth) for every ith in [0, nth), nth = num_threads().
  void run(const std::function<void(int ith, int nth)>& fn);
  // fn(begin, end) over contiguous chunks covering [0, n), at most num_threads() *
  // kChunksPerThread of them.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // The process-wide pool of the CV calls (src/cv); set_global_threads() resizes it (not while
  // it is running work). Sessions and the trainer own their pools.
  static ThreadPool& global();
  static void set_global_threads(int n);

  // How long an idle worker spins without yielding, then in all before it sleeps (default).
  static constexpr int kPureSpinMicros = 50;
  static constexpr int kSpinMicros = 2000;
  // parallel_for cuts [0, n) into up to this many chunks per thread.
  static constexpr int kChunksPerThread = 4;
  // Adaptive hand-off (see account()): jobs per measuring window, jobs then run alone.
  static constexpr int kWindowJobs = 32;
  static constexpr int kSoloJobs = 512;

 private:
  void worker(int ith);
  // Runs fn(i, n) for every i in [0, n), the items claimed one by one by the caller and the
  // workers; when it runs on the calling thread alone, (*serial)() instead if given.
  void run_items(int n, const std::function<void(int, int)>& fn,
                 const std::function<void()>* serial = nullptr);
  int claim_items();  // returns how many items this thread ran
  void account(int n, int mine, double busy_ns, double wait_ns);
  static constexpr int kClosed = 1 << 30;  // bit of inside_: the job takes no more workers

  int num_threads_;
  int spin_micros_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  int items_ = 0;
  std::atomic<int> next_{0};          // next item to claim
  std::atomic<int> done_{0};          // items finished
  std::atomic<int> inside_{kClosed};  // workers inside the job, | kClosed once it is closed
  // Caller-side measures of the adaptive hand-off (touched only by the thread holding busy_).
  double window_net_ns_ = 0;
  int window_jobs_ = 0;
  int solo_jobs_ = 0;
  std::atomic<bool> stop_{false};
  int sleepers_ = 0;  // guarded by mu_
  std::atomic<bool> busy_{false};
};

// CPUs this process may use: the affinity mask (sched_getaffinity), lowered to the cgroup CPU
// quota when one is set (cgroup v2 cpu.max or v1 cfs_quota_us/cfs_period_us, rounded up).
int usable_cpus();
// Default thread count: usable_cpus().
int default_num_threads();

// The --threads rule of every command. text: the option's value, "" when it was not given.
// "" -> usable_cpus(); a positive integer n -> n, or usable_cpus() when n is larger, with
// *warning set to one line saying so; anything else (0, negative, not a number) -> an error
// naming the option (a usage error for the CLI).
Result<int> choose_threads(const std::string& text, std::string* warning);

}  // namespace scv
