//! One module per command group. Each validates its input into typed values first, then
//! calls into the crates, then prints (tables by default, JSON lines with `--json`).

mod arch;
mod deploy;
mod devices;
mod doctor;
pub mod export;
mod lut;
pub mod search;
mod space;
mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lookup_tables::{Arch, Architecture, Space, SpaceId, SpaceOptions};

use crate::cli::{AnySpace, Cli, Command, SpaceShape};
use crate::torch::Libtorch;

/// Runs one command; those that need libtorch go through `torch`.
pub fn run(cli: Cli, torch: &dyn Libtorch) -> Result<ExitCode> {
    match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c),
        Command::Lut(c) => lut::run(c),
        Command::Export(a) => export::run(a, torch),
        Command::ExportUnits(a) => export::units(a),
        Command::Devices(a) => devices::devices(a),
        Command::Search(a) => search::run(*a, torch),
        Command::Profile(a) => devices::run_profile(*a),
        Command::Deploy(a) => deploy::deploy(*a, torch),
        Command::Doctor(a) => doctor::run(a, torch),
        c @ (Command::Train(_) | Command::Eval(_) | Command::Sr(_)) => torch.run(c),
    }
}

/// Reads an `<ARCH>` argument of classification: a file holding JSON or an encoding,
/// `front.json#N` (member N of a search's front), else the text itself (preset name,
/// encoding or JSON).
pub fn load_arch(arg: &str) -> Result<Arch> {
    load::<Arch>(arg)
}

/// Reads an `<ARCH>` argument that names a super-resolution architecture (in any of
/// the forms [`load_arch`] reads; validated), or `None` when it is not one.
pub fn load_sr_arch(arg: &str) -> Result<Option<lookup_tables::SrArch>> {
    let (text, from) = arch_text(arg)?;
    if !lookup_tables::SrArch::claims(&text) {
        return Ok(None);
    }
    parse_text(&text, from).map(Some)
}

/// Reads an `<ARCH>` argument as an architecture of any space's type: the one loader.
pub fn load<A: Architecture>(arg: &str) -> Result<A> {
    let (text, from) = arch_text(arg)?;
    parse_text(&text, from)
}

/// Parses an architecture's text, naming where it was read from on error.
fn parse_text<A: Architecture>(text: &str, from: Option<String>) -> Result<A> {
    match from {
        None => Ok(A::parse(text)?),
        Some(from) => A::parse(text).with_context(|| from),
    }
}

/// The architecture text an `<ARCH>` argument stands for, and where it was read from
/// (`None`: the argument itself).
fn arch_text(arg: &str) -> Result<(String, Option<String>)> {
    if let Some((file, n)) = arg.rsplit_once('#')
        && Path::new(file).is_file()
    {
        return front_member(Path::new(file), n);
    }
    let path = Path::new(arg);
    if !arg.trim_start().starts_with('{') && path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading architecture file {arg}"))?;
        return Ok((text.trim().to_string(), Some(format!("in {arg}"))));
    }
    Ok((arg.to_string(), None))
}

/// Member `n` (0 = best accuracy) of the front in a `moga search` output file: its
/// encoding, and where it came from.
fn front_member(file: &Path, n: &str) -> Result<(String, Option<String>)> {
    let shown = file.display();
    let n: usize = n.parse().with_context(|| {
        format!("{shown}#{n}: the part after # must be a front index (0, 1, ...)")
    })?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {shown}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{shown}: not JSON"))?;
    let front = v["front"].as_array().with_context(|| {
        format!("{shown}: no \"front\" list (is it written by moga search -o?)")
    })?;
    let member = front.get(n).with_context(|| {
        format!(
            "{shown}#{n}: the front has {} members (0..{})",
            front.len(),
            front.len().saturating_sub(1)
        )
    })?;
    let code = member["arch"]
        .as_str()
        .with_context(|| format!("{shown}: front[{n}] has no \"arch\" string"))?;
    Ok((code.to_string(), Some(format!("{shown}: front[{n}].arch"))))
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

/// What a table is profiled and validated for: a classification space at its shape,
/// or a super-resolution space at `--lr-side`.
pub fn target(space: AnySpace, shape: SpaceShape) -> Result<profiler::profile::Target> {
    anyhow::ensure!(shape.lr_side >= 1, "--lr-side must be at least 1");
    Ok(match space {
        AnySpace::Classify(id) => profiler::profile::Target::Space(self::space(id, shape)?),
        AnySpace::Sr(id) => profiler::profile::Target::Sr {
            space: id,
            side: shape.lr_side,
        },
    })
}

/// Reads an architecture and its space, validated.
pub fn load_valid_arch(arg: &str, shape: SpaceShape) -> Result<(Arch, Space)> {
    let arch = load_arch(arg)?;
    let space = space(arch.space, shape)?;
    space.validate(&arch)?;
    Ok((arch, space))
}
