//! Helpers for the device-runner's end-to-end tests: the real binary, the venv's
//! Python (for onnx.checker), and the ONNX backend test data shipped in the `onnx` wheel.

#![allow(dead_code)]

pub mod onnx_cases;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The venv's Python (scripts/setup.sh).
pub fn python() -> PathBuf {
    repo().join(".deps/venv/bin/python")
}

/// `site-packages/onnx` of the venv.
pub fn onnx_package() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import onnx, os; print(os.path.dirname(onnx.__file__))",
        ])
        .output()
        .expect("the venv's python runs (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs `device-runner args…`.
pub fn runner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_device-runner"))
        .args(args)
        .output()
        .expect("device-runner runs")
}

/// A scratch folder removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("moga-dr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `onnx.checker.check_model(full_check=True)` on every file; panics with the
/// checker's message on the first that fails.
pub fn check_models(paths: &[PathBuf]) {
    let script = "import sys, onnx\nfor p in sys.argv[1:]:\n    try:\n        onnx.checker.check_model(onnx.load(p), full_check=True)\n    except Exception as e:\n        print(p, e)\n        sys.exit(1)\n";
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(script).args(paths);
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "onnx.checker rejected a model: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
