#!/usr/bin/env bash
# The whole test suite: builds (Release) and runs every test with CTest, then rebuilds the
# library and its C++ tests with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and
# runs them again there, so malformed-input tests also prove the absence of memory errors.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
scripts/build.sh
ctest --test-dir build -j"$jobs" --output-on-failure

echo "== ASan + UBSan =="
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
# -O1 -g1 (line tables only): what the sanitizers need for exact reports with file:line, and much
# cheaper to compile than -O2 -g.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DSCV_SANITIZE=ON "${launcher[@]}" >/dev/null
cmake --build build-asan -j"$jobs"
# The C++ unit and failure-path tests (the long golden model comparisons run once, above).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j"$jobs" --output-on-failure -LE script
