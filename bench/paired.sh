#!/usr/bin/env bash
# Two scratchcv binaries timed in pairs, ABBA order (A first in odd pairs, B first in even ones),
# so that a slow stretch of a noisy machine hits both; prints each pair, then per setting the
# medians, the median of the per-pair ratios A/B and a bootstrap 90% interval of it.
#
#   bench/paired.sh A_CLI B_CLI MODEL.onnx THREADS BATCH PAIRS [ITERS]
#
# Each run: `bench --iters ITERS --warmup 2` (default ITERS 6), its median ms.
set -euo pipefail
a_cli=$1 b_cli=$2 model=$3 threads=$4 batch=$5 pairs=$6 iters=${7:-6}
run() {
  "$1" bench --model "$model" --batch "$batch" --threads "$threads" --iters "$iters" --warmup 2 \
    --json 2>/dev/null | /usr/bin/python3 -c 'import json, sys
t = sys.stdin.read(); print(json.loads(t[t.rindex("{"):])["median_ms"])'
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "# threads $threads batch $batch, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then a=$(run "$a_cli"); sleep 0.3; b=$(run "$b_cli")
  else b=$(run "$b_cli"); sleep 0.3; a=$(run "$a_cli"); fi
  echo "$i $a $b" | tee -a "$log"
  sleep 0.3
done
/usr/bin/python3 - "$log" <<'PY'
import math, random, statistics as st, sys
v = [tuple(map(float, l.split()[1:])) for l in open(sys.argv[1])]
a = [x for x, _ in v]; b = [y for _, y in v]
r = [math.log(x / y) for x, y in v]
random.seed(1)
bs = sorted(math.exp(st.median(random.choices(r, k=len(r)))) for _ in range(2000))
print(f"A median {st.median(a):.1f} ms, B median {st.median(b):.1f} ms, "
      f"median paired ratio A/B {math.exp(st.median(r)):.3f} (90% {bs[100]:.3f}-{bs[1900]:.3f})")
PY
