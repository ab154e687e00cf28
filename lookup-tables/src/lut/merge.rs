//! Merging tables of one device model and backend: shards profiled on several phones of
//! the same model, or a table completed later. Tables whose rows are not comparable
//! (another device model, backend, backend version or protocol) are refused.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Lut, LutMeta, Outcome};
use crate::error::{Error, Result};

/// What to do when both tables measured the same unit successfully.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    /// Refuse: the tables overlap and moga cannot know which is right.
    #[default]
    Error,
    /// Keep the row already in the base table.
    First,
    /// Take the row of the table being merged.
    Last,
}

/// The first metadata field in which `a` and `b` differ in a way that makes their rows
/// incomparable, as `(field, a's value, b's value)`.
pub fn incompatibility(a: &LutMeta, b: &LutMeta) -> Option<(&'static str, String, String)> {
    let reference = |m: &LutMeta| {
        m.reference.as_ref().map_or("none".to_string(), |r| {
            format!("{} at {} px, seed {}", r.arch, r.resolution, r.seed)
        })
    };
    let checks: [(&'static str, String, String); 8] = [
        (
            "device.model",
            a.device.model.clone(),
            b.device.model.clone(),
        ),
        ("device.soc", a.device.soc.clone(), b.device.soc.clone()),
        ("device.gpu", a.device.gpu.clone(), b.device.gpu.clone()),
        (
            "backend.name",
            a.backend.name.clone(),
            b.backend.name.clone(),
        ),
        (
            "backend.version",
            a.backend.version.clone(),
            b.backend.version.clone(),
        ),
        (
            "backend.options",
            format!("{:?}", a.backend.options),
            format!("{:?}", b.backend.options),
        ),
        (
            "protocol",
            format!("{:?}", a.protocol),
            format!("{:?}", b.protocol),
        ),
        ("reference", reference(a), reference(b)),
    ];
    checks.into_iter().find(|(_, x, y)| x != y)
}

impl Lut {
    /// Merges `other` (read from `other_path`) into this table (read from `base_path`).
    /// A measured row beats a failed one; two measured rows follow `prefer`. Serials
    /// and spaces are united; the base's correction is dropped when rows change,
    /// since it was fitted to the old sums.
    pub fn merge(
        &mut self,
        base_path: &Path,
        other: &Lut,
        other_path: &Path,
        prefer: Prefer,
    ) -> Result<MergeReport> {
        let merge_err = |message: String| Error::Merge {
            base: base_path.to_path_buf(),
            other: other_path.to_path_buf(),
            message,
        };
        if let Some((field, a, b)) = incompatibility(&self.meta, &other.meta) {
            return Err(merge_err(format!(
                "{field} differs ('{a}' vs '{b}'); rows of different devices or backends are not comparable"
            )));
        }
        // Rows are ratios to the same reference network × each table's unit: bring the
        // other's rows to this table's unit.
        let factor = match (&self.meta.reference, &other.meta.reference) {
            (Some(a), Some(b)) => a.median_ms / b.median_ms,
            _ => 1.0,
        };
        let mut report = MergeReport::default();
        for row in other.rows() {
            let row = &match &row.outcome {
                Outcome::Ok(s) if factor != 1.0 => super::LutRow {
                    outcome: Outcome::Ok(s.scaled(factor)),
                    ..row.clone()
                },
                _ => row.clone(),
            };
            match self.get(&row.key).map(|r| &r.outcome) {
                None => {
                    self.upsert(row.clone());
                    report.added += 1;
                }
                Some(Outcome::Failed { .. }) if row.stats().is_some() => {
                    self.upsert(row.clone());
                    report.replaced += 1;
                }
                Some(Outcome::Failed { .. }) => report.kept += 1,
                Some(Outcome::Ok(_)) if row.stats().is_none() => report.kept += 1,
                Some(Outcome::Ok(_)) => match prefer {
                    Prefer::Error => {
                        return Err(merge_err(format!(
                            "both tables measured {} (choose with --prefer first|last)",
                            row.key
                        )));
                    }
                    Prefer::First => report.kept += 1,
                    Prefer::Last => {
                        self.upsert(row.clone());
                        report.replaced += 1;
                    }
                },
            }
        }
        for s in &other.meta.device.serials {
            if !self.meta.device.serials.contains(s) {
                self.meta.device.serials.push(s.clone());
            }
        }
        for s in &other.meta.spaces {
            if !self.meta.spaces.contains(s) {
                self.meta.spaces.push(*s);
            }
        }
        for s in &other.meta.sr_spaces {
            if !self.meta.sr_spaces.contains(s) {
                self.meta.sr_spaces.push(*s);
            }
        }
        for (k, v) in &other.meta.device_state {
            self.meta
                .device_state
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        for (k, v) in &other.meta.kernel_choices {
            self.meta
                .kernel_choices
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if report.added + report.replaced > 0 {
            self.meta.correction = None;
        }
        Ok(report)
    }
}

/// What a merge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Units new to the base table.
    pub added: usize,
    /// Base rows replaced (failed by measured, or `--prefer last`).
    pub replaced: usize,
    /// Rows of the other table not taken.
    pub kept: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lut::LutRow;
    use crate::lut::tests::synthetic;
    use crate::space::SpaceId;

    fn split(lut: &Lut, at: usize) -> (Lut, Lut) {
        let mut a = Lut::new(lut.meta.clone());
        let mut b = Lut::new(lut.meta.clone());
        b.meta.device.serials = vec!["SER2".into()];
        for (i, r) in lut.rows().iter().enumerate() {
            if i < at {
                a.insert(r.clone()).unwrap()
            } else {
                b.insert(r.clone()).unwrap()
            }
        }
        (a, b)
    }

    #[test]
    fn shards_merge_back_into_the_whole() {
        let whole = synthetic(SpaceId::Moga);
        let (mut a, b) = split(&whole, 60);
        let rep = a
            .merge(Path::new("a"), &b, Path::new("b"), Prefer::Error)
            .unwrap();
        assert_eq!(
            rep,
            MergeReport {
                added: 65,
                replaced: 0,
                kept: 0
            }
        );
        assert_eq!(a.rows(), whole.rows());
        assert_eq!(a.meta.device.serials, ["SER1", "SER2"]);
    }

    #[test]
    fn overlap_needs_a_preference_and_failed_rows_yield() {
        let whole = synthetic(SpaceId::Fairnas);
        let mut a = whole.clone();
        let err = a
            .merge(
                Path::new("a.csv"),
                &whole,
                Path::new("b.csv"),
                Prefer::Error,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot merge b.csv into a.csv: both tables measured stem"),
            "{err}"
        );

        let key = whole.rows()[4].key;
        let mut failed = whole.clone();
        failed.upsert(LutRow {
            outcome: Outcome::Failed {
                error: "timeout".into(),
            },
            ..whole.rows()[4].clone()
        });
        let rep = failed
            .merge(Path::new("a"), &whole, Path::new("b"), Prefer::First)
            .unwrap();
        assert_eq!(rep.replaced, 1);
        assert!(failed.has_measured(&key));
    }

    #[test]
    fn other_devices_are_refused_by_field() {
        let a = synthetic(SpaceId::Fairnas);
        let mut b = a.clone();
        b.meta.backend.version = "31.0.0".into();
        let err = a
            .clone()
            .merge(Path::new("a"), &b, Path::new("b"), Prefer::Last)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("backend.version differs ('30.0.2' vs '31.0.0')"),
            "{err}"
        );
    }

    #[test]
    fn rows_come_to_the_base_tables_reference_unit() {
        let whole = synthetic(SpaceId::Fairnas);
        let (mut a, mut b) = split(&whole, 30);
        let reference = |median_ms: f64| crate::lut::Reference {
            arch: "fairnas:k3e3".into(),
            resolution: 224,
            classes: 1000,
            seed: 0,
            median_ms,
            invocations: 1,
            drift_min_pct: 0.0,
            drift_max_pct: 0.0,
        };
        a.meta.reference = Some(reference(10.0));
        b.meta.reference = Some(reference(20.0));
        let key = b.rows()[0].key;
        a.merge(Path::new("a"), &b, Path::new("b"), Prefer::Error)
            .unwrap();
        let half = whole.get(&key).unwrap().stats().unwrap().median_ms / 2.0;
        assert!((a.get(&key).unwrap().stats().unwrap().median_ms - half).abs() < 1e-12);
        // Another reference network is another unit: refused.
        let (mut c, mut d) = split(&whole, 30);
        c.meta.reference = Some(reference(10.0));
        d.meta.reference = Some(crate::lut::Reference {
            seed: 7,
            ..reference(10.0)
        });
        let err = c
            .merge(Path::new("c"), &d, Path::new("d"), Prefer::Error)
            .unwrap_err()
            .to_string();
        assert!(err.contains("reference differs"), "{err}");
    }
}
