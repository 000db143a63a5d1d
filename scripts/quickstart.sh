#!/usr/bin/env bash
# Quick start: install dependencies, build, fetch the official ResNet50 weights (once), and
# classify the bundled sample photo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/scratchcv fetch resnet50
build/scratchcv classify data/sample.jpg
