//! Latency prediction from a table: the sum of an architecture's unit medians plus the
//! table's fitted per-network overhead (zero until `moga lut validate` fits one).

use serde::Serialize;

use super::{Lut, Outcome};
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::space::Space;
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
    /// `block` (one unit per block) or `op` (a table of single operators).
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

    /// Predicts `arch`'s latency; an incomplete table is an error that lists every unit
    /// it lacks.
    pub fn predict(&self, space: &Space, arch: &Arch) -> Result<Prediction> {
        let units = space.units_of(arch)?;
        let missing = self.missing(units.iter().map(|u| &u.key));
        // A table of single operators predicts a block as the sum of its operators.
        let (level, placed) = if missing.is_empty() {
            ("block", units)
        } else {
            let ops: Vec<PlacedUnit> = units
                .iter()
                .flat_map(|u| {
                    u.key.ops().into_iter().map(|key| PlacedUnit {
                        part: u.part.clone(),
                        key,
                    })
                })
                .collect();
            if !self.missing(ops.iter().map(|u| &u.key)).is_empty() {
                return Err(Error::MissingUnits {
                    arch: arch.encode(),
                    missing: missing.iter().map(ToString::to_string).collect(),
                });
            }
            ("op", ops)
        };
        let parts: Vec<PartLatency> = placed
            .into_iter()
            .map(|u| PartLatency {
                median_ms: self
                    .get(&u.key)
                    .and_then(|r| r.stats())
                    .map_or(0.0, |s| s.median_ms),
                unit: u.key.to_string(),
                part: u.part,
            })
            .collect();
        let units_ms: f64 = parts.iter().map(|p| p.median_ms).sum();
        let correction = self.meta.correction.clone().unwrap_or_default();
        let overhead_ms = correction.overhead_ms;
        Ok(Prediction {
            arch: arch.encode(),
            latency_ms: correction.apply(units_ms),
            level,
            scale: correction.scale,
            units_ms,
            overhead_ms,
            parts,
        })
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
