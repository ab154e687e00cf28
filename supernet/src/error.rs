//! The supernet crate's error type.

use std::path::PathBuf;

/// Errors of supernet training and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting that cannot work, with what to do instead.
    #[error("{0}")]
    Usage(String),

    /// A file that could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },

    /// The data model refused something (a bad architecture, a space).
    #[error(transparent)]
    Lut(#[from] lookup_tables::Error),
}

/// Result with the supernet crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for search::Error {
    fn from(e: Error) -> search::Error {
        match e {
            Error::Usage(m) => search::Error::Usage(m),
            Error::Io { path, error } => search::Error::Io { path, error },
            Error::Lut(e) => search::Error::Lut(e),
        }
    }
}
