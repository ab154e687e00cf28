#!/usr/bin/env bash
# The wgpu kernels beside ONNX Runtime's CPU kernels on the same shapes: every
# single-operator unit of a space's blocks (1×1 and k×k convolutions, depthwise, SE,
# pooling, residual add, fully connected), each measured by `device-runner bench` on
# both backends in turn (wgpu, then ort, unit by unit, so drift hits both alike), and
# the ratio wgpu / ort of their median wall times per unit, per operator kind (geometric
# mean) and overall.
#
#   scripts/bench/kernels.sh [--space moga] [--runs 20] [--threads 1] [--limit N]
#
# On a machine without a GPU, wgpu runs on lavapipe (Vulkan on the CPU): the ratio then
# compares a CPU emulation of a GPU with native CPU kernels, not phone GPU against CPU.
. "$(dirname "$0")/lib.sh"
opt --space space moga
opt --runs runs 20
opt --threads threads 1
opt --limit limit 0
parse "$@"

cargo build --bins --quiet
bin=target/debug
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$bin/moga export-units --space "$space" --ops -o "$tmp/units" >&2
models=$(ls "$tmp/units"/*.onnx)
[ "$limit" -gt 0 ] && models=$(echo "$models" | head -n "$limit")
n=$(echo "$models" | wc -l)
echo "measuring $n single-operator units of space $space: $runs runs each, ort with $threads thread(s)" >&2
i=0
for m in $models; do
  i=$((i + 1))
  printf '\r  %d/%d %s' "$i" "$n" "$(basename "$m")" >&2
  $bin/device-runner bench --backend wgpu --model "$m" --warmup 3 --runs "$runs" --json >> "$tmp/wgpu.jsonl" || true
  $bin/device-runner bench --backend ort --model "$m" --warmup 10 --runs "$runs" --threads "$threads" --json >> "$tmp/ort.jsonl" || true
done
echo >&2

python3 - "$tmp/units/units.jsonl" "$tmp/wgpu.jsonl" "$tmp/ort.jsonl" <<'PY'
import json, math, os, sys
from collections import defaultdict

units = {u["file"]: u for u in map(json.loads, open(sys.argv[1]))}
def load(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        out[os.path.basename(r["model"])] = r
    return out
wgpu, ort = load(sys.argv[2]), load(sys.argv[3])
device = next((r.get("device") for r in wgpu.values() if "device" in r), "?")
ort_dev = next((r.get("device") for r in ort.values() if "device" in r), "?")
print(f"wgpu: {device}\nort:  {ort_dev}\n")
print(f"{'unit':48} {'wgpu ms':>10} {'gpu ms':>10} {'ort ms':>10} {'wgpu/ort':>9}")
by_kind = defaultdict(list)
for f in sorted(set(wgpu) | set(ort)):
    w, o = wgpu.get(f, {}), ort.get(f, {})
    if "wall_median_ms" not in w or "wall_median_ms" not in o:
        print(f"{units[f]['unit']:48} failed: {w.get('error') or o.get('error')}")
        continue
    r = w["wall_median_ms"] / o["wall_median_ms"]
    by_kind[units[f]["key"]["kind"]].append(r)
    gpu = w.get("gpu_median_ms")
    print(f"{units[f]['unit']:48} {w['wall_median_ms']:10.3f} {gpu if gpu is not None else float('nan'):10.3f} {o['wall_median_ms']:10.3f} {r:9.2f}")
gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
print("\nwgpu / ort, geometric mean of median wall times:")
for k, xs in sorted(by_kind.items()):
    print(f"  {k:8} {gm(xs):8.2f}  ({len(xs)} units)")
allr = [x for xs in by_kind.values() for x in xs]
if allr:
    print(f"  {'all':8} {gm(allr):8.2f}  ({len(allr)} units)")
PY
