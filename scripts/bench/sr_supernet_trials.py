#!/usr/bin/env python3
"""Recipe trials for the super-resolution supernet, on scripts/bench/sr_supernet_reference.py's
PyTorch supernet (moremnas, batch 8, 24x24 patches, 2 threads), ranked against a file of
brief-training scores (`moga sr score ... --accuracy train:200 --json`, e.g.
target/bench-sr-supernet/rank-brief.jsonl):

  train --steps 400 [--lr 2e-3] [--paths fair|sandwich] [--k1sep] [--fanscale] --ckpt F
      trains the supernet (FairNAS's 4 paths a step; `sandwich`: 2 random paths, the
      widest and the narrowest) and saves its weights to F;
  score --ckpt F --ft 0,20,60 [--ftlr 1e-3] [--k1sep] [--fanscale]
      scores every architecture of --truth with inherited weights, then after K
      fine-tuning steps of that path alone; prints Kendall's tau per K;
  fixed --steps 2000 --lr 2e-3
      trains the fixed parts alone (feature extractor, tail bias, output conv; the cells
      cut off) from scratch at a constant rate, printing held-out PSNR at 100, 200, 400,
      1000 and 2000 steps: how long even the smallest network needs to reach bicubic;
  score --scratch --ft 50,100,200 [--ftlr 2e-3]
      the same architectures trained from scratch (the brief-training proxy re-run in
      PyTorch, another seed and downscaler): how far the truth agrees with itself.

Warm start (fixed parts trained first, then shared by every network and the supernet):
  fixed --steps 10000 --lr 3e-3 --save B      trains and saves the fixed parts;
  score --scratch --base B [--tailscale 1] [--seed 2] [--against F:K]
      every architecture from B's fixed parts (the tail's cell columns scaled by
      --tailscale, its bias kept at 0.01 or more so no channel starts dead) and fresh
      cells; --against ranks against another run's F.scores.json at K steps;
  train --base B                               the supernet from B's fixed parts.
--limit N scores only the first N architectures.

--k1sep gives 1x1 kernels master weights of their own instead of the 3x3's centre;
--fanscale multiplies a slice by sqrt(master fan / slice fan) so narrow inputs are not
under-scaled; --ws wn normalises each sliced row to a learned norm (weight
normalisation, so every slice starts at He scale), --ws ws standardises it (zero mean,
NF-Net style); --bn puts batch normalisation after every convolution (batch statistics
while training; when scored, each path's own statistics from 8 training batches, which
fold into its convolutions); --anneal F ramps the tail's feature-extractor shortcut from
0 to 1 over the first F of the steps, so early training must go through the cells. All
change what a sub-network inherits, so they are trials, not moga's supernet. Scoring
also prints what the fixed parts alone reach (the tail's cell columns zeroed, as
`moga sr supernet` records it). Scores are written to F.scores.json (F.scratch.scores.json). Paths are relative to
the repository root.
"""
import os, sys, json, math, random, time, itertools, glob, os, copy, argparse
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch, numpy as np
import sr_supernet_reference as R

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("mode", choices=["train", "score", "fixed"])
ap.add_argument("--steps", type=int, default=400)
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--ckpt", default="target/sr-supernet-trials/P.pt")
ap.add_argument("--ft", default="0,20,50")
ap.add_argument("--ftlr", type=float, default=1e-3)
ap.add_argument("--scratch", action="store_true")
ap.add_argument("--paths", default="fair", choices=["fair", "sandwich"])
ap.add_argument("--truth", default="target/bench-sr-supernet/rank-brief.jsonl")
ap.add_argument("--k1sep", action="store_true")
ap.add_argument("--fanscale", action="store_true")
ap.add_argument("--ws", choices=["ws", "wn"])
ap.add_argument("--bn", action="store_true")
ap.add_argument("--anneal", type=float, default=0.0)
ap.add_argument("--base", help="start from these fixed parts (`fixed --save F`)")
ap.add_argument("--save", help="fixed: save the trained fixed parts here")
ap.add_argument("--tailscale", type=float, default=0.1)
ap.add_argument("--against", help="score: rank against FILE:K (a .scores.json) instead of --truth")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--limit", type=int, default=0)
a = ap.parse_args()
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # paths are the repository's
_orig_sliced = R.sliced
def sliced(P, name, rows, cols, g, k):
    if a.k1sep and k == 1 and (name + "@1.weight") in P:
        # the reference's slicing, of the 1x1 master instead of the 3x3's centre
        own = {name + ".weight": P[name + "@1.weight"], name + ".bias": P[name + ".bias"]}
        out = _orig_sliced(own, name, rows, cols, g, k)
    else:
        out = _orig_sliced(P, name, rows, cols, g, k)
    if a.fanscale and cols is not None and name not in ("fe",) and not name.endswith(".dw"):
        full = P[name + ".weight"].shape[1]
        if full > 1:
            # the master is initialised for min(full,64) inputs per group; scale to the slice's fan
            used = len(cols)
            ref = min(full, 64)
            out = (out[0] * math.sqrt(ref / max(used, 1)), out[1])
    if a.ws and name != "out":
        # scaled weight standardisation of the slice, per output row, times a learned gain
        w = out[0]
        fan = w[0].numel()
        gain = P[name + ".gain"].index_select(0, torch.tensor(rows))
        if a.ws == "wn":
            # weight normalisation: each row's direction, with a learned norm (keeps DC)
            nrm = w.pow(2).sum((1, 2, 3), keepdim=True).sqrt()
            out = (w / (nrm + 1e-8) * gain[:, None, None, None], out[1])
        else:
            m = w.mean((1, 2, 3), keepdim=True)
            sd = w.std((1, 2, 3), keepdim=True, unbiased=False)
            out = ((w - m) / (sd * math.sqrt(fan) + 1e-5) * gain[:, None, None, None], out[1])
    if a.bn and name != "out":
        r = torch.tensor(rows)
        out = (out[0], out[1], P[name + ".gamma"].index_select(0, r), P[name + ".beta"].index_select(0, r))
    return out
R.sliced = sliced
BN = {"mode": "train", "i": 0, "stats": []}
_orig_conv = R.conv
def conv(x, wb, k, g, relu):
    if len(wb) == 2:
        return _orig_conv(x, wb, k, g, relu)
    # batch normalisation after the convolution: batch statistics while training, a
    # path's own statistics (gathered on training batches, foldable into the conv) when scored
    y = torch.nn.functional.conv2d(x, wb[0], wb[1], padding=k // 2, groups=g)
    i = BN["i"]; BN["i"] += 1
    if BN["mode"] == "eval":
        m, v = BN["stats"][i]
    else:
        m, v = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
        if BN["mode"] == "collect":
            if len(BN["stats"]) <= i:
                BN["stats"].append([m.detach() * 0, v.detach() * 0, 0])
            st = BN["stats"][i]; st[0] += m.detach(); st[1] += v.detach(); st[2] += 1
    y = (y - m[None, :, None, None]) / torch.sqrt(v[None, :, None, None] + 1e-5) * wb[2][None, :, None, None] + wb[3][None, :, None, None]
    return torch.relu(y) if relu else y
R.conv = conv
_orig_init = R.init
def init(space):
    P = _orig_init(space)
    if a.k1sep:
        for name, shape, relu, g in R.layout(space):
            cout, cin, k, _ = shape
            if k == 3 and name not in ("fe", "tail", "out") and not name.endswith(".dw"):
                fan = min(cin, 64) // g
                bnd = math.sqrt((6.0 if relu else 2.0) / fan)
                P[name + "@1.weight"] = torch.empty(cout, cin, 1, 1).uniform_(-bnd, bnd).requires_grad_()
    if a.ws:
        for name, shape, relu, g in R.layout(space):
            P[name + ".gain"] = torch.full((shape[0],), math.sqrt(2.0) if relu else (math.sqrt(2.0 / 3.0) if a.ws == "wn" else 1.0)).requires_grad_()
    if a.bn:
        for name, shape, relu, g in R.layout(space):
            P[name + ".gamma"] = torch.ones(shape[0]).requires_grad_()
            P[name + ".beta"] = torch.zeros(shape[0]).requires_grad_()
    return P
R.init = init
torch.set_num_threads(2)
data = ".deps/sr-images"
tr = [R.load_y(p) for p in sorted(glob.glob(data + "/train/*.png"))]
val = []
for p in sorted(glob.glob(data + "/val/*.png")):
    hr, lr = R.load_y(p)
    y0, x0 = (lr.shape[2] - 48) // 2, (lr.shape[3] - 48) // 2
    val.append((hr[:, :, 2*y0:2*y0+96, 2*x0:2*x0+96], lr[:, :, y0:y0+48, x0:x0+48]))

def batch(rng, n=8, patch=24):
    xs, ys = [], []
    for _ in range(n):
        hr, lo = tr[rng.randrange(len(tr))]
        y, x = rng.randrange(lo.shape[2]-patch+1), rng.randrange(lo.shape[3]-patch+1)
        xs.append(lo[:, :, y:y+patch, x:x+patch]); ys.append(hr[:, :, 2*y:2*y+2*patch, 2*x:2*x+2*patch])
    return torch.cat(xs), torch.cat(ys)

def score(P, arch):
    with torch.no_grad():
        if a.bn:
            BN.update(mode="collect", stats=[])
            crng = random.Random(11)
            for _ in range(8):
                BN["i"] = 0
                R.forward(P, "moremnas", arch, [], batch(crng)[0])
            BN["stats"] = [(m / c, v / c) for m, v, c in BN["stats"]]
            BN["mode"] = "eval"
            vals = []
            for hr, lo in val:
                BN["i"] = 0
                vals.append(R.psnr(R.forward(P, "moremnas", arch, [], lo), hr))
            BN["mode"] = "train"
            return float(np.mean(vals))
        return float(np.mean([R.psnr(R.forward(P, "moremnas", arch, [], lo), hr) for hr, lo in val]))

def tau(a, b):
    c = d = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        x = (a[i]-a[j])*(b[i]-b[j]); c += x > 0; d += x < 0
    return (c-d)/max(1, c+d)

def cut_cells():
    keep = R.sliced
    R.sliced = lambda P, name, *r: (lambda w: (w[0] * 0, *w[1:]) if name == "tail" else w)(keep(P, name, *r))
    return keep

FIXED = ("fe.weight", "fe.bias", "tail.bias", "out.weight", "out.bias")
def fixed_forward(P, x):
    fe = R.conv(x, (P["fe.weight"], P["fe.bias"]), 3, 1, True)
    t = torch.relu(P["tail.bias"])[None, :, None, None] + fe
    return R.conv(R.depth_to_space_dcr(t), (P["out.weight"], P["out.bias"]), 3, 1, False)

def warm(P):
    """P with the fixed parts of --base: the tail's cell columns scaled by --tailscale
    (so the network starts at the base's function, nearly), its bias kept off zero so
    no channel starts dead."""
    if not a.base:
        return P
    B = torch.load(a.base)
    with torch.no_grad():
        for k in FIXED:
            P[k].copy_(B[k])
        P["tail.bias"].clamp_(min=0.01)
        P["tail.weight"].mul_(a.tailscale)
    return P

if a.mode == "fixed":
    torch.manual_seed(0); rng = random.Random(0)
    P = R.init("moremnas")
    arch = None
    _score = score
    score = lambda P, arch: float(np.mean([R.psnr(fixed_forward(P, lo), hr) for hr, lo in val]))
    opt = torch.optim.Adam([P[k] for k in ("fe.weight", "fe.bias", "tail.bias", "out.weight", "out.bias")], lr=a.lr)
    t0, at = time.time(), []
    for step in range(1, a.steps + 1):
        x, y = batch(rng)
        loss = (fixed_forward(P, x) - y).abs().mean()
        loss.backward(); opt.step(); opt.zero_grad()
        if step in (100, 200, 400, 1000, 2000, 4000, 8000) or step == a.steps:
            at.append((step, round(score(P, arch), 2)))
    bic = np.mean([R.psnr(torch.nn.functional.interpolate(lo, scale_factor=2, mode="bicubic", align_corners=False), hr) for hr, lo in val])
    if a.save:
        os.makedirs(os.path.dirname(os.path.abspath(a.save)), exist_ok=True)
        torch.save({k: P[k].detach() for k in FIXED}, a.save)
    print(f"lr {a.lr}: held-out PSNR by step {at} ({time.time() - t0:.0f} s); bicubic {bic:.2f} dB on the same crops")
    sys.exit(0)
if a.mode == "train":
    rng = random.Random(0); torch.manual_seed(0)
    P = warm(R.init("moremnas"))
    opt = torch.optim.Adam(P.values(), lr=a.lr)
    t0 = time.time()
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step+1)/25) * 0.5*(1+math.cos(math.pi*step/a.steps))
        for g in opt.param_groups: g["lr"] = lr
        x, y = batch(rng)
        perms = [rng.sample(R.OPS, 4) for _ in range(7)]
        tot = 0
        for p in range(4):
            if a.paths == "sandwich" and p >= 2:
                f = 64 if p == 2 else 16; b = 4 if p == 2 else 1; k = 3 if p == 2 else 1
                arch = [(perms[i][p], f, k, b, rng.random() < .5) for i in range(7)]
            else:
                arch = [(perms[i][p], rng.choice([16,32,48,64]), rng.choice([1,3]), rng.choice([1,2,4]), rng.random() < .5) for i in range(7)]
            BN["i"] = 0
            sc = min(1.0, step / (a.anneal * a.steps)) if a.anneal else 1.0
            loss = (R.forward(P, "moremnas", arch, [], x, shortcut=sc) - y).abs().mean()
            loss.backward(); tot += loss.item()
        opt.step(); opt.zero_grad()
        if (step+1) % 100 == 0:
            print(step+1, round(tot/4, 4), round(time.time()-t0), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.ckpt)), exist_ok=True)
    torch.save({k: v.detach() for k, v in P.items()}, a.ckpt)
else:
    truth = [json.loads(l) for l in open(a.truth)]
    if a.limit:
        truth = truth[:a.limit]
    archs = [R.parse(t["arch"])[1] for t in truth]
    tv = [t["psnr"] for t in truth]
    if a.against:
        f, k = a.against.rsplit(":", 1)
        tv = json.load(open(f))[k][:len(archs)]
    Ks = [int(k) for k in a.ft.split(",")]
    base = torch.load(a.ckpt) if not a.scratch else None
    res = {k: [] for k in Ks}
    t0 = time.time()
    for n, arch in enumerate(archs):
        if a.scratch:
            torch.manual_seed(a.seed); P = warm(R.init("moremnas"))
            P = {k: v.detach() for k, v in P.items()}
        else:
            P = base
        P = {k: v.clone().requires_grad_() for k, v in P.items()}
        opt = torch.optim.Adam(P.values(), lr=a.ftlr)
        rng = random.Random(5 if a.seed == 1 else 5 + 100 * a.seed)
        done = 0
        for K in Ks:
            while done < K:
                if a.scratch:
                    lr = a.ftlr * min(1.0, (done+1)/25) * 0.5*(1+math.cos(math.pi*done/max(Ks)))
                    for g in opt.param_groups: g["lr"] = lr
                x, y = batch(rng)
                loss = (R.forward(P, "moremnas", arch, [], x) - y).abs().mean()
                loss.backward(); opt.step(); opt.zero_grad(); done += 1
            res[K].append(score(P, arch))
        print(n, [round(res[K][-1], 2) for K in Ks], round(tv[n], 2), round(time.time()-t0), flush=True)
    for K in Ks:
        print(f"K={K}: tau {tau(res[K], tv):+.3f}  range {min(res[K]):.2f}..{max(res[K]):.2f}")
    if not a.scratch:
        # the fixed parts alone: in the chain the tail reads only the last cell
        keep = cut_cells()
        print(f"fixed parts alone (cells cut off): {score(base, archs[0]):.2f} dB")
        R.sliced = keep
    json.dump({str(K): res[K] for K in Ks}, open(a.ckpt + (".scratch" if a.scratch else "") + ".scores.json", "w"))
