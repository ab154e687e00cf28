#!/usr/bin/env bash
# moga's search engine beside pymoo 0.6.2's NSGA-II on the same problems (the per-layer
# tables `moga search --export-problem` writes, the same LUT, population, generations
# and seeds), release build of moga, the two programs alternating seed by seed:
#
# 1. Throughput: objectives acc (the proxy), lat, params. Evaluations per second
#    measured inside each program (the search loop, evaluations included) and over the
#    whole process (start, table reading, search, writing the report), the final
#    normalised hypervolume of each, and the ratios.
# 2. Optimality, on the moga and scarlet spaces with their committed tables: the
#    additive objectives lat:min,params:max, whose exact front `moga search
#    --algorithm exact` computes. Its time, and the hypervolume of moga's NSGA-II,
#    pymoo's NSGA-II and moga's NSGA-II with --archive-share 0.75 as a share of the
#    exact front's (the first two by pymoo's own HV indicator).
#
#   scripts/bench-search.sh [--lut tests/data/lut-moga-ort-local.csv] [--space moga]
#                           [--population 100] [--generations 200] [--seeds 3]
set -euo pipefail
cd "$(dirname "$0")/.."

lut=tests/data/lut-moga-ort-local.csv space=moga pop=100 gens=200 seeds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --lut) lut="$2"; shift 2 ;;
    --space) space="$2"; shift 2 ;;
    --population) pop="$2"; shift 2 ;;
    --generations) gens="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-search.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

venv=.deps/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  echo "bench-search: creating $venv with pymoo" >&2
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "pymoo==0.6.2" >&2

echo "bench-search: building the release binary" >&2
cargo build --release --bin moga --quiet
moga=target/release/moga
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }

echo "== throughput: $space, acc (proxy):max, lat:min, params:max; population $pop, $gens generations, $seeds seeds"
printf '%-5s %13s %13s %7s %13s %13s %7s %9s %9s %7s\n' seed moga_eval/s pymoo_eval/s ratio moga_proc/s pymoo_proc/s ratio moga_HV pymoo_HV ratio
for seed in $(seq 1 "$seeds"); do
  t0=$(now)
  "$moga" search --space "$space" --lut "$lut" --objectives acc:max,lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
    -o "$tmp/front-$seed.json" --export-problem "$tmp/problem.json" --json > "$tmp/moga-$seed.json"
  t1=$(now)
  "$venv/bin/python" scripts/bench_search_pymoo.py "$tmp/problem.json" "$tmp/front-$seed.json" "$pop" "$gens" "$seed" > "$tmp/pymoo-$seed.json"
  t2=$(now)
  echo "$t0 $t1 $t2" > "$tmp/times-$seed"
  python3 - "$tmp/moga-$seed.json" "$tmp/pymoo-$seed.json" "$seed" "$t0" "$t1" "$t2" <<'PY'
import json, sys
m, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
seed, t0, t1, t2 = sys.argv[3], *map(float, sys.argv[4:7])
mp, pp = m["evaluations"] / (t1 - t0), p["evaluations"] / (t2 - t1)
print(f"{seed:<5} {m['evaluations_per_second']:13.0f} {p['evaluations_per_second']:13.0f} {m['evaluations_per_second'] / p['evaluations_per_second']:7.1f} "
      f"{mp:13.0f} {pp:13.0f} {mp / pp:7.1f} {m['hypervolume']:9.4f} {p['hypervolume']:9.4f} {m['hypervolume'] / p['hypervolume']:7.3f}")
print(f"      moga: {m['evaluations']} evaluations, search loop {m['seconds']*1e3:.1f} ms (oracle {m['timing']['oracle_seconds']*1e3:.1f} ms), process {(t1-t0)*1e3:.0f} ms; "
      f"pymoo: {p['evaluations']} evaluations, {p['seconds']*1e3:.0f} ms, process {(t2-t1)*1e3:.0f} ms; moga's front by pymoo's HV: {p['moga_front_hypervolume_by_pymoo']:.4f}", file=sys.stderr)
PY
done

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
  printf '%-5s %12s %12s %14s %14s %16s\n' seed moga_HV pymoo_HV moga_%_exact pymoo_%_exact archive_%_exact
  for seed in $(seq 1 "$seeds"); do
    "$moga" search --space "$ospace" --lut "$olut" --objectives lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      -o "$tmp/afront-$seed.json" --export-problem "$tmp/aproblem.json" --json > "$tmp/amoga-$seed.json"
    "$moga" search --space "$ospace" --lut "$olut" --objectives lat:min,params:max --population "$pop" --generations "$gens" --seed "$seed" \
      --archive-share 0.75 -o "$tmp/rfront-$seed.json" --json > "$tmp/rmoga-$seed.json"
    "$venv/bin/python" scripts/bench_search_pymoo.py "$tmp/aproblem.json" "$tmp/afront-$seed.json" "$pop" "$gens" "$seed" "$tmp/exact.json" > "$tmp/apymoo-$seed.json"
    python3 - "$tmp/amoga-$seed.json" "$tmp/apymoo-$seed.json" "$seed" "$tmp/rmoga-$seed.json" <<'PY'
import json, sys
m, p, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), json.load(open(sys.argv[4]))
print(f"{sys.argv[3]:<5} {p['moga_front_hypervolume_by_pymoo']:12.5f} {p['hypervolume']:12.5f} {100*p['moga_share_of_exact']:14.3f} {100*p['pymoo_share_of_exact']:14.3f} {100*r['optimality']['hypervolume_share']:16.3f}")
print(f"      moga's own figure: {100*m['optimality']['hypervolume_share']:.3f} % of the exact front, {m['optimality']['on_exact_front']} of {len(m['front'])} members on it; "
      f"with --archive-share 0.75: {r['optimality']['on_exact_front']} of {len(r['front'])}", file=sys.stderr)
PY
  done
done
python3 - "$tmp" "$seeds" <<'PY'
import json, statistics, sys
tmp, seeds = sys.argv[1], int(sys.argv[2])
r_eng, r_proc = [], []
for s in range(1, seeds + 1):
    m, p = json.load(open(f"{tmp}/moga-{s}.json")), json.load(open(f"{tmp}/pymoo-{s}.json"))
    t0, t1, t2 = map(float, open(f"{tmp}/times-{s}").read().split())
    r_eng.append(m["evaluations_per_second"] / p["evaluations_per_second"])
    r_proc.append((m["evaluations"] / (t1 - t0)) / (p["evaluations"] / (t2 - t1)))
print(f"ratio moga/pymoo evaluations per second: in-process median {statistics.median(r_eng):.1f}x [{min(r_eng):.1f}-{max(r_eng):.1f}], "
      f"whole process median {statistics.median(r_proc):.1f}x [{min(r_proc):.1f}-{max(r_proc):.1f}] over {seeds} seeds")
PY
