// ThreadPool: every index covered exactly once, for any thread count; thousands of back-to-back
// hand-offs (the spinning path) and hand-offs after the workers went to sleep (the condition
// variable path) lose nothing; nested calls run serially.
#include "scratchcv/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

void expect_covers(scv::ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    ASSERT_LE(0, b);
    ASSERT_LT(b, e);
    ASSERT_LE(e, n);
    for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
}

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4}) {
    scv::ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {1, 2, 3, 7, 13, 127, 1000}) expect_covers(pool, n);
  }
}

TEST(ThreadPool, RunCallsEveryThreadIndex) {
  scv::ThreadPool pool(3);
  std::atomic<int> mask{0};
  pool.run([&](int ith, int nth) {
    EXPECT_EQ(nth, 3);
    mask.fetch_or(1 << ith);
  });
  EXPECT_EQ(mask.load(), 0b111);
}

TEST(ThreadPool, ManyBackToBackHandOffs) {
  scv::ThreadPool pool(2);
  int64_t total = 0;
  std::atomic<int64_t> sum{0};
  for (int r = 0; r < 20000; ++r) {
    pool.parallel_for(2 + r % 5, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
    total += 2 + r % 5;
  }
  EXPECT_EQ(sum.load(), total);
}

TEST(ThreadPool, WakesSleepingWorkers) {
  scv::ThreadPool pool(2);
  for (int r = 0; r < 5; ++r) {
    // Longer than the spin window: the worker is asleep on the condition variable.
    std::this_thread::sleep_for(std::chrono::microseconds(3 * scv::ThreadPool::kSpinMicros));
    std::atomic<int> mask{0};
    pool.run([&](int ith, int) { mask.fetch_or(1 << ith); });
    EXPECT_EQ(mask.load(), 0b11);
  }
}

TEST(ThreadPool, NestedCallRunsSerially) {
  scv::ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run([&](int, int) { pool.parallel_for(4, [&](int64_t b, int64_t e) { inner += e - b; }); });
  EXPECT_EQ(inner.load(), 8);  // both outer tasks ran the whole inner loop themselves
}

TEST(ThreadPool, DestroyWhileWorkersSleepOrSpin) {
  for (int r = 0; r < 20; ++r) {
    scv::ThreadPool pool(3);
    if (r % 2)
      std::this_thread::sleep_for(std::chrono::microseconds(3 * scv::ThreadPool::kSpinMicros));
    expect_covers(pool, 5);
  }
}

}  // namespace
