//! The adb side of end-to-end tests: a private real adb server and the adbd fixture (a
//! phone's adbd on loopback that runs commands on this host).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A binary of the workspace, next to `moga` (another package's binary is built by
/// `cargo test --workspace` or `cargo build`, not by `cargo test --test NAME` alone).
pub fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_moga")).with_file_name(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --bins` first (the scripts do)",
        p.display()
    );
    p
}

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private adb server (its own port and HOME), killed when dropped.
pub struct AdbServer {
    port: u16,
    home: PathBuf,
}

impl AdbServer {
    /// A free port is only free until someone takes it: between dropping the probe
    /// listener and adb binding the port, another process may open it (CI once got
    /// `protocol fault (status 30 30 30 63?!)` from whatever answered there). So a failed
    /// start is retried on a fresh port, a few times, before the test gives up.
    pub fn start(home: &Path) -> AdbServer {
        let mut failures = Vec::new();
        for _ in 0..4 {
            let port = super::free_port();
            let out = adb_at(port, home, &["start-server"]);
            if out.status.success() {
                return AdbServer {
                    port,
                    home: home.to_path_buf(),
                };
            }
            failures.push(format!(
                "port {port}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        panic!("adb start-server failed 4 times:\n{}", failures.join("\n"));
    }

    pub fn adb(&self, args: &[&str]) -> std::process::Output {
        adb_at(self.port, &self.home, args)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// `adb -P port ARGS` with `home` as HOME (a server not yet ours is never dropped, so
/// never sent `kill-server`).
fn adb_at(port: u16, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("adb")
        .arg("-P")
        .arg(port.to_string())
        .args(args)
        .env("HOME", home)
        .output()
        .expect("adb runs (scripts/setup.sh)")
}

impl Drop for AdbServer {
    fn drop(&mut self) {
        let _ = self.adb(&["kill-server"]);
    }
}

/// Starts the fixture on `port` (0: any) with its device files under `root`; returns it
/// and its address.
pub fn start_fixture(root: &Path, port: u16) -> (Killed, String) {
    start_fixture_as(root, port, &["--model", "Moga Fixture"])
}

/// [`start_fixture`] with other device arguments (`--abi arm64-v8a`, `--model M`, …).
pub fn start_fixture_as(root: &Path, port: u16, device: &[&str]) -> (Killed, String) {
    let mut child = Command::new(bin("moga-adbd-fixture"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .args(device)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the fixture binary is built with the workspace");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (
        Killed(child),
        line.trim()
            .strip_prefix("listening ")
            .expect("fixture announces its address")
            .to_string(),
    )
}

/// Data rows in a table file as it stands (0 when absent).
pub fn rows_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .count()
            .saturating_sub(1)
    })
}
