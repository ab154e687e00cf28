//! `device-runner`: the measuring program that runs on the device. The profiler pushes
//! it to phones; on a host it runs as a local process. Human output by default, JSON
//! lines with `--json`; logs and errors on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use device_runner::backend::{BackendChoice, BackendKind, ExecutionProvider, OptLevel};
use device_runner::bench::{BenchLimits, BenchRecord, measure};
use device_runner::info;
use device_runner::onnx::{self, Tensor};
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

/// Choosing and driving ONNX Runtime.
#[derive(Args, Clone)]
struct OrtArgs {
    /// The ONNX Runtime library (else ORT_DYLIB_PATH, else libonnxruntime.so next to this binary).
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = ExecutionProvider::Cpu)]
    ep: ExecutionProvider,
    /// Intra-op threads of ONNX Runtime's CPU kernels.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Graph optimisation level.
    #[arg(long, value_enum, default_value_t = OptLevel::All)]
    opt_level: OptLevel,
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
        /// Input tensors (else seeded random inputs of the declared shapes).
        #[arg(long = "input", value_name = "PB")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        opts: BenchOpts,
        #[command(flatten)]
        gpu: GpuArgs,
        #[command(flatten)]
        ort: OrtArgs,
    },
}

fn open_devices(
    backend: BackendKind,
    gpu: &GpuArgs,
    ort: &OrtArgs,
    profile: Option<PathBuf>,
) -> Result<Devices> {
    #[allow(unused_mut)]
    let mut devices = Devices::default();
    match backend {
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => {
            let opts = device_runner::gpu::GpuOptions {
                backend: gpu.wgpu_backend,
                adapter: gpu.adapter.clone(),
                workgroup_size: gpu.workgroup_size,
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
                profile,
            };
            devices.ort = Some((rt, opts));
        }
        _ => {
            let _ = (gpu, ort, profile);
        }
    }
    Ok(devices)
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
    ort: &OrtArgs,
) -> Result<()> {
    let inputs = read_inputs(inputs)?;
    let devices = open_devices(backend, gpu, ort, None)?;
    let names = output_names(model)?;
    let (mut session, inputs) = Session::open(backend, &devices, model, &inputs, 0)?;
    let outputs = session.run(&inputs)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (i, t) in outputs.iter().enumerate() {
        let name = names.get(i).map_or("", String::as_str);
        onnx::write_tensor(&out_dir.join(format!("output_{i}.pb")), name, t)?;
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

fn bench_one(
    backend: BackendKind,
    devices: &Devices,
    path: &Path,
    given: &[Tensor],
    seed: u64,
    limits: BenchLimits,
    per_node: bool,
) -> Result<serde_json::Value> {
    let (mut session, _) = Session::open(backend, devices, path, given, seed)?;
    let m = measure(&limits, || session.time())?;
    let record = BenchRecord::new(
        path.display().to_string(),
        backend.name(),
        devices.describe(backend),
        &m,
        session.work_items(),
        limits,
    );
    let mut v = serde_json::to_value(&record)?;
    if per_node {
        #[cfg(feature = "ort")]
        if let Session::Ort(model) = &mut session {
            v["nodes"] = serde_json::to_value(model.node_times(limits.warmup_runs)?)?;
        }
    }
    Ok(v)
}

/// The measurement protocol of `bench`.
#[derive(Args, Clone)]
struct BenchOpts {
    /// Runs discarded first.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Measured runs at least (with --precision).
    #[arg(long, default_value_t = 10)]
    min_runs: usize,
    /// Measured runs at most.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Stop measuring a model after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    max_seconds: f64,
    /// Stop once the median's 95% confidence interval is within ± this fraction of it
    /// (e.g. 0.01), after --min-runs.
    #[arg(long)]
    precision: Option<f64>,
    /// Pause between models, milliseconds (lets a phone cool down).
    #[arg(long, default_value_t = 0)]
    cooldown_ms: u64,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object per model.
    #[arg(long)]
    json: bool,
    /// Add each node's median kernel time from ONNX Runtime's profiler (ort only).
    #[arg(long)]
    per_node: bool,
}

impl BenchOpts {
    fn limits(&self) -> BenchLimits {
        BenchLimits {
            warmup_runs: self.warmup,
            min_runs: self.min_runs,
            runs: self.runs,
            max_seconds: self.max_seconds,
            precision: self.precision,
        }
    }
}

fn bench(
    backend: BackendKind,
    a: &BenchOpts,
    paths: &[PathBuf],
    inputs: &[PathBuf],
    gpu: &GpuArgs,
    ort: &OrtArgs,
) -> Result<bool> {
    if a.per_node && backend != BackendKind::Ort {
        bail!("--per-node needs --backend ort (it reads ONNX Runtime's profiler)");
    }
    let mut models = Vec::new();
    for p in paths {
        models.extend(models_of(p)?);
    }
    let given = read_inputs(inputs)?;
    let profile_dir = std::env::temp_dir().join(format!("moga-ort-profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile_dir);
    if a.per_node {
        std::fs::create_dir_all(&profile_dir)
            .with_context(|| format!("creating {}", profile_dir.display()))?;
    }
    let devices = open_devices(
        backend,
        gpu,
        ort,
        a.per_node.then(|| profile_dir.join("profile")),
    )?;
    let mut out = std::io::stdout().lock();
    let mut all_ok = true;
    for (i, path) in models.iter().enumerate() {
        if i > 0 && a.cooldown_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(a.cooldown_ms));
        }
        // One model failing (or panicking inside a driver) must not end a folder's run.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bench_one(
                backend,
                &devices,
                path,
                &given,
                a.seed,
                a.limits(),
                a.per_node,
            )
        }))
        .unwrap_or_else(|p| Err(anyhow::anyhow!("panicked: {}", panic_message(&p))));
        match result {
            Ok(r) if a.json => writeln!(out, "{r}")?,
            Ok(r) => print_record(&mut out, &r)?,
            Err(e) => {
                all_ok = false;
                if a.json {
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
        // Results reach the host as they come, not when the batch ends.
        out.flush()?;
    }
    let _ = std::fs::remove_dir_all(&profile_dir);
    Ok(all_ok)
}

fn print_record(out: &mut impl Write, r: &serde_json::Value) -> std::io::Result<()> {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let gpu = r["gpu_median_ms"]
        .as_f64()
        .map(|g| format!("  gpu median {g:.4} ms"))
        .unwrap_or_default();
    writeln!(
        out,
        "{}: wall median {:.4} ms (p10 {:.4}, p90 {:.4}, {} runs){gpu}  [{} on {}]",
        r["model"].as_str().unwrap_or("?"),
        f("wall_median_ms"),
        f("wall_p10_ms"),
        f("wall_p90_ms"),
        r["runs"],
        r["backend"].as_str().unwrap_or("?"),
        r["device"].as_str().unwrap_or("?")
    )?;
    if let Some(nodes) = r["nodes"].as_array() {
        for n in nodes {
            writeln!(
                out,
                "  {:>10.4} ms  {:<22} {}",
                n["median_ms"].as_f64().unwrap_or(f64::NAN),
                n["op_type"].as_str().unwrap_or("?"),
                n["node"].as_str().unwrap_or("?")
            )?;
        }
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
            ort,
        } => exec(backend, &model, &inputs, &output_dir, &gpu, &ort)?,
        Command::Bench {
            backend,
            models,
            inputs,
            opts,
            gpu,
            ort,
        } => {
            if !bench(backend, &opts, &models, &inputs, &gpu, &ort)? {
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
            "onnxruntime {} at {} (from {}); execution providers: {}",
            l.version,
            l.path.display(),
            l.source,
            r.ort_providers.join(", ")
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
