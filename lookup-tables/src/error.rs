//! The one error type of the data model. Every variant says what went wrong and where
//! (file, line, field, layer, unit), because these errors reach users unchanged.

use std::path::PathBuf;

/// Errors of the data model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A search space name that is not one of ours.
    #[error("unknown search space '{name}' (known: {known})")]
    UnknownSpace {
        /// What the user typed.
        name: String,
        /// The known space names, comma-separated.
        known: String,
    },

    /// An architecture string that could not be read at all.
    #[error("cannot read architecture '{input}': {message}")]
    ArchSyntax {
        /// The text as given (shortened when long).
        input: String,
        /// What is wrong and where.
        message: String,
    },

    /// An architecture whose layer count does not match its space.
    #[error("space {space} has {expected} searchable layers, the architecture has {found}")]
    LayerCount {
        /// The space.
        space: String,
        /// Layers the space has.
        expected: usize,
        /// Layers given.
        found: usize,
    },

    /// A layer choice that the space does not offer at that layer.
    #[error("space {space}, layer {layer}: {message}")]
    InvalidChoice {
        /// The space.
        space: String,
        /// Zero-based index of the searchable layer.
        layer: usize,
        /// What is wrong, naming the bad choice and the valid ones.
        message: String,
    },

    /// A super-resolution cell with a field the space does not offer.
    #[error("space {space}, cell {cell}, field '{field}': {message}")]
    InvalidCell {
        /// The space.
        space: String,
        /// Zero-based index of the cell.
        cell: usize,
        /// The bad field: `filters`, `kernel` or `repeats`.
        field: &'static str,
        /// The bad value and the valid ones.
        message: String,
    },

    /// A space option (resolution, classes) that cannot work.
    #[error("space {space}: {message}")]
    SpaceOption {
        /// The space.
        space: String,
        /// What is wrong.
        message: String,
    },

    /// A LUT field that is malformed.
    #[error("{}: line {line}, field '{field}': {message}", path.display())]
    LutField {
        /// The table file.
        path: PathBuf,
        /// One-based line number in the file.
        line: u64,
        /// The column name.
        field: String,
        /// What is wrong with the value.
        message: String,
    },

    /// A LUT line that is malformed as a whole (wrong field count, duplicate unit).
    #[error("{}: line {line}: {message}", path.display())]
    LutLine {
        /// The table file.
        path: PathBuf,
        /// One-based line number in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },

    /// A LUT file that is malformed as a whole (no header, truncated).
    #[error("{}: {message}", path.display())]
    LutFile {
        /// The table file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// Two tables that cannot be merged.
    #[error("cannot merge {} into {}: {message}", other.display(), base.display())]
    Merge {
        /// The table merged into.
        base: PathBuf,
        /// The table being merged.
        other: PathBuf,
        /// Which field differs, or which unit conflicts.
        message: String,
    },

    /// A unit added twice to one table.
    #[error("unit {unit} is already in the table")]
    DuplicateUnit {
        /// The unit, displayed.
        unit: String,
    },

    /// A prediction that needs units the table lacks (or holds only as failed).
    #[error("the table cannot predict {arch}: {} unit(s) missing:\n  {}", missing.len(), missing.join("\n  "))]
    MissingUnits {
        /// The architecture, encoded.
        arch: String,
        /// Each missing unit, displayed, with the reason where it failed.
        missing: Vec<String>,
    },

    /// A JSON document that does not fit its schema.
    #[error("{what}: {error}")]
    Json {
        /// What was being read (a file, "architecture JSON", ...).
        what: String,
        /// The parser's message, with line and column.
        error: serde_json::Error,
    },

    /// A file system operation that failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error (shown in the message, so not also a `source`).
        error: std::io::Error,
    },
}

/// Result with the data model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }
}
