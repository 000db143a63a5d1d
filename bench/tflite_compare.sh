#!/usr/bin/env bash
# MobileNetV2 uint8 (the bundled TFLite model) through scratchcv's quantized engine, side by side
# with PyTorch's quantized mobilenet_v2 (torchvision.models.quantization, engine onednn, seeded
# random weights through prepare/convert: bench/peers/torch_int8_bench.py) and scratchcv's fp32
# ResNet50, at 1 and 2 threads, batch 1, 224x224.
#
#   bench/tflite_compare.sh [-r ROUNDS] [-k ITERS] [--cli PATH]
#
# Each round runs every (runtime, threads) once, interleaved, the order rotating between rounds,
# 2 s apart; each run: 5 warm-up iterations, then ITERS timed -> median wall ms and median
# process CPU ms per image. The table: median over rounds, and ratios PyTorch / scratchcv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rounds=3 iters=30 cli="$root/build/scratchcv"
while [ $# -gt 0 ]; do
  case "$1" in
    -r) rounds=$2; shift 2 ;;
    -k) iters=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tflite_compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
/usr/bin/python3 - "$cli" "$rounds" "$iters" "$here/peers/torch_int8_bench.py" <<'PY'
import json, subprocess, sys, time, statistics
cli, rounds, iters, torch_bench = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def scv(model, threads):
    out = subprocess.run([cli, "bench", "--model", model, "--threads", str(threads), "--iters",
                          str(iters), "--json", "-"], capture_output=True, text=True, check=True).stdout
    j = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    if "runs" in j:  # the TFLite bench
        r = j["runs"][0]
        return r["median_ms"], r["cpu_ms"]
    return j["median_ms"], j.get("cpu_ms", float("nan"))

def torch(threads):
    out = subprocess.run(["/usr/bin/python3", torch_bench, "--threads", str(threads), "--iters",
                          str(iters)], capture_output=True, text=True, check=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j["median_ms"], j["cpu_ms"]

runs = {}
jobs = []
for t in (1, 2):
    jobs += [("scratchcv int8 mobilenet_v2", t, lambda t=t: scv("mobilenet_v2", t)),
             ("pytorch int8 mobilenet_v2 (onednn)", t, lambda t=t: torch(t)),
             ("scratchcv fp32 resnet50", t, lambda t=t: scv("", t))]
for r in range(rounds):
    k = r % len(jobs)
    for name, t, fn in jobs[k:] + jobs[:k]:
        time.sleep(2)
        runs.setdefault((name, t), []).append(fn())
print("%-38s %3s %12s %12s" % ("runtime", "thr", "wall ms", "cpu ms"))
med = {}
for (name, t), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    w = statistics.median(x[0] for x in v)
    c = statistics.median(x[1] for x in v)
    med[(name, t)] = (w, c)
    print("%-38s %3d %12.2f %12.2f" % (name, t, w, c))
for t in (1, 2):
    s = med[("scratchcv int8 mobilenet_v2", t)]
    p = med[("pytorch int8 mobilenet_v2 (onednn)", t)]
    print("threads %d: PyTorch int8 / scratchcv int8 = %.2fx wall, %.2fx cpu" % (t, p[0] / s[0], p[1] / s[1]))
PY
