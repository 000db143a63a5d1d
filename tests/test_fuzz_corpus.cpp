// Replays the fuzzing seed corpus (tests/fuzz/corpus/<target>/*) through every target of
// tests/fuzz/fuzz_targets.h: deterministic and short, so it runs in every test pass, including
// the gcc ASan+UBSan build where a memory error or undefined behaviour fails it. Files found by
// long fuzzing runs (scripts/fuzz.sh) are added to the corpus when they reach new code, and every
// crash found is fixed and kept here as a regression input.
#include <gtest/gtest.h>

#include <filesystem>

#include "fuzz/fuzz_targets.h"

namespace fs = std::filesystem;

TEST(FuzzCorpus, EveryTargetReplaysItsCorpus) {
  const fs::path root = fs::path(SCV_SOURCE_DIR) / "tests/fuzz/corpus";
  int total = 0;
  for (const auto& t : scv_fuzz::kTargets) {
    const fs::path dir = root / t.name;
    ASSERT_TRUE(fs::is_directory(dir)) << "no seed corpus for target " << t.name;
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      auto bytes = scv::read_file(e.path().string());
      ASSERT_TRUE(bytes.ok()) << bytes.status().message();
      SCOPED_TRACE(e.path().string());
      t.fn(bytes->data(), bytes->size());
      ++files;
    }
    EXPECT_GT(files, 0) << t.name;
    total += files;
  }
  ::unlink(scv_fuzz::temp_path().c_str());
  std::printf("replayed %d corpus files through %zu targets\n", total,
              std::size(scv_fuzz::kTargets));
}
