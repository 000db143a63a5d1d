// Runs inputs through one fuzz target without libFuzzer: `fuzz_replay TARGET PATH...`, each PATH
// a file or a directory of files. Built by scripts/fuzz_coverage.sh with clang's source-based
// coverage, so a fuzzing corpus gives the lines of each reader it reaches.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz/fuzz_targets.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET PATH...\n");
    return 2;
  }
  const scv_fuzz::Target* target = nullptr;
  for (const auto& t : scv_fuzz::kTargets)
    if (std::strcmp(t.name, argv[1]) == 0) target = &t;
  if (!target) {
    std::fprintf(stderr, "fuzz_replay: unknown target '%s'\n", argv[1]);
    return 2;
  }
  namespace fs = std::filesystem;
  long files = 0;
  auto run = [&](const fs::path& p) {
    auto bytes = scv::read_file(p.string());
    if (!bytes.ok()) return;
    target->fn(bytes->data(), bytes->size());
    ++files;
  };
  for (int i = 2; i < argc; ++i) {
    const fs::path p(argv[i]);
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) run(e.path());
    } else {
      run(p);
    }
  }
  ::unlink(scv_fuzz::temp_path().c_str());
  std::printf("%s: %ld inputs\n", target->name, files);
  return 0;
}
