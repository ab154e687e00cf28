#!/usr/bin/env bash
# Builds the device-runner for a device's Rust target (release, both backends):
#
#   scripts/build-runner.sh aarch64-unknown-linux-gnu   # arm64 GNU/Linux devices, boards,
#                                                      # the arm64 adbd fixture (Debian's
#                                                      # aarch64-linux-gnu-gcc links it)
#   ANDROID_NDK_HOME=/path/to/ndk scripts/build-runner.sh aarch64-linux-android [--api 26]
#                                                      # Android phones (the NDK links it)
#
# Output: target/TARGET/release/device-runner, which the profiler pushes to devices of
# that ABI and platform (docs/guide/profiling.md, "Devices and ABIs"). The NDK cannot be installed from
# package registries; this script says what is missing instead of guessing.
set -euo pipefail
cd "$(dirname "$0")/.."

target="" api=26
while [ $# -gt 0 ]; do
  case "$1" in
    --api) api="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "build-runner.sh: unknown argument '$1'" >&2; exit 2 ;;
    *) target="$1"; shift ;;
  esac
done
[ -n "$target" ] || { echo "build-runner.sh: which target? (aarch64-unknown-linux-gnu, aarch64-linux-android)" >&2; exit 2; }

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
lower=$(echo "$target" | tr '-' '_')
case "$target" in
  *-linux-android)
    ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-${NDK_HOME:-}}}"
    if [ -z "$ndk" ] || [ ! -d "$ndk" ]; then
      echo "build-runner.sh: no Android NDK found. Install one (Android Studio's SDK manager, or" >&2
      echo "https://developer.android.com/ndk/downloads) and set ANDROID_NDK_HOME to its folder." >&2
      exit 1
    fi
    host_tag=linux-x86_64
    [ "$(uname -s)" = Darwin ] && host_tag=darwin-x86_64
    bin="$ndk/toolchains/llvm/prebuilt/$host_tag/bin"
    linker="$bin/${target}${api}-clang"
    if [ ! -x "$linker" ]; then
      echo "build-runner.sh: $linker not found (is ANDROID_NDK_HOME an NDK r23 or newer, and API $api available?)" >&2
      exit 1
    fi
    export "CARGO_TARGET_${upper}_LINKER=$linker" "CC_${lower}=$linker" "AR_${lower}=$bin/llvm-ar"
    ;;
  aarch64-unknown-linux-gnu)
    if [ "$(uname -m)" != aarch64 ]; then
      linker=aarch64-linux-gnu-gcc
      command -v "$linker" > /dev/null || {
        echo "build-runner.sh: $linker not found: scripts/setup.sh installs Debian's gcc-aarch64-linux-gnu" >&2
        exit 1
      }
      export "CARGO_TARGET_${upper}_LINKER=$linker" "CC_${lower}=$linker"
    fi
    ;;
  *) ;;
esac
cargo build --release --target "$target" -p device-runner --bin device-runner
out=target/$target/release/device-runner
echo "built $out ($(du -h "$out" | cut -f1))" >&2
