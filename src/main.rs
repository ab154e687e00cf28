//! `moga`: hardware-aware neural architecture search for phone GPUs, as one binary.
//!
//! Parsing and dispatch only; each command lives in `cmd/`, the work in the crates.

mod cli;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Warnings and errors by default. Mesa's EGL reports a failed hardware-driver probe as
/// an error before it falls back to its software driver, which wgpu relays; that module
/// only relays EGL's own messages, so it is silenced unless RUST_LOG asks for it.
const DEFAULT_LOG: &str = "warn,wgpu_hal::gles::egl=off";

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { device_runner::info::prepare_headless_env() };
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .init();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moga: {e:#}");
            ExitCode::FAILURE
        }
    }
}
