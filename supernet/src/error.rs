//! The supernet crate's errors are the search crate's: both report the same three
//! kinds (a setting that cannot work, a file, the data model), and the supernet serves
//! search as its accuracy oracle, so one type carries them without conversion.

pub use search::{Error, Result};
