//! The profiler's error type. Every variant names the device (and where it matters the
//! unit, file or command), because a profiling run spans several devices and hours.

use std::path::PathBuf;

/// Errors of the host side of profiling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An adb server that cannot be reached or refused a request.
    #[error("adb server {server}: {message}")]
    Adb {
        /// `host:port`.
        server: String,
        /// What failed.
        message: String,
    },

    /// No device with this id.
    #[error("no device '{id}' ({known})")]
    NoSuchDevice {
        /// What was asked for.
        id: String,
        /// The devices there are.
        known: String,
    },

    /// A device that failed or went away.
    #[error("device {device}: {message}")]
    Device {
        /// The device id.
        device: String,
        /// What failed.
        message: String,
    },

    /// A device already being profiled.
    #[error(
        "device {device} is being profiled by {holder} (lock {lock}); if that run is gone, remove the lock with `moga devices --unlock {device}`"
    )]
    Locked {
        /// The device id.
        device: String,
        /// Who holds the lock: host, process, start time.
        holder: String,
        /// The lock's path on the device.
        lock: String,
    },

    /// Files the profiler needs that are not there (a runner for the device's ABI, an
    /// ONNX Runtime library).
    #[error("{what}: {message}")]
    Missing {
        /// What is missing.
        what: String,
        /// Where moga looked and how to provide it.
        message: String,
    },

    /// An existing table that the run would not extend consistently.
    #[error("{}: {message}", path.display())]
    Table {
        /// The table.
        path: PathBuf,
        /// Why.
        message: String,
    },

    /// A local file operation.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },

    /// The data model refused something (a table, a space).
    #[error(transparent)]
    Lut(#[from] lookup_tables::Error),

    /// The device-runner library refused something (a model).
    #[error(transparent)]
    Runner(#[from] device_runner::Error),
}

/// Result with the profiler's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn device(device: &str, message: impl Into<String>) -> Error {
        Error::Device {
            device: device.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            error,
        }
    }
}
