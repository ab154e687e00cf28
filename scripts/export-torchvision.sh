#!/usr/bin/env bash
# Exports torchvision models (default: MobileNetV3-Small and -Large) to ONNX with the
# venv's torch: scripts/export-torchvision.sh OUT_DIR [--size PX] [MODEL ...].
# See scripts/export_torchvision.py; needs scripts/setup.sh. Nothing large is committed:
# the test that uses these files (device-runner/tests/torchvision.rs) makes them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.deps/venv/bin/python"
[ -x "$py" ] || { echo "export-torchvision.sh: no .deps/venv; run scripts/setup.sh" >&2; exit 1; }
stubs="$root/.deps/torch-cpu-stubs"
if [ -d "$stubs" ]; then
  export LD_LIBRARY_PATH="$stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
exec "$py" "$root/scripts/export_torchvision.py" "$@"
