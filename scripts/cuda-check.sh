#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, as one short script (about 10 minutes on one
# GPU): set-up with the CUDA build of torch, `moga doctor`, a timed fair supernet step
# on CUDA beside the CPU, the same step data parallel over NCCL on every GPU present
# (the `nccl` feature; one rank per GPU, also on one GPU: a 1-rank NCCL group), and the
# rank check at a larger scale than a CPU affords.
# Prints every figure; writes them under --out. Without a GPU it stops at once, saying so.
#
#   scripts/cuda-check.sh [--out target/cuda-check] [--epochs 10]
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/cuda-check epochs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "cuda-check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "cuda-check: no NVIDIA GPU on this machine (nvidia-smi is missing or lists no GPU); run it on a CUDA host" >&2
  exit 1
fi
step() { printf '\n== %s\n' "$*" >&2; }
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpus.txt"

step "set-up with CUDA (scripts/setup.sh --cuda)"
timeout 600 scripts/setup.sh --cuda
step "release build (with NCCL)"
cargo build --release -p moga -p moga-torch --features moga-torch/nccl --quiet
moga=target/release/moga

step "moga doctor"
"$moga" doctor | tee "$out/doctor.txt"

step "fair supernet step, CUDA beside CPU (FairNAS space, digits, batch 64, 10 steps)"
for device in cuda cpu; do
  rm -rf "$out/step-$device"
  timeout 300 "$moga" train --space fairnas --strategy fair --epochs 1 --steps 10 --device "$device" \
    --seed 1 --json -o "$out/step-$device" | grep '"kind":"epoch"' > "$out/step-$device.json"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ips = {d: json.load(open(f"{out}/step-{d}.json"))["images_per_sec"] for d in ("cuda", "cpu")}
print(f"fair step: cuda {ips['cuda']:.1f} images/s, cpu {ips['cpu']:.1f} images/s, ratio {ips['cuda'] / ips['cpu']:.1f}x")
PY

gpus=$(nvidia-smi -L | grep -c '^GPU')
step "fair step over NCCL on $gpus GPU(s): moga train --nproc $gpus --device auto"
rm -rf "$out/step-nccl"
timeout 300 "$moga" train --nproc "$gpus" --dist-backend nccl --space fairnas --strategy fair \
  --epochs 1 --steps 10 --batch $((64 * gpus)) --device auto --seed 1 --json -o "$out/step-nccl" \
  | grep '"kind":"epoch"' > "$out/step-nccl.json"
python3 - "$out" "$gpus" <<'PY'
import json, sys
out, gpus = sys.argv[1], int(sys.argv[2])
one = json.load(open(f"{out}/step-cuda.json"))["images_per_sec"]
many = json.load(open(f"{out}/step-nccl.json"))["images_per_sec"]
print(f"fair step over NCCL: {gpus} rank(s) x 64 images {many:.1f} images/s, one GPU alone {one:.1f} images/s, "
      f"{many / one:.2f}x (ideal {gpus}x)")
PY

step "rank check at $epochs epochs (scripts/bench/rank-check.sh --device cuda)"
timeout 420 scripts/bench/rank-check.sh --moga "$moga" --device cuda --epochs "$epochs" \
  --standalone-epochs "$epochs" --out "$out/rank-check"
echo "cuda-check: done; figures under $out" >&2
