//! What a search optimises on a space: accuracy (from an oracle), latency (predicted
//! from a device's LUT), parameters and multiply-adds, each minimised or maximised,
//! under optional constraints (a latency budget, a parameter cap).
//!
//! Latency, parameters and MAdds are sums over layers, so they are tabulated per layer
//! and choice once; an evaluation is then a few additions. The same tables are what
//! `--export-problem` writes for other tools (the pymoo benchmark).

use lookup_tables::{Arch, Choice, Lut, Space};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ga::Problem;
use crate::oracle::{AccuracyOracle, Features, OracleCalls};

/// An objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Top-1 accuracy from the oracle, %.
    Accuracy,
    /// Predicted latency, ms.
    Latency,
    /// Parameters.
    Params,
    /// Multiply-adds.
    Madds,
}

/// Which way an objective is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better.
    Min,
    /// Larger is better.
    Max,
}

/// An objective with its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectiveSpec {
    /// What.
    pub objective: Objective,
    /// Which way.
    pub direction: Direction,
}

impl std::fmt::Display for ObjectiveSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.objective {
            Objective::Accuracy => "acc",
            Objective::Latency => "lat",
            Objective::Params => "params",
            Objective::Madds => "madds",
        };
        write!(
            f,
            "{name}:{}",
            if self.direction == Direction::Min {
                "min"
            } else {
                "max"
            }
        )
    }
}

/// Reads `acc:max,lat:min,params:max`.
pub fn parse_objectives(s: &str) -> Result<Vec<ObjectiveSpec>> {
    let bad = |m: String| Error::Usage(format!("objectives '{s}': {m}"));
    let specs = s
        .split(',')
        .map(|part| {
            let (name, dir) = part
                .trim()
                .split_once(':')
                .ok_or_else(|| bad(format!("'{part}' should be NAME:min or NAME:max")))?;
            let objective = match name.trim() {
                "acc" | "accuracy" => Objective::Accuracy,
                "lat" | "latency" => Objective::Latency,
                "params" | "parameters" => Objective::Params,
                "madds" | "flops" => Objective::Madds,
                other => {
                    return Err(bad(format!(
                        "unknown objective '{other}' (acc, lat, params, madds)"
                    )));
                }
            };
            let direction = match dir.trim() {
                "min" => Direction::Min,
                "max" => Direction::Max,
                other => return Err(bad(format!("'{other}' should be min or max"))),
            };
            Ok(ObjectiveSpec {
                objective,
                direction,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = specs.iter().find(|o| !seen.insert(o.objective)) {
        return Err(bad(format!("{:?} appears twice", d.objective)));
    }
    if specs.len() < 2 {
        return Err(bad(
            "a multi-objective search needs at least two objectives".into(),
        ));
    }
    Ok(specs)
}

/// Per-layer, per-choice contributions of a space, and the fixed parts.
#[derive(Clone, Debug, Serialize)]
pub struct Tables {
    /// The space.
    pub space: String,
    /// Valid choices per layer, as tokens.
    pub choices: Vec<Vec<String>>,
    /// Latency per layer and choice, ms (when a LUT was given).
    pub latency_ms: Option<Vec<Vec<f64>>>,
    /// Parameters per layer and choice.
    pub params: Vec<Vec<u64>>,
    /// MAdds per layer and choice.
    pub madds: Vec<Vec<u64>>,
    /// Latency of the fixed parts with the table's correction (`scale × fixed +
    /// overhead`; each layer's entry is `scale × unit`), ms.
    pub fixed_latency_ms: Option<f64>,
    /// Parameters of the fixed parts.
    pub fixed_params: u64,
    /// MAdds of the fixed parts.
    pub fixed_madds: u64,
}

impl Tables {
    /// Tabulates `space` (and `lut`, which must cover every unit of the space).
    pub fn new(space: &Space, lut: Option<&Lut>) -> Result<Tables> {
        let choices: Vec<Vec<Choice>> = (0..space.layers.len())
            .map(|l| space.choices_at(l))
            .collect();
        let base: Vec<Choice> = choices.iter().map(|c| c[0]).collect();
        let base_arch = Arch {
            space: space.id,
            layers: base.clone(),
        };
        let base_stats = space.stats(&base_arch)?;
        let n = space.layers.len();
        let mut params = Vec::with_capacity(n);
        let mut madds = Vec::with_capacity(n);
        for (l, cs) in choices.iter().enumerate() {
            let (mut p, mut m) = (Vec::new(), Vec::new());
            for &c in cs {
                let (madds, params) = space.layer_counts(l, c);
                p.push(params);
                m.push(madds);
            }
            params.push(p);
            madds.push(m);
        }
        let fixed_params =
            base_stats.params - (0..n).map(|l| base_stats.parts[l + 2].params).sum::<u64>();
        let fixed_madds =
            base_stats.madds - (0..n).map(|l| base_stats.parts[l + 2].madds).sum::<u64>();
        // Latency comes from the table's one predictor, in its additive form (the
        // correction folded into the per-layer terms and the constant).
        let (latency_ms, fixed_latency_ms) = match lut {
            None => (None, None),
            Some(lut) => {
                let (lat, fixed) = lut.layer_table(space)?.additive();
                (Some(lat), Some(fixed))
            }
        };
        Ok(Tables {
            space: space.id.to_string(),
            choices: choices
                .iter()
                .map(|cs| cs.iter().map(Choice::token).collect())
                .collect(),
            latency_ms,
            params,
            madds,
            fixed_latency_ms,
            fixed_params,
            fixed_madds,
        })
    }
}

/// The measured quantities of one architecture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// The architecture, encoded.
    pub arch: String,
    /// Predicted latency, ms.
    pub latency_ms: Option<f64>,
    /// Parameters.
    pub params: u64,
    /// Multiply-adds.
    pub madds: u64,
    /// Accuracy from the oracle.
    pub accuracy: Option<f64>,
    /// Whether the constraints hold.
    pub feasible: bool,
}

/// Constraints of a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Constraints {
    /// Latency at most, ms.
    pub budget_ms: Option<f64>,
    /// Parameters at most.
    pub max_params: Option<u64>,
}

/// One layer choice's contributions.
#[derive(Clone, Copy, Debug)]
struct Cell {
    latency_ms: f64,
    params: u64,
    madds: u64,
    identity: bool,
}

/// A space as a [`Problem`]: genomes are choice indices per layer.
pub struct ArchProblem {
    space: Space,
    tables: Tables,
    oracle: Box<dyn AccuracyOracle>,
    specs: Vec<ObjectiveSpec>,
    constraints: Constraints,
    cards: Vec<usize>,
    choices: Vec<Vec<Choice>>,
    /// The architecture being evaluated, reused (no allocation per evaluation).
    scratch: Arch,
    /// The tables' entries laid out flat, layer after layer (one load per layer).
    cells: Vec<Cell>,
    /// Where each layer's entries start in `cells`.
    offsets: Vec<usize>,
    calls: u64,
    oracle_seconds: f64,
}

impl ArchProblem {
    /// The problem; a LUT is needed when latency is an objective or constrained.
    pub fn new(
        space: Space,
        lut: Option<&Lut>,
        oracle: Box<dyn AccuracyOracle>,
        specs: Vec<ObjectiveSpec>,
        constraints: Constraints,
    ) -> Result<ArchProblem> {
        let needs_lut = specs.iter().any(|s| s.objective == Objective::Latency)
            || constraints.budget_ms.is_some();
        if needs_lut && lut.is_none() {
            return Err(Error::Usage(
                "latency is an objective or a constraint: pass --lut".into(),
            ));
        }
        let tables = Tables::new(&space, lut)?;
        let choices: Vec<Vec<Choice>> = (0..space.layers.len())
            .map(|l| space.choices_at(l))
            .collect();
        let mut cells = Vec::new();
        let mut offsets = Vec::with_capacity(choices.len());
        for (l, cs) in choices.iter().enumerate() {
            offsets.push(cells.len());
            for (c, &choice) in cs.iter().enumerate() {
                cells.push(Cell {
                    latency_ms: tables.latency_ms.as_ref().map_or(0.0, |t| t[l][c]),
                    params: tables.params[l][c],
                    madds: tables.madds[l][c],
                    identity: choice == Choice::Identity,
                });
            }
        }
        Ok(ArchProblem {
            cells,
            offsets,
            cards: choices.iter().map(Vec::len).collect(),
            scratch: Arch {
                space: space.id,
                layers: choices.iter().map(|c| c[0]).collect(),
            },
            calls: 0,
            oracle_seconds: 0.0,
            choices,
            space,
            tables,
            oracle,
            specs,
            constraints,
        })
    }

    /// The oracle (its description and call counts).
    pub fn oracle(&self) -> &dyn AccuracyOracle {
        self.oracle.as_ref()
    }

    /// The tables (for `--export-problem`).
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The objectives.
    pub fn specs(&self) -> &[ObjectiveSpec] {
        &self.specs
    }

    /// The architecture of a genome.
    pub fn arch(&self, genes: &[usize]) -> Arch {
        Arch {
            space: self.space.id,
            layers: genes
                .iter()
                .zip(&self.choices)
                .map(|(&g, cs)| cs[g])
                .collect(),
        }
    }

    /// The genome of an architecture of this space (`None` when a choice is not valid).
    pub fn genes(&self, arch: &Arch) -> Option<Vec<usize>> {
        if arch.space != self.space.id || arch.layers.len() != self.choices.len() {
            return None;
        }
        arch.layers
            .iter()
            .zip(&self.choices)
            .map(|(c, cs)| cs.iter().position(|x| x == c))
            .collect()
    }

    /// The additive quantities of a genome: (latency ms, parameters, MAdds), by table
    /// lookups, without allocating.
    fn sums(&self, genes: &[usize]) -> (Option<f64>, u64, u64) {
        let t = &self.tables;
        let (mut params, mut madds) = (t.fixed_params, t.fixed_madds);
        let mut lat = t.fixed_latency_ms.unwrap_or(0.0);
        for (&offset, &g) in self.offsets.iter().zip(genes) {
            let c = &self.cells[offset + g];
            params += c.params;
            madds += c.madds;
            lat += c.latency_ms;
        }
        (t.fixed_latency_ms.map(|_| lat), params, madds)
    }

    fn wants_accuracy(&self) -> bool {
        self.specs
            .iter()
            .any(|s| s.objective == Objective::Accuracy)
    }

    /// The oracle's accuracy of a genome (timed and counted).
    fn accuracy_of(&mut self, genes: &[usize], params: u64, madds: u64) -> Result<f64> {
        let identities = self
            .offsets
            .iter()
            .zip(genes)
            .filter(|&(&o, &g)| self.cells[o + g].identity)
            .count();
        let features = Features {
            madds,
            params,
            identities,
        };
        self.calls += 1;
        if self.oracle.features_only() {
            return self.oracle.accuracy(&self.scratch, features);
        }
        for ((slot, &g), cs) in self.scratch.layers.iter_mut().zip(genes).zip(&self.choices) {
            *slot = cs[g];
        }
        let t = std::time::Instant::now();
        let acc = self.oracle.accuracy(&self.scratch, features);
        self.oracle_seconds += t.elapsed().as_secs_f64();
        acc
    }

    fn feasible(&self, latency_ms: Option<f64>, params: u64) -> bool {
        self.constraints
            .budget_ms
            .zip(latency_ms)
            .is_none_or(|(b, l)| l <= b)
            && self.constraints.max_params.is_none_or(|m| params <= m)
    }

    /// Everything measured about a genome; an oracle that fails is an error.
    pub fn metrics(&mut self, genes: &[usize]) -> Result<Metrics> {
        let (_, params, madds) = self.sums(genes);
        let accuracy = if self.wants_accuracy() {
            Some(self.accuracy_of(genes, params, madds)?)
        } else {
            None
        };
        Ok(self.metrics_with(genes, accuracy))
    }

    /// The metrics of a genome already evaluated, its accuracy read back from its
    /// objective values `f` (no oracle call).
    pub fn metrics_of(&self, genes: &[usize], f: &[f64]) -> Metrics {
        let accuracy = self
            .specs
            .iter()
            .zip(f)
            .find(|(s, _)| s.objective == Objective::Accuracy)
            .map(|(s, v)| {
                if s.direction == Direction::Max {
                    -v
                } else {
                    *v
                }
            });
        self.metrics_with(genes, accuracy)
    }

    /// The metrics of a genome with the accuracy given.
    fn metrics_with(&self, genes: &[usize], accuracy: Option<f64>) -> Metrics {
        let (latency_ms, params, madds) = self.sums(genes);
        Metrics {
            arch: self.arch(genes).encode(),
            latency_ms,
            params,
            madds,
            accuracy,
            feasible: self.feasible(latency_ms, params),
        }
    }

    /// Oracle calls made through this problem and the seconds they took, with the
    /// oracle's own count of cache hits.
    pub fn oracle_calls(&self) -> OracleCalls {
        OracleCalls {
            calls: self.calls,
            cache_hits: self.oracle.calls().cache_hits,
            seconds: self.oracle_seconds,
        }
    }

    fn violation(&self, latency_ms: Option<f64>, params: u64) -> f64 {
        let mut violation = 0.0;
        if let (Some(b), Some(l)) = (self.constraints.budget_ms, latency_ms) {
            violation += ((l - b) / b).max(0.0);
        }
        if let Some(cap) = self.constraints.max_params {
            violation += ((params as f64 - cap as f64) / cap as f64).max(0.0);
        }
        violation
    }

    /// Whether every objective is a sum over layers (latency, parameters, MAdds), so
    /// the exact front exists.
    pub fn additive(&self) -> bool {
        !self.wants_accuracy()
    }

    /// The additive form of the problem for [`crate::exact`]: per layer and choice the
    /// objectives (minimised form), then any constrained quantity that is not an
    /// objective; caps in the same order.
    pub fn additive_form(&self) -> Result<crate::exact::Additive> {
        if !self.additive() {
            return Err(Error::Usage(
                "the exact front needs objectives that are sums over layers (lat, params, madds); accuracy is not".into(),
            ));
        }
        let t = &self.tables;
        let lat = |l: usize, c: usize| t.latency_ms.as_ref().map_or(0.0, |v| v[l][c]);
        let mut dims: Vec<(Objective, bool)> = self
            .specs
            .iter()
            .map(|s| (s.objective, s.direction == Direction::Max))
            .collect();
        let m = dims.len();
        // A capped quantity that is not a minimised objective is carried as a
        // dimension of its own (a maximised one is stored negated, so its cap is not an
        // upper bound there).
        if self.constraints.budget_ms.is_some() && !dims.contains(&(Objective::Latency, false)) {
            dims.push((Objective::Latency, false));
        }
        if self.constraints.max_params.is_some() && !dims.contains(&(Objective::Params, false)) {
            dims.push((Objective::Params, false));
        }
        let value = |o: Objective, l: Option<(usize, usize)>| -> f64 {
            match (o, l) {
                (Objective::Latency, Some((l, c))) => lat(l, c),
                (Objective::Latency, None) => t.fixed_latency_ms.unwrap_or(0.0),
                (Objective::Params, Some((l, c))) => t.params[l][c] as f64,
                (Objective::Params, None) => t.fixed_params as f64,
                (Objective::Madds, Some((l, c))) => t.madds[l][c] as f64,
                (Objective::Madds, None) => t.fixed_madds as f64,
                (Objective::Accuracy, _) => unreachable!("checked above"),
            }
        };
        let signed =
            |(o, max): (Objective, bool), at| if max { -value(o, at) } else { value(o, at) };
        Ok(crate::exact::Additive {
            layers: (0..self.cards.len())
                .map(|l| {
                    (0..self.cards[l])
                        .map(|c| dims.iter().map(|&d| signed(d, Some((l, c)))).collect())
                        .collect()
                })
                .collect(),
            fixed: dims.iter().map(|&d| signed(d, None)).collect(),
            objectives: m,
            caps: dims
                .iter()
                .map(|&(o, max)| match o {
                    Objective::Latency if !max => self.constraints.budget_ms,
                    Objective::Params if !max => self.constraints.max_params.map(|p| p as f64),
                    _ => None,
                })
                .collect(),
            maximised: dims.iter().map(|d| d.1).collect(),
        })
    }

    /// The best and worst value of each objective over the whole space (minimised form),
    /// exact for the separable ones; for the hypervolume's normalisation.
    pub fn bounds(&self) -> Vec<(f64, f64)> {
        let t = &self.tables;
        let sum_ext = |v: &Vec<Vec<u64>>, fixed: u64, max: bool| {
            fixed as f64 + v.iter().map(|l| if max { *l.iter().max().unwrap_or(&0) } else { *l.iter().min().unwrap_or(&0) } as f64).sum::<f64>()
        };
        self.specs
            .iter()
            .map(|s| {
                let (lo, hi) = match s.objective {
                    Objective::Params => (
                        sum_ext(&t.params, t.fixed_params, false),
                        sum_ext(&t.params, t.fixed_params, true),
                    ),
                    Objective::Madds => (
                        sum_ext(&t.madds, t.fixed_madds, false),
                        sum_ext(&t.madds, t.fixed_madds, true),
                    ),
                    Objective::Latency => {
                        let lat = t
                            .latency_ms
                            .as_ref()
                            .expect("latency objectives need tables");
                        let fixed = t.fixed_latency_ms.unwrap_or(0.0);
                        (
                            fixed
                                + lat
                                    .iter()
                                    .map(|l| l.iter().copied().fold(f64::INFINITY, f64::min))
                                    .sum::<f64>(),
                            fixed
                                + lat
                                    .iter()
                                    .map(|l| l.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                                    .sum::<f64>(),
                        )
                    }
                    Objective::Accuracy => {
                        let corner = |max: bool| Features {
                            madds: sum_ext(&t.madds, t.fixed_madds, max) as u64,
                            params: sum_ext(&t.params, t.fixed_params, max) as u64,
                            identities: if max { 0 } else { self.choices.len() },
                        };
                        self.oracle.bounds(corner(false), corner(true))
                    }
                };
                if s.direction == Direction::Max {
                    (-hi, -lo)
                } else {
                    (lo, hi)
                }
            })
            .collect()
    }
}

impl Problem for ArchProblem {
    fn cardinalities(&self) -> &[usize] {
        &self.cards
    }

    fn objectives(&self) -> usize {
        self.specs.len()
    }

    fn useful_choices(&self) -> Option<Vec<Vec<usize>>> {
        self.additive_form()
            .ok()
            .map(|a| crate::exact::useful_choices(&a))
    }

    fn evaluate(&mut self, genes: &[usize], f: &mut [f64]) -> Result<f64> {
        let (latency_ms, params, madds) = self.sums(genes);
        for (k, slot) in f.iter_mut().enumerate().take(self.specs.len()) {
            let s = self.specs[k];
            let v = match s.objective {
                Objective::Accuracy => self.accuracy_of(genes, params, madds)?,
                Objective::Latency => latency_ms.unwrap_or(f64::INFINITY),
                Objective::Params => params as f64,
                Objective::Madds => madds as f64,
            };
            *slot = if s.direction == Direction::Max { -v } else { v };
        }
        Ok(self.violation(latency_ms, params))
    }
}

/// The hypervolume of `front` (minimised objective vectors) in the box the space's
/// bounds span, each objective scaled to [0, 1] and the reference at 1.1: the share of
/// the attainable objective box a front dominates, comparable across runs.
pub fn normalized_hypervolume(front: &[Vec<f64>], bounds: &[(f64, f64)]) -> f64 {
    let scaled: Vec<Vec<f64>> = front
        .iter()
        .map(|f| {
            f.iter()
                .zip(bounds)
                .map(|(v, (lo, hi))| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
                .collect()
        })
        .collect();
    crate::pareto::hypervolume(&scaled, &vec![1.1; bounds.len()])
}
