//! `moga deploy`: networks exported, measured whole on a device, beside what their
//! table predicts; and the measuring options `deploy` and `lut validate` share.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use device_runner::backend::{BackendKind, ExecutionProvider, OptLevel};
use device_runner::onnx::builder::{RandomWeights, network_model, sr_model};
use device_runner::onnx::write_model;
use device_runner::protocol::{BenchOptions, GpuArgs, OrtArgs};
use device_runner::scratch::ScratchDir;
use indicatif::{ProgressBar, ProgressStyle};
use lookup_tables::{Lut, Outcome};
use profiler::device;
use profiler::networks::{NetworkModel, measure_networks};
use profiler::profile::{Method, ProfileOptions, Target};
use serde::Serialize;

use crate::cli::{DeployArgs, MeasureArgs, ProfileBackend};
use crate::output::{Table, json_line};
use crate::torch::Libtorch;

/// Where the exported models go: the user's folder (kept), or a scratch folder removed
/// when dropped or when the process is interrupted.
enum Workdir {
    Kept(PathBuf),
    Scratch(ScratchDir),
}

impl Workdir {
    fn new(keep: Option<&Path>) -> Result<Workdir> {
        Ok(match keep {
            Some(p) => {
                std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
                Workdir::Kept(p.to_path_buf())
            }
            None => Workdir::Scratch(
                ScratchDir::new("networks").context("creating a temporary folder")?,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            Workdir::Kept(p) => p,
            Workdir::Scratch(s) => s.path(),
        }
    }
}

/// The measuring options: flags first, then the table's recorded backend options and
/// protocol (so networks are measured as its units were), then the profiler defaults.
pub(super) fn measure_options(
    m: &MeasureArgs,
    target: &Target,
    lut: Option<&Lut>,
) -> Result<ProfileOptions> {
    let meta = lut.map(|l| &l.meta);
    let backend = match (m.backend, meta) {
        (Some(ProfileBackend::Wgpu), _) => BackendKind::Wgpu,
        (Some(ProfileBackend::Ort), _) => BackendKind::Ort,
        (None, Some(meta)) => match meta.backend.name.as_str() {
            "wgpu" => BackendKind::Wgpu,
            "ort" => BackendKind::Ort,
            other => bail!("the table's backend {other:?} is not wgpu or ort: pass --backend"),
        },
        (None, None) => bail!("--backend wgpu|ort is needed without --lut"),
    };
    if let Some(meta) = meta
        && meta.backend.name != backend.name()
    {
        eprintln!(
            "moga: warning: the table was measured on {}, these networks on {}: the error is not the table's",
            meta.backend.name,
            backend.name()
        );
    }
    let recorded = |key: &str| {
        meta.and_then(|m| m.backend.options.get(key))
            .map(String::as_str)
    };
    fn parse_enum<T: ValueEnum>(s: Option<&str>) -> Option<T> {
        s.and_then(|s| T::from_str(s, true).ok())
    }
    let threads = match (m.threads, recorded("threads")) {
        (Some(t), _) => t,
        (None, Some(t)) => t
            .parse()
            .with_context(|| format!("the table's threads option {t:?}"))?,
        (None, None) => 1,
    };
    if let Some(profile) = &m.limits {
        device_runner::limit_profiles::find(profile)
            .map_err(|e| anyhow::anyhow!("--limits: {e}"))?;
    }
    let p = meta.map(|m| &m.protocol);
    Ok(ProfileOptions {
        target: target.clone(),
        ops: false,
        only: Vec::new(),
        method: Method::Isolated,
        backend,
        output: PathBuf::new(),
        resume: false,
        bench: BenchOptions {
            warmup: m.warmup.or(p.map(|p| p.warmup_runs as usize)).unwrap_or(10),
            min_runs: m.min_runs.or(p.map(|p| p.min_runs as usize)).unwrap_or(30),
            runs: m.runs.or(p.map(|p| p.max_runs as usize)).unwrap_or(1000),
            max_seconds: m.max_seconds.or(p.map(|p| p.max_seconds)).unwrap_or(2.0),
            precision: match m.precision {
                Some(x) => (x > 0.0).then_some(x),
                None => p.map_or(Some(0.01), |p| p.precision),
            },
            rounds: m
                .rounds
                .or(p.map(|p| p.rounds as usize))
                .unwrap_or(8)
                .max(1),
            cooldown_ms: m.cooldown_ms.or(p.map(|p| p.cooldown_ms)).unwrap_or(0),
            // Networks are timed as the table's units were.
            cold_pairs: p.is_some_and(|p| !p.warm_pairs),
            ..BenchOptions::default()
        },
        gpu: GpuArgs {
            // The table's API (a GLES table deploys on GLES) unless one is asked for.
            wgpu_backend: match m.wgpu_backend {
                device_runner::backend::BackendChoice::All => {
                    parse_enum(recorded("wgpu_backend")).unwrap_or_default()
                }
                chosen => chosen,
            },
            adapter: m
                .adapter
                .clone()
                .or_else(|| recorded("adapter").map(str::to_string)),
            // The table's precision: a deployment runs the kernels it timed.
            dtype: m
                .dtype
                .or_else(|| parse_enum(recorded("dtype")))
                .unwrap_or_default(),
            limits: m
                .limits
                .clone()
                .or_else(|| recorded("limits").map(str::to_string)),
            ..GpuArgs::default()
        },
        ort: OrtArgs {
            ep: m
                .ep
                .or_else(|| parse_enum(recorded("execution_provider")))
                .unwrap_or(ExecutionProvider::Cpu),
            threads,
            opt_level: m
                .opt_level
                .or_else(|| parse_enum(recorded("opt_level")))
                .unwrap_or(OptLevel::All),
            ort_lib: None,
        },
        reference: meta.is_some_and(|m| m.reference.is_some()),
        designs: 0,
        batch: m.batch,
        unit_timeout_s: m.unit_timeout,
        seed: 0,
        runner: m.runner.clone(),
        ort_lib: m.ort_lib.clone(),
        fixed_performance: !m.no_fixed_performance,
        thermal: None,
        throttle_check: None,
        wait_device: super::devices::wait(&m.servers),
    })
}

/// The device `m` names.
pub(super) fn open_device(m: &MeasureArgs) -> Result<device::Device> {
    let servers = super::devices::servers(&m.servers)?;
    let root = super::devices::local_root(&m.servers);
    let wait = super::devices::wait(&m.servers);
    Ok(device::open(&m.device, &servers, &root, wait)?)
}

pub(super) fn progress(len: usize, what: &str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:25}} {{pos}}/{{len}} {what}, ETA {{eta}} {{wide_msg}}"
        ))
        .context("progress bar template")?,
    );
    Ok(bar)
}

#[derive(Serialize)]
struct Deployed {
    arch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    device: String,
    backend: String,
    model: String,
    weights: String,
    /// As measured now (ms).
    #[serde(flatten)]
    outcome: Outcome,
    /// The table's prediction, at the device's speed now (× the reference's drift
    /// since the table was measured), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_ms: Option<f64>,
    /// (predicted − measured) / measured, %, from the ratios to the reference when the
    /// table has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_pct: Option<f64>,
    /// The reference now against the table, % (+: slower now).
    #[serde(skip_serializing_if = "Option::is_none")]
    drift_pct: Option<f64>,
}

/// A network to deploy: a classifier of its space, or a super-resolution network.
enum Net {
    Classify(lookup_tables::Arch, lookup_tables::Space),
    Sr(lookup_tables::SrArch),
}

impl Net {
    fn encode(&self) -> String {
        match self {
            Net::Classify(a, _) => a.encode(),
            Net::Sr(a) => a.encode(),
        }
    }

    fn preset_name(&self) -> Option<&'static str> {
        match self {
            Net::Classify(a, _) => a.preset_name(),
            Net::Sr(a) => a.preset_name(),
        }
    }
}

/// `moga deploy` (with `--ckpt`, the weights come through libtorch).
pub fn deploy(a: DeployArgs, torch: &dyn Libtorch) -> Result<ExitCode> {
    let side = a.shape.lr_side;
    let mut archs = Vec::new();
    for arg in &a.archs {
        archs.push(match super::load_sr_arch(arg)? {
            Some(sr) => Net::Sr(sr),
            None => {
                let arch = super::load_arch(arg)?;
                let space = super::space(arch.space, a.shape)?;
                Net::Classify(arch, space)
            }
        });
    }
    let classifiers = archs.iter().any(|n| matches!(n, Net::Classify(..)));
    let mut supernet = match &a.ckpt {
        // 128 per recalibration batch, as `moga export` and `moga eval` default to.
        Some(dir) if classifiers => Some(torch.supernet(dir, a.bn_batches, 128)?),
        _ => None,
    };
    let sr_dir = a.ckpt.as_deref().filter(|_| !classifiers);
    let sr_weights = sr_dir.map(|d| torch.sr_weights(d)).transpose()?;
    let lut = a.lut.as_deref().map(Lut::read).transpose()?;
    let work = Workdir::new(a.keep.as_deref())?;
    let mut models = Vec::new();
    for (i, net) in archs.iter_mut().enumerate() {
        let name = net
            .preset_name()
            .map_or_else(|| format!("arch-{i}"), str::to_string);
        let file = work.path().join(format!("{i:02}-{name}.onnx"));
        let encoded = net.encode();
        let model = match (net, supernet.as_mut(), &sr_weights) {
            (Net::Classify(arch, space), Some(ev), _) => {
                *space = ev.space().clone();
                ev.model(arch)?
            }
            (Net::Classify(arch, space), None, _) => {
                space.validate(arch)?;
                network_model(space, arch, &mut RandomWeights::new(0))?
            }
            (Net::Sr(arch), _, Some(w)) => w.model(arch, side as usize, side as usize)?,
            (Net::Sr(arch), _, None) => sr_model(
                arch,
                side as usize,
                side as usize,
                &mut RandomWeights::new(0),
            )?,
        };
        write_model(&file, &model).with_context(|| format!("writing {}", file.display()))?;
        models.push(NetworkModel {
            name: encoded,
            file,
        });
    }
    let target = match &archs[0] {
        Net::Classify(_, space) => Target::Space(space.clone()),
        Net::Sr(arch) => Target::Sr {
            space: arch.space,
            side,
        },
    };
    let opts = measure_options(&a.measure, &target, lut.as_ref())?;
    let bar = progress(models.len(), "networks")?;
    let run = measure_networks(
        open_device(&a.measure)?,
        &opts,
        &models,
        lut.as_ref().and_then(|l| l.meta.reference.as_ref()),
        a.measure.invocations as usize,
        &bar,
    )?;
    bar.finish_and_clear();
    let weights = match &a.ckpt {
        Some(d) if sr_dir.is_some() => format!("trained ({})", d.display()),
        Some(d) => format!("inherited from {}", d.display()),
        None => "random".into(),
    };
    let backend = format!("{} {}", run.backend.name, run.backend.version);
    let drift = run.reference.as_ref().map(|r| r.now_ms / r.table_ms);
    let mut rows = Vec::new();
    let mut all_ok = true;
    for (arch, (m, r)) in archs.iter().zip(models.iter().zip(&run.results)) {
        let predicted = match &lut {
            Some(l) => match match arch {
                Net::Classify(arch, space) => l.predict(space, arch),
                Net::Sr(sr) => l.predict_in(&sr.space, sr, side),
            } {
                Ok(p) => Some(p.latency_ms),
                Err(e) => {
                    eprintln!("moga: no prediction for {}: {e:#}", arch.encode());
                    None
                }
            },
            None => None,
        };
        // Both sides in the table's unit (the ratio to the reference cancels the
        // device's drift since the table was measured); shown at today's speed.
        let error_pct = match (&r.outcome, predicted) {
            (Outcome::Ok(s), Some(p)) => Some(100.0 * (p - s.median_ms) / s.median_ms),
            _ => None,
        };
        all_ok &= matches!(r.outcome, Outcome::Ok(_));
        rows.push(Deployed {
            arch: arch.encode(),
            preset: arch.preset_name().map(str::to_string),
            device: run.device_id.clone(),
            backend: backend.clone(),
            model: m.file.display().to_string(),
            weights: weights.clone(),
            outcome: match (&r.outcome, r.now) {
                (Outcome::Ok(_), Some(now)) => Outcome::Ok(now),
                (o, _) => o.clone(),
            },
            predicted_ms: predicted.map(|p| p * drift.unwrap_or(1.0)),
            error_pct,
            drift_pct: run.reference.as_ref().map(|r| r.drift_pct),
        });
    }
    let mut out = std::io::stdout().lock();
    if a.out.json {
        for r in &rows {
            json_line(&mut out, r)?;
        }
    } else {
        let kept = a.keep.is_some().then(|| work.path());
        print_deployed(&mut out, &run, &backend, &weights, &rows, kept)?;
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The deployed networks as a table for people: where, with what, and each network's
/// measured latency beside the table's prediction.
fn print_deployed(
    out: &mut impl Write,
    run: &profiler::networks::NetworkRun,
    backend: &str,
    weights: &str,
    rows: &[Deployed],
    kept: Option<&Path>,
) -> Result<()> {
    writeln!(
        out,
        "on {} ({}), {}; {} weights; {:.1} s",
        run.device_id, run.device.model, backend, weights, run.seconds
    )?;
    if let Some(r) = &run.reference {
        writeln!(
            out,
            "the reference network takes {:.3} ms now, {:.3} ms when the table was measured ({:+.1} %): predictions are shown at today's speed, errors compare ratios to it",
            r.now_ms, r.table_ms, r.drift_pct
        )?;
    }
    let mut t = Table::new(&[
        "architecture",
        " measured_ms",
        " p10_ms",
        " p90_ms",
        " runs",
        " predicted_ms",
        " error",
    ]);
    for r in rows {
        let name = r.preset.clone().unwrap_or_else(|| r.arch.clone());
        let pred = r.predicted_ms.map_or("-".into(), |p| format!("{p:.3}"));
        let err = r.error_pct.map_or("-".into(), |e| format!("{e:+.1} %"));
        match &r.outcome {
            Outcome::Ok(s) => t.row(vec![
                name,
                format!("{:.3}", s.median_ms),
                format!("{:.3}", s.p10_ms),
                format!("{:.3}", s.p90_ms),
                s.runs.to_string(),
                pred,
                err,
            ]),
            Outcome::Failed { error } => t.row(vec![
                name,
                format!("FAILED: {error}"),
                String::new(),
                String::new(),
                String::new(),
                pred,
                err,
            ]),
        }
    }
    t.write(out)?;
    if let Some(dir) = kept {
        writeln!(out, "models kept in {}", dir.display())?;
    }
    Ok(())
}
