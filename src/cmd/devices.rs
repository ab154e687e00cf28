//! `moga devices` and `moga profile`.

use std::io::Write;
use std::net::SocketAddrV4;
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::backend::BackendKind;
use indicatif::{ProgressBar, ProgressStyle};
use profiler::device::{self, Device, default_local_root};
use profiler::profile::{Limits, ProfileOptions, ProfileReport, profile};
use profiler::{adb, lock};

use crate::cli::{DevicesArgs, ProfileArgs, ProfileBackend, Servers};
use crate::output::{Table, json_line};

pub(super) fn servers(s: &Servers) -> Result<Vec<SocketAddrV4>> {
    if s.adb.is_empty() {
        return Ok(adb::servers_from_env()?);
    }
    s.adb.iter().map(|a| Ok(adb::parse_server(a)?)).collect()
}

pub(super) fn local_root(s: &Servers) -> std::path::PathBuf {
    s.local_root.clone().unwrap_or_else(default_local_root)
}

pub fn devices(args: DevicesArgs) -> Result<ExitCode> {
    let list = servers(&args.servers)?;
    let root = local_root(&args.servers);
    for c in &args.connect {
        let addr = adb::parse_server(c)?;
        adb::connect(list[0], addr)?;
    }
    if let Some(id) = &args.unlock {
        let d = device::open(id, &list, &root)?;
        lock::force_unlock(&d)?;
        eprintln!("moga: removed the profiling lock of {id}");
    }
    let (found, errors) = device::discover(&list, &root);
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
    let space = super::space(a.space, a.shape)?;
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
        .map(|id| device::open(id, &list, &root))
        .collect::<Result<_, _>>()?;
    let opts = ProfileOptions {
        space,
        ops: a.ops,
        backend: match a.backend {
            ProfileBackend::Wgpu => BackendKind::Wgpu,
            ProfileBackend::Ort => BackendKind::Ort,
        },
        output: a.output.clone(),
        resume: a.resume,
        limits: Limits {
            warmup: a.warmup,
            min_runs: a.min_runs,
            max_runs: a.runs,
            max_seconds: a.max_seconds,
            precision: (a.precision > 0.0).then_some(a.precision),
            cooldown_ms: a.cooldown_ms,
        },
        batch: a.batch,
        unit_timeout_s: a.unit_timeout,
        seed: a.seed,
        ep: a.ep,
        threads: a.threads,
        opt_level: a.opt_level,
        wgpu_backend: a.wgpu_backend,
        adapter: a.adapter.clone(),
        runner: a.runner.clone(),
        ort_lib: a.ort_lib.clone(),
        fixed_performance: !a.no_fixed_performance,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} units, ETA {eta} {wide_msg}",
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
        "{}: {} units for {} ({}): {} already measured, {} measured now, {} failed, {} missing; {:.1} s",
        r.lut.display(),
        r.units,
        r.model,
        r.devices.join(", "),
        r.already_measured,
        r.measured,
        r.failed,
        r.missing,
        r.seconds
    )?;
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
