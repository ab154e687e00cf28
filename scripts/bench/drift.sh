#!/usr/bin/env bash
# Why tables are measured against a reference network: how much a network's latency on
# this device moves from round to round, against how much its ratio to a reference run
# beside it moves. Three random networks of the space and the space's reference network
# (its first preset), exported at --resolution; `device-runner bench` runs them in
# --rounds interleaved rounds of --pairs pairs each, every run beside a reference run.
# Per network it prints the spread of the per-round medians (coefficient of variation,
# lowest to highest) of the raw time and of the ratio.
#
#   scripts/bench/drift.sh [--backend ort] [--space moga] [--resolution 224]
#                          [--rounds 20] [--pairs 10] [--seed 3]
. "$(dirname "$0")/lib.sh"
opt --backend backend ort
opt --space space moga
opt --resolution res 224
opt --rounds rounds 20
opt --pairs pairs 10
opt --seed seed 3
parse "$@"

cargo build --release --bins --quiet
moga=target/release/moga runner=target/release/device-runner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shape=(--resolution "$res" --classes 1000)
reference=$($moga space show "$space" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["presets"][0])')
$moga export "$reference" "${shape[@]}" -o "$work/reference.onnx" >&2
i=0
for arch in $($moga arch sample --space "$space" -n 3 --seed "$seed"); do
  $moga export "$arch" "${shape[@]}" --seed "$i" -o "$work/net-$i.onnx" >&2
  i=$((i + 1))
done
echo "+ $runner bench --backend $backend --rounds $rounds --runs $((rounds * pairs)) --reference … (3 networks)" >&2
$runner bench --backend "$backend" --json --warmup 5 --rounds "$rounds" --runs $((rounds * pairs)) \
  --max-seconds 600 --reference "$work/reference.onnx" \
  --model "$work/net-0.onnx" --model "$work/net-1.onnx" --model "$work/net-2.onnx" > "$work/out.jsonl"
python3 - "$work/out.jsonl" "$backend" "$space" "$res" "$rounds" "$pairs" <<'PY'
import json, statistics, sys
path, backend, space, res, rounds, pairs = sys.argv[1:]
print(f"{backend}, {space} at {res} px: {rounds} interleaved rounds of {pairs} pairs (network, reference) per network")
print(f"{'network':<10} {'median ms':>10} {'raw: CV':>9} {'lo–hi':>15} {'ratio: CV':>10} {'lo–hi':>15}")
for line in open(path):
    r = json.loads(line)
    if "error" in r:
        print(r["model"], r["error"]); continue
    raw, ratio = r["round_medians_ms"], r["ratio"]["round_medians"]
    cv = lambda v: 100 * statistics.pstdev(v) / statistics.mean(v)
    span = lambda v: f"{100*(min(v)/statistics.median(v)-1):+.1f}..{100*(max(v)/statistics.median(v)-1):+.1f} %"
    name = r["model"].rsplit("/", 1)[-1]
    print(f"{name:<10} {r['wall_median_ms']:>10.3f} {cv(raw):>8.2f}% {span(raw):>15} {cv(ratio):>9.2f}% {span(ratio):>15}")
PY
