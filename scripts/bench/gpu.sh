#!/usr/bin/env bash
# moga's wgpu backend beside ncnn's Vulkan backend (the ncnn 1.0.20261020 wheel) on the
# same Vulkan driver (lavapipe on a machine without a GPU), on the same models and the
# same seeded input:
#
# 1. Whole models: `moga export` presets (random weights) at each resolution, converted
#    to ncnn by pnnx 20261020 (fp32 weights). Per round and model, in turn:
#    `device-runner bench --backend wgpu` (median wall time per run), then ncnn with
#    fp16/bf16/int8 all off ("fp32") and with ncnn's defaults (fp16 storage and
#    arithmetic where the driver has them), the same warm-up and runs, a fresh extractor
#    per run, timed around input and extract as benchncnn does; then (unless --no-f16)
#    moga in half precision (`--dtype f16`), set against ncnn's defaults. Reported: the
#    median of the round medians (min-max over rounds), the ratios moga / ncnn, and each
#    output's max |y - ort| / max |ort| against ONNX Runtime (Python, CPU; scripts/setup.sh's version) on that
#    input.
# 2. Microbenchmarks (single operators, built with onnx's helper): pointwise 1×1
#    24→144 and 144→24 at 56×56, depthwise 3×3/5×5/7×7 on 144 channels at 56×56, the
#    stem (3→16, 3×3 stride 2 at 224), an SE block (144 channels, 56×56) and two dense
#    3×3 convolutions of super-resolution networks (64→64 and 32→64 at 64×64, as in
#    FALSR-B), measured the same interleaved way (--micro-runs runs each).
#
#   scripts/bench/gpu.sh [--models MoGA-A,FairNAS-A,Scarlet-A] [--resolutions 224,64]
#                        [--rounds 5] [--warmup 2] [--runs 6] [--micro-runs 20]
#                        [--no-micro] [--no-f16] [--api gles] [--seed 0]
#                        [--bin target/release] [--json FILE]
#
# --api gles: also moga's kernels through wgpu's GLES backend (Mesa's GL driver here:
# the path of phones without usable Vulkan compute), in the same rounds, reported beside
# Vulkan (its time, the ratio GLES / Vulkan, its output's diff against ONNX Runtime).
#
# Super-resolution presets (FALSR-*, MoreMNAS-*) take each resolution as their
# low-resolution side; ncnn fails on them (pnnx leaves DepthToSpace, which ncnn lacks).
# --bin DIR takes device-runner and moga from DIR; only the default (target/release) is
# built first. The Python side lives in .deps/bench-venv (scripts/bench/gpu_ncnn.py).
. "$(dirname "$0")/lib.sh"
opt --models models MoGA-A,FairNAS-A,Scarlet-A
opt --resolutions resolutions 224,64
opt --rounds rounds 5
opt --warmup warmup 2
opt --runs runs 6
opt --micro-runs micro_runs 20
flag --micro micro 1 1
flag --no-micro micro 0
flag --no-f16 f16 0 1
opt --api api vulkan
opt --seed seed 0
opt --bin bin target/release
opt --json json ""
parse "$@"
case "$api" in
  gles) gles=1 ;;
  vulkan) gles=0 ;;
  *) die "--api takes gles or vulkan, not '$api'" ;;
esac
[ -n "$json" ] && json=$(realpath -m "$json")

bench_venv "ncnn==1.0.20261020" "onnxruntime==$(setup_version ORT)" "onnx==$(setup_version ONNX)" "numpy==2.4.6"
# pnnx's wheel declares torch for its PyTorch front end; the converter itself is one
# self-contained executable in the package (run directly: the `pnnx` wrapper imports torch).
"${pip[@]}" --no-deps "pnnx==20261020" >&2
pnnx=$("$py" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("pnnx").submodule_search_locations[0], "pnnx"))')
[ -x "$pnnx" ] || { echo "$bench: no pnnx executable at $pnnx" >&2; exit 1; }

gpus() { "$py" -c 'import ncnn; print(ncnn.get_gpu_count())' 2>/dev/null || echo 0; }
if [ "$(gpus)" -lt 1 ]; then
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json > /dev/null 2>&1; then
    echo "$bench: no lavapipe; running scripts/setup.sh" >&2
    scripts/setup.sh >&2
  fi
  if [ "$(gpus)" -lt 1 ]; then
    echo "$bench: ncnn sees no Vulkan device (VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset})" >&2
    exit 1
  fi
fi

if [ "$bin" = target/release ]; then
  echo "$bench: building the release binaries" >&2
  cargo build --release -p device-runner --bin device-runner --quiet
  cargo build --release -p moga --bin moga --quiet
fi
runner=$(realpath "$bin/device-runner")
moga=$(realpath "$bin/moga")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/m"
helper() { "$py" scripts/bench/gpu_ncnn.py "$@"; }

# --- the models: ONNX, input, ncnn conversion, ONNX Runtime's output ---------------------
: > "$tmp/models"; : > "$tmp/micro"
for m in ${models//,/ }; do
  for r in ${resolutions//,/ }; do
    name="$m@$r"
    mkdir -p "$tmp/m/$name"
    "$moga" export "$m" --resolution "$r" --lr-side "$r" --seed "$seed" -o "$tmp/m/$name/model.onnx" > /dev/null
    echo "$name" >> "$tmp/models"
  done
done
if [ "$micro" = 1 ]; then
  helper micro "$tmp/m" > "$tmp/micro"
fi
for list in models micro; do
  while read -r name; do
    echo "$bench: preparing $name (pnnx, ONNX Runtime, moga wgpu's output)" >&2
    d=$tmp/m/$name
    if ! helper prepare "$d" "$seed" "$pnnx" < /dev/null; then
      echo "$bench: skipping $name" >&2
      continue
    fi
    echo "$name" >> "$tmp/$list.ok"
    "$runner" exec --backend wgpu --wgpu-backend vulkan --model "$d/model.onnx" --input "$d/input.pb" \
      --output-dir "$d/moga-out" < /dev/null > /dev/null 2> "$d/exec.log" \
      || { echo "$bench: moga wgpu failed on $name:" >&2; tail -3 "$d/exec.log" >&2; }
    if [ "$gles" = 1 ]; then
      "$runner" exec --backend wgpu --api gles --model "$d/model.onnx" --input "$d/input.pb" \
        --output-dir "$d/mogagl-out" < /dev/null > /dev/null 2> "$d/execgl.log" \
        || { echo "$bench: moga wgpu GLES failed on $name:" >&2; tail -3 "$d/execgl.log" >&2; }
    fi
    if [ "$f16" = 1 ]; then
      "$runner" exec --backend wgpu --wgpu-backend vulkan --dtype f16 --model "$d/model.onnx" \
        --input "$d/input.pb" --output-dir "$d/moga16-out" < /dev/null > /dev/null 2> "$d/exec16.log" \
        || { echo "$bench: moga wgpu f16 failed on $name:" >&2; tail -3 "$d/exec16.log" >&2; }
    fi
  done < "$tmp/$list"
  touch "$tmp/$list.ok"; mv "$tmp/$list.ok" "$tmp/$list"
done

# --- timing: interleaved rounds ---------------------------------------------------------
measure() { # name runs round
  local d=$tmp/m/$1
  "$runner" bench --backend wgpu --wgpu-backend vulkan --model "$d/model.onnx" --input "$d/input.pb" \
    --warmup "$warmup" --runs "$2" --min-runs "$2" --max-seconds 100000 --seed "$seed" --json \
    > "$d/moga-$3.json" 2>> "$d/bench.log" || echo "$bench: moga wgpu failed on $1 (round $3)" >&2
  helper bench "$d" "$warmup" "$2" > "$d/ncnn-$3.json" 2>> "$d/ncnn.log" \
    || { echo "$bench: ncnn failed on $1 (round $3):" >&2; tail -3 "$d/ncnn.log" >&2; }
  if [ "$gles" = 1 ]; then
    "$runner" bench --backend wgpu --api gles --model "$d/model.onnx" --input "$d/input.pb" \
      --warmup "$warmup" --runs "$2" --min-runs "$2" --max-seconds 100000 --seed "$seed" --json \
      > "$d/mogagl-$3.json" 2>> "$d/bench.log" || echo "$bench: moga wgpu GLES failed on $1 (round $3)" >&2
  fi
  if [ "$f16" = 1 ]; then
    "$runner" bench --backend wgpu --wgpu-backend vulkan --dtype f16 --model "$d/model.onnx" \
      --input "$d/input.pb" --warmup "$warmup" --runs "$2" --min-runs "$2" --max-seconds 100000 \
      --seed "$seed" --json > "$d/moga16-$3.json" 2>> "$d/bench.log" \
      || echo "$bench: moga wgpu f16 failed on $1 (round $3)" >&2
  fi
}
nm=$(wc -l < "$tmp/models") nu=$(wc -l < "$tmp/micro")
echo "$bench: $rounds rounds of $nm models ($warmup warm-up + $runs runs each, per backend) and $nu micro cases ($micro_runs runs)" >&2
t0=$(date +%s)
for round in $(seq 1 "$rounds"); do
  while read -r name; do
    printf '\r\033[K  round %d/%d  %s' "$round" "$rounds" "$name" >&2
    measure "$name" "$runs" "$round" < /dev/null
  done < "$tmp/models"
  while read -r name; do
    printf '\r\033[K  round %d/%d  %s' "$round" "$rounds" "$name" >&2
    measure "$name" "$micro_runs" "$round" < /dev/null
  done < "$tmp/micro"
done
printf '\r\033[K' >&2
echo "$bench: measured in $(( $(date +%s) - t0 )) s" >&2

# --- report -----------------------------------------------------------------------------
first=$(awk 'NR == 1' "$tmp/models" "$tmp/micro")  # (no pipe: head would SIGPIPE cat under pipefail)
"$py" - "$tmp" "$first" "$rounds" "$warmup" "$runs" "$micro_runs" "$seed" "$runner" > "$tmp/meta.json" 2> "$tmp/meta.log" <<'PY'
import json, sys
import ncnn, onnxruntime
tmp, first, rounds, warmup, runs, micro_runs, seed, runner = sys.argv[1:]
dev = "?"
try:
    dev = json.load(open(f"{tmp}/m/{first}/moga-1.json")).get("device", "?")
except (OSError, ValueError):
    pass
print(json.dumps({"moga_device": dev, "device_runner": runner, "ncnn_version": ncnn.__version__,
                  "ncnn_gpu": ncnn.get_gpu_info(ncnn.get_default_gpu_index()).device_name(),
                  "onnxruntime": onnxruntime.__version__, "rounds": int(rounds), "warmup": int(warmup),
                  "runs": int(runs), "micro_runs": int(micro_runs), "seed": int(seed)}))
PY
helper report "$tmp" "$rounds" "$json"
