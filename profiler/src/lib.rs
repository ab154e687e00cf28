//! The host side of profiling: which devices there are (this machine as `local`, phones
//! behind adb servers), how to run commands and move files on them safely, and turning
//! their measurements into latency tables without losing any.
//!
//! Host-only by design: it uses adb_client and spawns processes, so it never ends up in
//! the device-runner, which must build for Android.

#![warn(missing_docs)]

pub mod adb;
pub mod context;
pub mod device;
mod error;
pub mod local;
pub mod lock;
pub mod measure;
pub mod meta;
pub mod networks;
pub mod prepare;
pub mod profile;
pub mod props;
pub mod reference;
pub mod runner;
pub mod schedule;
pub mod shell;
pub mod thermal;
pub mod validate;

pub use error::{Error, Result};
