//! What the runner reports about the device it runs on: OS, ABI, versions, GPU adapters
//! and the ONNX Runtime library. The host records this in every LUT it builds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::{AdapterSummary, BackendChoice};
use crate::ort_lib::{self, OrtLibrary};

/// The whole report (`device-runner info --json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunnerInfo {
    /// This runner's version.
    pub runner_version: String,
    /// `linux`, `android`, `macos`, ...
    pub os: String,
    /// Kernel or OS release where readable.
    pub os_release: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    /// Android ABI name for the architecture (`arm64-v8a`, `x86_64`).
    pub abi: String,
    /// Backends compiled into this runner.
    pub backends: Vec<String>,
    /// wgpu version, when compiled in.
    pub wgpu_version: Option<String>,
    /// Adapters found (empty when wgpu is absent or failed).
    pub adapters: Vec<AdapterSummary>,
    /// Why adapter enumeration failed, if it did.
    pub adapters_error: Option<String>,
    /// The adapter (an index into `adapters`) that `--api auto` with no adapter named
    /// runs on: the first, in the runner's preference, that opens and runs a kernel
    /// correctly (a phone's broken Vulkan driver is passed over for its GLES one).
    /// `None` where none does, with `--api` other than auto, or unless `info
    /// --auto-adapter` asked for it.
    #[serde(default)]
    pub auto_adapter: Option<usize>,
    /// The ONNX Runtime library, when found.
    pub ort: Option<OrtLibrary>,
    /// Execution providers compiled into that library.
    pub ort_providers: Vec<String>,
    /// Why the ONNX Runtime library is not usable, if it is not.
    pub ort_error: Option<String>,
}

/// The wgpu version this runner was built with (the LUT's backend version; a test
/// holds it to Cargo.lock).
pub const WGPU_VERSION: &str = "30.0.2";

/// The Android ABI name of the CPU architecture this binary was built for.
pub fn abi() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64-v8a",
        "arm" => "armeabi-v7a",
        "x86" => "x86",
        "x86_64" => "x86_64",
        other => other,
    }
}

fn os_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Gathers the report; nothing in it is fatal, failures are reported in place.
pub fn gather(backend: BackendChoice, ort_lib: Option<&Path>, probe_auto: bool) -> RunnerInfo {
    #[cfg(feature = "wgpu")]
    let listed = crate::gpu::adapters(backend);
    #[cfg(not(feature = "wgpu"))]
    let listed: crate::Result<Vec<AdapterSummary>> = {
        let _ = backend;
        Err(crate::Error::NotCompiled { backend: "wgpu" })
    };
    let (adapters, adapters_error) = match listed {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    // What `--api auto` runs on is found the way it is chosen: by opening it.
    #[cfg(feature = "wgpu")]
    let auto_adapter = (probe_auto && backend == BackendChoice::All && !adapters.is_empty())
        .then(|| crate::gpu::GpuContext::new(&crate::gpu::GpuOptions::default()).ok())
        .flatten()
        .and_then(|ctx| {
            adapters
                .iter()
                .position(|a| a.name == ctx.adapter.name && a.backend == ctx.adapter.backend)
        });
    #[cfg(not(feature = "wgpu"))]
    let auto_adapter = {
        let _ = probe_auto;
        None
    };
    let (ort, ort_error) = match ort_lib::locate(ort_lib) {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(e.to_string())),
    };
    #[cfg(feature = "ort")]
    let ort_providers = match &ort {
        Some(l) => crate::ort_backend::OrtRuntime::get(Some(&l.path))
            .map(|rt| rt.providers.clone())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    #[cfg(not(feature = "ort"))]
    let ort_providers = Vec::new();
    let mut backends = Vec::new();
    if cfg!(feature = "wgpu") {
        backends.push("wgpu".to_string());
    }
    if cfg!(feature = "ort") {
        backends.push("ort".to_string());
    }
    RunnerInfo {
        runner_version: crate::RUNNER_VERSION.to_string(),
        os: std::env::consts::OS.to_string(),
        os_release: os_release(),
        arch: std::env::consts::ARCH.to_string(),
        abi: abi().to_string(),
        backends,
        wgpu_version: cfg!(feature = "wgpu").then(|| WGPU_VERSION.to_string()),
        adapters,
        adapters_error,
        auto_adapter,
        ort,
        ort_providers,
        ort_error,
    }
}

/// Prepares the environment of a process without a display before any GPU work.
///
/// Mesa's Vulkan driver probes for a Wayland compositor, and libwayland prints
/// "XDG_RUNTIME_DIR is invalid or not set" to stderr on every enumeration when that
/// variable is missing. With no compositor to find, pointing it at the temporary folder
/// changes nothing but the noise.
///
/// # Safety
/// Sets an environment variable: call it before the process starts any thread.
pub unsafe fn prepare_headless_env() {
    let unset = |v: &str| std::env::var_os(v).is_none_or(|x| x.is_empty());
    if unset("XDG_RUNTIME_DIR") && unset("WAYLAND_DISPLAY") && unset("WAYLAND_SOCKET") {
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}
