#!/usr/bin/env bash
# The super-resolution training figure: a MoreMNAS-C network trained stand-alone for a
# time budget on scikit-image's sample images (.deps/sr-images: 10 training, 5 held-out,
# installed by scripts/setup.sh), scored against bicubic on the held-out images (PSNR and
# SSIM on Y, border 2, 8-bit output). Every seed is one run; the summary gives each run's
# gain over bicubic and their median.
#
#   scripts/bench/sr-train.sh [--arch ARCH] [--minutes M] [--seeds "0 1 2"] [--out DIR]
. "$(dirname "$0")/lib.sh"
opt --arch arch MoreMNAS-C
opt --minutes minutes 10
opt --seeds seeds 0
opt --out out ""
parse "$@"
root=$(pwd)
[ -n "$out" ] || out=$(mktemp -d /tmp/moga-sr-train.XXXXXX)
cargo build -q --release --bin moga --bin moga-torch --manifest-path "$root/Cargo.toml"
moga="$root/target/release/moga"
mkdir -p "$out"
for s in $seeds; do
  /usr/bin/time -f "seed $s: %e s wall" "$moga" sr train "$arch" --data "images:$root/.deps/sr-images" \
    --minutes "$minutes" --eval-every 1000 --seed "$s" -o "$out/seed$s" --json > "$out/seed$s.json"
done
python3 - "$out" $seeds <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
gains = []
for s in seeds:
    o = json.load(open(f"{out}/seed{s}.json"))
    r = o["records"][-1]
    gains.append(o["gain_db"])
    print(f"seed {s}: {o['params']} params, {r['step']} steps in {r['seconds']:.0f} s training; "
          f"held-out PSNR {r['psnr']:.3f} dB / SSIM {r['ssim']:.4f}; bicubic "
          f"{o['bicubic']['psnr_db']:.3f} dB / {o['bicubic']['ssim']:.4f}; gain {o['gain_db']:+.3f} dB")
    for name, net, bic in o["per_image"]:
        print(f"    {name:<14} {net['psnr_db']:.3f} dB {net['ssim']:.4f}   bicubic {bic['psnr_db']:.3f} dB {bic['ssim']:.4f}")
print(f"median gain over bicubic: {statistics.median(gains):+.3f} dB over {len(gains)} run(s)")
PY
echo "outputs in $out" >&2
