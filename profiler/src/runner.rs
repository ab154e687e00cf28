//! The files the profiler puts on a device: the device-runner built for its ABI and
//! platform and, for `--backend ort`, the ONNX Runtime library that goes next to it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder of the running `moga` binary (where a workspace build puts
/// `device-runner` too).
fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
}

/// The host's ABI name.
pub fn host_abi() -> &'static str {
    device_runner::info::abi()
}

/// What a device's programs are built for besides the ABI: Android (bionic; the NDK
/// builds for it) or GNU/Linux (glibc: boards with adbd, the arm64 adbd fixture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Android: `/system/bin/linker64` exists.
    Android,
    /// Anything else, taken as GNU/Linux.
    Linux,
}

impl Platform {
    /// The platform of the device `run` executes on: Android has the bionic linker.
    pub fn probe(run: impl Fn(&[&str]) -> Result<crate::adb::ShellOutput>) -> Result<Platform> {
        Ok(if run(&["test", "-e", "/system/bin/linker64"])?.code == 0 {
            Platform::Android
        } else {
            Platform::Linux
        })
    }
}

/// The Rust target of the device-runner for a device, `None` for the host's own build.
pub fn target_for(abi: &str, platform: Platform) -> Result<Option<&'static str>> {
    Ok(match (abi, platform) {
        (a, Platform::Linux) if a == host_abi() => None,
        ("arm64-v8a", Platform::Android) => Some("aarch64-linux-android"),
        ("arm64-v8a", Platform::Linux) => Some("aarch64-unknown-linux-gnu"),
        ("x86_64", Platform::Android) => Some("x86_64-linux-android"),
        ("x86_64", Platform::Linux) => Some("x86_64-unknown-linux-gnu"),
        _ => {
            return Err(Error::Missing {
                what: format!("device-runner for {abi} ({platform:?})"),
                message: "moga builds runners for arm64-v8a and x86_64 (Android or GNU/Linux); pass --runner PATH for other ABIs".into(),
            });
        }
    })
}

/// The device-runner binary for a device: `explicit` when given; the host's own build
/// next to `moga` for a device like the host; else `scripts/build-runner.sh TARGET`'s
/// output, `target/TARGET/release/device-runner`.
pub fn runner_for(abi: &str, platform: Platform, explicit: Option<&Path>) -> Result<PathBuf> {
    let missing = |looked: &Path, how: &str| Error::Missing {
        what: format!("device-runner for {abi}"),
        message: format!("{} does not exist; {how}", looked.display()),
    };
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(missing(p, "check --runner"))
        };
    }
    let dir = exe_dir().unwrap_or_default();
    let Some(target) = target_for(abi, platform)? else {
        let p = dir.join("device-runner");
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(
                &p,
                "build it with `cargo build` (it is part of the workspace) or pass --runner PATH",
            ))
        };
    };
    // target/<profile>/moga → target/<target>/release/device-runner
    let p = dir.join(format!("../{target}/release/device-runner"));
    if p.is_file() {
        Ok(p)
    } else {
        let how = if target.contains("android") {
            format!(
                "build it with `ANDROID_NDK_HOME=/path/to/ndk scripts/build-runner.sh {target}` (needs the Android NDK) or pass --runner PATH"
            )
        } else {
            format!("build it with `scripts/build-runner.sh {target}` or pass --runner PATH")
        };
        Err(missing(&p, &how))
    }
}

/// The ONNX Runtime library for a device: `explicit` when given; the host's (the one the
/// host runner would load) for a device like the host;
/// `.deps/android/<abi>/libonnxruntime.so` for Android, `.deps/linux/<abi>/…` for
/// GNU/Linux (scripts/setup.sh fetches the arm64 one from PyPI's onnxruntime wheel).
pub fn ort_lib_for(abi: &str, platform: Platform, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return device_runner::ort_lib::probe(p, "--ort-lib")
            .map(|l| l.path)
            .map_err(Error::from);
    }
    if target_for(abi, platform)?.is_none() {
        return Ok(device_runner::ort_lib::locate(None)?.path);
    }
    let folder = match platform {
        Platform::Android => "android",
        Platform::Linux => "linux",
    };
    let p = exe_dir()
        .unwrap_or_default()
        .join(format!("../../.deps/{folder}/{abi}/libonnxruntime.so"));
    if p.is_file() {
        return Ok(p);
    }
    let how = match platform {
        Platform::Android => format!(
            "take jni/{abi}/libonnxruntime.so from the onnxruntime-android 1.31.x AAR (Maven Central, com.microsoft.onnxruntime:onnxruntime-android) and put it there"
        ),
        Platform::Linux => "run scripts/setup.sh (it takes it from the onnxruntime 1.31.1 wheel for manylinux aarch64)".into(),
    };
    Err(Error::Missing {
        what: format!("libonnxruntime.so for {abi}"),
        message: format!(
            "{} does not exist: {how}, or pass --ort-lib PATH",
            p.display()
        ),
    })
}
