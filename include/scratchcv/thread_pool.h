// ThreadPool: one persistent pool of worker threads; kernels never start threads.
//
// parallel_for(n, fn) splits [0, n) into contiguous chunks, calls fn(begin, end) on the workers
// (the calling thread takes part) and returns when all are done. run(nth, fn) calls fn(ith, nth)
// for ith in [0, nth). Neither allocates after construction. Not re-entrant: a task must not
// call back into the same pool (it runs the nested call serially instead).
//
// Hand-off: a network runs ~60 short parallel steps per image (0.1-2 ms each), so waking a
// sleeping thread per step (a futex wake-up costs ~100 us on a virtual machine) would eat a
// large share of the time. Workers therefore spin on an atomic generation counter for a short
// while after each task (kSpinMicros) before they sleep on a condition variable, and the caller
// spins while it waits for the last worker: a step hand-off costs ~1 us while work keeps coming.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace scv {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads = 1);  // total threads including the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // fn(ith, nth) for every ith in [0, nth), nth = num_threads().
  void run(const std::function<void(int ith, int nth)>& fn);
  // fn(begin, end) over contiguous chunks covering [0, n); at most num_threads() chunks.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // A process-wide pool; set_global_threads() resizes it (not while it is running work).
  static ThreadPool& global();
  static void set_global_threads(int n);

  // How long an idle worker keeps spinning before it sleeps.
  static constexpr int kSpinMicros = 2000;

 private:
  void worker(int ith);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  int sleepers_ = 0;  // guarded by mu_
  std::atomic<bool> busy_{false};
};

// Default thread count: the number of CPUs this process may use.
int default_num_threads();

}  // namespace scv
