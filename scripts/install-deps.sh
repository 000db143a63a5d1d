#!/usr/bin/env bash
# Installs what scratchcv needs on Debian 12: the compiler toolchain and codecs to build, and the
# reference implementations the tests compare against (PyTorch, OpenCV, ONNX test data, ...).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PKGS=(
  # build
  build-essential cmake libgtest-dev libbenchmark-dev
  libjpeg62-turbo-dev libpng-dev zlib1g-dev libcurl4-openssl-dev curl
  libwebp-dev libtiff-dev libdeflate-dev libcli11-dev
  # fuzzing (scripts/fuzz.sh, scripts/fuzz_coverage.sh; the corpus replay needs only the
  # compiler above)
  clang-16 libfuzzer-16-dev llvm-16
  # the installable library, the Python module and the Dask cluster command
  pkg-config nlohmann-json3-dev pybind11-dev python3-pybind11 python3-dev python3-setuptools
  python3-wheel python3-pip python3-venv python3-pytest python3-distributed
  # references for the tests (no network needed at test time)
  python3 python3-numpy python3-pil python3-torch python3-torchvision python3-onnx
  python3-opencv python3-skimage libonnx-testdata dataset-fashion-mnist darknet
  # Arm NN runs the TFLite models (its CpuRef backend is only recommended by the parser)
  python3-pyarmnn libarmnn-cpuref-backend22
  # the explain report is checked in a headless browser
  chromium
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime (npm onnxruntime-node, CPU library inside the package) runs the int8 QDQ files and
# the speed comparisons. Debian's nodejs/npm when no Node.js is installed; the package comes from
# the npm registry, so offline this step only warns and those tests report themselves skipped.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm ||
    echo "warning: nodejs/npm not installed; ONNX Runtime comparisons will be skipped" >&2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
if command -v npm >/dev/null && [ ! -d "$here/bench/peers/node_modules/onnxruntime-node" ]; then
  (cd "$here/bench/peers" && timeout 600 npm install --ignore-scripts --no-audit --no-fund) ||
    echo "warning: npm install of onnxruntime-node failed; ONNX Runtime comparisons will be skipped" >&2
fi
