"""pymoo's NSGA-II on the problem `moga search --export-problem` wrote: the same
per-layer tables, objectives, constraints and accuracy proxy, integer genes, the same
population and generations. Prints one JSON line: evaluations, seconds, evaluations
per second (in-process, like moga's figure), and the normalised hypervolume of its
front and of moga's front, both computed by pymoo's HV indicator.

    python search_pymoo.py problem.json front.json POPULATION GENERATIONS SEED [exact.json [other.json]]

With exact.json (`moga search --algorithm exact` on the same problem) it also prints
both fronts' hypervolume as a share of the exact front's, all by pymoo's indicator, and
with other.json (a second moga front, e.g. with --archive-share) that one's share too.
"""
import json
import math
import sys
import time

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.indicators.hv import HV
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize


def load(path):
    with open(path) as f:
        return json.load(f)


class Tabulated(Problem):
    def __init__(self, p):
        self.p = p
        self.layers = len(p["params"])
        self.lat = [np.array(l) for l in p["latency_ms"]] if p.get("latency_ms") else None
        self.params = [np.array(l, dtype=float) for l in p["params"]]
        self.madds = [np.array(l, dtype=float) for l in p["madds"]]
        self.identity = [np.array([c == "id" for c in l]) for l in p["choices"]]
        self.objectives = p["objectives"]
        budget = p["constraints"].get("budget_ms")
        self.budget = budget
        super().__init__(n_var=self.layers, n_obj=len(self.objectives), n_ieq_constr=1 if budget else 0, xl=0, xu=[len(c) - 1 for c in p["choices"]], vtype=int)

    def metrics(self, X):
        X = X.astype(int)
        cols = range(self.layers)
        params = self.p["fixed_params"] + sum(self.params[l][X[:, l]] for l in cols)
        madds = self.p["fixed_madds"] + sum(self.madds[l][X[:, l]] for l in cols)
        ids = sum(self.identity[l][X[:, l]] for l in cols)
        lat = None if self.lat is None else self.p["fixed_latency_ms"] + sum(self.lat[l][X[:, l]] for l in cols)
        acc = 60.0 + 15.0 * (1 - np.exp(-madds / 250e6)) + 5.0 * (1 - np.exp(-params / 4e6)) - 0.2 * ids
        return {"acc": acc, "lat": lat, "params": params, "madds": madds}

    def _evaluate(self, X, out, *args, **kwargs):
        m = self.metrics(X)
        F = []
        for o in self.objectives:
            name, direction = o.split(":")
            v = m[name]
            F.append(-v if direction == "max" else v)
        out["F"] = np.column_stack(F)
        if self.budget:
            out["G"] = (m["lat"] - self.budget).reshape(-1, 1)


def normalized(F, bounds):
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    return (F - lo) / np.where(hi > lo, hi - lo, 1.0)


def main():
    problem_path, front_path, pop, gens, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    p = load(problem_path)
    problem = Tabulated(p)
    algorithm = NSGA2(
        pop_size=pop,
        sampling=IntegerRandomSampling(),
        crossover=UniformCrossover(prob=0.9),
        mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    start = time.perf_counter()
    res = minimize(problem, algorithm, ("n_gen", gens + 1), seed=seed, verbose=False)
    seconds = time.perf_counter() - start
    evals = res.algorithm.evaluator.n_eval
    hv = HV(ref_point=np.full(len(p["objectives"]), 1.1))
    feasible = res.F if res.G is None else res.F[(res.G <= 0).all(axis=1)]
    pymoo_hv = float(hv(normalized(feasible, p["bounds"]))) if len(feasible) else 0.0
    names = [o.split(":") for o in p["objectives"]]
    key = {"acc": "accuracy", "lat": "latency_ms", "params": "params", "madds": "madds"}

    def front_hv(report):
        F = np.array([[(-m[key[n]] if d == "max" else m[key[n]]) for n, d in names] for m in report["front"]])
        return float(hv(normalized(F, p["bounds"]))) if len(F) else 0.0

    ours_hv_by_pymoo = front_hv(load(front_path))
    out = {"evaluations": int(evals), "seconds": seconds, "evaluations_per_second": evals / seconds, "hypervolume": pymoo_hv, "moga_front_hypervolume_by_pymoo": ours_hv_by_pymoo}
    if len(sys.argv) > 6:
        exact_hv = front_hv(load(sys.argv[6]))
        out["exact_hypervolume"] = exact_hv
        out["pymoo_share_of_exact"] = pymoo_hv / exact_hv
        out["moga_share_of_exact"] = ours_hv_by_pymoo / exact_hv
        if len(sys.argv) > 7:
            out["other_share_of_exact"] = front_hv(load(sys.argv[7])) / exact_hv
    print(json.dumps(out))


if __name__ == "__main__":
    main()
