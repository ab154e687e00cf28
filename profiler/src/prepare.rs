//! Getting a device ready to measure: its description, the profiling lock, the runner
//! (and ONNX Runtime) in place, the runner's own report of the device, and
//! fixed-performance mode on phones; and giving the device back afterwards.

use std::collections::BTreeMap;
use std::path::Path;

use device_runner::backend::BackendKind;
use device_runner::info::RunnerInfo;

use crate::device::{Device, DeviceSummary};
use crate::error::{Error, Result};
use crate::lock::DeviceLock;
use crate::profile::ProfileOptions;
use crate::{props, runner};

/// A device ready to measure: runner in place, lock held.
pub struct Prepared {
    /// The device.
    pub device: Device,
    /// What it is.
    pub summary: DeviceSummary,
    pub(crate) lock: DeviceLock,
    /// The runner's path on the device.
    pub runner: String,
    /// The ONNX Runtime library's path on the device (`ort` only).
    pub ort_lib: Option<String>,
    /// Where this run's models go on the device (`local`: the host's staging folder).
    pub work_dir: String,
    /// `device-runner info` on the device.
    pub info: RunnerInfo,
    /// Whether fixed-performance mode was asked for and granted (`None`: not asked).
    pub fixed_performance: Option<bool>,
    /// Waiting for it to cool down before each batch (`--max-temp`).
    pub thermal: Option<crate::thermal::ThermalGuard>,
    /// Measuring a throttled batch again (`--throttle-check`).
    pub throttle_check: Option<crate::thermal::ThrottleCheck>,
    /// Its hottest zone before each batch, and the waits.
    pub heat: std::sync::Mutex<crate::thermal::HeatLog>,
}

impl Prepared {
    /// Gives phones their normal clock policy back and releases the lock.
    pub fn release(self, opts: &ProfileOptions) -> Result<()> {
        end_fixed_performance(&self.device, opts);
        self.lock.release(&self.device)
    }

    /// A model's path on the device: in place on `local`, else pushed (when changed)
    /// into this run's folder.
    pub fn place(&self, local: &Path) -> Result<String> {
        match self.device {
            Device::Local(_) => Ok(local.display().to_string()),
            _ => {
                let file = local
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .ok_or_else(|| Error::Missing {
                        what: "model file".into(),
                        message: format!("{} names no file", local.display()),
                    })?;
                let remote = format!("{}/{file}", self.work_dir);
                self.device.push_if_changed(local, &remote)?;
                Ok(remote)
            }
        }
    }
}

/// Readable device state (thermal status, temperatures, clocks), for the table.
pub(crate) fn device_state(device: &Device) -> BTreeMap<String, String> {
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
            // The GPU clock as the per-batch heat readings take it (one sysfs reader).
            if let Ok(h) = device.heat()
                && let Some((_, hz)) = h.gpu_hz
            {
                out.insert("gpu clock hz".into(), hz.to_string());
            }
        }
    }
    out
}

/// Locks `device`, puts the runner (and ONNX Runtime) on it, reads its report and asks
/// phones for fixed-performance mode. Models of this run go to `<work root>/<folder>`
/// on phones, and stay in `staging` on `local`.
pub fn prepare(
    device: Device,
    opts: &ProfileOptions,
    staging: &Path,
    folder: &str,
) -> Result<Prepared> {
    let summary = device.summary()?;
    let lock = DeviceLock::acquire(&device)?;
    let result = (|| {
        let abi = if summary.abi.is_empty() {
            runner::host_abi().to_string()
        } else {
            summary.abi.clone()
        };
        // What this device needs from the host, named with the device: with several
        // devices of different ABIs, which one lacks it matters.
        let for_device = |e: Error| Error::device(device.id(), e.to_string());
        let platform = match &device {
            Device::Local(_) => runner::Platform::Linux,
            _ => runner::Platform::probe(|argv| device.run(argv, None, Some(30)))?,
        };
        let host_runner =
            runner::runner_for(&abi, platform, opts.runner.as_deref()).map_err(for_device)?;
        let host_lib = match opts.backend {
            BackendKind::Ort => Some(
                runner::ort_lib_for(&abi, platform, opts.ort_lib.as_deref()).map_err(for_device)?,
            ),
            _ => None,
        };
        let (runner_path, lib_path, work_dir) = match &device {
            // This machine runs the host's files in place.
            Device::Local(_) => (
                host_runner.display().to_string(),
                host_lib.map(|p| p.display().to_string()),
                staging.display().to_string(),
            ),
            Device::Adb(_) | Device::Direct(_) => {
                let root = device.work_root();
                let bin = format!("{root}/bin");
                let work = format!("{root}/{folder}");
                device.check(&["mkdir", "-p", &bin, &work])?;
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
                (r, lib, work)
            }
        };
        let mut argv = vec![runner_path.as_str(), "info", "--json"];
        if let Some(l) = &lib_path {
            argv.extend(["--ort-lib", l.as_str()]);
        }
        // The adapter `--api auto` runs on decides the table's adapter; finding it opens
        // the GPU (minutes on an emulated device), so only where it decides.
        if opts.backend == BackendKind::Wgpu
            && opts.gpu.wgpu_backend == device_runner::backend::BackendChoice::All
            && opts.gpu.adapter.is_none()
        {
            argv.push("--auto-adapter");
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
        let info: RunnerInfo = serde_json::from_str(out.stdout.trim()).map_err(|e| {
            Error::device(
                device.id(),
                format!(
                    "`device-runner info` printed no report ({e}): {}",
                    out.stdout.trim()
                ),
            )
        })?;
        // The runner on the device is the one pushed (same size and SHA-256): a
        // different version here means the push did not take.
        if info.runner_version != device_runner::RUNNER_VERSION {
            return Err(Error::device(
                device.id(),
                format!(
                    "{runner_path} reports runner version {}; this moga needs {}",
                    info.runner_version,
                    device_runner::RUNNER_VERSION
                ),
            ));
        }
        let mut fixed = None;
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
        Ok((runner_path, lib_path, work_dir, info, fixed))
    })();
    match result {
        Ok((runner, ort_lib, work_dir, info, fixed_performance)) => Ok(Prepared {
            device,
            summary,
            lock,
            runner,
            ort_lib,
            work_dir,
            info,
            fixed_performance,
            thermal: opts.thermal,
            throttle_check: opts.throttle_check,
            heat: Default::default(),
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
