//! The search crate's error type.

use std::path::PathBuf;

/// Errors of a search.
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

    /// PyTorch's distributed engine (c10d) failed: a store, a peer, a collective.
    #[error("c10d: {0}")]
    Distributed(String),

    /// The data model refused something (an incomplete table, a bad architecture).
    #[error(transparent)]
    Lut(#[from] lookup_tables::Error),
}

/// Result with the search crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
