//! The runner's wire format, one owner for both sides: the options of `device-runner
//! bench` (the runner parses them with clap, the host builds the command line from the
//! same type with [`BenchCommand::to_args`]) and the JSON lines it prints (the runner
//! serialises [`BenchLine`], the host deserialises the same type).
//!
//! Kept free of backend types so that a host crate built without the wgpu and ort
//! features (the profiler) speaks it too.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, BackendKind, Dtype, ExecutionProvider, OptLevel};
use crate::bench::BenchLimits;

/// Choosing and driving the GPU.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct GpuArgs {
    /// Which GPU API (wgpu backend) to use: `auto` (alias of `all`), `vulkan`, `gles`
    /// (alias of `gl`), `metal`.
    #[arg(long, visible_alias = "api", value_enum, default_value_t = BackendChoice::All)]
    pub wgpu_backend: BackendChoice,
    /// Adapter by index (as `info` lists them) or by a substring of its name.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Invocations per workgroup of the element-wise, pooling and naive kernels.
    #[arg(long, default_value_t = 64)]
    pub workgroup_size: u32,
    /// Convolution kernels: `auto` times every variant of a shape on this device when
    /// it is first compiled and keeps the fastest (remembered in --kernel-choices);
    /// `defaults` runs each operator's fixed default.
    #[arg(long, value_enum, default_value_t = TuningChoice::Auto)]
    pub tuning: TuningChoice,
    /// The autotuner's choices file (default: kernel-choices.json next to this binary).
    #[arg(long, value_name = "PATH")]
    pub kernel_choices: Option<PathBuf>,
    /// Tensors' element type on the GPU: f16 needs an adapter with 16-bit shader floats
    /// (`info` says which have them).
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Open the adapter with exactly a phone GPU's limits (a profile `info` lists under
    /// limit_profiles: adreno-6xx, mali-valhall, …), which the driver then enforces; every
    /// kernel is checked against them before it is offered.
    #[arg(long, value_name = "PROFILE")]
    pub limits: Option<String>,
}

/// How convolution kernels are chosen.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TuningChoice {
    /// Autotuned on the device, remembered per shape.
    Auto,
    /// Each operator's fixed default.
    Defaults,
}

impl Default for GpuArgs {
    fn default() -> Self {
        GpuArgs {
            wgpu_backend: BackendChoice::All,
            adapter: None,
            workgroup_size: 64,
            tuning: TuningChoice::Auto,
            kernel_choices: None,
            dtype: Dtype::F32,
            limits: None,
        }
    }
}

/// Choosing and driving ONNX Runtime.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct OrtArgs {
    /// The ONNX Runtime library (else ORT_DYLIB_PATH, else libonnxruntime.so next to this binary).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = ExecutionProvider::Cpu)]
    pub ep: ExecutionProvider,
    /// Intra-op threads of ONNX Runtime's CPU kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Graph optimisation level.
    #[arg(long, value_enum, default_value_t = OptLevel::All)]
    pub opt_level: OptLevel,
}

impl Default for OrtArgs {
    fn default() -> Self {
        OrtArgs {
            ort_lib: None,
            ep: ExecutionProvider::Cpu,
            threads: 1,
            opt_level: OptLevel::All,
        }
    }
}

/// The measurement protocol of `bench` (what [`BenchLimits`] is made from, plus how
/// the runs are organised).
#[derive(Args, Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Runs discarded first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Measured runs at least (with --precision).
    #[arg(long, default_value_t = 10)]
    pub min_runs: usize,
    /// Measured runs at most (pairs with the reference, when there is one).
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    /// Stop measuring a model after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub max_seconds: f64,
    /// Stop once the median's 95% confidence interval is within ± this fraction of it
    /// (e.g. 0.01), after --min-runs.
    #[arg(long)]
    pub precision: Option<f64>,
    /// Interleaved rounds: every model is opened first, then each round runs every
    /// model a share of its runs, in a shuffled order, so that a device whose speed
    /// drifts spreads the drift over all models instead of landing on some.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// A reference model run beside every measured run: each result then also carries
    /// the ratio of the model's time to the reference's, which a drifting device
    /// changes far less than either time.
    #[arg(long, value_name = "PATH")]
    pub reference: Option<PathBuf>,
    /// Pause between models, milliseconds (lets a phone cool down).
    #[arg(long, default_value_t = 0)]
    pub cooldown_ms: u64,
    /// Seed of the random inputs and of the rounds' order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Add each node's time and share of the model: ONNX Runtime's profiler (in a
    /// second, profiled session) or GPU timestamps around every dispatch (wgpu).
    #[arg(long)]
    pub per_node: bool,
    /// With a reference: time each model right after the reference's run, without the
    /// untimed run of the model that otherwise comes between them (how tables were
    /// measured before warm pairs; see `BenchLimits::warm_pairs`).
    #[arg(long)]
    pub cold_pairs: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 10,
            min_runs: 10,
            runs: 50,
            max_seconds: 10.0,
            precision: None,
            rounds: 1,
            reference: None,
            cooldown_ms: 0,
            seed: 0,
            per_node: false,
            cold_pairs: false,
        }
    }
}

impl BenchOptions {
    /// The limits each model is measured under.
    pub fn limits(&self) -> BenchLimits {
        BenchLimits {
            warmup_runs: self.warmup,
            min_runs: self.min_runs,
            runs: self.runs,
            max_seconds: self.max_seconds,
            precision: self.precision,
            rounds: self.rounds.max(1),
            warm_pairs: !self.cold_pairs,
        }
    }
}

/// A whole `device-runner bench` invocation, as the host builds it.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchCommand {
    /// The backend.
    pub backend: BackendKind,
    /// Models (paths on the device), measured in this order (or interleaved in rounds).
    pub models: Vec<String>,
    /// The protocol.
    pub options: BenchOptions,
    /// GPU choice.
    pub gpu: GpuArgs,
    /// ONNX Runtime choice.
    pub ort: OrtArgs,
}

impl BenchCommand {
    /// The arguments after the runner's path: `bench --backend … --json …`. Every
    /// field is written, defaults included, so the runner's defaults never decide.
    pub fn to_args(&self) -> Vec<String> {
        let o = &self.options;
        let mut a: Vec<String> = vec![
            "bench".into(),
            "--backend".into(),
            self.backend.name().into(),
            "--json".into(),
        ];
        let mut push = |k: &str, v: String| {
            a.push(k.into());
            a.push(v);
        };
        push("--warmup", o.warmup.to_string());
        push("--min-runs", o.min_runs.to_string());
        push("--runs", o.runs.to_string());
        push("--max-seconds", o.max_seconds.to_string());
        if let Some(p) = o.precision {
            push("--precision", p.to_string());
        }
        push("--rounds", o.rounds.to_string());
        if let Some(r) = &o.reference {
            push("--reference", r.display().to_string());
        }
        push("--cooldown-ms", o.cooldown_ms.to_string());
        push("--seed", o.seed.to_string());
        match self.backend {
            BackendKind::Wgpu => {
                push("--wgpu-backend", value_name(self.gpu.wgpu_backend));
                if let Some(ad) = &self.gpu.adapter {
                    push("--adapter", ad.clone());
                }
                push("--workgroup-size", self.gpu.workgroup_size.to_string());
                push("--tuning", value_name(self.gpu.tuning));
                if let Some(p) = &self.gpu.kernel_choices {
                    push("--kernel-choices", p.display().to_string());
                }
                if self.gpu.dtype != Dtype::F32 {
                    push("--dtype", value_name(self.gpu.dtype));
                }
                if let Some(profile) = &self.gpu.limits {
                    push("--limits", profile.clone());
                }
            }
            BackendKind::Ort => {
                push("--threads", self.ort.threads.to_string());
                push("--ep", value_name(self.ort.ep));
                push("--opt-level", value_name(self.ort.opt_level));
                if let Some(l) = &self.ort.ort_lib {
                    push("--ort-lib", l.display().to_string());
                }
            }
            BackendKind::Cpu => {}
        }
        if o.per_node {
            a.push("--per-node".into());
        }
        if o.cold_pairs {
            a.push("--cold-pairs".into());
        }
        for m in &self.models {
            a.push("--model".into());
            a.push(m.clone());
        }
        a
    }
}

/// The command-line spelling of a clap value.
fn value_name<T: clap::ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// The kernel variant a dispatch runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelChoice {
    /// The ONNX node.
    pub node: String,
    /// The kernel.
    pub kernel: String,
    /// Its variant (e.g. `blocked 1x2`).
    pub variant: String,
}

/// One node's time inside a model, in execution order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    /// Node name (ONNX Runtime: after its fusions; wgpu: the ONNX node a dispatch runs).
    pub node: String,
    /// Operator type (wgpu: the kernel).
    pub op_type: String,
    /// Execution provider or adapter that ran it.
    pub provider: String,
    /// Median time, milliseconds.
    pub median_ms: f64,
    /// Median over runs of the node's share of the sum of all nodes' times (0–1): what
    /// a drifting device changes least.
    #[serde(default)]
    pub share: Option<f64>,
    /// Runs measured.
    pub runs: usize,
}

/// A model's time as a ratio to the reference run beside each of its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioStats {
    /// The reference model.
    pub reference: String,
    /// Median ratio (model time / reference time).
    pub median: f64,
    /// 10th percentile of the ratio.
    pub p10: f64,
    /// 90th percentile of the ratio.
    pub p90: f64,
    /// Relative half-width of the 95% confidence interval of the median ratio.
    pub ci95_rel: Option<f64>,
    /// Pairs measured.
    pub pairs: usize,
    /// Median of the reference's runs in these pairs, milliseconds.
    pub reference_median_ms: f64,
    /// Median ratio of each round (the even and the odd rounds are two interleaved
    /// passes: their difference is the measurement's repeatability).
    pub round_medians: Vec<f64>,
}

/// One model's result (`bench --json`, one line per model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// The model file.
    pub model: String,
    /// `wgpu`, `ort` or `cpu`.
    pub backend: String,
    /// The adapter or execution provider.
    pub device: String,
    /// Measured runs.
    pub runs: usize,
    /// Wall time, milliseconds.
    pub wall_median_ms: f64,
    /// Wall time 10th percentile.
    pub wall_p10_ms: f64,
    /// Wall time 90th percentile.
    pub wall_p90_ms: f64,
    /// Wall time mean.
    pub wall_mean_ms: f64,
    /// Wall time standard deviation.
    pub wall_std_ms: f64,
    /// GPU time median, when the adapter has timestamps.
    pub gpu_median_ms: Option<f64>,
    /// GPU time 10th percentile.
    pub gpu_p10_ms: Option<f64>,
    /// GPU time 90th percentile.
    pub gpu_p90_ms: Option<f64>,
    /// GPU time mean.
    pub gpu_mean_ms: Option<f64>,
    /// GPU time standard deviation.
    pub gpu_std_ms: Option<f64>,
    /// Relative half-width of the 95% confidence interval of the median (GPU time where
    /// measured, else wall).
    pub median_ci95_rel: Option<f64>,
    /// Kernel dispatches (wgpu) or graph nodes per run.
    pub dispatches: Option<usize>,
    /// Median time of each round (GPU time where measured, else wall), milliseconds.
    #[serde(default)]
    pub round_medians_ms: Vec<f64>,
    /// The ratio to the reference, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioStats>,
    /// Per-node times, with `--per-node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeTime>>,
    /// The kernel variant each convolution ran as (wgpu): the autotuner's choices, so
    /// that a table records the kernels it timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<Vec<KernelChoice>>,
    /// The limits used.
    pub limits: BenchLimits,
    /// The device's heat before and after the measurement (thermal zones, clocks,
    /// battery; `None` where nothing is readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heat: Option<crate::heat::HeatSpan>,
}

impl BenchRecord {
    /// The record of a measurement of `model`.
    pub fn new(
        model: String,
        backend: BackendKind,
        device: String,
        m: &crate::bench::Measurement,
        dispatches: Option<usize>,
        limits: BenchLimits,
        reference: Option<&Path>,
    ) -> BenchRecord {
        BenchRecord {
            model,
            backend: backend.name().to_string(),
            device,
            runs: m.wall.count,
            wall_median_ms: m.wall.median,
            wall_p10_ms: m.wall.p10,
            wall_p90_ms: m.wall.p90,
            wall_mean_ms: m.wall.mean,
            wall_std_ms: m.wall.std,
            gpu_median_ms: m.gpu.map(|g| g.median),
            gpu_p10_ms: m.gpu.map(|g| g.p10),
            gpu_p90_ms: m.gpu.map(|g| g.p90),
            gpu_mean_ms: m.gpu.map(|g| g.mean),
            gpu_std_ms: m.gpu.map(|g| g.std),
            median_ci95_rel: m.median_ci_rel,
            dispatches,
            round_medians_ms: m.round_medians.clone(),
            ratio: m.ratio.as_ref().map(|r| RatioStats {
                reference: reference.map_or(String::new(), |p| p.display().to_string()),
                median: r.stats.median,
                p10: r.stats.p10,
                p90: r.stats.p90,
                ci95_rel: r.median_ci_rel,
                pairs: r.stats.count,
                reference_median_ms: r.reference_median_ms,
                round_medians: r.round_medians.clone(),
            }),
            nodes: None,
            kernels: None,
            limits,
            heat: None,
        }
    }
}

/// A model that could not be measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchError {
    /// The model file.
    pub model: String,
    /// The backend.
    pub backend: String,
    /// What went wrong.
    pub error: String,
}

/// One line of `bench --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BenchLine {
    /// A failure (tried first: it has the `error` field a record lacks).
    Error(BenchError),
    /// A measurement.
    Record(Box<BenchRecord>),
}

impl BenchLine {
    /// The model file the line is about.
    pub fn model(&self) -> &str {
        match self {
            BenchLine::Error(e) => &e.model,
            BenchLine::Record(r) => &r.model,
        }
    }

    /// The model's file name (the host maps results back by it).
    pub fn file_name(&self) -> String {
        Path::new(self.model())
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Every line of `stdout` that is a bench line; anything else (a crash's last
    /// words, a driver's chatter on stdout) is skipped.
    pub fn parse_all(stdout: &str) -> Vec<BenchLine> {
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(clap::Subcommand)]
    enum Sub {
        Bench {
            #[arg(long, value_enum)]
            backend: BackendKind,
            #[arg(long = "model")]
            models: Vec<String>,
            #[arg(long)]
            json: bool,
            #[command(flatten)]
            opts: BenchOptions,
            #[command(flatten)]
            gpu: GpuArgs,
            #[command(flatten)]
            ort: OrtArgs,
        },
    }

    fn round_trip(c: &BenchCommand) -> BenchCommand {
        let mut argv = vec!["device-runner".to_string()];
        argv.extend(c.to_args());
        let Sub::Bench {
            backend,
            models,
            json,
            opts,
            gpu,
            ort,
        } = Wrapper::parse_from(argv).cmd;
        assert!(json);
        BenchCommand {
            backend,
            models,
            options: opts,
            gpu,
            ort,
        }
    }

    #[test]
    fn command_lines_parse_back_to_the_same_command() {
        let ort = BenchCommand {
            backend: BackendKind::Ort,
            models: vec!["/data/a b.onnx".into(), "x;y.onnx".into()],
            options: BenchOptions {
                warmup: 3,
                min_runs: 7,
                runs: 99,
                max_seconds: 1.5,
                precision: Some(0.01),
                rounds: 5,
                reference: Some("/data/ref.onnx".into()),
                cooldown_ms: 20,
                seed: 9,
                per_node: true,
                cold_pairs: true,
            },
            gpu: GpuArgs::default(),
            ort: OrtArgs {
                ort_lib: Some("/data/lib.so".into()),
                ep: ExecutionProvider::Xnnpack,
                threads: 4,
                opt_level: OptLevel::Extended,
            },
        };
        assert_eq!(round_trip(&ort), ort);
        let wgpu = BenchCommand {
            backend: BackendKind::Wgpu,
            models: vec!["m.onnx".into()],
            options: BenchOptions::default(),
            gpu: GpuArgs {
                wgpu_backend: BackendChoice::Vulkan,
                adapter: Some("Adreno".into()),
                workgroup_size: 128,
                tuning: TuningChoice::Defaults,
                kernel_choices: Some("/data/local/tmp/k.json".into()),
                dtype: Dtype::F16,
                limits: Some("mali-valhall".into()),
            },
            ort: OrtArgs::default(),
        };
        assert_eq!(round_trip(&wgpu), wgpu);
    }

    #[test]
    fn lines_read_back_as_types() {
        let out = concat!(
            "{\"model\":\"/d/0000-stem.onnx\",\"backend\":\"ort\",\"device\":\"cpu\",\"runs\":30,\"wall_median_ms\":1.5,\"wall_p10_ms\":1.4,\"wall_p90_ms\":1.7,\"wall_mean_ms\":1.55,\"wall_std_ms\":0.1,\"gpu_median_ms\":null,\"gpu_p10_ms\":null,\"gpu_p90_ms\":null,\"gpu_mean_ms\":null,\"gpu_std_ms\":null,\"median_ci95_rel\":0.01,\"dispatches\":null,\"limits\":{\"warmup_runs\":1,\"min_runs\":1,\"runs\":30,\"max_seconds\":1.0,\"precision\":null}}\n",
            "{\"model\":\"/d/0001-separable.onnx\",\"backend\":\"wgpu\",\"error\":\"node 'a' (Conv): too large\"}\n",
            "warning: something on stdout\n",
            "{\"not\":\"a bench line\"}\n"
        );
        let lines = BenchLine::parse_all(out);
        assert_eq!(lines.len(), 2);
        let BenchLine::Record(r) = &lines[0] else {
            panic!("{lines:?}")
        };
        assert_eq!((r.runs, r.limits.rounds), (30, 1));
        assert_eq!(lines[0].file_name(), "0000-stem.onnx");
        assert!(matches!(&lines[1], BenchLine::Error(e) if e.error.contains("too large")));
    }
}
