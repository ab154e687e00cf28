#!/usr/bin/env python3
"""The reference for supernet/src/sr_image.rs: what scikit-image and MATLAB's imresize
compute, printed as one JSON object on stdout (supernet/tests/sr_image.rs reads it).

    sr_metrics_check.py metrics A.png B.png [--shave N]
        {"ycbcr_a": [3][H][W], "ycbcr_b": ..., "psnr": dB, "ssim": ...}
        rgb2ycbcr of each 8-bit image (Y in [16, 235]), then PSNR and SSIM of the two
        Y planes with `shave` pixels removed from every side (data range 255, SSIM
        with Wang et al.'s Gaussian window and population covariance).
    sr_metrics_check.py imresize PLANE.npy OUT_H OUT_W [OUT_H OUT_W ...]
        {"out": [[OUT_H][OUT_W], ...]}: `imresize(plane, [OUT_H OUT_W], 'bicubic')` of
        a 2-D float array for each size, by the NumPy transcription below.
    sr_metrics_check.py baseline IMG.png [--shave N]
        {"psnr": dB, "ssim": ...}: the bicubic ×2 baseline on Y: the image cropped to
        even sizes, Y = rgb2ycbcr(...)[..., 0], downscaled ×1/2 and upscaled ×2 by
        imresize, clipped to [0, 255] and rounded half up, scored against Y as above.
    sr_metrics_check.py data-dir
        {"folder": ..., "files": {name: exists}}: skimage's bundled sample images.

Needs the venv that scripts/setup.sh makes (.deps/venv: numpy, scipy, scikit-image).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from skimage import color, io, metrics


def cubic(x):
    """Keys' cubic convolution kernel, a = -1/2 (MATLAB's `cubic`)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2
    ) * ((ax > 1) & (ax <= 2))


def contributions(in_len, out_len, scale):
    """MATLAB imresize's `contributions`: weights and 0-based indices, one row per
    output pixel."""
    kernel_width = 4.0
    if scale < 1:
        # Antialiasing: the kernel stretched by 1/scale.
        def h(x):
            return scale * cubic(scale * x)

        kernel_width /= scale
    else:
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = h(u[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: aux = [1..n, n..1], indexed cyclically (1-based in MATLAB).
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    indices = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    return weights, indices


def imresize(a, out_h, out_w):
    """imresize(a, [out_h out_w], 'bicubic') on a double matrix: the dimension with the
    smaller scale first (stable sort, so rows first on a tie), no rounding."""
    a = np.asarray(a, dtype=np.float64)
    size = (out_h, out_w)
    scale = [out_h / a.shape[0], out_w / a.shape[1]]
    out = a
    for dim in np.argsort(scale, kind="stable"):
        w, idx = contributions(out.shape[dim], size[dim], scale[dim])
        if dim == 0:
            out = np.einsum("ok,okc->oc", w, out[idx, :])
        else:
            out = np.einsum("ok,rok->ro", w, out[:, idx])
    return out


def load_rgb8(path):
    img = io.imread(path)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[..., :3].astype(np.uint8)


def shaved(p, shave):
    return p[shave : p.shape[0] - shave, shave : p.shape[1] - shave] if shave else p


def finite(v):
    return float(v) if math.isfinite(v) else None


def cmd_metrics(args):
    # uint8 input: skimage scales it to [0, 1] before the matrix, giving Y in [16, 235].
    ya, yb = (color.rgb2ycbcr(load_rgb8(p)) for p in (args.a, args.b))
    a, b = shaved(ya[..., 0], args.shave), shaved(yb[..., 0], args.shave)
    return {
        "ycbcr_a": np.moveaxis(ya, -1, 0).tolist(),
        "ycbcr_b": np.moveaxis(yb, -1, 0).tolist(),
        "psnr": finite(metrics.peak_signal_noise_ratio(a, b, data_range=255)),
        "ssim": ssim_y(a, b),
    }


def cmd_imresize(args):
    if not args.sizes or len(args.sizes) % 2:
        sys.exit("imresize: sizes come in OUT_H OUT_W pairs")
    plane = np.load(args.plane)
    pairs = zip(args.sizes[::2], args.sizes[1::2])
    return {"out": [imresize(plane, h, w).tolist() for h, w in pairs]}


def ssim_y(a, b):
    return float(
        metrics.structural_similarity(
            a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def cmd_baseline(args):
    img = load_rgb8(args.img)
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    y = color.rgb2ycbcr(img[:h, :w])[..., 0]
    up = imresize(imresize(y, h // 2, w // 2), h, w)
    up = np.floor(np.clip(up, 0, 255) + 0.5)
    a, b = shaved(up, args.shave), shaved(y, args.shave)
    return {
        "psnr": finite(metrics.peak_signal_noise_ratio(b, a, data_range=255)),
        "ssim": ssim_y(a, b),
    }


def cmd_data_dir(_args):
    from skimage.data import _fetchers

    folder = _fetchers._LEGACY_DATA_DIR
    names = (
        "astronaut.png chelsea.png coffee.png motorcycle_left.png motorcycle_right.png "
        "ihc.png camera.png brick.png grass.png gravel.png moon.png coins.png text.png "
        "page.png cell.png"
    ).split()
    return {
        "folder": folder,
        "files": {n: os.path.isfile(os.path.join(folder, n)) for n in names},
    }


def main():
    ap = argparse.ArgumentParser(
        description="scikit-image and MATLAB-imresize reference figures for sr_image.rs"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metrics", help="Y, PSNR and SSIM of two images")
    m.add_argument("a")
    m.add_argument("b")
    m.add_argument("--shave", type=int, default=0)
    m.set_defaults(run=cmd_metrics)
    r = sub.add_parser("imresize", help="MATLAB bicubic imresize of a .npy plane")
    r.add_argument("plane")
    r.add_argument("sizes", type=int, nargs="+", metavar="OUT_H OUT_W")
    r.set_defaults(run=cmd_imresize)
    b = sub.add_parser("baseline", help="bicubic x2 baseline PSNR/SSIM on Y")
    b.add_argument("img")
    b.add_argument("--shave", type=int, default=0)
    b.set_defaults(run=cmd_baseline)
    d = sub.add_parser("data-dir", help="skimage's bundled sample images")
    d.set_defaults(run=cmd_data_dir)
    args = ap.parse_args()
    json.dump(args.run(args), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
