#!/usr/bin/env bash
# Line coverage of each reader's source files reached by the fuzzing corpora: builds
# build-fuzzcov/ (clang-16 source-based coverage, no sanitizers), replays the seed corpus
# tests/fuzz/corpus/<target>/ plus what scripts/fuzz.sh found (build-fuzz/corpus/<target>/)
# through fuzz_replay, and prints one markdown row per (target, file): lines covered / lines.
#
# usage: scripts/fuzz_coverage.sh [TARGET...]     (default: every target)
# Needs: clang-16, llvm-16 (llvm-profdata-16, llvm-cov-16), from scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A files=(
  [zip]="src/io/zip_reader.cpp"
  [pickle]="src/io/pickle.cpp"
  [pth]="src/io/pth.cpp src/io/zip_reader.cpp src/io/pickle.cpp src/models/resnet.cpp"
  [pth_structured]="src/io/pth.cpp src/io/pickle.cpp"
  [onnx]="src/io/onnx.cpp src/io/onnx_decode.cpp src/io/protobuf.cpp"
  [image]="src/io/image_codec.cpp src/io/image_formats.cpp src/io/preprocess.cpp"
  [idx]="src/train/idx.cpp"
  [checkpoint]="src/train/network.cpp"
  [load_model]="src/models/load_model.cpp"
  [tflite]="src/io/tflite.cpp src/ops/quant/qplan.cpp src/ops/quant/qsession.cpp src/ops/quant/qref.cpp
    src/ops/quant/quantize.cpp src/ops/*/*_q.cpp"
)
source scripts/fuzz_common.sh  # all, targets, launcher
cmake -S . -B build-fuzzcov -DCMAKE_BUILD_TYPE=Release -DSCV_FUZZ_COVERAGE=ON -DSCV_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 "${launcher[@]}" >/dev/null
cmake --build build-fuzzcov -j"$(nproc)" --target fuzz_replay >/dev/null
mkdir -p build-fuzzcov/profiles
echo "| target | file | lines covered (whole file) | lines covered in the functions reached | functions reached | corpus inputs |"
echo "|---|---|---|---|---|---|"
for t in "${targets[@]}"; do
  dirs=("tests/fuzz/corpus/$t")
  [ -d "build-fuzz/corpus/$t" ] && dirs+=("build-fuzz/corpus/$t")
  rm -f build-fuzzcov/profiles/"$t".*
  n=$(LLVM_PROFILE_FILE="build-fuzzcov/profiles/$t.%p.profraw" build-fuzzcov/fuzz_replay "$t" \
    "${dirs[@]}" 2>/dev/null | grep -o '[0-9]* inputs' | grep -o '[0-9]*')
  llvm-profdata-16 merge -sparse build-fuzzcov/profiles/"$t".*.profraw \
    -o "build-fuzzcov/profiles/$t.profdata"
  for f in ${files[$t]}; do
    cov=(llvm-cov-16 report build-fuzzcov/fuzz_replay -instr-profile="build-fuzzcov/profiles/$t.profdata")
    # Whole file: the report's Lines / Missed columns (8 and 9). A file also holds code the
    # target cannot reach (writers, path-based wrappers, training), hence the second figure:
    # lines of the functions the corpus entered at least once (per-function rows, columns 5
    # and 6: Lines, Missed).
    whole=$("${cov[@]}" "$f" | awk '$1 ~ /\.cpp$/ { printf "%d / %d (%s)", $8 - $9, $8, $10 }')
    reached=$("${cov[@]}" -show-functions "$f" | awk 'NF >= 10 && $1 != "TOTAL" && $5 ~ /^[0-9]+$/ {
        nf++; if ($6 < $5) { rf++; l += $5; m += $6 } }
      END { printf "%d / %d (%.1f%%) | %d / %d", l - m, l, l ? 100 * (l - m) / l : 0, rf, nf }')
    echo "| \`$t\` | \`$f\` | $whole | $reached | $n |"
  done
done
