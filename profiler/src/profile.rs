//! Profiling: from devices to latency tables, losing nothing.
//!
//! The unit models are made once on the host. Each device is locked, given its runner
//! (and ONNX Runtime for `ort`), and then works through a queue of units shared with the
//! other devices of the same model, a batch at a time: push the batch's models, run
//! `device-runner bench` on them, turn its JSON lines into rows, and write the table
//! (atomically) before taking the next batch. Killing the profiler, losing the device or
//! a runner crash therefore costs at most the batch in flight; `--resume` measures only
//! what the table lacks. A unit the runner crashes or hangs on is measured alone once
//! more and then recorded as failed with the reason, and the run goes on.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use device_runner::backend::{BackendChoice, BackendKind, ExecutionProvider, OptLevel};
use device_runner::onnx::builder::{RandomWeights, export_units};
use indicatif::ProgressBar;
use lookup_tables::lut::{self, BackendInfo, DeviceInfo, LatencyStats, Protocol};
use lookup_tables::{Lut, LutMeta, LutRow, Outcome, Space, UnitKey};
use serde::Serialize;

use crate::device::{Device, DeviceSummary};
use crate::error::{Error, Result};
use crate::lock::DeviceLock;
use crate::{props, runner, shell};

/// The measurement protocol for each unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// Runs discarded first.
    pub warmup: usize,
    /// Runs measured at least.
    pub min_runs: usize,
    /// Runs measured at most.
    pub max_runs: usize,
    /// Seconds of measuring at most.
    pub max_seconds: f64,
    /// Stop once the median is known to ± this fraction (95%).
    pub precision: Option<f64>,
    /// Pause between units, milliseconds.
    pub cooldown_ms: u64,
}

/// What to profile and how.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// The space whose units are measured.
    pub space: Space,
    /// Single-operator units instead of blocks.
    pub ops: bool,
    /// `wgpu` or `ort`.
    pub backend: BackendKind,
    /// The table (one device model) or a folder for one table per model.
    pub output: PathBuf,
    /// Complete an existing table instead of refusing to overwrite it.
    pub resume: bool,
    /// The protocol.
    pub limits: Limits,
    /// Units per runner invocation.
    pub batch: usize,
    /// Seconds one unit may take before it counts as hung.
    pub unit_timeout_s: u64,
    /// Seed of the models' random weights.
    pub seed: u64,
    /// ONNX Runtime execution provider.
    pub ep: ExecutionProvider,
    /// ONNX Runtime threads.
    pub threads: usize,
    /// ONNX Runtime graph optimisation.
    pub opt_level: OptLevel,
    /// wgpu backends to use on the device.
    pub wgpu_backend: BackendChoice,
    /// wgpu adapter by index or name.
    pub adapter: Option<String>,
    /// The runner binary (else the one built for the device's ABI).
    pub runner: Option<PathBuf>,
    /// The ONNX Runtime library for the device (else the one for its ABI).
    pub ort_lib: Option<PathBuf>,
    /// Ask phones for fixed-performance mode while measuring.
    pub fixed_performance: bool,
}

/// What a run did for one device model.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    /// The table written.
    pub lut: PathBuf,
    /// The device model.
    pub model: String,
    /// The devices that measured.
    pub devices: Vec<String>,
    /// Units the table must hold.
    pub units: usize,
    /// Units already measured before this run (`--resume`).
    pub already_measured: usize,
    /// Units measured by this run.
    pub measured: usize,
    /// Units recorded as failed by this run.
    pub failed: usize,
    /// Units still missing (devices lost before the end).
    pub missing: usize,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// Per-device errors that stopped a device early.
    pub device_errors: Vec<String>,
}

/// Shared state of one device model's devices.
struct Group {
    output: PathBuf,
    model: String,
    devices: Vec<String>,
    units: usize,
    already: usize,
    state: Mutex<GroupState>,
}

struct GroupState {
    lut: Lut,
    queue: VecDeque<UnitKey>,
    measured: usize,
    failed: usize,
    errors: Vec<String>,
}

impl Group {
    /// Records rows and writes the table: the checkpoint after every batch.
    fn record(&self, rows: Vec<LutRow>) -> Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::device("?", "group state poisoned"))?;
        for row in rows {
            if row.stats().is_some() {
                st.measured += 1;
            } else {
                st.failed += 1;
            }
            st.lut.upsert(row);
        }
        st.lut.write(&self.output).map_err(Error::from)
    }

    fn take(&self, n: usize) -> Vec<UnitKey> {
        let mut st = self.state.lock().expect("group state poisoned");
        let k = n.min(st.queue.len());
        st.queue.drain(..k).collect()
    }

    fn give_back(&self, units: Vec<UnitKey>) {
        let mut st = self.state.lock().expect("group state poisoned");
        for u in units.into_iter().rev() {
            st.queue.push_front(u);
        }
    }
}

/// A device ready to measure: runner in place, lock held.
pub(crate) struct Prepared {
    pub(crate) device: Device,
    pub(crate) summary: DeviceSummary,
    pub(crate) lock: DeviceLock,
    pub(crate) runner: String,
    pub(crate) ort_lib: Option<String>,
    pub(crate) units_dir: String,
    pub(crate) info: serde_json::Value,
}

fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.is_empty() { "device".into() } else { s }
}

/// Where a device keeps the unit models of this space and seed.
fn units_tag(opts: &ProfileOptions) -> String {
    let o = opts.space.options;
    format!(
        "{}-r{}-c{}-s{}{}",
        opts.space.id,
        o.resolution,
        o.classes,
        opts.seed,
        if opts.ops { "-ops" } else { "" }
    )
}

/// Readable device state (thermal status, temperatures, clocks), for the table.
fn device_state(device: &Device) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match device {
        Device::Local(_) => {
            if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
                out.insert(
                    "loadavg".into(),
                    l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
                );
            }
            if let Ok(g) =
                std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
            {
                out.insert("cpu governor".into(), g.trim().to_string());
            }
        }
        Device::Adb(_) | Device::Direct(_) => {
            if let Ok(o) = device.run(&["dumpsys", "thermalservice"], None, Some(30)) {
                if let Some(s) = props::parse_thermal_status(&o.stdout) {
                    out.insert("thermal status".into(), s);
                }
                if let Some(t) = props::parse_max_temperature(&o.stdout) {
                    out.insert("hottest sensor".into(), t);
                }
            }
            if let Ok(o) = device.run(&["cat", "/sys/class/kgsl/kgsl-3d0/gpuclk"], None, Some(30))
                && o.code == 0
            {
                out.insert("gpu clock hz".into(), o.stdout.trim().to_string());
            }
        }
    }
    out
}

pub(crate) fn prepare(device: Device, opts: &ProfileOptions, staging: &Path) -> Result<Prepared> {
    let summary = device.summary()?;
    let lock = DeviceLock::acquire(&device)?;
    let mut fixed = None;
    let mut result = (|| {
        let abi = if summary.abi.is_empty() {
            runner::host_abi().to_string()
        } else {
            summary.abi.clone()
        };
        // What this device needs from the host, named with the device: with several
        // devices of different ABIs, which one lacks it matters.
        let for_device = |e: Error| Error::device(device.id(), e.to_string());
        let host_runner = runner::runner_for(&abi, opts.runner.as_deref()).map_err(for_device)?;
        let host_lib = match opts.backend {
            BackendKind::Ort => {
                Some(runner::ort_lib_for(&abi, opts.ort_lib.as_deref()).map_err(for_device)?)
            }
            _ => None,
        };
        let (runner_path, lib_path, units_dir) = match &device {
            // This machine runs the host's files in place.
            Device::Local(_) => (
                host_runner.display().to_string(),
                host_lib.map(|p| p.display().to_string()),
                staging.display().to_string(),
            ),
            Device::Adb(_) | Device::Direct(_) => {
                let root = device.work_root();
                let bin = format!("{root}/bin");
                let units = format!("{root}/units/{}", units_tag(opts));
                device.check(&["mkdir", "-p", &bin, &units])?;
                let r = format!("{bin}/device-runner");
                device.push_if_changed(&host_runner, &r)?;
                device.check(&["chmod", "755", &r])?;
                let lib = match host_lib {
                    Some(l) => {
                        let remote = format!("{bin}/libonnxruntime.so");
                        device.push_if_changed(&l, &remote)?;
                        Some(remote)
                    }
                    None => None,
                };
                (r, lib, units)
            }
        };
        let mut argv = vec![runner_path.as_str(), "info", "--json"];
        if let Some(l) = &lib_path {
            argv.extend(["--ort-lib", l.as_str()]);
        }
        let out = device.run(&argv, None, Some(120))?;
        if out.code != 0 {
            return Err(Error::device(
                device.id(),
                format!(
                    "the runner does not start (status {}): {}",
                    out.code,
                    out.stderr.trim()
                ),
            ));
        }
        let info: serde_json::Value = serde_json::from_str(out.stdout.trim()).map_err(|e| {
            Error::device(
                device.id(),
                format!(
                    "`device-runner info` printed no JSON ({e}): {}",
                    out.stdout.trim()
                ),
            )
        })?;
        if opts.fixed_performance && !matches!(device, Device::Local(_)) {
            let r = device.run(
                &["cmd", "power", "set-fixed-performance-mode-enabled", "true"],
                None,
                Some(30),
            )?;
            if r.code != 0 {
                tracing::info!(
                    "device {}: fixed-performance mode is not available ({})",
                    device.id(),
                    r.stderr.trim()
                );
            }
            fixed = Some(r.code == 0);
        }
        Ok((runner_path, lib_path, units_dir, info))
    })();
    if let (Ok((_, _, _, info)), Some(on)) = (&mut result, fixed) {
        info["fixed_performance_mode"] = serde_json::Value::Bool(on);
    }
    match result {
        Ok((runner, ort_lib, units_dir, info)) => Ok(Prepared {
            device,
            summary,
            lock,
            runner,
            ort_lib,
            units_dir,
            info,
        }),
        Err(e) => {
            let _ = lock.release(&device);
            Err(e)
        }
    }
}

/// Gives a phone its normal clock policy back after measuring (asked for in `prepare`).
pub(crate) fn end_fixed_performance(device: &Device, opts: &ProfileOptions) {
    if opts.fixed_performance && !matches!(device, Device::Local(_)) {
        let _ = device.run(
            &[
                "cmd",
                "power",
                "set-fixed-performance-mode-enabled",
                "false",
            ],
            None,
            Some(30),
        );
    }
}

/// The table metadata for a device model, from its first device.
pub(crate) fn meta_for(
    p: &Prepared,
    opts: &ProfileOptions,
    serials: Vec<String>,
) -> Result<LutMeta> {
    let s = &p.summary;
    let info = &p.info;
    let mut options = BTreeMap::new();
    let (version, gpu, driver) = match opts.backend {
        BackendKind::Wgpu => {
            let chosen = info["adapters"]
                .as_array()
                .and_then(|a| match &opts.adapter {
                    Some(want) => match want.parse::<usize>() {
                        Ok(i) => a.get(i),
                        Err(_) => a.iter().find(|x| {
                            x["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_lowercase()
                                .contains(&want.to_lowercase())
                        }),
                    },
                    None => a.first(),
                });
            let chosen = chosen
                .ok_or_else(|| Error::device(p.device.id(), "the runner sees no GPU adapter"))?;
            options.insert(
                "adapter".into(),
                chosen["name"].as_str().unwrap_or_default().to_string(),
            );
            options.insert(
                "wgpu_backend".into(),
                chosen["backend"].as_str().unwrap_or_default().to_string(),
            );
            (
                info["wgpu_version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                chosen["name"].as_str().unwrap_or_default().to_string(),
                chosen["driver_info"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
        _ => {
            let version = info["ort"]["version"].as_str().ok_or_else(|| {
                Error::device(
                    p.device.id(),
                    format!(
                        "ONNX Runtime does not load on it: {}",
                        info["ort_error"].as_str().unwrap_or("?")
                    ),
                )
            })?;
            options.insert(
                "execution_provider".into(),
                format!("{:?}", opts.ep).to_lowercase(),
            );
            options.insert("threads".into(), opts.threads.to_string());
            options.insert(
                "opt_level".into(),
                format!("{:?}", opts.opt_level).to_lowercase(),
            );
            (version.to_string(), s.gpu.clone(), String::new())
        }
    };
    let l = opts.limits;
    Ok(LutMeta {
        spaces: vec![opts.space.id],
        device: DeviceInfo {
            model: s.model.clone(),
            manufacturer: s.manufacturer.clone(),
            soc: s.soc.clone(),
            gpu,
            driver,
            os: s.os.clone(),
            abi: s.abi.clone(),
            serials,
        },
        device_state: BTreeMap::new(),
        backend: BackendInfo {
            name: opts.backend.name().into(),
            version,
            options,
        },
        runner_version: info["runner_version"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        created: lut::utc_rfc3339(lut::unix_now()),
        protocol: Protocol {
            warmup_runs: l.warmup as u32,
            min_runs: l.min_runs as u32,
            max_runs: l.max_runs as u32,
            min_seconds: 0.0,
            max_seconds: l.max_seconds,
            cooldown_ms: l.cooldown_ms,
            timer: "wall".into(),
            precision: l.precision,
        },
        correction: None,
    })
}

pub(crate) fn bench_argv<'a>(
    p: &'a Prepared,
    opts: &'a ProfileOptions,
    models: &'a [String],
    owned: &'a mut Vec<String>,
) -> Vec<&'a str> {
    let l = opts.limits;
    owned.clear();
    owned.extend([
        l.warmup.to_string(),
        l.min_runs.to_string(),
        l.max_runs.to_string(),
        l.max_seconds.to_string(),
        l.cooldown_ms.to_string(),
        opts.threads.to_string(),
    ]);
    owned.push(l.precision.map(|x| x.to_string()).unwrap_or_default());
    let mut argv = vec![
        p.runner.as_str(),
        "bench",
        "--backend",
        opts.backend.name(),
        "--json",
        "--warmup",
        &owned[0],
        "--min-runs",
        &owned[1],
        "--runs",
        &owned[2],
        "--max-seconds",
        &owned[3],
        "--cooldown-ms",
        &owned[4],
    ];
    if l.precision.is_some() {
        argv.extend(["--precision", owned[6].as_str()]);
    }
    match opts.backend {
        BackendKind::Wgpu => {
            argv.extend([
                "--wgpu-backend",
                match opts.wgpu_backend {
                    BackendChoice::All => "all",
                    BackendChoice::Vulkan => "vulkan",
                    BackendChoice::Gl => "gl",
                    BackendChoice::Metal => "metal",
                },
            ]);
            if let Some(a) = &opts.adapter {
                argv.extend(["--adapter", a.as_str()]);
            }
        }
        _ => {
            argv.extend([
                "--threads",
                owned[5].as_str(),
                "--ep",
                match opts.ep {
                    ExecutionProvider::Cpu => "cpu",
                    ExecutionProvider::Xnnpack => "xnnpack",
                    ExecutionProvider::Nnapi => "nnapi",
                },
                "--opt-level",
                match opts.opt_level {
                    OptLevel::Disable => "disable",
                    OptLevel::Basic => "basic",
                    OptLevel::Extended => "extended",
                    OptLevel::Layout => "layout",
                    OptLevel::All => "all",
                },
            ]);
            if let Some(lib) = &p.ort_lib {
                argv.extend(["--ort-lib", lib.as_str()]);
            }
        }
    }
    for m in models {
        argv.extend(["--model", m.as_str()]);
    }
    argv
}

/// Each model's outcome from `device-runner bench --json` output, by the model's file
/// name. Lines that are not JSON objects (a crash's last words, a driver's chatter) are
/// skipped; impossible statistics become failures.
pub fn parse_outcomes(stdout: &str) -> HashMap<String, Outcome> {
    let mut out = HashMap::new();
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let file = v["model"]
            .as_str()
            .and_then(|m| Path::new(m).file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = match v["error"].as_str() {
            Some(e) => Outcome::Failed {
                error: e.to_string(),
            },
            None => {
                let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                let stats = LatencyStats {
                    median_ms: f("wall_median_ms"),
                    p10_ms: f("wall_p10_ms"),
                    p90_ms: f("wall_p90_ms"),
                    mean_ms: f("wall_mean_ms"),
                    std_ms: f("wall_std_ms"),
                    runs: v["runs"].as_u64().unwrap_or(0) as u32,
                    gpu_median_ms: v["gpu_median_ms"].as_f64(),
                };
                match stats.check() {
                    Ok(()) => Outcome::Ok(stats),
                    Err((field, m)) => Outcome::Failed {
                        error: format!("the runner reported an impossible {field}: {m}"),
                    },
                }
            }
        };
        out.insert(file, outcome);
    }
    out
}

/// Rows from bench's JSON lines (`file name → unit` maps results back).
fn parse_results(
    stdout: &str,
    by_file: &HashMap<String, UnitKey>,
    serial: &str,
) -> HashMap<UnitKey, LutRow> {
    let now = lut::unix_now();
    parse_outcomes(stdout)
        .into_iter()
        .filter_map(|(file, outcome)| {
            let key = *by_file.get(&file)?;
            Some((
                key,
                LutRow {
                    key,
                    outcome,
                    serial: serial.to_string(),
                    measured_unix_s: now,
                },
            ))
        })
        .collect()
}

pub(crate) fn exit_reason(code: i32, timeout_s: u64, stderr: &str) -> String {
    let tail: String = stderr
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    let what = match code {
        137 => format!("killed after the {timeout_s} s time limit (hung, or killed)"),
        c if c > 128 => format!("crashed (signal {})", c - 128),
        c => format!("exited with status {c}"),
    };
    if tail.trim().is_empty() {
        format!("the runner {what}")
    } else {
        format!("the runner {what}: {}", tail.trim())
    }
}

/// Measures `units` on the device; units without a result after a failed run are
/// measured alone once more; a unit that fails alone becomes a failed row.
fn measure_batch(
    p: &Prepared,
    opts: &ProfileOptions,
    staging: &Path,
    file_of: &HashMap<UnitKey, String>,
    units: &[UnitKey],
) -> Result<Vec<LutRow>> {
    let mut models = Vec::with_capacity(units.len());
    let mut by_file = HashMap::new();
    for u in units {
        let file = &file_of[u];
        let remote = format!("{}/{file}", p.units_dir);
        if !matches!(p.device, Device::Local(_)) {
            p.device.push_if_changed(&staging.join(file), &remote)?;
        }
        models.push(remote);
        by_file.insert(file.clone(), *u);
    }
    let timeout = opts.unit_timeout_s * units.len() as u64 + 30;
    let mut owned = Vec::new();
    let argv = bench_argv(p, opts, &models, &mut owned);
    let out = p.device.run(&argv, None, Some(timeout))?;
    let mut rows = parse_results(&out.stdout, &by_file, p.device.id());
    let missing: Vec<UnitKey> = units
        .iter()
        .filter(|u| !rows.contains_key(u))
        .copied()
        .collect();
    if !missing.is_empty() {
        if units.len() > 1 {
            for u in missing {
                rows.extend(
                    measure_batch(p, opts, staging, file_of, &[u])?
                        .into_iter()
                        .map(|r| (r.key, r)),
                );
            }
        } else {
            let error = exit_reason(out.code, timeout, &out.stderr);
            rows.insert(
                units[0],
                LutRow {
                    key: units[0],
                    outcome: Outcome::Failed { error },
                    serial: p.device.id().to_string(),
                    measured_unix_s: lut::unix_now(),
                },
            );
        }
    }
    Ok(units.iter().filter_map(|u| rows.remove(u)).collect())
}

fn worker(
    p: &Prepared,
    group: &Group,
    opts: &ProfileOptions,
    staging: &Path,
    file_of: &HashMap<UnitKey, String>,
    bar: &ProgressBar,
) -> Result<()> {
    loop {
        let batch = group.take(opts.batch.max(1));
        if batch.is_empty() {
            return Ok(());
        }
        bar.set_message(format!("{}: {}", p.device.id(), batch[0]));
        match measure_batch(p, opts, staging, file_of, &batch) {
            Ok(rows) => {
                bar.inc(rows.len() as u64);
                group.record(rows)?;
            }
            Err(e) => {
                // The device is gone or broken: its batch goes back for the others.
                group.give_back(batch);
                return Err(e);
            }
        }
    }
}

/// Profiles `opts.space`'s units on `devices`: one table per device model.
pub fn profile(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    bar: &ProgressBar,
) -> Result<Vec<ProfileReport>> {
    let start = Instant::now();
    if !matches!(opts.backend, BackendKind::Wgpu | BackendKind::Ort) {
        return Err(Error::Missing {
            what: "backend".into(),
            message: "profiling measures wgpu or ort".into(),
        });
    }
    let keys = if opts.ops {
        opts.space.op_unit_list()
    } else {
        opts.space.unit_list()
    };
    let staging_dir = std::env::temp_dir().join(format!(
        "moga-profile-{}-{}",
        std::process::id(),
        shell::nonce()
    ));
    let index = export_units(&staging_dir, &keys, &mut RandomWeights::new(opts.seed))?;
    let file_of: HashMap<UnitKey, String> = index.into_iter().map(|u| (u.key, u.file)).collect();
    let result = profile_staged(devices, opts, &keys, &staging_dir, &file_of, bar, start);
    let _ = std::fs::remove_dir_all(&staging_dir);
    result
}

fn profile_staged(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    keys: &[UnitKey],
    staging: &Path,
    file_of: &HashMap<UnitKey, String>,
    bar: &ProgressBar,
    start: Instant,
) -> Result<Vec<ProfileReport>> {
    // Prepare every device first (lock, runner, info), so nothing is measured before
    // all tables are known to be consistent.
    let mut prepared: Vec<Prepared> = Vec::new();
    for d in devices {
        match prepare(d, opts, staging) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                for p in prepared {
                    let _ = p.lock.release(&p.device);
                }
                return Err(e);
            }
        }
    }
    let mut by_model: BTreeMap<(String, String), Vec<Prepared>> = BTreeMap::new();
    for p in prepared {
        by_model
            .entry((p.summary.model.clone(), p.summary.soc.clone()))
            .or_default()
            .push(p);
    }
    let several = by_model.len() > 1;
    let mut groups = Vec::new();
    let mut setup_error = None;
    for ((model, _), members) in &by_model {
        let output = if several {
            opts.output
                .join(format!("{}-{}.csv", slug(model), opts.backend.name()))
        } else {
            opts.output.clone()
        };
        match make_group(&output, model, members, opts, keys) {
            Ok(g) => groups.push(g),
            Err(e) => {
                setup_error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = setup_error {
        for p in by_model.into_values().flatten() {
            let _ = p.lock.release(&p.device);
        }
        return Err(e);
    }
    bar.set_length(
        groups
            .iter()
            .map(|g| g.state.lock().map_or(0, |s| s.queue.len()) as u64)
            .sum(),
    );
    std::thread::scope(|scope| {
        for (group, members) in groups.iter().zip(by_model.values()) {
            for p in members {
                scope.spawn(move || {
                    if let Err(e) = worker(p, group, opts, staging, file_of, bar) {
                        bar.println(format!("moga: device {} stopped: {e}", p.device.id()));
                        if let Ok(mut st) = group.state.lock() {
                            st.errors.push(format!("{}: {e}", p.device.id()));
                        }
                    }
                });
            }
        }
    });
    let mut reports = Vec::new();
    for (group, members) in groups.iter().zip(by_model.into_values()) {
        let mut st = group
            .state
            .lock()
            .map_err(|_| Error::device("?", "group state poisoned"))?;
        for p in members {
            for (k, v) in device_state(&p.device) {
                st.lut
                    .meta
                    .device_state
                    .insert(format!("{} after: {k}", p.device.id()), v);
            }
            end_fixed_performance(&p.device, opts);
            if let Err(e) = p.lock.release(&p.device) {
                st.errors
                    .push(format!("{}: releasing the lock: {e}", p.device.id()));
            }
        }
        st.lut.write(&group.output)?;
        let missing = st
            .lut
            .missing(keys.iter())
            .iter()
            .filter(|m| m.failed.is_none())
            .count();
        reports.push(ProfileReport {
            lut: group.output.clone(),
            model: group.model.clone(),
            devices: group.devices.clone(),
            units: group.units,
            already_measured: group.already,
            measured: st.measured,
            failed: st.failed,
            missing,
            seconds: start.elapsed().as_secs_f64(),
            device_errors: st.errors.clone(),
        });
    }
    Ok(reports)
}

fn make_group(
    output: &Path,
    model: &str,
    members: &[Prepared],
    opts: &ProfileOptions,
    keys: &[UnitKey],
) -> Result<Group> {
    let serials: Vec<String> = members.iter().map(|p| p.device.id().to_string()).collect();
    let mut meta = meta_for(&members[0], opts, serials.clone())?;
    for p in &members[1..] {
        let other = meta_for(p, opts, serials.clone())?;
        if let Some((field, a, b)) = lut::incompatibility(&meta, &other) {
            return Err(Error::device(
                p.device.id(),
                format!(
                    "differs from {} in {field} ('{a}' vs '{b}'); profile it into its own table",
                    members[0].device.id()
                ),
            ));
        }
    }
    for p in members {
        for (k, v) in device_state(&p.device) {
            meta.device_state
                .insert(format!("{} before: {k}", p.device.id()), v);
        }
        if let Some(on) = p.info["fixed_performance_mode"].as_bool() {
            meta.device_state.insert(
                format!("{} fixed-performance mode", p.device.id()),
                if on { "on" } else { "not available" }.into(),
            );
        }
    }
    let lut = if output.exists() {
        if !opts.resume {
            return Err(Error::Table {
                path: output.to_path_buf(),
                message: "already exists: pass --resume to complete it, or choose another file"
                    .into(),
            });
        }
        let mut existing = Lut::read(output)?;
        if let Some((field, a, b)) = lut::incompatibility(&existing.meta, &meta) {
            return Err(Error::Table {
                path: output.to_path_buf(),
                message: format!(
                    "was measured with another {field} ('{a}', now '{b}'); it cannot be resumed with these settings"
                ),
            });
        }
        for s in &serials {
            if !existing.meta.device.serials.contains(s) {
                existing.meta.device.serials.push(s.clone());
            }
        }
        if !existing.meta.spaces.contains(&opts.space.id) {
            existing.meta.spaces.push(opts.space.id);
        }
        existing.meta.device_state.extend(meta.device_state);
        existing
    } else {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Lut::new(meta)
    };
    let queue: VecDeque<UnitKey> = keys
        .iter()
        .filter(|k| !lut.has_measured(k))
        .copied()
        .collect();
    let already = keys.len() - queue.len();
    lut.write(output)?;
    Ok(Group {
        output: output.to_path_buf(),
        model: model.to_string(),
        devices: serials,
        units: keys.len(),
        already,
        state: Mutex::new(GroupState {
            lut,
            queue,
            measured: 0,
            failed: 0,
            errors: Vec::new(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_back_to_units() {
        let keys = lookup_tables::Space::new(lookup_tables::SpaceId::Fairnas).unit_list();
        let by_file: HashMap<String, UnitKey> = [
            ("0000-stem.onnx".to_string(), keys[0]),
            ("0001-separable.onnx".to_string(), keys[1]),
            ("0002-mbconv.onnx".to_string(), keys[2]),
        ]
        .into();
        let out = concat!(
            "{\"model\":\"/data/local/tmp/moga/units/x/0000-stem.onnx\",\"runs\":30,\"wall_median_ms\":1.5,\"wall_p10_ms\":1.4,\"wall_p90_ms\":1.7,\"wall_mean_ms\":1.55,\"wall_std_ms\":0.1,\"gpu_median_ms\":1.2}\n",
            "{\"model\":\"/data/local/tmp/moga/units/x/0001-separable.onnx\",\"backend\":\"wgpu\",\"error\":\"node 'a' (Conv): too large\"}\n",
            "warning: something on stdout\n"
        );
        let rows = parse_results(out, &by_file, "SER");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[&keys[0]].stats().unwrap().gpu_median_ms, Some(1.2));
        assert!(
            matches!(&rows[&keys[1]].outcome, Outcome::Failed { error } if error.contains("too large"))
        );
        assert!(!rows.contains_key(&keys[2]));
    }

    #[test]
    fn exit_reasons_say_what_happened() {
        assert!(exit_reason(137, 40, "").contains("40 s time limit"));
        assert!(exit_reason(139, 40, "x\nSegmentation fault").contains("signal 11"));
        assert_eq!(slug("Pixel 7 Pro"), "pixel-7-pro");
    }
}
