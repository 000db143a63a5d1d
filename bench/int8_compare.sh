#!/usr/bin/env bash
# int8 ResNet50 side by side: scratchcv int8 (QDQ file) vs ONNX Runtime on the same QDQ file vs
# PyTorch 1.13 quantized resnet50 (torchvision.models.quantization, onednn, seeded weights) vs
# scratchcv fp32 — 1 and 2 threads at batch 1, 2 threads at batch 8; ROUNDS interleaved rounds.
#
# usage: bench/int8_compare.sh [BUILD_DIR] [ROUNDS] [ITERS]
# Needs: a build (scratchcv), /usr/bin/python3 with torch, node + bench/peers/node_modules.
# Prints one JSON line per measurement (median / min ms; scratchcv and torch also CPU ms).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
rounds="${2:-3}"
iters="${3:-10}"
cli="$build/scratchcv"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$here/../tests/py/int8_make_resnet.py" resnet50 "$tmp/r50.pth"
"$cli" quantize "$tmp/r50.pth" --calib /usr/share/darknet/data --samples 16 -o "$tmp/r50_int8.onnx" >/dev/null
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) | $(nproc) CPUs | load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for cfg in "1 1" "2 1" "2 8"; do
    set -- $cfg
    t=$1 b=$2
    "$cli" bench --model "$tmp/r50_int8.onnx" --threads "$t" --batch "$b" --iters "$iters" --warmup 2 --json - 2>/dev/null |
      sed "s/^{/{\"runtime\":\"scratchcv-int8\",\"round\":$r,/"
    "$cli" bench --model "$tmp/r50.pth" --threads "$t" --batch "$b" --iters "$iters" --warmup 2 --json - 2>/dev/null |
      /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); s=d.get('session',d); print(json.dumps({'runtime':'scratchcv-fp32','round':$r,'threads':$t,'batch':$b,'median_ms':s.get('median_ms'),'min_ms':s.get('min_ms'),'cpu_ms':s.get('cpu_ms')}))"
    node "$here/peers/ort_bench.js" --model "$tmp/r50_int8.onnx" --threads "$t" --batch "$b" --iters "$iters" --warmup 2 |
      sed "s/^{/{\"round\":$r,\"model\":\"same QDQ\",/"
    /usr/bin/python3 "$here/peers/torch_int8_bench.py" --model resnet50 --threads "$t" --batch "$b" --iters "$iters" --warmup 2 |
      sed "s/^{/{\"round\":$r,/"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
