//! Helpers for end-to-end tests: run the real `moga` binary in a scratch folder and read
//! its output (JSON lines parsed with serde).

#![allow(dead_code)]

pub mod adb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A quick measuring protocol for tests (a few runs, no adaptive stopping).
pub const QUICK: [&str; 10] = [
    "--warmup",
    "2",
    "--min-runs",
    "5",
    "--runs",
    "20",
    "--max-seconds",
    "0.2",
    "--precision",
    "0",
];

/// `moga profile` on `device` with ONNX Runtime, `space` at 32 px and 10 classes, into
/// `out`: the arguments tests share (they add their protocol and the rest).
pub fn profile_args(device: &str, space: &str, out: &str) -> Vec<String> {
    [
        "profile",
        "--device",
        device,
        "--backend",
        "ort",
        "--space",
        space,
        "--resolution",
        "32",
        "--classes",
        "10",
        "-o",
        out,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// A free local TCP port (a store, a server the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch folder removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "moga-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `moga args…` in this folder.
    pub fn moga(&self, args: &[&str]) -> Run {
        run_in(&self.dir, args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished run.
pub struct Run {
    pub args: Vec<String>,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> String {
        assert!(
            self.output.status.success(),
            "moga {:?} failed ({}):\n{}",
            self.args,
            self.code(),
            self.stderr()
        );
        self.stdout()
    }

    /// Asserts failure with exactly one line on stderr, and returns it.
    pub fn fails_with_one_line(&self) -> String {
        assert!(
            !self.output.status.success(),
            "moga {:?} should fail:\n{}",
            self.args,
            self.stdout()
        );
        let err = self.stderr();
        assert!(err.starts_with("moga: "), "stderr: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line expected: {err}"
        );
        err.trim_end().to_string()
    }

    /// Stdout as JSON lines; fails on anything that is not JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.ok()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = self.json_lines();
        assert_eq!(v.len(), 1, "one JSON line expected");
        v.remove(0)
    }
}

pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the moga binary runs");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        output,
    }
}

/// Runs `moga args…` in the system temporary folder.
pub fn moga(args: &[&str]) -> Run {
    run_in(&std::env::temp_dir(), args)
}
