#!/usr/bin/env bash
# moga's search engine beside pymoo 0.6.2's NSGA-II on the same problems (the per-layer
# tables `moga search --export-problem` writes, the same LUT, population, generations
# and seeds), release build of moga, the two programs alternating seed by seed:
#
# 1. Throughput: objectives acc (the proxy), lat, params, each seed run --rounds times
#    (moga's defaults, moga's plain NSGA-II and pymoo alternating, medians reported).
#    Evaluations per second measured inside each program (the search loop,
#    evaluations included) and over the whole process (start, table reading, search,
#    writing the report), the final normalised hypervolume of each, and the ratios.
#    The default (NSGA-II with the elite archive) does more per evaluation than plain
#    NSGA-II, pymoo's algorithm, and finds a better front: both are reported.
# 2. Optimality, on the moga and scarlet spaces with their committed tables: the
#    additive objectives lat:min,params:max, whose exact front `moga search
#    --algorithm exact` computes. Its time, and the hypervolume of moga's default search
#    (NSGA-II with --archive-share 0.75: the elite archive's neighbour moves and path
#    relinking), pymoo's NSGA-II and moga's plain NSGA-II (--archive-share 0) as a share
#    of the exact front's, all three by pymoo's own HV indicator (moga's own figures for
#    its two runs on stderr): the optimality gap of the defaults.
#
#   scripts/bench/search.sh [--lut tests/data/lut-moga-ort-local.csv] [--space moga]
#                           [--population 100] [--generations 200] [--seeds 3] [--rounds 5]
. "$(dirname "$0")/lib.sh"
opt --lut lut tests/data/lut-moga-ort-local.csv
opt --space space moga
opt --population pop 100
opt --generations gens 200
opt --seeds seeds 3
opt --rounds rounds 5
parse "$@"

bench_venv "pymoo==0.6.2"

echo "$bench: building the release binary" >&2
cargo build --release --bin moga --quiet
moga=target/release/moga
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }

echo "== throughput: $space, acc (proxy):max, lat:min, params:max; population $pop, $gens generations, $seeds seeds × $rounds rounds, alternating"
# A first run of each warms the page cache (libtorch, Python's imports); not counted.
"$moga" search --space "$space" --lut "$lut" --objectives acc:max,lat:min,params:max --population "$pop" --generations "$gens" --seed 1 \
  -o "$tmp/warm.json" --export-problem "$tmp/problem.json" --json > /dev/null
"$py" scripts/bench/search_pymoo.py "$tmp/problem.json" "$tmp/warm.json" "$pop" 2 1 > /dev/null
for round in $(seq 1 "$rounds"); do
  for seed in $(seq 1 "$seeds"); do
    t0=$(now)
    "$moga" search --space "$space" --lut "$lut" --objectives acc:max,lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      -o "$tmp/front-$seed.json" --json > "$tmp/moga-$seed-$round.json"
    t1=$(now)
    "$py" scripts/bench/search_pymoo.py "$tmp/problem.json" "$tmp/front-$seed.json" "$pop" "$gens" "$seed" > "$tmp/pymoo-$seed-$round.json"
    t2=$(now)
    "$moga" search --space "$space" --lut "$lut" --objectives acc:max,lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      --archive-share 0 -o "$tmp/nfront-$seed.json" --json > "$tmp/nsga2-$seed-$round.json"
    t3=$(now)
    echo "$t0 $t1 $t2 $t3" > "$tmp/times-$seed-$round"
  done
done
python3 - "$tmp" "$seeds" "$rounds" <<'PY'
import json, statistics, sys
tmp, seeds, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
med = statistics.median
r_eng, r_proc, n_eng, n_proc = [], [], [], []
for label, name, slot in [("moga's defaults (NSGA-II + elite archive)", "moga", 0), ("moga's plain NSGA-II (--archive-share 0)", "nsga2", 2)]:
    print(f"-- {label} against pymoo's NSGA-II")
    print(f"{'seed':<5} {'moga_eval/s':>12} {'pymoo_eval/s':>12} {'ratio':>7} {'moga_proc/s':>12} {'pymoo_proc/s':>12} {'ratio':>6} {'moga_HV':>8} {'pymoo_HV':>8} {'ratio':>6}")
    for s in range(1, seeds + 1):
        me, pe, mp, pp, eng, proc = [], [], [], [], [], []
        for r in range(1, rounds + 1):
            m, p = json.load(open(f"{tmp}/{name}-{s}-{r}.json")), json.load(open(f"{tmp}/pymoo-{s}-{r}.json"))
            t = list(map(float, open(f"{tmp}/times-{s}-{r}").read().split()))
            me.append(m["evaluations_per_second"]); pe.append(p["evaluations_per_second"])
            mp.append(m["evaluations"] / (t[slot + 1] - t[slot])); pp.append(p["evaluations"] / (t[2] - t[1]))
            eng.append(me[-1] / pe[-1]); proc.append(mp[-1] / pp[-1])
        if name == "moga":
            r_eng += eng; r_proc += proc
        else:
            n_eng += eng; n_proc += proc
        print(f"{s:<5} {med(me):12.0f} {med(pe):12.0f} {med(eng):7.1f} {med(mp):12.0f} {med(pp):12.0f} {med(proc):6.1f} {m['hypervolume']:8.4f} {p['hypervolume']:8.4f} {m['hypervolume'] / p['hypervolume']:6.3f}")
        print(f"      medians of {rounds} rounds; moga's search loop {med([json.load(open(f'{tmp}/{name}-{s}-{r}.json'))['seconds'] for r in range(1, rounds + 1)])*1e3:.1f} ms, "
              f"pymoo's {med([json.load(open(f'{tmp}/pymoo-{s}-{r}.json'))['seconds'] for r in range(1, rounds + 1)])*1e3:.0f} ms", file=sys.stderr)
open(f"{tmp}/ratios", "w").write(json.dumps({"engine": r_eng, "process": r_proc, "nsga2_engine": n_eng, "nsga2_process": n_proc}))
PY

for ospace in moga scarlet; do
  olut=tests/data/lut-$ospace-ort-local.csv
  echo "== optimality: $ospace ($olut), lat:min, params:max (both sums over layers); population $pop, $gens generations"
  t0=$(now)
  "$moga" search --space "$ospace" --lut "$olut" --objectives lat:min,params:max --algorithm exact -o "$tmp/exact.json" --json > "$tmp/exact-run.json"
  t1=$(now)
  python3 - "$tmp/exact-run.json" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); x = r["exact"]
print(f"exact front: {len(r['front'])} points in {x['seconds']*1e3:.1f} ms (process {(float(sys.argv[3]) - float(sys.argv[2]))*1e3:.0f} ms), "
      f"{x['candidates']} candidate partial sums, at most {max(x['partial_per_layer'])} kept after a layer, {x['peak_bytes']/2**20:.2f} MiB")
PY
  printf '%-5s %12s %12s %14s %14s %16s\n' seed moga_HV pymoo_HV moga_%_exact pymoo_%_exact nsga2_%_exact
  for seed in $(seq 1 "$seeds"); do
    "$moga" search --space "$ospace" --lut "$olut" --objectives lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      -o "$tmp/afront-$seed.json" --export-problem "$tmp/aproblem.json" --json > "$tmp/amoga-$seed.json"
    "$moga" search --space "$ospace" --lut "$olut" --objectives lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      --archive-share 0 -o "$tmp/rfront-$seed.json" --json > "$tmp/rmoga-$seed.json"
    "$py" scripts/bench/search_pymoo.py "$tmp/aproblem.json" "$tmp/afront-$seed.json" "$pop" "$gens" "$seed" "$tmp/exact.json" "$tmp/rfront-$seed.json" > "$tmp/apymoo-$seed.json"
    python3 - "$tmp/amoga-$seed.json" "$tmp/apymoo-$seed.json" "$seed" "$tmp/rmoga-$seed.json" <<'PY'
import json, sys
m, p, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), json.load(open(sys.argv[4]))
print(f"{sys.argv[3]:<5} {p['moga_front_hypervolume_by_pymoo']:12.5f} {p['hypervolume']:12.5f} {100*p['moga_share_of_exact']:14.3f} {100*p['pymoo_share_of_exact']:14.3f} {100*p['other_share_of_exact']:16.3f}")
print(f"      moga's own figures, defaults: {100*m['optimality']['hypervolume_share']:.3f} % of the exact front, {m['optimality']['on_exact_front']} of {len(m['front'])} members on it; "
      f"plain NSGA-II (--archive-share 0): {100*r['optimality']['hypervolume_share']:.3f} %, {r['optimality']['on_exact_front']} of {len(r['front'])}", file=sys.stderr)
PY
  done
done
python3 - "$tmp" <<'PY'
import json, statistics, sys
r = json.load(open(f"{sys.argv[1]}/ratios"))
def q(v):
    return sorted(v)[len(v) // 4], sorted(v)[(3 * len(v)) // 4]
for label, e, p in [("defaults", r["engine"], r["process"]), ("plain NSGA-II", r["nsga2_engine"], r["nsga2_process"])]:
    print(f"ratio moga ({label})/pymoo evaluations per second over {len(e)} runs: in-process median {statistics.median(e):.1f}x (quartiles {q(e)[0]:.1f}-{q(e)[1]:.1f}, range {min(e):.1f}-{max(e):.1f}), "
          f"whole process median {statistics.median(p):.1f}x (quartiles {q(p)[0]:.1f}-{q(p)[1]:.1f}, range {min(p):.1f}-{max(p):.1f})")
PY
