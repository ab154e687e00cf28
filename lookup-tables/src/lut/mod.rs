//! Latency lookup tables: one row per measured unit on one device and backend, with the
//! device, backend and measurement protocol recorded once for the whole table.
//!
//! The file is CSV framed by comment lines, so any CSV tool can read the rows while
//! moga can tell a complete table from a cut one:
//!
//! ```text
//! # moga-lut 2
//! # meta: {"device":{…},"backend":{…},"protocol":{…},…}
//! kind,input_hw,cin,cout,kernel,stride,expansion,se,act,groups,repeats,skip,status,…
//! mbconv,56,24,40,5,2,6,none,relu,-,-,-,ok,0.4121,…
//! # end: 125 rows
//! ```
//!
//! Key fields a kind does not use are `-`. Reading is strict: every problem is an error
//! naming the file, the line and the field; nothing is skipped. See [`file`].

pub mod fidelity;
mod file;
mod merge;
mod predict;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::space::SpaceId;
use crate::unit::UnitKey;

pub use file::{COLUMNS, FORMAT_VERSION};
pub use merge::{MergeReport, Prefer, incompatibility};
pub use predict::{LayerTable, MissingUnit, PartLatency, Prediction};

/// The device a table was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceInfo {
    /// Marketing model, e.g. `Mi MIX 3` (`ro.product.model`), or the host name.
    pub model: String,
    /// Manufacturer (`ro.product.manufacturer`).
    pub manufacturer: String,
    /// SoC or board, e.g. `sdm845`.
    pub soc: String,
    /// GPU as the backend names it (adapter name, GL renderer).
    pub gpu: String,
    /// GPU driver and version.
    pub driver: String,
    /// Operating system, e.g. `Android 10 (API 29)` or `Linux 6.1`.
    pub os: String,
    /// CPU ABI, e.g. `arm64-v8a` or `x86_64`.
    pub abi: String,
    /// Serials of the devices (same model) whose rows the table holds.
    pub serials: Vec<String>,
}

/// The backend that ran the units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendInfo {
    /// `wgpu` or `ort`.
    pub name: String,
    /// Its version (wgpu crate version, ONNX Runtime library version).
    pub version: String,
    /// Backend options that change timings: execution provider, threads, adapter.
    pub options: BTreeMap<String, String>,
}

/// What a latency number in the table means (docs/design.md, the measurement protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocol {
    /// Runs discarded before measuring.
    pub warmup_runs: u32,
    /// Measured runs at least.
    pub min_runs: u32,
    /// Measured runs at most.
    pub max_runs: u32,
    /// Measuring time at least, seconds.
    pub min_seconds: f64,
    /// Measuring time at most, seconds.
    pub max_seconds: f64,
    /// Pause between units, milliseconds.
    pub cooldown_ms: u64,
    /// Which clock the `median_ms` column holds: `wall` or `gpu`.
    pub timer: String,
    /// Adaptive stopping: measuring a unit ended once the 95% confidence interval of
    /// its median was within ± this fraction (after `min_runs`); `None`: fixed counts.
    pub precision: Option<f64>,
    /// Interleaved rounds per runner invocation (1: each model measured in one go).
    pub rounds: u32,
    /// How the rows were measured: `isolated` (each unit alone) or `context` (units
    /// timed node by node inside whole networks of a covering design).
    pub method: String,
    /// Whether each timed run followed an untimed run of the same model after its
    /// reference run (warm pairs); tables written before they existed say `false`, and
    /// networks measured against them are measured as their units were.
    #[serde(default)]
    pub warm_pairs: bool,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            warmup_runs: 10,
            min_runs: 30,
            max_runs: 1000,
            min_seconds: 1.0,
            max_seconds: 10.0,
            cooldown_ms: 0,
            timer: "wall".into(),
            precision: None,
            rounds: 1,
            method: "isolated".into(),
            warm_pairs: true,
        }
    }
}

/// The reference network every measured run was paired with. A device's speed drifts
/// (phones throttle; shared machines are shared), the ratio of a model's time to the
/// reference run beside it much less: rows hold that ratio × `median_ms`, so a table is
/// in the time unit "the reference took `median_ms`", and comparing it with networks
/// measured later against the same reference cancels the drift in between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The architecture, encoded.
    pub arch: String,
    /// Input resolution it was built at.
    pub resolution: u32,
    /// Classes it was built with.
    pub classes: u32,
    /// Seed of its random weights.
    pub seed: u64,
    /// Its median latency over the profiling run that made the table, ms.
    pub median_ms: f64,
    /// Runner invocations that measured it.
    pub invocations: u32,
    /// Lowest per-invocation median, % from `median_ms`: the device's drift while the
    /// table was measured.
    pub drift_min_pct: f64,
    /// Highest per-invocation median, % from `median_ms`.
    pub drift_max_pct: f64,
}

/// How well a table's rows repeat: each measured item's figure from the even rounds
/// against the odd rounds (two interleaved passes over everything).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeatability {
    /// Items with both passes.
    pub items: u32,
    /// Median of |pass 1 − pass 2| / pass 2, %.
    pub median_abs_delta_pct: f64,
    /// 90th percentile of the same, %.
    pub p90_abs_delta_pct: f64,
}

impl Repeatability {
    /// Of (pass 1, pass 2) figures; `None` without any pair.
    pub fn of(pairs: &[(f64, f64)]) -> Option<Repeatability> {
        let mut d: Vec<f64> = pairs
            .iter()
            .filter(|(_, b)| *b > 0.0)
            .map(|(a, b)| 100.0 * ((a - b) / b).abs())
            .filter(|x| x.is_finite())
            .collect();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        let q = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
        Some(Repeatability {
            items: d.len() as u32,
            median_abs_delta_pct: q(0.5),
            p90_abs_delta_pct: q(0.9),
        })
    }
}

/// How an in-context table was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextInfo {
    /// Covering designs (each one a set of networks in which every choice of every
    /// layer appears once).
    pub covering_designs: u32,
    /// Whole networks measured.
    pub networks: u32,
    /// Timed runs of those networks, per-node runs included.
    pub network_runs: u64,
}

/// A correction learned from whole-network runs (`moga lut validate`): predicted
/// latency = `scale` × Σ unit medians + `overhead_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Correction {
    /// `offset` (scale fixed at 1) or `affine` (both fitted); see [`fidelity`].
    pub model: String,
    /// Factor on the sum of unit medians (1 for `offset`).
    pub scale: f64,
    /// Fixed per-network overhead added to the sum, milliseconds (may be negative).
    pub overhead_ms: f64,
    /// Whole networks it was fitted on.
    pub fitted_on: u32,
    /// When it was fitted (UTC, RFC 3339).
    pub fitted_at: String,
    /// RMSPE (%) of the corrected prediction on the networks held out from the fit.
    pub holdout_rmspe: Option<f64>,
    /// How many networks were held out.
    pub holdout_n: u32,
}

impl Default for Correction {
    fn default() -> Self {
        Correction {
            model: "offset".into(),
            scale: 1.0,
            overhead_ms: 0.0,
            fitted_on: 0,
            fitted_at: String::new(),
            holdout_rmspe: None,
            holdout_n: 0,
        }
    }
}

impl Correction {
    /// The corrected latency of a network whose units sum to `units_ms`.
    pub fn apply(&self, units_ms: f64) -> f64 {
        self.scale * units_ms + self.overhead_ms
    }
}

/// Everything recorded once per table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LutMeta {
    /// Spaces the table was profiled for (a table may serve several).
    pub spaces: Vec<SpaceId>,
    /// Super-resolution spaces the table was profiled for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sr_spaces: Vec<crate::sr::SrSpaceId>,
    /// The device.
    pub device: DeviceInfo,
    /// Readable device state before and after profiling (thermal status, clocks,
    /// fixed-performance mode), free-form key → value.
    pub device_state: BTreeMap<String, String>,
    /// The backend.
    pub backend: BackendInfo,
    /// Version of the device-runner that measured.
    pub runner_version: String,
    /// When the table was created (UTC, RFC 3339).
    pub created: String,
    /// The measurement protocol.
    pub protocol: Protocol,
    /// The fitted correction, once `moga lut validate` has run.
    pub correction: Option<Correction>,
    /// The reference network runs were paired with (absent in tables measured without).
    pub reference: Option<Reference>,
    /// Two interleaved passes compared, when the rows were measured in rounds.
    pub repeatability: Option<Repeatability>,
    /// How an in-context table was measured.
    pub context: Option<ContextInfo>,
    /// The GPU convolution kernels each unit ran, as the device's autotuner chose them
    /// (`device-runner bench` reports them): unit (or `network <arch>`, measured in
    /// context) → `node: kernel variant; …`. A
    /// deployment on the same device runs the same choices (the runner remembers them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel_choices: BTreeMap<String, String>,
}

/// Latency statistics of one unit, milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Median.
    pub median_ms: f64,
    /// 10th percentile.
    pub p10_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Standard deviation.
    pub std_ms: f64,
    /// Measured runs.
    pub runs: u32,
    /// Median of GPU time from timestamp queries, where the adapter has them.
    pub gpu_median_ms: Option<f64>,
}

impl LatencyStats {
    /// The same figures in another time unit (× `factor`).
    pub fn scaled(&self, factor: f64) -> LatencyStats {
        LatencyStats {
            median_ms: self.median_ms * factor,
            p10_ms: self.p10_ms * factor,
            p90_ms: self.p90_ms * factor,
            mean_ms: self.mean_ms * factor,
            std_ms: self.std_ms * factor,
            runs: self.runs,
            gpu_median_ms: self.gpu_median_ms.map(|g| g * factor),
        }
    }

    /// Checks that the figures can be real: finite, non-negative, ordered
    /// p10 ≤ median ≤ p90, at least one run. Names the offending column.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let fields = [
            ("median_ms", self.median_ms),
            ("p10_ms", self.p10_ms),
            ("p90_ms", self.p90_ms),
            ("mean_ms", self.mean_ms),
            ("std_ms", self.std_ms),
        ];
        for (name, v) in fields
            .into_iter()
            .chain(self.gpu_median_ms.map(|g| ("gpu_median_ms", g)))
        {
            if !v.is_finite() {
                return Err((name, format!("{v} is not a finite number")));
            }
            if v < 0.0 {
                return Err((name, format!("{v} is negative")));
            }
        }
        if self.p10_ms > self.median_ms {
            return Err((
                "p10_ms",
                format!("{} is above the median {}", self.p10_ms, self.median_ms),
            ));
        }
        if self.p90_ms < self.median_ms {
            return Err((
                "p90_ms",
                format!("{} is below the median {}", self.p90_ms, self.median_ms),
            ));
        }
        if self.runs == 0 {
            return Err(("runs", "a measurement needs at least one run".into()));
        }
        Ok(())
    }
}

/// How measuring a unit ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Measured.
    Ok(LatencyStats),
    /// The runner crashed, timed out or refused the unit; the message says why.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// One row: a unit and its measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LutRow {
    /// The unit.
    pub key: UnitKey,
    /// Its statistics, or why there are none.
    pub outcome: Outcome,
    /// Serial of the device that measured it.
    pub serial: String,
    /// When it was measured, seconds since the Unix epoch.
    pub measured_unix_s: u64,
}

impl LutRow {
    /// The statistics when the unit was measured.
    pub fn stats(&self) -> Option<&LatencyStats> {
        match &self.outcome {
            Outcome::Ok(s) => Some(s),
            Outcome::Failed { .. } => None,
        }
    }
}

/// A latency table: metadata and rows, at most one row per unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lut {
    /// Device, backend, protocol.
    pub meta: LutMeta,
    rows: Vec<LutRow>,
    index: HashMap<UnitKey, usize>,
}

/// Counts for a summary line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LutSummary {
    /// Rows.
    pub rows: usize,
    /// Rows measured.
    pub ok: usize,
    /// Rows failed.
    pub failed: usize,
    /// Sum of measured medians, milliseconds.
    pub total_median_ms: f64,
}

impl Lut {
    /// An empty table.
    pub fn new(meta: LutMeta) -> Lut {
        Lut {
            meta,
            ..Lut::default()
        }
    }

    /// The rows in insertion order.
    pub fn rows(&self) -> &[LutRow] {
        &self.rows
    }

    /// The row of `key`.
    pub fn get(&self, key: &UnitKey) -> Option<&LutRow> {
        self.index.get(key).map(|&i| &self.rows[i])
    }

    /// Whether `key` has been measured successfully.
    pub fn has_measured(&self, key: &UnitKey) -> bool {
        self.get(key).is_some_and(|r| r.stats().is_some())
    }

    /// Adds a row; a second row for the same unit is an error.
    pub fn insert(&mut self, row: LutRow) -> Result<()> {
        if self.index.contains_key(&row.key) {
            return Err(Error::DuplicateUnit {
                unit: row.key.to_string(),
            });
        }
        self.index.insert(row.key, self.rows.len());
        self.rows.push(sanitise(row));
        Ok(())
    }

    /// Adds a row or replaces the unit's row (a re-measurement, or a failed unit that
    /// succeeded on retry). Returns the row it replaced.
    pub fn upsert(&mut self, row: LutRow) -> Option<LutRow> {
        let row = sanitise(row);
        match self.index.get(&row.key) {
            Some(&i) => Some(std::mem::replace(&mut self.rows[i], row)),
            None => {
                self.index.insert(row.key, self.rows.len());
                self.rows.push(row);
                None
            }
        }
    }

    /// Counts of the rows.
    pub fn summary(&self) -> LutSummary {
        let ok: Vec<&LatencyStats> = self.rows.iter().filter_map(LutRow::stats).collect();
        LutSummary {
            rows: self.rows.len(),
            ok: ok.len(),
            failed: self.rows.len() - ok.len(),
            total_median_ms: ok.iter().map(|s| s.median_ms).sum(),
        }
    }
}

/// Error messages and serials end up in single CSV cells and single lines of output:
/// control characters (newlines above all) become spaces.
fn sanitise(mut row: LutRow) -> LutRow {
    let clean = |s: &mut String| {
        if s.chars().any(char::is_control) {
            *s = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
        }
    };
    clean(&mut row.serial);
    if let Outcome::Failed { error } = &mut row.outcome {
        clean(error);
        if error.trim().is_empty() {
            *error = "failed without a message".into();
        }
    }
    row
}

/// `unix_s` as UTC RFC 3339 (`2026-11-27T17:52:19Z`), without a time-zone database.
pub fn utc_rfc3339(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's days_from_civil inverse (civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::space::{Activation, Space};

    /// A table with plausible rows for every unit of `space` (test data, not a
    /// measurement: medians grow with the unit's multiply-adds).
    pub(crate) fn synthetic(space: SpaceId) -> Lut {
        let mut lut = Lut::new(LutMeta {
            spaces: vec![space],
            device: DeviceInfo {
                model: "Test Phone".into(),
                soc: "testsoc".into(),
                serials: vec!["SER1".into()],
                ..DeviceInfo::default()
            },
            backend: BackendInfo {
                name: "wgpu".into(),
                version: "30.0.2".into(),
                ..BackendInfo::default()
            },
            runner_version: "0.1.0".into(),
            created: utc_rfc3339(1_800_000_000),
            ..LutMeta::default()
        });
        for (i, key) in Space::new(space).unit_list().into_iter().enumerate() {
            let m = 0.05 + f64::from(key.cin * key.cout.max(1)) / 1e5 + i as f64 / 1000.0;
            lut.insert(LutRow {
                key,
                outcome: Outcome::Ok(LatencyStats {
                    median_ms: m,
                    p10_ms: m * 0.98,
                    p90_ms: m * 1.05,
                    mean_ms: m * 1.01,
                    std_ms: m * 0.02,
                    runs: 30,
                    gpu_median_ms: (key.kind != crate::unit::UnitKind::Fc).then_some(m * 0.9),
                }),
                serial: "SER1".into(),
                measured_unix_s: 1_800_000_000 + i as u64,
            })
            .unwrap();
        }
        lut
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_rfc3339(1_795_802_339), "2026-11-27T17:58:59Z");
    }

    #[test]
    fn insert_refuses_duplicates_and_upsert_replaces() {
        let mut lut = synthetic(SpaceId::Fairnas);
        let row = lut.rows()[3].clone();
        let err = lut.insert(row.clone()).unwrap_err().to_string();
        assert!(err.contains("already in the table"), "{err}");
        let failed = LutRow {
            outcome: Outcome::Failed {
                error: "line one\nline two".into(),
            },
            ..row
        };
        assert!(lut.upsert(failed).is_some());
        let Outcome::Failed { error } = &lut.get(&lut.rows()[3].key).unwrap().outcome else {
            panic!("not replaced")
        };
        assert_eq!(error, "line one line two");
        assert_eq!(lut.summary().failed, 1);
    }

    #[test]
    fn stats_checks_name_the_column() {
        let ok = LatencyStats {
            median_ms: 1.0,
            p10_ms: 0.9,
            p90_ms: 1.2,
            mean_ms: 1.0,
            std_ms: 0.1,
            runs: 5,
            gpu_median_ms: None,
        };
        assert!(ok.check().is_ok());
        assert_eq!(
            LatencyStats {
                median_ms: f64::NAN,
                ..ok
            }
            .check()
            .unwrap_err()
            .0,
            "median_ms"
        );
        assert_eq!(
            LatencyStats { p10_ms: 1.1, ..ok }.check().unwrap_err().0,
            "p10_ms"
        );
        assert_eq!(
            LatencyStats {
                gpu_median_ms: Some(-1.0),
                ..ok
            }
            .check()
            .unwrap_err()
            .0,
            "gpu_median_ms"
        );
        assert_eq!(
            LatencyStats { runs: 0, ..ok }.check().unwrap_err().0,
            "runs"
        );
        let _ = Activation::None;
    }
}
