//! One module per command group. Each validates its input into typed values first, then
//! calls into the crates, then prints (tables by default, JSON lines with `--json`).

mod arch;
mod devices;
mod doctor;
mod export;
mod lut;
mod search;
mod space;
mod train;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lookup_tables::{Arch, Space, SpaceId, SpaceOptions};

use crate::cli::{Cli, Command, SpaceShape};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c),
        Command::Lut(c) => lut::run(c),
        Command::Export(a) => export::run(a),
        Command::ExportUnits(a) => export::units(a),
        Command::Devices(a) => devices::devices(a),
        Command::Search(a) => search::run(*a),
        Command::Profile(a) => devices::run_profile(*a),
        Command::Train(a) => train::train(*a),
        Command::Eval(a) => train::eval(a),
        Command::Doctor(a) => doctor::run(a),
    }
}

/// Reads an `<ARCH>` argument: a file holding JSON or an encoding, else the text itself
/// (preset name, encoding or JSON).
pub fn load_arch(arg: &str) -> Result<Arch> {
    let path = Path::new(arg);
    if !arg.trim_start().starts_with('{') && path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading architecture file {arg}"))?;
        let arch = if text.trim_start().starts_with('{') {
            Arch::from_json(&text, arg)?
        } else {
            Arch::parse(text.trim()).with_context(|| format!("in {arg}"))?
        };
        return Ok(arch);
    }
    Ok(Arch::parse(arg)?)
}

/// The space of `id` at the requested shape.
pub fn space(id: SpaceId, shape: SpaceShape) -> Result<Space> {
    Ok(Space::with_options(
        id,
        SpaceOptions {
            resolution: shape.resolution,
            classes: shape.classes,
        },
    )?)
}

/// Reads an architecture and its space, validated.
pub fn load_valid_arch(arg: &str, shape: SpaceShape) -> Result<(Arch, Space)> {
    let arch = load_arch(arg)?;
    let space = space(arch.space, shape)?;
    space.validate(&arch)?;
    Ok((arch, space))
}
