#!/usr/bin/env bash
# One strict-fairness supernet step, moga (Rust, tch/libtorch) beside PyTorch (Python)
# on the same supernet, data, batch, resolution and threads: images per second of the
# timed steps after the same number of warm-up steps, and the ratio. On the CPU always;
# on the GPU as well when PyTorch sees CUDA. PyTorch (the version scripts/setup.sh pins: the libtorch moga links)
# is installed into .deps/bench-venv (about 3 GB with its CUDA libraries).
#
#   scripts/bench/train.sh [--space fairnas] [--batch 32] [--resolution 32] [--steps 8] [--threads 2]
#
# With --ranks N: data parallel on this host, in --rounds interleaved rounds: moga on N
# ranks x 1 thread (`moga train --nproc N`, c10d Gloo), moga on 1 rank x N threads, and
# PyTorch DistributedDataParallel (Gloo) on N ranks x 1 thread under the venv's torchrun
# (`train_torch.py --ddp`), the same fair step on the same global batch (separate
# choice weights and padded random crops in both). Prints each run and the medians.
#
#   scripts/bench/train.sh --ranks 2 [--rounds 5] [--batch 32] [--steps 8]
. "$(dirname "$0")/lib.sh"
opt --ranks ranks 0
opt --rounds rounds 5
opt --space space fairnas
opt --batch batch 32
opt --resolution res 32
opt --steps steps 8
opt --threads threads "$(nproc)"
parse "$@"

if [ "$ranks" -gt 0 ]; then
  # The setup venv's torch (libtorch only, CUDA stubbed) runs torchrun and DDP on the CPU.
  venv=.deps/venv
  [ -x "$venv/bin/torchrun" ] || { echo "$bench: no $venv/bin/torchrun; run scripts/setup.sh" >&2; exit 2; }
  export LD_LIBRARY_PATH=".deps/torch-cpu-stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cargo build --release --bins --quiet
  moga=target/release/moga
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$moga" space show "$space" --resolution "$res" --classes 10 --json > "$tmp/space.json"
  common=(train --space "$space" --strategy fair --weights separate --augment --data digits
          --resolution "$res" --batch "$batch" --epochs 2 --steps "$steps" --device cpu --seed 1 --json)
  epoch2() { python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"epoch\"" in l][-1]["images_per_sec"])' "$1"; }
  printf '%-5s %22s %22s %22s\n' round "moga ${ranks}x1 img/s" "moga 1x${ranks} img/s" "DDP ${ranks}x1 img/s"
  for r in $(seq 1 "$rounds"); do
    rm -rf "$tmp"/ck-*
    "$moga" "${common[@]}" --nproc "$ranks" --threads 1 -o "$tmp/ck-ranks" 2>/dev/null > "$tmp/ranks.jsonl"
    "$moga" "${common[@]}" --threads "$ranks" -o "$tmp/ck-one" 2>/dev/null > "$tmp/one.jsonl"
    OMP_NUM_THREADS=1 "$venv/bin/torchrun" --nproc-per-node "$ranks" --master-port "$((29500 + r))" \
      scripts/bench/train_torch.py "$tmp/space.json" supernet/data/digits.csv.gz \
      "$batch" "$steps" "$steps" 1 cpu --ddp 2>/dev/null | grep '^{' > "$tmp/ddp.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["in_sync"], "DDP ranks diverged"' "$tmp/ddp.json"
    a=$(epoch2 "$tmp/ranks.jsonl") b=$(epoch2 "$tmp/one.jsonl")
    c=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_sec"])' "$tmp/ddp.json")
    printf '%-5s %22.1f %22.1f %22.1f\n' "$r" "$a" "$b" "$c"
    echo "$a $b $c" >> "$tmp/rounds.txt"
  done
  python3 - "$tmp/rounds.txt" "$ranks" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n = sys.argv[2]
med = [statistics.median(c) for c in zip(*rows)]
ratio = sorted(r[0] / r[2] for r in rows)
print(f"median images/s: moga {n}x1 {med[0]:.1f}, moga 1x{n} {med[1]:.1f}, DDP {n}x1 {med[2]:.1f}")
print(f"moga {n} ranks / DDP: median {statistics.median(ratio):.2f} (per round {ratio[0]:.2f}..{ratio[-1]:.2f}); moga {n} ranks / moga 1x{n} threads: {med[0] / med[1]:.2f}")
PY
  echo "fair step of the $space supernet (separate weights, random crops), global batch $batch at ${res}x${res}; moga: its second epoch of $steps steps; DDP: $steps timed steps after $steps warm-up steps"
  exit 0
fi

bench_torch_venv

cargo build --bins --quiet
moga=target/debug/moga
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$moga" space show "$space" --resolution "$res" --classes 10 --json > "$tmp/space.json"

devices=cpu
if "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  devices="cpu cuda"
fi
printf '%-6s %8s %12s %15s %8s %12s %12s\n' device threads moga_img/s pytorch_img/s ratio moga_wall_s torch_wall_s
for dev in $devices; do
  t0=$(date +%s.%N)
  # Two epochs of $steps steps: the first warms up, the second is timed.
  "$moga" train --space "$space" --strategy fair --data digits --resolution "$res" --batch "$batch" \
    --epochs 2 --steps "$steps" --device "$dev" --threads "$threads" --seed 1 -o "$tmp/ck-$dev" --json \
    2>/dev/null > "$tmp/moga-$dev.jsonl"
  t1=$(date +%s.%N)
  "$py" scripts/bench/train_torch.py "$tmp/space.json" supernet/data/digits.csv.gz \
    "$batch" "$steps" "$steps" "$threads" "$dev" > "$tmp/torch-$dev.json"
  t2=$(date +%s.%N)
  python3 - "$tmp/moga-$dev.jsonl" "$tmp/torch-$dev.json" "$dev" "$threads" "$t0" "$t1" "$t2" <<'PY'
import json, sys
epochs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
moga = [e for e in epochs if e.get("kind") == "epoch"][-1]["images_per_sec"]
torch = json.load(open(sys.argv[2]))["images_per_sec"]
dev, threads = sys.argv[3], sys.argv[4]
t0, t1, t2 = map(float, sys.argv[5:8])
print(f"{dev:<6} {threads:>8} {moga:12.1f} {torch:15.1f} {moga / torch:8.2f} {t1 - t0:12.1f} {t2 - t1:12.1f}")
PY
done
echo "fair step of the $space supernet, batch $batch at ${res}x${res}, $steps timed steps after $steps warm-up steps; images/s counts each batch image once (it runs through every path)"
