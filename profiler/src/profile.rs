//! Profiling: from devices to latency tables, losing nothing.
//!
//! Two ways of measuring what a unit costs:
//!
//! - `isolated`: every unit is a model of its own, measured alone;
//! - `context` ([`crate::context`]): whole networks of a covering design are measured
//!   node by node, and each unit's row is what it cost inside those networks (cache
//!   state, layout conversions, fusion with its neighbours included).
//!
//! Either way the models are made once on the host, each device is locked and given its
//! runner, and the devices of one model share a queue of work, a batch per runner
//! invocation; each batch's results are written (atomically) before the next is taken,
//! so killing the profiler or losing a device costs at most the batch in flight and
//! `--resume` measures only what the table lacks. Every run is paired with the space's
//! reference network ([`crate::reference`]) and measured in interleaved rounds, so the
//! device's drift does not end up in the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use device_runner::backend::BackendKind;
use device_runner::onnx::builder::{RandomWeights, export_units};
use device_runner::protocol::{BenchOptions, GpuArgs, OrtArgs};
use device_runner::scratch::ScratchDir;
use indicatif::ProgressBar;
use lookup_tables::lut::{self, Repeatability};
use lookup_tables::{Lut, LutMeta, LutRow, Outcome, Space, SrSpaceId, UnitKey};
use serde::Serialize;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::measure::{self, Settings};
use crate::meta::meta_for;
use crate::prepare::{Prepared, device_state, prepare};
use crate::reference::{ReferenceNet, Unit, reference_median};
use crate::schedule::{self, Ledger, Shared};

/// How units are measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Each unit alone.
    Isolated,
    /// Units timed node by node inside whole networks of a covering design.
    Context,
}

/// What a table is profiled for: the space whose units it holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A classification space at its resolution and classes.
    Space(Space),
    /// A super-resolution space at a `side`×`side` low-resolution input.
    Sr {
        /// The space.
        space: SrSpaceId,
        /// The input's side, pixels.
        side: u32,
    },
}

impl Target {
    /// The units a complete table holds: blocks, or single operators with `ops`
    /// (super-resolution cells are measured whole either way).
    pub fn unit_list(&self, ops: bool) -> Vec<UnitKey> {
        match self {
            Target::Space(s) if ops => s.op_unit_list(),
            Target::Space(s) => s.unit_list(),
            Target::Sr { space, side } => space.unit_list(*side),
        }
    }

    /// The reference network of a new table.
    pub fn reference(&self, seed: u64) -> ReferenceNet {
        match self {
            Target::Space(s) => ReferenceNet::for_space(s, seed),
            Target::Sr { space, side } => ReferenceNet::for_sr(*space, *side, seed),
        }
    }

    /// The classification space, for what only classification networks have (covering
    /// designs); an error names what needed it.
    pub fn space(&self, what: &str) -> Result<&Space> {
        match self {
            Target::Space(s) => Ok(s),
            Target::Sr { space, .. } => Err(Error::Missing {
                what: what.into(),
                message: format!(
                    "is not available for the super-resolution space {space}: measure its units isolated"
                ),
            }),
        }
    }

    /// Records the space in a table's metadata.
    pub fn record(&self, meta: &mut LutMeta) {
        match self {
            Target::Space(s) if !meta.spaces.contains(&s.id) => meta.spaces.push(s.id),
            Target::Sr { space, .. } if !meta.sr_spaces.contains(space) => {
                meta.sr_spaces.push(*space)
            }
            _ => {}
        }
    }

    /// A short name for folders: `fairnas-r224-c1000`, `falsr-lr48`.
    pub fn slug(&self) -> String {
        match self {
            Target::Space(s) => {
                format!("{}-r{}-c{}", s.id, s.options.resolution, s.options.classes)
            }
            Target::Sr { space, side } => format!("{space}-lr{side}"),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Space(s) => write!(f, "{}", s.id),
            Target::Sr { space, side } => write!(f, "{space} at {side}x{side}"),
        }
    }
}

/// What to profile and how.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// The space whose units are measured.
    pub target: Target,
    /// Single-operator units instead of blocks (isolated only).
    pub ops: bool,
    /// Only the units whose name matches one of these patterns (`*` wildcards; isolated
    /// only); empty: all.
    pub only: Vec<String>,
    /// Isolated units or units in context.
    pub method: Method,
    /// `wgpu` or `ort`.
    pub backend: BackendKind,
    /// The table (one device model) or a folder for one table per model.
    pub output: PathBuf,
    /// Complete an existing table instead of refusing to overwrite it.
    pub resume: bool,
    /// The runner's measurement protocol (its reference and per-node flags are set by
    /// the profiler for each invocation).
    pub bench: BenchOptions,
    /// GPU choice on the device.
    pub gpu: GpuArgs,
    /// ONNX Runtime choice on the device (its library is the one pushed).
    pub ort: OrtArgs,
    /// Pair every run with the space's reference network.
    pub reference: bool,
    /// Covering designs measured by the context method.
    pub designs: usize,
    /// Models per runner invocation (and per checkpoint); `None`: 8 units, or one
    /// covering design of networks.
    pub batch: Option<usize>,
    /// Seconds one model may take before it counts as hung.
    pub unit_timeout_s: u64,
    /// Seed of the models' random weights (and of the covering designs).
    pub seed: u64,
    /// The runner binary (else the one built for the device's ABI).
    pub runner: Option<PathBuf>,
    /// The ONNX Runtime library for the device (else the one for its ABI).
    pub ort_lib: Option<PathBuf>,
    /// Ask phones for fixed-performance mode while measuring.
    pub fixed_performance: bool,
    /// How long a device that went away mid-run is waited for before it stops.
    pub wait_device: std::time::Duration,
    /// `--max-temp`/`--cool-down`: wait for a hot device before each batch.
    pub thermal: Option<crate::thermal::ThermalGuard>,
    /// `--throttle-check`: measure a throttled batch again after a cool-down.
    pub throttle_check: Option<crate::thermal::ThrottleCheck>,
}

/// What a run did for one device model.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    /// The table written.
    pub lut: PathBuf,
    /// How it was measured.
    pub method: Method,
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
    /// Units recorded as failed by this run (isolated), or networks that failed
    /// (context).
    pub failed: usize,
    /// Units still missing (devices lost before the end).
    pub missing: usize,
    /// Whole networks measured (context).
    pub networks: usize,
    /// Timed runs of models this run made (reference runs not counted).
    pub runs: u64,
    /// The reference's drift over this run, % (lowest, highest invocation median
    /// against the table's unit).
    pub drift_pct: Option<(f64, f64)>,
    /// Two interleaved passes compared.
    pub repeatability: Option<Repeatability>,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// Per-device errors that stopped a device early.
    pub device_errors: Vec<String>,
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

/// Where a device keeps this run's models: per space, shape, seed and kind of model.
fn work_folder(opts: &ProfileOptions) -> String {
    format!(
        "{}/{}-s{}",
        match (opts.method, opts.ops) {
            (Method::Context, _) => "context",
            (Method::Isolated, true) => "ops",
            (Method::Isolated, false) => "units",
        },
        opts.target.slug(),
        opts.seed,
    )
}

/// A staging folder on the host (`moga-<what>-…` in the temporary folder), removed
/// when dropped or when the process is interrupted.
pub(crate) fn staging(what: &str) -> Result<ScratchDir> {
    ScratchDir::new(what).map_err(|e| Error::io(std::env::temp_dir(), e))
}

/// Prepares every device (nothing is measured before all are ready), grouped by model.
pub(crate) fn prepare_groups(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    staging: &Path,
) -> Result<BTreeMap<(String, String), Vec<Prepared>>> {
    let folder = work_folder(opts);
    let mut prepared: Vec<Prepared> = Vec::new();
    for d in devices {
        match prepare(d, opts, staging, &folder) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                for p in prepared {
                    let _ = p.release(opts);
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
    Ok(by_model)
}

/// The table of one device model: a new one, or (with `--resume`) the existing one
/// checked to have been measured the same way.
pub(crate) fn open_table(
    output: &Path,
    members: &[Prepared],
    opts: &ProfileOptions,
) -> Result<Lut> {
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
        if let Some(on) = p.fixed_performance {
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
        // The reference is the table's own (checked below); the rest must match.
        meta.reference.clone_from(&existing.meta.reference);
        if let Some((field, a, b)) = lut::incompatibility(&existing.meta, &meta) {
            return Err(Error::Table {
                path: output.to_path_buf(),
                message: format!(
                    "was measured with another {field} ('{a}', now '{b}'); it cannot be resumed with these settings"
                ),
            });
        }
        // A table killed before its first batch finished has no reference recorded
        // yet, however it was started: with nothing measured, this run measures it.
        let nothing_measured = !existing.rows().iter().any(|r| r.stats().is_some());
        let pending = existing.meta.reference.is_none() && opts.reference && nothing_measured;
        if existing.meta.reference.is_some() != opts.reference && !pending {
            return Err(Error::Table {
                path: output.to_path_buf(),
                message: format!(
                    "was measured {} a reference network; resume it {} --no-reference",
                    if opts.reference { "without" } else { "with" },
                    if opts.reference { "with" } else { "without" }
                ),
            });
        }
        for s in &serials {
            if !existing.meta.device.serials.contains(s) {
                existing.meta.device.serials.push(s.clone());
            }
        }
        opts.target.record(&mut existing.meta);
        existing.meta.device_state.extend(meta.device_state);
        existing
    } else {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Lut::new(meta)
    };
    lut.write(output)?;
    Ok(lut)
}

/// Profiles `opts.space` on `devices`: one table per device model.
pub fn profile(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    bar: &ProgressBar,
) -> Result<Vec<ProfileReport>> {
    if !matches!(opts.backend, BackendKind::Wgpu | BackendKind::Ort) {
        return Err(Error::Missing {
            what: "backend".into(),
            message: "profiling measures wgpu or ort".into(),
        });
    }
    if opts.ops && opts.method == Method::Context {
        return Err(Error::Missing {
            what: "method".into(),
            message: "single-operator tables (--ops) are measured isolated (--method isolated)"
                .into(),
        });
    }
    match opts.method {
        Method::Isolated => isolated(devices, opts, bar),
        Method::Context => crate::context::profile(devices, opts, bar),
    }
}

/// The isolated method's ledger: rows straight into the table.
struct UnitLedger {
    lut: Lut,
    output: PathBuf,
    unit: Unit,
    measured: Vec<UnitKey>,
    failed: usize,
    runs: u64,
    passes: Vec<(f64, f64)>,
}

impl Ledger<(UnitKey, measure::Outcome)> for UnitLedger {
    fn record(&mut self, device: &str, results: Vec<(UnitKey, measure::Outcome)>) -> Result<()> {
        let records: Vec<_> = results
            .iter()
            .filter_map(|(_, o)| o.as_ref().ok())
            .collect();
        self.unit
            .observe(&mut self.lut.meta, reference_median(&records));
        let now = lut::unix_now();
        for (key, outcome) in results {
            let outcome = match outcome {
                Ok(r) => {
                    self.runs += r.runs as u64;
                    self.passes.extend(measure::passes(&r));
                    if let Some(choices) = measure::kernel_choices(&r) {
                        self.lut
                            .meta
                            .kernel_choices
                            .insert(key.to_string(), choices);
                    }
                    match measure::latency(&r, self.unit.nominal_ms) {
                        Ok(s) => Outcome::Ok(s),
                        Err(error) => Outcome::Failed { error },
                    }
                }
                Err(error) => Outcome::Failed { error },
            };
            match outcome {
                Outcome::Ok(_) => self.measured.push(key),
                Outcome::Failed { .. } => self.failed += 1,
            }
            self.lut.upsert(LutRow {
                key,
                outcome,
                serial: device.to_string(),
                measured_unix_s: now,
            });
        }
        self.lut.write(&self.output).map_err(Error::from)
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut tail) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for p in middle {
        match tail.find(p) {
            Some(at) => tail = &tail[at + p.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

fn isolated(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    bar: &ProgressBar,
) -> Result<Vec<ProfileReport>> {
    let start = Instant::now();
    let mut keys = opts.target.unit_list(opts.ops);
    if !opts.only.is_empty() {
        keys.retain(|k| {
            let name = k.to_string();
            opts.only.iter().any(|p| matches_pattern(p, &name))
        });
        if keys.is_empty() {
            return Err(Error::Missing {
                what: format!("--only {}", opts.only.join(" --only ")),
                message: format!(
                    "no unit of the space matches (units are named like '{}')",
                    opts.target
                        .unit_list(false)
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            });
        }
    }
    let staging = staging("profile")?;
    let index = export_units(staging.path(), &keys, &mut RandomWeights::new(opts.seed))?;
    let file_of: BTreeMap<UnitKey, PathBuf> = index
        .into_iter()
        .map(|u| (u.key, staging.path().join(u.file)))
        .collect();
    let by_model = prepare_groups(devices, opts, staging.path())?;
    let result = (|| {
        let mut ledgers = Vec::new();
        let several = by_model.len() > 1;
        for ((model, _), members) in &by_model {
            let output = output_for(opts, several, model);
            let lut = open_table(&output, members, opts)?;
            let reference = opts.reference.then(|| match &lut.meta.reference {
                Some(r) => ReferenceNet::recorded(r),
                None => Ok(opts.target.reference(opts.seed)),
            });
            let reference = reference.transpose()?;
            let queue: Vec<UnitKey> = keys
                .iter()
                .filter(|k| !lut.has_measured(k))
                .copied()
                .collect();
            let already = keys.len() - queue.len();
            let ledger = UnitLedger {
                unit: Unit::new(&lut.meta, reference.clone()),
                lut,
                output,
                measured: Vec::new(),
                failed: 0,
                runs: 0,
                passes: Vec::new(),
            };
            ledgers.push((
                Shared::new(queue, ledger),
                already,
                reference,
                model.clone(),
            ));
        }
        let reference_files: Vec<Option<PathBuf>> = ledgers
            .iter()
            .enumerate()
            .map(|(i, (_, _, r, _))| {
                r.as_ref()
                    .map(|r| {
                        let dir = staging.path().join(format!("reference-{i}"));
                        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                        r.write(&dir)
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        bar.set_length(ledgers.iter().map(|(s, ..)| s.pending() as u64).sum());
        let groups: Vec<(&Shared<UnitKey, UnitLedger>, &[Prepared])> = ledgers
            .iter()
            .zip(by_model.values())
            .map(|((s, ..), m)| (s, m.as_slice()))
            .collect();
        // Each device measures with its own table's reference.
        let reference_of: std::collections::HashMap<String, PathBuf> = by_model
            .values()
            .zip(&reference_files)
            .flat_map(|(members, f)| {
                members
                    .iter()
                    .filter_map(move |p| Some((p.device.id().to_string(), f.clone()?)))
            })
            .collect();
        let measure_units = |p: &Prepared, units: &[UnitKey]| {
            let settings = Settings {
                reference: reference_of
                    .get(p.device.id())
                    .map(|f| p.place(f))
                    .transpose()?,
                per_node: false,
            };
            let models: Vec<String> = units
                .iter()
                .map(|u| p.place(&file_of[u]))
                .collect::<Result<_>>()?;
            let outcomes = measure::measure(p, opts, &models, &settings)?;
            Ok(units.iter().copied().zip(outcomes).collect())
        };
        schedule::run(
            &groups,
            opts.batch.unwrap_or(8),
            opts.wait_device,
            bar,
            &|u: &UnitKey| u.to_string(),
            &measure_units,
        );
        let mut reports = Vec::new();
        for ((shared, already, _, model), members) in ledgers.into_iter().zip(by_model.values()) {
            let mut l = shared
                .ledger
                .into_inner()
                .map_err(|_| Error::device("?", "ledger poisoned"))?;
            let factor = l.unit.finish(&mut l.lut.meta);
            if factor != 1.0 {
                for key in &l.measured {
                    if let Some(row) = l.lut.get(key).cloned()
                        && let Outcome::Ok(s) = &row.outcome
                    {
                        l.lut.upsert(LutRow {
                            outcome: Outcome::Ok(s.scaled(factor)),
                            ..row
                        });
                    }
                }
            }
            if let Some(r) = Repeatability::of(&l.passes) {
                l.lut.meta.repeatability = Some(r);
            }
            let device_errors = finish_devices(&mut l.lut.meta, members, shared.errors);
            l.lut.write(&l.output)?;
            let missing = l
                .lut
                .missing(keys.iter())
                .iter()
                .filter(|m| m.failed.is_none())
                .count();
            reports.push(ProfileReport {
                lut: l.output.clone(),
                method: Method::Isolated,
                model,
                devices: members.iter().map(|p| p.device.id().to_string()).collect(),
                units: keys.len(),
                already_measured: already,
                measured: l.measured.len(),
                failed: l.failed,
                missing,
                networks: 0,
                runs: l.runs,
                drift_pct: Unit::drift_pct(&l.lut.meta),
                repeatability: Repeatability::of(&l.passes),
                seconds: start.elapsed().as_secs_f64(),
                device_errors,
            });
        }
        Ok(reports)
    })();
    release_all(by_model, opts, result)
}

/// The table of a device model: `--output` itself, or a file in it when the devices
/// are of several models.
pub(crate) fn output_for(opts: &ProfileOptions, several: bool, model: &str) -> PathBuf {
    if several {
        opts.output
            .join(format!("{}-{}.csv", slug(model), opts.backend.name()))
    } else {
        opts.output.clone()
    }
}

/// Device state after measuring into the table; the devices' errors.
pub(crate) fn finish_devices(
    meta: &mut LutMeta,
    members: &[Prepared],
    errors: std::sync::Mutex<Vec<String>>,
) -> Vec<String> {
    for p in members {
        for (k, v) in device_state(&p.device) {
            meta.device_state
                .insert(format!("{} after: {k}", p.device.id()), v);
        }
        let heat = p.heat.lock().unwrap_or_else(|e| e.into_inner());
        meta.device_state
            .extend(heat.entries(p.device.id(), p.thermal, p.throttle_check));
    }
    errors.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Gives every device back (clock policy, lock), whatever `result` is; a release that
/// fails becomes a device error of the report.
pub(crate) fn release_all(
    by_model: BTreeMap<(String, String), Vec<Prepared>>,
    opts: &ProfileOptions,
    result: Result<Vec<ProfileReport>>,
) -> Result<Vec<ProfileReport>> {
    let mut release_errors = Vec::new();
    for p in by_model.into_values().flatten() {
        let id = p.device.id().to_string();
        if let Err(e) = p.release(opts) {
            release_errors.push(format!("{id}: releasing the lock: {e}"));
        }
    }
    let mut reports = result?;
    if let Some(r) = reports.first_mut() {
        r.device_errors.extend(release_errors);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_patterns_match_like_a_shell() {
        use super::matches_pattern as m;
        assert!(m("conv 32x32*", "conv 32x32 3->32 k3 s2 relu6"));
        assert!(!m("conv 32x32*", "dwconv 32x32 3->32 k3 s2"));
        assert!(m("*k3*relu6", "conv 32x32 3->32 k3 s2 relu6"));
        assert!(!m("*k5*", "conv 32x32 3->32 k3 s2 relu6"));
        assert!(m("*", "") && m("a*a", "aa") && !m("a*a", "a"));
        assert!(m("pool*", "pool 1x1 1280->1280"));
    }

    use super::*;

    #[test]
    fn names_are_slugs() {
        assert_eq!(slug("Pixel 7 Pro"), "pixel-7-pro");
        assert_eq!(slug("///"), "device");
    }
}
