//! `moga sr train|upscale`: super-resolution networks trained on an image folder and
//! used to upscale images.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use device_runner::backend::BackendKind;
use device_runner::image_io::ImageInput;
use device_runner::onnx::builder::{NamedWeights, sr_model};
use device_runner::onnx::proto::ModelProto;
use device_runner::onnx::{Tensor, write_model};
use serde::Serialize;
use supernet::sr_net::{
    SR_RECORD_FILE, SR_WEIGHTS_FILE, SrNet, SrOutcome, SrSchedule, SrTrainConfig, train_sr,
};
use supernet::sr_search::{SrMetrics, SrOracle};
use supernet::train::{device_name, parse_device};

use moga::cli::{SrCmd, SrScoreArgs, SrSupernetArgs, SrTrainArgs, SrUpscaleArgs};
use moga::cmd::load_sr_arch;
use moga::output::{Table, json_line, thousands};
use moga::torch::SrWeights;
use supernet::sr_image::Plane;

pub fn run(cmd: SrCmd) -> Result<ExitCode> {
    match cmd {
        SrCmd::Train(a) => train(*a),
        SrCmd::Supernet(a) => train_supernet(*a),
        SrCmd::Score(a) => score(*a),
        SrCmd::Upscale(a) => upscale(*a),
    }
}

fn train_supernet(a: SrSupernetArgs) -> Result<ExitCode> {
    use supernet::sr_supernet::{SrSupernetConfig, read_state, train_sr_supernet};
    supernet::torch::set_threads(a.threads);
    let device = parse_device(&a.device)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let config = if a.resume {
        let mut c = read_state(&a.output)?.config;
        anyhow::ensure!(
            c.space == a.space,
            "--resume: {} holds a {} supernet, not {}",
            a.output.display(),
            c.space,
            a.space
        );
        // A resumed run may be given a longer budget; the rest is the checkpoint's.
        if a.steps.is_some() || a.minutes.is_some() {
            c.schedule.steps = a.steps;
            c.schedule.seconds = a.minutes.map(|m| m * 60.0);
        }
        c
    } else {
        SrSupernetConfig {
            space: a.space,
            data: images_dir(&a.data)?.to_path_buf(),
            schedule: SrSchedule {
                seconds: a.minutes.map(|m| m * 60.0),
                steps: a.steps,
                batch: a.batch,
                patch: a.patch,
                lr: a.lr,
                eval_every: a.eval_every,
                seed: a.seed,
            },
        }
    };
    eprintln!(
        "training the {} supernet{} with strict fairness (4 paths a step) on {}{}{}, batch {} of {}x{} patches, Adam lr {}; device {}, {} CPU threads; writing {}",
        config.space,
        if a.resume { " (resumed)" } else { "" },
        config.data.display(),
        config
            .schedule
            .seconds
            .map(|s| format!(", {} min", s / 60.0))
            .unwrap_or_default(),
        config
            .schedule
            .steps
            .map(|s| format!(", {s} steps"))
            .unwrap_or_default(),
        config.schedule.batch,
        config.schedule.patch,
        config.schedule.patch,
        config.schedule.lr,
        device_name(device),
        supernet::torch::threads(),
        a.output.display()
    );
    let state = train_sr_supernet(&config, device, &a.output, a.resume, &mut |r| {
        let presets: Vec<String> = r
            .presets
            .iter()
            .map(|(n, p)| format!("{n} {p:.2}"))
            .collect();
        let cells: Vec<String> = r
            .presets
            .iter()
            .zip(&r.fixed_parts)
            .map(|((n, p), (_, f))| format!("{n} {:+.2}", p - f))
            .collect();
        eprintln!(
            "  step {:>6}  {:>7.1} s  L1 {:.4}  inherited PSNR dB: {}; the cells add dB: {}",
            r.step,
            r.seconds,
            r.loss,
            presets.join(", "),
            cells.join(", ")
        );
    })?;
    let mut out = std::io::stdout().lock();
    if a.out.json {
        // The record, and moga's verdict on it as an oracle (null when none).
        let mut v = serde_json::to_value(&state)?;
        v["weak_oracle"] = state.weak_oracle().into();
        json_line(&mut out, &v)?;
    } else {
        writeln!(
            out,
            "{} supernet ({} shared parameters): {} steps in {:.0} s; bicubic {:.3} dB on the {}x{} held-out centres",
            state.config.space,
            thousands(state.params as u64),
            state.steps_done,
            state.seconds,
            state.bicubic.psnr_db,
            state.eval_crop,
            state.eval_crop
        )?;
        if let Some(last) = state.records.last() {
            let mut t = Table::new(&[
                "preset",
                " inherited PSNR",
                " vs bicubic dB",
                " cells cut off",
                " the cells add dB",
            ]);
            for (i, (n, p)) in last.presets.iter().enumerate() {
                let f = last.fixed_parts.get(i).map(|(_, f)| *f);
                t.row(vec![
                    n.clone(),
                    format!("{p:.3}"),
                    format!("{:+.3}", p - state.bicubic.psnr_db),
                    f.map_or("-".into(), |f| format!("{f:.3}")),
                    f.map_or("-".into(), |f| format!("{:+.3}", p - f)),
                ]);
            }
            t.write(&mut out)?;
            if let Some(why) = state.weak_oracle() {
                writeln!(out, "warning: {why}; {WEAK_ORACLE_ADVICE}")?;
            }
        }
        writeln!(
            out,
            "checkpoint: {}; search with --accuracy supernet:{}",
            a.output.display(),
            a.output.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
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
    let arch = load_sr_arch(&a.arch)?.with_context(|| {
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
        schedule: SrSchedule {
            seconds: a.minutes.map(|m| m * 60.0),
            steps: a.steps,
            batch: a.batch,
            patch: a.patch,
            lr: a.lr,
            eval_every: a.eval_every,
            seed: a.seed,
        },
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
        config.schedule.batch,
        config.schedule.patch,
        config.schedule.patch,
        config.schedule.lr,
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

/// Where super-resolution weights come from (on the CPU): a `moga sr train` folder (one
/// architecture) or a `moga sr supernet` folder (any architecture of its space).
pub enum SrFolder {
    /// A trained network.
    Trained(SrNet, PathBuf),
    /// A supernet's shared weights.
    Supernet(supernet::sr_supernet::SrSupernet),
}

impl SrFolder {
    /// Opens `dir`, once for every network taken from it.
    pub fn open(dir: &Path) -> Result<SrFolder> {
        use supernet::sr_supernet::{SR_SUPERNET_RECORD, SrSupernet};
        if dir.join(SR_SUPERNET_RECORD).exists() {
            let (net, _) = SrSupernet::open(dir, parse_device("cpu")?)?;
            return Ok(SrFolder::Supernet(net));
        }
        Ok(SrFolder::Trained(trained_sr(dir)?, dir.to_path_buf()))
    }

    /// `f` of the network of `arch` with these weights: the trained network when it is
    /// this architecture, else the supernet's inherited weights.
    fn with_net<T>(
        &self,
        arch: &lookup_tables::SrArch,
        f: impl FnOnce(&SrNet) -> Result<T>,
    ) -> Result<T> {
        match self {
            SrFolder::Supernet(s) => f(&s.subnet(arch)?),
            SrFolder::Trained(net, dir) => {
                check_holds(net, arch, dir)?;
                f(net)
            }
        }
    }
}

impl SrWeights for SrFolder {
    fn model(
        &self,
        arch: &lookup_tables::SrArch,
        height: usize,
        width: usize,
    ) -> Result<ModelProto> {
        self.with_net(arch, |net| trained_model(net, height, width))
    }

    fn upscale(
        &self,
        arch: &lookup_tables::SrArch,
        y: &[f32],
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>> {
        let plane = Plane::new(width, height, y.iter().map(|v| v * 255.0).collect());
        self.with_net(arch, |net| {
            Ok(net.upscale(&plane).data.iter().map(|v| v / 255.0).collect())
        })
    }
}

fn check_holds(net: &SrNet, arch: &lookup_tables::SrArch, dir: &Path) -> Result<()> {
    anyhow::ensure!(
        net.arch == *arch,
        "{} holds {}, not {}",
        dir.display(),
        net.arch.encode(),
        arch.encode()
    );
    Ok(())
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
            let out = moga::cmd::export::run_on(kind, &file, &x);
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

/// The PSNR oracle `spec` names: `train:STEPS` (FALSR's brief training, its scores
/// cached in `cache`) or `supernet:DIR` (a supernet of `space`).
/// What to do about a supernet whose inherited scores are unlikely to rank.
const WEAK_ORACLE_ADVICE: &str = "its scores rank architectures poorly (docs/guide/super-resolution.md, Supernet); train it longer, or re-score its picks with `moga sr score ARCH... --accuracy train:STEPS`";

fn sr_oracle(
    spec: &str,
    space: lookup_tables::SrSpaceId,
    data: &Path,
    seed: u64,
    cache: Option<&Path>,
) -> Result<SrOracle> {
    use supernet::sr_search::BriefTraining;
    use supernet::sr_supernet::SupernetSr;
    let device = parse_device("auto")?;
    if let Some(dir) = spec.strip_prefix("supernet:") {
        let s = SupernetSr::open(Path::new(dir), data, device)?;
        anyhow::ensure!(
            s.space() == space,
            "--accuracy {spec}: the supernet covers {}, not {space}",
            s.space()
        );
        if let Some(why) = s.state.weak_oracle() {
            eprintln!("warning: {dir}: {why}; {WEAK_ORACLE_ADVICE}");
        }
        return Ok(SrOracle::Supernet(s));
    }
    let steps: usize = spec
        .strip_prefix("train:")
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .with_context(|| {
            format!("--accuracy {spec}: super-resolution is scored by train:STEPS (FALSR's brief training, e.g. train:100) or supernet:DIR (a `moga sr supernet` checkpoint)")
        })?;
    Ok(SrOracle::Brief(BriefTraining::new(
        data, steps, seed, device, cache,
    )?))
}

#[derive(Serialize)]
struct Scored {
    name: Option<&'static str>,
    #[serde(flatten)]
    metrics: SrMetrics,
}

fn score(a: SrScoreArgs) -> Result<ExitCode> {
    use lookup_tables::SrArch;
    let data = images_dir(&a.data)?;
    let mut oracle = sr_oracle(&a.accuracy, a.space, data, a.seed, None)?;
    let mut archs = Vec::new();
    for text in &a.archs {
        let arch = load_sr_arch(text)?
            .with_context(|| format!("{text}: not a super-resolution architecture"))?;
        anyhow::ensure!(
            arch.space == a.space,
            "{text}: an architecture of {}, not {}",
            arch.space,
            a.space
        );
        archs.push(arch);
    }
    archs.extend(SrArch::sample_n(a.space, a.sample, a.seed));
    anyhow::ensure!(
        !archs.is_empty(),
        "nothing to score: give ARCH or --sample N"
    );
    let bicubic = oracle.bicubic();
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&["#", " PSNR", " SSIM", " madds G", " params", "arch"]);
    for (i, arch) in archs.iter().enumerate() {
        let metrics = supernet::sr_search::score_arch(arch, &mut oracle)?;
        eprintln!(
            "  {:>3}/{}  {:.3} dB  {}",
            i + 1,
            archs.len(),
            metrics.psnr,
            arch.preset_name().unwrap_or("")
        );
        let s = Scored {
            name: arch.preset_name(),
            metrics,
        };
        if a.out.json {
            json_line(&mut out, &s)?;
        } else {
            t.row(vec![
                s.name.map_or_else(|| i.to_string(), str::to_string),
                format!("{:.3}", s.metrics.psnr),
                format!("{:.4}", s.metrics.ssim),
                format!("{:.1}", s.metrics.madds as f64 / 1e9),
                thousands(s.metrics.params),
                s.metrics.arch.clone(),
            ]);
        }
    }
    if !a.out.json {
        t.write(&mut out)?;
        writeln!(
            out,
            "oracle {}; bicubic {:.3} dB on the same crops",
            a.accuracy, bicubic.psnr_db
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct SrSearchReport {
    space: String,
    objectives: Vec<&'static str>,
    constraints: SrConstraints,
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

/// FALSR's constraints, as the report writes them.
#[derive(Clone, Copy, Serialize)]
struct SrConstraints {
    min_psnr: Option<f64>,
    max_madds: Option<u64>,
}

#[derive(Serialize)]
struct OracleInfo {
    kind: &'static str,
    /// Brief training: steps, batch, patch side, learning rate and seed per candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// Supernet: its checkpoint and the steps it was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supernet_steps: Option<usize>,
    data: String,
    eval_crop: usize,
    bicubic_psnr: f64,
    bicubic_ssim: f64,
    /// Candidates trained (brief) or scored with inherited weights (supernet) here.
    trained: usize,
    cached: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_file: Option<String>,
}

impl OracleInfo {
    fn of(oracle: &SrOracle, data: &Path, cache: &Path) -> OracleInfo {
        let bicubic = oracle.bicubic();
        let mut info = OracleInfo {
            kind: "",
            steps: None,
            batch: None,
            patch: None,
            lr: None,
            seed: None,
            checkpoint: None,
            supernet_steps: None,
            data: data.display().to_string(),
            eval_crop: supernet::sr_search::BRIEF_EVAL_SIDE,
            bicubic_psnr: bicubic.psnr_db,
            bicubic_ssim: bicubic.ssim,
            trained: 0,
            cached: 0,
            cache_file: None,
        };
        match oracle {
            SrOracle::Brief(b) => {
                info.kind = "brief training (FALSR)";
                info.steps = Some(b.steps);
                info.batch = Some(b.batch);
                info.patch = Some(b.patch);
                info.lr = Some(b.lr);
                info.seed = Some(b.seed);
                info.trained = b.trained;
                info.cached = b.cached();
                info.cache_file = Some(cache.display().to_string());
            }
            SrOracle::Supernet(s) => {
                info.kind = "supernet (inherited weights, FairNAS strict fairness)";
                info.checkpoint = Some(s.dir.display().to_string());
                info.supernet_steps = Some(s.state.steps_done);
                info.trained = s.scored;
            }
        }
        info
    }

    /// One line for the progress output.
    fn describe(&self) -> String {
        match (&self.checkpoint, self.steps) {
            (Some(dir), _) => format!(
                "inherited weights of the supernet {dir} ({} steps), scored on {}x{} centres of the held-out images of {} (bicubic there: {:.3} dB)",
                self.supernet_steps.unwrap_or(0),
                self.eval_crop,
                self.eval_crop,
                self.data,
                self.bicubic_psnr
            ),
            (None, steps) => format!(
                "each candidate trained {} steps (batch {}, {}x{} patches) on {}, scored on {}x{} centres of the held-out images (bicubic there: {:.3} dB); {} scores cached in {}",
                steps.unwrap_or(0),
                self.batch.unwrap_or(0),
                self.patch.unwrap_or(0),
                self.patch.unwrap_or(0),
                self.data,
                self.eval_crop,
                self.eval_crop,
                self.bicubic_psnr,
                self.cached,
                self.cache_file.as_deref().unwrap_or("-")
            ),
        }
    }
}

#[derive(Serialize)]
struct NamedMetrics {
    name: &'static str,
    #[serde(flatten)]
    metrics: SrMetrics,
}

/// `moga search --space falsr|moremnas`.
pub fn search(a: moga::cli::SearchArgs, space: lookup_tables::SrSpaceId) -> Result<ExitCode> {
    use search::ga::Algorithm;
    use search::objectives::{Constraints, Objective};
    use search::run::SearchOptions;
    use supernet::sr_search::{
        falsr_initial, parse_sr_objectives, roulettes, sr_metrics, sr_objective_name,
    };

    let objectives = parse_sr_objectives(
        a.objectives
            .as_deref()
            .unwrap_or("psnr:max,madds:min,params:min"),
    )?;
    let wants_lat = objectives.iter().any(|o| o.objective == Objective::Latency);
    anyhow::ensure!(
        a.lut.is_some() || !wants_lat,
        "--objectives lat:min needs the device's latency table (--lut, profiled with `moga profile --space {space} --lr-side N`)"
    );
    let spec = a.accuracy.as_deref().unwrap_or("train:100");
    let data = images_dir(&a.data)?;
    let cache = a.output.with_extension("oracle.jsonl");
    let oracle = sr_oracle(spec, space, data, a.seed, Some(&cache))?;
    let oracle_name = match &oracle {
        SrOracle::Brief(b) => format!("{} training steps", b.steps),
        SrOracle::Supernet(_) => "inherited supernet weights".to_string(),
    };
    let mut ga = moga::cmd::search::ga_config(&a, objectives.len())?;
    anyhow::ensure!(
        ga.algorithm != Algorithm::Exact,
        "--algorithm exact needs additive objectives; PSNR is not"
    );
    let bicubic = oracle.bicubic();
    let constraints = SrConstraints {
        min_psnr: a.min_psnr,
        max_madds: a.max_madds_g.map(|g| (g * 1e9) as u64),
    };
    let lut = match &a.lut {
        Some(p) => Some((p.clone(), lookup_tables::Lut::read(p)?)),
        None => None,
    };
    if space == lookup_tables::SrSpaceId::Falsr {
        ga.initial = falsr_initial(space, ga.population, a.seed);
    }
    if ga.roulette_share > 0.0 {
        ga.roulettes = roulettes(space);
    }
    let describe = OracleInfo::of(&oracle, data, &cache).describe();
    let opts = SearchOptions {
        space,
        lut,
        latency_shape: Some(a.shape.lr_side),
        oracle: Box::new(oracle),
        objectives: objectives.clone(),
        constraints: Constraints {
            min_accuracy: constraints.min_psnr,
            max_madds: constraints.max_madds,
            ..Constraints::default()
        },
        ga: ga.clone(),
        epsilon: None,
        seed_exact: false,
        evaluated: false,
        record: true,
    };
    search::run::check(&opts)?;
    eprintln!(
        "searching {space}: {} x {} generations, objectives {}; oracle: {describe}",
        ga.population,
        ga.generations,
        a.objectives
            .as_deref()
            .unwrap_or("psnr:max,madds:min,params:min"),
    );
    // The one search every space runs (the classification search's engine, problem
    // and report), then this task's report: its rows with PSNR and SSIM from the
    // oracle's cache (nothing is trained twice).
    let t0 = std::time::Instant::now();
    let (result, mut problem, _) = search::run::search(opts, &mut |g, _| {
        eprintln!(
            "  generation {:>3}: {} evaluations, front {} , {:.0} s",
            g.generation,
            g.evaluations,
            g.front.len(),
            t0.elapsed().as_secs_f64()
        );
    })?;
    let mut presets = Vec::new();
    for p in &result.presets {
        let name = lookup_tables::sr_preset(&p.name)
            .expect("a preset of the space")
            .name;
        presets.push(NamedMetrics {
            name,
            metrics: sr_metrics(&p.metrics, problem.oracle_mut())?,
        });
    }
    let mut rows = Vec::with_capacity(problem.evaluated().len());
    for m in problem.evaluated().to_vec() {
        rows.push(sr_metrics(&m, problem.oracle_mut())?);
    }
    let mut front = Vec::with_capacity(result.front.len());
    for m in &result.front {
        front.push(sr_metrics(m, problem.oracle_mut())?);
    }
    front.sort_by(|x, y| y.psnr.total_cmp(&x.psnr));
    let report = SrSearchReport {
        space: space.to_string(),
        objectives: objectives.iter().map(sr_objective_name).collect(),
        constraints,
        oracle: OracleInfo::of(problem.oracle(), data, &cache),
        ga: ga.clone(),
        front,
        presets,
        evaluated: rows,
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
            &format!("moga search --space {space}: held-out PSNR, {oracle_name}"),
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
            "{} evaluations ({} {}, {:.0} s); front of {} (bicubic {:.3} dB on the same crops):",
            report.evaluations,
            report.oracle.trained,
            if report.oracle.checkpoint.is_some() {
                "scored with inherited weights"
            } else {
                "trained"
            },
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
