#!/usr/bin/env bash
# Accuracy-oracle throughput: architectures evaluated per second by a supernet
# checkpoint (BatchNorm statistics reset and re-estimated over 10 training batches of
# 128, then validation in batches of 128), moga against PyTorch doing the same on the
# same space, data and threads (scripts/bench/supernet_reference.py --bench-eval). The two
# alternate in every round; prints per-side medians with the range over rounds, the
# ratio, and writes bench-oracle.json.
#
#   scripts/bench/oracle.sh [--space fairnas] [--resolution 32] [--archs 8] [--rounds 5]
#                           [--threads 2] [--out target/bench-oracle]
#
# Figures: "engine" = the evaluations alone (moga: the sum of `moga eval`'s per-arch
# seconds; PyTorch: the loop's), "process" = whole commands (start-up, loading the
# checkpoint or building the net, the data). Installs PyTorch into .deps/bench-venv on first use.
# About 4 minutes on 2 cores.
. "$(dirname "$0")/lib.sh"
opt --space space fairnas
opt --resolution resolution 32
opt --archs n 8
opt --rounds rounds 5
opt --threads threads 2
opt --out out target/bench-oracle
parse "$@"
bench_torch_venv
cargo build --release --bin moga --bin moga-torch --quiet
moga=target/release/moga
rm -rf "$out"; mkdir -p "$out"

# A checkpoint to evaluate: one SPOS step is enough (throughput does not depend on
# what the weights learnt).
"$moga" train --space "$space" --strategy spos --resolution "$resolution" --epochs 1 --steps 1 \
  --device cpu --threads "$threads" -o "$out/ckpt" >/dev/null 2>&1
"$moga" arch sample --space "$space" -n "$n" --seed 3 >"$out/archs.txt"
mapfile -t archs <"$out/archs.txt"

for r in $(seq 1 "$rounds"); do
  for side in moga torch; do
    # Alternate which side goes first, so drift does not favour one.
    [ $((r % 2)) -eq 0 ] && side=$([ "$side" = moga ] && echo torch || echo moga)
    start=$EPOCHREALTIME
    if [ "$side" = moga ]; then
      "$moga" eval --ckpt "$out/ckpt" --no-cache --device cpu --threads "$threads" --json "${archs[@]}" >"$out/moga-$r.jsonl"
    else
      "$py" scripts/bench/supernet_reference.py --moga "$moga" --space "$space" --resolution "$resolution" \
        --threads "$threads" --bench-eval "$out/archs.txt" >"$out/torch-$r.jsonl"
    fi
    echo "$side $r $start $EPOCHREALTIME" >>"$out/process.txt"
    echo "$bench: round $r/$rounds, $side done" >&2
  done
done

"$py" - "$out" "$rounds" "$n" <<'EOF'
import json, statistics, sys
out, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
proc = {}
for line in open(f"{out}/process.txt"):
    side, r, a, b = line.split()
    proc[(side, int(r))] = float(b) - float(a)
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
res = {"moga": {"engine": [], "process": []}, "torch": {"engine": [], "process": []}}
for r in range(1, rounds + 1):
    m = [x for x in rows(f"{out}/moga-{r}.jsonl") if "seconds" in x and "accuracy" in x]
    t = rows(f"{out}/torch-{r}.jsonl")[-1]
    res["moga"]["engine"].append(len(m) / sum(x["seconds"] for x in m))
    res["torch"]["engine"].append(len(t["seconds"]) / sum(t["seconds"]))
    for side in ("moga", "torch"):
        res[side]["process"].append(n / proc[(side, r)])
summary = {}
print(f"{'architectures/s':<22} | {'moga':>16} | {'PyTorch':>16} | {'ratio (per round)':>22}")
for kind in ("engine", "process"):
    a, b = res["moga"][kind], res["torch"][kind]
    ratios = [x / y for x, y in zip(a, b)]
    fmt = lambda v: f"{statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
    print(f"{kind:<22} | {fmt(a):>16} | {fmt(b):>16} | {fmt(ratios):>22}")
    summary[kind] = {"moga": a, "torch": b, "ratio": ratios, "ratio_median": statistics.median(ratios)}
json.dump({"archs": n, "rounds": rounds, **summary}, open(f"{out}/bench-oracle.json", "w"), indent=1)
print(f"written: {out}/bench-oracle.json (medians over {rounds} rounds, [min-max])")
EOF
