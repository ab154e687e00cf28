//! What a search optimises on a space: accuracy (from an oracle), latency (predicted
//! from a device's LUT), parameters and multiply-adds, each minimised or maximised,
//! under optional constraints (a latency budget, a parameter cap). One problem for
//! every [`SearchSpace`] whose positions are additive (classification's spaces, and
//! any other that says so): [`SpaceProblem`].
//!
//! Latency, parameters and MAdds are sums over positions, so they are tabulated per
//! position and choice once; an evaluation is then a few additions. The same tables
//! are what `--export-problem` writes for other tools (the pymoo benchmark).

use lookup_tables::{Architecture, Lut, SearchSpace, Space};
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
    /// Tabulates `space` (and `lut`, which must cover every unit of the space); a
    /// space whose positions are not additive is an error saying so.
    pub fn new<S: SearchSpace>(space: &S, lut: Option<&Lut>) -> Result<Tables> {
        let counts = space.additive().ok_or_else(|| {
            Error::Usage(format!(
                "{}: its positions' costs depend on each other, so it cannot be tabulated per position",
                space.name()
            ))
        })?;
        // Latency comes from the table's one predictor, in its additive form (the
        // correction folded into the per-position terms and the constant).
        let (latency_ms, fixed_latency_ms) = match lut {
            None => (None, None),
            Some(lut) => {
                let (lat, fixed) = space.latency_terms(lut)?.ok_or_else(|| {
                    Error::Usage(format!(
                        "{}: its latency is not a sum over positions",
                        space.name()
                    ))
                })?;
                (Some(lat), Some(fixed))
            }
        };
        Ok(Tables {
            space: space.name(),
            choices: space
                .cardinalities()
                .iter()
                .enumerate()
                .map(|(p, &k)| (0..k).map(|c| space.choice_token(p, c)).collect())
                .collect(),
            latency_ms,
            params: counts.params,
            madds: counts.madds,
            fixed_latency_ms,
            fixed_params: counts.fixed_params,
            fixed_madds: counts.fixed_madds,
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
    /// Accuracy at least (top-1 %, or PSNR in dB for super-resolution): FALSR's
    /// minimum PSNR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_accuracy: Option<f64>,
    /// Multiply-adds at most: FALSR's maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_madds: Option<u64>,
}

/// One position's choice's contributions (additive spaces).
#[derive(Clone, Copy, Debug)]
struct Cell {
    latency_ms: f64,
    params: u64,
    madds: u64,
    identity: bool,
}

/// A space as a [`Problem`]: genomes are choice indices per position, decoded by the
/// space. Additive spaces evaluate by table lookups; others are counted (and their
/// latency predicted) architecture by architecture. `O` is the oracle's type: any
/// oracle by default, a concrete one where its caller needs more of it afterwards
/// (super-resolution's SSIM and bicubic baseline).
pub struct SpaceProblem<
    S: SearchSpace,
    O: AccuracyOracle<S::Arch> + ?Sized = dyn AccuracyOracle<<S as SearchSpace>::Arch>,
> {
    space: S,
    /// The per-position tables (additive spaces).
    tables: Option<Tables>,
    /// The latency table and the input shape it predicts at (other spaces).
    latency: Option<(Lut, S::Shape)>,
    oracle: Box<O>,
    specs: Vec<ObjectiveSpec>,
    constraints: Constraints,
    cards: Vec<usize>,
    /// An architecture for oracles that answer from features alone (never read).
    scratch: S::Arch,
    /// The tables' entries laid out flat, position after position (one load each).
    cells: Vec<Cell>,
    /// Where each position's entries start in `cells`.
    offsets: Vec<usize>,
    calls: u64,
    oracle_seconds: f64,
    /// Every evaluation's metrics, in order (when asked for).
    record: Option<Vec<Metrics>>,
}

/// The problem over classification's spaces.
pub type ArchProblem = SpaceProblem<Space>;

impl<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized> SpaceProblem<S, O> {
    /// The problem; a LUT is needed when latency is an objective or constrained.
    pub fn new(
        space: S,
        lut: Option<&Lut>,
        oracle: Box<O>,
        specs: Vec<ObjectiveSpec>,
        constraints: Constraints,
    ) -> Result<Self> {
        let shape = space.shape();
        SpaceProblem::new_at(space, lut, shape, oracle, specs, constraints)
    }

    /// The problem with latency predicted at input `shape` (a space that is not
    /// additive: super-resolution's at the low-resolution side the table was
    /// profiled at). The table must hold every unit of the space at that shape: an
    /// error says how many it lacks and names the first.
    pub fn new_at(
        space: S,
        lut: Option<&Lut>,
        shape: S::Shape,
        oracle: Box<O>,
        specs: Vec<ObjectiveSpec>,
        constraints: Constraints,
    ) -> Result<Self> {
        let needs_lut = specs.iter().any(|s| s.objective == Objective::Latency)
            || constraints.budget_ms.is_some();
        if needs_lut && lut.is_none() {
            return Err(Error::Usage(
                "latency is an objective or a constraint: pass --lut".into(),
            ));
        }
        let tables = match space.additive() {
            Some(_) => Some(Tables::new(&space, lut)?),
            None => None,
        };
        let latency = match lut {
            Some(lut) if tables.is_none() => {
                let needed = space.unit_list(shape);
                let missing = lut.missing(&needed);
                if let Some(first) = missing.first() {
                    return Err(Error::Usage(format!(
                        "the latency table lacks {} of the {} units of {} at {} (first: {first}); complete it with `moga profile --space {} {} --resume`",
                        missing.len(),
                        needed.len(),
                        space.name(),
                        space.describe_shape(shape),
                        space.name(),
                        space.shape_flag(shape)
                    )));
                }
                Some((lut.clone(), shape))
            }
            _ => None,
        };
        let cards = space.cardinalities();
        let mut cells = Vec::new();
        let mut offsets = Vec::with_capacity(cards.len());
        if let Some(tables) = &tables {
            for (l, &k) in cards.iter().enumerate() {
                offsets.push(cells.len());
                for c in 0..k {
                    cells.push(Cell {
                        latency_ms: tables.latency_ms.as_ref().map_or(0.0, |t| t[l][c]),
                        params: tables.params[l][c],
                        madds: tables.madds[l][c],
                        identity: space.skips(l, c),
                    });
                }
            }
        }
        Ok(SpaceProblem {
            cells,
            offsets,
            scratch: space.decode(&vec![0; cards.len()]),
            cards,
            calls: 0,
            oracle_seconds: 0.0,
            record: None,
            space,
            tables,
            latency,
            oracle,
            specs,
            constraints,
        })
    }

    /// Keep every evaluation's metrics, in order ([`SpaceProblem::evaluated`]).
    pub fn record_evaluations(mut self) -> Self {
        self.record = Some(Vec::new());
        self
    }

    /// Every evaluation's metrics so far, in order (with
    /// [`SpaceProblem::record_evaluations`]).
    pub fn evaluated(&self) -> &[Metrics] {
        self.record.as_deref().unwrap_or_default()
    }

    /// The space.
    pub fn space(&self) -> &S {
        &self.space
    }

    /// The oracle (its description and call counts).
    pub fn oracle(&self) -> &O {
        self.oracle.as_ref()
    }

    /// The oracle, to ask more of it after a search (reports).
    pub fn oracle_mut(&mut self) -> &mut O {
        self.oracle.as_mut()
    }

    /// The per-position tables of an additive space (for `--export-problem`).
    pub fn tables(&self) -> Result<&Tables> {
        self.tables.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "{}: its positions' costs depend on each other, so it has no per-position tables",
                self.space.name()
            ))
        })
    }

    /// The objectives.
    pub fn specs(&self) -> &[ObjectiveSpec] {
        &self.specs
    }

    /// The constraints.
    pub fn constraints(&self) -> Constraints {
        self.constraints
    }

    /// The architecture of a genome.
    pub fn arch(&self, genes: &[usize]) -> S::Arch {
        self.space.decode(genes)
    }

    /// The genome of an architecture of this space (`None` when a choice is not valid).
    pub fn genes(&self, arch: &S::Arch) -> Option<Vec<usize>> {
        self.space.genes(arch)
    }

    /// The quantities of a genome: (latency ms, parameters, MAdds); for an additive
    /// space by table lookups, without allocating.
    fn sums(&self, genes: &[usize]) -> Result<(Option<f64>, u64, u64)> {
        let Some(t) = &self.tables else {
            let arch = self.space.decode(genes);
            let stats = self.space.stats(&arch)?;
            let latency = match &self.latency {
                Some((lut, shape)) => Some(lut.predict_in(&self.space, &arch, *shape)?.latency_ms),
                None => None,
            };
            return Ok((latency, stats.params, stats.madds));
        };
        let (mut params, mut madds) = (t.fixed_params, t.fixed_madds);
        let mut lat = t.fixed_latency_ms.unwrap_or(0.0);
        for (&offset, &g) in self.offsets.iter().zip(genes) {
            let c = &self.cells[offset + g];
            params += c.params;
            madds += c.madds;
            lat += c.latency_ms;
        }
        Ok((t.fixed_latency_ms.map(|_| lat), params, madds))
    }

    /// Whether the oracle is asked: accuracy is an objective or constrained.
    fn wants_accuracy(&self) -> bool {
        self.constraints.min_accuracy.is_some()
            || self
                .specs
                .iter()
                .any(|s| s.objective == Objective::Accuracy)
    }

    /// The oracle's accuracy of a genome (timed and counted).
    fn accuracy_of(&mut self, genes: &[usize], params: u64, madds: u64) -> Result<f64> {
        let identities = if self.cells.is_empty() {
            genes
                .iter()
                .enumerate()
                .filter(|&(p, &g)| self.space.skips(p, g))
                .count()
        } else {
            self.offsets
                .iter()
                .zip(genes)
                .filter(|&(&o, &g)| self.cells[o + g].identity)
                .count()
        };
        let features = Features {
            madds,
            params,
            identities,
        };
        self.calls += 1;
        if self.oracle.features_only() {
            return self.oracle.accuracy(&self.scratch, features);
        }
        let arch = self.space.decode(genes);
        let t = std::time::Instant::now();
        let acc = self.oracle.accuracy(&arch, features);
        self.oracle_seconds += t.elapsed().as_secs_f64();
        acc
    }

    fn feasible(&self, latency_ms: Option<f64>, params: u64, madds: u64, acc: Option<f64>) -> bool {
        let c = &self.constraints;
        c.budget_ms.zip(latency_ms).is_none_or(|(b, l)| l <= b)
            && c.max_params.is_none_or(|m| params <= m)
            && c.max_madds.is_none_or(|m| madds <= m)
            && c.min_accuracy.zip(acc).is_none_or(|(m, a)| a >= m)
    }

    /// Everything measured about a genome; an oracle that fails is an error.
    pub fn metrics(&mut self, genes: &[usize]) -> Result<Metrics> {
        let (_, params, madds) = self.sums(genes)?;
        let accuracy = if self.wants_accuracy() {
            Some(self.accuracy_of(genes, params, madds)?)
        } else {
            None
        };
        self.metrics_with(genes, accuracy)
    }

    /// The metrics of a genome already evaluated, its accuracy read back from its
    /// objective values `f` (no oracle call).
    pub fn metrics_of(&self, genes: &[usize], f: &[f64]) -> Result<Metrics> {
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
    fn metrics_with(&self, genes: &[usize], accuracy: Option<f64>) -> Result<Metrics> {
        let (latency_ms, params, madds) = self.sums(genes)?;
        Ok(Metrics {
            arch: self.arch(genes).encode(),
            latency_ms,
            params,
            madds,
            accuracy,
            feasible: self.feasible(latency_ms, params, madds, accuracy),
        })
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

    /// How far the constraints are broken: relative for latency, parameters and
    /// multiply-adds, in the accuracy's own unit (dB, %) below its minimum.
    fn violation(&self, latency_ms: Option<f64>, params: u64, madds: u64, acc: Option<f64>) -> f64 {
        let c = &self.constraints;
        let mut violation = 0.0;
        if let (Some(b), Some(l)) = (c.budget_ms, latency_ms) {
            violation += ((l - b) / b).max(0.0);
        }
        if let Some(cap) = c.max_params {
            violation += ((params as f64 - cap as f64) / cap as f64).max(0.0);
        }
        if let (Some(min), Some(a)) = (c.min_accuracy, acc) {
            violation += (min - a).max(0.0);
        }
        if let Some(cap) = c.max_madds {
            violation += ((madds as f64 - cap as f64) / cap as f64).max(0.0);
        }
        violation
    }

    /// Whether every objective and constraint is a sum over positions (latency,
    /// parameters, MAdds) of an additive space, so the exact front exists.
    pub fn additive(&self) -> bool {
        self.tables.is_some() && !self.wants_accuracy()
    }

    /// The additive form of the problem for [`crate::exact`]: per position and choice
    /// the objectives (minimised form), then any constrained quantity that is not an
    /// objective; caps in the same order.
    pub fn additive_form(&self) -> Result<crate::exact::Additive> {
        if !self.additive() {
            return Err(Error::Usage(
                "the exact front needs objectives that are sums over layers (lat, params, madds); accuracy is not".into(),
            ));
        }
        let t = self.tables()?;
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
        let c = &self.constraints;
        for (capped, o) in [
            (c.budget_ms.is_some(), Objective::Latency),
            (c.max_params.is_some(), Objective::Params),
            (c.max_madds.is_some(), Objective::Madds),
        ] {
            if capped && !dims.contains(&(o, false)) {
                dims.push((o, false));
            }
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
                    Objective::Latency if !max => c.budget_ms,
                    Objective::Params if !max => c.max_params.map(|p| p as f64),
                    Objective::Madds if !max => c.max_madds.map(|p| p as f64),
                    _ => None,
                })
                .collect(),
            maximised: dims.iter().map(|d| d.1).collect(),
        })
    }

    /// The best and worst value of each objective over the whole space (minimised form),
    /// for the hypervolume's normalisation: exact for the separable ones of an additive
    /// space; for another space, the extremes of its presets and 512 seeded samples.
    pub fn bounds(&self) -> Result<Vec<(f64, f64)>> {
        let extremes = match &self.tables {
            Some(t) => Extremes::of_tables(t),
            None => self.sampled_extremes()?,
        };
        Ok(self
            .specs
            .iter()
            .map(|s| {
                let (lo, hi) = match s.objective {
                    Objective::Params => extremes.params,
                    Objective::Madds => extremes.madds,
                    Objective::Latency => extremes
                        .latency_ms
                        .expect("latency objectives need a latency table"),
                    Objective::Accuracy => {
                        let corner = |max: bool| Features {
                            madds: if max {
                                extremes.madds.1
                            } else {
                                extremes.madds.0
                            } as u64,
                            params: if max {
                                extremes.params.1
                            } else {
                                extremes.params.0
                            } as u64,
                            identities: if max { 0 } else { self.cards.len() },
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
            .collect())
    }

    fn sampled_extremes(&self) -> Result<Extremes> {
        let mut archs = self.space.sample_n(512, 0);
        archs.extend(self.space.presets().into_iter().map(|(_, a)| a));
        let mut e = Extremes {
            params: (f64::INFINITY, f64::NEG_INFINITY),
            madds: (f64::INFINITY, f64::NEG_INFINITY),
            latency_ms: self
                .latency
                .as_ref()
                .map(|_| (f64::INFINITY, f64::NEG_INFINITY)),
        };
        let widen = |r: &mut (f64, f64), v: f64| *r = (r.0.min(v), r.1.max(v));
        for arch in &archs {
            let Some(genes) = self.space.genes(arch) else {
                continue;
            };
            let (lat, params, madds) = self.sums(&genes)?;
            widen(&mut e.params, params as f64);
            widen(&mut e.madds, madds as f64);
            if let (Some(r), Some(l)) = (e.latency_ms.as_mut(), lat) {
                widen(r, l);
            }
        }
        Ok(e)
    }
}

/// The lowest and highest parameters, multiply-adds and latency of a space.
struct Extremes {
    params: (f64, f64),
    madds: (f64, f64),
    latency_ms: Option<(f64, f64)>,
}

impl Extremes {
    /// Exact, from an additive space's tables: the cheapest and dearest choice at every
    /// position.
    fn of_tables(t: &Tables) -> Extremes {
        let sum = |v: &[Vec<u64>], fixed: u64| {
            let f = fixed as f64;
            (
                f + v
                    .iter()
                    .map(|l| *l.iter().min().unwrap_or(&0) as f64)
                    .sum::<f64>(),
                f + v
                    .iter()
                    .map(|l| *l.iter().max().unwrap_or(&0) as f64)
                    .sum::<f64>(),
            )
        };
        Extremes {
            params: sum(&t.params, t.fixed_params),
            madds: sum(&t.madds, t.fixed_madds),
            latency_ms: t.latency_ms.as_ref().map(|lat| {
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
            }),
        }
    }
}

impl<S: SearchSpace, O: AccuracyOracle<S::Arch> + ?Sized> Problem for SpaceProblem<S, O> {
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
        let (latency_ms, params, madds) = self.sums(genes)?;
        let accuracy = if self.wants_accuracy() {
            Some(self.accuracy_of(genes, params, madds)?)
        } else {
            None
        };
        for (slot, s) in f.iter_mut().zip(&self.specs) {
            let v = match s.objective {
                Objective::Accuracy => accuracy.expect("asked above"),
                Objective::Latency => latency_ms.unwrap_or(f64::INFINITY),
                Objective::Params => params as f64,
                Objective::Madds => madds as f64,
            };
            *slot = if s.direction == Direction::Max { -v } else { v };
        }
        if self.record.is_some() {
            let m = self.metrics_with(genes, accuracy)?;
            if let Some(record) = &mut self.record {
                record.push(m);
            }
        }
        Ok(self.violation(latency_ms, params, madds, accuracy))
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
