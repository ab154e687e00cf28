//! The device side of one ADB connection: the CNXN handshake (no AUTH: a device with
//! `ro.adb.secure=0`), streams opened by the host (`shell,v2:`, `shell:`, `exec:`,
//! `sync:`), each served on its own thread with the protocol's flow control (one
//! unacknowledged WRTE per stream).
//!
//! Commands run on this host with `sh -c` in the device's root folder; the device
//! path `/data/local/tmp` is mapped onto `<root>/data/local/tmp` (in commands and sync
//! paths), `getprop` answers from the configured properties, and sync refuses any path
//! outside `/data/local/tmp` or with `..`.
//!
//! Presented as an `arm64-v8a` device on a host of another architecture, the fixture
//! runs the programs it was given as an arm64 device would: every program under
//! `/data/local/tmp` in a command's command position goes through `moga-arm64-exec`,
//! which runs an aarch64 ELF under `qemu-aarch64` (its libraries from the host's arm64
//! multiarch root: Debian's `libc6:arm64`, `libvulkan1:arm64`, lavapipe as the device's
//! one Vulkan driver, an arm64 `/proc/cpuinfo` in a private mount namespace) and refuses
//! any other ELF as a phone's shell does (exit 126). So what the profiler pushes there must
//! really be the aarch64 runner and the aarch64 ONNX Runtime library.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::protocol::{
    self, A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_VERSION, A_WRTE, MAX_PAYLOAD, Message, shell, sync,
};
use crate::thermal::{Readings, Script, Thermal};

/// The device this fixture pretends to be.
#[derive(Clone, Debug)]
pub struct Config {
    /// Folder holding the device's files (`<root>/data/local/tmp`, `<root>/bin`).
    pub root: PathBuf,
    /// `ro.serialno`.
    pub serial: String,
    /// `ro.product.model`.
    pub model: String,
    /// `ro.product.manufacturer`.
    pub manufacturer: String,
    /// `ro.board.platform` / `ro.soc.model`.
    pub soc: String,
    /// `ro.product.cpu.abi`.
    pub abi: String,
    /// `ro.build.version.release`.
    pub android: String,
    /// `ro.build.version.sdk`.
    pub sdk: u32,
    /// Refuse every file sent with "No space left on device".
    pub disk_full: bool,
    /// Whether the device has a Vulkan driver: declared (`ro.hardware.vulkan`), and
    /// without one the programs it runs find none (their Vulkan loader is given a
    /// manifest whose driver is not there); it always declares OpenGL ES 3.2
    /// (`ro.opengles.version`).
    pub vulkan: bool,
    /// The `GLES: vendor, renderer, version` line `dumpsys SurfaceFlinger` prints (none:
    /// no `dumpsys`, as before).
    pub gles: Option<String>,
    /// Thermal zones (type, millidegrees) under the device's `/sys/class/thermal`.
    pub thermal_zones: Vec<(String, i64)>,
    /// cpufreq policies' `scaling_cur_freq` (policy, kHz).
    pub cpu_khz: Vec<(String, u64)>,
    /// Adreno's `kgsl-3d0/gpuclk`, Hz.
    pub gpu_hz: Option<u64>,
    /// The battery's `temp`, tenths of a degree.
    pub battery_tenths: Option<i64>,
    /// A heat model that drives the readings above and slows the device's programs
    /// while throttled (`--thermal-script`); started by [`Config::start_thermal`].
    pub thermal_script: Option<PathBuf>,
    /// The running heat model.
    pub thermal: Option<Arc<Thermal>>,
}

impl Default for Config {
    /// The fixture's device as `moga-adbd-fixture` presents it without arguments (no
    /// root yet): an x86_64 Android 14 phone with Vulkan and GLES 3.2, the host's sysfs.
    fn default() -> Config {
        Config {
            root: PathBuf::new(),
            serial: "moga-fixture".into(),
            model: "Moga Fixture".into(),
            manufacturer: "moga".into(),
            soc: "fixture-soc".into(),
            abi: "x86_64".into(),
            android: "14".into(),
            sdk: 34,
            disk_full: false,
            vulkan: true,
            gles: None,
            thermal_zones: Vec::new(),
            cpu_khz: Vec::new(),
            gpu_hz: None,
            battery_tenths: None,
            thermal_script: None,
            thermal: None,
        }
    }
}

/// The program every arm64 program runs through on an emulated arm64 device.
pub const ARM64_EXEC: &str = "moga-arm64-exec";

const ARM64_EXEC_SCRIPT: &str = r#"#!/bin/sh
# moga adbd fixture, arm64 device: runs a program as an arm64 device would. An aarch64
# ELF runs under qemu-aarch64, seeing the device's CPU description (an arm64
# /proc/cpuinfo, bound in a private mount namespace: ONNX Runtime's cpuinfo reads it)
# and the device's one Vulkan driver (lavapipe for arm64); any other ELF is refused as
# a phone's shell refuses it.
f=$1
shift
if [ "$(head -c 4 "$f" | od -An -c | tr -d ' \n')" = "177ELF" ]; then
  if [ "$(od -An -tx1 -j18 -N2 "$f" | tr -d ' \n')" = "b700" ]; then
    # scripts/setup.sh keeps the arm64 manifests out of the host loader's folder (a
    # device without Vulkan keeps the driver-less manifest the fixture gave it)
    [ -n "$MOGA_NO_VULKAN" ] || for icd in /usr/share/vulkan/icd.d.arm64-device/lvp_icd.aarch64.json \
      /usr/share/vulkan/icd.d/lvp_icd.aarch64.json; do
      [ -f "$icd" ] && export VK_ICD_FILENAMES="$icd" && break
    done
    cpuinfo=$(dirname "$0")/cpuinfo.arm64
    if unshare -m true 2> /dev/null; then
      exec unshare -m sh -c 'mount --bind "$0" /proc/cpuinfo && exec qemu-aarch64 "$@"' "$cpuinfo" "$f" "$@"
    fi
    exec qemu-aarch64 "$f" "$@"
  fi
  echo "/system/bin/sh: $f: not executable: 64-bit ELF file" >&2
  exit 126
fi
exec "$f" "$@"
"#;

/// The CPU an emulated arm64 device describes (four Cortex-A76 cores).
fn arm64_cpuinfo() -> String {
    (0..4)
        .map(|i| {
            format!(
                "processor\t: {i}\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
            )
        })
        .collect()
}

/// The device path mapped onto `<root>/data/local/tmp`.
pub const DEVICE_TMP: &str = "/data/local/tmp";

/// The device's sysfs, mapped onto `<root>/sys/` in commands when the fixture has its
/// own readings (thermal zones, clocks, battery).
const SYSFS: &str = "/sys/";

impl Config {
    /// The device's properties, as `getprop` lists them.
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ro.serialno", self.serial.clone()),
            ("ro.product.model", self.model.clone()),
            ("ro.product.manufacturer", self.manufacturer.clone()),
            ("ro.product.name", "moga_fixture".into()),
            ("ro.product.device", "fixture".into()),
            ("ro.board.platform", self.soc.clone()),
            ("ro.soc.model", self.soc.clone()),
            ("ro.hardware", self.soc.clone()),
            ("ro.product.cpu.abi", self.abi.clone()),
            ("ro.build.version.release", self.android.clone()),
            ("ro.build.version.sdk", self.sdk.to_string()),
            ("ro.adb.secure", "0".into()),
            (
                "ro.hardware.vulkan",
                if self.vulkan {
                    self.soc.clone()
                } else {
                    String::new()
                },
            ),
            ("ro.opengles.version", "196610".into()),
        ]
    }

    /// Whether programs run under emulation: an `arm64-v8a` device on a host of another
    /// architecture.
    pub fn emulated(&self) -> bool {
        self.abi == "arm64-v8a" && std::env::consts::ARCH != "aarch64"
    }

    /// Creates the device folders, the `getprop` script and (emulated) the arm64
    /// program launcher.
    pub fn prepare(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.root.join("data/local/tmp"))?;
        let bin = self.root.join("bin");
        std::fs::create_dir_all(&bin)?;
        let mut script =
            String::from("#!/bin/sh\n# getprop of the moga adbd fixture\ncase \"$1\" in\n");
        let mut all = String::new();
        for (k, v) in self.properties() {
            script.push_str(&format!("  {k}) printf '%s\\n' {} ;;\n", sh_quote(&v)));
            all.push_str(&format!("[{k}]: [{v}]\n"));
        }
        script.push_str(&format!("  '') printf '%s' {} ;;\nesac\n", sh_quote(&all)));
        write_script(&bin.join("getprop"), &script)?;
        if let Some(gles) = &self.gles {
            let dumpsys = format!(
                "#!/bin/sh\n# dumpsys of the moga adbd fixture\ncase \"$1\" in\n  SurfaceFlinger) printf 'Display 0 HWC layers:\\nGLES: %s\\n' {} ;;\n  *) echo \"Can't find service: $1\" >&2; exit 1 ;;\nesac\n",
                sh_quote(gles)
            );
            write_script(&bin.join("dumpsys"), &dumpsys)?;
        }
        let put = |path: &str, value: String| -> io::Result<()> {
            let p = self.root.join("sys").join(path);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(p, format!("{value}\n"))
        };
        for (i, (kind, milli)) in self.thermal_zones.iter().enumerate() {
            put(&format!("class/thermal/thermal_zone{i}/type"), kind.clone())?;
            put(
                &format!("class/thermal/thermal_zone{i}/temp"),
                milli.to_string(),
            )?;
        }
        for (policy, khz) in &self.cpu_khz {
            let f = format!("devices/system/cpu/cpufreq/{policy}/scaling_cur_freq");
            put(&f, khz.to_string())?;
        }
        if let Some(hz) = self.gpu_hz {
            put("class/kgsl/kgsl-3d0/gpuclk", hz.to_string())?;
        }
        if let Some(t) = self.battery_tenths {
            put("class/power_supply/battery/temp", t.to_string())?;
        }
        if self.emulated() {
            write_script(&bin.join(ARM64_EXEC), ARM64_EXEC_SCRIPT)?;
            std::fs::write(bin.join("cpuinfo.arm64"), arm64_cpuinfo())?;
        }
        Ok(())
    }

    fn banner(&self) -> Vec<u8> {
        format!("device::ro.product.name=moga_fixture;ro.product.model={};ro.product.device=fixture;features=shell_v2,cmd\0", self.model).into_bytes()
    }

    /// `<root>/data/local/tmp/…` for a device path under `/data/local/tmp` without `..`.
    pub fn map_path(&self, device_path: &str) -> Option<PathBuf> {
        let rel = device_path.strip_prefix(DEVICE_TMP)?;
        if !(rel.is_empty() || rel.starts_with('/')) {
            return None;
        }
        let rel = Path::new(rel.trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.root.join("data/local/tmp").join(rel))
    }

    /// Whether the device has its own sysfs readings (else commands see the host's).
    pub fn own_sysfs(&self) -> bool {
        !self.thermal_zones.is_empty()
            || !self.cpu_khz.is_empty()
            || self.gpu_hz.is_some()
            || self.battery_tenths.is_some()
            || self.thermal_script.is_some()
    }

    /// Starts the heat model of `--thermal-script` (after [`Config::prepare`], whose
    /// sysfs files it drives; a device with a script and no zone gets one,
    /// `cpu-thermal`, at the script's ambient temperature).
    pub fn start_thermal(&mut self) -> io::Result<()> {
        let Some(path) = self.thermal_script.clone() else {
            return Ok(());
        };
        let script = Script::read(&path).map_err(io::Error::other)?;
        if self.thermal_zones.is_empty() {
            self.thermal_zones
                .push(("cpu-thermal".into(), (script.ambient * 1000.0) as i64));
            self.prepare()?;
        }
        let sys = self.root.join("sys");
        let base = self.thermal_zones[0].1 as f64 / 1000.0;
        let readings = Readings {
            zones: (0..self.thermal_zones.len())
                .map(|i| {
                    (
                        sys.join(format!("class/thermal/thermal_zone{i}/temp")),
                        self.thermal_zones[i].1 as f64 / 1000.0 - base,
                    )
                })
                .collect(),
            clocks: self
                .cpu_khz
                .iter()
                .map(|(policy, khz)| {
                    (
                        sys.join(format!(
                            "devices/system/cpu/cpufreq/{policy}/scaling_cur_freq"
                        )),
                        *khz,
                    )
                })
                .chain(
                    self.gpu_hz
                        .map(|hz| (sys.join("class/kgsl/kgsl-3d0/gpuclk"), hz)),
                )
                .collect(),
            battery: self.battery_tenths.map(|t| {
                (
                    sys.join("class/power_supply/battery/temp"),
                    t as f64 / 10.0 - base,
                )
            }),
        };
        let t = Arc::new(Thermal::new(script, readings, Some(path))?);
        let model = t.clone();
        thread::spawn(move || model.run());
        self.thermal = Some(t);
        Ok(())
    }

    fn map_command(&self, cmd: &str) -> String {
        let cmd = if self.emulated() {
            launch_through(cmd, ARM64_EXEC)
        } else {
            cmd.to_string()
        };
        let cmd = if self.own_sysfs() {
            cmd.replace(SYSFS, &format!("{}{SYSFS}", self.root.display()))
        } else {
            cmd
        };
        cmd.replace(
            DEVICE_TMP,
            &format!("{}/data/local/tmp", self.root.display()),
        )
    }
}

fn write_script(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `cmd` with `launcher` put before every word in command position that names a file
/// under `/data/local/tmp` (the programs pushed to the device). Command positions: the
/// first word, the first after `;`, `&&`, `||` or `|`, and the first after `timeout`'s
/// options and duration. Words may be single-quoted (as the profiler quotes them).
pub fn launch_through(cmd: &str, launcher: &str) -> String {
    #[derive(PartialEq)]
    enum At {
        Command,
        TimeoutOptions,
        TimeoutOptionValue,
        Arguments,
    }
    let chars: Vec<char> = cmd.chars().collect();
    let mut out = String::with_capacity(cmd.len() + 32);
    let mut at = At::Command;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            out.push(c);
            i += 1;
            continue;
        }
        if matches!(c, ';' | '|' | '&') {
            while i < chars.len() && matches!(chars[i], ';' | '|' | '&') {
                out.push(chars[i]);
                i += 1;
            }
            at = At::Command;
            continue;
        }
        let start = i;
        let mut word = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else if c == '\\' && i + 1 < chars.len() {
                word.push(chars[i + 1]);
                i += 2;
            } else if c.is_whitespace() || matches!(c, ';' | '|' | '&') {
                break;
            } else {
                word.push(c);
                i += 1;
            }
        }
        let i_end = i.min(chars.len());
        if at == At::Command && word.starts_with(DEVICE_TMP) {
            out.push_str(launcher);
            out.push(' ');
        }
        out.extend(&chars[start..i_end]);
        at = match at {
            At::Command if word == "timeout" => At::TimeoutOptions,
            At::TimeoutOptions if word == "-s" || word == "-k" => At::TimeoutOptionValue,
            At::TimeoutOptions if word.starts_with('-') => At::TimeoutOptions,
            At::TimeoutOptions => At::Command,
            At::TimeoutOptionValue => At::TimeoutOptions,
            _ => At::Arguments,
        };
    }
    out
}

/// POSIX shell single-quoting.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Serves connections until the listener fails.
pub fn serve(listener: TcpListener, cfg: Arc<Config>) -> io::Result<()> {
    for conn in listener.incoming() {
        let conn = conn?;
        let cfg = cfg.clone();
        thread::spawn(move || {
            if let Err(e) = Connection::run(conn, cfg) {
                eprintln!("adbd-fixture: connection ended: {e}");
            }
        });
    }
    Ok(())
}

enum Event {
    Okay,
    Data(Vec<u8>),
    Close,
}

struct Connection {
    writer: Arc<Mutex<TcpStream>>,
    streams: HashMap<u32, Sender<Event>>,
    next_id: u32,
    max_payload: u32,
}

/// `MOGA_FIXTURE_TRACE=1` prints every message on stderr.
fn trace(dir: &str, m: &Message) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("MOGA_FIXTURE_TRACE").is_some()) {
        let name = String::from_utf8_lossy(&m.command.to_le_bytes()).into_owned();
        let head: String = String::from_utf8_lossy(&m.data[..m.data.len().min(40)])
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        eprintln!(
            "{dir} {name} {} {} [{}] {head}",
            m.arg0,
            m.arg1,
            m.data.len()
        );
    }
}

fn send(writer: &Mutex<TcpStream>, m: &Message) -> io::Result<()> {
    trace(">>", m);
    let mut w = writer
        .lock()
        .map_err(|_| io::Error::other("writer poisoned"))?;
    w.write_all(&protocol::encode(m))
}

impl Connection {
    fn run(conn: TcpStream, cfg: Arc<Config>) -> io::Result<()> {
        let mut reader = conn.try_clone()?;
        let mut c = Connection {
            writer: Arc::new(Mutex::new(conn)),
            streams: HashMap::new(),
            next_id: 1,
            max_payload: MAX_PAYLOAD,
        };
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match protocol::parse_message(&buf, MAX_PAYLOAD.max(1 << 20))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                {
                    None => break,
                    Some((m, used)) => {
                        buf.drain(..used);
                        c.handle(m, &cfg)?;
                    }
                }
            }
        }
    }

    fn handle(&mut self, m: Message, cfg: &Arc<Config>) -> io::Result<()> {
        trace("<<", &m);
        match m.command {
            A_CNXN => {
                self.max_payload = m.arg1.clamp(4096, MAX_PAYLOAD);
                send(
                    &self.writer,
                    &Message {
                        command: A_CNXN,
                        arg0: A_VERSION,
                        arg1: self.max_payload,
                        data: cfg.banner(),
                    },
                )
            }
            A_OPEN => {
                let (remote, local) = (m.arg0, self.next_id);
                self.next_id += 1;
                let service = String::from_utf8_lossy(&m.data)
                    .trim_end_matches('\0')
                    .to_string();
                let (tx, rx) = mpsc::channel();
                self.streams.insert(local, tx);
                send(
                    &self.writer,
                    &Message {
                        command: A_OKAY,
                        arg0: local,
                        arg1: remote,
                        data: Vec::new(),
                    },
                )?;
                let stream = Stream {
                    local,
                    remote,
                    writer: self.writer.clone(),
                    rx,
                    pending: Vec::new(),
                    max: self.max_payload as usize,
                    unacked: false,
                };
                let cfg = cfg.clone();
                thread::spawn(move || serve_stream(stream, &service, &cfg));
                Ok(())
            }
            A_OKAY => {
                if let Some(tx) = self.streams.get(&m.arg1) {
                    let _ = tx.send(Event::Okay);
                }
                Ok(())
            }
            A_WRTE => {
                let (remote, local) = (m.arg0, m.arg1);
                if let Some(tx) = self.streams.get(&local) {
                    // Acknowledge before the service sees the data, so its reply can
                    // never overtake the OKAY on the wire (adb_client reads strictly
                    // in order).
                    send(
                        &self.writer,
                        &Message {
                            command: A_OKAY,
                            arg0: local,
                            arg1: remote,
                            data: Vec::new(),
                        },
                    )?;
                    let _ = tx.send(Event::Data(m.data));
                }
                Ok(())
            }
            A_CLSE => {
                if let Some(tx) = self.streams.remove(&m.arg1) {
                    let _ = tx.send(Event::Close);
                }
                Ok(())
            }
            // AUTH, STLS, SYNC: never requested by this device; ignore.
            _ => Ok(()),
        }
    }
}

/// One open stream, from the service's side.
struct Stream {
    local: u32,
    remote: u32,
    writer: Arc<Mutex<TcpStream>>,
    rx: Receiver<Event>,
    /// Data that arrived while waiting for an acknowledgement.
    pending: Vec<Vec<u8>>,
    max: usize,
    /// A WRTE not yet acknowledged: the next one waits for its OKAY (flow control),
    /// but reading does not, as adbd does not (adb_client leaves its last reply
    /// unacknowledged and goes on).
    unacked: bool,
}

impl Stream {
    /// Sends `bytes`, one WRTE per chunk; each waits for the previous one's OKAY.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(self.max.max(1)) {
            while self.unacked {
                match self.rx.recv() {
                    Ok(Event::Okay) => self.unacked = false,
                    Ok(Event::Data(d)) => self.pending.push(d),
                    Ok(Event::Close) | Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "stream closed by the host",
                        ));
                    }
                }
            }
            send(
                &self.writer,
                &Message {
                    command: A_WRTE,
                    arg0: self.local,
                    arg1: self.remote,
                    data: chunk.to_vec(),
                },
            )?;
            self.unacked = true;
        }
        Ok(())
    }

    /// The next data the host wrote, or `None` when it closed the stream.
    fn read(&mut self) -> Option<Vec<u8>> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        loop {
            match self.rx.recv() {
                Ok(Event::Data(d)) => return Some(d),
                Ok(Event::Okay) => self.unacked = false,
                Ok(Event::Close) | Err(_) => return None,
            }
        }
    }

    fn close(&self) {
        let _ = send(
            &self.writer,
            &Message {
                command: A_CLSE,
                arg0: self.local,
                arg1: self.remote,
                data: Vec::new(),
            },
        );
    }
}

fn serve_stream(mut s: Stream, service: &str, cfg: &Config) {
    let result = if let Some(rest) = service.strip_prefix("shell,") {
        // shell,v2[,TERM=…][,raw]:command
        let cmd = rest.split_once(':').map_or("", |(_, c)| c);
        run_shell(&mut s, cmd, cfg, true)
    } else if let Some(cmd) = service.strip_prefix("shell:") {
        run_shell(&mut s, cmd, cfg, false)
    } else if let Some(cmd) = service.strip_prefix("exec:") {
        run_shell(&mut s, cmd, cfg, false)
    } else if service.starts_with("sync:") {
        run_sync(&mut s, cfg)
    } else {
        Err(io::Error::other(format!(
            "service '{service}' is not offered"
        )))
    };
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("adbd-fixture: {service}: {e}");
    }
    s.close();
}

fn run_shell(s: &mut Stream, cmd: &str, cfg: &Config, v2: bool) -> io::Result<()> {
    let path = format!(
        "{}:{}",
        cfg.root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cfg.map_command(if cmd.is_empty() { "true" } else { cmd }))
        .current_dir(&cfg.root)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The programs it runs (the runner) read the device's sysfs where commands see it.
    if cfg.own_sysfs() {
        command.env("MOGA_SYSFS", cfg.root.join("sys"));
    }
    // A phone without Vulkan: the loader finds no driver it can load (wgpu then offers
    // only GL adapters, as on a GLES-only phone).
    if !cfg.vulkan {
        let manifest = cfg.root.join("no-vulkan-icd.json");
        if !manifest.is_file() {
            std::fs::write(
                &manifest,
                r#"{"file_format_version": "1.0.0", "ICD": {"library_path": "/nonexistent/libvulkan_phone.so", "api_version": "1.3.0"}}"#,
            )?;
        }
        command
            .env("VK_ICD_FILENAMES", &manifest)
            .env("MOGA_NO_VULKAN", "1");
    }
    // A device program (the runner) heats the device and is slowed while it throttles.
    let heats = cfg
        .thermal
        .as_ref()
        .filter(|_| launch_through(cmd, "x") != cmd);
    let mut child = command.spawn()?;
    let pid = child.id() as i32;
    if let Some(t) = heats {
        t.started(pid);
    }
    let result = pump_shell(s, &mut child, v2);
    if let Some(t) = heats {
        t.ended(pid);
    }
    result
}

fn pump_shell(s: &mut Stream, child: &mut std::process::Child, v2: bool) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let pumps: Vec<_> = [
        (
            shell::STDOUT,
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
        ),
        (
            shell::STDERR,
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ),
    ]
    .into_iter()
    .filter_map(|(id, r)| r.map(|r| (id, r)))
    .map(|(id, mut r)| {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut b = vec![0u8; 32 * 1024];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 || tx.send((id, b[..n].to_vec())).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    for (id, data) in rx {
        let bytes = if v2 { shell::packet(id, &data) } else { data };
        if let Err(e) = s.write(&bytes) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    for p in pumps {
        let _ = p.join();
    }
    let status = child.wait()?;
    let code = status.code().unwrap_or_else(|| {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }
        #[cfg(not(unix))]
        1
    });
    if v2 {
        s.write(&shell::packet(shell::EXIT, &[code.clamp(0, 255) as u8]))?;
    }
    Ok(())
}

fn fail(s: &mut Stream, msg: &str) -> io::Result<()> {
    s.write(&sync::response(b"FAIL", msg.len() as u32, msg.as_bytes()))
}

fn stat_of(path: Option<&Path>) -> (u32, u32, u32) {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    match path.and_then(|p| std::fs::metadata(p).ok()) {
        #[cfg(unix)]
        Some(m) => (
            m.mode(),
            m.len().min(u64::from(u32::MAX)) as u32,
            m.mtime().max(0) as u32,
        ),
        #[cfg(not(unix))]
        Some(m) => (
            if m.is_dir() { 0o040755 } else { 0o100644 },
            m.len() as u32,
            0,
        ),
        None => (0, 0, 0),
    }
}

/// An unsigned integer as C's `strtoul(s, NULL, 0)` reads it.
pub fn parse_c_uint(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// The next sync request, reading from the stream as needed; `None` when the host
/// closed it.
fn next_request(s: &mut Stream, buf: &mut Vec<u8>) -> io::Result<Option<sync::Request>> {
    loop {
        if let Some((r, used)) = sync::parse(buf).map_err(io::Error::other)? {
            buf.drain(..used);
            return Ok(Some(r));
        }
        match s.read() {
            Some(d) => buf.extend(d),
            None => return Ok(None),
        }
    }
}

fn run_sync(s: &mut Stream, cfg: &Config) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(req) = next_request(s, &mut buf)? {
        let path_text = String::from_utf8_lossy(&req.body).into_owned();
        match &req.id {
            b"QUIT" => return Ok(()),
            b"STAT" => {
                let (mode, size, mtime) = stat_of(cfg.map_path(&path_text).as_deref());
                let mut body = Vec::new();
                for w in [mode, size, mtime] {
                    body.extend_from_slice(&w.to_le_bytes());
                }
                s.write(&[b"STAT".as_slice(), &body].concat())?;
            }
            b"LIST" => {
                if let Some(dir) = cfg.map_path(&path_text)
                    && let Ok(rd) = std::fs::read_dir(&dir)
                {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let (mode, size, mtime) = stat_of(Some(&e.path()));
                        let mut body = Vec::new();
                        for w in [mode, size, mtime, name.len() as u32] {
                            body.extend_from_slice(&w.to_le_bytes());
                        }
                        body.extend_from_slice(name.as_bytes());
                        s.write(&[b"DENT".as_slice(), &body].concat())?;
                    }
                }
                s.write(&sync::response(b"DONE", 0, &[0; 12]))?;
            }
            b"SEND" => {
                // "path,mode"; adbd reads the mode with strtoul(…, 0): decimal, or octal
                // with a leading 0, or hex with 0x.
                let (target, mode) = match path_text.rsplit_once(',') {
                    Some((p, m)) => (p.to_string(), parse_c_uint(m)),
                    None => (path_text.clone(), None),
                };
                // Read the whole transfer first, then write it.
                let mut data = Vec::new();
                loop {
                    let Some(chunk) = next_request(s, &mut buf)? else {
                        return Ok(());
                    };
                    match &chunk.id {
                        b"DATA" => data.extend_from_slice(&chunk.body),
                        b"DONE" => break,
                        other => {
                            return fail(
                                s,
                                &format!(
                                    "unexpected {} during SEND",
                                    String::from_utf8_lossy(other)
                                ),
                            );
                        }
                    }
                }
                let Some(dest) = cfg.map_path(&target) else {
                    fail(
                        s,
                        &format!("permission denied: {target} is outside {DEVICE_TMP}"),
                    )?;
                    continue;
                };
                if cfg.disk_full {
                    fail(s, &format!("{target}: No space left on device"))?;
                    continue;
                }
                let written = (|| -> io::Result<()> {
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    let tmp = dest.with_extension("moga-fixture-partial");
                    std::fs::write(&tmp, &data)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let m = mode.map_or(0o644, |m| m & 0o7777);
                        std::fs::set_permissions(
                            &tmp,
                            std::fs::Permissions::from_mode(if m == 0 { 0o644 } else { m }),
                        )?;
                    }
                    std::fs::rename(&tmp, &dest)
                })();
                match written {
                    Ok(()) => s.write(&sync::response(b"OKAY", 0, &[]))?,
                    Err(e) => fail(s, &format!("{target}: {e}"))?,
                }
            }
            b"RECV" => {
                let data = cfg.map_path(&path_text).and_then(|p| std::fs::read(p).ok());
                match data {
                    None => fail(
                        s,
                        &format!("{path_text}: no such file, or outside {DEVICE_TMP}"),
                    )?,
                    Some(d) => {
                        for chunk in d.chunks(sync::MAX_DATA as usize) {
                            s.write(&sync::response(b"DATA", chunk.len() as u32, chunk))?;
                        }
                        s.write(&sync::response(b"DONE", 0, &[]))?;
                    }
                }
            }
            other => {
                return fail(
                    s,
                    &format!(
                        "unsupported sync request {}",
                        String::from_utf8_lossy(other)
                    ),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            root: PathBuf::from("/r"),
            serial: "S".into(),
            model: "M".into(),
            ..Config::default()
        }
    }

    #[test]
    fn programs_in_command_position_go_through_the_launcher() {
        let l = |c: &str| launch_through(c, "L");
        assert_eq!(
            l(
                "cd '/data/local/tmp/w' && timeout -s KILL 120 '/data/local/tmp/moga/bin/device-runner' 'info' '--json'; s=$?; echo"
            ),
            "cd '/data/local/tmp/w' && timeout -s KILL 120 L '/data/local/tmp/moga/bin/device-runner' 'info' '--json'; s=$?; echo"
        );
        // Arguments, hashes and file tools are left alone.
        let c = "sha256sum '/data/local/tmp/moga/bin/device-runner' && chmod 755 /data/local/tmp/x";
        assert_eq!(l(c), c);
        assert_eq!(
            l("/data/local/tmp/a --lib /data/local/tmp/b|/data/local/tmp/c"),
            "L /data/local/tmp/a --lib /data/local/tmp/b|L /data/local/tmp/c"
        );
        assert!(
            Config {
                abi: "arm64-v8a".into(),
                ..cfg()
            }
            .emulated()
                != cfg!(target_arch = "aarch64")
        );
        assert!(!cfg().emulated());
    }

    #[test]
    fn paths_stay_inside_the_device_folder() {
        let c = cfg();
        assert_eq!(
            c.map_path("/data/local/tmp/moga/x.onnx"),
            Some(PathBuf::from("/r/data/local/tmp/moga/x.onnx"))
        );
        assert_eq!(
            c.map_path("/data/local/tmp"),
            Some(PathBuf::from("/r/data/local/tmp"))
        );
        for bad in [
            "/etc/passwd",
            "/data/local/tmp/../../etc",
            "/data/local/tmpfoo",
            "/data/local/tmp/a/../../b",
        ] {
            assert_eq!(c.map_path(bad), None, "{bad}");
        }
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(
            (
                parse_c_uint("33188"),
                parse_c_uint("0777"),
                parse_c_uint("0x1ff"),
                parse_c_uint("x")
            ),
            (Some(0o100644), Some(0o777), Some(0o777), None)
        );
    }
}
