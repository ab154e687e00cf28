//! Latency prediction from a table, in one place: every command that needs a latency
//! (`lut predict`, `search`, `deploy`, `lut validate`) gets it from here.
//!
//! A unit's latency is its own row, or, in a table of single operators (`moga profile
//! --ops`), the sum of its operators' rows. An architecture's latency is the table's
//! correction applied to the sum of its units: `scale × Σ units + overhead` (scale 1
//! and overhead 0 until `moga lut validate` stores a correction). [`LayerTable`] holds
//! the same sums per layer and choice, for searches that evaluate millions of genomes.

use serde::Serialize;

use super::{Correction, Lut, Outcome};
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::search_space::{Architecture, SearchSpace};
use crate::space::{Choice, Space};
use crate::unit::{PlacedUnit, UnitKey};

/// One part of a prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartLatency {
    /// Where the unit sits (`stem`, `layer 3`, ...).
    pub part: String,
    /// The unit, displayed.
    pub unit: String,
    /// Its median, milliseconds.
    pub median_ms: f64,
}

/// A predicted latency with its breakdown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The architecture, encoded.
    pub arch: String,
    /// Predicted latency, milliseconds: `scale × units_ms + overhead_ms`.
    pub latency_ms: f64,
    /// `block` (one row per block), `op` (blocks as sums of single operators) or
    /// `mixed`.
    pub level: &'static str,
    /// The table's fitted factor on the sum (1 unless an affine correction was fitted).
    pub scale: f64,
    /// Sum of unit medians, milliseconds.
    pub units_ms: f64,
    /// The table's fitted per-network overhead, milliseconds.
    pub overhead_ms: f64,
    /// Each unit, input to output.
    pub parts: Vec<PartLatency>,
}

/// A unit the table cannot supply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MissingUnit {
    /// The unit.
    pub key: UnitKey,
    /// Why it is missing: `None` when absent, the error when its measurement failed.
    pub failed: Option<String>,
}

impl std::fmt::Display for MissingUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failed {
            None => write!(f, "{}", self.key),
            Some(e) => write!(f, "{} (measurement failed: {e})", self.key),
        }
    }
}

impl Lut {
    /// Which of `keys` the table cannot supply: absent, or present only as failed.
    pub fn missing<'a>(&self, keys: impl IntoIterator<Item = &'a UnitKey>) -> Vec<MissingUnit> {
        keys.into_iter()
            .filter_map(|k| match self.get(k).map(|r| &r.outcome) {
                Some(Outcome::Ok(_)) => None,
                Some(Outcome::Failed { error }) => Some(MissingUnit {
                    key: *k,
                    failed: Some(error.clone()),
                }),
                None => Some(MissingUnit {
                    key: *k,
                    failed: None,
                }),
            })
            .collect()
    }

    /// A unit's latency: its own measured row, else the sum of its operators' measured
    /// rows; `None` when neither is complete. The flag says where it came from:
    /// `Some(true)` from operators, `Some(false)` from a block's own row, `None` for a
    /// unit that is a single operator (the same in both kinds of table).
    pub fn unit_ms(&self, key: &UnitKey) -> Option<(f64, Option<bool>)> {
        let measured = |k: &UnitKey| self.get(k).and_then(|r| r.stats()).map(|s| s.median_ms);
        let ops = key.ops();
        let atomic = ops.len() == 1 && ops[0] == *key;
        if let Some(ms) = measured(key) {
            return Some((ms, (!atomic).then_some(false)));
        }
        if atomic {
            return None;
        }
        ops.iter()
            .map(measured)
            .sum::<Option<f64>>()
            .map(|ms| (ms, Some(true)))
    }

    /// The correction every prediction applies (none: scale 1, overhead 0).
    pub fn correction(&self) -> Correction {
        self.meta.correction.clone().unwrap_or_default()
    }

    /// Predicts a classification network's latency at its space's resolution; an
    /// incomplete table is an error that lists every unit it lacks.
    pub fn predict(&self, space: &Space, arch: &Arch) -> Result<Prediction> {
        self.predict_in(space, arch, space.options.resolution)
    }

    /// Predicts the latency of `arch`, an architecture of any [`SearchSpace`], at input
    /// `shape`, the same way.
    pub fn predict_in<S: SearchSpace>(
        &self,
        space: &S,
        arch: &S::Arch,
        shape: S::Shape,
    ) -> Result<Prediction> {
        self.predict_units(arch.encode(), space.units(arch, shape)?)
    }

    /// The one prediction: the correction applied to the sum of `units`' latencies.
    fn predict_units(&self, arch: String, units: Vec<PlacedUnit>) -> Result<Prediction> {
        let mut parts = Vec::with_capacity(units.len());
        let mut lacking = Vec::new();
        let (mut blocks, mut ops) = (0, 0);
        for u in units {
            match self.unit_ms(&u.key) {
                Some((median_ms, from_ops)) => {
                    match from_ops {
                        Some(true) => ops += 1,
                        Some(false) => blocks += 1,
                        None => {}
                    }
                    parts.push(PartLatency {
                        part: u.part,
                        unit: u.key.to_string(),
                        median_ms,
                    });
                }
                None => lacking.push(u.key),
            }
        }
        if !lacking.is_empty() {
            return Err(Error::MissingUnits {
                arch,
                missing: self
                    .missing(lacking.iter())
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        let units_ms: f64 = parts.iter().map(|p| p.median_ms).sum();
        let correction = self.correction();
        Ok(Prediction {
            arch,
            latency_ms: correction.apply(units_ms),
            level: level(blocks, ops),
            scale: correction.scale,
            units_ms,
            overhead_ms: correction.overhead_ms,
            parts,
        })
    }

    /// Every layer's and choice's latency in `space`, for evaluating many architectures
    /// quickly: the same sums [`Lut::predict`] makes. An error lists every unit of the
    /// space the table cannot supply.
    pub fn layer_table(&self, space: &Space) -> Result<LayerTable> {
        let mut lacking = Vec::new();
        let (mut blocks, mut ops) = (0, 0);
        let mut ms = |key: UnitKey| match self.unit_ms(&key) {
            Some((v, from_ops)) => {
                match from_ops {
                    Some(true) => ops += 1,
                    Some(false) => blocks += 1,
                    None => {}
                }
                v
            }
            None => {
                if !lacking.contains(&key) {
                    lacking.push(key);
                }
                0.0
            }
        };
        let choices: Vec<Vec<Choice>> = (0..space.layers.len())
            .map(|l| space.choices_at(l))
            .collect();
        let units_ms: Vec<Vec<f64>> = choices
            .iter()
            .enumerate()
            .map(|(l, cs)| {
                cs.iter()
                    .map(|&c| space.layer_unit(l, c).map_or(0.0, &mut ms))
                    .collect()
            })
            .collect();
        let fixed_units_ms: f64 = space.fixed_units().into_iter().map(|u| ms(u.key)).sum();
        if !lacking.is_empty() {
            return Err(Error::MissingUnits {
                arch: format!("any architecture of space {}", space.id),
                missing: self
                    .missing(lacking.iter())
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        Ok(LayerTable {
            choices,
            units_ms,
            fixed_units_ms,
            correction: self.correction(),
            level: level(blocks, ops),
        })
    }
}

fn level(blocks: usize, ops: usize) -> &'static str {
    match (blocks, ops) {
        (_, 0) => "block",
        (0, _) => "op",
        _ => "mixed",
    }
}

/// A table's latencies per layer and choice of one space: an architecture's latency is
/// `correction.apply(fixed_units_ms + Σ_l units_ms[l][choice_l])`, equal to
/// [`Lut::predict`]'s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerTable {
    /// The valid choices of each layer, in the space's order.
    pub choices: Vec<Vec<Choice>>,
    /// Sum of the units of each choice at each layer, ms (identity: 0).
    pub units_ms: Vec<Vec<f64>>,
    /// Sum of the fixed parts' units (stem, separable, head, classifier), ms.
    pub fixed_units_ms: f64,
    /// The table's correction.
    pub correction: Correction,
    /// `block`, `op` or `mixed`: which rows the sums come from.
    pub level: &'static str,
}

impl LayerTable {
    /// The latency of the architecture whose layer `l` takes choice `genes[l]` (an
    /// index into `choices[l]`), ms.
    pub fn latency_ms(&self, genes: &[usize]) -> f64 {
        let sum: f64 = genes
            .iter()
            .zip(&self.units_ms)
            .map(|(&g, layer)| layer[g])
            .sum();
        self.correction.apply(self.fixed_units_ms + sum)
    }

    /// The latency as a sum of per-layer terms and a constant (the correction folded
    /// in: `scale × unit` per layer, `scale × fixed + overhead`): what an algorithm over
    /// additive objectives needs. The scale must be positive for the order of sums to
    /// be the order of latencies, which stored corrections guarantee.
    pub fn additive(&self) -> (Vec<Vec<f64>>, f64) {
        let c = &self.correction;
        (
            self.units_ms
                .iter()
                .map(|l| l.iter().map(|v| c.scale * v).collect())
                .collect(),
            c.apply(self.fixed_units_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lut::tests::synthetic;
    use crate::lut::{Correction, LutRow};
    use crate::presets::preset;
    use crate::space::SpaceId;

    #[test]
    fn sums_units_and_adds_the_overhead() {
        let mut lut = synthetic(SpaceId::Moga);
        let space = Space::new(SpaceId::Moga);
        let arch = preset("MoGA-A").unwrap().arch();
        let p = lut.predict(&space, &arch).unwrap();
        assert_eq!(p.parts.len(), 2 + 14 + 3);
        assert!((p.latency_ms - p.parts.iter().map(|x| x.median_ms).sum::<f64>()).abs() < 1e-12);
        lut.meta.correction = Some(Correction {
            overhead_ms: -0.25,
            ..Correction::default()
        });
        let q = lut.predict(&space, &arch).unwrap();
        assert!((q.latency_ms - (p.latency_ms - 0.25)).abs() < 1e-12);
    }

    #[test]
    fn lists_every_missing_unit() {
        let full = synthetic(SpaceId::Scarlet);
        let space = Space::new(SpaceId::Scarlet);
        let arch = preset("Scarlet-A").unwrap().arch();
        let needed: Vec<UnitKey> = space
            .units_of(&arch)
            .unwrap()
            .into_iter()
            .map(|u| u.key)
            .collect();
        let mut lut = Lut::new(full.meta.clone());
        for r in full.rows() {
            if r.key != needed[3] && r.key != needed[7] {
                lut.insert(r.clone()).unwrap();
            }
        }
        lut.upsert(LutRow {
            outcome: Outcome::Failed {
                error: "out of memory".into(),
            },
            ..full.get(&needed[9]).unwrap().clone()
        });
        let err = lut.predict(&space, &arch).unwrap_err().to_string();
        assert!(err.contains("3 unit(s) missing"), "{err}");
        assert!(
            err.contains(&needed[3].to_string()) && err.contains(&needed[7].to_string()),
            "{err}"
        );
        assert!(err.contains("measurement failed: out of memory"), "{err}");
    }
}
