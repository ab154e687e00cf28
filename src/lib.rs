//! The `moga` command line as a library: parsing, dispatch, output, and every command
//! that runs without libtorch.
//!
//! Starting libtorch costs a process about 0.35 s, more than a whole `moga search`
//! takes, so only the commands that train or read trained weights load it. They run in
//! a helper binary, `moga-torch`, which links libtorch and runs this same library with
//! its [`torch::Libtorch`] implementation; `moga` itself links none of it and hands
//! such a command to the helper whole, before any work starts
//! ([`torch::needs_libtorch`]).

pub mod cli;
pub mod cmd;
mod logging;
pub mod output;
pub mod torch;

use std::process::ExitCode;

use clap::Parser;

/// Runs the command line of this process with `torch` for the commands that need
/// libtorch: parses, dispatches, prints the error chain once on stderr (`moga: …`).
pub fn main_with(torch: &dyn torch::Libtorch) -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { device_runner::info::prepare_headless_env() };
    let cli = cli::Cli::parse();
    if torch::needs_libtorch(&cli.command)
        && let Some(code) = torch.hand_over()
    {
        return code;
    }
    logging::init();
    device_runner::scratch::remove_on_interrupt();
    match cmd::run(cli, torch) {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moga: {e:#}");
            ExitCode::FAILURE
        }
    }
}
