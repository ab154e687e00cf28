#!/usr/bin/env bash
# How far this machine's latency tables can be trusted, for both backends: for each, a
# block-level table and a single-operator table of the space are profiled on `local`,
# then the same random architectures (same seed) are measured whole against each
# (`moga lut validate`): share within ±10 % and ±5 %, RMSPE, RMSE, mean signed error
# and Kendall's τ of the plain sum of units and of the sum with the correction fitted
# on the other half of the sample.
#
#   scripts/bench-fidelity.sh [--space moga] [--samples 40] [--seed 1]
#                             [--ort-resolution 224] [--wgpu-resolution 64] [--out DIR]
#
# wgpu runs on lavapipe here (Vulkan on the CPU, about 100× slower than ONNX Runtime's
# kernels), hence its smaller default resolution; on a phone use `--device SERIAL` with
# the commands this prints. Tables, plots and per-network figures stay in --out
# (default target/bench-fidelity).
set -euo pipefail
cd "$(dirname "$0")/.."

space=moga samples=40 seed=1 ort_res=224 wgpu_res=64 out=target/bench-fidelity
while [ $# -gt 0 ]; do
  case "$1" in
    --space) space="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --ort-resolution) ort_res="$2"; shift 2 ;;
    --wgpu-resolution) wgpu_res="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench-fidelity.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

cargo build --bins --quiet
moga=target/debug/moga
mkdir -p "$out"
local_root="$out/local"

run() { echo "+ $*" >&2; "$@"; }

for backend in ort wgpu; do
  if [ "$backend" = ort ]; then
    res=$ort_res
    protocol=(--warmup 10 --min-runs 30 --max-seconds 1 --precision 0.01)
  else
    res=$wgpu_res
    protocol=(--warmup 2 --min-runs 10 --max-seconds 1 --precision 0.02)
  fi
  shape=(--resolution "$res" --classes 1000)
  for level in block op; do
    lut="$out/$space-$backend-r$res-$level.csv"
    ops=()
    [ "$level" = op ] && ops=(--ops)
    if [ ! -f "$lut" ]; then
      run $moga profile --device local --backend "$backend" --space "$space" "${ops[@]}" "${shape[@]}" \
        "${protocol[@]}" --local-root "$local_root" -o "$lut" >&2
    else
      run $moga profile --device local --backend "$backend" --space "$space" "${ops[@]}" "${shape[@]}" \
        "${protocol[@]}" --local-root "$local_root" -o "$lut" --resume >&2
    fi
    printf '\n== %s, %s-level table, %s at %d px: %d random networks (seed %d)\n' \
      "$backend" "$level" "$space" "$res" "$samples" "$seed"
    run $moga lut validate --lut "$lut" --space "$space" "${shape[@]}" --samples "$samples" --seed "$seed" \
      --local-root "$local_root" --plot "$out/$space-$backend-$level.svg" \
      --details "$out/$space-$backend-$level.jsonl"
  done
done
