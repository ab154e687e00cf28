#!/usr/bin/env bash
# Fuzzes every input parser with libFuzzer (cargo fuzz, AddressSanitizer): the LUT
# reader, architecture input, ONNX models and tensors, the ONNX builder, device output
# (getprop, dumpsys, the runner's JSON lines) and the adb fixture's protocol. Each
# target runs SECONDS (default 60) from seed corpora made of real files: a profiled
# table, the presets, exported unit models, ONNX's own backend test models and tensors.
# A case that panics, runs over 10 s or allocates over 2 GB is a finding; the input is
# left in fuzz/artifacts/TARGET/ and the script exits 1.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]
#
# The stable toolchain is the only one here; cargo fuzz's nightly flags are enabled
# with RUSTC_BOOTSTRAP=1. cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
[ -d .deps/venv ] || scripts/setup.sh

cargo build --bins --quiet
moga=target/debug/moga
seeds=target/fuzz-seeds
corpus=target/fuzz-corpus
onnx_data=$(.deps/venv/bin/python -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))')

# Seed corpora from real files (rebuilt every run; the corpora grow under target/).
rm -rf "$seeds"
mkdir -p "$seeds"/{lut_reader,arch,onnx_model,onnx_tensor,graph_builder,device_output,adb_protocol}
cp tests/data/lut-moga-ort-local.csv "$seeds/lut_reader/"
head -n 12 tests/data/lut-moga-ort-local.csv > "$seeds/lut_reader/cut.csv"
for p in MoGA-A FairNAS-A Scarlet-A; do
  echo "$p" > "$seeds/arch/$p"
  $moga arch sample --space "$(echo "$p" | cut -d- -f1 | tr A-Z a-z)" -n 1 --seed 1 > "$seeds/arch/$p-sample"
done
$moga arch sample --space scarlet -n 2 --seed 2 --json | head -n 1 > "$seeds/arch/scarlet.json"
$moga export-units --space fairnas --ops --resolution 32 --classes 10 -o "$seeds/units" > /dev/null
find "$seeds/units" -name '*.onnx' -size -64k | head -n 20 | xargs -I{} cp {} "$seeds/onnx_model/"
rm -rf "$seeds/units"
for t in test_conv_with_strides_padding test_add test_relu test_gemm_default_no_bias \
         test_globalaveragepool test_hardswish test_mul_bcast test_flatten_axis1 test_identity; do
  [ -d "$onnx_data/$t" ] || continue
  cp "$onnx_data/$t/model.onnx" "$seeds/onnx_model/$t.onnx"
  for pb in "$onnx_data/$t"/test_data_set_0/*.pb; do cp "$pb" "$seeds/onnx_tensor/$t-$(basename "$pb")"; done
done
printf '\x00\x05\x01\x02\x03\x04\x05\x06\x07' > "$seeds/graph_builder/a"
printf '\x82\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12' > "$seeds/graph_builder/b"
cp fuzz/seeds/device_output/* "$seeds/device_output/"
cp fuzz/seeds/adb_protocol/* "$seeds/adb_protocol/"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo fuzz list)
(cd fuzz && cargo fuzz build -O 2>&1 | grep -Ev '^ *(Compiling|Finished|Locking|Adding|Updating|Downloaded|Downloading)' >&2 || true)

printf '%-14s %12s %10s %9s  %s\n' target executions exec/s findings artifacts >&2
status=0
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "fuzz/artifacts/$t"
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  log="target/fuzz-$t.log"
  # cargo fuzz run takes paths relative to fuzz/.
  (cd fuzz && cargo fuzz run -O "$t" "../$corpus/$t" "../$seeds/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/") > "$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  after=$(ls "fuzz/artifacts/$t" | wc -l)
  found=$((after - before))
  [ "$found" -eq 0 ] || status=1
  printf '%-14s %12s %10s %9d  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$found" \
    "$( [ "$found" -eq 0 ] && echo - || ls -t "fuzz/artifacts/$t" | head -n "$found" | tr '\n' ' ')"
done
exit $status
