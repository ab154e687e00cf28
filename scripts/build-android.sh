#!/usr/bin/env bash
# Builds the device-runner for Android phones (arm64-v8a) with the Android NDK:
#
#   ANDROID_NDK_HOME=/path/to/ndk scripts/build-android.sh [--api 26]
#
# Output: target/aarch64-linux-android/release/device-runner, which the profiler pushes
# to phones. ONNX Runtime for the phone comes from the onnxruntime-android AAR (see
# README, "Profiling a phone"). The NDK cannot be installed from package registries; this
# script says what is missing instead of guessing.
set -euo pipefail
cd "$(dirname "$0")/.."

api=26
while [ $# -gt 0 ]; do
  case "$1" in
    --api) api="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-android.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-${NDK_HOME:-}}}"
if [ -z "$ndk" ] || [ ! -d "$ndk" ]; then
  echo "build-android.sh: no Android NDK found. Install one (Android Studio's SDK manager, or" >&2
  echo "https://developer.android.com/ndk/downloads) and set ANDROID_NDK_HOME to its folder." >&2
  exit 1
fi
host_tag=linux-x86_64
[ "$(uname -s)" = Darwin ] && host_tag=darwin-x86_64
bin="$ndk/toolchains/llvm/prebuilt/$host_tag/bin"
linker="$bin/aarch64-linux-android${api}-clang"
if [ ! -x "$linker" ]; then
  echo "build-android.sh: $linker not found (is ANDROID_NDK_HOME an NDK r23 or newer, and API $api available?)" >&2
  exit 1
fi
rustup target list --installed | grep -qx aarch64-linux-android || rustup target add aarch64-linux-android

export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER="$linker"
export CC_aarch64_linux_android="$linker"
export AR_aarch64_linux_android="$bin/llvm-ar"
cargo build --release --target aarch64-linux-android -p device-runner
out=target/aarch64-linux-android/release/device-runner
echo "built $out ($(du -h "$out" | cut -f1))" >&2
