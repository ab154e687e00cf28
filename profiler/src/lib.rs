//! The host side of profiling: which devices there are (this machine as `local`, phones
//! behind adb servers), how to reach them, and turning their measurements into LUTs.
//!
//! Host-only by design: it uses adb_client and spawns processes, so it never ends up in
//! the device-runner, which must build for Android.

#![warn(missing_docs)]

pub mod adb;
pub mod local;
