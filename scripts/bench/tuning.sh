#!/usr/bin/env bash
# What the wgpu autotuner costs and what it buys, per model (on lavapipe without a GPU):
#
# 1. Cost: `device-runner bench --tuning auto` with a fresh choices file, no warm-up and
#    one run, timed as a whole command: compiling the model and timing every candidate
#    kernel of each convolution shape. Reported with the number of shapes tuned.
# 2. Gain: then, in --rounds rounds, `bench --tuning defaults` and `bench --tuning auto`
#    (the choices now remembered, so nothing is timed again) alternated, first one then
#    the other in turn, --runs runs each after --warmup; reported: the medians of the
#    round medians, min-max over rounds, and the ratio tuned / defaults per round.
#
#   scripts/bench/tuning.sh [--models FALSR-B,MoreMNAS-C,MoGA-A] [--side 64]
#                           [--rounds 4] [--warmup 1] [--runs 5] [--seed 0]
#                           [--bin target/release] [--json FILE]
#
# Super-resolution presets take --side as their low-resolution side, classification
# presets as their resolution. --bin DIR takes device-runner and moga from DIR; only the
# default (target/release) is built first. Run it on an otherwise idle machine.
. "$(dirname "$0")/lib.sh"
opt --models models FALSR-B,MoreMNAS-C,MoGA-A
opt --side side 64
opt --rounds rounds 4
opt --warmup warmup 1
opt --runs runs 5
opt --seed seed 0
opt --bin bin target/release
opt --json json ""
parse "$@"
[ -n "$json" ] && json=$(realpath -m "$json")
if [ "$bin" = target/release ]; then
  cargo build --release -p device-runner --bin device-runner --quiet
  cargo build --release -p moga --bin moga --quiet
fi
runner=$bin/device-runner moga=$bin/moga
tmp=$(mktemp -d /tmp/moga-bench-tuning.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
wall_ms() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["wall_median_ms"])'; }

IFS=, read -ra list <<< "$models"
rows=()
for m in "${list[@]}"; do
  onnx=$tmp/$m.onnx choices=$tmp/$m.choices.json
  "$moga" export "$m" --resolution "$side" --lr-side "$side" --seed "$seed" -o "$onnx" > /dev/null
  t0=$(date +%s.%N)
  "$runner" bench --json --backend wgpu --model "$onnx" --tuning auto --kernel-choices "$choices" \
    --warmup 0 --runs 1 --max-seconds 600 > "$tmp/first.json"
  t1=$(date +%s.%N)
  tune_s=$(python3 -c "print(round($t1 - $t0, 1))")
  shapes=$(python3 -c "import json; print(len(json.load(open('$choices'))['choices']))")
  : > "$tmp/def" ; : > "$tmp/auto" ; : > "$tmp/ratio"
  for r in $(seq 1 "$rounds"); do
    order="defaults auto"; [ $((r % 2)) -eq 0 ] && order="auto defaults"
    for mode in $order; do
      "$runner" bench --json --backend wgpu --model "$onnx" --tuning "$mode" --kernel-choices "$choices" \
        --warmup "$warmup" --runs "$runs" --max-seconds 600 | wall_ms > "$tmp/last"
      [ "$mode" = defaults ] && cat "$tmp/last" >> "$tmp/def" || cat "$tmp/last" >> "$tmp/auto"
    done
    python3 -c "print($(tail -1 "$tmp/auto") / $(tail -1 "$tmp/def"))" >> "$tmp/ratio"
  done
  d=$(median < "$tmp/def") a=$(median < "$tmp/auto") q=$(median < "$tmp/ratio")
  span() { sort -g "$1" | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.3g-%.3g", lo, hi}'; }
  printf '%-12s tuning %6.1f s (%s shapes)  defaults %8.1f ms [%s]  tuned %8.1f ms [%s]  tuned/defaults %.3f [%s]\n' \
    "$m" "$tune_s" "$shapes" "$d" "$(span "$tmp/def")" "$a" "$(span "$tmp/auto")" "$q" "$(span "$tmp/ratio")"
  rows+=("{\"model\":\"$m\",\"side\":$side,\"tuning_s\":$tune_s,\"shapes\":$shapes,\"defaults_ms\":$d,\"tuned_ms\":$a,\"ratio\":$q,\"rounds\":$rounds}")
done
if [ -n "$json" ]; then
  (IFS=,; echo "[${rows[*]}]") > "$json"
fi
