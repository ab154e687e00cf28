#!/usr/bin/env bash
# How far this machine's latency tables can be trusted: for each backend and space, a
# table made in context (units timed inside whole networks of covering designs, the
# default) and one made of isolated units, both profiled on `local` with their default
# protocol (every run paired with the space's reference network, interleaved rounds),
# then judged on the same random architectures (same seed) measured whole by
# `moga lut validate`: share within ±5 % and ±10 % (with Wilson intervals), RMSPE and
# Kendall's τ of what the table predicts by default (its kept correction, if any), on
# the half of the sample no correction was fitted on.
#
#   scripts/bench/fidelity.sh [--samples 40] [--seed 1] [--repeats 1]
#                             [--ort-spaces "moga fairnas"] [--ort-resolution 224]
#                             [--wgpu-space moga] [--wgpu-resolution 64] [--wgpu-samples 40]
#                             [--no-wgpu] [--methods "context isolated"] [--out DIR]
#
# --repeats N builds N fresh tables per case, each with seeds of its own (run r profiles
# with --seed SEED+r-1 and validates on the sample of seed 1000·r+SEED), and prints every
# run and, per case, the worst of them: one run is an anecdote on a machine that drifts.
#
# wgpu runs on lavapipe here (Vulkan on the CPU, far slower than ONNX Runtime's
# kernels): its tables use one covering design and a lighter protocol, stated below.
# On a phone use `--device SERIAL` with the commands this prints. Tables, plots,
# per-network figures and a summary (summary.jsonl) stay in --out (default
# target/bench-fidelity).
. "$(dirname "$0")/lib.sh"
opt --samples samples 40
opt --seed seed 1
opt --repeats repeats 1
opt --ort-spaces ort_spaces "moga fairnas"
opt --ort-resolution ort_res 224
opt --wgpu-space wgpu_space moga
opt --wgpu-resolution wgpu_res 64
opt --wgpu-samples wgpu_samples 40
opt --methods methods "context isolated"
opt --out out target/bench-fidelity
flag --no-wgpu wgpu 0 1
parse "$@"

cargo build --release --bins --quiet
moga=target/release/moga
mkdir -p "$out"
local_root="$out/local"
summary="$out/summary.jsonl"
: > "$summary"

run() { echo "+ $*" >&2; "$@"; }

# One case, run R: profile a fresh table (timed) with its own seed, validate it on a
# sample of its own, append a summary line.
case_() {
  local backend=$1 space=$2 res=$3 method=$4 n=$5 r=$6
  shift 6
  local shape=(--resolution "$res" --classes 1000)
  local tag="$space-$backend-r$res-$method-run$r"
  local lut="$out/$tag.csv"
  local pseed=$((seed + r - 1)) vseed=$((seed + 1000 * (r - 1)))
  rm -f "$lut" "$lut.context.jsonl"
  printf '\n== %s, %s space at %d px, %s table, run %d of %d (profile seed %d, sample seed %d)\n' \
    "$backend" "$space" "$res" "$method" "$r" "$repeats" "$pseed" "$vseed" >&2
  local t0 t1
  t0=$(date +%s.%N)
  run $moga profile --device local --backend "$backend" --space "$space" --method "$method" \
    "${shape[@]}" "$@" --seed "$pseed" --local-root "$local_root" -o "$lut" --json > "$out/profile.json"
  t1=$(date +%s.%N)
  run $moga lut validate --lut "$lut" --space "$space" "${shape[@]}" --samples "$n" --seed "$vseed" \
    --local-root "$local_root" --plot "$out/$tag.svg" \
    --details "$out/$tag.jsonl" --json > "$out/validate.json" || true
  python3 - "$backend" "$space" "$res" "$method" "$t0" "$t1" "$out/profile.json" "$out/validate.json" \
    "$r" "$pseed" "$vseed" "$out/$tag.jsonl" >> "$summary" <<'PY'
import json, statistics, sys
backend, space, res, method, t0, t1, prof, val, run, pseed, vseed, details = sys.argv[1:]
p = json.loads(open(prof).read().splitlines()[0])
v = json.loads(open(val).read().splitlines()[0])
kept = next(x for x in v["variants"] if x["chosen"])
plain = next(x for x in v["variants"] if x["model"] == "sum")
# Where the error sits: the held-out networks' spread (Kendall's τ is bounded by the
# errors' spread against it) and every held-out network beyond ±5 %.
held = [json.loads(l) for l in open(details)]
held = [x for x in held if x["half"] == "holdout" and x.get("measured_ms")]
pred = lambda x: x.get("corrected_ms") or x["units_ms"]
errs = [100 * (pred(x) - x["measured_ms"]) / x["measured_ms"] for x in held]
measured = [x["measured_ms"] for x in held]
where = {
    "holdout_spread_cv_pct": round(100 * statistics.pstdev(measured) / statistics.mean(measured), 2),
    "holdout_error_sd_pct": round(statistics.pstdev(errs), 2),
    "misses": [{"arch": x["arch"], "predicted_ms": round(pred(x), 4), "measured_ms": round(x["measured_ms"], 4),
                "error_pct": round(e, 2)} for x, e in zip(held, errs) if abs(e) > 5],
}
print(json.dumps({
    "backend": backend, "space": space, "resolution": int(res), "method": method,
    "run": int(run), "profile_seed": int(pseed), "sample_seed": int(vseed),
    "profile_s": round(float(t1) - float(t0), 1), "model_runs": p["runs"],
    "networks": p["networks"], "units": p["units"], "drift_pct": p["drift_pct"],
    "repeatability": p["repeatability"], "validate_s": round(v["seconds"], 1),
    "holdout_n": v["holdout_n"], "kept": kept["name"], "decision": v["decision"],
    "reference_drift_pct": (v["reference"] or {}).get("drift_pct"),
    "default": kept["holdout"], "plain_sum": plain["holdout"], **where,
}))
PY
}

for space in $ort_spaces; do
  for method in $methods; do
    for r in $(seq 1 "$repeats"); do
      case_ ort "$space" "$ort_res" "$method" "$samples" "$r"
    done
  done
done
if [ "$wgpu" = 1 ]; then
  # lavapipe: ~0.6 s per 64 px network here: one covering design, 6 pairs (at most 6 s) per model.
  for method in $methods; do
    for r in $(seq 1 "$repeats"); do
      case_ wgpu "$wgpu_space" "$wgpu_res" "$method" "$wgpu_samples" "$r" \
        --warmup 1 --min-runs 6 --rounds 3 --precision 0.02 --max-seconds 6 --designs 1
    done
  done
fi

printf '\n== summary (held-out half of %s networks; default prediction = the kept correction, if any)\n' "$samples"
python3 - "$summary" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hdr = f"{'backend':<6} {'space':<8} {'px':>4} {'method':<9} {'run':>4} {'profile':>8} {'runs':>7} {'±5 %':>16} {'±10 %':>16} {'RMSPE':>7} {'tau':>6}  plain sum ±5 % / tau"
print(hdr)
for r in rows:
    d, s = r["default"], r["plain_sum"]
    ci = lambda m, k: f"{100*m[k]:.0f} [{100*m[k+'_ci'][0]:.0f},{100*m[k+'_ci'][1]:.0f}]"
    print(f"{r['backend']:<6} {r['space']:<8} {r['resolution']:>4} {r['method']:<9} {r['run']:>4} {r['profile_s']:>7.0f}s {r['model_runs']:>7} "
          f"{ci(d,'within_5pct'):>16} {ci(d,'within_10pct'):>16} {d['rmspe_pct']:>6.2f}% {d['kendall_tau']:>6.3f}  "
          f"{100*s['within_5pct']:.0f} % / {s['kendall_tau']:.3f}")
    print(f"       held-out spread {r['holdout_spread_cv_pct']:.1f} % (CV), error sd {r['holdout_error_sd_pct']:.2f} %"
          + "".join(f"\n       miss: {m['error_pct']:+.1f} % ({m['predicted_ms']:.3f} ms predicted, {m['measured_ms']:.3f} measured) {m['arch']}"
                    for m in r["misses"]))
cases = {}
for r in rows:
    cases.setdefault((r["backend"], r["space"], r["resolution"], r["method"]), []).append(r)
if any(len(v) > 1 for v in cases.values()):
    print("\nworst of each case's runs (default prediction; the longest profile):")
    print(f"{'backend':<6} {'space':<8} {'px':>4} {'method':<9} {'runs':>4} {'profile':>8} {'±5 %':>6} {'±10 %':>6} {'RMSPE':>7} {'tau':>6}")
    for (b, sp, px, m), v in cases.items():
        d = [x["default"] for x in v]
        print(f"{b:<6} {sp:<8} {px:>4} {m:<9} {len(v):>4} {max(x['profile_s'] for x in v):>7.0f}s "
              f"{100*min(x['within_5pct'] for x in d):>5.0f}% {100*min(x['within_10pct'] for x in d):>5.0f}% "
              f"{max(x['rmspe_pct'] for x in d):>6.2f}% {min(x['kendall_tau'] for x in d):>6.3f}")
PY
echo "summary: $summary" >&2
