//! `moga doctor`: is the whole stack there and working? GPU adapters through wgpu,
//! the ONNX Runtime library, libtorch (with a gradient computed), adb, and the Android
//! target for building the phone runner. Exits non-zero when something required is
//! missing, so scripts can gate on it.

use std::io::Write;
use std::process::{Command, ExitCode};

use anyhow::Result;
use device_runner::backend::{AdapterSummary, BackendChoice};
use device_runner::gpu;
use device_runner::ort_lib::{self, OrtLibrary};
use profiler::adb::{self, AdbProbe};
use profiler::local::{self, LocalHost};
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::output::json_line;
use crate::torch::{Libtorch, TorchInfo};

#[derive(Serialize)]
struct Report {
    moga_version: &'static str,
    host: LocalHost,
    adapters: Result<Vec<AdapterSummary>, String>,
    onnxruntime: Result<OrtLibrary, String>,
    /// In the `moga-torch` helper (moga itself links no libtorch).
    libtorch: TorchInfo,
    adb: AdbProbe,
    android_target: Result<bool, String>,
    ok: bool,
}

fn android_target_installed() -> Result<bool, String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "aarch64-linux-android"))
}

/// `moga doctor`; with `--libtorch-only` (in the helper), libtorch's report alone.
pub fn run(args: DoctorArgs, torch: &dyn Libtorch) -> Result<ExitCode> {
    if args.libtorch_only {
        let info = torch.info().map_err(anyhow::Error::msg)?;
        json_line(&mut std::io::stdout().lock(), &info)?;
        return Ok(ExitCode::SUCCESS);
    }
    let adapters = gpu::adapters(BackendChoice::All).map_err(|e| e.to_string());
    let onnxruntime = ort_lib::locate(args.ort_lib.as_deref()).map_err(|e| e.to_string());
    let libtorch = torch.info().unwrap_or_else(TorchInfo::unavailable);
    let gpu_ok = adapters.as_ref().is_ok_and(|a| a.iter().any(|x| x.compute));
    let ok = gpu_ok && onnxruntime.is_ok() && libtorch.compute_ok;
    let report = Report {
        moga_version: env!("CARGO_PKG_VERSION"),
        host: local::describe(),
        adapters,
        onnxruntime,
        libtorch,
        adb: adb::probe(adb::default_server()),
        android_target: android_target_installed(),
        ok,
    };
    let mut out = std::io::stdout().lock();
    if args.out.json {
        json_line(&mut out, &report)?;
    } else {
        print(&mut out, &report)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok  " } else { "FAIL" }
}

fn print(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let h = &r.host;
    writeln!(
        out,
        "moga {} on {} ({} × {}, {}, {})",
        r.moga_version, h.hostname, h.cpus, h.cpu, h.os, h.abi
    )?;
    match &r.adapters {
        Ok(list) if list.iter().any(|a| a.compute) => {
            for a in list {
                writeln!(
                    out,
                    "{} gpu       {} [{}, {}] timestamps {}",
                    mark(a.compute),
                    a.name,
                    a.backend,
                    a.driver_info,
                    if a.timestamp_query { "yes" } else { "no" }
                )?;
            }
        }
        Ok(_) => writeln!(
            out,
            "FAIL gpu       no adapter with compute shaders (install mesa-vulkan-drivers: scripts/setup.sh)"
        )?,
        Err(e) => writeln!(out, "FAIL gpu       {e}")?,
    }
    match &r.onnxruntime {
        Ok(l) => writeln!(
            out,
            "ok   ort       onnxruntime {} at {} ({})",
            l.version,
            l.path.display(),
            l.source
        )?,
        Err(e) => writeln!(out, "FAIL ort       {e}")?,
    }
    let t = &r.libtorch;
    match &t.error {
        Some(e) => writeln!(out, "FAIL torch     {e}")?,
        None => writeln!(
            out,
            "{} torch     libtorch {}, {} threads, CUDA {}{} (in the moga-torch helper)",
            mark(t.compute_ok),
            t.version,
            t.threads,
            if t.cuda {
                format!("yes ({} devices)", t.cuda_devices)
            } else {
                "no".into()
            },
            if t.compute_ok {
                ""
            } else {
                ", gradient check FAILED"
            }
        )?,
    }
    match &r.adb.client {
        Ok(v) => writeln!(out, "ok   adb       adb {v}")?,
        Err(e) => writeln!(out, "warn adb       {e}")?,
    }
    match &r.adb.server_version {
        Ok(v) => writeln!(
            out,
            "ok   adb       server {} answers (protocol {v})",
            r.adb.server
        )?,
        Err(e) => writeln!(out, "info adb       server {}: {e}", r.adb.server)?,
    }
    match &r.android_target {
        Ok(true) => writeln!(
            out,
            "ok   android   rust target aarch64-linux-android installed (linking needs the NDK: scripts/build-runner.sh aarch64-linux-android)"
        )?,
        Ok(false) => writeln!(
            out,
            "warn android   rust target aarch64-linux-android missing (scripts/setup.sh adds it)"
        )?,
        Err(e) => writeln!(out, "warn android   {e}")?,
    }
    writeln!(
        out,
        "{}",
        if r.ok {
            "all required components work"
        } else {
            "some required components are missing: run scripts/setup.sh"
        }
    )
}
