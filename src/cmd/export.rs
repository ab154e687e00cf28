//! `moga export`: an architecture as an ONNX model file, with random weights or the
//! weights it inherits from a supernet checkpoint, optionally checked across backends.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::backend::BackendKind;
use device_runner::onnx::builder::{RandomWeights, network_model, sr_model};
use device_runner::onnx::{Tensor, encode_model, write_model};
use device_runner::session::{Devices, Session};
use lookup_tables::{SplitMix64, SrArch};
use serde::Serialize;

use crate::cli::ExportArgs;
use crate::output::json_line;
use crate::torch::Libtorch;

/// Largest output difference `--verify` accepts, relative to the largest |logit|.
const TOLERANCE: f64 = 1e-3;

#[derive(Serialize)]
struct Exported {
    model: String,
    arch: String,
    nodes: usize,
    bytes: usize,
    params: u64,
    madds: u64,
    weights: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    verify: Vec<Agreement>,
}

/// One engine's outputs against the reference.
#[derive(Serialize)]
struct Agreement {
    engine: String,
    /// max |out − reference| / max |reference|; absent when the engine failed.
    max_rel_diff: Option<f64>,
    /// Whether the top class is the reference's.
    same_top1: Option<bool>,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `moga export` (with `--ckpt`, the weights come through libtorch).
pub fn run(args: ExportArgs, torch: &dyn Libtorch) -> Result<ExitCode> {
    if let Some(sr) = super::load_sr_arch(&args.arch)? {
        return run_sr(args, sr, torch);
    }
    let arch = super::load_arch(&args.arch)?;
    let (space, model, weights, evaluator) = match &args.ckpt {
        None => {
            let space = super::space(arch.space, args.shape)?;
            space.validate(&arch)?;
            let model = network_model(&space, &arch, &mut RandomWeights::new(args.seed))?;
            (space, model, format!("random (seed {})", args.seed), None)
        }
        Some(dir) => {
            anyhow::ensure!(args.batch >= 2, "--batch must be at least 2");
            let mut ev = torch.supernet(dir, args.bn_batches, args.batch)?;
            let space = ev.space().clone();
            anyhow::ensure!(
                arch.space == space.id,
                "{} is of space {}, the checkpoint {} of space {}",
                arch.encode(),
                arch.space,
                dir.display(),
                space.id
            );
            let model = ev.model(&arch)?;
            let what = ev.describe();
            (space, model, what, Some(ev))
        }
    };
    write_model(&args.output, &model)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let stats = space.stats(&arch)?;
    let verify = if args.verify {
        let r = space.options.resolution as usize;
        let input = seeded_input(vec![1, space.in_channels as usize, r, r], args.seed, -1.0);
        let first = evaluator.map(|mut ev| {
            let data = input.as_f32().expect("f32").to_vec();
            (
                "libtorch (the supernet path)".to_string(),
                ev.logits(&arch, &data),
            )
        });
        verify(&args.output, &input, first, true)
    } else {
        Vec::new()
    };
    let report = Exported {
        model: args.output.display().to_string(),
        arch: arch.encode(),
        nodes: model.graph.as_ref().map_or(0, |g| g.node.len()),
        bytes: encode_model(&model).len(),
        params: stats.params,
        madds: stats.madds,
        weights,
        verify,
    };
    print_report(&report, args.out.json)
}

/// `moga export` of a super-resolution network: random weights (seeded) at the
/// low-resolution size `--lr-size` (else `--resolution` square).
fn run_sr(args: ExportArgs, arch: SrArch, torch: &dyn Libtorch) -> Result<ExitCode> {
    let side = args.shape.lr_side as usize;
    let (h, w) = args.lr_size.unwrap_or((side, side));
    let trained = match &args.ckpt {
        None => None,
        Some(dir) => Some(torch.sr_weights(dir)?),
    };
    let (model, weights) = match &trained {
        None => (
            sr_model(&arch, h, w, &mut RandomWeights::new(args.seed))?,
            format!("random (seed {})", args.seed),
        ),
        Some(t) => (
            t.model(&arch, h, w)?,
            format!("trained ({})", args.ckpt.as_ref().expect("given").display()),
        ),
    };
    write_model(&args.output, &model)
        .with_context(|| format!("writing {}", args.output.display()))?;
    // Per low-resolution pixel; parameters do not depend on the size.
    let stats = arch.stats(1)?;
    let verify = if args.verify {
        let input = seeded_input(vec![1, 1, h, w], args.seed, 0.0);
        let first = trained.as_ref().map(|t| {
            let x = input.as_f32().expect("f32");
            (
                "libtorch (the trained network)".to_string(),
                t.upscale(&arch, x, h, w),
            )
        });
        verify(&args.output, &input, first, false)
    } else {
        Vec::new()
    };
    let report = Exported {
        model: args.output.display().to_string(),
        arch: arch.encode(),
        nodes: model.graph.as_ref().map_or(0, |g| g.node.len()),
        bytes: encode_model(&model).len(),
        params: stats.params,
        madds: stats.madds * (h * w) as u64,
        weights,
        verify,
    };
    print_report(&report, args.out.json)
}

/// A seeded input of `shape` with values uniform in [lo, 1).
fn seeded_input(shape: Vec<usize>, seed: u64, lo: f64) -> Tensor {
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| (lo + rng.next_f64() * (1.0 - lo)) as f32)
        .collect();
    Tensor::f32(shape, data)
}

fn print_report(report: &Exported, json: bool) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        json_line(&mut out, report)?;
    } else {
        writeln!(
            out,
            "wrote {} ({} nodes, {} bytes, {} weights): {}",
            report.model, report.nodes, report.bytes, report.weights, report.arch
        )?;
        for a in &report.verify {
            match (&a.error, a.max_rel_diff) {
                (Some(e), _) => writeln!(out, "  {:<28} FAILED: {e}", a.engine)?,
                (None, Some(d)) => writeln!(
                    out,
                    "  {:<28} max |diff| / max |output| = {d:.2e}{}  {}",
                    a.engine,
                    match a.same_top1 {
                        Some(true) => ", same top-1: yes",
                        Some(false) => ", same top-1: no",
                        None => "",
                    },
                    if a.ok { "ok" } else { "OUTSIDE TOLERANCE" }
                )?,
                (None, None) => writeln!(out, "  {:<28} reference", a.engine)?,
            }
        }
    }
    Ok(if report.verify.iter().all(|a| a.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the written model on every engine here on `input`; the reference is `first`
/// (libtorch, the supernet itself) when given, else the CPU interpreter. `top1`: also
/// compare the top class (classifiers).
fn verify(
    model: &Path,
    input: &Tensor,
    first: Option<(String, Result<Vec<f32>>)>,
    top1: bool,
) -> Vec<Agreement> {
    let mut outputs: Vec<(String, Result<Vec<f32>>)> = first.into_iter().collect();
    outputs.push((
        "cpu reference".into(),
        run_on(BackendKind::Cpu, model, input),
    ));
    outputs.push((
        "onnxruntime (cpu)".into(),
        run_on(BackendKind::Ort, model, input),
    ));
    outputs.push(("wgpu".into(), run_on(BackendKind::Wgpu, model, input)));
    let reference = match &outputs[0].1 {
        Ok(v) => v.clone(),
        Err(_) => Vec::new(),
    };
    let scale = reference
        .iter()
        .fold(0f64, |m, &x| m.max(f64::from(x).abs()));
    let top = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    };
    outputs
        .into_iter()
        .enumerate()
        .map(|(i, (engine, out))| match out {
            Err(e) => Agreement {
                engine,
                max_rel_diff: None,
                same_top1: None,
                ok: false,
                error: Some(format!("{e:#}")),
            },
            Ok(_) if i == 0 => Agreement {
                engine,
                max_rel_diff: None,
                same_top1: None,
                ok: true,
                error: None,
            },
            Ok(v) if v.len() != reference.len() || reference.is_empty() => Agreement {
                engine,
                max_rel_diff: None,
                same_top1: None,
                ok: false,
                error: Some(format!(
                    "{} outputs, the reference {}",
                    v.len(),
                    reference.len()
                )),
            },
            Ok(v) => {
                let d = v
                    .iter()
                    .zip(&reference)
                    .fold(0f64, |m, (a, b)| m.max(f64::from(a - b).abs()))
                    / scale.max(f64::MIN_POSITIVE);
                Agreement {
                    engine,
                    max_rel_diff: Some(d),
                    same_top1: top1.then(|| top(&v) == top(&reference)),
                    ok: d <= TOLERANCE,
                    error: None,
                }
            }
        })
        .collect()
}

/// Runs `model` once on `backend` here (a fresh device or runtime) on `input`; its first
/// output.
pub fn run_on(backend: BackendKind, model: &Path, input: &Tensor) -> Result<Vec<f32>> {
    let mut devices = Devices::default();
    match backend {
        BackendKind::Wgpu => {
            devices.gpu = Some(device_runner::gpu::GpuContext::new(
                &device_runner::gpu::GpuOptions::default(),
            )?);
        }
        BackendKind::Ort => {
            let rt = device_runner::ort_backend::OrtRuntime::get(None)?;
            devices.ort = Some((rt, device_runner::ort_backend::OrtOptions::default()));
        }
        _ => {}
    }
    let (mut session, inputs) =
        Session::open(backend, &devices, model, std::slice::from_ref(input), 0)?;
    let out = session.run(&inputs)?;
    let first = out.first().context("the model gave no output")?;
    Ok(first
        .as_f32()
        .context("the output is not float32")?
        .to_vec())
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
