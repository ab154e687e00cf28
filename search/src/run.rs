//! A whole search as the CLI runs it: the problem, the engine, and the report written
//! to `front.json` (the front with each member's objective values, and the full
//! history), plus the plot.

use std::path::PathBuf;
use std::time::Instant;

use lookup_tables::{Lut, SearchSpace, Space};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::exact::{self, ExactStats};
use crate::ga::{self, Algorithm, GaConfig, Generation};
use crate::objectives::{Constraints, Metrics, Objective, ObjectiveSpec, SpaceProblem};
use crate::oracle::{AccuracyOracle, OracleCalls};

/// Everything a search needs, over any [`SearchSpace`] (classification's by default)
/// and any oracle (any of the space's by default; a concrete one where the caller reads
/// more of it afterwards).
pub struct SearchOptions<
    S: SearchSpace = Space,
    O: AccuracyOracle<S::Arch> + ?Sized = dyn AccuracyOracle<<S as SearchSpace>::Arch>,
> {
    /// The space.
    pub space: S,
    /// The latency table, when latency matters.
    pub lut: Option<(PathBuf, Lut)>,
    /// The input shape latency is predicted at (`None`: the space's own); for spaces
    /// that are not additive (super-resolution's low-resolution side).
    pub latency_shape: Option<S::Shape>,
    /// Where accuracies come from.
    pub oracle: Box<O>,
    /// The objectives.
    pub objectives: Vec<ObjectiveSpec>,
    /// Constraints.
    pub constraints: Constraints,
    /// The engine's settings (weights included).
    pub ga: GaConfig,
    /// The ε of the exact algorithm's grid variant (`None`: exact).
    pub epsilon: Option<f64>,
    /// Seed the initial population with the exact front of the additive objectives
    /// (latency, parameters, MAdds) among the objectives.
    pub seed_exact: bool,
    /// Report every evaluated architecture: each generation's population in the
    /// history, and the whole list (for a plot). Without it the history holds each
    /// generation's figures only: describing 20,000 architectures took several times
    /// longer than the search that found them.
    pub evaluated: bool,
    /// Keep every evaluation's metrics, in order, in the returned problem
    /// ([`SpaceProblem::evaluated`]).
    pub record: bool,
}

/// One generation in the report.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationReport {
    /// 0 for the initial population.
    pub generation: usize,
    /// Evaluations so far.
    pub evaluations: usize,
    /// Normalised hypervolume of the population's feasible front.
    pub hypervolume: f64,
    /// The population (with [`SearchOptions::evaluated`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub population: Vec<Metrics>,
}

/// A preset measured by the same objectives, for comparison.
#[derive(Clone, Debug, Serialize)]
pub struct PresetPoint {
    /// The preset.
    pub name: String,
    /// Its metrics.
    pub metrics: Metrics,
}

/// How close a heuristic front came to the exact one (objectives all additive).
#[derive(Clone, Debug, Serialize)]
pub struct Optimality {
    /// Points on the exact front.
    pub exact_points: usize,
    /// The exact front's normalised hypervolume.
    pub exact_hypervolume: f64,
    /// This run's hypervolume as a share of the exact front's (1 = optimal).
    pub hypervolume_share: f64,
    /// This run's front members that lie on the exact front.
    pub on_exact_front: usize,
    /// Seconds the exact front took (not part of the run's own time).
    pub exact_seconds: f64,
}

/// How the seconds of a run were spent.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timing {
    /// The whole search loop (engine and evaluations), seconds.
    pub total_seconds: f64,
    /// Of which answering accuracy questions (the oracle), seconds.
    pub oracle_seconds: f64,
    /// Of which the engine itself (selection, sorting, variation, bookkeeping and the
    /// additive objectives' table lookups), seconds.
    pub engine_seconds: f64,
    /// Evaluations per second of the engine alone (evaluations / engine seconds).
    pub engine_evaluations_per_second: f64,
}

/// `front.json`.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    /// The space.
    pub space: String,
    /// The table used, and its device and backend.
    pub lut: Option<LutInfo>,
    /// Where accuracies came from.
    pub accuracy_oracle: String,
    /// How often the oracle was asked, answered from its cache, and its time.
    pub oracle_calls: OracleCalls,
    /// The objectives.
    pub objectives: Vec<String>,
    /// Constraints.
    pub constraints: Constraints,
    /// The engine's settings.
    pub settings: GaConfig,
    /// Evaluations made.
    pub evaluations: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Evaluations per second.
    pub evaluations_per_second: f64,
    /// Where the time went: oracle against engine.
    pub timing: Timing,
    /// Normalised hypervolume of the front: the share of the space's attainable
    /// objective box (each objective scaled to [0, 1] between its best and worst
    /// value over the whole space, reference point 1.1) the front dominates.
    pub hypervolume: f64,
    /// With additive objectives only: the front's hypervolume against the exact
    /// front's.
    pub optimality: Option<Optimality>,
    /// The exact algorithm's (or the seeding's) recursion: sizes, memory, time.
    pub exact: Option<ExactStats>,
    /// Initial genomes taken from the exact front of the additive objectives.
    pub seeded: usize,
    /// The feasible non-dominated architectures found, best accuracy first.
    pub front: Vec<Metrics>,
    /// The presets of the space under the same objectives.
    pub presets: Vec<PresetPoint>,
    /// Every generation (none for the exact algorithm).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<GenerationReport>,
}

/// Where the table came from.
#[derive(Clone, Debug, Serialize)]
pub struct LutInfo {
    /// The file.
    pub path: String,
    /// Device model.
    pub device: String,
    /// Backend and version.
    pub backend: String,
}

/// The normalised hypervolume of rows `idx` of `f` (`m` objectives each), as
/// [`crate::objectives::normalized_hypervolume`] computes it.
fn rows_hv(f: &[f64], m: usize, idx: &[usize], bounds: &[(f64, f64)]) -> f64 {
    let mut scaled = Vec::with_capacity(idx.len() * m);
    for &i in idx {
        scaled.extend(
            f[i * m..(i + 1) * m]
                .iter()
                .zip(bounds)
                .map(|(v, (lo, hi))| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 }),
        );
    }
    crate::pareto::hypervolume_flat(&scaled, m, &vec![1.1; m])
}

/// Front members as (genes, objective values).
type FrontRows = Vec<(Vec<usize>, Vec<f64>)>;

/// Picks `k` of `n` items spread evenly (all when `n ≤ k`).
fn spread(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| i * (n - 1) / (k - 1).max(1)).collect()
}

/// The additive objectives (latency, parameters, MAdds) among `objectives`, for
/// seeding; `None` when there is none.
fn additive_part(objectives: &[ObjectiveSpec]) -> Option<Vec<ObjectiveSpec>> {
    let specs: Vec<ObjectiveSpec> = objectives
        .iter()
        .copied()
        .filter(|s| s.objective != Objective::Accuracy)
        .collect();
    (!specs.is_empty()).then_some(specs)
}

/// `--seed-exact`: the exact front of the search's additive objectives (latency,
/// parameters, MAdds), whose genomes seed the first population.
fn exact_seeds<S: SearchSpace>(
    space: &S,
    lut: Option<&Lut>,
    objectives: &[ObjectiveSpec],
    constraints: Constraints,
    epsilon: Option<f64>,
) -> Result<exact::ExactFront> {
    let specs = additive_part(objectives).ok_or_else(|| {
        Error::Usage("--seed-exact needs an additive objective (lat, params, madds)".into())
    })?;
    let sub = SpaceProblem::new(
        space.clone(),
        lut,
        Box::new(crate::oracle::Proxy),
        specs,
        constraints,
    )?;
    exact::pareto_front(&sub.additive_form()?, epsilon)
}

/// Each generation of a finished run: its evaluations, the hypervolume of its front
/// and (with `evaluated`) every architecture it evaluated, from what the run recorded
/// (no oracle is asked again).
fn history_report<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized>(
    problem: &SpaceProblem<S, O>,
    result: &ga::GaResult,
    hypervolumes: &[f64],
    evaluated: bool,
) -> Result<Vec<GenerationReport>> {
    (0..result.history_sizes.len())
        .map(|g| {
            Ok(GenerationReport {
                generation: g,
                evaluations: result.history_evaluations[g],
                hypervolume: hypervolumes[g],
                population: if evaluated {
                    result
                        .generation_rows(g)
                        .map(|i| problem.metrics_of(result.history.genes(i), result.history.f(i)))
                        .collect::<Result<_>>()?
                } else {
                    Vec::new()
                },
            })
        })
        .collect()
}

/// How close a front of the additive objectives came to the exact one: the share of
/// the exact front's hypervolume it holds (the same bounds) and how many of its members
/// are on it.
fn optimality<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized>(
    problem: &SpaceProblem<S, O>,
    front_rows: &FrontRows,
    hypervolume: f64,
    bounds: &[(f64, f64)],
) -> Result<Optimality> {
    let ex = exact::pareto_front(&problem.additive_form()?, None)?;
    let ef: Vec<f64> = ex.points.iter().flatten().copied().collect();
    let exact_hv = rows_hv(
        &ef,
        bounds.len(),
        &(0..ex.points.len()).collect::<Vec<_>>(),
        bounds,
    );
    Ok(Optimality {
        exact_points: ex.points.len(),
        exact_hypervolume: exact_hv,
        hypervolume_share: if exact_hv > 0.0 {
            hypervolume / exact_hv
        } else {
            1.0
        },
        on_exact_front: front_rows
            .iter()
            .filter(|(_, f)| {
                // Sums in the engine and the recursion may differ in the last bit.
                ex.points.iter().any(|p| {
                    p.iter()
                        .zip(f)
                        .all(|(a, b)| (a - b).abs() <= 1e-9 * a.abs().max(1.0))
                })
            })
            .count(),
        exact_seconds: ex.stats.seconds,
    })
}

/// The front's architectures with their metrics, most accurate first (then fastest,
/// smallest, by name).
fn front_metrics<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized>(
    problem: &SpaceProblem<S, O>,
    front_rows: &FrontRows,
) -> Result<Vec<Metrics>> {
    let mut front: Vec<Metrics> = front_rows
        .iter()
        .map(|(g, f)| problem.metrics_of(g, f))
        .collect::<Result<_>>()?;
    front.sort_by(|a, b| {
        b.accuracy
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.accuracy.unwrap_or(f64::NEG_INFINITY))
            .then(
                a.latency_ms
                    .unwrap_or(0.0)
                    .total_cmp(&b.latency_ms.unwrap_or(0.0)),
            )
            .then(a.params.cmp(&b.params))
            .then(a.arch.cmp(&b.arch))
    });
    Ok(front)
}

/// The search's problem around `oracle`, its settings checked; errors name the table.
fn problem_of<S: SearchSpace, P: AccuracyOracle<S::Arch> + ?Sized>(
    space: &S,
    lut: Option<&(PathBuf, Lut)>,
    latency_shape: Option<S::Shape>,
    oracle: Box<P>,
    objectives: &[ObjectiveSpec],
    constraints: Constraints,
    ga: &GaConfig,
) -> Result<SpaceProblem<S, P>> {
    let problem = SpaceProblem::new_at(
        space.clone(),
        lut.map(|(_, l)| l),
        latency_shape.unwrap_or_else(|| space.shape()),
        oracle,
        objectives.to_vec(),
        constraints,
    )
    .map_err(|e| match lut {
        // With a table, what can fail here is the table: name it.
        Some((path, _)) => Error::Usage(format!("{}: {e}", path.display())),
        None => e,
    })?;
    if ga.weights.len() != objectives.len() && !ga.weights.is_empty() {
        return Err(Error::Usage(format!(
            "{} weights for {} objectives",
            ga.weights.len(),
            objectives.len()
        )));
    }
    Ok(problem)
}

/// Checks a search's settings and table without asking the oracle anything, so a
/// caller can report what it is about to run (and fail first where it cannot).
pub fn check<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized>(
    opts: &SearchOptions<S, O>,
) -> Result<()> {
    problem_of(
        &opts.space,
        opts.lut.as_ref(),
        opts.latency_shape,
        Box::new(crate::oracle::Proxy),
        &opts.objectives,
        opts.constraints,
        &opts.ga,
    )
    .map(drop)
}

/// [`search`] over classification's spaces with any oracle. Instantiated here, not in
/// the caller: the engine's crate is optimised even in debug builds, and a search run
/// from a debug `moga` (the tests') evaluated several times slower when its generic
/// engine was compiled in the unoptimised CLI crate.
pub fn search_classification(
    opts: SearchOptions,
    on_generation: &mut dyn FnMut(&Generation, Option<f64>),
) -> Result<(SearchReport, crate::objectives::ArchProblem, Vec<Metrics>)> {
    search(opts, on_generation)
}

/// Runs a search; `on_generation` gets each generation for progress, with the
/// population's hypervolume now and then (at most ten times a second).
pub fn search<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized>(
    opts: SearchOptions<S, O>,
    on_generation: &mut dyn FnMut(&Generation, Option<f64>),
) -> Result<(SearchReport, SpaceProblem<S, O>, Vec<Metrics>)> {
    let lut_info = opts.lut.as_ref().map(|(p, l)| LutInfo {
        path: p.display().to_string(),
        device: l.meta.device.model.clone(),
        backend: format!("{} {}", l.meta.backend.name, l.meta.backend.version),
    });
    let lut = opts.lut.as_ref().map(|(_, l)| l);
    let mut problem = problem_of(
        &opts.space,
        opts.lut.as_ref(),
        opts.latency_shape,
        opts.oracle,
        &opts.objectives,
        opts.constraints,
        &opts.ga,
    )?;
    if opts.record {
        problem = problem.record_evaluations();
    }
    let bounds = problem.bounds()?;
    let m = opts.objectives.len();
    let mut ga_cfg = opts.ga.clone();
    ga_cfg.keep_history = opts.evaluated;
    let mut exact_stats = None;
    let mut seeded = 0;
    if opts.seed_exact && ga_cfg.algorithm != Algorithm::Exact {
        let ex = exact_seeds(
            &opts.space,
            lut,
            &opts.objectives,
            opts.constraints,
            opts.epsilon,
        )?;
        let pick = spread(ex.genes.len(), ga_cfg.population.max(2));
        ga_cfg.initial = pick.iter().map(|&i| ex.genes[i].clone()).collect();
        seeded = ga_cfg.initial.len();
        exact_stats = Some(ex.stats);
    }
    let start = Instant::now();
    let mut search_seconds = None;
    let (front_rows, history, evaluations): (FrontRows, Vec<GenerationReport>, usize) =
        if ga_cfg.algorithm == Algorithm::Exact {
            let ex = exact::pareto_front(&problem.additive_form()?, opts.epsilon)?;
            let rows = ex.genes.into_iter().zip(ex.points).collect();
            exact_stats = Some(ex.stats);
            (rows, Vec::new(), 0)
        } else {
            // Each generation's hypervolume, of the front survival found: the report's
            // figure, and the progress line's at most ten times a second.
            let mut history_hv: Vec<f64> = Vec::with_capacity(ga_cfg.generations + 1);
            // Time spent on them is the report's, not the search's.
            let mut reporting = 0.0;
            let result = {
                let mut shown: Option<Instant> = None;
                let mut cb = |g: &Generation| {
                    let t = Instant::now();
                    let hv = rows_hv(&g.population.f, m, g.front, &bounds);
                    history_hv.push(hv);
                    reporting += t.elapsed().as_secs_f64();
                    let due = shown.is_none_or(|t| t.elapsed().as_secs_f64() >= 0.1);
                    if due {
                        shown = Some(Instant::now());
                    }
                    on_generation(g, due.then_some(hv));
                };
                ga::run(&mut problem, &ga_cfg, &mut cb)?
            };
            // The search ends here; what follows is the report, built from what was
            // recorded: no oracle is asked again.
            search_seconds = Some(start.elapsed().as_secs_f64() - reporting);
            let history = history_report(&problem, &result, &history_hv, opts.evaluated)?;
            let rows = result
                .front
                .into_iter()
                .map(|i| (i.genes, i.point.f))
                .collect();
            (rows, history, result.evaluations)
        };
    let seconds = search_seconds.unwrap_or_else(|| start.elapsed().as_secs_f64());
    let calls = problem.oracle_calls();
    let front_f: Vec<f64> = front_rows
        .iter()
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    let front_idx: Vec<usize> = (0..front_rows.len()).collect();
    let hypervolume = rows_hv(&front_f, m, &front_idx, &bounds);
    let optimality = if problem.additive() && ga_cfg.algorithm != Algorithm::Exact {
        Some(optimality(&problem, &front_rows, hypervolume, &bounds)?)
    } else {
        None
    };
    let front = front_metrics(&problem, &front_rows)?;
    let mut presets = Vec::new();
    for (name, arch) in opts.space.presets() {
        if let Some(genes) = problem.genes(&arch) {
            presets.push(PresetPoint {
                name: name.to_string(),
                metrics: problem.metrics(&genes)?,
            });
        }
    }
    // Every evaluated architecture, taken from the history just built rather than
    // asked of the oracle a second time.
    let all: Vec<Metrics> = if history.is_empty() || !opts.evaluated {
        front.clone()
    } else {
        history
            .iter()
            .flat_map(|g: &GenerationReport| g.population.iter().cloned())
            .collect()
    };
    let engine_seconds = (seconds - calls.seconds).max(0.0);
    let report = SearchReport {
        space: opts.space.name(),
        lut: lut_info,
        accuracy_oracle: if problem.additive() {
            "none (no accuracy objective)".into()
        } else {
            problem.oracle().describe()
        },
        oracle_calls: calls,
        objectives: opts.objectives.iter().map(ToString::to_string).collect(),
        constraints: opts.constraints,
        settings: ga_cfg.clone(),
        evaluations,
        seconds,
        evaluations_per_second: evaluations as f64 / seconds.max(1e-9),
        timing: Timing {
            total_seconds: seconds,
            oracle_seconds: calls.seconds,
            engine_seconds,
            engine_evaluations_per_second: evaluations as f64 / engine_seconds.max(1e-9),
        },
        hypervolume,
        optimality,
        exact: exact_stats,
        seeded,
        front,
        presets,
        history,
    };
    Ok((report, problem, all))
}
