//! Whole networks on a device, measured by the same runner, backend options and
//! protocol as the units of a table: what `moga deploy` and `moga lut validate` compare
//! a table's predictions with.
//!
//! The device is locked and prepared exactly as for profiling; models go to
//! `<work root>/networks/` (or run in place on `local`), a batch per runner invocation.
//! A network the runner crashes or hangs on is measured alone once more and then
//! reported as failed with the reason; the others are still measured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use lookup_tables::Outcome;
use lookup_tables::lut::{BackendInfo, DeviceInfo};
use serde::Serialize;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::profile::{
    Prepared, ProfileOptions, bench_argv, end_fixed_performance, exit_reason, meta_for,
    parse_outcomes, prepare,
};

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
    /// The statistics, or why there are none.
    #[serde(flatten)]
    pub outcome: Outcome,
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
    /// Wall time of the call, seconds.
    pub seconds: f64,
}

/// Measures `models` whole on `device` with `opts`' backend, options and protocol
/// (`opts.space`, `output` and `resume` are not used).
pub fn measure_networks(
    device: Device,
    opts: &ProfileOptions,
    models: &[NetworkModel],
    bar: &ProgressBar,
) -> Result<NetworkRun> {
    let start = Instant::now();
    let mut by_file: HashMap<String, usize> = HashMap::new();
    for (i, m) in models.iter().enumerate() {
        let file = m
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Missing {
                what: "model file".into(),
                message: format!("{} names no file", m.file.display()),
            })?;
        if by_file.insert(file.clone(), i).is_some() {
            return Err(Error::Missing {
                what: "model file".into(),
                message: format!("two models are called {file}: give them different names"),
            });
        }
    }
    let parent = models
        .first()
        .and_then(|m| m.file.parent())
        .unwrap_or(Path::new("."));
    let p = prepare(device, opts, parent)?;
    let result = measure_prepared(&p, opts, models, bar);
    end_fixed_performance(&p.device, opts);
    let meta = meta_for(&p, opts, vec![p.device.id().to_string()]);
    let id = p.device.id().to_string();
    let released = p.lock.release(&p.device);
    let results = result?;
    released?;
    let meta = meta?;
    Ok(NetworkRun {
        device_id: id,
        device: meta.device,
        backend: meta.backend,
        results,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn measure_prepared(
    p: &Prepared,
    opts: &ProfileOptions,
    models: &[NetworkModel],
    bar: &ProgressBar,
) -> Result<Vec<NetworkMeasurement>> {
    let remote_dir = match p.device {
        Device::Local(_) => None,
        _ => {
            let dir = format!("{}/networks", p.device.work_root());
            p.device.check(&["mkdir", "-p", &dir])?;
            Some(dir)
        }
    };
    let mut paths = Vec::with_capacity(models.len());
    for m in models {
        let path = match &remote_dir {
            None => m.file.display().to_string(),
            Some(dir) => {
                let file = m.file.file_name().map(|f| f.to_string_lossy().into_owned());
                let remote = format!("{dir}/{}", file.unwrap_or_default());
                p.device.push_if_changed(&m.file, &remote)?;
                remote
            }
        };
        paths.push(path);
    }
    let mut state: Vec<Option<Outcome>> = vec![None; models.len()];
    for chunk in (0..models.len())
        .collect::<Vec<_>>()
        .chunks(opts.batch.max(1))
    {
        bar.set_message(format!("{}: {}", p.device.id(), models[chunk[0]].name));
        measure_batch(p, opts, models, &paths, chunk, &mut state)?;
        bar.inc(chunk.len() as u64);
    }
    Ok(models
        .iter()
        .zip(state)
        .map(|(m, o)| NetworkMeasurement {
            name: m.name.clone(),
            outcome: o.unwrap_or(Outcome::Failed {
                error: "not measured".into(),
            }),
        })
        .collect())
}

/// Runs `which` in one invocation; what has no result is measured alone once more.
fn measure_batch(
    p: &Prepared,
    opts: &ProfileOptions,
    models: &[NetworkModel],
    paths: &[String],
    which: &[usize],
    state: &mut [Option<Outcome>],
) -> Result<()> {
    let list: Vec<String> = which.iter().map(|&i| paths[i].clone()).collect();
    let mut owned = Vec::new();
    let argv = bench_argv(p, opts, &list, &mut owned);
    let timeout = opts.unit_timeout_s * which.len() as u64 + 30;
    let out = p.device.run(&argv, None, Some(timeout))?;
    let mut found = parse_outcomes(&out.stdout);
    let mut missing = Vec::new();
    for &i in which {
        let file = models[i]
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        match found.remove(&file) {
            Some(o) => state[i] = Some(o),
            None => missing.push(i),
        }
    }
    if which.len() > 1 {
        for i in missing {
            measure_batch(p, opts, models, paths, &[i], state)?;
        }
    } else if let Some(&i) = missing.first() {
        state[i] = Some(Outcome::Failed {
            error: exit_reason(out.code, timeout, &out.stderr),
        });
    }
    Ok(())
}
