// ThreadPool: every index covered exactly once, for any thread count; thousands of back-to-back
// hand-offs (the spinning path) and hand-offs after the workers went to sleep (the condition
// variable path) lose nothing; a slow worker takes fewer chunks, and workers that only cost the
// caller are left out for a while; nested calls run serially.
#include "scratchcv/thread_pool.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
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
  // The default spin window, and the shortest one (workers sleep right after the pure spin).
  for (int spin : {scv::ThreadPool::kSpinMicros, scv::ThreadPool::kPureSpinMicros}) {
    scv::ThreadPool pool(2, spin);
    for (int r = 0; r < 5; ++r) {
      // Longer than the spin window: the worker is asleep on the condition variable.
      std::this_thread::sleep_for(std::chrono::microseconds(3 * spin));
      std::atomic<int> mask{0};
      pool.run([&](int ith, int) { mask.fetch_or(1 << ith); });
      EXPECT_EQ(mask.load(), 0b11);
    }
  }
}

// Chunks are claimed one at a time: a worker that is slow (here: it sleeps in every chunk, as a
// thread on a core taken by another process would stall) takes few of them, the caller the rest.
TEST(ThreadPool, SlowWorkerTakesFewerChunks) {
  scv::ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  const int64_t n = 2 * scv::ThreadPool::kChunksPerThread;
  std::atomic<int> by_caller{0};
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    if (std::this_thread::get_id() == caller)
      by_caller += static_cast<int>(e - b);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  EXPECT_GE(by_caller.load(), n - 2);
}

// When waiting for the workers costs the caller more than they save it over a window of jobs,
// the following jobs run on the calling thread alone; later the workers are tried again.
TEST(ThreadPool, WorkersThatOnlyCostAreLeftOutForAWhile) {
  scv::ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> by_workers{0};
  auto job = [&] {
    by_workers = 0;
    pool.parallel_for(8, [&](int64_t b, int64_t e) {
      const bool worker = std::this_thread::get_id() != caller;
      if (worker) by_workers += static_cast<int>(e - b);
      std::this_thread::sleep_for(std::chrono::microseconds(worker ? 2000 : 20));
    });
  };
  int first = 0;
  for (int j = 0; j < scv::ThreadPool::kWindowJobs; ++j) {
    job();
    first += by_workers;
  }
  if (first == 0) GTEST_SKIP() << "the worker never got the CPU during the first window";
  int worker_items = 0;
  for (int j = 0; j < scv::ThreadPool::kSoloJobs; ++j) {
    job();
    worker_items += by_workers;
  }
  EXPECT_EQ(worker_items, 0);
  int later = 0;
  for (int j = 0; j < scv::ThreadPool::kWindowJobs; ++j) {
    job();
    later += by_workers;
  }
  EXPECT_GT(later, 0);  // tried again after the solo stretch
}

TEST(ThreadPool, NestedCallRunsSerially) {
  scv::ThreadPool pool(2);
  std::atomic<int> inner{0}, calls{0};
  pool.run([&](int, int) {
    pool.parallel_for(4, [&](int64_t b, int64_t e) {
      inner += e - b;
      ++calls;
      EXPECT_TRUE(b == 0 && e == 4) << b << ".." << e;  // serially: one call over everything
    });
  });
  EXPECT_EQ(inner.load(), 8);  // both outer tasks ran the whole inner loop themselves
  EXPECT_EQ(calls.load(), 2);
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

// The --threads rule (one library function that every command's option goes through).
TEST(ThreadsRule, DefaultIsTheUsableCpus) {
  std::string warning;
  auto n = scv::choose_threads("", &warning);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, scv::usable_cpus());
  EXPECT_EQ(scv::default_num_threads(), scv::usable_cpus());
  EXPECT_TRUE(warning.empty());
  EXPECT_GE(scv::usable_cpus(), 1);
}

TEST(ThreadsRule, LargerCountsAreClampedWithOneWarning) {
  std::string warning;
  auto n = scv::choose_threads("1000", &warning);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, scv::usable_cpus());
  EXPECT_NE(warning.find("--threads 1000"), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos);
  warning.clear();
  auto one = scv::choose_threads("1", &warning);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, 1);
  EXPECT_TRUE(warning.empty());
}

TEST(ThreadsRule, ZeroNegativeAndNonNumbersAreErrorsNamingTheOption) {
  for (const char* bad : {"0", "-2", "x", "2x", "", " 1", "99999999999999999999"}) {
    if (std::string(bad).empty()) continue;  // "" means "not given"
    std::string warning;
    auto n = scv::choose_threads(bad, &warning);
    EXPECT_FALSE(n.ok()) << bad;
    if (!n.ok()) {
      EXPECT_NE(n.status().message().find("--threads"), std::string::npos);
    }
  }
}

// Every command applies the same rule: --threads 0 is a usage error (exit 2) naming the option,
// on stderr in one line.
TEST(ThreadsRule, EveryCommandRejectsZeroThreadsAsAUsageError) {
  const std::vector<std::string> commands = {"classify x.jpg --model m.pth",
                                             "infer --model m.onnx --input i --output o",
                                             "bench --iters 1",
                                             "gray in.png out.png",
                                             "blur in.png out.png --ksize 3",
                                             "mnist train --data d",
                                             "mnist test --data d --model m.scv",
                                             "mnist dump-step --out o",
                                             "explain x.jpg --model m.pth"};
  for (const std::string& c : commands) {
    const std::string cmd = std::string(SCV_CLI) + " " + c + " --threads 0 2>&1";
    std::FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    const int status = pclose(f);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << c << ": " << out;
    EXPECT_NE(out.find("--threads"), std::string::npos) << c << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << c << ": " << out;
  }
}
