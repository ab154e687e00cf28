//! A test double of a phone's `adbd`, for testing moga's profiler without a phone: it
//! speaks the real ADB transport protocol over TCP loopback, so the real Debian `adb`
//! server connects to it (`adb connect 127.0.0.1:PORT`) exactly as to a phone over Wi-Fi
//! or a device farm, and adb_client talks to it through that server.
//!
//! What it does on the device side is real too: shell commands run on this host (with
//! shell v2 exit codes), files pushed and pulled with the sync protocol land under a
//! root folder, and the ABI it reports (x86_64) makes the profiler push the host's own
//! device-runner. It is a fixture: no authentication, no TLS, and only the services the
//! profiler uses.

pub mod protocol;
pub mod server;
pub mod thermal;
