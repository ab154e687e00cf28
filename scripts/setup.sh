#!/usr/bin/env bash
# Installs everything moga needs on a fresh Debian machine, idempotently: rerunning it
# changes nothing that is already in place and says so. Afterwards plain `cargo build`
# and `cargo test` work in a new shell (see .cargo/config.toml).
#
#   scripts/setup.sh           libtorch CPU (torch wheel with --no-deps, 540 MB)
#   scripts/setup.sh --cuda    the full CUDA build of torch (for a host with an NVIDIA GPU)
#
# What goes where (all git-ignored):
#   .deps/venv                 Python venv: onnxruntime, onnx, torch
#   .deps/libtorch             -> the venv's site-packages/torch (LIBTORCH for tch 0.26)
#   .deps/libonnxruntime.so    -> the onnxruntime wheel's library (ORT_DYLIB_PATH for ort)
#   .deps/linux/arm64-v8a/libonnxruntime.so   the aarch64 library (manylinux aarch64 wheel),
#                              pushed to arm64 GNU/Linux devices (the arm64 adbd fixture)
#   .deps/torch-cpu-stubs      stub CUDA libraries so the venv's torch imports on a CPU host
#
# Also: the arm64 userland an emulated arm64 device needs (Debian multiarch: the
# aarch64 cross linker, qemu-user, libvulkan1:arm64 and lavapipe for arm64) and the Rust
# targets aarch64-unknown-linux-gnu (scripts/build-runner.sh) and aarch64-linux-android.
set -euo pipefail

ORT_VERSION=1.31.1
ONNX_VERSION=1.20.1
TORCH_VERSION=2.13.0
CUDA_RUNTIME_VERSION=13.0.96
CUDA_CUPTI_VERSION=13.0.85

cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (known: --cuda)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
mkdir -p "$deps"
say() { printf 'setup: %s\n' "$*" >&2; }

sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
# apt_install WHAT PKG...: installs the packages not yet installed, saying which.
apt_install() {
  local what=$1 p; shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing $what: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "$what present: $*"
  fi
}

# --- Debian packages: lavapipe (Vulkan on the CPU), the Vulkan loader, the adb server,
# --- and a font for PNG plots ----------------------------------------------------------
apt_install "Debian packages" mesa-vulkan-drivers libvulkan1 adb fonts-dejavu-core

# --- arm64 userland: a real cross linker, user-mode emulation, arm64 Vulkan (lavapipe) -
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  # libc6-dev-arm64-cross is only a recommendation of the cross compiler, and the linker
  # needs its crt files and libdl (--no-install-recommends leaves it out).
  apt_install "the arm64 userland" gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
    libc6:arm64 libvulkan1:arm64 mesa-vulkan-drivers:arm64
  # The arm64 Vulkan driver manifests are for the emulated arm64 device only. Left in
  # /usr/share/vulkan/icd.d, the host's x86_64 loader tries each one on every Vulkan
  # start and reports, as an error, every library it cannot load. dpkg-divert moves them
  # where only the device looks (the adbd fixture's VK_ICD_FILENAMES), and keeps them
  # there across package upgrades.
  arm64_icds=/usr/share/vulkan/icd.d.arm64-device
  moved=0
  for f in $(dpkg -L mesa-vulkan-drivers:arm64 | grep '^/usr/share/vulkan/icd\.d/.*\.json$'); do
    if [ "$(dpkg-divert --truename "$f")" = "$f" ]; then
      $sudo mkdir -p "$arm64_icds"
      $sudo dpkg-divert --quiet --local --rename --divert "$arm64_icds/$(basename "$f")" --add "$f"
      moved=$((moved + 1))
    fi
  done
  if [ "$moved" -gt 0 ]; then
    say "arm64 Vulkan driver manifests: $moved moved to $arm64_icds (the emulated device's)"
  else
    say "arm64 Vulkan driver manifests present in $arm64_icds (the emulated device's)"
  fi
fi

# --- Python venv: ONNX Runtime (its wheel carries libonnxruntime.so), onnx, libtorch ------
venv="$deps/venv"
if [ ! -x "$venv/bin/python" ]; then
  say "creating Python venv in .deps/venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install -q --disable-pip-version-check)
# (sed reads all of pip's output: `grep -q` would stop early and, under pipefail, fail
# the check whenever pip is still writing.)
have() { [ "$("$py" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')" = "$2" ]; }

if have onnxruntime "$ORT_VERSION" && have onnx "$ONNX_VERSION"; then
  say "onnxruntime $ORT_VERSION and onnx $ONNX_VERSION present"
else
  say "installing onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION"
  "${pip[@]}" "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION"
fi

if have torch "$TORCH_VERSION"; then
  say "torch $TORCH_VERSION present"
elif [ "$cuda" = 1 ]; then
  say "installing torch==$TORCH_VERSION with CUDA (full wheel set)"
  "${pip[@]}" "torch==$TORCH_VERSION"
else
  say "installing torch==$TORCH_VERSION (libtorch only, --no-deps)"
  "${pip[@]}" --no-deps "torch==$TORCH_VERSION" \
    "nvidia-cuda-runtime==$CUDA_RUNTIME_VERSION" "nvidia-cuda-cupti==$CUDA_CUPTI_VERSION"
fi

site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "$site/torch" "$deps/libtorch"

# --- torchvision, for exporting real PyTorch models to ONNX (scripts/export-torchvision.sh)
# torch's pure-Python dependencies (skipped by --no-deps above) and torchvision itself,
# without its CUDA wheels; on a host without the CUDA libraries, stub libraries let
# `import torch` load (scripts/torch_cpu_stubs.py explains).
TORCHVISION_VERSION=0.28.0
if have torchvision "$TORCHVISION_VERSION" && have sympy 1.14.0 && have pillow 13.0.0 \
  && have setuptools 80.9.0; then
  say "torchvision $TORCHVISION_VERSION present"
else
  say "installing torchvision==$TORCHVISION_VERSION (--no-deps) and torch's Python dependencies"
  "${pip[@]}" --no-deps "torchvision==$TORCHVISION_VERSION"
  "${pip[@]}" --no-deps sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1 jinja2==3.1.6 markupsafe==3.0.4 \
    filelock==4.3.1 fsspec==2026.9.0 pillow==13.0.0 setuptools==80.9.0
fi
# --- scikit-image: the super-resolution metrics' reference (scripts/sr_metrics_check.py)
# and its public-domain sample images, moga's bundled super-resolution data. The split is
# fixed here, by name, so no stereo pair (motorcycle_left/right) straddles it.
SKIMAGE_VERSION=0.25.2
if have scikit-image "$SKIMAGE_VERSION"; then
  say "scikit-image $SKIMAGE_VERSION present"
else
  say "installing scikit-image==$SKIMAGE_VERSION (the SR metrics' reference, sample images)"
  "${pip[@]}" --no-deps "scikit-image==$SKIMAGE_VERSION" scipy==1.17.1 imageio==2.38.2 \
    tifffile==2026.3.3 lazy-loader==0.6
fi
# Every install above names its dependencies itself (--no-deps), so pip never prints its
# resolver's complaint about what torch's metadata asks for; pip check says what is
# missing, and this says it in one line: on a CPU host, torch's CUDA packages are left out
# on purpose. Anything else pip finds wrong is shown as pip says it.
if [ "$cuda" = 0 ]; then
  cuda_only='^torch [^ ]+ requires (nvidia-|cuda-|triton)'
  problems=$("$py" -m pip check 2>/dev/null || true)
  left=$(grep -cE "$cuda_only" <<<"$problems" || true)
  say "left out on purpose: $left CUDA packages torch lists (nvidia-*, cuda-*, triton); a CPU" \
    "host runs libtorch without them (scripts/setup.sh --cuda installs them)"
  { grep -vE "$cuda_only|^No broken requirements" <<<"$problems" || true; } | while read -r line; do
    say "warning: pip check: $line"
  done
fi
sr="$deps/sr-images"
if [ -f "$sr/.done-$SKIMAGE_VERSION" ]; then
  say "super-resolution sample images present (.deps/sr-images)"
else
  skdata=$("$py" -c 'import skimage, os; print(os.path.join(os.path.dirname(skimage.__file__), "data"))')
  rm -rf "$sr" && mkdir -p "$sr/train" "$sr/val"
  for n in astronaut brick cell coins grass ihc moon motorcycle_left motorcycle_right page; do
    cp "$skdata/$n.png" "$sr/train/"
  done
  for n in camera chelsea coffee gravel text; do cp "$skdata/$n.png" "$sr/val/"; done
  touch "$sr/.done-$SKIMAGE_VERSION"
  say "super-resolution sample images: 10 training, 5 held-out (.deps/sr-images/{train,val})"
fi
stubs="$deps/torch-cpu-stubs"
if [ "$cuda" = 1 ]; then
  rm -rf "$stubs"
elif [ -f "$stubs/.done-$TORCH_VERSION" ]; then
  say "CUDA stub libraries for CPU-only torch present"
else
  say "building CUDA stub libraries so the venv's torch imports without CUDA (.deps/torch-cpu-stubs)"
  rm -rf "$stubs"
  python3 "$root/scripts/torch_cpu_stubs.py" "$site/torch/lib" "$stubs" >/dev/null
  touch "$stubs/.done-$TORCH_VERSION"
fi
ort_lib=$(ls "$site"/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1)
[ -n "$ort_lib" ] || { say "error: no libonnxruntime.so.* in $site/onnxruntime/capi"; exit 1; }
ln -sfn "$ort_lib" "$deps/libonnxruntime.so"
say "LIBTORCH=.deps/libtorch -> $site/torch"
say "ORT_DYLIB_PATH=.deps/libonnxruntime.so -> $ort_lib"

# ort_wheel_lib WHAT VERSION DEST [PIP-ARGS...]: libonnxruntime.so.* of PyPI's onnxruntime
# wheel (PIP-ARGS choose another platform's) written to DEST, unless DEST exists.
ort_wheel_lib() {
  local what=$1 version=$2 dest=$3; shift 3
  if [ -f "$dest" ]; then
    say "onnxruntime $version library ($what) present"
    return
  fi
  say "fetching onnxruntime $version's library ($what)"
  local tmp; tmp=$(mktemp -d)
  "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: "$@" \
    -d "$tmp" "onnxruntime==$version"
  mkdir -p "$(dirname "$dest")"
  "$py" - "$tmp" "$dest.partial" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnxruntime-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if "/capi/libonnxruntime.so." in n)
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$dest.partial" "$dest"
  rm -rf "$tmp"
}

# --- An older ONNX Runtime, for the test that a too-old library is refused by name ------
OLD_ORT_VERSION=1.20.1
ort_wheel_lib "test fixture: a too-old version" "$OLD_ORT_VERSION" \
  "$deps/ort-$OLD_ORT_VERSION/libonnxruntime.so.$OLD_ORT_VERSION"

# --- ONNX Runtime for arm64 GNU/Linux devices: the manylinux aarch64 wheel's library ---
ort_wheel_lib "arm64 GNU/Linux devices" "$ORT_VERSION" "$deps/linux/arm64-v8a/libonnxruntime.so" \
  --platform manylinux_2_28_aarch64 --python-version 3.11

# --- Rust: the runner's device targets (GNU/Linux arm64 builds here; Android is checked)
for t in aarch64-unknown-linux-gnu aarch64-linux-android; do
  if rustup target list --installed | grep -qx "$t"; then
    say "rust target $t present"
  else
    say "adding rust target $t"
    rustup target add "$t" >/dev/null
  fi
done

say "done"
