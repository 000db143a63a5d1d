#!/usr/bin/env bash
# Quick start: install dependencies, build, and classify the bundled sample photo with the
# bundled MobileNetV2 (works offline); then fetch the official ResNet50 weights (once) and
# classify the photo with ResNet50 too. Without network the fetch fails, the script says how to
# get ResNet50 later, and still exits 0.
#
#   scripts/quickstart.sh [--no-build]
#     --no-build  skip install-deps.sh and build.sh; use build/scratchcv (or $SCV_CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${SCV_CLI:-build/scratchcv}
if [ "${1:-}" != "--no-build" ]; then
  scripts/install-deps.sh
  scripts/build.sh
fi

echo "== MobileNetV2 (bundled, uint8 TFLite, 1001 ImageNet classes) =="
"$cli" classify --model mobilenet_v2 data/sample.jpg

echo
echo "== ResNet50 (official torchvision weights, downloaded once) =="
if "$cli" fetch resnet50; then
  "$cli" classify --model resnet50 data/sample.jpg
else
  echo
  echo "ResNet50 could not be downloaded (no network?). Everything above works offline."
  echo "To add ResNet50 later: $cli fetch resnet50"
  echo "(or download the file named in the message above by hand into that directory)."
fi
