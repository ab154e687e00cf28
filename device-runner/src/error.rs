//! The device-runner's error type: each variant names the library, adapter, file, node or
//! tensor it is about, since these messages come back from a phone to the host.

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

    /// ONNX Runtime refused or failed.
    #[error("onnxruntime: {message}")]
    Ort {
        /// What failed, with ONNX Runtime's own message.
        message: String,
    },

    /// The GPU API failed.
    #[error("wgpu ({backend}): {message}")]
    Gpu {
        /// The adapter or backends concerned.
        backend: String,
        /// What failed.
        message: String,
    },

    /// A file that could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },

    /// A model that is not valid ONNX, or not one this runner can plan.
    #[error("model {model}: {message}")]
    Model {
        /// The model file or name.
        model: String,
        /// What is wrong.
        message: String,
    },

    /// A node the runner cannot execute as given.
    #[error("node '{node}' ({op}): {message}")]
    Node {
        /// The node's name (or its first output when unnamed).
        node: String,
        /// Its operator type.
        op: String,
        /// What is wrong: an attribute, a shape, a limit.
        message: String,
    },

    /// An image that cannot be read or written (the message names the file).
    #[error(transparent)]
    Image(#[from] imaging::Error),

    /// A tensor that cannot be read or does not fit.
    #[error("tensor '{name}': {message}")]
    Tensor {
        /// The tensor's name (or file).
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Result with the device-runner's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn tensor(name: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Tensor {
            name: name.into(),
            message: message.into(),
        }
    }

    pub(crate) fn node(node: &str, op: &str, message: impl Into<String>) -> Error {
        Error::Node {
            node: node.to_string(),
            op: op.to_string(),
            message: message.into(),
        }
    }
}
