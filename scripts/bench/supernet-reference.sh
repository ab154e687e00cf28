#!/usr/bin/env bash
# moga's supernet training beside its PyTorch reference (scripts/bench/supernet_reference.py):
# the same space, strategy, data, schedule and seed on both sides, one after the other
# in each round; prints the per-epoch loss and training accuracy side by side and the
# BN-recalibrated validation accuracy of the space's presets (or of --arch), and
# writes everything as JSON.
#
#   scripts/bench/supernet-reference.sh [--strategy fair|spos|standalone] [--arch FairNAS-C]
#       [--space fairnas] [--epochs 3] [--steps N] [--batch 64] [--lr 0.02] [--seed 5]
#       [--weights entangled|separate] [--residual-init zero|one] [--augment]
#       [--moga BIN (default: build and use target/release/moga)]
#       [--out target/supernet-reference] [-- extra reference-only flags, e.g. --sample-layers keep-shape]
#
# The reference's random streams are its own (torch's and Python's generators), so
# the curves agree in distribution, not bit for bit. Needs the full torch in
# .deps/bench-venv (scripts/bench/train.sh installs it). About 6 min for a fair run
# of 3 x 22 steps on 2 cores (about 28 min at --epochs 14).
. "$(dirname "$0")/lib.sh"
opt --strategy strategy fair
opt --arch arch ""
opt --space space fairnas
opt --epochs epochs 3
opt --steps steps ""
opt --batch batch 64
opt --lr lr 0.02
opt --seed seed 5
opt --weights weights entangled
opt --residual-init rinit zero
opt --out out target/supernet-reference
opt --moga moga ""
flag --augment augment 1 ""
rest_into extra
parse "$@"
if [ "$strategy" = standalone ] && [ -z "$arch" ]; then
  die "--strategy standalone needs --arch"
fi
bench_torch_venv

if [ -z "$moga" ]; then
  cargo build --release --bin moga --bin moga-torch --quiet
  moga=target/release/moga
fi
rm -rf "$out"; mkdir -p "$out"
common=(--space "$space" --epochs "$epochs" --batch "$batch" --lr "$lr" --seed "$seed" --residual-init "$rinit")
[ -n "$steps" ] && common+=(--steps "$steps")
[ -n "$augment" ] && common+=(--augment)
if [ "$strategy" = standalone ]; then kind=(--arch "$arch"); else kind=(--strategy "$strategy" --weights "$weights"); fi

echo "moga train ${common[*]} ${kind[*]} (2 threads)" >&2
start=$SECONDS
"$moga" train "${common[@]}" "${kind[@]}" --device cpu --json -o "$out/moga" >"$out/moga.jsonl"
moga_s=$((SECONDS - start))
if [ "$strategy" = standalone ]; then presets=("$arch"); else
  mapfile -t presets < <("$moga" space show "$space" --json | "$py" -c 'import json,sys; print("\n".join(json.load(sys.stdin)["presets"]))')
fi
"$moga" eval --ckpt "$out/moga" --json "${presets[@]}" >"$out/moga-eval.jsonl"

echo "reference (PyTorch $("$py" -c 'import torch; print(torch.__version__)'), 2 threads) ${extra[*]:-}" >&2
start=$SECONDS
ref_kind=(--strategy "$strategy" --weights "$weights"); [ -n "$arch" ] && ref_kind+=(--arch "$arch")
"$py" scripts/bench/supernet_reference.py --moga "$moga" "${common[@]}" "${ref_kind[@]}" --threads 2 "${extra[@]}" >"$out/reference.jsonl"
ref_s=$((SECONDS - start))

"$py" - "$out" "$moga_s" "$ref_s" <<'EOF'
import json, sys
out, moga_s, ref_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
m = [r for r in rows(f"{out}/moga.jsonl") if r.get("kind") == "epoch"]
ref = rows(f"{out}/reference.jsonl")
r = [x for x in ref if x["kind"] == "epoch"]
print(f"{'epoch':>5} | {'moga loss':>9} {'acc %':>6} | {'torch loss':>10} {'acc %':>6}")
for a, b in zip(m, r):
    print(f"{a['epoch']:>5} | {a['loss']:>9.3f} {a['train_accuracy']:>6.1f} | {b['loss']:>10.3f} {b['train_accuracy']:>6.1f}")
me = {x.get("preset") or x["arch"]: x["accuracy"] for x in rows(f"{out}/moga-eval.jsonl")}
re_ = {x["arch"]: x["accuracy"] for x in ref if x["kind"] == "eval"}
print(f"\n{'validation (BN recalibrated)':<30} | {'moga %':>6} | {'torch %':>7}")
for k in re_:
    print(f"{k:<30} | {me.get(k, float('nan')):>6.1f} | {re_[k]:>7.1f}")
print(f"\nwhole runs: moga {moga_s:.0f} s, reference {ref_s:.0f} s")
json.dump({"moga": {"epochs": m, "eval": me, "seconds": moga_s},
           "reference": {"epochs": r, "eval": re_, "seconds": ref_s}}, open(f"{out}/summary.json", "w"), indent=1)
print(f"written: {out}/summary.json")
EOF
