#!/usr/bin/env bash
# A whole space profiled on an emulated arm64 device: the adbd fixture as an arm64-v8a
# device (programs under qemu-aarch64, lavapipe for arm64, ONNX Runtime's aarch64
# library) behind a private adb server, then `moga profile` with both backends and
# `moga lut check` of each table. CI runs a handful of units of this (tests/arm64.rs);
# this runs everything (wgpu: every shader compiled by LLVM under emulation, about a
# minute per network, so a space takes a while).
#
#   scripts/bench/arm64-e2e.sh [--space fairnas] [--resolution 32] [--backends ort,wgpu]
#                        [--out DIR (target/arm64-e2e)] [--bin target/release]
. "$(dirname "$0")/lib.sh"
opt --space space fairnas
opt --resolution resolution 32
opt --backends backends ort,wgpu
opt --out out target/arm64-e2e
opt --bin bin target/release
parse "$@"

[ -x target/aarch64-unknown-linux-gnu/release/device-runner ] || scripts/build-runner.sh aarch64-unknown-linux-gnu
if [ "$bin" = target/release ]; then
  cargo build --release -p moga --bin moga --quiet
  cargo build --release -p adbd-fixture --quiet
fi
moga=$(realpath "$bin/moga")
mkdir -p "$out"
out=$(realpath "$out")
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HOME="$tmp"  # a private adb server: its own keys and state
cleanup() { adb -P "$port" kill-server > /dev/null 2>&1 || true; kill "$fixture" 2> /dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
adb -P "$port" start-server > /dev/null
"$bin/moga-adbd-fixture" --root "$tmp/device" --abi arm64-v8a --model "Moga Arm64" --soc fixture-a64 > "$tmp/fixture.out" &
fixture=$!
for _ in $(seq 100); do grep -q listening "$tmp/fixture.out" 2> /dev/null && break; sleep 0.1; done
device=$(sed -n 's/^listening //p' "$tmp/fixture.out")
adb -P "$port" connect "$device" > /dev/null
say "device $device (arm64-v8a under qemu-aarch64), adb server 127.0.0.1:$port"
for b in ${backends//,/ }; do
  t0=$(date +%s)
  table="$out/$space-$resolution-$b.csv"
  resume=(); [ -f "$table" ] && resume=(--resume)
  "$moga" profile --device "$device" --adb "127.0.0.1:$port" --backend "$b" --space "$space" \
    --resolution "$resolution" --classes 10 -o "$table" "${resume[@]}"
  "$moga" lut check "$out/$space-$resolution-$b.csv" --space "$space" --resolution "$resolution" --classes 10
  say "$b: $(( $(date +%s) - t0 )) s"
done
