//! libtorch, seen from `moga`: what the commands that train or read trained weights ask
//! of it ([`Libtorch`]), and which commands those are ([`needs_libtorch`]).
//!
//! `moga` links no libtorch (starting it costs every process about 0.35 s): its
//! [`Helper`] hands such a command, whole and before any work starts, to the
//! `moga-torch` binary beside it (or `MOGA_TORCH`), which links libtorch and runs this
//! same library with the real implementation. Both binaries are built from this crate,
//! and a helper built from other sources is refused by name, so the two never disagree
//! about a command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use device_runner::onnx::proto::ModelProto;
use lookup_tables::{Arch, Space, SrArch};
use search::oracle::AccuracyOracle;
use serde::{Deserialize, Serialize};

use crate::cli::{AnySpace, Command};

/// The environment variable that names the helper binary (else `moga-torch` beside
/// `moga`).
pub const HELPER_VAR: &str = "MOGA_TORCH";

/// Set by `moga` for its helper: the fingerprint of the sources `moga` was built from,
/// which the helper's must equal.
const FINGERPRINT_VAR: &str = "MOGA_CLI_FINGERPRINT";

/// A hash of this crate's sources (`build.rs`), the same in `moga` and in a
/// `moga-torch` built from the same checkout.
const FINGERPRINT: &str = env!("MOGA_CLI_FINGERPRINT");

/// The libtorch in use, as `moga doctor` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TorchInfo {
    /// The libtorch version linked at build time, e.g. `2.13.0+cu130`.
    pub version: String,
    /// Whether CUDA is usable.
    pub cuda: bool,
    /// CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn: bool,
    /// Intra-op threads libtorch uses on the CPU.
    pub threads: i32,
    /// Whether a forward and backward pass on the CPU gave the expected numbers.
    pub compute_ok: bool,
    /// Why there is no libtorch (the helper is missing or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TorchInfo {
    /// The report when libtorch cannot be reached: `why`.
    pub fn unavailable(why: String) -> TorchInfo {
        TorchInfo {
            version: "unknown".into(),
            cuda: false,
            cuda_devices: 0,
            cudnn: false,
            threads: 0,
            compute_ok: false,
            error: Some(why),
        }
    }
}

/// A supernet checkpoint's weights (`moga train -o`), opened on the CPU.
pub trait SupernetWeights {
    /// The checkpoint's space, at its resolution and classes.
    fn space(&self) -> &Space;
    /// Where the weights come from, for reports.
    fn describe(&self) -> String;
    /// `arch` as an ONNX model with the weights it inherits (its BatchNorm
    /// recalibrated, then folded); every tensor must fit the network exactly.
    fn model(&mut self, arch: &Arch) -> Result<ModelProto>;
    /// libtorch's logits for `arch` on one NCHW input (the check of an export).
    fn logits(&mut self, arch: &Arch, input: &[f32]) -> Result<Vec<f32>>;
}

/// Super-resolution weights (on the CPU): a `moga sr train` folder (one architecture)
/// or a `moga sr supernet` folder (any architecture of its space).
pub trait SrWeights {
    /// The ONNX model of `arch` at a `height`×`width` input with these weights (a
    /// trained folder must hold `arch` itself).
    fn model(&self, arch: &SrArch, height: usize, width: usize) -> Result<ModelProto>;
    /// libtorch's ×2 luminance of a `height`×`width` plane with values in 0..1 (the
    /// check of an export).
    fn upscale(&self, arch: &SrArch, y: &[f32], height: usize, width: usize) -> Result<Vec<f32>>;
}

/// What the commands that need libtorch ask of it.
pub trait Libtorch {
    /// Where the command runs: `None` runs it in this process; `Some(code)` means it
    /// ran elsewhere (or could not), with that exit code.
    fn hand_over(&self) -> Option<ExitCode>;
    /// Runs a command that is libtorch's whole: `train`, `eval`, `sr …`, and `search`
    /// over a super-resolution space (its oracles train networks).
    fn run(&self, command: Command) -> Result<ExitCode>;
    /// A supernet checkpoint's weights, BatchNorm recalibrated per architecture on
    /// `bn_batches` training batches of `batch`.
    fn supernet(
        &self,
        dir: &Path,
        bn_batches: usize,
        batch: usize,
    ) -> Result<Box<dyn SupernetWeights>>;
    /// Super-resolution weights from a training or supernet folder.
    fn sr_weights(&self, dir: &Path) -> Result<Box<dyn SrWeights>>;
    /// The accuracy oracle `supernet:DIR`.
    fn supernet_oracle(&self, dir: &Path) -> Result<Box<dyn AccuracyOracle>>;
    /// libtorch's report, or why there is none.
    fn info(&self) -> std::result::Result<TorchInfo, String>;
}

/// Whether `command` needs libtorch: training, evaluation, super-resolution, supernet
/// weights (`--ckpt`), the `supernet:DIR` oracle, and searches of the super-resolution
/// spaces (their oracles train).
pub fn needs_libtorch(command: &Command) -> bool {
    match command {
        Command::Train(_) | Command::Eval(_) | Command::Sr(_) => true,
        Command::Export(a) => a.ckpt.is_some(),
        Command::Deploy(a) => a.ckpt.is_some(),
        Command::Search(a) => {
            matches!(a.space, AnySpace::Sr(_))
                || a.accuracy
                    .as_deref()
                    .is_some_and(|s| s.starts_with("supernet:"))
        }
        Command::Doctor(a) => a.libtorch_only,
        _ => false,
    }
}

/// `moga`'s side: libtorch lives in the helper.
pub struct Helper;

/// The helper binary: `MOGA_TORCH`, else `moga-torch` beside this executable.
pub fn helper_path() -> std::result::Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(HELPER_VAR) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let p = exe.with_file_name(format!("moga-torch{}", std::env::consts::EXE_SUFFIX));
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "this command needs libtorch, which moga loads only in its helper moga-torch, and there is none at {} (build it with `cargo build --release --bins`, or name one with {HELPER_VAR})",
            p.display()
        ))
    }
}

/// Refuses a helper started by a `moga` built from other sources (a stale build).
pub fn check_caller() -> std::result::Result<(), String> {
    match std::env::var(FINGERPRINT_VAR) {
        Ok(f) if f != FINGERPRINT => Err(format!(
            "{} was built from other sources than the moga that called it (rebuild both: `cargo build --release --bins`)",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "moga-torch".into())
        )),
        _ => Ok(()),
    }
}

fn not_here() -> anyhow::Error {
    anyhow::anyhow!(
        "internal error: a libtorch command reached moga itself instead of its moga-torch helper"
    )
}

impl Libtorch for Helper {
    fn hand_over(&self) -> Option<ExitCode> {
        let error = match helper_path() {
            Err(e) => e,
            Ok(path) => {
                let mut cmd = std::process::Command::new(&path);
                cmd.args(std::env::args_os().skip(1))
                    .env(FINGERPRINT_VAR, FINGERPRINT);
                run_instead(cmd, &path)
            }
        };
        eprintln!("moga: {error}");
        Some(ExitCode::FAILURE)
    }

    fn run(&self, _: Command) -> Result<ExitCode> {
        Err(not_here())
    }

    fn supernet(&self, _: &Path, _: usize, _: usize) -> Result<Box<dyn SupernetWeights>> {
        Err(not_here())
    }

    fn sr_weights(&self, _: &Path) -> Result<Box<dyn SrWeights>> {
        Err(not_here())
    }

    fn supernet_oracle(&self, _: &Path) -> Result<Box<dyn AccuracyOracle>> {
        Err(not_here())
    }

    fn info(&self) -> std::result::Result<TorchInfo, String> {
        let path = helper_path()?;
        let out = std::process::Command::new(&path)
            .args(["doctor", "--libtorch-only"])
            .env(FINGERPRINT_VAR, FINGERPRINT)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).map_err(|e| {
            let err = String::from_utf8_lossy(&out.stderr);
            format!(
                "{} gave no libtorch report ({}): {}",
                path.display(),
                out.status,
                err.lines().last().unwrap_or(&e.to_string())
            )
        })
    }
}

/// Replaces this process with `cmd` (Unix: `exec`, so signals, the exit status and the
/// terminal are the helper's own); returns only on failure, with why.
#[cfg(unix)]
fn run_instead(mut cmd: std::process::Command, path: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    format!("cannot run {}: {e}", path.display())
}

/// Runs `cmd` and exits with its status (no `exec` outside Unix).
#[cfg(not(unix))]
fn run_instead(mut cmd: std::process::Command, path: &Path) -> String {
    match cmd.status() {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => format!("cannot run {}: {e}", path.display()),
    }
}
