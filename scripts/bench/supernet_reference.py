#!/usr/bin/env python3
"""PyTorch reference of moga's supernet training (supernet/src/{net,train,data}.rs).

The same space (read from `moga space show --json`), blocks (inverted residuals:
1x1 expand + BN + act, kxk depthwise + BN + act, 1x1 project + BN, identity
shortcut where the layer keeps its shape), initialisation (Kaiming-normal fan-out
convolutions, N(0, 0.01) classifier, BN gamma 1 beta 0), data (the bundled digits,
0-16 scaled to 0-255, bilinear to --resolution, a seeded 80/20 split, per-channel
normalisation from the training split; with --augment, random crops from a zero
padding of resolution/8 taken before normalising, no flips), optimiser (SGD with Nesterov
momentum, weight decay on weights of rank > 1 only, parameters off the step's paths
untouched: no decay, no momentum), schedule (linear warm-up, then cosine to 0 over
all steps), strategies (fair: m paths from per-layer permutations, gradients
accumulated, shared parameters take the mean of the m paths' gradients, entangled
weights their sum; spos: one uniform path; standalone: one architecture), and moga
train's weight options with its defaults:
  --weights entangled|separate   entangled (default): the choices of a layer share one
                        block's convolution weights (see EntangledLayer); separate:
                        a block per choice
  --residual-init zero|one       zero (default): BN gamma of the last BN of every
                        shortcut block starts at 0
  --augment             random crops (off by default, as in moga)

Random streams differ from moga's (Python's and torch's generators, not SplitMix64),
so the two runs agree in distribution, not bit for bit. Prints one JSON object per
epoch with the keys of `moga train --json` (epoch, loss, train_accuracy, seconds,
lr) and, at the end, the BN-recalibrated validation accuracy of the space's presets.

Oracle throughput (scripts/bench/oracle.sh): --bench-eval FILE skips training and
evaluates each architecture of FILE (one encoding per line) as `moga eval --no-cache`
does: BN statistics reset and re-estimated over --bn-batches unaugmented training
batches of --eval-batch (cumulative average), then validation in batches of
--eval-batch; prints one JSON object with the seconds per architecture.

Diagnostic (not in moga; for locating why a supernet does not learn):
  --sample-layers keep-shape|all
                        keep-shape: only layers that keep their shape (those with a
                        shortcut) are sampled; the others stay at choice 0
"""
import argparse
import gzip
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def moga_json(moga, *args):
    out = subprocess.run([moga, *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"supernet_reference: `moga {' '.join(args)}` failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def act(a):
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "hswish": nn.Hardswish(), "none": nn.Identity()}[a]


def conv_bn(ci, co, k, s, groups, a):
    return nn.Sequential(nn.Conv2d(ci, co, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(co), act(a))


class Block(nn.Module):
    def __init__(self, ci, co, k, e, stride, a, residual):
        super().__init__()
        h = ci * e
        self.residual = residual
        self.body = nn.Sequential(conv_bn(ci, h, 1, 1, 1, a), conv_bn(h, h, k, stride, h, a), conv_bn(h, co, 1, 1, 1, "none"))

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


class EntangledLayer(nn.Module):
    """--entangled: the layer's choices share one block's weights (OFA-style weight
    entanglement): one 1x1 expansion, one depthwise kernel of the largest size and one
    projection; choice (k, e) uses the first e*cin hidden channels and the centre kxk
    of the kernel. BatchNorm stays per choice. Each path is still exactly an inverted
    residual of its kernel and expansion; only the parameters are shared."""

    def __init__(self, ci, co, opts, stride, a, residual):
        super().__init__()
        self.opts, self.ci, self.stride, self.a, self.residual = opts, ci, stride, a, residual
        h, k = ci * max(o["expansion"] for o in opts), max(o["kernel"] for o in opts)
        self.w1 = nn.Parameter(torch.empty(h, ci, 1, 1))
        self.dw = nn.Parameter(torch.empty(h, 1, k, k))
        self.w3 = nn.Parameter(torch.empty(co, h, 1, 1))
        self.bn = nn.ModuleList([nn.ModuleList([nn.BatchNorm2d(ci * o["expansion"]), nn.BatchNorm2d(ci * o["expansion"]),
                                                nn.BatchNorm2d(co)]) for o in opts])
        for w in (self.w1, self.dw, self.w3):
            nn.init.kaiming_normal_(w, mode="fan_out")

    def __len__(self):
        return len(self.opts)

    def forward(self, x, c):
        k, h = self.opts[c]["kernel"], self.ci * self.opts[c]["expansion"]
        o, bn, f = (self.dw.shape[-1] - k) // 2, self.bn[c], act(self.a)
        y = f(bn[0](F.conv2d(x, self.w1[:h])))
        y = f(bn[1](F.conv2d(y, self.dw[:h, :, o:o + k, o:o + k], stride=self.stride, padding=k // 2, groups=h)))
        y = bn[2](F.conv2d(y, self.w3[:, :h]))
        return y + x if self.residual else y


class Supernet(nn.Module):
    def __init__(self, space, classes, choices_of_layer=None, entangled=False):
        super().__init__()
        st, sp, hd = space["stem"], space["separable"], space["head"]
        self.stem = conv_bn(space["in_channels"], st["cout"], st["kernel"], st["stride"], 1, st["act"])
        c = st["cout"]
        self.sep = nn.Sequential(conv_bn(c, c, sp["kernel"], 1, c, sp["act"]), conv_bn(c, sp["cout"], 1, 1, 1, "none"))
        self.layers = nn.ModuleList()
        self.keeps_shape = []
        for i, L in enumerate(space["layers"]):
            keep = L["stride"] == 1 and L["cin"] == L["cout"]
            self.keeps_shape.append(keep)
            opts = choices_of_layer[i] if choices_of_layer else space["choices"]
            if entangled:
                self.layers.append(EntangledLayer(L["cin"], L["cout"], opts, L["stride"], L["act"], keep))
                continue
            self.layers.append(nn.ModuleList(
                [Block(L["cin"], L["cout"], o["kernel"], o["expansion"], L["stride"], L["act"], keep) for o in opts]))
        self.head = conv_bn(space["layers"][-1]["cout"], hd["conv_channels"], 1, 1, 1, hd["act"])
        self.drop = nn.Dropout(hd["dropout"])
        self.fc = nn.Linear(hd["conv_channels"], classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x, path):
        x = self.sep(self.stem(x))
        for blocks, c in zip(self.layers, path):
            x = blocks(x, c) if isinstance(blocks, EntangledLayer) else blocks[c](x)
        x = F.adaptive_avg_pool2d(self.head(x), 1).flatten(1)
        return self.fc(self.drop(x))


def digits(resolution, seed):
    rows = [list(map(int, l.split(","))) for l in gzip.open(os.path.join(ROOT, "supernet/data/digits.csv.gz"), "rt") if l.strip()]
    a = np.array(rows)
    x = torch.tensor(a[:, :64] * 255 // 16, dtype=torch.float32).view(-1, 1, 8, 8).repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    y = torch.tensor(a[:, 64])
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = len(y) - round(0.2 * len(y))
    return x, y, perm[:cut], perm[cut:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moga", default=os.path.join(ROOT, "target/release/moga"))
    ap.add_argument("--space", default="fairnas")
    ap.add_argument("--strategy", choices=["fair", "spos", "standalone"], default="fair")
    ap.add_argument("--arch", help="preset or encoding (standalone)")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, help="steps per epoch at most")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=4e-5)
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bn-batches", type=int, default=10)
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--residual-init", choices=["zero", "one"], default="zero")
    ap.add_argument("--sample-layers", choices=["all", "keep-shape"], default="all")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--weights", choices=["entangled", "separate"], default="entangled")
    ap.add_argument("--bench-eval", metavar="FILE")
    ap.add_argument("--eval-batch", type=int, default=128)
    args = ap.parse_args()
    args.entangled = args.weights == "entangled"
    args.zero_init_residual = args.residual_init == "zero"
    args.no_augment = not args.augment
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    space = moga_json(args.moga, "space", "show", args.space, "--resolution", str(args.resolution), "--classes", "10")
    tokens = [f"k{c['kernel']}e{c['expansion']}" for c in space["choices"]]

    def path_of(name):
        enc = moga_json(args.moga, "arch", "stats", name)["arch"].split(":")[1].split("-")
        return [tokens.index(t) for t in enc]

    if args.bench_eval:
        bench_eval(args, space, tokens)
        return

    if args.strategy == "standalone":
        if not args.arch:
            sys.exit("supernet_reference: --strategy standalone needs --arch")
        fixed = path_of(args.arch)
        net = Supernet(space, 10, [[space["choices"][c]] for c in fixed])
    else:
        net = Supernet(space, 10, entangled=args.entangled)
    if args.zero_init_residual:
        for blocks in net.layers:
            if isinstance(blocks, EntangledLayer):
                for bn in blocks.bn if blocks.residual else []:
                    nn.init.zeros_(bn[2].weight)
                continue
            for b in blocks:
                if b.residual:
                    nn.init.zeros_(b.body[2][1].weight)
    nl, m = len(net.layers), max(len(b) for b in net.layers)

    x_all, y_all, tr, va = digits(args.resolution, args.seed)
    mean = x_all[tr].mean((0, 2, 3), keepdim=True)
    std = x_all[tr].std((0, 2, 3), keepdim=True).clamp_min(1e-3)
    norm = lambda t: (t - mean) / std
    pad, r = max(1, args.resolution // 8), args.resolution

    params = list(net.named_parameters())
    shared = {id(p) for n, p in params if not n.startswith("layers.")}
    opt = torch.optim.SGD([
        {"params": [p for _, p in params if p.dim() > 1], "weight_decay": args.weight_decay},
        {"params": [p for _, p in params if p.dim() <= 1], "weight_decay": 0.0},
    ], lr=args.lr, momentum=args.momentum, nesterov=True)

    steps_per_epoch = len(tr) // args.batch
    if args.steps:
        steps_per_epoch = min(steps_per_epoch, args.steps)
    total = steps_per_epoch * args.epochs

    def lr_at(t):
        warm = min(args.warmup_steps, total - 1)
        if t < warm:
            return args.lr * (t + 1) / (warm + 1)
        return 0.5 * args.lr * (1 + math.cos(math.pi * min(1.0, (t - warm) / (total - warm))))

    def draw():
        if args.strategy == "standalone":
            return [[0] * nl]
        sampled = [args.sample_layers == "all" or net.keeps_shape[l] for l in range(nl)]
        if args.strategy == "spos":
            return [[rng.randrange(len(net.layers[l])) if sampled[l] else 0 for l in range(nl)]]
        cols = [rng.sample(range(m), m) if sampled[l] else [0] * m for l in range(nl)]
        return [[cols[l][k] for l in range(nl)] for k in range(m)]

    t = 0
    for epoch in range(1, args.epochs + 1):
        net.train()
        start = time.time()
        order = tr[torch.randperm(len(tr))]
        loss_sum, correct, seen, runs = 0.0, 0, 0, 0
        for s in range(steps_per_epoch):
            idx = order[s * args.batch:(s + 1) * args.batch]
            x = x_all[idx]
            if not args.no_augment:
                padded = F.pad(x, (pad,) * 4)
                offs = torch.randint(0, 2 * pad + 1, (len(idx), 2))
                x = torch.stack([padded[i, :, dy:dy + r, dx:dx + r] for i, (dy, dx) in enumerate(offs.tolist())])
            x, y = norm(x), y_all[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(t)
            opt.zero_grad(set_to_none=True)
            paths = draw()
            for p in paths:
                out = net(x, p)
                loss = F.cross_entropy(out, y)
                loss.backward()
                loss_sum += loss.item()
                correct += (out.argmax(1) == y).sum().item()
                seen += len(y)
                runs += 1
            if len(paths) > 1:
                for _, q in params:
                    if id(q) in shared and q.grad is not None:
                        q.grad /= len(paths)
            opt.step()
            t += 1
        print(json.dumps({"kind": "epoch", "epoch": epoch, "epochs": args.epochs, "loss": loss_sum / max(1, runs),
                          "train_accuracy": 100.0 * correct / max(1, seen), "seconds": time.time() - start,
                          "lr": lr_at(t - 1), "steps": t}), flush=True)

    if args.no_eval:
        return
    presets = [args.arch] if args.strategy == "standalone" else space.get("presets", [])
    for name in presets:
        path = [0] * nl if args.strategy == "standalone" else path_of(name)
        acc = recalibrate_and_validate(net, path, x_all, y_all, tr, va, norm, args.bn_batches, args.eval_batch)
        print(json.dumps({"kind": "eval", "arch": name, "accuracy": acc}), flush=True)


def recalibrate_and_validate(net, path, x_all, y_all, tr, va, norm, bn_batches, batch):
    net.train()
    for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None
    with torch.no_grad():
        for k in range(bn_batches):
            net(norm(x_all[tr[k * batch:(k + 1) * batch]]), path)
        net.eval()
        correct = 0
        for s in range(0, len(va), batch):
            idx = va[s:s + batch]
            correct += (net(norm(x_all[idx]), path).argmax(1) == y_all[idx]).sum().item()
    return 100.0 * correct / len(va)


def bench_eval(args, space, tokens):
    archs = [l.strip() for l in open(args.bench_eval) if l.strip()]
    paths = [[tokens.index(t) for t in a.split(":")[1].split("-")] for a in archs]
    net = Supernet(space, 10, entangled=args.entangled)
    x_all, y_all, tr, va = digits(args.resolution, args.seed)
    mean = x_all[tr].mean((0, 2, 3), keepdim=True)
    std = x_all[tr].std((0, 2, 3), keepdim=True).clamp_min(1e-3)
    norm = lambda t: (t - mean) / std
    secs = []
    for p in paths:
        start = time.time()
        recalibrate_and_validate(net, p, x_all, y_all, tr, va, norm, args.bn_batches, args.eval_batch)
        secs.append(time.time() - start)
    print(json.dumps({"kind": "bench-eval", "archs": len(paths), "seconds": secs}), flush=True)


if __name__ == "__main__":
    main()
