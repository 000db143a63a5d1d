#!/usr/bin/env bash
# What `explain` costs next to a plain `classify` of the same photo (whole commands, wall time,
# model loading included), interleaved over several rounds; prints medians and the ratio.
# usage: bench/explain_cost.sh CLI MODEL [PHOTO] [ROUNDS] [extra explain options...]
#   MODEL: a .pth / .onnx / .tflite file or a name both commands take (mobilenet_v2: the
#   bundled model). SCV_BEFORE=OLD_CLI also times OLD_CLI's explain in each round (before/after
#   comparisons of explain itself).
set -euo pipefail
cli=$1 model=$2 photo=${3:-/usr/share/darknet/data/dog.jpg} rounds=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
before=${SCV_BEFORE:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
c=() x=() b=()
for ((i = 0; i < rounds; i++)); do
  c+=("$(t "$cli" classify "$photo" --model "$model")")
  if [[ -n $before ]]; then
    b+=("$(t "$before" explain "$photo" --model "$model" --out "$out/q" --html "$out/q.html" "$@")")
  fi
  x+=("$(t "$cli" explain "$photo" --model "$model" --out "$out/p" --html "$out/r.html" "$@")")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mc=$(med "${c[@]}") mx=$(med "${x[@]}")
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "classify  s: ${c[*]}  median $mc"
echo "explain   s: ${x[*]}  median $mx"
echo "ratio explain/classify: $(echo "scale=2; $mx / $mc" | bc)"
if [[ -n $before ]]; then
  mb=$(med "${b[@]}")
  echo "before    s: ${b[*]}  median $mb"
  echo "ratio before/classify: $(echo "scale=2; $mb / $mc" | bc)"
  echo "speed-up before/after: $(echo "scale=2; $mb / $mx" | bc)"
fi
