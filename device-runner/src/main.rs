//! `device-runner`: the measuring program that runs on the device. The profiler pushes
//! it to phones; on a host it runs as a local process. Human output by default, JSON
//! lines with `--json`; logs and errors on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use device_runner::backend::{BackendChoice, BackendKind};
use device_runner::bench::{BenchLimits, BenchRecord, measure};
use device_runner::graph::Graph;
use device_runner::info;
use device_runner::onnx::{self, Tensor};
use device_runner::session::{Devices, Session, random_inputs};

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

/// Choosing and driving the GPU.
#[derive(Args, Clone)]
struct GpuArgs {
    /// Which wgpu backends to consider.
    #[arg(long, value_enum, default_value_t = BackendChoice::All)]
    wgpu_backend: BackendChoice,
    /// Adapter by index (as `info` lists them) or by a substring of its name.
    #[arg(long)]
    adapter: Option<String>,
    /// Invocations per workgroup of the element-wise, pooling and naive kernels.
    #[arg(long, default_value_t = 64)]
    workgroup_size: u32,
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
    /// Run a model once on given inputs and write its outputs as TensorProto files.
    Exec {
        #[arg(long, value_enum)]
        backend: BackendKind,
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// Input tensors (TensorProto .pb), in the model's input order.
        #[arg(long = "input", value_name = "PB")]
        inputs: Vec<PathBuf>,
        /// Where output_0.pb, output_1.pb, … are written.
        #[arg(long)]
        output_dir: PathBuf,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Measure models: warm-up, then timed runs; one result per model.
    Bench {
        #[arg(long, value_enum)]
        backend: BackendKind,
        /// An ONNX model, or a folder whose *.onnx files are measured in name order.
        #[arg(long)]
        model: PathBuf,
        /// Input tensors (else seeded random inputs of the declared shapes).
        #[arg(long = "input", value_name = "PB")]
        inputs: Vec<PathBuf>,
        /// Runs discarded first.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        /// Measured runs.
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Stop measuring a model after this many seconds.
        #[arg(long, default_value_t = 10.0)]
        max_seconds: f64,
        /// Seed of the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object per model.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: GpuArgs,
    },
}

fn open_devices(backend: BackendKind, gpu: &GpuArgs) -> Result<Devices> {
    #[cfg(feature = "wgpu")]
    {
        let ctx = if backend == BackendKind::Wgpu {
            let opts = device_runner::gpu::GpuOptions {
                backend: gpu.wgpu_backend,
                adapter: gpu.adapter.clone(),
                workgroup_size: gpu.workgroup_size,
            };
            Some(device_runner::gpu::GpuContext::new(&opts)?)
        } else {
            None
        };
        Ok(Devices { gpu: ctx })
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = (backend, gpu);
        Ok(Devices {})
    }
}

fn device_name(devices: &Devices, backend: BackendKind) -> String {
    #[cfg(feature = "wgpu")]
    if let (BackendKind::Wgpu, Some(g)) = (backend, &devices.gpu) {
        return format!("{} ({})", g.adapter.name, g.adapter.backend);
    }
    let _ = devices;
    backend.name().to_string()
}

fn load(path: &Path) -> Result<Graph> {
    let model = onnx::read_model(path)?;
    Ok(Graph::from_model(&model, &path.display().to_string())?)
}

fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Tensor>> {
    paths.iter().map(|p| Ok(onnx::read_tensor(p)?)).collect()
}

fn exec(
    backend: BackendKind,
    model: &Path,
    inputs: &[PathBuf],
    out_dir: &Path,
    gpu: &GpuArgs,
) -> Result<()> {
    let graph = load(model)?;
    let inputs = read_inputs(inputs)?;
    let devices = open_devices(backend, gpu)?;
    let names: Vec<String> = graph.outputs.iter().map(|o| o.name.clone()).collect();
    let mut session = Session::new(backend, &devices, graph, &inputs)?;
    let outputs = session.run(&inputs)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (i, (t, name)) in outputs.iter().zip(&names).enumerate() {
        onnx::write_tensor(&out_dir.join(format!("output_{i}.pb")), name, t)?;
    }
    Ok(())
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

fn bench_one(
    backend: BackendKind,
    devices: &Devices,
    path: &Path,
    given: &[Tensor],
    seed: u64,
    limits: BenchLimits,
) -> Result<BenchRecord> {
    let graph = load(path)?;
    let inputs = if given.is_empty() {
        random_inputs(&graph, seed)?
    } else {
        given.to_vec()
    };
    let mut session = Session::new(backend, devices, graph, &inputs)?;
    let m = measure(&limits, || session.time())?;
    Ok(BenchRecord::new(
        path.display().to_string(),
        backend.name(),
        device_name(devices, backend),
        &m,
        Some(session.work_items()),
        limits,
    ))
}

fn bench(
    backend: BackendKind,
    model: &Path,
    inputs: &[PathBuf],
    limits: BenchLimits,
    seed: u64,
    json: bool,
    gpu: &GpuArgs,
) -> Result<bool> {
    let models = models_of(model)?;
    let given = read_inputs(inputs)?;
    let devices = open_devices(backend, gpu)?;
    let mut out = std::io::stdout().lock();
    let mut all_ok = true;
    for path in &models {
        // One model failing (or panicking inside a driver) must not end a folder's run.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bench_one(backend, &devices, path, &given, seed, limits)
        }))
        .unwrap_or_else(|p| Err(anyhow::anyhow!("panicked: {}", panic_message(&p))));
        match result {
            Ok(r) if json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
            Ok(r) => {
                let gpu = r
                    .gpu_median_ms
                    .map(|g| format!("  gpu median {g:.4} ms"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{}: wall median {:.4} ms (p10 {:.4}, p90 {:.4}, {} runs){gpu}  [{} on {}]",
                    r.model,
                    r.wall_median_ms,
                    r.wall_p10_ms,
                    r.wall_p90_ms,
                    r.runs,
                    r.backend,
                    r.device
                )?;
            }
            Err(e) => {
                all_ok = false;
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"model": path.display().to_string(), "backend": backend.name(), "error": format!("{e:#}")})
                    )?;
                } else {
                    eprintln!("device-runner: {}: {e:#}", path.display());
                }
            }
        }
    }
    Ok(all_ok)
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
        Command::Exec {
            backend,
            model,
            inputs,
            output_dir,
            gpu,
        } => exec(backend, &model, &inputs, &output_dir, &gpu)?,
        Command::Bench {
            backend,
            model,
            inputs,
            warmup,
            runs,
            max_seconds,
            seed,
            json,
            gpu,
        } => {
            let limits = BenchLimits {
                warmup_runs: warmup,
                runs,
                max_seconds,
            };
            if !bench(backend, &model, &inputs, limits, seed, json, &gpu)? {
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
                    "  {i}: {} [{}; {}; driver {} {}] timestamps: {}, compute: {}",
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
    unsafe { device_runner::info::prepare_headless_env() };
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
