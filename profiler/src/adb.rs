//! The adb side: where the adb server is, whether it answers, which adb is installed.
//!
//! adb_client talks to the server; it does not read `ANDROID_ADB_SERVER_PORT`, so the
//! address is worked out here the way adb itself does it.

use std::net::{SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

/// The adb server's default port.
pub const DEFAULT_PORT: u16 = 5037;

/// The local server's address: 127.0.0.1 and `ANDROID_ADB_SERVER_PORT` or 5037.
pub fn default_server() -> SocketAddrV4 {
    let port = std::env::var("ANDROID_ADB_SERVER_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(DEFAULT_PORT);
    SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port)
}

/// What `moga doctor` reports about adb.
#[derive(Clone, Debug, Serialize)]
pub struct AdbProbe {
    /// First line of `adb version`, or why it could not run.
    pub client: Result<String, String>,
    /// The server address looked at.
    pub server: String,
    /// The running server's protocol version (e.g. `1.0.41`), or why none answered.
    pub server_version: Result<String, String>,
}

/// `Android Debug Bridge version 1.0.41\nVersion 29.0.6-debian\n…` → `1.0.41 (29.0.6-debian)`.
pub fn parse_adb_version(output: &str) -> Option<String> {
    let mut lines = output.lines();
    let proto = lines
        .next()?
        .strip_prefix("Android Debug Bridge version ")?
        .trim();
    match lines.next().and_then(|l| l.strip_prefix("Version ")) {
        Some(tools) => Some(format!("{proto} ({})", tools.trim())),
        None => Some(proto.to_string()),
    }
}

/// Looks at the adb binary and the server at `server` without starting anything: the
/// server is asked for its version only when something already listens there.
pub fn probe(server: SocketAddrV4) -> AdbProbe {
    let client = match Command::new("adb").arg("version").output() {
        Ok(out) if out.status.success() => parse_adb_version(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| "unrecognised `adb version` output".to_string()),
        Ok(out) => Err(format!("`adb version` exited with {}", out.status)),
        Err(e) => Err(format!(
            "cannot run adb: {e} (scripts/setup.sh installs Debian's adb)"
        )),
    };
    let server_version =
        match TcpStream::connect_timeout(&server.into(), Duration::from_millis(500)) {
            Err(e) => Err(format!(
                "not running ({e}); the profiler starts it when needed"
            )),
            Ok(_) => adb_client::server::ADBServer::new(server)
                .version()
                .map(|v| v.to_string())
                .map_err(|e| format!("the server did not answer: {e}")),
        };
    AdbProbe {
        client,
        server: server.to_string(),
        server_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_adb_version() {
        let debian = "Android Debug Bridge version 1.0.41\nVersion 29.0.6-debian\nInstalled as /usr/lib/android-sdk/platform-tools/adb\n";
        assert_eq!(
            parse_adb_version(debian).as_deref(),
            Some("1.0.41 (29.0.6-debian)")
        );
        assert_eq!(
            parse_adb_version("Android Debug Bridge version 1.0.39\n").as_deref(),
            Some("1.0.39")
        );
        assert_eq!(parse_adb_version("adb: not found"), None);
    }
}
