#!/usr/bin/env bash
# FairNAS's central claim, measured: does a strictly fair supernet rank architectures
# more like their stand-alone training does than an SPOS supernet? Trains a `fair` and
# an `spos` supernet on the same data and budget (same epochs, batch, lr, seed), trains
# K sampled architectures stand-alone, evaluates the K on both supernets (inherited
# weights, BatchNorm recalibrated) and prints Kendall's tau between each supernet's
# accuracies and the stand-alone ones. Runs are checkpointed: rerunning continues.
#
#   scripts/rank-check.sh [--space fairnas] [--data digits] [--epochs 3] [--standalone-epochs 2]
#                         [--k 6] [--batch 32] [--lr 0.02] [--steps N] [--device auto] [--seed 1] [--out target/rank-check]
#
# The defaults take about 15 minutes on 2 CPU cores; on a CUDA host raise --epochs.
set -euo pipefail
cd "$(dirname "$0")/.."

space=fairnas data=digits epochs=3 sa_epochs=2 k=6 batch=32 lr=0.02 steps="" device=auto seed=1 out=target/rank-check
while [ $# -gt 0 ]; do
  case "$1" in
    --space) space="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --standalone-epochs) sa_epochs="$2"; shift 2 ;;
    --k) k="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --lr) lr="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "rank-check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

cargo build --bins --quiet
moga=target/debug/moga
mkdir -p "$out"
common=(--data "$data" --batch "$batch" --lr "$lr" --device "$device" --seed "$seed")
[ -n "$steps" ] && common+=(--steps "$steps")

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
  echo "rank-check: $strategy supernet of $space, $epochs epochs" >&2
  train "$out/$strategy" "$epochs" --space "$space" --strategy "$strategy" "${common[@]}"
done

"$moga" arch sample --space "$space" -n "$k" --seed "$seed" > "$out/archs.txt"
i=0
: > "$out/standalone.jsonl"
while read -r arch; do
  i=$((i + 1))
  echo "rank-check: stand-alone $i/$k, $sa_epochs epochs" >&2
  train "$out/standalone-$i" "$sa_epochs" --space "$space" --arch "$arch" "${common[@]}"
  python3 - "$out/standalone-$i/state.json" "$arch" >> "$out/standalone.jsonl" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
print(json.dumps({"arch": sys.argv[2], "accuracy": state["history"][-1]["val_accuracy"]}))
PY
done < "$out/archs.txt"

for strategy in fair spos; do
  echo "rank-check: evaluating the $k architectures on the $strategy supernet" >&2
  xargs "$moga" eval --ckpt "$out/$strategy" --device "$device" --json < "$out/archs.txt" > "$out/$strategy-eval.jsonl"
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
read = lambda p: [json.loads(l) for l in open(p) if l.strip()]
sa = {r["arch"]: r["accuracy"] for r in read(f"{out}/standalone.jsonl")}

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

rows = {s: {r["arch"]: r["accuracy"] for r in read(f"{out}/{s}-eval.jsonl")} for s in ("fair", "spos")}
archs = list(sa)
print(f"{'architecture':<24} {'stand-alone %':>14} {'fair %':>8} {'spos %':>8}")
for i, a in enumerate(archs):
    label = f"#{i + 1} {a.split(':', 1)[-1]}"
    label = label if len(label) <= 24 else label[:23] + "…"
    print(f"{label:<24} {sa[a]:14.2f} {rows['fair'][a]:8.2f} {rows['spos'][a]:8.2f}")
for s in ("fair", "spos"):
    tau = kendall_tau_b([sa[a] for a in archs], [rows[s][a] for a in archs])
    print(f"Kendall tau ({s} supernet vs stand-alone, {len(archs)} architectures): {tau:+.3f}")
PY
