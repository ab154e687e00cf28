//! Devices, whatever carries them: this machine (`local`) or a phone behind an adb
//! server (USB, `adb connect host:port`, a device farm). One enum, so the profiler has
//! one code path and each transport keeps its own types.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::adb::{self, AdbDevice, DirectDevice, ShellOutput};
use crate::error::{Error, Result};
use crate::local::{self, LOCAL_ID, LocalDevice};
use crate::props;

/// Where moga keeps its files on a phone.
pub const PHONE_WORK_ROOT: &str = "/data/local/tmp/moga";

/// What `moga devices` reports per device.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeviceSummary {
    /// The id to pass to `--device` (`local`, or the adb serial).
    pub id: String,
    /// `local`, or `adb HOST:PORT`.
    pub transport: String,
    /// `device` when usable; adb's state otherwise (`offline`, `unauthorized`, …).
    pub state: String,
    /// Model (`ro.product.model`; the CPU for `local`).
    pub model: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// SoC or board (`ro.soc.model`, `ro.board.platform`).
    pub soc: String,
    /// CPU ABI (`arm64-v8a`, `x86_64`).
    pub abi: String,
    /// Operating system (`Android 14 (API 34)`, or the host's).
    pub os: String,
    /// GPU renderer where readable (SurfaceFlinger's GLES line).
    pub gpu: String,
    /// GPU APIs it offers for compute (`vulkan`, `gles3.2`; phones: as their properties
    /// declare them; this machine: its wgpu adapters').
    pub apis: Vec<String>,
}

/// A device to run commands on.
pub enum Device {
    /// This machine.
    Local(LocalDevice),
    /// A device behind an adb server.
    Adb(AdbDevice),
    /// A device reached directly over TCP, without an adb server.
    Direct(DirectDevice),
}

impl Device {
    /// The id (`local` or the serial).
    pub fn id(&self) -> &str {
        match self {
            Device::Local(_) => LOCAL_ID,
            Device::Adb(d) => &d.serial,
            Device::Direct(d) => &d.id,
        }
    }

    /// Where moga keeps its files on the device.
    pub fn work_root(&self) -> String {
        match self {
            Device::Local(l) => l.work_root.display().to_string(),
            Device::Adb(_) | Device::Direct(_) => PHONE_WORK_ROOT.to_string(),
        }
    }

    /// Runs `argv` in `dir` with the real exit status.
    pub fn run(
        &self,
        argv: &[&str],
        dir: Option<&str>,
        timeout_s: Option<u64>,
    ) -> Result<ShellOutput> {
        match self {
            Device::Local(l) => l.run(argv, dir, timeout_s),
            Device::Adb(d) => d.run(argv, dir, timeout_s),
            Device::Direct(d) => d.run(argv, dir, timeout_s),
        }
    }

    /// Runs `argv` and fails unless it exits with 0.
    pub fn check(&self, argv: &[&str]) -> Result<String> {
        let out = self.run(argv, None, Some(120))?;
        if out.code != 0 {
            return Err(Error::device(
                self.id(),
                format!(
                    "`{}` exited with {}: {}",
                    crate::shell::join(argv),
                    out.code,
                    out.stderr.trim()
                ),
            ));
        }
        Ok(out.stdout)
    }

    /// The device's thermal zones, CPU and GPU clocks and battery temperature, as far as
    /// its sysfs lets the shell read them (empty where it exposes nothing).
    pub fn heat(&self) -> Result<props::HeatReading> {
        let out = self.run(&["sh", "-c", props::HEAT_SH], None, Some(30))?;
        Ok(props::parse_heat(&out.stdout))
    }

    /// Copies a local file onto the device.
    pub fn push(&self, local: &Path, remote: &str) -> Result<()> {
        match self {
            Device::Local(_) => {
                let tmp = format!("{remote}.moga-partial");
                std::fs::copy(local, &tmp).map_err(|e| Error::io(&tmp, e))?;
                std::fs::rename(&tmp, remote).map_err(|e| Error::io(remote, e))
            }
            Device::Adb(d) => d.push(local, remote),
            Device::Direct(d) => d.push(local, remote),
        }
    }

    /// The size of a file on the device, `None` when it is absent.
    pub fn file_size(&self, remote: &str) -> Result<Option<u64>> {
        match self {
            Device::Local(_) => Ok(std::fs::metadata(remote).ok().map(|m| m.len())),
            Device::Adb(_) | Device::Direct(_) => {
                let out = self.run(&["stat", "-c", "%s", remote], None, Some(30))?;
                Ok(if out.code == 0 {
                    out.stdout.trim().parse().ok()
                } else {
                    None
                })
            }
        }
    }

    /// The SHA-256 of a file on the device (lowercase hex), `None` when it is absent or
    /// the device cannot hash it (no `sha256sum`).
    pub fn file_sha256(&self, remote: &str) -> Result<Option<String>> {
        match self {
            Device::Local(_) => match std::fs::File::open(remote) {
                Ok(f) => sha256_of(f).map(Some).map_err(|e| Error::io(remote, e)),
                Err(_) => Ok(None),
            },
            Device::Adb(_) | Device::Direct(_) => {
                let out = self.run(&["sha256sum", remote], None, Some(120))?;
                Ok(out
                    .stdout
                    .split_whitespace()
                    .next()
                    .filter(|h| out.code == 0 && h.len() == 64)
                    .map(str::to_ascii_lowercase))
            }
        }
    }

    /// Pushes `local` unless the device already has the same file there: same size and
    /// same SHA-256 (a stale runner of the same size, e.g. from another build of the
    /// same version, is replaced). A device that cannot hash gets the file again.
    pub fn push_if_changed(&self, local: &Path, remote: &str) -> Result<bool> {
        let size = std::fs::metadata(local)
            .map_err(|e| Error::io(local, e))?
            .len();
        if self.file_size(remote)? == Some(size) {
            let want = std::fs::File::open(local)
                .and_then(sha256_of)
                .map_err(|e| Error::io(local, e))?;
            if self.file_sha256(remote)?.as_deref() == Some(want.as_str()) {
                return Ok(false);
            }
        }
        self.push(local, remote)?;
        Ok(true)
    }

    /// Describes the device (best effort for what is not readable).
    pub fn summary(&self) -> Result<DeviceSummary> {
        match self {
            Device::Local(_) => {
                let h = local::describe();
                Ok(DeviceSummary {
                    id: LOCAL_ID.into(),
                    transport: "local".into(),
                    state: "device".into(),
                    model: h.cpu.clone(),
                    manufacturer: String::new(),
                    soc: format!("{} × {}", h.cpus, h.cpu),
                    abi: h.abi,
                    os: h.os,
                    gpu: String::new(),
                    apis: Vec::new(),
                })
            }
            Device::Adb(_) | Device::Direct(_) => {
                let p = adb::properties(|argv| self.run(argv, None, Some(30)))?;
                let get = |k: &str| p.get(k).cloned().unwrap_or_default();
                let soc = [
                    get("ro.soc.model"),
                    get("ro.board.platform"),
                    get("ro.hardware"),
                ]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_default();
                let gpu = self
                    .run(&["dumpsys", "SurfaceFlinger"], None, Some(30))
                    .ok()
                    .and_then(|o| props::parse_gles(&o.stdout))
                    .unwrap_or_default();
                Ok(DeviceSummary {
                    id: self.id().to_string(),
                    transport: match self {
                        Device::Adb(d) => format!("adb {}", d.server),
                        Device::Direct(d) => format!("direct tcp {}", d.addr),
                        Device::Local(_) => unreachable!("handled above"),
                    },
                    state: "device".into(),
                    model: get("ro.product.model"),
                    manufacturer: get("ro.product.manufacturer"),
                    soc,
                    abi: get("ro.product.cpu.abi"),
                    os: format!(
                        "Android {} (API {})",
                        get("ro.build.version.release"),
                        get("ro.build.version.sdk")
                    ),
                    gpu,
                    apis: props::gpu_apis(&p),
                })
            }
        }
    }
}

/// The SHA-256 of everything `r` yields, lowercase hex.
pub fn sha256_of(mut r: impl std::io::Read) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The default folder for `local`'s files: `$XDG_CACHE_HOME/moga/local` or
/// `~/.cache/moga/local`.
pub fn default_local_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("moga").join("local")
}

/// Every device: `local`, then each server's devices (with their details when usable).
/// A server that fails is reported in the second list and does not hide the others.
pub fn discover(servers: &[SocketAddrV4], local_root: &Path) -> (Vec<DeviceSummary>, Vec<String>) {
    let mut found = vec![
        Device::Local(LocalDevice {
            work_root: local_root.to_path_buf(),
        })
        .summary()
        .unwrap_or_default(),
    ];
    let mut errors = Vec::new();
    for &server in servers {
        match adb::list(server) {
            Err(e) => errors.push(e.to_string()),
            Ok(list) => {
                for l in list {
                    let dev = AdbDevice {
                        serial: l.serial.clone(),
                        server,
                    };
                    let summary = if l.state == "device" {
                        Device::Adb(dev).summary()
                    } else {
                        Err(Error::device(&l.serial, l.state.clone()))
                    };
                    found.push(summary.unwrap_or_else(|_| DeviceSummary {
                        id: l.serial.clone(),
                        transport: format!("adb {server}"),
                        state: l.state.clone(),
                        ..DeviceSummary::default()
                    }));
                }
            }
        }
    }
    (found, errors)
}

/// adb states a device leaves on its own: a restarted adbd or a TCP device being
/// reconnected is `offline` or `connecting` for a few seconds; `unauthorized` waits for
/// someone to accept the USB debugging prompt.
fn may_come_back(state: &str) -> bool {
    matches!(
        state,
        "offline" | "connecting" | "authorizing" | "unauthorized"
    )
}

/// Waits, at most `wait`, for `serial` on `server` to be `device`; `say` gets one line
/// each time what it waits for changes (a progress line for people). Fails with one
/// line naming the device, its state and the wait.
pub fn wait_for_device(
    serial: &str,
    server: SocketAddrV4,
    wait: Duration,
    say: &dyn Fn(String),
) -> Result<()> {
    let start = Instant::now();
    let mut said: Option<Option<String>> = None;
    loop {
        let state = adb::list(server)
            .ok()
            .and_then(|l| l.into_iter().find(|d| d.serial == serial))
            .map(|d| d.state);
        if state.as_deref() == Some("device") {
            if said.is_some() {
                say(format!(
                    "device {serial}: back after {:.0} s",
                    start.elapsed().as_secs_f64()
                ));
            }
            return Ok(());
        }
        let shown = state.as_deref().unwrap_or("not listed");
        if state.as_deref().is_some_and(|s| !may_come_back(s)) || start.elapsed() >= wait {
            return Err(Error::device(
                serial,
                format!(
                    "is {shown} on adb server {server}; waited {} s (--wait-device) for it to be `device` (authorised, online)",
                    wait.as_secs()
                ),
            ));
        }
        if said.as_ref() != Some(&state) {
            let left = wait.saturating_sub(start.elapsed()).as_secs();
            say(match state.as_deref() {
                Some("unauthorized") => format!(
                    "device {serial} is unauthorized: accept the USB debugging prompt on the phone; waiting up to {left} s (--wait-device)"
                ),
                _ => format!(
                    "device {serial} is {shown} on adb server {server}; waiting up to {left} s for it to come back (--wait-device)"
                ),
            });
            said = Some(state);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

impl Device {
    /// Whether the device can go away and come back: an adb device can (a restarted
    /// adbd, a reconnected TCP device, a replugged cable).
    pub fn can_come_back(&self) -> bool {
        matches!(self, Device::Adb(_))
    }

    /// Waits, at most `wait`, for a device that went away to be usable again (see
    /// [`Device::can_come_back`]; for the others this is an error at once).
    pub fn wait_until_back(&self, wait: Duration, say: &dyn Fn(String)) -> Result<()> {
        match self {
            Device::Adb(d) => wait_for_device(&d.serial, d.server, wait, say),
            Device::Local(_) | Device::Direct(_) => Err(Error::device(
                self.id(),
                "only devices behind an adb server can come back",
            )),
        }
    }
}

/// Opens device `id`: `local`, `tcp:HOST:PORT` (directly, no adb server), or a serial
/// found on one of `servers`. A listed device that is `offline`, `connecting` or
/// `unauthorized` is waited for, at most `wait`, with a line on stderr saying so.
pub fn open(
    id: &str,
    servers: &[SocketAddrV4],
    local_root: &Path,
    wait: Duration,
) -> Result<Device> {
    if id == LOCAL_ID {
        return Ok(Device::Local(LocalDevice {
            work_root: local_root.to_path_buf(),
        }));
    }
    if let Some(addr) = id.strip_prefix("tcp:") {
        let addr = addr
            .parse()
            .map_err(|_| Error::device(id, "expected tcp:IPV4:PORT"))?;
        return Ok(Device::Direct(DirectDevice::connect(addr)?));
    }
    let mut known = vec![LOCAL_ID.to_string()];
    for &server in servers {
        for l in adb::list(server)? {
            if l.serial == id {
                if l.state != "device" {
                    wait_for_device(id, server, wait, &|line| eprintln!("moga: {line}"))?;
                }
                return Ok(Device::Adb(AdbDevice {
                    serial: l.serial,
                    server,
                }));
            }
            known.push(l.serial);
        }
    }
    Err(Error::NoSuchDevice {
        id: id.to_string(),
        known: format!("known: {}", known.join(", ")),
    })
}
