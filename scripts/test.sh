#!/usr/bin/env bash
# The whole check, from nothing: set-up, formatting, lints, the arm64 runner, every test
# (the arm64 ones under user-mode emulation), and the device-runner checked for Android
# phones. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "set-up (scripts/setup.sh)"
scripts/setup.sh

step "a script on its own, before anything else is built (scripts/chaos.sh 1)"
scripts/chaos.sh 1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "the device-runner for arm64 GNU/Linux (scripts/build-runner.sh; tests/arm64.rs pushes it)"
scripts/build-runner.sh aarch64-unknown-linux-gnu

step "cargo test --workspace"
cargo test --workspace

step "cargo check --target aarch64-linux-android -p device-runner"
cargo check --target aarch64-linux-android -p device-runner

step "all checks passed"
