//! `moga sr train|upscale`: super-resolution networks trained on an image folder and
//! used to upscale images.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::backend::BackendKind;
use device_runner::image_io::ImageInput;
use device_runner::onnx::builder::{NamedWeights, sr_model};
use device_runner::onnx::proto::ModelProto;
use device_runner::onnx::{Tensor, write_model};
use serde::Serialize;
use supernet::sr_net::{
    SR_RECORD_FILE, SR_WEIGHTS_FILE, SrNet, SrOutcome, SrTrainConfig, train_sr,
};
use supernet::sr_search::SrMetrics;
use supernet::train::{device_name, parse_device};

use crate::cli::{SrCmd, SrTrainArgs, SrUpscaleArgs};
use crate::output::{Table, json_line, thousands};

pub fn run(cmd: SrCmd) -> Result<ExitCode> {
    match cmd {
        SrCmd::Train(a) => train(*a),
        SrCmd::Upscale(a) => upscale(*a),
    }
}

/// The folder of an `images:DIR` data argument.
pub fn images_dir(data: &str) -> Result<&Path> {
    let dir = data.strip_prefix("images:").with_context(|| {
        format!("--data {data}: expected images:DIR (a folder of PNG or JPEG images)")
    })?;
    Ok(Path::new(dir))
}

fn train(a: SrTrainArgs) -> Result<ExitCode> {
    supernet::torch::set_threads(a.threads);
    let device = parse_device(&a.device)?;
    let arch = super::load_sr_arch(&a.arch)?.with_context(|| {
        format!(
            "{}: not a super-resolution architecture (FALSR-A/B/C, MoreMNAS-C/D, falsr:… or moremnas:…)",
            a.arch
        )
    })?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let config = SrTrainConfig {
        arch,
        data: images_dir(&a.data)?.to_path_buf(),
        seconds: a.minutes.map(|m| m * 60.0),
        steps: a.steps,
        batch: a.batch,
        patch: a.patch,
        lr: a.lr,
        eval_every: a.eval_every,
        seed: a.seed,
    };
    eprintln!(
        "training {} stand-alone on {} ({}{}), batch {} of {}x{} patches, Adam lr {}; device {}, {} CPU threads; writing {}",
        config
            .arch
            .preset_name()
            .map_or_else(|| config.arch.encode(), str::to_string),
        config.data.display(),
        a.minutes.map(|m| format!("{m} min")).unwrap_or_default(),
        a.steps
            .map(|s| format!(
                "{}{s} steps",
                if a.minutes.is_some() {
                    ", at most "
                } else {
                    ""
                }
            ))
            .unwrap_or_default(),
        config.batch,
        config.patch,
        config.patch,
        config.lr,
        device_name(device),
        supernet::torch::threads(),
        a.output.display()
    );
    let (_, o) = train_sr(&config, device, Some(&a.output), &mut |r| {
        eprintln!(
            "  step {:>6}  {:>7.1} s  L1 {:.4}  held-out PSNR {:.3} dB  SSIM {:.4}",
            r.step, r.seconds, r.loss, r.psnr, r.ssim
        );
    })?;
    let mut out = std::io::stdout().lock();
    if a.out.json {
        json_line(&mut out, &o)?;
    } else {
        print_outcome(&mut out, &o, &a.output)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(out: &mut impl Write, o: &SrOutcome, dir: &Path) -> Result<()> {
    let last = o.records.last().context("no evaluation was made")?;
    writeln!(
        out,
        "{} ({} params): {} steps in {:.0} s; held-out PSNR {:.3} dB / SSIM {:.4}, bicubic {:.3} dB / {:.4}: {:+.3} dB",
        o.arch,
        thousands(o.params as u64),
        last.step,
        last.seconds,
        last.psnr,
        last.ssim,
        o.bicubic.psnr_db,
        o.bicubic.ssim,
        o.gain_db
    )?;
    let mut t = Table::new(&[
        "image",
        " PSNR",
        " SSIM",
        " bicubic PSNR",
        " bicubic SSIM",
        " gain dB",
    ]);
    for (name, s, b) in &o.per_image {
        t.row(vec![
            name.clone(),
            format!("{:.3}", s.psnr_db),
            format!("{:.4}", s.ssim),
            format!("{:.3}", b.psnr_db),
            format!("{:.4}", b.ssim),
            format!("{:+.3}", s.psnr_db - b.psnr_db),
        ]);
    }
    t.write(out)?;
    writeln!(
        out,
        "weights: {}, record: {}",
        dir.join(SR_WEIGHTS_FILE).display(),
        dir.join(SR_RECORD_FILE).display()
    )?;
    Ok(())
}

/// A `moga sr train` folder's network (on the CPU).
pub fn trained_sr(dir: &Path) -> Result<SrNet> {
    let record = dir.join(SR_RECORD_FILE);
    let text = std::fs::read_to_string(&record).with_context(|| {
        format!(
            "reading {} (is {} a `moga sr train` output folder?)",
            record.display(),
            dir.display()
        )
    })?;
    let o: SrOutcome = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a moga sr train record", record.display()))?;
    let cpu = parse_device("cpu")?;
    Ok(SrNet::load(
        &o.config.arch,
        &dir.join(SR_WEIGHTS_FILE),
        cpu,
    )?)
}

/// The ONNX model of a trained network for a `height`×`width` low-resolution input.
pub fn trained_model(net: &SrNet, height: usize, width: usize) -> Result<ModelProto> {
    let tensors = net
        .named_values()
        .into_iter()
        .map(|(n, shape, v)| (n, (shape, v)))
        .collect();
    let mut w = NamedWeights::new(tensors, 0.0);
    let model = sr_model(&net.arch, height, width, &mut w)?;
    w.finish(&net.arch.encode())?;
    Ok(model)
}

#[derive(Serialize)]
struct Upscaled {
    input: String,
    output: String,
    arch: String,
    engine: String,
    input_size: (usize, usize),
    output_size: (usize, usize),
    seconds: f64,
}

fn upscale(a: SrUpscaleArgs) -> Result<ExitCode> {
    let backend = match a.engine.as_str() {
        "torch" => None,
        "cpu" => Some(BackendKind::Cpu),
        "ort" | "onnxruntime" => Some(BackendKind::Ort),
        "wgpu" => Some(BackendKind::Wgpu),
        other => anyhow::bail!("--engine {other}: expected torch, cpu, ort or wgpu"),
    };
    let net = trained_sr(&a.weights)?;
    // The runner's image path (`device-runner exec --output-png`): one conversion in
    // and out for every engine.
    let image = ImageInput::load(&a.input)?;
    let (w, h) = (image.ycc.y.width, image.ycc.y.height);
    let x = image.tensor();
    let t0 = std::time::Instant::now();
    let y = match backend {
        None => {
            let plane = net.upscale(&image.ycc.y);
            Tensor::f32(
                vec![1, 1, 2 * h, 2 * w],
                plane.data.iter().map(|v| v / 255.0).collect(),
            )
        }
        Some(kind) => {
            let model = trained_model(&net, h, w)?;
            let file = a.output.with_extension("onnx");
            write_model(&file, &model).with_context(|| format!("writing {}", file.display()))?;
            let out = super::export::run_on(kind, &file, &x);
            let _ = std::fs::remove_file(&file);
            Tensor::f32(vec![1, 1, 2 * h, 2 * w], out?)
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    image.save_upscaled("y", &y, &a.output)?;
    let report = Upscaled {
        input: a.input.display().to_string(),
        output: a.output.display().to_string(),
        arch: net.arch.encode(),
        engine: a.engine.clone(),
        input_size: (w, h),
        output_size: (2 * w, 2 * h),
        seconds,
    };
    let mut out = std::io::stdout().lock();
    if a.out.json {
        json_line(&mut out, &report)?;
    } else {
        writeln!(
            out,
            "wrote {} ({}x{} from {}x{}; Y by {} on {} in {:.2} s, Cb/Cr bicubic)",
            report.output,
            2 * w,
            2 * h,
            w,
            h,
            report.arch,
            report.engine,
            seconds
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct SrSearchReport {
    space: String,
    objectives: Vec<supernet::sr_search::SrObjective>,
    constraints: supernet::sr_search::SrConstraints,
    oracle: OracleInfo,
    ga: search::ga::GaConfig,
    /// Feasible non-dominated architectures, best PSNR first.
    front: Vec<SrMetrics>,
    /// The published models of the space, scored by the same oracle.
    presets: Vec<NamedMetrics>,
    /// Every architecture evaluated, in order.
    evaluated: Vec<SrMetrics>,
    evaluations: usize,
    seconds: f64,
}

#[derive(Serialize)]
struct OracleInfo {
    kind: &'static str,
    steps: usize,
    batch: usize,
    patch: usize,
    lr: f64,
    seed: u64,
    data: String,
    eval_crop: usize,
    bicubic_psnr: f64,
    bicubic_ssim: f64,
    trained: usize,
    cached: usize,
    cache_file: String,
}

#[derive(Serialize)]
struct NamedMetrics {
    name: &'static str,
    #[serde(flatten)]
    metrics: SrMetrics,
}

/// `moga search --space falsr|moremnas`.
pub fn search(a: crate::cli::SearchArgs, space: lookup_tables::SrSpaceId) -> Result<ExitCode> {
    use lookup_tables::SR_PRESETS;
    use search::ga::{Algorithm, run};
    use supernet::sr_search::{
        BRIEF_EVAL_SIDE, BriefTraining, SrConstraints, SrProblem, parse_sr_objectives,
    };

    let objectives = parse_sr_objectives(
        a.objectives
            .as_deref()
            .unwrap_or("psnr:max,madds:min,params:min"),
    )?;
    let spec = a.accuracy.as_deref().unwrap_or("train:100");
    let steps: usize = spec
        .strip_prefix("train:")
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .with_context(|| {
            format!("--accuracy {spec}: super-resolution is scored by train:STEPS (FALSR's brief training), e.g. train:100")
        })?;
    let wants_lat = objectives.contains(&supernet::sr_search::SrObjective::Lat);
    anyhow::ensure!(
        a.lut.is_some() || !wants_lat,
        "--objectives lat:min needs the device's latency table (--lut, profiled with `moga profile --space {space} --lr-side N`)"
    );
    let mut ga = super::search::ga_config(&a, objectives.len())?;
    anyhow::ensure!(
        ga.algorithm != Algorithm::Exact,
        "--algorithm exact needs additive objectives; PSNR is not"
    );
    let device = parse_device("auto")?;
    let data = images_dir(&a.data)?;
    let cache = a.output.with_extension("oracle.jsonl");
    let oracle = BriefTraining::new(data, steps, a.seed, device, Some(&cache))?;
    let bicubic = oracle.bicubic();
    let constraints = SrConstraints {
        min_psnr: a.min_psnr,
        max_madds: a.max_madds_g.map(|g| (g * 1e9) as u64),
    };
    let mut problem = SrProblem::new(space, objectives.clone(), constraints, oracle);
    if let Some(path) = &a.lut {
        let lut = lookup_tables::Lut::read(path)?;
        problem = problem
            .with_latency(lut, a.shape.lr_side)
            .with_context(|| format!("{} at --lr-side {}", path.display(), a.shape.lr_side))?;
    }
    if space == lookup_tables::SrSpaceId::Falsr {
        ga.initial = problem.falsr_initial(ga.population, a.seed);
    }
    if ga.roulette_share > 0.0 {
        ga.roulettes = problem.roulettes();
    }
    eprintln!(
        "searching {space}: {} x {} generations, objectives {}; oracle: each candidate trained {steps} steps (batch {}, {}x{} patches) on {}, scored on {}x{} centres of the held-out images (bicubic there: {:.3} dB); {} scores cached in {}",
        ga.population,
        ga.generations,
        a.objectives
            .as_deref()
            .unwrap_or("psnr:max,madds:min,params:min"),
        problem.oracle.batch,
        problem.oracle.patch,
        problem.oracle.patch,
        data.display(),
        BRIEF_EVAL_SIDE,
        BRIEF_EVAL_SIDE,
        bicubic.psnr_db,
        problem.oracle.cached(),
        cache.display()
    );
    let t0 = std::time::Instant::now();
    let result = run(&mut problem, &ga, &mut |g| {
        eprintln!(
            "  generation {:>3}: {} evaluations, front {} , {:.0} s",
            g.generation,
            g.evaluations,
            g.front.len(),
            t0.elapsed().as_secs_f64()
        );
    })?;
    let mut presets = Vec::new();
    for p in SR_PRESETS.iter().filter(|p| p.arch().space == space) {
        let metrics = problem.metrics(&p.arch())?;
        presets.push(NamedMetrics {
            name: p.name,
            metrics,
        });
    }
    let by_arch: std::collections::HashMap<&str, &SrMetrics> = problem
        .evaluated
        .iter()
        .map(|m| (m.arch.as_str(), m))
        .collect();
    let mut front: Vec<SrMetrics> = result
        .front
        .iter()
        .filter_map(|i| {
            by_arch
                .get(problem.arch(&i.genes).encode().as_str())
                .map(|m| (*m).clone())
        })
        .collect();
    front.sort_by(|x, y| y.psnr.total_cmp(&x.psnr));
    let report = SrSearchReport {
        space: space.to_string(),
        objectives,
        constraints,
        oracle: OracleInfo {
            kind: "brief training (FALSR)",
            steps,
            batch: problem.oracle.batch,
            patch: problem.oracle.patch,
            lr: problem.oracle.lr,
            seed: problem.oracle.seed,
            data: data.display().to_string(),
            eval_crop: BRIEF_EVAL_SIDE,
            bicubic_psnr: bicubic.psnr_db,
            bicubic_ssim: bicubic.ssim,
            trained: problem.oracle.trained,
            cached: problem.oracle.cached(),
            cache_file: cache.display().to_string(),
        },
        ga: ga.clone(),
        front,
        presets,
        evaluated: problem.evaluated.clone(),
        evaluations: result.evaluations,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let text = serde_json::to_string_pretty(&report)?;
    lookup_tables::write_atomic(&a.output, text.as_bytes())
        .with_context(|| format!("writing {}", a.output.display()))?;
    if let Some(plot) = &a.plot {
        use search::plot::{FidelitySeries, plot_scatter};
        let pt = |m: &SrMetrics| (m.madds as f64 / 1e9, m.psnr);
        plot_scatter(
            &format!("moga search --space {space}: held-out PSNR after {steps} training steps"),
            ("multiply-adds at 480x480 (G)", "PSNR on Y (dB)"),
            &[
                FidelitySeries {
                    label: "evaluated".into(),
                    points: report.evaluated.iter().map(pt).collect(),
                },
                FidelitySeries {
                    label: "front".into(),
                    points: report.front.iter().map(pt).collect(),
                },
            ],
            &report
                .presets
                .iter()
                .map(|p| (p.name.to_string(), pt(&p.metrics)))
                .collect::<Vec<_>>(),
            plot,
        )?;
    }
    let mut out = std::io::stdout().lock();
    if a.out.json {
        json_line(&mut out, &report)?;
    } else {
        writeln!(
            out,
            "{} evaluations ({} trained, {:.0} s); front of {} (bicubic {:.3} dB on the same crops):",
            report.evaluations,
            report.oracle.trained,
            report.seconds,
            report.front.len(),
            bicubic.psnr_db
        )?;
        let mut t = Table::new(&[
            "#", " PSNR", " SSIM", " madds G", " params", " lat ms", "arch",
        ]);
        let rows = report
            .front
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m))
            .chain(
                report
                    .presets
                    .iter()
                    .map(|p| (p.name.to_string(), &p.metrics)),
            );
        for (name, m) in rows {
            t.row(vec![
                name,
                format!("{:.3}", m.psnr),
                format!("{:.4}", m.ssim),
                format!("{:.1}", m.madds as f64 / 1e9),
                thousands(m.params),
                m.lat_ms.map_or("-".into(), |l| format!("{l:.3}")),
                m.arch.clone(),
            ]);
        }
        t.write(&mut out)?;
        writeln!(out, "wrote {}", a.output.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
