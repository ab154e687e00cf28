#!/usr/bin/env python3
"""PyTorch reference of moga's super-resolution supernet (supernet/src/sr_supernet.rs),
written from its documentation, not from its code:

- per cell position, one weight set per operator at its widest (64 filters, 3x3, 4
  blocks; the inverted bottleneck's hidden layer 128); filters take the first f
  channels group by group, 1x1 kernels the 3x3's centre, repeats the first b blocks;
- a part's first convolution has one column segment per source it can read (feature
  extractor 32, each earlier cell 64, in that order); a grouped convolution takes the
  block-diagonal part of the concatenation's columns;
- FairNAS strict fairness: 4 paths per step, each position's operators a fresh
  permutation; filters, kernel, repeats, skip and FALSR's links uniform; gradients of
  the 4 paths summed, one Adam step; linear warm-up over 25 steps, then cosine.

Two modes:
  --check DIR --archs FILE --moga BIN
      For every encoding of FILE: `moga export ARCH --ckpt DIR` (inherited weights) at a
      20x16 input, run on ONNX Runtime, and this file's slicing of DIR's
      srsupernet.safetensors run by PyTorch on the same input; prints the largest
      absolute difference per architecture and one JSON summary line.
  --train --space S --steps N [--batch 16 --patch 32 --lr 2e-3 --eval-every N --seed S]
      Trains the same supernet on the same image folder (Y by BT.601, x0.5 by torch's
      antialiased bicubic, close to but not exactly moga's MATLAB-style resize; random
      streams are Python's and torch's), printing per evaluation the mean L1 and the
      presets' PSNR on the 48x48 held-out centres, one JSON object per line.
"""
import argparse
import glob
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

OPS = ["conv", "group2", "group4", "invbot"]
GROUPS = {"conv": 1, "group2": 2, "group4": 4, "invbot": 1}
PRESETS = {
    "moremnas": {
        "MoreMNAS-C": "moremnas:invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip-group2_f48_k1_b4_skip-group2_f16_k1_b1_noskip-invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip",
        "MoreMNAS-D": "moremnas:conv_f48_k1_b1_skip-group4_f32_k1_b2_skip-conv_f48_k1_b1_skip-group4_f48_k1_b1_skip-invbot_f48_k1_b4_skip-group4_f16_k1_b1_noskip-invbot_f64_k3_b4_noskip",
    },
}


def parse(enc):
    space, rest = enc.split(":", 1)
    cells, _, links = rest.partition("/")
    arch = []
    for c in cells.split("-"):
        op, f, k, b, skip = c.split("_")
        arch.append((op, int(f[1:]), int(k[1:]), int(b[1:]), skip == "skip"))
    bits = [ch == "1" for ch in links if ch in "01"]
    return space, arch, bits


def possible(space, slot):
    if slot == 0:
        return ["fe"]
    return ["fe"] + list(range(slot)) if space == "falsr" else [slot - 1]


def sources(space, slot, links):
    if slot == 0:
        return ["fe"]
    if space == "moremnas":
        return [slot - 1]
    start = slot * (slot - 1) // 2
    v = ["fe" if k == 0 else k - 1 for k in range(slot) if links[start + k]]
    return v + [slot - 1]


def seg(s):
    return 32 if s == "fe" else 64


def layout(space):
    width = lambda slot: sum(seg(s) for s in possible(space, slot))
    v = [("fe", (32, 1, 3, 3), True, 1)]
    for slot in range(7):
        cin = width(slot)
        for op in OPS[:3]:
            for r in range(4):
                v.append((f"cells.{slot}.{op}.{r}.conv", (64, cin if r == 0 else 64, 3, 3), True, GROUPS[op]))
        v.append((f"cells.{slot}.invbot.map", (64, cin, 1, 1), False, 1))
        for r in range(4):
            n = f"cells.{slot}.invbot.{r}"
            v += [(n + ".expand", (128, 64, 3, 3), True, 1), (n + ".dw", (128, 1, 3, 3), True, 128),
                  (n + ".project", (64, 128, 3, 3), False, 1)]
    v += [("tail", (32, width(7), 3, 3), True, 1), ("out", (1, 8, 3, 3), False, 1)]
    return v


def init(space):
    P = {}
    for name, shape, relu, g in layout(space):
        cout, cin, k, _ = shape
        fan = k * k if (g == cout and cin == 1) else min(cin, 64) // g * k * k
        b = math.sqrt((6.0 if relu else 2.0) / fan)
        P[name + ".weight"] = torch.empty(shape).uniform_(-b, b).requires_grad_()
        P[name + ".bias"] = torch.zeros(cout).requires_grad_()
    return P


def group_rows(f, g, rows):
    per = f // g
    return [(o // per) * (rows // g) + o % per for o in range(f)]


def sliced(P, name, rows, cols, g, k):
    w, b = P[name + ".weight"], P[name + ".bias"]
    r = torch.tensor(rows)
    t = w.index_select(0, r)
    if cols is not None:
        t = t.index_select(1, torch.tensor(cols))
        if g > 1:
            po, pi = len(rows) // g, len(cols) // g
            t = torch.cat([t[j * po:(j + 1) * po, j * pi:(j + 1) * pi] for j in range(g)], 0)
    if k == 1 and t.shape[2] == 3:
        t = t[:, :, 1:2, 1:2]
    return t, b.index_select(0, r)


def conv(x, wb, k, g, relu):
    y = F.conv2d(x, wb[0], wb[1], padding=k // 2, groups=g)
    return F.relu(y) if relu else y


def depth_to_space_dcr(x, b=2):
    n, c, h, w = x.shape
    return x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // (b * b), h * b, w * b)


def forward(P, space, arch, links, x, shortcut=1.0):
    """The sub-network `arch` (with `links`) of P on x; `shortcut` scales the feature
    extractor's skip into the tail (1 in the network; scripts/bench/sr_supernet_trials.py
    --anneal ramps it)."""
    fe_rows = list(range(32))
    fe = conv(x, sliced(P, "fe", fe_rows, [0], 1, 3), 3, 1, True)
    outs, canon = [], []

    def slot_input(slot):
        poss, cols, ts = possible(space, slot), [], []
        for s in sources(space, slot, links):
            off = sum(seg(p) for p in poss[:poss.index(s)])
            cols += [i + off for i in (fe_rows if s == "fe" else canon[s])]
            ts.append(fe if s == "fe" else outs[s])
        return (torch.cat(ts, 1) if len(ts) > 1 else ts[0]), cols

    for i, (op, f, k, b, skip) in enumerate(arch):
        x_in, cols = slot_input(i)
        skip = skip and b > 1
        if op == "invbot":
            rows = list(range(f))
            start = conv(x_in, sliced(P, f"cells.{i}.invbot.map", rows, cols, 1, 1), 1, 1, False)
            h = start
            for r in range(b):
                n = f"cells.{i}.invbot.{r}"
                hid = list(range(2 * f))
                e = conv(h, sliced(P, n + ".expand", hid, rows, 1, k), k, 1, True)
                d = conv(e, sliced(P, n + ".dw", hid, None, 1, 3), 3, 2 * f, True)
                h = h + conv(d, sliced(P, n + ".project", rows, hid, 1, k), k, 1, False)
            if skip:
                h = start + h
        else:
            g = GROUPS[op]
            rows, h, c, first = group_rows(f, g, 64), x_in, cols, None
            for r in range(b):
                h = conv(h, sliced(P, f"cells.{i}.{op}.{r}.conv", rows, c, g, k), k, g, True)
                c = rows
                first = h if first is None else first
            if skip:
                h = first + h
        outs.append(h)
        canon.append(rows)
    x_in, cols = slot_input(7)
    t = conv(x_in, sliced(P, "tail", list(range(32)), cols, 1, 3), 3, 1, True) + shortcut * fe
    return conv(depth_to_space_dcr(t), sliced(P, "out", [0], list(range(8)), 1, 3), 3, 1, False)


def check(a):
    import onnxruntime as ort
    from safetensors.torch import load_file

    P = load_file(os.path.join(a.check, "srsupernet.safetensors"))
    torch.manual_seed(0)
    x = torch.rand(1, 1, 20, 16)
    worst = 0.0
    rows = []
    for enc in [l.strip() for l in open(a.archs) if l.strip()]:
        space, arch, links = parse(enc)
        onnx = os.path.join(a.tmp, "arch.onnx")
        subprocess.run([a.moga, "export", enc, "--ckpt", a.check, "--lr-size", "20x16", "-o", onnx],
                       check=True, capture_output=True)
        sess = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            ref = forward(P, space, arch, links, x).numpy()
        d = float(np.abs(got - ref).max())
        worst = max(worst, d)
        rows.append({"arch": enc, "max_abs_diff": d, "output_scale": float(np.abs(ref).max())})
        print(f"{d:.2e}  {enc}", file=sys.stderr)
    print(json.dumps({"kind": "check", "archs": len(rows), "max_abs_diff": worst, "rows": rows}))


def load_y(path):
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
    y = (16 + 65.481 * rgb[..., 0] / 255 + 128.553 * rgb[..., 1] / 255 + 24.966 * rgb[..., 2] / 255) / 255
    t = torch.from_numpy(y)[None, None]
    t = t[:, :, : t.shape[2] // 2 * 2, : t.shape[3] // 2 * 2]
    return t, F.interpolate(t, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)


def psnr(sr, hr):
    sr = (sr.clamp(0, 1) * 255).round()[..., 2:-2, 2:-2]
    hr = (hr * 255)[..., 2:-2, 2:-2]
    return 10 * math.log10(255 ** 2 / float(((sr - hr) ** 2).mean()))


def train(a):
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    tr = [load_y(p) for p in sorted(glob.glob(os.path.join(a.data, "train", "*.png")))]
    val = []
    for p in sorted(glob.glob(os.path.join(a.data, "val", "*.png"))):
        hr, lr = load_y(p)
        y0, x0 = (lr.shape[2] - 48) // 2, (lr.shape[3] - 48) // 2
        val.append((hr[:, :, 2 * y0:2 * y0 + 96, 2 * x0:2 * x0 + 96], lr[:, :, y0:y0 + 48, x0:x0 + 48]))
    P = init(a.space)
    opt = torch.optim.Adam(P.values(), lr=a.lr)
    presets = {n: parse(e) for n, e in PRESETS.get(a.space, {}).items()}
    losses, t0 = [], time.time()
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / 25) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for _ in range(a.batch):
            hr, lo = tr[rng.randrange(len(tr))]
            y, x = rng.randrange(lo.shape[2] - a.patch + 1), rng.randrange(lo.shape[3] - a.patch + 1)
            xs.append(lo[:, :, y:y + a.patch, x:x + a.patch])
            ys.append(hr[:, :, 2 * y:2 * y + 2 * a.patch, 2 * x:2 * x + 2 * a.patch])
        x, y = torch.cat(xs), torch.cat(ys)
        perms = [rng.sample(OPS, 4) for _ in range(7)]
        total = 0.0
        for p in range(4):
            arch = [(perms[i][p], rng.choice([16, 32, 48, 64]), rng.choice([1, 3]), rng.choice([1, 2, 4]),
                     rng.random() < 0.5) for i in range(7)]
            links = [rng.random() < 0.5 for _ in range(28)] if a.space == "falsr" else []
            loss = (forward(P, a.space, arch, links, x) - y).abs().mean()
            loss.backward()
            total += loss.item()
        opt.step()
        opt.zero_grad()
        losses.append(total / 4)
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            with torch.no_grad():
                scores = {n: float(np.mean([psnr(forward(P, s, ar, l, lo), hr) for hr, lo in val]))
                          for n, (s, ar, l) in presets.items()}
            print(json.dumps({"kind": "eval", "step": step + 1, "seconds": time.time() - t0,
                              "loss": float(np.mean(losses)), "presets": scores}), flush=True)
            losses = []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="DIR")
    ap.add_argument("--archs")
    ap.add_argument("--moga", default="target/release/moga")
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--space", default="moremnas")
    ap.add_argument("--data", default=".deps/sr-images")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.check:
        check(a)
    elif a.train:
        train(a)
    else:
        ap.error("give --check DIR --archs FILE or --train")


if __name__ == "__main__":
    main()
