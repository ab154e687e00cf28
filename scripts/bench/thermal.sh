#!/usr/bin/env bash
# What heat does to a latency table, and what the throttle check gives back: the adbd
# fixture as a phone that heats while the runner runs and throttles (its clocks read
# lower, its programs really run slower: SIGSTOP/SIGCONT duty cycling) about halfway
# through a run. Per repeat, interleaved:
#   cool      a script that never throttles (its zone counts the runner's seconds
#             from 100 °C, no cooling), --no-throttle-check: the phone at rest
#   checked   the thermal script, `moga profile` with its default --throttle-check
#   unchecked the same script, --no-throttle-check (every batch kept as measured)
# Each table is then judged by `moga lut validate` on the same random networks (one
# sample seed per repeat) measured whole on a cool fixture: share within ±5 % and ±10 %
# (Wilson intervals), RMSPE and Kendall's τ on the held-out half, with the prediction
# the table keeps by default; and what the profiler re-measured.
#
#   scripts/bench/thermal.sh [--space fairnas] [--resolution 224] [--samples 30]
#                            [--repeats 2] [--seed 1] [--slowdown 2.5] [--no-reference]
#                            [--out DIR]
#
# --no-reference profiles every table without the reference network (absolute times;
# the throttle check then goes by lowered clocks alone).
# The thermal script's heating rate is set from the cool run of the same repeat, so
# that the device reaches its throttling point after about half of that run's runner
# seconds (written to DIR/thermal-script-rN.txt); it cools at half that rate. Tables,
# per-network figures and a summary (summary.jsonl) stay in --out (default
# target/bench-thermal).
. "$(dirname "$0")/lib.sh"
opt --space space fairnas
opt --resolution res 224
opt --samples samples 30
opt --repeats repeats 2
opt --seed seed 1
opt --slowdown slowdown 2.5
opt --out out target/bench-thermal
flag --no-reference no_reference 1 0
parse "$@"
reference=()
[ "$no_reference" = 0 ] || reference=(--no-reference)

cargo build --release --quiet --bins -p moga -p device-runner -p adbd-fixture
moga=target/release/moga
fixture=target/release/moga-adbd-fixture
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd) # the fixture's root must be absolute
summary="$out/summary.jsonl"
: > "$summary"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done' EXIT

# A phone's readings: the first zone is the one the script drives; clocks halve when
# throttled.
device=(--abi x86_64 --thermal-zone cpu-thermal=35000 --thermal-zone battery=31000
  --cpu-freq policy0=1804800 --cpu-freq policy4=2419200 --gpu-clock 585000000)

# Starts a fixture (extra arguments: a thermal script) under $out/$1; sets $addr.
start() {
  local name=$1
  shift
  rm -rf "${out:?}/$name"
  mkfifo "$out/$name.addr"
  "$fixture" --root "$out/$name" "${device[@]}" "$@" > "$out/$name.addr" &
  pids+=($!)
  read -r line < "$out/$name.addr"
  rm -f "$out/$name.addr"
  addr=${line#listening }
}
stop() { kill "${pids[-1]}" 2> /dev/null || true; wait "${pids[-1]}" 2> /dev/null || true; unset 'pids[-1]'; }

shape=(--space "$space" --resolution "$res" --classes 1000)
profile() { # CASE ADDR SEED [ARGS]: profiles $out/CASE.csv, timed; profile JSON to $out/CASE.json
  local tag=$1 addr=$2 pseed=$3
  shift 3
  local t0
  t0=$(date +%s.%N)
  echo "+ moga profile --device tcp:$addr ${shape[*]} --seed $pseed ${reference[*]} $*" >&2
  $moga profile --device "tcp:$addr" --backend ort "${shape[@]}" --batch 3 --seed "$pseed" \
    "${reference[@]}" -o "$out/$tag.csv" --json "$@" \
    > "$out/$tag.json" 2> "$out/$tag.log"
  python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),1))" "$t0" > "$out/$tag.seconds"
}

for r in $(seq 1 "$repeats"); do
  pseed=$((seed + r - 1)) vseed=$((seed + 1000 * (r - 1)))
  printf '\n== repeat %d of %d: %s at %d px, profile seed %d, sample seed %d\n' \
    "$r" "$repeats" "$space" "$res" "$pseed" "$vseed" >&2
  # (from 100 °C: a zone below 1000 would read as whole degrees, as some phones write)
  printf 'ambient 100\nheat 1\ncool 0\nthrottle 1000000\n' > "$out/counter.txt"
  start cool-r$r --thermal-script "$out/counter.txt"
  profile cool-r$r "$addr" "$pseed" --no-throttle-check
  stop
  # The cool run's runner seconds: what its zone counted.
  runner=$(python3 -c "import sys; print(int(open(sys.argv[1]).read()) / 1000 - 100)" \
    "$out/cool-r$r/sys/class/thermal/thermal_zone0/temp")
  script="$out/thermal-script-r$r.txt"
  python3 - "$runner" "$slowdown" > "$script" <<'PY'
import sys
runner, slowdown = float(sys.argv[1]), float(sys.argv[2])
heat = 10.0 / (runner / 2)
print(f"# bench/thermal.sh: the cool run's runner ran {runner:.0f} s; throttles after about half of that")
print("ambient 35")
print(f"heat {heat:.4f}")
print(f"cool {heat / 2:.4f}")
print("throttle 45")
print("hysteresis 3")
print(f"slowdown {slowdown}")
print("clock 0.5")
PY
  for c in checked unchecked; do
    start "$c-r$r" --thermal-script "$script"
    if [ "$c" = checked ]; then
      profile "$c-r$r" "$addr" "$pseed"
    else
      profile "$c-r$r" "$addr" "$pseed" --no-throttle-check
    fi
    stop
  done
  # The truth: the same networks measured whole on a cool device, against each table.
  for c in cool checked unchecked; do
    start "truth-$c-r$r"
    echo "+ moga lut validate --lut $out/$c-r$r.csv --samples $samples --seed $vseed --device tcp:$addr" >&2
    $moga lut validate --lut "$out/$c-r$r.csv" "${shape[@]}" --samples "$samples" --seed "$vseed" \
      --device "tcp:$addr" --no-store --details "$out/$c-r$r.details.jsonl" --json \
      > "$out/$c-r$r.validate.json" 2> "$out/$c-r$r.validate.log" || true
    stop
    python3 - "$c" "$r" "$out" >> "$summary" <<'PY'
import json, statistics, sys
case, r, out = sys.argv[1], sys.argv[2], sys.argv[3]
tag = f"{out}/{case}-r{r}"
p = json.loads(open(f"{tag}.json").read().splitlines()[0])
v = json.loads(open(f"{tag}.validate.json").read().splitlines()[0])
kept = next(x for x in v["variants"] if x["chosen"])
meta = next(json.loads(l[len("# meta: "):]) for l in open(f"{tag}.csv") if l.startswith("# meta: "))
state = meta.get("device_state", {})
pick = lambda suffix: next((v for k, v in state.items() if k.endswith(suffix)), None)
held = [json.loads(l) for l in open(f"{tag}.details.jsonl")]
held = [x for x in held if x["half"] == "holdout" and x.get("measured_ms")]
pred = lambda x: x.get("corrected_ms") or x["units_ms"]
errs = [100 * (pred(x) - x["measured_ms"]) / x["measured_ms"] for x in held]
print(json.dumps({
    "case": case, "run": int(r), "profile_s": float(open(f"{tag}.seconds").read()),
    "drift_pct": p.get("drift_pct"),
    "throttle_check": pick(" throttle check"), "hottest_before": pick(" hottest zone before batches"),
    "hottest_after": pick(" hottest zone after batches"),
    "holdout_n": v["holdout_n"], "kept": kept["name"], "default": kept["holdout"],
    "mean_error_pct": round(statistics.mean(errs), 2) if errs else None,
}))
PY
  done
done

printf '\n== summary: %s at %d px%s, held-out half of %s networks measured whole on a cool device\n' \
  "$space" "$res" "${reference:+, no reference network}" "$samples"
python3 - "$summary" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ci = lambda m, k: f"{100*m[k]:.0f} [{100*m[k+'_ci'][0]:.0f},{100*m[k+'_ci'][1]:.0f}]"
print(f"{'case':<10} {'run':>3} {'profile':>8} {'±5 %':>14} {'±10 %':>14} {'RMSPE':>7} {'bias':>7} {'tau':>6}  drift of the reference")
for r in rows:
    d = r["default"]
    drift = r["drift_pct"]
    drift = f"{drift[0]:+.0f} to {drift[1]:+.0f} %" if drift else "-"
    print(f"{r['case']:<10} {r['run']:>3} {r['profile_s']:>7.0f}s {ci(d,'within_5pct'):>14} {ci(d,'within_10pct'):>14} "
          f"{d['rmspe_pct']:>6.2f}% {r['mean_error_pct']:>+6.2f}% {d['kendall_tau']:>6.3f}  {drift}")
    for k in ("hottest_before", "hottest_after", "throttle_check"):
        if r.get(k):
            print(f"{'':<15}{k.replace('_', ' ')}: {r[k]}")
by = {}
for r in rows:
    by.setdefault(r["case"], []).append(r["default"])
print("\nworst of each case's runs:")
for c, ds in by.items():
    print(f"{c:<10} ±5 % {100*min(d['within_5pct'] for d in ds):.0f} %, ±10 % {100*min(d['within_10pct'] for d in ds):.0f} %, "
          f"RMSPE {max(d['rmspe_pct'] for d in ds):.2f} %, tau {min(d['kendall_tau'] for d in ds):.3f} ({len(ds)} runs)")
PY
echo "summary: $summary" >&2
