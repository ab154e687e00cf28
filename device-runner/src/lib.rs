//! The program that runs on the device and measures: ONNX models in, outputs and
//! latency statistics out, through one of two backends:
//!
//! - `wgpu`: WGSL compute kernels on the device GPU (Vulkan on Android, Vulkan, GL or
//!   Metal elsewhere);
//! - `ort`: ONNX Runtime, loaded from `libonnxruntime.so` at run time;
//!
//! plus `cpu`, a plain reference interpreter that the GPU kernels are tested against.
//! Super-resolution models can also take and give images ([`image_io`]).
//!
//! It must build for `aarch64-linux-android`, so it depends on nothing host-only (no
//! tch, no adb): the host crates drive it over adb or as a local process, and use its
//! ONNX builder to make the models it runs. A backend left out at build time reports
//! "not compiled with X" instead of breaking the build.

#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod cpu;
mod error;
#[cfg(feature = "wgpu")]
pub mod gpu;
pub mod graph;
pub mod heat;
pub mod image_io;
pub mod info;
pub mod limit_profiles;
pub mod onnx;
#[cfg(feature = "ort")]
pub mod ort_backend;
pub mod ort_lib;
pub mod protocol;
pub mod scratch;
pub mod session;

pub use error::{Error, Result};

/// This runner's version (the workspace version).
pub const RUNNER_VERSION: &str = env!("CARGO_PKG_VERSION");
