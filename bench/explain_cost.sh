#!/usr/bin/env bash
# What `explain` costs next to a plain `classify` of the same photo (whole commands, model
# loading included), interleaved over several rounds; prints the medians of wall time and of CPU
# time (user + system: steadier than wall time on a loaded machine) and their ratios.
# usage: bench/explain_cost.sh CLI MODEL [PHOTO] [ROUNDS] [extra explain options...]
#   MODEL: a .pth / .onnx / .tflite file or a name both commands take (mobilenet_v2: the
#   bundled model). SCV_BEFORE=OLD_CLI also times OLD_CLI's explain in each round (before/after
#   comparisons of explain itself). SCV_THREADS=N runs every command with --threads N (default:
#   each command's default, the usable CPUs).
set -euo pipefail
cli=$1 model=$2 photo=${3:-/usr/share/darknet/data/dog.jpg} rounds=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
before=${SCV_BEFORE:-}
th=()
[[ -n ${SCV_THREADS:-} ]] && th=(--threads "$SCV_THREADS")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Runs a command; prints "wall cpu" in seconds, to the microsecond (wall: a monotonic clock around
# the child; cpu: its user + system time from getrusage; /usr/bin/time rounds to 10 ms, too
# coarse for a 60 ms classify).
t() {
  python3 -c '
import os, resource, subprocess, sys, time
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.monotonic() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("%.4f %.4f" % (wall, cpu))
sys.exit(rc)' "$@" || { echo "failed: $*" >&2; exit 1; }
}
c=() x=() b=()
for ((i = 0; i < rounds; i++)); do
  c+=("$(t "$cli" classify "$photo" --model "$model" "${th[@]}")")
  if [[ -n $before ]]; then
    b+=("$(t "$before" explain "$photo" --model "$model" --out "$out/q" --html "$out/q.html" "${th[@]}" "$@")")
  fi
  x+=("$(t "$cli" explain "$photo" --model "$model" --out "$out/p" --html "$out/r.html" "${th[@]}" "$@")")
done
# med FIELD RUNS...: the median of field 1 (wall) or 2 (cpu) of the runs.
med() {
  local f=$1
  shift
  printf '%s\n' "$@" | awk -v f="$f" '{print $f}' | sort -g |
    awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
ratio() { echo "scale=2; $1 / $2" | bc; }
show() {  # NAME RUNS...
  local name=$1
  shift
  printf '%-9s wall s: %s  median %s; cpu s: %s  median %s\n' "$name" \
    "$(printf '%s\n' "$@" | awk '{printf "%s ", $1}')" "$(med 1 "$@")" \
    "$(printf '%s\n' "$@" | awk '{printf "%s ", $2}')" "$(med 2 "$@")"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
show classify "${c[@]}"
show explain "${x[@]}"
echo "ratio explain/classify: wall $(ratio "$(med 1 "${x[@]}")" "$(med 1 "${c[@]}")"), cpu $(ratio "$(med 2 "${x[@]}")" "$(med 2 "${c[@]}")")"
if [[ -n $before ]]; then
  show before "${b[@]}"
  echo "ratio before/classify: wall $(ratio "$(med 1 "${b[@]}")" "$(med 1 "${c[@]}")"), cpu $(ratio "$(med 2 "${b[@]}")" "$(med 2 "${c[@]}")")"
  echo "speed-up before/after: wall $(ratio "$(med 1 "${b[@]}")" "$(med 1 "${x[@]}")"), cpu $(ratio "$(med 2 "${b[@]}")" "$(med 2 "${x[@]}")")"
fi
