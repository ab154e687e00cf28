#!/usr/bin/env bash
# Data-parallel training against one process: the same fair supernet (space, data,
# global batch, epochs, lr, seed) trained once in one process and once on N ranks
# under the venv's torchrun (`torchrun --nproc-per-node N --no-python moga train`,
# c10d Gloo, 1 thread per rank), and, for scale, once more in one process with the next
# seed; then every preset of the space evaluated on the three checkpoints (BatchNorm
# recalibrated) and the accuracies printed side by side: the ranks' difference from
# the one-process run beside the difference another seed makes. Checkpoints go under
# --out; a rerun starts them again.
#
#   scripts/bench/dist-check.sh [--space fairnas] [--ranks 2] [--epochs 3] [--batch 64] [--seed 1]
#                         [--out target/dist-check]
. "$(dirname "$0")/lib.sh"
opt --space space fairnas
opt --ranks ranks 2
opt --epochs epochs 3
opt --batch batch 64
opt --seed seed 1
opt --out out target/dist-check
parse "$@"

venv=.deps/venv
[ -x "$venv/bin/torchrun" ] || { die "no $venv/bin/torchrun; run scripts/setup.sh"; }
cargo build --release --bins --quiet
moga=$PWD/target/release/moga
rm -rf "$out"
mkdir -p "$out"
common=(train --space "$space" --strategy fair --data digits --batch "$batch" --epochs "$epochs"
        --device cpu --seed "$seed" --json)
cores=$(nproc)

t0=$(date +%s)
"$moga" "${common[@]}" --threads "$cores" -o "$out/one" 2>"$out/one.log" >"$out/one.jsonl"
t1=$(date +%s)
LD_LIBRARY_PATH=".deps/torch-cpu-stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" OMP_NUM_THREADS=1 \
  "$venv/bin/torchrun" --nproc-per-node "$ranks" --master-port "$((29400 + RANDOM % 500))" --no-python \
  "$moga" "${common[@]}" --threads 1 -o "$out/ranks" 2>"$out/ranks.log" >"$out/ranks.jsonl"
t2=$(date +%s)
common[${#common[@]}-2]=$((seed + 1))
"$moga" "${common[@]}" --threads "$cores" -o "$out/seed" 2>"$out/seed.log" >"$out/seed.jsonl"

mapfile -t presets < <("$moga" space show "$space" --json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["presets"]))')
"$moga" eval --ckpt "$out/one" --device cpu --json "${presets[@]}" >"$out/one-eval.jsonl"
"$moga" eval --ckpt "$out/ranks" --device cpu --json "${presets[@]}" >"$out/ranks-eval.jsonl"
"$moga" eval --ckpt "$out/seed" --device cpu --json "${presets[@]}" >"$out/seed-eval.jsonl"

python3 - "$out" "$ranks" "$((t1 - t0))" "$((t2 - t1))" <<'PY'
import json, sys
out, ranks, s1, s2 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def lines(p):
    return [json.loads(l) for l in open(p) if l.startswith("{")]
one, many = lines(f"{out}/one-eval.jsonl"), lines(f"{out}/ranks-eval.jsonl")
other = lines(f"{out}/seed-eval.jsonl")
e1 = [l for l in lines(f"{out}/one.jsonl") if l.get("kind") == "epoch"]
e2 = [l for l in lines(f"{out}/ranks.jsonl") if l.get("kind") == "epoch"]
print(f"{'':<12} {'1 process':>10} {ranks + ' ranks':>10} {'difference':>11} {'next seed':>10} {'difference':>11}")
for a, b in zip(e1, e2):
    print(f"{'epoch ' + str(a['epoch']) + ' loss':<12} {a['loss']:10.4f} {b['loss']:10.4f} {b['loss'] - a['loss']:+11.4f}")
worst, seed_worst = 0.0, 0.0
for a, b, c in zip(one, many, other):
    d, e = b["accuracy"] - a["accuracy"], c["accuracy"] - a["accuracy"]
    worst, seed_worst = max(worst, abs(d)), max(seed_worst, abs(e))
    print(f"{a.get('preset') or a['arch']:<12} {a['accuracy']:9.2f}% {b['accuracy']:9.2f}% {d:+10.2f} {c['accuracy']:9.2f}% {e:+10.2f}")
print(f"largest preset difference: {ranks} ranks {worst:.2f} points, next seed {seed_worst:.2f} points; "
      f"training {s1} s (1 process) and {s2} s ({ranks} ranks)")
PY
