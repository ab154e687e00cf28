//! What a search optimises on a space: accuracy (from an oracle), latency (predicted
//! from a device's LUT), parameters and multiply-adds, each minimised or maximised,
//! under optional constraints (a latency budget, a parameter cap).
//!
//! Latency, parameters and MAdds are sums over layers, so they are tabulated per layer
//! and choice once; an evaluation is then a few additions. The same tables are what
//! `--export-problem` writes for other tools (the pymoo benchmark).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lookup_tables::{Arch, Choice, Lut, Space};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ga::Problem;
use crate::pareto::Point;
use crate::supernet::Evaluator;

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

/// Where accuracies come from.
#[derive(Clone, Debug)]
pub enum Oracle {
    /// A deterministic stand-in computed from MAdds, parameters and depth, for tests and
    /// demos: *not* an accuracy. Larger, deeper networks score higher with diminishing
    /// returns: `60 + 15·(1 − e^(−MAdds/250M)) + 5·(1 − e^(−params/4M)) − 0.2·(identity
    /// layers)`.
    Proxy,
    /// Accuracies read from a CSV file (`arch,accuracy`, arch as an encoding).
    Table {
        /// The file.
        path: PathBuf,
        /// encoding → accuracy.
        map: HashMap<String, f64>,
    },
    /// A supernet checkpoint of `moga train`: each architecture's validation accuracy
    /// with inherited weights after BatchNorm recalibration, cached in the checkpoint.
    Supernet(SupernetOracle),
}

/// An opened supernet checkpoint, shared by clones of the oracle.
#[derive(Clone)]
pub struct SupernetOracle {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// The evaluator.
    pub evaluator: Arc<Mutex<Evaluator>>,
}

impl std::fmt::Debug for SupernetOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SupernetOracle({})", self.dir.display())
    }
}

impl SupernetOracle {
    /// Opens `dir` on `device`; a stand-alone network's checkpoint is refused (it holds
    /// one architecture, not a space).
    pub fn open(dir: &Path, device: tch::Device) -> Result<SupernetOracle> {
        let ev = Evaluator::open(dir, None, device)?;
        if ev.config.arch.is_some() {
            return Err(Error::Usage(format!(
                "{} holds a stand-alone network (trained with --arch), not a supernet",
                dir.display()
            )));
        }
        Ok(SupernetOracle {
            dir: dir.to_path_buf(),
            evaluator: Arc::new(Mutex::new(ev)),
        })
    }

    /// The accuracy of `arch`, %.
    pub fn accuracy(&self, arch: &Arch) -> Result<f64> {
        let mut ev = self.evaluator.lock().unwrap_or_else(|e| e.into_inner());
        Ok(ev.evaluate(arch)?.accuracy)
    }
}

impl Oracle {
    /// Reads `proxy`, `csv:PATH` or `supernet:CKPT_DIR` (evaluated on libtorch's CUDA
    /// device when there is one, else the CPU).
    pub fn parse(spec: &str) -> Result<Oracle> {
        if spec == "proxy" {
            return Ok(Oracle::Proxy);
        }
        if let Some(path) = spec.strip_prefix("csv:") {
            return Oracle::read_csv(Path::new(path));
        }
        if let Some(dir) = spec.strip_prefix("supernet:") {
            return Ok(Oracle::Supernet(SupernetOracle::open(
                Path::new(dir),
                tch::Device::cuda_if_available(),
            )?));
        }
        Err(Error::Usage(format!(
            "--accuracy '{spec}': expected proxy, csv:PATH or supernet:CKPT_DIR"
        )))
    }

    fn read_csv(path: &Path) -> Result<Oracle> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            error: e,
        })?;
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.starts_with("arch")) {
                continue;
            }
            let err = |m: &str| Error::Usage(format!("{}: line {}: {m}", path.display(), i + 1));
            let (arch, acc) = line
                .rsplit_once(',')
                .ok_or_else(|| err("expected `arch,accuracy`"))?;
            let arch = Arch::parse(arch.trim()).map_err(|e| err(&e.to_string()))?;
            let acc: f64 = acc
                .trim()
                .parse()
                .map_err(|_| err(&format!("'{}' is not a number", acc.trim())))?;
            if !acc.is_finite() {
                return Err(err("accuracy must be finite"));
            }
            if map.insert(arch.encode(), acc).is_some() {
                return Err(err(&format!("{} is listed twice", arch.encode())));
            }
        }
        Ok(Oracle::Table {
            path: path.to_path_buf(),
            map,
        })
    }

    /// What the accuracies are, for reports.
    pub fn describe(&self) -> String {
        match self {
            Oracle::Proxy => {
                "proxy (a deterministic function of MAdds, parameters and depth; not an accuracy)"
                    .into()
            }
            Oracle::Table { path, map } => {
                format!("table {} ({} architectures)", path.display(), map.len())
            }
            Oracle::Supernet(s) => {
                let ev = s.evaluator.lock().unwrap_or_else(|e| e.into_inner());
                format!(
                    "supernet {} ({} {}{} on {}, {} epochs; validation accuracy after BatchNorm recalibration on {} batches)",
                    s.dir.display(),
                    ev.config.space,
                    ev.config.strategy,
                    if ev.config.scarlet_let {
                        " with LET"
                    } else {
                        ""
                    },
                    ev.data.spec,
                    ev.state.epochs_done,
                    ev.bn_batches
                )
            }
        }
    }

    /// The proxy's value.
    pub fn proxy(madds: u64, params: u64, identities: usize) -> f64 {
        60.0 + 15.0 * (1.0 - (-(madds as f64) / 250e6).exp())
            + 5.0 * (1.0 - (-(params as f64) / 4e6).exp())
            - 0.2 * identities as f64
    }
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
                let mut layers = base.clone();
                layers[l] = c;
                let st = space.stats(&Arch {
                    space: space.id,
                    layers,
                })?;
                p.push(st.parts[l + 2].params);
                m.push(st.parts[l + 2].madds);
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

/// A space as a [`Problem`]: genomes are choice indices per layer.
pub struct ArchProblem {
    space: Space,
    tables: Tables,
    oracle: Oracle,
    specs: Vec<ObjectiveSpec>,
    constraints: Constraints,
    cards: Vec<usize>,
    choices: Vec<Vec<Choice>>,
    /// The first oracle failure (an architecture a table lacks), reported after the run.
    pub oracle_error: Option<Error>,
}

impl ArchProblem {
    /// The problem; a LUT is needed when latency is an objective or constrained.
    pub fn new(
        space: Space,
        lut: Option<&Lut>,
        oracle: Oracle,
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
        Ok(ArchProblem {
            cards: choices.iter().map(Vec::len).collect(),
            choices,
            space,
            tables,
            oracle,
            specs,
            constraints,
            oracle_error: None,
        })
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

    /// Everything measured about a genome.
    pub fn metrics(&mut self, genes: &[usize]) -> Metrics {
        let t = &self.tables;
        let params = t.fixed_params
            + genes
                .iter()
                .enumerate()
                .map(|(l, &g)| t.params[l][g])
                .sum::<u64>();
        let madds = t.fixed_madds
            + genes
                .iter()
                .enumerate()
                .map(|(l, &g)| t.madds[l][g])
                .sum::<u64>();
        let latency_ms = t
            .latency_ms
            .as_ref()
            .zip(t.fixed_latency_ms)
            .map(|(lat, fixed)| {
                fixed
                    + genes
                        .iter()
                        .enumerate()
                        .map(|(l, &g)| lat[l][g])
                        .sum::<f64>()
            });
        let arch = self.arch(genes);
        let identities = arch
            .layers
            .iter()
            .filter(|c| **c == Choice::Identity)
            .count();
        let accuracy = match &self.oracle {
            Oracle::Proxy => Some(Oracle::proxy(madds, params, identities)),
            Oracle::Table { path, map } => {
                let a = map.get(&arch.encode()).copied();
                if a.is_none() && self.oracle_error.is_none() {
                    self.oracle_error = Some(Error::Usage(format!(
                        "{}: no accuracy for {}",
                        path.display(),
                        arch.encode()
                    )));
                }
                a
            }
            Oracle::Supernet(s) => match s.accuracy(&arch) {
                Ok(a) => Some(a),
                Err(e) => {
                    if self.oracle_error.is_none() {
                        self.oracle_error = Some(e);
                    }
                    None
                }
            },
        };
        let feasible = self
            .constraints
            .budget_ms
            .zip(latency_ms)
            .is_none_or(|(b, l)| l <= b)
            && self.constraints.max_params.is_none_or(|m| params <= m);
        Metrics {
            arch: arch.encode(),
            latency_ms,
            params,
            madds,
            accuracy,
            feasible,
        }
    }

    fn point(&self, m: &Metrics) -> Point {
        let f = self
            .specs
            .iter()
            .map(|s| {
                let v = match s.objective {
                    Objective::Accuracy => m.accuracy.unwrap_or(f64::NEG_INFINITY),
                    Objective::Latency => m.latency_ms.unwrap_or(f64::INFINITY),
                    Objective::Params => m.params as f64,
                    Objective::Madds => m.madds as f64,
                };
                if s.direction == Direction::Max { -v } else { v }
            })
            .collect();
        let mut violation = 0.0;
        if let (Some(b), Some(l)) = (self.constraints.budget_ms, m.latency_ms) {
            violation += ((l - b) / b).max(0.0);
        }
        if let Some(cap) = self.constraints.max_params {
            violation += ((m.params as f64 - cap as f64) / cap as f64).max(0.0);
        }
        if m.accuracy.is_none()
            && self
                .specs
                .iter()
                .any(|s| s.objective == Objective::Accuracy)
        {
            violation += 1e6;
        }
        Point { f, violation }
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
                    Objective::Accuracy => match &self.oracle {
                        Oracle::Proxy => {
                            let lo = Oracle::proxy(
                                sum_ext(&t.madds, t.fixed_madds, false) as u64,
                                sum_ext(&t.params, t.fixed_params, false) as u64,
                                self.choices.len(),
                            );
                            let hi = Oracle::proxy(
                                sum_ext(&t.madds, t.fixed_madds, true) as u64,
                                sum_ext(&t.params, t.fixed_params, true) as u64,
                                0,
                            );
                            (lo, hi)
                        }
                        Oracle::Table { map, .. } => map
                            .values()
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                                (a.min(v), b.max(v))
                            }),
                        Oracle::Supernet(_) => (0.0, 100.0),
                    },
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

    fn evaluate(&mut self, genes: &[usize]) -> Point {
        let m = self.metrics(genes);
        self.point(&m)
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
