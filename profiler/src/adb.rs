//! The adb side: servers (started on demand, on the right port), the devices they list,
//! and commands and file transfers on one device through adb_client in server mode.
//!
//! moga starts a local adb server itself (`adb -P PORT start-server`), because
//! adb_client's own start-up ignores the port it was given; adb_client is therefore
//! built with a no-op start command. Servers on other hosts are used as they are.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use adb_client::ADBDeviceExt;
use adb_client::server::ADBServer;
use adb_client::server_device::ADBServerDevice;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::shell;

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

/// Servers from `MOGA_ADB_SERVERS` (comma-separated `host:port`), else the default.
pub fn servers_from_env() -> Result<Vec<SocketAddrV4>> {
    match std::env::var("MOGA_ADB_SERVERS") {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').map(|s| parse_server(s.trim())).collect()
        }
        _ => Ok(vec![default_server()]),
    }
}

/// Reads `HOST:PORT` (IPv4, or `localhost`).
pub fn parse_server(s: &str) -> Result<SocketAddrV4> {
    let fixed = s
        .strip_prefix("localhost:")
        .map(|p| format!("127.0.0.1:{p}"));
    fixed
        .as_deref()
        .unwrap_or(s)
        .parse()
        .map_err(|_| Error::Adb {
            server: s.to_string(),
            message: "expected IPV4:PORT, e.g. 127.0.0.1:5037".into(),
        })
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

fn listening(server: SocketAddrV4) -> bool {
    TcpStream::connect_timeout(&server.into(), Duration::from_millis(500)).is_ok()
}

/// adb_client for `server`, with its own server start-up disabled (see the module doc).
fn client(server: SocketAddrV4) -> ADBServer {
    ADBServer::new_from_path(server, Some("true".into()))
}

/// Looks at the adb binary and the server at `server` without starting anything.
pub fn probe(server: SocketAddrV4) -> AdbProbe {
    let client_version = match Command::new("adb").arg("version").output() {
        Ok(out) if out.status.success() => parse_adb_version(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| "unrecognised `adb version` output".to_string()),
        Ok(out) => Err(format!("`adb version` exited with {}", out.status)),
        Err(e) => Err(format!(
            "cannot run adb: {e} (scripts/setup.sh installs Debian's adb)"
        )),
    };
    let server_version = if listening(server) {
        client(server)
            .version()
            .map(|v| v.to_string())
            .map_err(|e| format!("the server did not answer: {e}"))
    } else {
        Err("not running; the profiler starts it when needed".into())
    };
    AdbProbe {
        client: client_version,
        server: server.to_string(),
        server_version,
    }
}

/// Makes sure a server answers at `server`: a local one is started with `adb -P PORT
/// start-server` when none listens; a remote one must already run.
pub fn ensure_server(server: SocketAddrV4) -> Result<()> {
    if listening(server) {
        return Ok(());
    }
    let err = |m: String| Error::Adb {
        server: server.to_string(),
        message: m,
    };
    if !server.ip().is_loopback() {
        return Err(err(
            "nothing listens there (start `adb -a server` on that host)".into(),
        ));
    }
    let out = Command::new("adb")
        .args(["-P", &server.port().to_string(), "start-server"])
        .output()
        .map_err(|e| {
            err(format!(
                "cannot run adb to start the server: {e} (scripts/setup.sh installs it)"
            ))
        })?;
    if !out.status.success() {
        return Err(err(format!(
            "`adb start-server` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(server) {
        if Instant::now() > deadline {
            return Err(err("the server did not come up within 10 s".into()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// One line of `adb devices -l`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The serial (`host:port` for TCP devices).
    pub serial: String,
    /// `device`, `offline`, `unauthorized`, …
    pub state: String,
}

/// `adb devices` output (`serial<TAB>state[ extra…]` per line) as a list; unlike
/// adb_client's parser it keeps lines such as `no permissions (…)` as a state.
pub fn parse_devices(text: &str) -> Vec<Listed> {
    text.lines()
        .filter(|l| {
            !l.trim().is_empty() && !l.starts_with("List of devices") && !l.starts_with('*')
        })
        .filter_map(|l| {
            let (serial, rest) = l.split_once(['\t', ' '])?;
            let state = rest.split_whitespace().next().unwrap_or("unknown");
            let state = if rest.trim().starts_with("no permissions") {
                "no-permissions"
            } else {
                state
            };
            Some(Listed {
                serial: serial.to_string(),
                state: state.to_string(),
            })
        })
        .collect()
}

/// The devices a server lists (started first when local).
pub fn list(server: SocketAddrV4) -> Result<Vec<Listed>> {
    ensure_server(server)?;
    let mut c = client(server);
    // adb_client rejects the whole list on one odd line; read it raw through the adb
    // binary when that happens.
    match c.devices() {
        Ok(v) => Ok(v
            .into_iter()
            .map(|d| Listed {
                serial: d.identifier,
                state: d.state.to_string(),
            })
            .collect()),
        Err(_) => {
            let out = Command::new("adb")
                .args([
                    "-H",
                    &server.ip().to_string(),
                    "-P",
                    &server.port().to_string(),
                    "devices",
                ])
                .output()
                .map_err(|e| Error::Adb {
                    server: server.to_string(),
                    message: e.to_string(),
                })?;
            Ok(parse_devices(&String::from_utf8_lossy(&out.stdout)))
        }
    }
}

/// `adb connect HOST:PORT` through `server` (devices on TCP, device farms).
pub fn connect(server: SocketAddrV4, device: SocketAddrV4) -> Result<()> {
    ensure_server(server)?;
    client(server)
        .connect_device(device)
        .map_err(|e| Error::Adb {
            server: server.to_string(),
            message: format!("connecting {device}: {e}"),
        })
}

/// A command's result on a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellOutput {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Its exit status.
    pub code: i32,
}

/// One device behind an adb server.
pub struct AdbDevice {
    /// The serial.
    pub serial: String,
    /// The server.
    pub server: SocketAddrV4,
}

/// Runs `argv` (quoted word by word) in `dir` on `dev`, killed after `timeout_s` when
/// given; the exit status is recovered from a marker (adb_client drops it).
fn run_on(
    dev: &mut dyn ADBDeviceExt,
    id: &str,
    argv: &[&str],
    dir: Option<&str>,
    timeout_s: Option<u64>,
) -> Result<ShellOutput> {
    let nonce = shell::nonce();
    let line = shell::with_status(dir, argv, timeout_s, &nonce);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    dev.shell_command(
        &line,
        Some(&mut out as &mut dyn Write),
        Some(&mut err as &mut dyn Write),
    )
    .map_err(|e| Error::device(id, format!("running `{}`: {e}", shell::join(argv))))?;
    let (stdout, code) = shell::split_status(&String::from_utf8_lossy(&out), &nonce);
    let code = code.ok_or_else(|| {
        Error::device(
            id,
            format!(
                "`{}` ended without an exit status: the connection broke",
                shell::join(argv)
            ),
        )
    })?;
    Ok(ShellOutput {
        stdout,
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code,
    })
}

fn push_on(dev: &mut dyn ADBDeviceExt, id: &str, local: &Path, remote: &str) -> Result<()> {
    let mut file = std::fs::File::open(local).map_err(|e| Error::io(local, e))?;
    dev.push(&mut file, &remote)
        .map_err(|e| Error::device(id, format!("pushing {} to {remote}: {e}", local.display())))
}

fn pull_on(dev: &mut dyn ADBDeviceExt, id: &str, remote: &str, local: &Path) -> Result<()> {
    let mut buf = Vec::new();
    dev.pull(&remote, &mut buf)
        .map_err(|e| Error::device(id, format!("pulling {remote}: {e}")))?;
    lookup_tables::write_atomic(local, &buf)
        .map_err(|e| Error::io(local, std::io::Error::other(e.to_string())))
}

impl AdbDevice {
    fn handle(&self) -> ADBServerDevice {
        ADBServerDevice::new(self.serial.clone(), Some(self.server))
    }

    /// Runs `argv` in `dir` with the real exit status.
    pub fn run(
        &self,
        argv: &[&str],
        dir: Option<&str>,
        timeout_s: Option<u64>,
    ) -> Result<ShellOutput> {
        run_on(&mut self.handle(), &self.serial, argv, dir, timeout_s)
    }

    /// Copies a local file to `remote` (a full path).
    pub fn push(&self, local: &Path, remote: &str) -> Result<()> {
        push_on(&mut self.handle(), &self.serial, local, remote)
    }

    /// Copies `remote` to a local file (atomically).
    pub fn pull(&self, remote: &str, local: &Path) -> Result<()> {
        pull_on(&mut self.handle(), &self.serial, remote, local)
    }
}

/// A device reached directly over TCP (adb_client's direct mode: no adb server; the
/// device's adbd on HOST:PORT, authenticated with `~/.android/adbkey`). Its id is
/// `tcp:HOST:PORT`.
pub struct DirectDevice {
    /// `tcp:HOST:PORT`.
    pub id: String,
    /// The device's address.
    pub addr: std::net::SocketAddr,
    dev: std::sync::Mutex<adb_client::tcp::ADBTcpDevice>,
}

impl DirectDevice {
    /// Connects to adbd at `addr`.
    pub fn connect(addr: std::net::SocketAddr) -> Result<DirectDevice> {
        let id = format!("tcp:{addr}");
        let dev = adb_client::tcp::ADBTcpDevice::new(addr)
            .map_err(|e| Error::device(&id, format!("connecting directly: {e}")))?;
        Ok(DirectDevice {
            id,
            addr,
            dev: std::sync::Mutex::new(dev),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut dyn ADBDeviceExt) -> Result<T>) -> Result<T> {
        let mut d = self
            .dev
            .lock()
            .map_err(|_| Error::device(&self.id, "connection poisoned"))?;
        f(&mut *d)
    }

    /// Runs `argv` in `dir` with the real exit status (stderr arrives merged into
    /// stdout in this mode).
    pub fn run(
        &self,
        argv: &[&str],
        dir: Option<&str>,
        timeout_s: Option<u64>,
    ) -> Result<ShellOutput> {
        self.with(|d| run_on(d, &self.id, argv, dir, timeout_s))
    }

    /// Copies a local file to `remote`.
    pub fn push(&self, local: &Path, remote: &str) -> Result<()> {
        self.with(|d| push_on(d, &self.id, local, remote))
    }

    /// Copies `remote` to a local file (atomically).
    pub fn pull(&self, remote: &str, local: &Path) -> Result<()> {
        self.with(|d| pull_on(d, &self.id, remote, local))
    }
}

/// A device's properties (`getprop`).
pub fn properties(
    run: impl Fn(&[&str]) -> Result<ShellOutput>,
) -> Result<BTreeMap<String, String>> {
    Ok(crate::props::parse_getprop(&run(&["getprop"])?.stdout))
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

    #[test]
    fn parses_captured_device_lists() {
        let text = "List of devices attached\n0123456789ABCDEF\tdevice\n192.168.1.20:5555\toffline\nZX1G22\tno permissions (user in plugdev group); see [http://developer.android.com/tools/device.html]\nemulator-5554\tunauthorized\n\n";
        let l = parse_devices(text);
        let states: Vec<(&str, &str)> = l
            .iter()
            .map(|d| (d.serial.as_str(), d.state.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                ("0123456789ABCDEF", "device"),
                ("192.168.1.20:5555", "offline"),
                ("ZX1G22", "no-permissions"),
                ("emulator-5554", "unauthorized")
            ]
        );
    }

    #[test]
    fn server_addresses() {
        assert_eq!(parse_server("localhost:5038").unwrap().port(), 5038);
        assert!(
            parse_server("phone-farm")
                .unwrap_err()
                .to_string()
                .contains("phone-farm")
        );
    }
}
