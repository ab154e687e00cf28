#!/usr/bin/env bash
# How far a super-resolution latency table holds on this machine: units profiled
# isolated with ONNX Runtime (or wgpu: lavapipe here) at an --lr-side square input,
# then `moga lut validate` on random networks measured whole against the same reference
# network: share within ±5 % / ±10 % (Wilson intervals), RMSPE and Kendall's τ of the
# plain sum and of the fitted corrections on the half no correction was fitted on.
#  - moremnas (default): the whole table (645 units: feature extractor, every cell at
#    every input width its position can have, tails);
#  - falsr: only the units of the --samples networks validate draws (the whole table
#    is 4,191 units), found with `moga lut predict` and profiled with --only. FALSR's
#    links concatenate a cell's inputs, and the copies are not units of their own, so
#    the plain sum's error here, beside moremnas's, is what they cost.
#
#   scripts/bench/sr-fidelity.sh [--space moremnas|falsr] [--backend ort|wgpu]
#       [--lr-side 64] [--samples 40] [--seed 1] [--out DIR]
#
# Tables, the plot, per-network figures and the validation report stay in --out
# (default target/bench-sr-fidelity/SPACE-BACKEND). On a phone use `--device SERIAL`
# with the commands this prints.
. "$(dirname "$0")/lib.sh"
opt --space space moremnas
opt --backend backend ort
opt --lr-side side 64
opt --samples samples 40
opt --seed seed 1
opt --out out ""
parse "$@"
case "$space" in moremnas|falsr) ;; *) echo "bench/sr-fidelity.sh: --space is moremnas or falsr" >&2; exit 2 ;; esac
case "$backend" in ort|wgpu) ;; *) echo "bench/sr-fidelity.sh: --backend is ort or wgpu" >&2; exit 2 ;; esac
out=${out:-target/bench-sr-fidelity/$space-$backend}

cargo build --release --bins --quiet
moga=target/release/moga
mkdir -p "$out"
lut="$out/$space-$backend-lr$side.csv"
rm -f "$lut"
run() { echo "+ $*" >&2; "$@"; }
# A lighter protocol than the default: at most 0.3 s per unit and round.
profile=("$moga" profile --device local --backend "$backend" --space "$space" --lr-side "$side"
  --warmup 5 --min-runs 20 --runs 300 --max-seconds 0.3 -o "$lut" --local-root "$out/local" --json)

t0=$(date +%s)
if [ "$space" = moremnas ]; then
  run "${profile[@]}" > "$out/profile.json"
else
  # The feature extractor first (a table to predict from), then every unit the sampled
  # networks lack, as `lut predict` names them.
  run "${profile[@]}" --only 'srfe*' > "$out/profile-fe.json"
  "$moga" arch sample --space "$space" -n "$samples" --seed "$seed" --json > "$out/archs.jsonl"
  : > "$out/missing.txt"
  while IFS= read -r arch; do
    "$moga" lut predict --lut "$lut" --lr-side "$side" "$arch" 2>&1 >/dev/null \
      | sed -n 's/^  \(sr[a-z]* .*\)$/\1/p' >> "$out/missing.txt" || true
  done < "$out/archs.jsonl"
  sort -u -o "$out/missing.txt" "$out/missing.txt"
  only=()
  while IFS= read -r unit; do only+=(--only "$unit"); done < "$out/missing.txt"
  echo "$(wc -l < "$out/missing.txt") units for $samples networks" >&2
  run "${profile[@]}" --resume "${only[@]}" > "$out/profile.json"
fi
t1=$(date +%s)
run "$moga" lut validate --lut "$lut" --space "$space" --lr-side "$side" \
  --samples "$samples" --seed "$seed" --no-store --local-root "$out/local" \
  --plot "$out/fidelity.svg" --details "$out/points.jsonl" | tee "$out/validate.txt"
t2=$(date +%s)
echo
echo "profiled $(grep -ho '"units":[0-9]*' "$out"/profile*.json | cut -d: -f2 | awk '{s += $1} END {print s}') units in $((t1 - t0)) s; validated $samples networks in $((t2 - t1)) s; report: $out/validate.txt"
