//! The reference network: one fixed whole network of the space, run beside every
//! measured run so that each measurement is also a ratio to it. A device's speed drifts
//! (phones throttle, shared machines are shared) by far more than the precision a
//! latency table needs; the ratio of two runs taken side by side drifts much less. A
//! table stores ratio × the reference's median over its profiling run (its time unit,
//! recorded in the metadata with the drift seen), and later whole-network runs against
//! the same reference compare with it in that unit, whatever the device's speed then.

use std::path::{Path, PathBuf};

use device_runner::onnx::builder::{RandomWeights, network_model, sr_model};
use lookup_tables::lut::Reference;
use lookup_tables::{Arch, LutMeta, Space, SpaceOptions, SrArch, SrSpaceId};

use crate::error::{Error, Result};

/// The reference network of a table, buildable on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceNet {
    /// The network.
    pub net: RefModel,
    /// Seed of its random weights.
    pub seed: u64,
}

/// What a reference network is.
#[derive(Clone, Debug, PartialEq)]
pub enum RefModel {
    /// A classification network of a space at the table's resolution and classes.
    Classifier {
        /// The architecture.
        arch: Arch,
        /// Its space.
        space: Space,
    },
    /// A super-resolution network at a `side`×`side` low-resolution input.
    Sr {
        /// The architecture.
        arch: SrArch,
        /// The input's side.
        side: u32,
    },
}

impl ReferenceNet {
    /// The reference for a new table of `space`: the space's first published model.
    pub fn for_space(space: &Space, seed: u64) -> ReferenceNet {
        ReferenceNet {
            net: RefModel::Classifier {
                arch: space.reference_arch(),
                space: space.clone(),
            },
            seed,
        }
    }

    /// The reference for a new table of a super-resolution space at a `side`×`side`
    /// input: its smallest published network.
    pub fn for_sr(space: SrSpaceId, side: u32, seed: u64) -> ReferenceNet {
        ReferenceNet {
            net: RefModel::Sr {
                arch: space.reference_arch(),
                side,
            },
            seed,
        }
    }

    /// The reference a table recorded.
    pub fn recorded(r: &Reference) -> Result<ReferenceNet> {
        let bad = |m: String| Error::Missing {
            what: "the table's reference network".into(),
            message: m,
        };
        if SrArch::claims(&r.arch) {
            return Ok(ReferenceNet {
                net: RefModel::Sr {
                    arch: SrArch::parse(&r.arch).map_err(|e| bad(e.to_string()))?,
                    side: r.resolution,
                },
                seed: r.seed,
            });
        }
        let arch = Arch::parse(&r.arch).map_err(|e| bad(e.to_string()))?;
        let space = Space::with_options(
            arch.space,
            SpaceOptions {
                resolution: r.resolution,
                classes: r.classes,
            },
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(ReferenceNet {
            net: RefModel::Classifier { arch, space },
            seed: r.seed,
        })
    }

    /// Writes its ONNX file into `dir` (`reference.onnx`).
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let mut w = RandomWeights::new(self.seed);
        let model = match &self.net {
            RefModel::Classifier { arch, space } => network_model(space, arch, &mut w)?,
            RefModel::Sr { arch, side } => sr_model(arch, *side as usize, *side as usize, &mut w)?,
        };
        let path = dir.join("reference.onnx");
        device_runner::onnx::write_model(&path, &model)?;
        Ok(path)
    }

    /// The metadata of a table whose time unit is `median_ms`.
    pub fn meta(&self, median_ms: f64) -> Reference {
        let (arch, resolution, classes) = match &self.net {
            RefModel::Classifier { arch, space } => (
                arch.encode(),
                space.options.resolution,
                space.options.classes,
            ),
            RefModel::Sr { arch, side } => (arch.encode(), *side, 0),
        };
        Reference {
            arch,
            resolution,
            classes,
            seed: self.seed,
            median_ms,
            invocations: 0,
            drift_min_pct: 0.0,
            drift_max_pct: 0.0,
        }
    }
}

/// The reference's median in every runner invocation of a run: the device's drift.
#[derive(Clone, Debug, Default)]
pub struct Drift {
    medians: Vec<f64>,
}

impl Drift {
    /// Adds an invocation's reference median (ignored when not a positive number).
    pub fn add(&mut self, median_ms: f64) {
        if median_ms.is_finite() && median_ms > 0.0 {
            self.medians.push(median_ms);
        }
    }

    /// The median over invocations so far.
    pub fn median(&self) -> Option<f64> {
        let mut v = self.medians.clone();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| device_runner::bench::percentile(&v, 0.5))
    }

    /// Records the spread around the table's unit `r.median_ms` into `r`, adding to
    /// what earlier runs recorded.
    pub fn record(&self, r: &mut Reference) {
        let pct = |m: f64| 100.0 * (m - r.median_ms) / r.median_ms;
        for &m in &self.medians {
            if r.invocations == 0 {
                (r.drift_min_pct, r.drift_max_pct) = (pct(m), pct(m));
            } else {
                r.drift_min_pct = r.drift_min_pct.min(pct(m));
                r.drift_max_pct = r.drift_max_pct.max(pct(m));
            }
            r.invocations += 1;
        }
    }
}

/// A table's time unit and its drift bookkeeping while profiling (both methods). A new
/// table takes its unit from the first invocation's reference median, provisionally;
/// at the end of the run it becomes the median over all invocations (rows measured in
/// this run are brought to it). A resumed table keeps its unit.
pub struct Unit {
    /// The table's unit (the reference's median), once known.
    pub nominal_ms: Option<f64>,
    provisional: bool,
    /// The reference's medians in this run.
    pub drift: Drift,
    reference: Option<ReferenceNet>,
}

impl Unit {
    /// The unit of a table with metadata `meta`, measured against `reference`.
    pub fn new(meta: &LutMeta, reference: Option<ReferenceNet>) -> Unit {
        Unit {
            nominal_ms: meta.reference.as_ref().map(|r| r.median_ms),
            provisional: meta.reference.is_none(),
            drift: Drift::default(),
            reference,
        }
    }

    /// Takes a batch's reference median; sets the unit on the first.
    pub fn observe(&mut self, meta: &mut LutMeta, median_ms: Option<f64>) {
        let (Some(net), Some(m)) = (&self.reference, median_ms) else {
            return;
        };
        self.drift.add(m);
        if self.nominal_ms.is_none() {
            self.nominal_ms = Some(m);
            meta.reference = Some(net.meta(m));
        }
    }

    /// Ends the run: the final unit (the factor rows measured in this run must be
    /// multiplied by) and the drift, into `meta`.
    pub fn finish(&mut self, meta: &mut LutMeta) -> f64 {
        let mut factor = 1.0;
        if let (Some(r), Some(old)) = (meta.reference.as_mut(), self.nominal_ms) {
            if self.provisional
                && let Some(m) = self.drift.median()
            {
                factor = m / old;
                r.median_ms = m;
                self.nominal_ms = Some(m);
                self.provisional = false;
            }
            self.drift.record(r);
        }
        self.drift = Drift::default();
        factor
    }

    /// The drift of this run as (lowest, highest) % against the unit.
    pub fn drift_pct(meta: &LutMeta) -> Option<(f64, f64)> {
        meta.reference
            .as_ref()
            .filter(|r| r.invocations > 0)
            .map(|r| (r.drift_min_pct, r.drift_max_pct))
    }
}

/// The reference's medians in a batch of records (each record's pairs).
pub fn reference_median(records: &[&device_runner::protocol::BenchRecord]) -> Option<f64> {
    let mut v: Vec<f64> = records
        .iter()
        .filter_map(|r| r.ratio.as_ref().map(|x| x.reference_median_ms))
        .filter(|m| m.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| device_runner::bench::percentile(&v, 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookup_tables::SpaceId;

    #[test]
    fn drift_is_recorded_around_the_tables_unit() {
        let space = Space::new(SpaceId::Fairnas);
        let net = ReferenceNet::for_space(&space, 3);
        let mut r = net.meta(10.0);
        let mut d = Drift::default();
        for m in [9.0, 10.0, 12.0, f64::NAN] {
            d.add(m);
        }
        assert_eq!(d.median(), Some(10.0));
        d.record(&mut r);
        assert_eq!(
            (r.invocations, r.drift_min_pct, r.drift_max_pct),
            (3, -10.0, 20.0)
        );
        assert_eq!(ReferenceNet::recorded(&r).unwrap(), net);
        let sr = ReferenceNet::for_sr(SrSpaceId::Falsr, 24, 5);
        assert_eq!(ReferenceNet::recorded(&sr.meta(1.0)).unwrap(), sr);
    }
}
