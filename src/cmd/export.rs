//! `moga export`: an architecture as an ONNX model file.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::onnx::builder::{RandomWeights, network_model};
use device_runner::onnx::{encode_model, write_model};
use serde::Serialize;

use crate::cli::ExportArgs;
use crate::output::json_line;

#[derive(Serialize)]
struct Exported {
    model: String,
    arch: String,
    nodes: usize,
    bytes: usize,
    params: u64,
    madds: u64,
    weights: String,
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let (arch, space) = super::load_valid_arch(&args.arch, args.shape)?;
    let model = network_model(&space, &arch, &mut RandomWeights::new(args.seed))?;
    write_model(&args.output, &model)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let stats = space.stats(&arch)?;
    let report = Exported {
        model: args.output.display().to_string(),
        arch: arch.encode(),
        nodes: model.graph.as_ref().map_or(0, |g| g.node.len()),
        bytes: encode_model(&model).len(),
        params: stats.params,
        madds: stats.madds,
        weights: format!("random (seed {})", args.seed),
    };
    let mut out = std::io::stdout().lock();
    if args.out.json {
        json_line(&mut out, &report)?;
    } else {
        writeln!(
            out,
            "wrote {} ({} nodes, {} bytes, {} weights): {}",
            report.model, report.nodes, report.bytes, report.weights, report.arch
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `moga export-units`.
pub fn units(args: crate::cli::ExportUnitsArgs) -> Result<ExitCode> {
    let space = super::space(args.space, args.shape)?;
    let keys = if args.ops {
        space.op_unit_list()
    } else {
        space.unit_list()
    };
    let index = device_runner::onnx::builder::export_units(
        &args.output,
        &keys,
        &mut RandomWeights::new(args.seed),
    )?;
    let mut out = std::io::stdout().lock();
    if args.out.json {
        for u in &index {
            json_line(&mut out, u)?;
        }
    } else {
        writeln!(
            out,
            "wrote {} unit models of space {} to {} (index: {})",
            index.len(),
            space.id,
            args.output.display(),
            device_runner::onnx::builder::UNIT_INDEX
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
