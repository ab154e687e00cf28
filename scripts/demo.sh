#!/usr/bin/env bash
# The main job on the embedded default device, this machine: set-up, then every step of
# the pipeline that exists today, each one real (lavapipe Vulkan, ONNX Runtime, libtorch).
# What it makes (tables, fronts and their plots, the fidelity plot, models, the upscaled
# image) stays in demo-out/ (or $DEMO_OUT); a rerun replaces it.
#
#   scripts/demo.sh            the whole demo
#   scripts/demo.sh --short    set-up, build and the first steps, through a wgpu measurement
#                              and `moga devices` (tests/clean_output.rs runs it: a first
#                              run must print no ERROR line)
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
for arg in "$@"; do
  case "$arg" in
    --short) short=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (known: --short)" >&2; exit 2 ;;
  esac
done

work=${DEMO_OUT:-demo-out}
# Only a folder this script made (it holds .moga-demo) or an empty one is replaced.
if [ -d "$work" ] && [ ! -e "$work/.moga-demo" ] && [ -n "$(ls -A "$work")" ]; then
  echo "demo.sh: $work exists and was not made by this script; set DEMO_OUT to another folder" >&2
  exit 2
fi
rm -rf "$work"
mkdir -p "$work"
touch "$work/.moga-demo"
# The device's own work folder (the runner and its copies of the models) is scratch.
device_root=$(mktemp -d)
trap 'rm -rf "$device_root"' EXIT

step() { printf '\n== %s\n' "$*" >&2; }

step "set-up (scripts/setup.sh)"
scripts/setup.sh

step "build (cargo build --bins)"
cargo build --bins --quiet
moga=target/debug/moga
runner=target/debug/device-runner

step "the stack: moga doctor"
$moga doctor

step "this machine as a device: device-runner info"
$runner info

step "search spaces: moga space list / show moga"
$moga space list
$moga space show moga

step "the published models: MAdds and parameters (moga arch stats)"
printf '%-10s %10s %10s\n' model madds_M params_M
for p in MoGA-A MoGA-B MoGA-C FairNAS-A FairNAS-B FairNAS-C Scarlet-A Scarlet-B Scarlet-C; do
  $moga arch stats "$p" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-10s %10.1f %10.3f" % (d["preset"], d["madds"]/1e6, d["params"]/1e6))'
done

step "five random architectures of the moga space (seed 1)"
$moga arch sample --space moga -n 5 --seed 1

step "MoGA-A as ONNX (BN folded, random weights): moga export"
$moga export MoGA-A -o "$work/moga-a.onnx"

step "MoGA-A measured on this machine: ONNX Runtime (1 thread), then wgpu on lavapipe"
$runner bench --backend ort --model "$work/moga-a.onnx" --warmup 10 --runs 30
$runner bench --backend wgpu --model "$work/moga-a.onnx" --warmup 1 --runs 3

step "where ONNX Runtime's time goes (bench --per-node, first nodes)"
$runner bench --backend ort --model "$work/moga-a.onnx" --warmup 5 --runs 20 --per-node | head -n 12

step "devices: this machine and any phone on adb (moga devices)"
$moga devices || true
if [ "$short" = 1 ]; then
  step "done (--short): what the demo made is in $work/"
  exit 0
fi

step "a latency table of the moga space on this machine, ONNX Runtime: units timed inside whole networks of two covering designs, every run paired with a reference network (moga profile --device local)"
$moga profile --device local --backend ort --space moga --designs 2 -o "$work/lut-ort.csv" --local-root "$device_root"
$moga lut show "$work/lut-ort.csv" | head -n 16

step "predicted latency of the presets from that table (moga lut predict)"
$moga lut predict --lut "$work/lut-ort.csv" MoGA-A MoGA-B MoGA-C

step "search on that table: MoGA's weighted NSGA-II with reinforced mutation (moga search; proxy accuracy)"
$moga search --space moga --lut "$work/lut-ort.csv" --objectives acc:max,lat:min,params:max --algorithm moga --weights 1,1,0.1 \
  --rl-mutation --population 64 --generations 40 --seed 1 -o "$work/front.json" --plot "$work/front.svg" | head -n 12

step "a FairNAS strict-fairness supernet of the moga space on the bundled digits (moga train; 8 steps, a taste: docs/benchmarks.md shows one learning the digits in 3 minutes)"
$moga train --space moga --strategy fair --data digits --epochs 1 --steps 8 --batch 16 --device auto --seed 1 -o "$work/supernet"
step "the presets with inherited weights, BatchNorm recalibrated (moga eval)"
$moga eval --ckpt "$work/supernet" --bn-batches 2 --batch 64 MoGA-A MoGA-B MoGA-C
step "search with that supernet as the accuracy oracle (moga search --accuracy supernet:DIR)"
$moga search --space moga --lut "$work/lut-ort.csv" --objectives acc:max,lat:min --accuracy "supernet:$work/supernet" \
  --population 6 --generations 1 --seed 1 -o "$work/front-supernet.json" | head -n 8

step "the front's most accurate network with the weights it inherits, on libtorch, ONNX Runtime, wgpu and the CPU reference (moga export --ckpt --verify)"
$moga export "$work/front-supernet.json#0" --ckpt "$work/supernet" --bn-batches 2 --batch 64 --verify -o "$work/best-32px.onnx"

step "that network deployed on this machine at 224 px, measured whole beside the table's prediction (moga deploy FRONT#0)"
$moga deploy "$work/front-supernet.json#0" --lut "$work/lut-ort.csv" --local-root "$device_root"

step "how far the table can be trusted: 20 random networks measured whole against the same reference; corrections fitted on half, judged on the other half, stored only if they earn it (moga lut validate)"
$moga lut validate --lut "$work/lut-ort.csv" --space moga --samples 20 --seed 1 --local-root "$device_root" \
  --plot "$work/fidelity.svg"

step "the deployed network again, predicted with what the table now holds"
$moga deploy "$work/front-supernet.json#0" --lut "$work/lut-ort.csv" --local-root "$device_root" --json > "$work/deploy.json"
python3 - "$work/deploy.json" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[0])
err = d["error_pct"]
print(f"measured {d['median_ms']:.3f} ms, predicted {d['predicted_ms']:.3f} ms: {err:+.1f} % "
      f"({'within' if abs(err) <= 10 else 'OUTSIDE'} ±10 %)")
sys.exit(0 if abs(err) <= 10 else 1)
PY
step "super-resolution: the FALSR and MoreMNAS presets (moga arch stats, multiply-adds at a 480x480 input)"
printf '%-11s %9s %10s\n' model madds_G params_K
for p in FALSR-A FALSR-B FALSR-C MoreMNAS-C MoreMNAS-D; do
  $moga arch stats "$p" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-11s %9.1f %10.1f" % (d["preset"], d["madds"]/1e9, d["params"]/1e3))'
done

step "MoreMNAS-C trained for one minute on scikit-image's sample images, scored against bicubic on the held-out five (moga sr train; scripts/bench/sr-train.sh trains it for 10 minutes)"
$moga sr train MoreMNAS-C --minutes 1 --eval-every 0 --seed 1 -o "$work/sr"

step "a held-out image upscaled x2 by that network on wgpu (moga sr upscale), and the network on every engine (moga export --ckpt --verify)"
$moga sr upscale .deps/sr-images/val/text.png --weights "$work/sr" --engine wgpu -o "$work/text-x2.png"
$moga export MoreMNAS-C --ckpt "$work/sr" --lr-size 48x64 --verify -o "$work/moremnas-c.onnx"

step "MoreMNAS's latency table at a 32x32 input (645 units, ONNX Runtime, a quick protocol), the trained network deployed beside its prediction"
$moga profile --device local --backend ort --space moremnas --lr-side 32 --max-seconds 0.05 --runs 50 \
  -o "$work/lut-sr.csv" --local-root "$device_root" --json > /dev/null
$moga deploy MoreMNAS-C --ckpt "$work/sr" --lut "$work/lut-sr.csv" --lr-side 32 --local-root "$device_root"

step "a FALSR search, each candidate briefly trained (FALSR's oracle; 2 generations of 6, 20 steps each: a taste)"
$moga search --space falsr --accuracy train:20 --population 6 --generations 2 --seed 1 -o "$work/sr-front.json" --plot "$work/sr-front.svg" | head -n 8

step "a MoreMNAS supernet (FairNAS strict fairness over the cell operators; 40 steps: a taste) as the cheap oracle of a search"
$moga sr supernet --space moremnas --steps 40 --batch 8 --patch 24 --eval-every 20 --seed 1 -o "$work/sr-supernet"
$moga search --space moremnas --accuracy "supernet:$work/sr-supernet" --population 8 --generations 3 --seed 1 -o "$work/sn-front.json" | head -n 8

step "done: what the demo made is in $work/"
cat <<EOF
  $work/front.svg             the moga search's front (accuracy proxy, latency, parameters), presets marked
  $work/fidelity.svg          the table's predictions against 20 networks measured whole
  $work/lut-ort.csv           the latency table of the moga space on this machine (moga lut show)
  $work/front.json            the front, each member's encoding and figures (moga deploy FRONT#0)
  $work/best-32px.onnx        the front's best network with inherited weights
  $work/text-x2.png           a held-out image upscaled x2 by the trained MoreMNAS-C
  $work/sr-front.svg          the FALSR search's front
EOF
