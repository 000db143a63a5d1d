#!/usr/bin/env bash
# Configures and builds scratchcv (Release) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache, when installed, makes rebuilds (and builds in several checkouts) cheap.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)"
