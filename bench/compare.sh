#!/usr/bin/env bash
# Compare scratchcv with peer CPU runtimes on ResNet50 (seeded random weights).
#
#   bench/compare.sh [-r ROUNDS] [-k ITERS] [-w WARMUP] [-p PAUSE] [-o WORKDIR] [--no-cold]
#                    [--cli PATH]
#
# 1. bench/peers/export_resnet.py writes WORKDIR/resnet50.{pth,onnx} once (kept between runs).
# 2. ROUNDS rounds, each running every runtime once per (threads, batch) in (1,1) (2,1) (2,8),
#    interleaved (ort, torch, scratchcv, next config, ...) so that drifting machine load hits
#    all runtimes alike; the order of the runtimes rotates from round to round, and each run
#    starts after PAUSE seconds (default 3) of quiet: right after a process with a large heap
#    exits, the kernel spends a second or two freeing it on one CPU, which slows whichever
#    2-thread run comes next. Each run: WARMUP warm-up iterations, then ITERS timed ones ->
#    median.
#    Runtimes: onnxruntime-node (bench/peers/ort_bench.js), PyTorch jit.trace +
#    optimize_for_inference (bench/peers/torch_bench.py), and
#    `scratchcv bench --model M.onnx --batch B --threads T --iters K --json`.
# 3. A table of the median over rounds of each run's median, and ratios to scratchcv.
# 4. Cold start: whole-process wall time and peak RSS (/usr/bin/time) of
#    `scratchcv classify data/sample.jpg --model M.pth` and `node ort_bench.js --cold`.
# Before/after a change: SCV_BEFORE=PATH adds a second scratchcv binary ("before") to the
# rotation, with a before/after ratio column; RUNTIMES="scratchcv before" runs only those.
# Raw results: WORKDIR/runs.tsv and WORKDIR/cold.tsv. Needs: /usr/bin/python3 with torch and
# torchvision, node with bench/peers/node_modules (cd bench/peers && npm install --ignore-scripts).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rounds=3 iters=10 warmup=3 pause=3 work="$root/build/bench_peers" cold=1 cli="$root/build/scratchcv"
while [ $# -gt 0 ]; do
  case "$1" in
    -r) rounds=$2; shift 2 ;;
    -k) iters=$2; shift 2 ;;
    -w) warmup=$2; shift 2 ;;
    -p) pause=$2; shift 2 ;;
    -o) work=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    --no-cold) cold=0; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
configs=("1 1" "2 1" "2 8")
mkdir -p "$work"
model_pth="$work/resnet50.pth" model_onnx="$work/resnet50.onnx"

echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rounds=$rounds warmup=$warmup iters=$iters  workdir=$work"

if [ ! -s "$model_pth" ] || [ ! -s "$model_onnx" ]; then
  echo "# exporting resnet50 (seed 0, opset 13) ..."
  "$py" "$here/peers/export_resnet.py" "$work" >/dev/null
fi

have_ort=1
if ! node -e "require('$here/peers/node_modules/onnxruntime-node')" 2>/dev/null; then
  have_ort=0
  echo "# onnxruntime-node: NOT INSTALLED (cd bench/peers && npm install --ignore-scripts); skipped"
fi
have_scv=1
if [ ! -x "$cli" ]; then
  have_scv=0
  echo "# scratchcv: $cli not found (build first); scratchcv skipped"
elif ! "$cli" bench --help >/dev/null 2>&1; then
  have_scv=0
  echo "# scratchcv: '$cli bench' is NOT AVAILABLE yet (no bench subcommand); scratchcv skipped," \
       "peers only"
fi

runs="$work/runs.tsv"
printf 'round\truntime\tthreads\tbatch\tmedian_ms\tmin_ms\n' >"$runs"
# json_fields FILE: prints "median_ms<TAB>min_ms" from the last JSON line of FILE.
json_fields() {
  "$py" -c 'import json,sys
text=open(sys.argv[1]).read()
try:
    d=json.loads(text[text.index("{"):])  # one JSON object, possibly pretty-printed
except ValueError:
    d=json.loads([l for l in text.splitlines() if l.strip().startswith("{")][-1])
print("%s\t%s" % (d["median_ms"], d.get("min_ms", "")))' "$1"
}
record() {  # record ROUND RUNTIME T B OUTFILE
  local f
  if f=$(json_fields "$5" 2>/dev/null); then
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$f" >>"$runs"
  else
    echo "# $2 threads=$3 batch=$4 failed: $(tail -1 "$5")" >&2
  fi
}

out="$work/last_run.out"
run_one() {  # run_one ROUND RUNTIME T B
  sleep "$pause"
  case "$2" in
    ort)
      [ $have_ort = 1 ] || return 0
      node "$here/peers/ort_bench.js" --model "$model_onnx" --threads "$3" --batch "$4" \
        --warmup "$warmup" --iters "$iters" >"$out" 2>&1 || true ;;
    torch)
      "$py" "$here/peers/torch_bench.py" --model "$model_pth" --threads "$3" --batch "$4" \
        --warmup "$warmup" --iters "$iters" >"$out" 2>&1 || true ;;
    scratchcv)
      [ $have_scv = 1 ] || return 0
      "$cli" bench --model "$model_onnx" --batch "$4" --threads "$3" --iters "$iters" \
        --warmup "$warmup" --json >"$out" 2>&1 || true ;;
    before)
      "$SCV_BEFORE" bench --model "$model_onnx" --batch "$4" --threads "$3" --iters "$iters" \
        --warmup "$warmup" --json >"$out" 2>&1 || true ;;
  esac
  record "$1" "$2" "$3" "$4" "$out"
}
read -r -a runtimes <<<"${RUNTIMES:-ort torch scratchcv${SCV_BEFORE:+ before}}"
nrt=${#runtimes[@]}
for r in $(seq 1 "$rounds"); do
  for c in "${configs[@]}"; do
    set -- $c; t=$1 b=$2
    for i in $(seq 0 $((nrt - 1))); do  # rotated: round 1 ort first, round 2 torch first, ...
      run_one "$r" "${runtimes[$(( (i + r - 1) % nrt ))]}" "$t" "$b"
    done
  done
  echo "# round $r/$rounds done (load $(cut -d' ' -f1 /proc/loadavg))"
done

cold_tsv="$work/cold.tsv"
printf 'round\truntime\twall_s\tpeak_rss_kb\n' >"$cold_tsv"
if [ $cold = 1 ] && [[ " ${runtimes[*]} " == *" ort "* || " ${runtimes[*]} " == *" scratchcv "* ]]; then
  for r in $(seq 1 "$rounds"); do
    sleep "$pause"
    if [ $have_ort = 1 ]; then
      if /usr/bin/time -f '%e %M' -o "$work/time.txt" node "$here/peers/ort_bench.js" \
           --model "$model_onnx" --cold --threads "$(nproc)" >"$out" 2>&1; then
        read -r wall rss <"$work/time.txt"
        printf '%s\tort\t%s\t%s\n' "$r" "$wall" "$rss" >>"$cold_tsv"
      fi
    fi
    sleep "$pause"
    if [ -x "$cli" ]; then
      if /usr/bin/time -f '%e %M' -o "$work/time.txt" "$cli" classify "$root/data/sample.jpg" \
           --model "$model_pth" >"$out" 2>&1; then
        read -r wall rss <"$work/time.txt"
        printf '%s\tscratchcv\t%s\t%s\n' "$r" "$wall" "$rss" >>"$cold_tsv"
      elif [ "$r" = 1 ]; then
        echo "# scratchcv classify --model M.pth is NOT AVAILABLE or failed:" \
             "$(grep -v '^Command' "$out" | tail -1)"
      fi
    fi
  done
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$runs" "$cold_tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for r in rows:
    med.setdefault((r["runtime"], int(r["threads"]), int(r["batch"])), []).append(float(r["median_ms"]))
runtimes = [x for x in ("ort", "torch", "scratchcv", "before") if any(k[0] == x for k in med)]
configs = sorted({(k[1], k[2]) for k in med})
print("\nthroughput: median over rounds of per-run median latency (ms per batch), images/s")
hdr = "%-8s %-6s" % ("threads", "batch")
for x in runtimes:
    hdr += " %12s %8s" % (x + " ms", "img/s")
if "before" in runtimes:
    hdr += " %12s" % "after/before"
if "scratchcv" in runtimes:
    hdr += " %12s %12s" % ("scv/ort", "scv/torch")
else:
    hdr += " %12s" % "torch/ort"
print(hdr)
for t, b in configs:
    line = "%-8d %-6d" % (t, b)
    m = {}
    for x in runtimes:
        v = med.get((x, t, b))
        m[x] = statistics.median(v) if v else None
        line += " %12s %8s" % (("%.1f" % m[x], "%.2f" % (b * 1e3 / m[x])) if m[x] else ("-", "-"))
    ratio = lambda a, c: "%.2fx" % (m[a] / m[c]) if m.get(a) and m.get(c) else "-"
    if "before" in runtimes:
        line += " %12s" % ratio("scratchcv", "before")
    if "scratchcv" in runtimes:
        line += " %12s %12s" % (ratio("scratchcv", "ort"), ratio("scratchcv", "torch"))
    else:
        line += " %12s" % ratio("torch", "ort")
    print(line)
print("(ratios are latency ratios: below 1.00x means the first is faster)")
cold = list(csv.DictReader(open(sys.argv[2]), delimiter="\t"))
if cold:
    print("\ncold start (whole process, load + 1 image): median wall s, median peak RSS MB")
    for x in ("ort", "scratchcv"):
        c = [r for r in cold if r["runtime"] == x]
        if c:
            print("%-10s wall %6.2f s   peak RSS %7.1f MB   (n=%d)" % (
                x, statistics.median(float(r["wall_s"]) for r in c),
                statistics.median(float(r["peak_rss_kb"]) for r in c) / 1024, len(c)))
PY
