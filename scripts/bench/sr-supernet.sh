#!/usr/bin/env bash
# The super-resolution supernet, checked three ways in one run:
#  1. training: `moga sr supernet` beside its PyTorch reference
#     (scripts/bench/sr_supernet_reference.py --train: the same shared weights, fairness,
#     schedule and data folder), the presets' inherited PSNR at every evaluation;
#  2. weight sharing: every preset and --check-archs sampled architectures exported with
#     inherited weights (`moga export --ckpt`), run on ONNX Runtime, against the
#     reference's own slicing of the same checkpoint (largest absolute difference);
#  3. the oracle: --rank-archs sampled architectures (and the presets) scored by the
#     supernet and by FALSR's brief training (train:--brief-steps), both on the same
#     held-out crops: Kendall's tau and Spearman's rho between the two rankings, and
#     the seconds each oracle took;
#  4. the truth's own agreement: the same architectures briefly trained again with
#     another seed (unless --no-repeat): Kendall's tau between the two brief rankings is
#     the most any oracle can be expected to reach against one of them; and a
#     structural baseline (fewer blocks in all, better) ranked against both.
#
#   scripts/bench/sr-supernet.sh [--space moremnas] [--steps 400] [--batch 8] [--patch 24]
#       [--lr 2e-3] [--eval-every 100] [--seed 0] [--check-archs 8] [--rank-archs 20]
#       [--brief-steps 200] [--no-reference] [--no-repeat] [--out target/bench-sr-supernet]
#
# Installs the full torch, onnxruntime (scripts/setup.sh's versions), safetensors and
# pillow into .deps/bench-venv on first use. About 35 minutes with the defaults on 2 cores (20 with
# --no-repeat).
. "$(dirname "$0")/lib.sh"
opt --space space moremnas
opt --steps steps 400
opt --batch batch 8
opt --patch patch 24
opt --lr lr 2e-3
opt --eval-every every 100
opt --seed seed 0
opt --check-archs check 8
opt --rank-archs rank 20
opt --brief-steps brief 200
opt --out out target/bench-sr-supernet
flag --no-reference reference "" 1
flag --no-repeat repeat "" 1
parse "$@"
bench_torch_venv
"$py" -c 'import onnxruntime, safetensors, PIL' 2> /dev/null ||
  bench_venv "onnxruntime==$(setup_version ORT)" safetensors pillow
cargo build --release --bin moga --bin moga-torch --quiet
moga=target/release/moga
rm -rf "$out"; mkdir -p "$out"
common=(--steps "$steps" --batch "$batch" --patch "$patch" --lr "$lr" --eval-every "$every" --seed "$seed")

echo "== 1. training: moga sr supernet --space $space ${common[*]} (2 threads)" >&2
start=$SECONDS
"$moga" sr supernet --space "$space" "${common[@]}" --device cpu --threads 2 -o "$out/supernet" --json \
  >"$out/moga-train.json"
moga_s=$((SECONDS - start))
ref_s=0
if [ -n "$reference" ]; then
  echo "== 1. training: the PyTorch reference, same settings (2 threads)" >&2
  start=$SECONDS
  "$py" scripts/bench/sr_supernet_reference.py --train --space "$space" "${common[@]}" --threads 2 \
    >"$out/reference-train.jsonl"
  ref_s=$((SECONDS - start))
fi

echo "== 2. weight sharing: exported sub-networks against the reference's slicing" >&2
presets=$("$moga" space show "$space" --json | "$py" -c 'import json,sys; print(" ".join(json.load(sys.stdin)["presets"]))')
# shellcheck disable=SC2086
"$moga" sr score $presets --space "$space" --sample "$check" --seed $((seed + 1)) \
  --accuracy "supernet:$out/supernet" --json 2>/dev/null \
  | "$py" -c 'import json,sys; [print(json.loads(l)["arch"]) for l in sys.stdin]' >"$out/check-archs.txt"
"$py" scripts/bench/sr_supernet_reference.py --check "$out/supernet" --archs "$out/check-archs.txt" \
  --moga "$moga" --tmp "$out" >"$out/check.json"

echo "== 3. the oracle: supernet against brief training (train:$brief) on $rank samples and the presets" >&2
start=$SECONDS
# shellcheck disable=SC2086
"$moga" sr score $presets --space "$space" --sample "$rank" --seed $((seed + 2)) \
  --accuracy "supernet:$out/supernet" --json >"$out/rank-supernet.jsonl"
sup_s=$((SECONDS - start)); start=$SECONDS
# shellcheck disable=SC2086
"$moga" sr score $presets --space "$space" --sample "$rank" --seed $((seed + 2)) \
  --accuracy "train:$brief" --json >"$out/rank-brief.jsonl"
brief_s=$((SECONDS - start))
if [ -n "$repeat" ]; then
  echo "== 4. the truth's own agreement: the same architectures, brief training with another seed" >&2
  mapfile -t ranked < <("$py" -c 'import json,sys; [print(json.loads(l)["arch"]) for l in open(sys.argv[1])]' "$out/rank-brief.jsonl")
  "$moga" sr score "${ranked[@]}" --space "$space" --seed $((seed + 7)) \
    --accuracy "train:$brief" --json >"$out/rank-brief-again.jsonl"
fi

"$py" - "$out" "$moga_s" "$ref_s" "$sup_s" "$brief_s" <<'EOF'
import json, sys, itertools
out, moga_s, ref_s, sup_s, brief_s = sys.argv[1], *map(float, sys.argv[2:])
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
m = json.load(open(f"{out}/moga-train.json"))
try:
    r = rows(f"{out}/reference-train.jsonl")
except FileNotFoundError:
    r = []
print(f"1. training ({m['config']['space']}, {m['steps_done']} steps; bicubic {m['bicubic']['psnr_db']:.3f} dB on the held-out 48x48 centres)")
names = [n for n, _ in m["records"][0]["presets"]]
print(f"{'step':>6} | {'moga L1':>8} " + " ".join(f"{n:>11}" for n in names) + f" | {'torch L1':>8} " + " ".join(f"{n:>11}" for n in names))
for i, a in enumerate(m["records"]):
    b = r[i] if i < len(r) else None
    left = f"{a['step']:>6} | {a['loss']:>8.4f} " + " ".join(f"{p:>11.3f}" for _, p in a["presets"])
    right = (f" | {b['loss']:>8.4f} " + " ".join(f"{b['presets'].get(n, float('nan')):>11.3f}" for n in names)) if b else ""
    print(left + right)
last = m["records"][-1]
if last.get("fixed_parts"):
    cut = ", ".join(f"{n} {p:.3f} -> {f:.3f} dB ({p - f:+.3f})" for (n, p), (_, f) in zip(last["presets"], last["fixed_parts"]))
    print(f"   at step {last['step']}, the presets with the cells cut off (what the cells add): {cut}")
print(f"   moga's verdict on its oracle: {m.get('weak_oracle') or 'none'}")
print(f"   whole runs: moga {moga_s:.0f} s, reference {ref_s:.0f} s")
c = json.load(open(f"{out}/check.json"))
print(f"2. weight sharing: {c['archs']} sub-networks exported by moga (ONNX Runtime) vs the reference's slicing: largest |difference| {c['max_abs_diff']:.2e}")
s = rows(f"{out}/rank-supernet.jsonl"); t = rows(f"{out}/rank-brief.jsonl")
assert [x["arch"] for x in s] == [x["arch"] for x in t]
a = [x["psnr"] for x in s]; b = [x["psnr"] for x in t]
def tau(a, b):
    c = d = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        x = (a[i] - a[j]) * (b[i] - b[j])
        c += x > 0; d += x < 0
    return (c - d) / max(1, c + d)
def ranks(v):
    o = sorted(range(len(v)), key=lambda i: v[i]); r = [0] * len(v)
    for k, i in enumerate(o): r[i] = k
    return r
def rho(a, b):
    ra, rb = ranks(a), ranks(b); n = len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))
print(f"3. oracle: {len(a)} architectures; Kendall tau {tau(a, b):+.3f}, Spearman rho {rho(a, b):+.3f} between supernet and brief-training PSNR")
def blocks(enc):
    return sum(int(c.split("_")[3][1:]) for c in enc.split(":", 1)[1].split("/")[0].split("-"))
fewer = [-blocks(x["arch"]) for x in s]
try:
    again = [x["psnr"] for x in rows(f"{out}/rank-brief-again.jsonl")]
except FileNotFoundError:
    again = None
if again:
    print(f"4. brief training against itself (another seed): Kendall tau {tau(b, again):+.3f}; the supernet against the second run {tau(a, again):+.3f}")
    print(f"   structural baseline (fewer blocks, better): tau {tau(fewer, b):+.3f} against the first brief run, {tau(fewer, again):+.3f} against the second")
else:
    print(f"   structural baseline (fewer blocks, better): tau {tau(fewer, b):+.3f} against brief training")
bic = m["bicubic"]["psnr_db"]
print(f"   below bicubic ({bic:.2f} dB): supernet {sum(x < bic for x in a)} of {len(a)}, brief training {sum(x < bic for x in b)} of {len(b)}")
print(f"   supernet {sup_s:.0f} s ({sup_s / len(a):.2f} s each), brief training {brief_s:.0f} s ({brief_s / len(a):.1f} s each)")
for x, y in zip(s, t):
    print(f"   {x['psnr']:8.3f} {y['psnr']:8.3f}  {x.get('name') or x['arch'][:70]}")
json.dump({"train": {"moga": m["records"], "reference": r, "moga_s": moga_s, "reference_s": ref_s},
           "check": {"archs": c["archs"], "max_abs_diff": c["max_abs_diff"]},
           "rank": {"n": len(a), "kendall_tau": tau(a, b), "spearman_rho": rho(a, b),
                    "supernet_s": sup_s, "brief_s": brief_s, "supernet": a, "brief": b,
                    "brief_again": again, "kendall_tau_brief_again": tau(b, again) if again else None,
                    "kendall_tau_fewer_blocks": tau(fewer, b)}},
          open(f"{out}/summary.json", "w"), indent=1)
print(f"written: {out}/summary.json")
EOF
