//! Whole networks on a device, measured by the same runner, backend options and
//! protocol as the units of a table, and against the table's reference network: what
//! `moga deploy` and `moga lut validate` compare a table's predictions with.
//!
//! All networks of a call are measured in one invocation, in interleaved rounds (unless
//! `--batch` splits them), so they share the device's state; with a reference each one
//! is also a ratio to it, which is what makes a table measured an hour ago comparable
//! with the device now. A network the runner crashes or hangs on is measured alone once
//! more and then reported as failed with the reason; the others are still measured.
//!
//! The whole call is repeated in several invocations (processes), and each network's
//! figure is the mean of theirs: a process's own memory layout moved a network's ratio
//! to the reference by about 0.7 % here from one invocation to the next (a few networks
//! by 10 %), which no number of runs inside one invocation averages away.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use lookup_tables::Outcome;
use lookup_tables::lut::{BackendInfo, DeviceInfo, LatencyStats, Reference};
use serde::Serialize;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::measure::{self, Settings};
use crate::meta::meta_for;
use crate::prepare::prepare;
use crate::profile::{ProfileOptions, staging};
use crate::reference::{ReferenceNet, reference_median};

/// One model to measure.
#[derive(Clone, Debug)]
pub struct NetworkModel {
    /// What to call it in the results (an architecture encoding, a preset name).
    pub name: String,
    /// The ONNX file on this machine; file names must differ within one call.
    pub file: PathBuf,
}

/// One network's measurement.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkMeasurement {
    /// The name given.
    pub name: String,
    /// In the table's time unit (its ratio to the reference × the table's reference
    /// median) when measured against a reference; else as measured.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// As measured now, milliseconds (what the device takes at its current speed).
    pub now: Option<LatencyStats>,
    /// The even and the odd rounds' figures (two interleaved passes).
    pub passes: Option<(f64, f64)>,
}

/// The reference now against the table.
#[derive(Clone, Debug, Serialize)]
pub struct ReferenceNow {
    /// The reference's median in this call, ms.
    pub now_ms: f64,
    /// The table's unit: the reference's median when the table was measured, ms.
    pub table_ms: f64,
    /// How much slower (+) or faster the device is now than then, %.
    pub drift_pct: f64,
}

/// What one call measured, and where.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkRun {
    /// The device id.
    pub device_id: String,
    /// The device, as a table records it.
    pub device: DeviceInfo,
    /// The backend, its version and options, as a table records them.
    pub backend: BackendInfo,
    /// Each network, in the order given.
    pub results: Vec<NetworkMeasurement>,
    /// The reference, when the table has one.
    pub reference: Option<ReferenceNow>,
    /// Wall time of the call, seconds.
    pub seconds: f64,
}

/// Measures `models` whole on `device` with `opts`' backend, options and protocol,
/// against `reference` (a table's) when given, in `invocations` runner invocations
/// (at least one; each a shuffled order of its own). The bar counts networks ×
/// invocations.
pub fn measure_networks(
    device: Device,
    opts: &ProfileOptions,
    models: &[NetworkModel],
    reference: Option<&Reference>,
    invocations: usize,
    bar: &ProgressBar,
) -> Result<NetworkRun> {
    let start = Instant::now();
    let mut seen = std::collections::HashSet::new();
    for m in models {
        let file = m
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Missing {
                what: "model file".into(),
                message: format!("{} names no file", m.file.display()),
            })?;
        if file == "reference.onnx" || !seen.insert(file.clone()) {
            return Err(Error::Missing {
                what: "model file".into(),
                message: format!("two models are called {file}: give them different names"),
            });
        }
    }
    let staging = staging("reference")?;
    let reference_file = reference
        .map(|r| ReferenceNet::recorded(r)?.write(staging.path()))
        .transpose()?;
    let parent = models
        .first()
        .and_then(|m| m.file.parent())
        .unwrap_or(Path::new("."));
    let p = prepare(device, opts, parent, "networks")?;
    let invocations = invocations.max(1);
    bar.set_length((models.len() * invocations) as u64);
    let result = (|| -> Result<Vec<Vec<measure::Outcome>>> {
        let settings = Settings {
            reference: reference_file.as_deref().map(|f| p.place(f)).transpose()?,
            per_node: false,
        };
        let paths: Vec<String> = models
            .iter()
            .map(|m| p.place(&m.file))
            .collect::<Result<_>>()?;
        let mut outcomes: Vec<Vec<measure::Outcome>> = vec![Vec::new(); models.len()];
        for k in 0..invocations {
            let mut opts = opts.clone();
            opts.bench.seed = opts.bench.seed.wrapping_add(k as u64);
            let mut i = 0;
            for chunk in paths.chunks(opts.batch.unwrap_or(paths.len()).max(1)) {
                bar.set_message(format!(
                    "{}: {} networks, invocation {} of {invocations}",
                    p.device.id(),
                    chunk.len(),
                    k + 1
                ));
                for o in measure::measure(&p, &opts, chunk, &settings)? {
                    outcomes[i].push(o);
                    i += 1;
                }
                bar.inc(chunk.len() as u64);
            }
        }
        Ok(outcomes)
    })();
    let meta = meta_for(&p, opts, vec![p.device.id().to_string()]);
    let id = p.device.id().to_string();
    let released = p.release(opts);
    let outcomes = result?;
    released?;
    let meta = meta?;
    let records: Vec<_> = outcomes
        .iter()
        .flatten()
        .filter_map(|o| o.as_ref().ok())
        .collect();
    let reference_now = match (reference, reference_median(&records)) {
        (Some(r), Some(now_ms)) => Some(ReferenceNow {
            now_ms,
            table_ms: r.median_ms,
            drift_pct: 100.0 * (now_ms - r.median_ms) / r.median_ms,
        }),
        _ => None,
    };
    let unit = reference.map(|r| r.median_ms);
    let results = models
        .iter()
        .zip(outcomes)
        .map(|(m, tries)| {
            let ok: Vec<_> = tries.iter().filter_map(|o| o.as_ref().ok()).collect();
            let (outcome, now, passes) = if ok.is_empty() {
                let error = tries
                    .into_iter()
                    .find_map(Result::err)
                    .unwrap_or_else(|| "not measured".into());
                (Outcome::Failed { error }, None, None)
            } else {
                (
                    match measure::latency_of(&ok, unit) {
                        Ok(s) => Outcome::Ok(s),
                        Err(error) => Outcome::Failed { error },
                    },
                    measure::latency_of(&ok, None).ok(),
                    measure::passes_of(&ok),
                )
            };
            NetworkMeasurement {
                name: m.name.clone(),
                outcome,
                now,
                passes,
            }
        })
        .collect();
    Ok(NetworkRun {
        device_id: id,
        device: meta.device,
        backend: meta.backend,
        results,
        reference: reference_now,
        seconds: start.elapsed().as_secs_f64(),
    })
}
