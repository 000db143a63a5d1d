#!/usr/bin/env bash
# Long fuzzing runs of the readers (the targets of tests/fuzz/fuzz_targets.h) with libFuzzer,
# ASan and UBSan, built by clang-16 into build-fuzz/. Each target starts from the seed corpus
# tests/fuzz/corpus/<target>/; new inputs go to build-fuzz/corpus/<target>/, crashes to
# build-fuzz/crashes/<target>/, the log to build-fuzz/logs/<target>.log. The summary line per
# target gives executions, edge coverage (cov), features (ft) and crashes.
#
# usage: scripts/fuzz.sh [-t SECONDS_PER_TARGET] [TARGET...]     (default: 1800 s, all targets)
# SECONDS are CPU seconds of the fuzzer process (user + system, measured with /usr/bin/time), so
# a run on a busy machine lasts longer in wall time but fuzzes as much: the fuzzer runs in rounds
# of at most 5 minutes, each resuming from the corpus, until the target's CPU time is reached.
# Needs: clang-16, libfuzzer-16-dev (scripts/install-deps.sh). A crash is fixed, then its input
# is copied into tests/fuzz/corpus/<target>/ so the replay test (test_fuzz_corpus) keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=1800
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
source scripts/fuzz_common.sh  # all, targets, launcher
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCV_FUZZ=ON -DSCV_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
mkdir -p build-fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  : >"build-fuzz/logs/$t.log"
  cpu=0 execs=0 round=0
  while [ "$cpu" -lt "$secs" ] && [ "$(find "build-fuzz/crashes/$t" -type f | wc -l)" -eq 0 ]; do
    left=$((secs - cpu)); wall=$((left < 300 ? left : 300)); round=$((round + 1))
    # rss_limit: a reader must refuse, not allocate, what a small input claims (2 GB would hide it)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 /usr/bin/time -f "%U %S" \
      -o "build-fuzz/logs/$t.time" "build-fuzz/fuzz_$t" "build-fuzz/corpus/$t" \
      "tests/fuzz/corpus/$t" -max_total_time="$wall" -rss_limit_mb=512 -malloc_limit_mb=512 \
      -max_len=65536 -timeout=10 -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1 \
      >"build-fuzz/logs/$t.round" 2>&1 || true
    cat "build-fuzz/logs/$t.round" >>"build-fuzz/logs/$t.log"
    used=$(tail -1 "build-fuzz/logs/$t.time" | awk '{printf "%d", $1 + $2 + 0.5}')
    cpu=$((cpu + (used > 0 ? used : 1)))
    n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/logs/$t.round" | grep -o '[0-9]*$' || echo 0)
    execs=$((execs + n))
  done
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "build-fuzz/logs/$t.log" | tail -1 || true)
  crashes=$(find "build-fuzz/crashes/$t" -type f | wc -l)
  corpus=$(find "build-fuzz/corpus/$t" -type f | wc -l)
  echo "$t: ${cpu} CPU s in $round rounds, executions ${execs}, ${cov:-cov ?}, corpus $corpus, crashes ${crashes}"
done
