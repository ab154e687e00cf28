//! `device-runner`: the measuring program that runs on the device. The profiler pushes
//! it to phones; on a host it runs as a local process. Human output by default, JSON
//! lines with `--json`; logs and errors on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use device_runner::backend::{BackendChoice, BackendKind};
use device_runner::bench::{Measurement, Sample, Subject, measure_all};
use device_runner::heat::{self, HeatSpan};
use device_runner::image_io::ImageInput;
use device_runner::info;
use device_runner::onnx::{self, Tensor};
use device_runner::protocol::{BenchError, BenchOptions, BenchRecord, GpuArgs, OrtArgs};
use device_runner::session::{Devices, Session};

#[derive(Parser)]
#[command(
    name = "device-runner",
    version,
    about = "Runs and measures ONNX models on this device (wgpu, ONNX Runtime or the CPU reference)"
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
        /// Also find the adapter `--api auto` runs on (`auto_adapter`), by opening it and
        /// running a kernel: cheap on a device, minutes on an emulated one, so asked for.
        #[arg(long)]
        auto_adapter: bool,
    },
    /// Run a model once on given inputs and write its outputs as TensorProto files; for a
    /// ×2 super-resolution model given an image, also the upscaled image as a PNG.
    Exec {
        #[arg(long, value_enum)]
        backend: BackendKind,
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// Inputs, in the model's input order: TensorProto files (.pb), or PNG/JPEG images
        /// (by extension: .png, .jpg, .jpeg), each given as its luminance Y/255 (BT.601,
        /// as scikit-image), a float tensor [1, 1, H, W].
        #[arg(long = "input", value_name = "PB|IMAGE")]
        inputs: Vec<PathBuf>,
        /// Where output_0.pb, output_1.pb, … are written.
        #[arg(long)]
        output_dir: PathBuf,
        /// Also write the first output, which must be the ×2 luminance [1, 1, 2H, 2W] of
        /// the one image input H×W, as an RGB PNG (its chroma: the input's, bicubically
        /// upscaled).
        #[arg(long, value_name = "FILE")]
        output_png: Option<PathBuf>,
        #[command(flatten)]
        gpu: GpuArgs,
        #[command(flatten)]
        ort: OrtArgs,
    },
    /// Measure models: warm-up, then timed runs; one result per model.
    Bench {
        #[arg(long, value_enum)]
        backend: BackendKind,
        /// ONNX models, or folders whose *.onnx files are measured in name order
        /// (repeatable; measured in the order given).
        #[arg(long = "model", value_name = "PATH", required = true)]
        models: Vec<PathBuf>,
        /// Inputs as for exec: TensorProto files or PNG/JPEG images (else seeded random
        /// inputs of the declared shapes).
        #[arg(long = "input", value_name = "PB|IMAGE")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        opts: BenchOptions,
        /// Print one JSON object per model.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: GpuArgs,
        #[command(flatten)]
        ort: OrtArgs,
    },
}

fn open_devices(backend: BackendKind, gpu: &GpuArgs, ort: &OrtArgs) -> Result<Devices> {
    #[allow(unused_mut)]
    let mut devices = Devices::default();
    match backend {
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => {
            let opts = device_runner::gpu::GpuOptions {
                backend: gpu.wgpu_backend,
                adapter: gpu.adapter.clone(),
                workgroup_size: gpu.workgroup_size,
                tuning: match gpu.tuning {
                    device_runner::protocol::TuningChoice::Defaults => {
                        device_runner::gpu::Tuning::Defaults
                    }
                    device_runner::protocol::TuningChoice::Auto => {
                        device_runner::gpu::Tuning::Auto {
                            cache: Some(gpu.kernel_choices.clone().unwrap_or_else(|| {
                                std::env::current_exe()
                                    .ok()
                                    .and_then(|e| e.parent().map(|d| d.join("kernel-choices.json")))
                                    .unwrap_or_else(|| "kernel-choices.json".into())
                            })),
                        }
                    }
                },
                dtype: gpu.dtype,
                limits: gpu
                    .limits
                    .as_deref()
                    .map(device_runner::limit_profiles::find)
                    .transpose()
                    .map_err(|message| device_runner::Error::Gpu {
                        backend: "--limits".into(),
                        message,
                    })?,
            };
            devices.gpu = Some(device_runner::gpu::GpuContext::new(&opts)?);
        }
        #[cfg(feature = "ort")]
        BackendKind::Ort => {
            let rt = device_runner::ort_backend::OrtRuntime::get(ort.ort_lib.as_deref())?;
            let opts = device_runner::ort_backend::OrtOptions {
                lib: ort.ort_lib.clone(),
                ep: ort.ep,
                threads: ort.threads,
                opt_level: ort.opt_level,
                profile: None,
            };
            devices.ort = Some((rt, opts));
        }
        _ => {
            let _ = (gpu, ort);
        }
    }
    Ok(devices)
}

/// One `--input`: a TensorProto file, or an image given as its luminance.
enum Input {
    Tensor(Tensor),
    Image(ImageInput),
}

impl Input {
    fn tensor(&self) -> Tensor {
        match self {
            Input::Tensor(t) => t.clone(),
            Input::Image(i) => i.tensor(),
        }
    }
}

/// Reads `--input`s, each by its extension: an image (.png, .jpg, .jpeg) or a
/// TensorProto file (anything else).
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    paths
        .iter()
        .map(|p| {
            Ok(if imaging::has_image_extension(p) {
                Input::Image(ImageInput::load(p)?)
            } else {
                Input::Tensor(onnx::read_tensor(p)?)
            })
        })
        .collect()
}

fn exec(
    backend: BackendKind,
    model: &Path,
    inputs: &[PathBuf],
    out_dir: &Path,
    output_png: Option<&Path>,
    gpu: &GpuArgs,
    ort: &OrtArgs,
) -> Result<()> {
    let images = inputs
        .iter()
        .filter(|p| imaging::has_image_extension(p))
        .count();
    if let Some(png) = output_png
        && images != 1
    {
        bail!(
            "--output-png {} needs exactly one image --input (.png, .jpg or .jpeg), got {images}",
            png.display()
        );
    }
    let given = read_inputs(inputs)?;
    let tensors: Vec<Tensor> = given.iter().map(Input::tensor).collect();
    let devices = open_devices(backend, gpu, ort)?;
    let names = output_names(model)?;
    let (mut session, tensors) = Session::open(backend, &devices, model, &tensors, 0)?;
    let outputs = session.run(&tensors)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (i, t) in outputs.iter().enumerate() {
        let name = names.get(i).map_or("", String::as_str);
        onnx::write_tensor(&out_dir.join(format!("output_{i}.pb")), name, t)?;
    }
    if let Some(png) = output_png {
        let image = given
            .iter()
            .find_map(|i| match i {
                Input::Image(i) => Some(i),
                Input::Tensor(_) => None,
            })
            .expect("exactly one image input, checked above");
        let first = outputs.first().context("the model has no output")?;
        image.save_upscaled(names.first().map_or("", String::as_str), first, png)?;
    }
    Ok(())
}

/// The model's output names, for naming the written tensors.
fn output_names(model: &Path) -> Result<Vec<String>> {
    let m = onnx::read_model(model)?;
    Ok(m.graph
        .map(|g| {
            g.output
                .into_iter()
                .map(|o| o.name.unwrap_or_default())
                .collect()
        })
        .unwrap_or_default())
}

fn models_of(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut list: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    list.sort();
    if list.is_empty() {
        bail!("{} holds no .onnx files", path.display());
    }
    Ok(list)
}

/// A model opened for measuring: the timed session and, for per-node timing on ONNX
/// Runtime, the profiled one beside it, opened only when the first node-by-node run is
/// asked for (after every timed run: an open profiled session is not part of what a
/// whole-network measurement sees).
struct Opened<'c> {
    path: PathBuf,
    timed: Session<'c>,
    /// Where the profiled twin writes its profile, with what opening it needs; `None`
    /// without per-node timing.
    twin: Option<Twin<'c>>,
    profiled: Option<Session<'c>>,
}

/// What opening a profiled twin needs.
struct Twin<'c> {
    devices: &'c Devices,
    inputs: Vec<Tensor>,
    prefix: PathBuf,
}

impl Subject for Opened<'_> {
    fn time(&mut self) -> device_runner::Result<Sample> {
        self.timed.time()
    }

    fn time_nodes(&mut self) -> device_runner::Result<Option<Vec<f64>>> {
        if self.profiled.is_none()
            && let Some(t) = self.twin.take()
        {
            self.profiled = self
                .timed
                .open_profiled(t.devices, &self.path, &t.inputs, &t.prefix)?;
        }
        match &mut self.profiled {
            Some(p) => p.time_nodes(),
            None => self.timed.time_nodes(),
        }
    }
}

/// Opens `path` (and, with `per_node`, what its profiled twin needs).
fn open<'c>(
    backend: BackendKind,
    devices: &'c Devices,
    path: &Path,
    given: &[Tensor],
    opts: &BenchOptions,
    profile_dir: &Path,
    index: usize,
) -> Result<Opened<'c>> {
    if opts.per_node && !matches!(backend, BackendKind::Ort | BackendKind::Wgpu) {
        bail!("--per-node needs --backend ort or wgpu");
    }
    let (timed, inputs) = Session::open(backend, devices, path, given, opts.seed)?;
    let twin = opts.per_node.then(|| Twin {
        devices,
        inputs,
        prefix: profile_dir.join(format!("model-{index}")),
    });
    Ok(Opened {
        path: path.to_path_buf(),
        timed,
        twin,
        profiled: None,
    })
}

/// The record of one measured model.
fn record(
    o: &mut Opened,
    m: &Measurement,
    backend: BackendKind,
    devices: &Devices,
    opts: &BenchOptions,
    heat: Option<HeatSpan>,
) -> Result<BenchRecord> {
    let limits = opts.limits();
    let mut r = BenchRecord::new(
        o.path.display().to_string(),
        backend,
        devices.describe(backend),
        m,
        o.timed.work_items(),
        limits,
        opts.reference.as_deref(),
    );
    r.kernels = o.timed.kernel_choices();
    r.heat = heat;
    if opts.per_node {
        r.nodes = Some(match &mut o.profiled {
            Some(p) => p.node_times(&[], limits.warmup_runs)?,
            None => o.timed.node_times(&m.node_runs, 0)?,
        });
    }
    Ok(r)
}

/// Runs `f`, turning a panic (a driver's, a library's) into an error: one model must
/// never end a folder's run.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(anyhow::anyhow!("panicked: {}", panic_message(&p))))
}

fn bench(
    backend: BackendKind,
    opts: &BenchOptions,
    json: bool,
    paths: &[PathBuf],
    inputs: &[PathBuf],
    gpu: &GpuArgs,
    ort: &OrtArgs,
) -> Result<bool> {
    let mut models = Vec::new();
    for p in paths {
        models.extend(models_of(p)?);
    }
    let given: Vec<Tensor> = read_inputs(inputs)?.iter().map(Input::tensor).collect();
    // ONNX Runtime's per-node profiles: removed at the end, on an error and on an
    // interrupt alike.
    let profile_scratch = if opts.per_node {
        Some(
            device_runner::scratch::ScratchDir::new("ort-profile")
                .context("creating a temporary folder for per-node profiles")?,
        )
    } else {
        None
    };
    let profile_dir = profile_scratch
        .as_ref()
        .map_or_else(std::env::temp_dir, |s| s.path().to_path_buf());
    let devices = open_devices(backend, gpu, ort)?;
    let mut reference = match &opts.reference {
        Some(r) => Some(
            Session::open(backend, &devices, r, &[], opts.seed)
                .with_context(|| format!("the reference {}", r.display()))?
                .0,
        ),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    let mut all_ok = true;
    let mut emit =
        |out: &mut std::io::StdoutLock, path: &Path, r: Result<BenchRecord>| -> Result<()> {
            match r {
                Ok(r) if json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
                Ok(r) => print_record(out, &r)?,
                Err(e) => {
                    all_ok = false;
                    if json {
                        let line = BenchError {
                            model: path.display().to_string(),
                            backend: backend.name().to_string(),
                            error: format!("{e:#}"),
                        };
                        writeln!(out, "{}", serde_json::to_string(&line)?)?;
                    } else {
                        eprintln!("device-runner: {}: {e:#}", path.display());
                    }
                }
            }
            // Results reach the host as they come, not when the batch ends.
            out.flush()?;
            Ok(())
        };
    let limits = opts.limits();
    // The device's heat, read before and after every measurement.
    let sys = heat::sysfs();
    if limits.rounds <= 1 {
        // One model at a time: only one model's memory is held.
        for (i, path) in models.iter().enumerate() {
            if i > 0 && opts.cooldown_ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(opts.cooldown_ms));
            }
            let result = guarded(|| {
                let mut o = open(backend, &devices, path, &given, opts, &profile_dir, i)?;
                let before = heat::read(&sys);
                let m = {
                    let mut subjects: [&mut dyn Subject; 1] = [&mut o];
                    measure_all(
                        &limits,
                        &mut subjects,
                        reference.as_mut().map(|r| r as &mut dyn Subject),
                        opts.per_node,
                        opts.seed,
                    )
                    .pop()
                    .expect("one subject")?
                };
                let heat = HeatSpan::of(before, heat::read(&sys));
                record(&mut o, &m, backend, &devices, opts, heat)
            });
            emit(&mut out, path, result)?;
        }
    } else {
        // Rounds: every model open at once, measured in a shuffled order per round.
        let mut opened = Vec::new();
        for (i, path) in models.iter().enumerate() {
            match guarded(|| open(backend, &devices, path, &given, opts, &profile_dir, i)) {
                Ok(o) => opened.push(o),
                Err(e) => emit(&mut out, path, Err(e))?,
            }
        }
        let before = heat::read(&sys);
        let results = guarded(|| {
            let mut subjects: Vec<&mut dyn Subject> =
                opened.iter_mut().map(|o| o as &mut dyn Subject).collect();
            Ok(measure_all(
                &limits,
                &mut subjects,
                reference.as_mut().map(|r| r as &mut dyn Subject),
                opts.per_node,
                opts.seed,
            ))
        })?;
        // Interleaved rounds: one span around them all, in every record.
        let heat = HeatSpan::of(before, heat::read(&sys));
        for (o, m) in opened.iter_mut().zip(results) {
            let path = o.path.clone();
            let r = guarded(|| record(o, &m?, backend, &devices, opts, heat.clone()));
            emit(&mut out, &path, r)?;
        }
    }
    drop(profile_scratch);
    Ok(all_ok)
}

fn print_record(out: &mut impl Write, r: &BenchRecord) -> std::io::Result<()> {
    let gpu = r
        .gpu_median_ms
        .map(|g| format!("  gpu median {g:.4} ms"))
        .unwrap_or_default();
    let ratio = r
        .ratio
        .as_ref()
        .map(|x| {
            format!(
                "  ratio to the reference {:.4} ({} pairs, reference median {:.4} ms)",
                x.median, x.pairs, x.reference_median_ms
            )
        })
        .unwrap_or_default();
    writeln!(
        out,
        "{}: wall median {:.4} ms (p10 {:.4}, p90 {:.4}, {} runs){gpu}{ratio}  [{} on {}]",
        r.model, r.wall_median_ms, r.wall_p10_ms, r.wall_p90_ms, r.runs, r.backend, r.device
    )?;
    if let Some(h) = &r.heat {
        writeln!(
            out,
            "  heat before: {}\n  heat after:  {}",
            h.before.summary(),
            h.after.summary()
        )?;
    }
    for n in r.nodes.iter().flatten() {
        writeln!(
            out,
            "  {:>10.4} ms {:>6}  {:<22} {}",
            n.median_ms,
            n.share
                .map_or(String::new(), |s| format!("{:.1}%", 100.0 * s)),
            n.op_type,
            n.node
        )?;
    }
    Ok(())
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Info {
            json,
            wgpu_backend,
            ort_lib,
            auto_adapter,
        } => {
            let report = info::gather(wgpu_backend, ort_lib.as_deref(), auto_adapter);
            let mut out = std::io::stdout().lock();
            if json {
                /// The report, and the phone GPU limit profiles `--limits` takes.
                #[derive(serde::Serialize)]
                struct WithProfiles<'a> {
                    #[serde(flatten)]
                    report: &'a info::RunnerInfo,
                    limit_profiles: &'static [device_runner::limit_profiles::LimitProfile],
                }
                let with = WithProfiles {
                    report: &report,
                    limit_profiles: &device_runner::limit_profiles::PROFILES,
                };
                serde_json::to_writer(&mut out, &with)?;
                writeln!(out)?;
            } else {
                print_info(&mut out, &report)?;
            }
        }
        Command::Exec {
            backend,
            model,
            inputs,
            output_dir,
            output_png,
            gpu,
            ort,
        } => exec(
            backend,
            &model,
            &inputs,
            &output_dir,
            output_png.as_deref(),
            &gpu,
            &ort,
        )?,
        Command::Bench {
            backend,
            models,
            inputs,
            opts,
            json,
            gpu,
            ort,
        } => {
            if !bench(backend, &opts, json, &models, &inputs, &gpu, &ort)? {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
            for (i, a) in r.adapters.iter().enumerate() {
                writeln!(
                    out,
                    "  {i}: {} [{}; {}; driver {} {}] timestamps: {}, compute: {}, f16: {}",
                    a.name,
                    a.backend,
                    a.device_type,
                    a.driver,
                    a.driver_info,
                    if a.timestamp_query { "yes" } else { "no" },
                    if a.compute { "yes" } else { "no" },
                    if a.shader_f16 { "yes" } else { "no" }
                )?;
            }
            if let Some(a) = r.auto_adapter.and_then(|i| r.adapters.get(i)) {
                writeln!(out, "--api auto runs on: {} ({})", a.name, a.backend)?;
            }
        }
    }
    match (&r.ort, &r.ort_error) {
        (Some(l), _) => writeln!(
            out,
            "onnxruntime {} at {} (from {}); execution providers: {}",
            l.version,
            l.path.display(),
            l.source,
            r.ort_providers.join(", ")
        )?,
        (None, Some(e)) => writeln!(out, "onnxruntime: {e}")?,
        (None, None) => {}
    }
    writeln!(
        out,
        "limit profiles (--limits; invocations, workgroup memory, storage buffers, storage binding):"
    )?;
    for p in &device_runner::limit_profiles::PROFILES {
        let l = &p.limits;
        writeln!(
            out,
            "  {:<15} {:>5} {:>6} B {:>9} {:>6} MiB  {}",
            p.name,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size,
            l.max_storage_buffers_per_shader_stage,
            l.max_storage_buffer_binding_size >> 20,
            p.gpus
        )?;
    }
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { device_runner::info::prepare_headless_env() };
    device_runner::scratch::remove_on_interrupt();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
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
