//! The imaging crate's errors: every one names the file it is about, because they reach
//! users unchanged (a folder of training images, an image to upscale).

use std::path::PathBuf;

/// Errors of reading and writing images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that is there but does not decode as a PNG or JPEG.
    #[error("{}: not an image moga can read ({message})", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        message: String,
    },

    /// An image that could not be encoded as PNG.
    #[error("{}: cannot write as PNG ({message})", path.display())]
    Encode {
        /// The file it was meant for.
        path: PathBuf,
        /// The encoder's complaint.
        message: String,
    },

    /// A file that could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (shown in the message, so not also a `source`).
        error: std::io::Error,
    },
}

/// Result with the imaging crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
