//! `device-runner`: the measuring program that runs on the device. This binary is pushed
//! to phones by the profiler; on a host it runs as a local process.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use device_runner::gpu::BackendChoice;
use device_runner::info;

#[derive(Parser)]
#[command(
    name = "device-runner",
    version,
    about = "Runs and measures ONNX models on this device (wgpu or ONNX Runtime)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe this device: OS, ABI, GPU adapters, ONNX Runtime library.
    Info {
        /// Print JSON only.
        #[arg(long)]
        json: bool,
        /// Which wgpu backends to look at.
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        wgpu_backend: BackendChoice,
        /// The ONNX Runtime library (else ORT_DYLIB_PATH, else libonnxruntime.so next to this binary).
        #[arg(long, value_name = "PATH")]
        ort_lib: Option<PathBuf>,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info {
            json,
            wgpu_backend,
            ort_lib,
        } => {
            let report = info::gather(wgpu_backend, ort_lib.as_deref());
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer(&mut out, &report)?;
                writeln!(out)?;
            } else {
                print_info(&mut out, &report)?;
            }
        }
    }
    Ok(())
}

fn print_info(out: &mut impl Write, r: &info::RunnerInfo) -> std::io::Result<()> {
    writeln!(
        out,
        "device-runner {}  ({} {}, {} / {})",
        r.runner_version, r.os, r.os_release, r.arch, r.abi
    )?;
    writeln!(out, "backends compiled in: {}", r.backends.join(", "))?;
    match &r.adapters_error {
        Some(e) => writeln!(out, "wgpu: {e}")?,
        None if r.adapters.is_empty() => writeln!(
            out,
            "wgpu {}: no adapters found",
            r.wgpu_version.as_deref().unwrap_or("?")
        )?,
        None => {
            writeln!(
                out,
                "wgpu {} adapters:",
                r.wgpu_version.as_deref().unwrap_or("?")
            )?;
            for a in &r.adapters {
                writeln!(
                    out,
                    "  {} [{}; {}; driver {} {}] timestamps: {}, compute: {}",
                    a.name,
                    a.backend,
                    a.device_type,
                    a.driver,
                    a.driver_info,
                    if a.timestamp_query { "yes" } else { "no" },
                    if a.compute { "yes" } else { "no" }
                )?;
            }
        }
    }
    match (&r.ort, &r.ort_error) {
        (Some(l), _) => writeln!(
            out,
            "onnxruntime {} at {} (from {})",
            l.version,
            l.path.display(),
            l.source
        )?,
        (None, Some(e)) => writeln!(out, "onnxruntime: {e}")?,
        (None, None) => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { device_runner::gpu::prepare_headless_env() };
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("device-runner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
