//! The device-runner's error type: each variant names the library, adapter, file or
//! backend it is about, since these messages come back from a phone to the host.

use std::path::PathBuf;

/// Errors of the device-runner library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A backend that this build left out.
    #[error(
        "this device-runner was not compiled with the {backend} backend (rebuild with --features {backend})"
    )]
    NotCompiled {
        /// `wgpu` or `ort`.
        backend: &'static str,
    },

    /// No ONNX Runtime library could be found.
    #[error(
        "no ONNX Runtime library found: {tried} (pass --ort-lib PATH or set ORT_DYLIB_PATH; scripts/setup.sh installs one under .deps/)"
    )]
    OrtNotFound {
        /// The places looked at, in order.
        tried: String,
    },

    /// An ONNX Runtime library that cannot be used.
    #[error("ONNX Runtime library {}: {message}", path.display())]
    OrtLibrary {
        /// The library file.
        path: PathBuf,
        /// What is wrong with it (not loadable, wrong version, ...).
        message: String,
    },

    /// The GPU API failed.
    #[error("wgpu ({backend}): {message}")]
    Gpu {
        /// The wgpu backends tried.
        backend: String,
        /// What failed.
        message: String,
    },
}

/// Result with the device-runner's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
