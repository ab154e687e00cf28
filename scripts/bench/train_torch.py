"""The PyTorch peer of `moga train`'s fair step, for scripts/bench/train.sh.

Builds the same supernet from `moga space show SPACE --json` (stem, separable block,
every MBConv choice of every layer, head; ReLU6/h-swish as the space says; no SE or
identity choices, so the FairNAS and MoGA-without-SE spaces), the same strict-fairness
step (per-layer permutations, m paths forward and backward on one batch, shared
gradients averaged over the m paths, one Nesterov SGD step with weight decay on
weights), on the same bundled digits at the same resolution and batch, with the same
padded random crop. Prints one JSON line: images per second over the timed steps.

With --ddp, under torchrun: DistributedDataParallel on c10d (Gloo on the CPU, NCCL on
GPUs), each rank a 1/WORLD_SIZE slice of every batch, the same paths on every rank (one
seeded generator), gradients kept local (`no_sync`) for all but the step's last path,
whose backward all-reduces them all (DDP's buckets, overlapped with that backward);
BATCH is the global batch, and rank 0 prints the line.

    python train_torch.py SPACE_JSON DIGITS_CSV_GZ BATCH STEPS WARMUP THREADS DEVICE [--ddp]
"""
import contextlib
import os
import gzip
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

space_path, digits_path, batch, steps, warmup, threads, device = sys.argv[1:8]
batch, steps, warmup, threads = int(batch), int(steps), int(warmup), int(threads)
ddp = "--ddp" in sys.argv[8:]
rank, world = 0, 1
if ddp:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    assert batch % world == 0, "the global batch must split evenly"
torch.set_num_threads(threads)
torch.manual_seed(0)
space = json.load(open(space_path))
res = space["options"]["resolution"]

ACT = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "none": nn.Identity}


def conv_bn(cin, cout, k, stride, groups, act):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        ACT[act](),
    )


class MbConv(nn.Module):
    def __init__(self, cin, cout, k, e, stride, act):
        super().__init__()
        hid = cin * e
        self.body = nn.Sequential(
            conv_bn(cin, hid, 1, 1, 1, act),
            conv_bn(hid, hid, k, stride, hid, act),
            conv_bn(hid, cout, 1, 1, 1, "none"),
        )
        self.residual = cin == cout and stride == 1

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


class Supernet(nn.Module):
    def __init__(self, s):
        super().__init__()
        st, sep, head = s["stem"], s["separable"], s["head"]
        self.stem = conv_bn(s["in_channels"], st["cout"], st["kernel"], st["stride"], 1, st["act"])
        self.sep = nn.Sequential(
            conv_bn(st["cout"], st["cout"], sep["kernel"], 1, st["cout"], sep["act"]),
            conv_bn(st["cout"], sep["cout"], 1, 1, 1, "none"),
        )
        self.layers = nn.ModuleList()
        for layer in s["layers"]:
            blocks = nn.ModuleList()
            for c in s["choices"]:
                if c["op"] != "mbconv" or c["se"]:
                    sys.exit(f"train_torch.py: choice {c} is not modelled here")
                blocks.append(MbConv(layer["cin"], layer["cout"], c["kernel"], c["expansion"],
                                     layer["stride"], layer["act"]))
            self.layers.append(blocks)
        last = s["layers"][-1]["cout"]
        self.head = conv_bn(last, head["conv_channels"], 1, 1, 1, head["act"])
        if head["hidden"]:
            sys.exit("train_torch.py: a hidden head layer is not modelled here")
        self.dropout = head["dropout"]
        self.classifier = nn.Linear(head["conv_channels"], head["classes"])

    def forward(self, x, path):
        x = self.sep(self.stem(x))
        for blocks, c in zip(self.layers, path):
            x = blocks[c](x)
        x = F.adaptive_avg_pool2d(self.head(x), 1).flatten(1)
        return self.classifier(F.dropout(x, self.dropout, self.training))


net = Supernet(space).to(device).train()
model = DistributedDataParallel(net, find_unused_parameters=True) if ddp else None
shared = [p for n, p in net.named_parameters() if not n.startswith("layers.")]
decay = [p for p in net.parameters() if p.dim() > 1]
no_decay = [p for p in net.parameters() if p.dim() <= 1]
opt = torch.optim.SGD([{"params": decay, "weight_decay": 4e-5}, {"params": no_decay, "weight_decay": 0.0}],
                      lr=0.02, momentum=0.9, nesterov=True)

rows = [list(map(float, l.split(","))) for l in gzip.open(digits_path, "rt") if l.strip()]
data = torch.tensor(rows)
images = (data[:, :64] * (255.0 / 16.0)).reshape(-1, 1, 8, 8).repeat(1, 3, 1, 1)
images = F.interpolate(images, size=(res, res), mode="bilinear", align_corners=False)
labels = data[:, 64].long()
mean, std = images.mean(dim=(0, 2, 3), keepdim=True), images.std(dim=(0, 2, 3), keepdim=True)
gen = torch.Generator().manual_seed(0)
m = len(space["choices"])
n_layers = len(space["layers"])
pad = max(res // 8, 1)


def batch_at():
    idx = torch.randint(0, len(images), (batch,), generator=gen)
    x = F.pad(images[idx], (pad, pad, pad, pad))
    crops = []
    for i in range(batch):
        dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
        crops.append(x[i, :, dy:dy + res, dx:dx + res])
    x = (torch.stack(crops) - mean) / std
    share = batch // world
    x, y = x[rank * share:(rank + 1) * share], labels[idx][rank * share:(rank + 1) * share]
    return x.to(device), y.to(device)


def fair_step():
    x, y = batch_at()
    perms = [torch.randperm(m, generator=gen).tolist() for _ in range(n_layers)]
    opt.zero_grad(set_to_none=True)
    for k in range(m):
        path = [p[k] for p in perms]
        if model is None:
            loss = F.cross_entropy(net(x, path), y)
        else:
            last = k == m - 1
            with contextlib.nullcontext() if last else model.no_sync():
                loss = F.cross_entropy(model(x, path), y)
        loss.backward()
    with torch.no_grad():
        for p in shared:
            p.grad /= m
    opt.step()


for _ in range(warmup):
    fair_step()
if device.startswith("cuda"):
    torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(steps):
    fair_step()
if device.startswith("cuda"):
    torch.cuda.synchronize()
secs = time.perf_counter() - t0
in_sync = True
if ddp:
    # Every parameter must be the same on every rank, choices off the last path too:
    # else their accumulated gradients were never all-reduced.
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    lo, hi = flat.clone(), flat.clone()
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    in_sync = bool(torch.equal(lo, hi))
    dist.destroy_process_group()
if rank == 0:
    print(json.dumps({"images_per_sec": steps * batch / secs, "seconds": secs, "steps": steps,
                  "paths_per_step": m, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "ranks": world, "in_sync": in_sync}))
