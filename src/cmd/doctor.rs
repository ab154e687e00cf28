//! `moga doctor`: is the whole stack there and working? GPU adapters through wgpu,
//! the ONNX Runtime library, libtorch (with a gradient computed), adb, and the Android
//! target for building the phone runner. Exits non-zero when something required is
//! missing, so scripts can gate on it. `--device ID` checks a device instead: what it
//! is, its GPU APIs and matching limit profile, its thermal zones, its runner.

use std::io::Write;
use std::process::{Command, ExitCode};

use anyhow::Result;
use device_runner::backend::{AdapterSummary, BackendChoice};
use device_runner::gpu;
use device_runner::limit_profiles;
use device_runner::ort_lib::{self, OrtLibrary};
use profiler::adb::{self, AdbProbe};
use profiler::device::{self, Device, DeviceSummary};
use profiler::local::{self, LocalHost};
use profiler::props::{self, HeatReading};
use profiler::runner::{self, Platform};
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
    if let Some(id) = &args.device {
        return device_doctor(id, &args);
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

/// `moga doctor --device ID`'s findings.
#[derive(Serialize)]
struct DeviceReport {
    device: DeviceSummary,
    /// `android` or `linux` (what the runner is built for besides the ABI).
    platform: &'static str,
    /// The limit profile the GPU's renderer matches (`device-runner --limits`).
    limit_profile: Option<&'static str>,
    /// `dumpsys thermalservice`'s status, where the device has the service.
    thermal_status: Option<String>,
    /// Thermal zones, CPU/GPU clocks and battery temperature, as readable.
    heat: Result<HeatReading, String>,
    /// The device-runner on this machine for the device's ABI and platform.
    runner: Result<std::path::PathBuf, String>,
    ok: bool,
}

fn device_doctor(id: &str, args: &DoctorArgs) -> Result<ExitCode> {
    let list = super::devices::servers(&args.servers)?;
    let root = super::devices::local_root(&args.servers);
    let device = device::open(id, &list, &root, super::devices::wait(&args.servers))?;
    let mut summary = device.summary()?;
    if matches!(device, Device::Local(_)) {
        summary.apis = super::devices::local_apis();
        if let Ok(list) = gpu::adapters(BackendChoice::All) {
            let names: Vec<String> = list
                .iter()
                .filter(|a| a.compute)
                .map(|a| format!("{} [{}]", a.name, a.backend))
                .collect();
            summary.gpu = names.join(", ");
        }
    }
    let platform = match &device {
        Device::Local(_) => Platform::Linux,
        _ => Platform::probe(|argv| device.run(argv, None, Some(30)))?,
    };
    let abi = if summary.abi.is_empty() {
        runner::host_abi().to_string()
    } else {
        summary.abi.clone()
    };
    let runner = runner::runner_for(&abi, platform, None).map_err(|e| e.to_string());
    let thermal_status = match &device {
        Device::Local(_) => None,
        _ => device
            .run(&["dumpsys", "thermalservice"], None, Some(30))
            .ok()
            .and_then(|o| props::parse_thermal_status(&o.stdout)),
    };
    let report = DeviceReport {
        limit_profile: limit_profiles::matching(&summary.gpu).map(|p| p.name),
        platform: match platform {
            Platform::Android => "android",
            Platform::Linux => "linux",
        },
        thermal_status,
        heat: device.heat().map_err(|e| e.to_string()),
        ok: runner.is_ok() && !summary.apis.is_empty(),
        runner,
        device: summary,
    };
    let mut out = std::io::stdout().lock();
    if args.out.json {
        json_line(&mut out, &report)?;
    } else {
        print_device(&mut out, &report)?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_device(out: &mut impl Write, r: &DeviceReport) -> std::io::Result<()> {
    let d = &r.device;
    let what: Vec<&str> = [d.manufacturer.as_str(), d.model.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    writeln!(
        out,
        "device {}: {} ({}), {}, {} {}, {}",
        d.id,
        what.join(" "),
        d.soc,
        d.os,
        d.abi,
        r.platform,
        d.transport
    )?;
    if d.apis.is_empty() {
        writeln!(
            out,
            "FAIL apis      no GPU compute API declared (neither a Vulkan driver nor OpenGL ES 3.1+): moga's GPU backend cannot run; use --backend ort"
        )?;
    } else {
        writeln!(
            out,
            "ok   apis      {} (moga profile --api {})",
            d.apis.join(", "),
            if d.apis.iter().any(|a| a == "vulkan") {
                "auto: Vulkan first, GLES if Vulkan fails"
            } else {
                "gles: no Vulkan driver"
            }
        )?;
    }
    let gpu = if d.gpu.is_empty() {
        "renderer not readable (dumpsys SurfaceFlinger)".to_string()
    } else {
        d.gpu.clone()
    };
    match r.limit_profile {
        Some(p) => writeln!(
            out,
            "ok   gpu       {gpu}: limit profile {p} (its limits on this machine: device-runner --limits {p})"
        )?,
        None => writeln!(
            out,
            "info gpu       {gpu}: no limit profile matches (device-runner info lists them); the device's own driver decides"
        )?,
    }
    match &r.heat {
        Ok(h) if h.zones.is_empty() => writeln!(
            out,
            "warn thermal   no readable zones in /sys/class/thermal: moga cannot see this device heat up"
        )?,
        Ok(h) => {
            let z = &h.zones;
            writeln!(
                out,
                "ok   thermal   {} zones ({} readable){}",
                z.len(),
                z.iter().filter(|z| z.celsius.is_some()).count(),
                h.hottest()
                    .map(|(c, k)| format!(", hottest {k} {c:.1}°C"))
                    .unwrap_or_default()
            )?
        }
        Err(e) => writeln!(out, "warn thermal   {e}")?,
    }
    if let Ok(h) = &r.heat {
        let mut clocks: Vec<String> = h
            .cpu_khz
            .iter()
            .map(|(p, k)| format!("cpu {p} {} MHz", k / 1000))
            .collect();
        if let Some((source, hz)) = &h.gpu_hz {
            clocks.push(format!("gpu {source} {} MHz", hz / 1_000_000));
        }
        if let Some(c) = h.battery_celsius {
            clocks.push(format!("battery {c:.1}°C"));
        }
        if clocks.is_empty() {
            writeln!(
                out,
                "info clocks    no readable cpufreq policy, GPU clock or battery temperature"
            )?;
        } else {
            writeln!(out, "ok   clocks    {}", clocks.join(", "))?;
        }
    }
    if let Some(s) = &r.thermal_status {
        writeln!(
            out,
            "info thermal   thermal status {s} (dumpsys thermalservice)"
        )?;
    }
    match &r.runner {
        Ok(p) => writeln!(out, "ok   runner    {}", p.display())?,
        Err(e) => writeln!(out, "FAIL runner    {e}")?,
    }
    writeln!(
        out,
        "{}",
        if r.ok {
            "the device is ready to profile"
        } else {
            "the device is not ready to profile: see FAIL above"
        }
    )
}
