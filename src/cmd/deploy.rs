//! `moga deploy` and `moga lut validate`: networks measured whole on a device, beside
//! what their table predicts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use device_runner::backend::{BackendKind, ExecutionProvider, OptLevel};
use device_runner::onnx::builder::{RandomWeights, network_model};
use device_runner::onnx::write_model;
use indicatif::{ProgressBar, ProgressStyle};
use lookup_tables::lut::fidelity::{self, Metrics, Model};
use lookup_tables::{Arch, Lut, Outcome, Space};
use profiler::device;
use profiler::networks::{NetworkModel, NetworkRun, measure_networks};
use profiler::profile::{Limits, ProfileOptions};
use search::plot::{FidelitySeries, plot_fidelity};
use serde::Serialize;

use crate::cli::{CorrectionArg, DeployArgs, MeasureArgs, ProfileBackend, ValidateArgs};
use crate::output::{Table, json_line};

/// A folder removed when dropped, unless the user asked to keep it.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Workdir {
    fn new(keep: Option<&Path>) -> Result<Workdir> {
        let (path, keep) = match keep {
            Some(p) => (p.to_path_buf(), true),
            None => (
                std::env::temp_dir().join(format!(
                    "moga-networks-{}-{}",
                    std::process::id(),
                    profiler::shell::nonce()
                )),
                false,
            ),
        };
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Workdir { path, keep })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The measuring options: flags first, then the table's recorded backend options and
/// protocol (so networks are measured as its units were), then the profiler defaults.
fn measure_options(m: &MeasureArgs, space: &Space, lut: Option<&Lut>) -> Result<ProfileOptions> {
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
    let p = meta.map(|m| &m.protocol);
    Ok(ProfileOptions {
        space: space.clone(),
        ops: false,
        backend,
        output: PathBuf::new(),
        resume: false,
        limits: Limits {
            warmup: m.warmup.or(p.map(|p| p.warmup_runs as usize)).unwrap_or(10),
            min_runs: m.min_runs.or(p.map(|p| p.min_runs as usize)).unwrap_or(30),
            max_runs: m.runs.or(p.map(|p| p.max_runs as usize)).unwrap_or(1000),
            max_seconds: m.max_seconds.or(p.map(|p| p.max_seconds)).unwrap_or(2.0),
            precision: match m.precision {
                Some(x) => (x > 0.0).then_some(x),
                None => p.map_or(Some(0.01), |p| p.precision),
            },
            cooldown_ms: m.cooldown_ms.or(p.map(|p| p.cooldown_ms)).unwrap_or(0),
        },
        batch: m.batch,
        unit_timeout_s: m.unit_timeout,
        seed: 0,
        ep: m
            .ep
            .or_else(|| parse_enum(recorded("execution_provider")))
            .unwrap_or(ExecutionProvider::Cpu),
        threads,
        opt_level: m
            .opt_level
            .or_else(|| parse_enum(recorded("opt_level")))
            .unwrap_or(OptLevel::All),
        wgpu_backend: m.wgpu_backend,
        adapter: m
            .adapter
            .clone()
            .or_else(|| recorded("adapter").map(str::to_string)),
        runner: m.runner.clone(),
        ort_lib: m.ort_lib.clone(),
        fixed_performance: !m.no_fixed_performance,
    })
}

fn progress(len: usize, what: &str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:25}} {{pos}}/{{len}} {what}, ETA {{eta}} {{wide_msg}}"
        ))
        .context("progress bar template")?,
    );
    Ok(bar)
}

/// Measures `models` on the device of `m`.
fn measure(m: &MeasureArgs, opts: &ProfileOptions, models: &[NetworkModel]) -> Result<NetworkRun> {
    let servers = super::devices::servers(&m.servers)?;
    let root = super::devices::local_root(&m.servers);
    let dev = device::open(&m.device, &servers, &root)?;
    let bar = progress(models.len(), "networks")?;
    let run = measure_networks(dev, opts, models, &bar)?;
    bar.finish_and_clear();
    Ok(run)
}

/// The latency a table predicts for `arch`, and its sum of units.
fn predict(lut: &Lut, space: &Space, arch: &Arch) -> Result<(f64, f64)> {
    let p = lut.predict(space, arch)?;
    Ok((p.latency_ms, p.units_ms))
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
    #[serde(flatten)]
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_pct: Option<f64>,
}

pub fn deploy(a: DeployArgs) -> Result<ExitCode> {
    let archs = a
        .archs
        .iter()
        .map(|s| super::load_arch(s))
        .collect::<Result<Vec<_>>>()?;
    let mut evaluator = match &a.ckpt {
        // 128 per recalibration batch, as `moga export` and `moga eval` default to.
        Some(dir) => Some(super::export::open_checkpoint(dir, a.bn_batches, 128)?),
        None => None,
    };
    let lut = a.lut.as_deref().map(Lut::read).transpose()?;
    let work = Workdir::new(a.keep.as_deref())?;
    let mut models = Vec::new();
    let mut spaces = Vec::new();
    for (i, arch) in archs.iter().enumerate() {
        let name = arch
            .preset_name()
            .map_or_else(|| format!("arch-{i}"), str::to_string);
        let file = work.path.join(format!("{i:02}-{name}.onnx"));
        let (space, model) = match evaluator.as_mut() {
            Some(ev) => (
                ev.net.space.clone(),
                super::export::inherited_model(ev, arch)?,
            ),
            None => {
                let space = super::space(arch.space, a.shape)?;
                space.validate(arch)?;
                let model = network_model(&space, arch, &mut RandomWeights::new(0))?;
                (space, model)
            }
        };
        write_model(&file, &model).with_context(|| format!("writing {}", file.display()))?;
        models.push(NetworkModel {
            name: arch.encode(),
            file,
        });
        spaces.push(space);
    }
    let opts = measure_options(&a.measure, &spaces[0], lut.as_ref())?;
    let run = measure(&a.measure, &opts, &models)?;
    let weights = match &a.ckpt {
        Some(d) => format!("inherited from {}", d.display()),
        None => "random".into(),
    };
    let backend = format!("{} {}", run.backend.name, run.backend.version);
    let mut rows = Vec::new();
    let mut all_ok = true;
    for ((arch, space), (m, r)) in archs
        .iter()
        .zip(&spaces)
        .zip(models.iter().zip(&run.results))
    {
        let predicted = match &lut {
            Some(l) => match predict(l, space, arch) {
                Ok((p, _)) => Some(p),
                Err(e) => {
                    eprintln!("moga: no prediction for {}: {e:#}", arch.encode());
                    None
                }
            },
            None => None,
        };
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
            outcome: r.outcome.clone(),
            predicted_ms: predicted,
            error_pct,
        });
    }
    let mut out = std::io::stdout().lock();
    if a.out.json {
        for r in &rows {
            json_line(&mut out, r)?;
        }
    } else {
        writeln!(
            out,
            "on {} ({}), {}; {} weights; {:.1} s",
            run.device_id, run.device.model, backend, weights, run.seconds
        )?;
        let mut t = Table::new(&[
            "architecture",
            " measured_ms",
            " p10_ms",
            " p90_ms",
            " runs",
            " predicted_ms",
            " error",
        ]);
        for r in &rows {
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
        t.write(&mut out)?;
        if a.keep.is_some() {
            writeln!(out, "models kept in {}", work.path.display())?;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One variant of the prediction, scored on the held-out half.
#[derive(Serialize)]
struct Variant {
    name: String,
    /// `sum`, `offset`, `affine`, or `stored` (the table's correction before this run).
    model: String,
    scale: f64,
    overhead_ms: f64,
    /// Leave-one-out RMSPE (%) on the fitted half: what `--model auto` chooses by.
    fit_loo_rmspe_pct: Option<f64>,
    /// Whether this is the correction chosen (and stored).
    chosen: bool,
    holdout: Metrics,
}

/// One measured network.
#[derive(Serialize)]
struct Point {
    arch: String,
    half: &'static str,
    units_ms: f64,
    measured_ms: Option<f64>,
    corrected_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Validation {
    lut: String,
    device: String,
    backend: String,
    level: &'static str,
    samples: usize,
    seed: u64,
    measured: usize,
    failed: usize,
    /// The first network measured again at the end, % change of its median: the
    /// device's own drift during the run.
    drift_pct: Option<f64>,
    fit_n: usize,
    holdout_n: usize,
    /// Every variant on the held-out half; the first is the plain sum.
    variants: Vec<Variant>,
    /// The correction written into the table (none with --no-store).
    stored: Option<lookup_tables::lut::Correction>,
    seconds: f64,
}

pub fn validate(a: ValidateArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        a.samples >= 4,
        "--samples must be at least 4 (half fit, half held out)"
    );
    let mut lut = Lut::read(&a.lut)?;
    let space = super::space(a.space, a.shape)?;
    let archs = space.sample(a.samples, a.seed);
    // Predictions first: an incomplete table is refused before anything is measured.
    let mut units = Vec::with_capacity(archs.len());
    let mut level = "block";
    for arch in &archs {
        let p = lut
            .predict(&space, arch)
            .with_context(|| format!("{}: predicting {}", a.lut.display(), arch.encode()))?;
        level = p.level;
        units.push(p.units_ms);
    }
    let work = Workdir::new(None)?;
    let mut models = Vec::new();
    for (i, arch) in archs.iter().enumerate() {
        let file = work.path.join(format!("net-{i:03}.onnx"));
        let model = network_model(&space, arch, &mut RandomWeights::new(a.seed ^ i as u64))?;
        write_model(&file, &model).with_context(|| format!("writing {}", file.display()))?;
        models.push(NetworkModel {
            name: arch.encode(),
            file,
        });
    }
    // The first network once more at the end: how much the device itself drifted while
    // the sample was measured (clocks, heat, other load), which no table can predict.
    let again = work.path.join("net-first-again.onnx");
    std::fs::copy(&models[0].file, &again)
        .with_context(|| format!("copying {}", models[0].file.display()))?;
    models.push(NetworkModel {
        name: format!("{} (again)", models[0].name),
        file: again,
    });
    let opts = measure_options(&a.measure, &space, Some(&lut))?;
    let mut run = measure(&a.measure, &opts, &models)?;
    let repeat = run.results.pop();
    let drift_pct = match (
        run.results.first().map(|r| &r.outcome),
        repeat.map(|r| r.outcome),
    ) {
        (Some(Outcome::Ok(first)), Some(Outcome::Ok(last))) => {
            Some(100.0 * (last.median_ms - first.median_ms) / first.median_ms)
        }
        _ => None,
    };
    // Alternate halves: each half spans the sample's whole range of sizes.
    let mut points = Vec::new();
    for (i, (r, u)) in run.results.iter().zip(&units).enumerate() {
        let (measured_ms, error) = match &r.outcome {
            Outcome::Ok(s) => (Some(s.median_ms), None),
            Outcome::Failed { error } => (None, Some(error.clone())),
        };
        points.push(Point {
            arch: r.name.clone(),
            half: if i % 2 == 0 { "fit" } else { "holdout" },
            units_ms: *u,
            measured_ms,
            corrected_ms: None,
            error,
        });
    }
    let pick = |half: &str| -> (Vec<f64>, Vec<f64>) {
        points
            .iter()
            .filter(|p| p.half == half)
            .filter_map(|p| Some((p.units_ms, p.measured_ms?)))
            .unzip()
    };
    let (fit_u, fit_m) = pick("fit");
    let (hold_u, hold_m) = pick("holdout");
    anyhow::ensure!(
        fit_u.len() >= 2 && hold_u.len() >= 2,
        "too few networks were measured ({} of {}) to fit and check a correction; see the errors above",
        fit_u.len() + hold_u.len(),
        points.len()
    );
    let score = |f: &dyn Fn(f64) -> f64| {
        fidelity::metrics(&hold_u.iter().map(|&u| f(u)).collect::<Vec<_>>(), &hold_m)
    };
    let (auto, loo) = fidelity::select(&fit_u, &fit_m);
    let wanted = match a.model {
        CorrectionArg::Auto => auto,
        CorrectionArg::Sum => Model::Sum,
        CorrectionArg::Offset => Model::Offset,
        CorrectionArg::Affine => Model::Affine,
    };
    let mut variants = Vec::new();
    if let Some(c) = &lut.meta.correction {
        variants.push(Variant {
            name: format!("the table's stored {} correction", c.model),
            model: "stored".into(),
            scale: c.scale,
            overhead_ms: c.overhead_ms,
            fit_loo_rmspe_pct: None,
            chosen: false,
            holdout: score(&|u| c.apply(u)),
        });
    }
    let mut chosen = None;
    for (model, loo) in loo {
        let Some(mut c) = fidelity::fit(model, &fit_u, &fit_m) else {
            continue;
        };
        let holdout = score(&|u| c.apply(u));
        c.holdout_rmspe = Some(holdout.rmspe_pct);
        c.holdout_n = holdout.n as u32;
        variants.push(Variant {
            name: match model {
                Model::Sum => "sum of units".into(),
                m => format!("sum + fitted {}", m.name()),
            },
            model: model.name().into(),
            scale: c.scale,
            overhead_ms: c.overhead_ms,
            fit_loo_rmspe_pct: loo,
            chosen: model == wanted,
            holdout,
        });
        if model == wanted {
            chosen = Some(c);
        }
    }
    let chosen = chosen.with_context(|| {
        format!(
            "the {} correction could not be fitted (all sums equal?)",
            wanted.name()
        )
    })?;
    for p in &mut points {
        p.corrected_ms = Some(chosen.apply(p.units_ms));
    }
    let stored = if a.no_store {
        None
    } else {
        lut.meta.correction = Some(chosen.clone());
        lut.write(&a.lut)?;
        Some(chosen.clone())
    };
    let backend = format!("{} {}", run.backend.name, run.backend.version);
    if let Some(path) = &a.plot {
        let series = |f: &dyn Fn(&Point) -> f64, label: &str| FidelitySeries {
            label: label.to_string(),
            points: points
                .iter()
                .filter_map(|p| Some((p.measured_ms?, f(p))))
                .collect(),
        };
        plot_fidelity(
            &format!(
                "{} on {} ({}), {} networks",
                a.lut
                    .file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
                run.device.model,
                backend,
                fit_m.len() + hold_m.len()
            ),
            &[
                series(&|p| p.units_ms, "sum of units"),
                series(
                    &|p| chosen.apply(p.units_ms),
                    &format!("with the fitted {} correction", chosen.model),
                ),
            ],
            path,
        )?;
    }
    if let Some(path) = &a.details {
        let mut text = String::new();
        for p in &points {
            text.push_str(&serde_json::to_string(p)?);
            text.push('\n');
        }
        lookup_tables::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = points.iter().filter(|p| p.measured_ms.is_none()).count();
    let report = Validation {
        lut: a.lut.display().to_string(),
        device: format!("{} ({})", run.device_id, run.device.model),
        backend,
        level,
        samples: a.samples,
        seed: a.seed,
        measured: points.len() - failed,
        failed,
        drift_pct,
        fit_n: fit_u.len(),
        holdout_n: hold_u.len(),
        variants,
        stored,
        seconds: run.seconds,
    };
    let mut out = std::io::stdout().lock();
    if a.out.json {
        json_line(&mut out, &report)?;
    } else {
        print_validation(&mut out, &report, &points)?;
        if let Some(p) = &a.plot {
            writeln!(out, "plot: {}", p.display())?;
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_validation(out: &mut impl Write, r: &Validation, points: &[Point]) -> Result<()> {
    writeln!(
        out,
        "{}: {}-level table on {}, {}; {} random networks (seed {}) measured whole in {:.1} s, {} failed",
        r.lut, r.level, r.device, r.backend, r.samples, r.seed, r.seconds, r.failed
    )?;
    if let Some(d) = r.drift_pct {
        writeln!(
            out,
            "drift: the first network, measured again at the end, changed by {d:+.1} %{}",
            if d.abs() > 3.0 {
                " — the device was not steady; errors of that size are the device's, not the table's"
            } else {
                ""
            }
        )?;
    }
    for p in points.iter().filter(|p| p.error.is_some()) {
        writeln!(
            out,
            "  failed: {}: {}",
            p.arch,
            p.error.as_deref().unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "fitted on {} networks (fit LOO: leave-one-out RMSPE there, which picks the model), reported on the other {} (* = stored):",
        r.fit_n, r.holdout_n
    )?;
    let mut t = Table::new(&[
        "prediction",
        " fit LOO",
        " ±10%",
        " ±5%",
        " RMSPE",
        " RMSE_ms",
        " mean_err_ms",
        " mean_err",
        " tau",
    ]);
    for v in &r.variants {
        let m = &v.holdout;
        t.row(vec![
            format!("{}{}", v.name, if v.chosen { " *" } else { "" }),
            v.fit_loo_rmspe_pct
                .map_or("-".into(), |x| format!("{x:.2} %")),
            format!("{:.0} %", 100.0 * m.within_10pct),
            format!("{:.0} %", 100.0 * m.within_5pct),
            format!("{:.2} %", m.rmspe_pct),
            format!("{:.3}", m.rmse_ms),
            format!("{:+.3}", m.mean_signed_error_ms),
            format!("{:+.2} %", m.mean_signed_error_pct),
            format!("{:.3}", m.kendall_tau),
        ]);
    }
    t.write(out)?;
    match &r.stored {
        Some(c) => writeln!(
            out,
            "stored in {}: predicted = {:.4} × Σ units {:+.4} ms ({})",
            r.lut, c.scale, c.overhead_ms, c.model
        )?,
        None => writeln!(out, "the table was left as it was (--no-store)")?,
    }
    Ok(())
}
