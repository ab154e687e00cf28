#!/usr/bin/env bash
# moga's NSGA-II beside pymoo's NSGA-II on the same problem: the moga space with the
# same LUT, the same objectives (proxy accuracy, LUT latency, parameters), the same
# population and generations, several seeds. Prints evaluations per second (measured
# inside each program, and whole-process wall time) and the final normalised
# hypervolume, side by side and as ratios. pymoo is installed into .deps/bench-venv.
#
#   scripts/bench-search.sh [--lut tests/data/lut-moga-ort-local.csv] [--population 64] [--generations 50] [--seeds 3]
set -euo pipefail
cd "$(dirname "$0")/.."

lut=tests/data/lut-moga-ort-local.csv pop=64 gens=50 seeds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --lut) lut="$2"; shift 2 ;;
    --population) pop="$2"; shift 2 ;;
    --generations) gens="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bench-search.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

venv=.deps/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  echo "bench-search: creating $venv with pymoo" >&2
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "pymoo==0.6.2" >&2

cargo build --bins --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
objectives="acc:max,lat:min,params:max"
printf '%-5s %14s %14s %8s %10s %10s %8s %12s %12s\n' seed moga_eval/s pymoo_eval/s ratio moga_HV pymoo_HV ratio moga_wall_s pymoo_wall_s
for seed in $(seq 1 "$seeds"); do
  t0=$(date +%s.%N)
  target/debug/moga search --space moga --lut "$lut" --objectives "$objectives" --population "$pop" --generations "$gens" --seed "$seed" \
    -o "$tmp/front-$seed.json" --export-problem "$tmp/problem.json" --json > "$tmp/moga-$seed.json"
  t1=$(date +%s.%N)
  "$venv/bin/python" scripts/bench_search_pymoo.py "$tmp/problem.json" "$tmp/front-$seed.json" "$pop" "$gens" "$seed" > "$tmp/pymoo-$seed.json"
  t2=$(date +%s.%N)
  python3 - "$tmp/moga-$seed.json" "$tmp/pymoo-$seed.json" "$seed" "$t0" "$t1" "$t2" <<'PY'
import json, sys
m, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
seed, t0, t1, t2 = sys.argv[3], *map(float, sys.argv[4:7])
print(f"{seed:<5} {m['evaluations_per_second']:14.0f} {p['evaluations_per_second']:14.0f} {m['evaluations_per_second'] / p['evaluations_per_second']:8.1f} "
      f"{m['hypervolume']:10.4f} {p['hypervolume']:10.4f} {m['hypervolume'] / p['hypervolume']:8.3f} {t1 - t0:12.2f} {t2 - t1:12.2f}")
print(f"      (moga's front by pymoo's HV indicator: {p['moga_front_hypervolume_by_pymoo']:.4f}; by moga's: {m['hypervolume']:.4f})", file=sys.stderr)
PY
done
echo "evaluations: moga $(python3 -c "import json;print(json.load(open('$tmp/moga-1.json'))['evaluations'])"), pymoo $(python3 -c "import json;print(json.load(open('$tmp/pymoo-1.json'))['evaluations'])") (population $pop, $gens generations)"
