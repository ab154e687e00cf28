//! A whole search as the CLI runs it: the problem, the engine, and the report written
//! to `front.json` (the front with each member's objective values, and the full
//! history), plus the plot.

use std::path::PathBuf;
use std::time::Instant;

use lookup_tables::{Lut, PRESETS, Space};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ga::{self, GaConfig, Generation, Individual};
use crate::objectives::{ArchProblem, Constraints, Metrics, ObjectiveSpec, normalized_hypervolume};
use crate::oracle::{AccuracyOracle, OracleCalls};

/// Everything a search needs.
pub struct SearchOptions {
    /// The space.
    pub space: Space,
    /// The latency table, when latency matters.
    pub lut: Option<(PathBuf, Lut)>,
    /// Where accuracies come from.
    pub oracle: Box<dyn AccuracyOracle>,
    /// The objectives.
    pub objectives: Vec<ObjectiveSpec>,
    /// Constraints.
    pub constraints: Constraints,
    /// The engine's settings (weights included).
    pub ga: GaConfig,
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
    /// The population.
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
    /// Normalised hypervolume of the front: the share of the space's attainable
    /// objective box (each objective scaled to [0, 1] between its best and worst
    /// value over the whole space, reference point 1.1) the front dominates.
    pub hypervolume: f64,
    /// The feasible non-dominated architectures found, best accuracy first.
    pub front: Vec<Metrics>,
    /// The presets of the space under the same objectives.
    pub presets: Vec<PresetPoint>,
    /// Every generation.
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

fn front_hv(members: &[Individual], bounds: &[(f64, f64)]) -> f64 {
    let front: Vec<Vec<f64>> = ga::front_of(members)
        .into_iter()
        .map(|i| i.point.f)
        .collect();
    normalized_hypervolume(&front, bounds)
}

/// Runs a search; `on_generation` gets (generation, hypervolume) for progress.
pub fn search(
    opts: SearchOptions,
    on_generation: &mut dyn FnMut(&Generation, f64),
) -> Result<(SearchReport, ArchProblem, Vec<Metrics>)> {
    let lut_info = opts.lut.as_ref().map(|(p, l)| LutInfo {
        path: p.display().to_string(),
        device: l.meta.device.model.clone(),
        backend: format!("{} {}", l.meta.backend.name, l.meta.backend.version),
    });
    let mut problem = ArchProblem::new(
        opts.space.clone(),
        opts.lut.as_ref().map(|(_, l)| l),
        opts.oracle,
        opts.objectives.clone(),
        opts.constraints,
    )?;
    if opts.ga.weights.len() != opts.objectives.len() && !opts.ga.weights.is_empty() {
        return Err(Error::Usage(format!(
            "{} weights for {} objectives",
            opts.ga.weights.len(),
            opts.objectives.len()
        )));
    }
    let bounds = problem.bounds();
    let start = Instant::now();
    let mut history_hv = Vec::new();
    let result = {
        let mut cb = |g: &Generation| {
            let hv = normalized_hypervolume(
                &ga::front_of(&g.population)
                    .into_iter()
                    .map(|i| i.point.f)
                    .collect::<Vec<_>>(),
                &bounds,
            );
            history_hv.push(hv);
            on_generation(g, hv);
        };
        ga::run(&mut problem, &opts.ga, &mut cb)?
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut front: Vec<Metrics> = result
        .front
        .iter()
        .map(|i| problem.metrics(&i.genes))
        .collect::<Result<_>>()?;
    front.sort_by(|a, b| {
        b.accuracy
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.accuracy.unwrap_or(f64::NEG_INFINITY))
            .then(a.arch.cmp(&b.arch))
    });
    let history: Vec<GenerationReport> = result
        .history
        .iter()
        .zip(&history_hv)
        .map(|(g, hv)| {
            Ok(GenerationReport {
                generation: g.generation,
                evaluations: g.evaluations,
                hypervolume: *hv,
                population: g
                    .population
                    .iter()
                    .map(|i| problem.metrics(&i.genes))
                    .collect::<Result<_>>()?,
            })
        })
        .collect::<Result<_>>()?;
    let mut presets = Vec::new();
    for p in PRESETS {
        if let Some(genes) = problem.genes(&p.arch()) {
            presets.push(PresetPoint {
                name: p.name.to_string(),
                metrics: problem.metrics(&genes)?,
            });
        }
    }
    // Every evaluated architecture, taken from the history just built rather than
    // asked of the oracle a second time.
    let all: Vec<Metrics> = history
        .iter()
        .flat_map(|g: &GenerationReport| g.population.iter().cloned())
        .collect();
    let report = SearchReport {
        space: opts.space.id.to_string(),
        lut: lut_info,
        accuracy_oracle: problem.oracle().describe(),
        oracle_calls: problem.oracle().calls(),
        objectives: opts.objectives.iter().map(ToString::to_string).collect(),
        constraints: opts.constraints,
        settings: opts.ga.clone(),
        evaluations: result.evaluations,
        seconds,
        evaluations_per_second: result.evaluations as f64 / seconds.max(1e-9),
        hypervolume: front_hv(&result.front, &bounds),
        front,
        presets,
        history,
    };
    Ok((report, problem, all))
}
