//! `moga devices` and `moga profile`.

use std::io::Write;
use std::net::SocketAddrV4;
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::backend::BackendChoice;
use device_runner::backend::BackendKind;
use device_runner::protocol::{BenchOptions, GpuArgs, OrtArgs};
use indicatif::{ProgressBar, ProgressStyle};
use profiler::device::{self, Device, default_local_root};
use profiler::profile::{Method, ProfileOptions, ProfileReport, Target, profile};
use profiler::{adb, lock};

use crate::cli::{DevicesArgs, MethodArg, ProfileArgs, ProfileBackend, Servers};
use crate::output::{Table, json_line};

pub(super) fn servers(s: &Servers) -> Result<Vec<SocketAddrV4>> {
    if s.adb.is_empty() {
        return Ok(adb::servers_from_env()?);
    }
    s.adb.iter().map(|a| Ok(adb::parse_server(a)?)).collect()
}

/// How long an adb device that is away is waited for.
pub(super) fn wait(s: &Servers) -> std::time::Duration {
    std::time::Duration::from_secs(s.wait_device)
}

pub(super) fn local_root(s: &Servers) -> std::path::PathBuf {
    s.local_root.clone().unwrap_or_else(default_local_root)
}

/// The GPU APIs this machine's wgpu adapters offer for compute (`vulkan`, `gl`).
pub(super) fn local_apis() -> Vec<String> {
    let mut apis: Vec<String> = device_runner::gpu::adapters(BackendChoice::All)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.compute)
        .map(|a| a.backend)
        .collect();
    apis.sort();
    apis.dedup();
    apis
}

pub fn devices(args: DevicesArgs) -> Result<ExitCode> {
    let list = servers(&args.servers)?;
    let root = local_root(&args.servers);
    for c in &args.connect {
        let addr = adb::parse_server(c)?;
        adb::connect(list[0], addr)?;
    }
    if let Some(id) = &args.unlock {
        let d = device::open(id, &list, &root, wait(&args.servers))?;
        lock::force_unlock(&d)?;
        eprintln!("moga: removed the profiling lock of {id}");
    }
    let (mut found, errors) = device::discover(&list, &root);
    for d in found.iter_mut().filter(|d| d.transport == "local") {
        d.apis = local_apis();
    }
    for e in &errors {
        eprintln!("moga: {e}");
    }
    let mut out = std::io::stdout().lock();
    if args.out.json {
        for d in &found {
            json_line(&mut out, d)?;
        }
    } else {
        let mut t = Table::new(&[
            "id",
            "state",
            "model",
            "soc",
            "abi",
            "os",
            "gpu",
            "apis",
            "transport",
        ]);
        for d in &found {
            t.row(vec![
                d.id.clone(),
                d.state.clone(),
                d.model.clone(),
                d.soc.clone(),
                d.abi.clone(),
                d.os.clone(),
                d.gpu.clone(),
                d.apis.join(","),
                d.transport.clone(),
            ]);
        }
        t.write(&mut out)?;
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn run_profile(a: ProfileArgs) -> Result<ExitCode> {
    let list = servers(&a.servers)?;
    let root = local_root(&a.servers);
    let target = super::target(a.space, a.shape)?;
    let sr = matches!(target, Target::Sr { .. });
    anyhow::ensure!(
        !(sr && a.ops),
        "--ops: super-resolution cells are measured whole (their units are already single models of one cell)"
    );
    let ids: Vec<String> = if a.all {
        let (found, errors) = device::discover(&list, &root);
        for e in errors {
            eprintln!("moga: {e}");
        }
        found
            .into_iter()
            .filter(|d| d.state == "device" && d.id != profiler::local::LOCAL_ID)
            .map(|d| d.id)
            .collect()
    } else {
        a.devices.clone()
    };
    anyhow::ensure!(!ids.is_empty(), "no usable devices (see `moga devices`)");
    let devices: Vec<Device> = ids
        .iter()
        .map(|id| device::open(id, &list, &root, wait(&a.servers)))
        .collect::<Result<_, _>>()?;
    let isolated_only = a.ops || !a.only.is_empty() || sr;
    let method = match (a.method, isolated_only) {
        (MethodArg::Context, true) => {
            anyhow::bail!(
                "--ops, --only and super-resolution tables are measured isolated: drop --method context"
            )
        }
        (MethodArg::Context, false) | (MethodArg::Auto, false) => Method::Context,
        (MethodArg::Isolated, _) | (MethodArg::Auto, true) => Method::Isolated,
    };
    anyhow::ensure!(a.designs >= 1, "--designs must be at least 1");
    if let Some(c) = a.max_temp {
        anyhow::ensure!(
            (0.0..=150.0).contains(&c),
            "--max-temp {c}: expected degrees Celsius between 0 and 150"
        );
    }
    anyhow::ensure!(
        a.throttle_check > 0.0 && a.throttle_check.is_finite(),
        "--throttle-check {}: expected a percentage above 0",
        a.throttle_check
    );
    if let Some(profile) = &a.limits {
        device_runner::limit_profiles::find(profile)
            .map_err(|e| anyhow::anyhow!("--limits: {e}"))?;
    }
    let opts = ProfileOptions {
        target,
        ops: a.ops,
        only: a.only.clone(),
        method,
        backend: match a.backend {
            ProfileBackend::Wgpu => BackendKind::Wgpu,
            ProfileBackend::Ort => BackendKind::Ort,
        },
        output: a.output.clone(),
        resume: a.resume,
        bench: BenchOptions {
            warmup: a.warmup,
            min_runs: a.min_runs,
            runs: a.runs,
            max_seconds: a.max_seconds,
            precision: (a.precision > 0.0).then_some(a.precision),
            rounds: a.rounds.max(1),
            cooldown_ms: a.cooldown_ms,
            seed: a.seed,
            ..BenchOptions::default()
        },
        gpu: GpuArgs {
            wgpu_backend: a.wgpu_backend,
            adapter: a.adapter.clone(),
            dtype: a.dtype,
            limits: a.limits.clone(),
            ..GpuArgs::default()
        },
        ort: OrtArgs {
            ep: a.ep,
            threads: a.threads,
            opt_level: a.opt_level,
            ort_lib: None,
        },
        reference: !a.no_reference,
        designs: a.designs,
        batch: a.batch,
        unit_timeout_s: a.unit_timeout,
        seed: a.seed,
        runner: a.runner.clone(),
        ort_lib: a.ort_lib.clone(),
        fixed_performance: !a.no_fixed_performance,
        thermal: a.max_temp.map(|c| profiler::thermal::ThermalGuard {
            max_celsius: c,
            cool_down: std::time::Duration::from_secs(a.cool_down),
        }),
        throttle_check: (!a.no_throttle_check).then(|| profiler::thermal::ThrottleCheck {
            slower: a.throttle_check / 100.0,
            cool_down: std::time::Duration::from_secs(a.cool_down),
        }),
        wait_device: wait(&a.servers),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            &format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {}, ETA {{eta}} {{wide_msg}}",
                if method == Method::Context { "networks" } else { "units" }
            ),
        )
        .context("progress bar template")?,
    );
    let reports = profile(devices, &opts, &bar)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    // A failed unit is a hole in the table as much as a missing one.
    let complete = reports
        .iter()
        .all(|r| r.missing == 0 && r.failed == 0 && r.device_errors.is_empty());
    for r in &reports {
        if a.out.json {
            json_line(&mut out, r)?;
        } else {
            print_report(&mut out, r)?;
        }
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(out: &mut impl Write, r: &ProfileReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} units for {} ({}), {}: {} already measured, {} measured now, {} failed, {} missing; {:.1} s",
        r.lut.display(),
        r.units,
        r.model,
        r.devices.join(", "),
        match r.method {
            Method::Context => format!("in context ({} networks)", r.networks),
            Method::Isolated => "isolated".into(),
        },
        r.already_measured,
        r.measured,
        r.failed,
        r.missing,
        r.seconds
    )?;
    writeln!(out, "  {} timed runs", r.runs)?;
    if let Some((lo, hi)) = r.drift_pct {
        writeln!(
            out,
            "  the reference network drifted {lo:+.1} % to {hi:+.1} % during the run (rows are ratios to it, so the drift is not in them)"
        )?;
    }
    if let Some(rep) = &r.repeatability {
        writeln!(
            out,
            "  repeatability, two interleaved passes over {} models: median |Δ| {:.2} %, p90 {:.2} %",
            rep.items, rep.median_abs_delta_pct, rep.p90_abs_delta_pct
        )?;
    }
    for e in &r.device_errors {
        writeln!(out, "  stopped early: {e}")?;
    }
    if r.missing > 0 || r.failed > 0 {
        writeln!(
            out,
            "  the table is incomplete: run the same command with --resume (it measures missing and failed units)"
        )?;
    }
    Ok(())
}
