//! The files the profiler puts on a device: the device-runner built for its ABI and,
//! for `--backend ort`, the ONNX Runtime library that goes next to it.

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

/// The device-runner binary for `abi`: `explicit` when given; the host's own build next
/// to `moga` for the host's ABI; the `aarch64-linux-android` build of
/// scripts/build-android.sh for `arm64-v8a`.
pub fn runner_for(abi: &str, explicit: Option<&Path>) -> Result<PathBuf> {
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
    if abi == host_abi() {
        let p = dir.join("device-runner");
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(
                &p,
                "build it with `cargo build` (it is part of the workspace) or pass --runner PATH",
            ))
        };
    }
    if abi == "arm64-v8a" {
        // target/<profile>/moga → target/aarch64-linux-android/release/device-runner
        let p = dir.join("../aarch64-linux-android/release/device-runner");
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(
                &p,
                "build it with `ANDROID_NDK_HOME=/path/to/ndk scripts/build-android.sh` (needs the Android NDK) or pass --runner PATH",
            ))
        };
    }
    Err(Error::Missing {
        what: format!("device-runner for {abi}"),
        message:
            "moga builds runners for arm64-v8a and for this host; pass --runner PATH for other ABIs"
                .into(),
    })
}

/// The ONNX Runtime library for `abi`: `explicit` when given; the host's (the one the
/// host runner would load) for the host's ABI; `.deps/android/arm64-v8a/libonnxruntime.so`
/// for phones.
pub fn ort_lib_for(abi: &str, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return device_runner::ort_lib::probe(p, "--ort-lib")
            .map(|l| l.path)
            .map_err(Error::from);
    }
    if abi == host_abi() {
        return Ok(device_runner::ort_lib::locate(None)?.path);
    }
    let p = exe_dir()
        .unwrap_or_default()
        .join("../../.deps/android/arm64-v8a/libonnxruntime.so");
    if p.is_file() {
        return Ok(p);
    }
    Err(Error::Missing {
        what: format!("libonnxruntime.so for {abi}"),
        message: format!(
            "{} does not exist: take jni/{abi}/libonnxruntime.so from the onnxruntime-android 1.31.x AAR (Maven Central, com.microsoft.onnxruntime:onnxruntime-android) and put it there, or pass --ort-lib PATH",
            p.display()
        ),
    })
}
