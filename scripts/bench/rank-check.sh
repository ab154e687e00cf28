#!/usr/bin/env bash
# FairNAS's central claim, measured: does a strictly fair supernet rank architectures
# more like their stand-alone training does than an SPOS supernet? Trains a `fair` and
# an `spos` supernet on the same data and budget (same epochs, batch, lr, seed), trains
# the space's presets and architectures spread over the space's MAdds range stand-alone
# (K in all), evaluates the K on both supernets (inherited weights, BatchNorm
# recalibrated) and reports Kendall's tau-b between each supernet's accuracies and the
# stand-alone ones, with a bootstrap 95 % interval (architectures resampled). The truth's
# own ceiling comes first: every stand-alone network is trained twice (seeds S and S+1)
# and tau-b between the two is as well as any oracle can agree with one of them
# (--no-ceiling skips the second seed). Writes rank-check.json and rank-check.svg (the
# scatter) into --out. Runs are checkpointed: rerunning continues.
#
# --data digits-affine: the bundled digits under fixed random affine maps and elastic
# distortion (supernet/data/README.md), a task on which networks differ more.
#
#   scripts/bench/rank-check.sh [--space fairnas] [--data digits] [--epochs 3] [--standalone-epochs 3]
#                         [--k 12] [--batch 64] [--lr 0.02] [--steps N] [--device auto] [--seed 1] [--no-ceiling]
#                         [--out target/rank-check] [--moga BIN (default: build and use target/debug/moga)]
#                         [-- extra moga train flags for every run]
#
# The defaults take about 10 minutes on 2 CPU cores; on a CUDA host raise --epochs.
. "$(dirname "$0")/lib.sh"
opt --space space fairnas
opt --data data digits
opt --epochs epochs 3
opt --standalone-epochs sa_epochs 3
opt --k k 12
opt --batch batch 64
opt --lr lr 0.02
opt --steps steps ""
opt --device device auto
opt --seed seed 1
opt --out out target/rank-check
opt --moga moga ""
flag --no-ceiling ceiling 0 1
rest_into extra
parse "$@"

if [ -z "$moga" ]; then
  cargo build --bins --quiet
  moga=target/debug/moga
fi
mkdir -p "$out"
common=(--data "$data" --batch "$batch" --lr "$lr" --device "$device")
[ -n "$steps" ] && common+=(--steps "$steps")
common+=("${extra[@]}")
second=("${common[@]}" --seed "$((seed + 1))")
common+=(--seed "$seed")

# Trains into $1 (new, or resumed when a finished epoch is there); the rest are flags.
train() {
  local dir="$1" n="$2"; shift 2
  if [ -f "$dir/state.json" ]; then
    "$moga" train -o "$dir" --resume --epochs "$n" --device "$device" >&2
  else
    "$moga" train -o "$dir" --epochs "$n" "$@" >&2
  fi
}

for strategy in fair spos; do
  say "$strategy supernet of $space, $epochs epochs"
  train "$out/$strategy" "$epochs" --space "$space" --strategy "$strategy" "${common[@]}"
done

# The presets, then architectures at evenly spaced MAdds quantiles of 400 samples.
if [ ! -f "$out/archs.txt" ]; then
  "$moga" space show "$space" --json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["presets"]))' > "$out/presets.txt"
  mapfile -t presets < "$out/presets.txt"
  mapfile -t pool < <("$moga" arch sample --space "$space" -n 400 --seed "$seed")
  "$moga" arch stats "${presets[@]}" "${pool[@]}" --json | python3 -c '
import json, sys
k, n_presets = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(l) for l in sys.stdin if l.strip()]
presets, pool = rows[:n_presets], sorted(rows[n_presets:], key=lambda r: r["madds"])
rest = max(0, k - len(presets))
picked = [pool[round(i * (len(pool) - 1) / max(1, rest - 1))] for i in range(rest)]
for r in presets + picked:
    print(r["arch"])
' "$k" "${#presets[@]}" > "$out/archs.txt"
fi
k=$(wc -l < "$out/archs.txt")
i=0
: > "$out/standalone.jsonl"
: > "$out/standalone-seed2.jsonl"
while read -r arch; do
  i=$((i + 1))
  say "stand-alone $i/$k, $sa_epochs epochs"
  train "$out/standalone-$i" "$sa_epochs" --space "$space" --arch "$arch" "${common[@]}"
  python3 - "$out/standalone-$i/state.json" "$arch" >> "$out/standalone.jsonl" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
print(json.dumps({"arch": sys.argv[2], "accuracy": state["history"][-1]["val_accuracy"]}))
PY
  if [ "$ceiling" = 1 ]; then
    say "stand-alone $i/$k again with seed $((seed + 1)) (the ceiling)"
    train "$out/standalone-$i-seed2" "$sa_epochs" --space "$space" --arch "$arch" "${second[@]}"
    python3 - "$out/standalone-$i-seed2/state.json" "$arch" >> "$out/standalone-seed2.jsonl" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
print(json.dumps({"arch": sys.argv[2], "accuracy": state["history"][-1]["val_accuracy"]}))
PY
  fi
done < "$out/archs.txt"

for strategy in fair spos; do
  say "evaluating the $k architectures on the $strategy supernet"
  xargs "$moga" eval --ckpt "$out/$strategy" --device "$device" --json < "$out/archs.txt" > "$out/$strategy-eval.jsonl"
done

RANK_CONFIG="space=$space data=$data epochs=$epochs standalone_epochs=$sa_epochs batch=$batch lr=$lr steps=${steps:-all} seed=$seed extra=${extra[*]:-}" \
python3 - "$out" <<'PY'
import json, os, random, sys
out = sys.argv[1]
read = lambda p: [json.loads(l) for l in open(p) if l.strip()]
sa = {r["arch"]: r["accuracy"] for r in read(f"{out}/standalone.jsonl")}
sa2 = {r["arch"]: r["accuracy"] for r in read(f"{out}/standalone-seed2.jsonl")}


def kendall_tau_b(x, y):
    n, c, d, tx, ty = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            a, b = x[i] - x[j], y[i] - y[j]
            if a == 0 and b == 0:
                continue
            if a == 0:
                tx += 1
            elif b == 0:
                ty += 1
            elif (a > 0) == (b > 0):
                c += 1
            else:
                d += 1
    denom = ((c + d + tx) * (c + d + ty)) ** 0.5
    return (c - d) / denom if denom else float("nan")


def bootstrap(x, y, rounds=2000, seed=1):
    """95 % percentile interval of tau-b over architectures resampled with replacement."""
    rng, n, taus = random.Random(seed), len(x), []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        t = kendall_tau_b([x[i] for i in idx], [y[i] for i in idx])
        if t == t:
            taus.append(t)
    taus.sort()
    return (taus[int(0.025 * len(taus))], taus[int(0.975 * len(taus)) - 1]) if taus else (float("nan"),) * 2


rows = {s: {r["arch"]: r for r in read(f"{out}/{s}-eval.jsonl")} for s in ("fair", "spos")}
archs = list(sa)
print(f"{'architecture':<24} {'preset':<10} {'stand-alone %':>14} {'seed 2 %':>9} {'fair %':>8} {'spos %':>8}")
for i, a in enumerate(archs):
    label = f"#{i + 1} {a.split(':', 1)[-1]}"
    label = label if len(label) <= 24 else label[:23] + "…"
    preset = rows["fair"][a].get("preset") or ""
    second = f"{sa2[a]:9.2f}" if a in sa2 else f"{'-':>9}"
    print(f"{label:<24} {preset:<10} {sa[a]:14.2f} {second} {rows['fair'][a]['accuracy']:8.2f} {rows['spos'][a]['accuracy']:8.2f}")
result = {"config": os.environ.get("RANK_CONFIG", ""), "architectures": [], "kendall_tau": {}}
for a in archs:
    result["architectures"].append({"arch": a, "preset": rows["fair"][a].get("preset"), "standalone": sa[a],
                                     "fair": rows["fair"][a]["accuracy"], "spos": rows["spos"][a]["accuracy"]})
x = [sa[a] for a in archs]
print(f"stand-alone accuracies span {min(x):.2f}..{max(x):.2f} % over {len(archs)} architectures")
if all(a in sa2 for a in archs):
    x2 = [sa2[a] for a in archs]
    tau, (lo, hi) = kendall_tau_b(x, x2), bootstrap(x, x2)
    result["ceiling"] = {"tau_b": tau, "ci95": [lo, hi], "architectures": len(archs)}
    for r in result["architectures"]:
        r["standalone_seed2"] = sa2[r["arch"]]
    print(f"Ceiling: Kendall tau-b between two stand-alone seeds, {len(archs)} architectures: {tau:+.3f}, bootstrap 95 % interval [{lo:+.3f}, {hi:+.3f}]")
for s in ("fair", "spos"):
    y = [rows[s][a]["accuracy"] for a in archs]
    tau, (lo, hi) = kendall_tau_b(x, y), bootstrap(x, y)
    result["kendall_tau"][s] = {"tau_b": tau, "ci95": [lo, hi], "architectures": len(archs)}
    print(f"Kendall tau-b ({s} supernet vs stand-alone, {len(archs)} architectures): {tau:+.3f}, bootstrap 95 % interval [{lo:+.3f}, {hi:+.3f}]")
tmp = f"{out}/rank-check.json.tmp"
json.dump(result, open(tmp, "w"), indent=1)
os.replace(tmp, f"{out}/rank-check.json")

# Scatter: stand-alone accuracy (x) against each supernet's (y).
W, H, M = 520, 400, 55
vals = x + [r[s] for r in result["architectures"] for s in ("fair", "spos")]
lo_v, hi_v = min(vals) - 2, max(vals) + 2
X = lambda v: M + (v - min(x) + 1) / (max(x) - min(x) + 2) * (W - 2 * M)
Y = lambda v: H - M - (v - lo_v) / (hi_v - lo_v) * (H - 2 * M)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<line x1="{M}" y1="{H - M}" x2="{W - M}" y2="{H - M}" stroke="black"/>',
       f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>',
       f'<text x="{W / 2}" y="{H - 15}" text-anchor="middle">stand-alone validation accuracy (%)</text>',
       f'<text x="15" y="{H / 2}" transform="rotate(-90 15 {H / 2})" text-anchor="middle">supernet accuracy, inherited weights (%)</text>']
for v in (min(x), max(x)):
    svg.append(f'<text x="{X(v):.1f}" y="{H - M + 15}" text-anchor="middle">{v:.1f}</text>')
for v in (lo_v + 2, hi_v - 2):
    svg.append(f'<text x="{M - 5}" y="{Y(v):.1f}" text-anchor="end">{v:.1f}</text>')
for s, colour, yl in (("fair", "#1f77b4", 20), ("spos", "#d62728", 36)):
    t = result["kendall_tau"][s]
    for r in result["architectures"]:
        svg.append(f'<circle cx="{X(r["standalone"]):.1f}" cy="{Y(r[s]):.1f}" r="4" fill="{colour}" fill-opacity="0.7"/>')
    svg.append(f'<text x="{M + 10}" y="{yl}" fill="{colour}">{s}: tau-b {t["tau_b"]:+.2f} [{t["ci95"][0]:+.2f}, {t["ci95"][1]:+.2f}]</text>')
svg.append("</svg>")
open(f"{out}/rank-check.svg", "w").write("\n".join(svg))
print(f"written: {out}/rank-check.json, {out}/rank-check.svg")
PY
