#!/usr/bin/env bash
# How far a super-resolution latency table holds on this machine: the whole MoreMNAS
# table (645 units: feature extractor, every cell at every input width its position can
# have, tails) profiled isolated with ONNX Runtime at an --lr-side square input, then
# `moga lut validate` on random moremnas networks measured whole against the same
# reference network: share within ±5 % / ±10 % (Wilson intervals), RMSPE and Kendall's τ
# of the plain sum and of the fitted corrections on the half no correction was fitted on.
#
#   scripts/bench-sr-fidelity.sh [--lr-side 64] [--samples 40] [--seed 1] [--out DIR]
#
# Tables, the plot, per-network figures and the validation report stay in --out
# (default target/bench-sr-fidelity). On a phone use `--device SERIAL` with the commands
# this prints.
set -euo pipefail
cd "$(dirname "$0")/.."

side=64 samples=40 seed=1 out=target/bench-sr-fidelity
while [ $# -gt 0 ]; do
  case "$1" in
    --lr-side) side="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench-sr-fidelity.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

cargo build --release --bins --quiet
moga=target/release/moga
mkdir -p "$out"
lut="$out/moremnas-ort-lr$side.csv"
rm -f "$lut"
run() { echo "+ $*" >&2; "$@"; }

t0=$(date +%s)
# A lighter protocol than the default (645 units): at most 0.3 s per unit and round.
run "$moga" profile --device local --backend ort --space moremnas --lr-side "$side" \
  --warmup 5 --min-runs 20 --runs 300 --max-seconds 0.3 \
  -o "$lut" --local-root "$out/local" --json > "$out/profile.json"
t1=$(date +%s)
run "$moga" lut validate --lut "$lut" --space moremnas --lr-side "$side" \
  --samples "$samples" --seed "$seed" --no-store --local-root "$out/local" \
  --plot "$out/fidelity.svg" --details "$out/points.jsonl" | tee "$out/validate.txt"
t2=$(date +%s)
echo
echo "profiled $(grep -o '"units":[0-9]*' "$out/profile.json" | cut -d: -f2) units in $((t1 - t0)) s; validated $samples networks in $((t2 - t1)) s; report: $out/validate.txt"
