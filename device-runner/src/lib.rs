//! The program that runs on the device and measures: ONNX models in, outputs and
//! latency statistics out, through one of two backends:
//!
//! - `wgpu`: WGSL compute kernels on the device GPU (Vulkan on Android, Vulkan, GL or
//!   Metal elsewhere);
//! - `ort`: ONNX Runtime, loaded from `libonnxruntime.so` at run time.
//!
//! It must build for `aarch64-linux-android`, so it depends on nothing host-only (no
//! tch, no adb): the host crates drive it over adb or as a local process. A backend
//! left out at build time reports "not compiled with X" instead of breaking the build.

#![warn(missing_docs)]

mod error;
pub mod gpu;
pub mod info;
pub mod ort_lib;

pub use error::{Error, Result};

/// This runner's version (the workspace version).
pub const RUNNER_VERSION: &str = env!("CARGO_PKG_VERSION");
