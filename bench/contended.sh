#!/usr/bin/env bash
# ResNet50 with one core taken by a busy loop: how scratchcv's default thread count degrades.
#
#   bench/contended.sh MODEL.onnx [ROUNDS] [BEFORE_CLI]
#
# Pins `while :; do :; done` on CPU 1 (taskset), then runs, interleaved for ROUNDS rounds (default
# 3): `scratchcv bench` at the default thread count, with --threads 1 and with --threads 1000
# (clamped to the usable CPUs, with a warning), BEFORE_CLI (another
# scratchcv binary, optional) at its default, and onnxruntime-node at its own default
# (bench/peers/ort_bench.js --threads 0; skipped when not installed). Prints one line per run:
# round, runtime, median ms of 10 timed runs, threads. The busy loop is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model=${1:?usage: bench/contended.sh MODEL.onnx [ROUNDS] [BEFORE_CLI]}
rounds=${2:-3}
before=${3:-}
cli="$root/build/scratchcv"
taskset -c 1 sh -c 'while :; do :; done' &
busy=$!
trap 'kill $busy 2>/dev/null' EXIT
echo "# busy loop on cpu 1 (pid $busy); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { /usr/bin/python3 -c 'import json,sys
t=sys.stdin.read(); d=json.loads(t[t.rindex("{"):]); print(d["median_ms"], d.get("threads"))'; }
runs=(default threads1 threads1000)
[ -n "$before" ] && runs+=(before_default)
node -e "require('$here/peers/node_modules/onnxruntime-node')" 2>/dev/null && runs+=(ort_default)
for r in $(seq 1 "$rounds"); do
  for what in "${runs[@]}"; do
    sleep 2
    case $what in
      default) out=$("$cli" bench --model "$model" --iters 10 --warmup 3 --json 2>/dev/null) ;;
      threads1) out=$("$cli" bench --model "$model" --threads 1 --iters 10 --warmup 3 --json 2>/dev/null) ;;
      threads1000) out=$("$cli" bench --model "$model" --threads 1000 --iters 10 --warmup 3 --json 2>/dev/null) ;;
      before_default) out=$("$before" bench --model "$model" --iters 10 --warmup 3 --json 2>/dev/null) ;;
      ort_default) out=$(node "$here/peers/ort_bench.js" --model "$model" --threads 0 --iters 10 \
                           --warmup 3 2>/dev/null) ;;
    esac
    printf '%s\t%s\t%s\n' "$r" "$what" "$(echo "$out" | median 2>&1 | tail -1)"
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
