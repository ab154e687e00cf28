#!/usr/bin/env bash
# Chaos during profiling, N rounds (default 12): `moga profile` through the real adb
# server to the adbd fixture while, at seeded random moments, the profiler is SIGKILLed,
# the fixture (the phone's adbd) is killed and restarted, or the device-runner is killed
# on the device side, resuming after each; prints kills survived, rows lost and rows
# duplicated (both must be 0) and fails otherwise. Rounds go on past N until each kind
# of fault has happened at least once. tests/chaos.rs is the same test with 3 rounds.
# It builds what it runs (the fixture is another package's binary, which `cargo test
# --test chaos` alone does not build).
#
#   scripts/chaos.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .deps/venv ] || scripts/setup.sh
cargo build --quiet -p adbd-fixture --bin moga-adbd-fixture -p device-runner --bin device-runner
MOGA_CHAOS_ROUNDS="${1:-12}" MOGA_CHAOS_SEED="${2:-1}" \
  cargo test --quiet --test chaos -- --nocapture 2>&1 | grep -E '^chaos:|panicked|FAILED|test result'
