//! The wgpu backend: WGSL compute kernels on the device GPU (Vulkan on Android, Vulkan,
//! GL or Metal elsewhere; lavapipe on a machine without a GPU).
//!
//! Getting a device ([`GpuContext::new`]) is split from running on it
//! ([`GpuModel::compile`] / [`GpuModel::run`]), so tests and the benchmark share one
//! device across many models. A model compiles once: pipelines (cached per device),
//! buffers and bind groups are made up front and reused by every run, and a run is one
//! command submission.

pub mod adapters;
pub mod kernels;
mod plan;
pub mod tune;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use crate::backend::Dtype;
pub use crate::limit_profiles::LimitProfile;
pub use adapters::{AdapterLimits, AdapterSummary, BackendChoice, adapters, block_on};
pub use plan::{GpuModel, RunTiming};
pub use tune::Tuning;

use crate::error::{Error, Result};
use kernels::Kernel;

/// How to choose and drive the adapter.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Which wgpu backends to consider.
    pub backend: BackendChoice,
    /// An adapter by index (as `device-runner info` lists them) or by a substring of its
    /// name; `None` prefers real GPUs over software ones, Vulkan over GL.
    pub adapter: Option<String>,
    /// Invocations per workgroup of the 1-D kernels (a power of two, 32–256).
    pub workgroup_size: u32,
    /// How convolutions choose their kernel variant.
    pub tuning: Tuning,
    /// The tensors' element type on the GPU.
    pub dtype: Dtype,
    /// A phone GPU's limits to open the device with (the driver then enforces them);
    /// `None`: the adapter's own.
    pub limits: Option<&'static LimitProfile>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backend: BackendChoice::All,
            adapter: None,
            workgroup_size: 64,
            tuning: Tuning::Defaults,
            dtype: Dtype::F32,
            limits: None,
        }
    }
}

/// A device ready to run models: the adapter, its device and queue, and the compiled
/// pipelines shared by every model on it.
pub struct GpuContext {
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is.
    pub adapter: AdapterSummary,
    /// Whether GPU timestamps are taken (TIMESTAMP_QUERY granted).
    pub timestamps: bool,
    /// Nanoseconds per timestamp tick.
    pub timestamp_period_ns: f64,
    /// The limits the device was opened with (and enforces): the adapter's, or a
    /// profile's.
    pub limits: AdapterLimits,
    /// The profile those limits are, if any.
    pub limit_profile: Option<&'static LimitProfile>,
    /// The profile's limits this adapter has less of, so enforces its own: (name,
    /// profile's, adapter's).
    pub limits_capped: Vec<(&'static str, u64, u64)>,
    /// Largest storage binding, bytes.
    pub max_binding_bytes: u64,
    /// Workgroup size of the 1-D kernels.
    pub workgroup_size: u32,
    /// How convolutions choose their variant.
    pub tuning: Tuning,
    /// The tensors' element type.
    pub dtype: Dtype,
    pub(crate) choices: Mutex<tune::Choices>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    errors: Arc<Mutex<Vec<String>>>,
}

fn gpu_err(adapter: &str, message: impl Into<String>) -> Error {
    Error::Gpu {
        backend: adapter.to_string(),
        message: message.into(),
    }
}

impl GpuContext {
    /// Chooses an adapter and opens a device on it.
    pub fn new(opts: &GpuOptions) -> Result<GpuContext> {
        let wg = opts.workgroup_size;
        if !wg.is_power_of_two() || !(32..=256).contains(&wg) {
            return Err(gpu_err(
                "options",
                format!("workgroup size {wg} must be a power of two from 32 to 256"),
            ));
        }
        let instance = adapters::instance(opts.backend)?;
        let list = block_on(instance.enumerate_adapters(adapters::backends(opts.backend)));
        let ranked = choose(list, opts.adapter.as_deref())?;
        // `--api auto` with no adapter named: the first adapter, in preference order
        // (real GPUs before software ones, Vulkan before GL), that opens and runs a
        // kernel correctly. Many phones ship a Vulkan driver whose compute is broken;
        // their GLES driver is the way. Otherwise the one chosen adapter, as it is.
        let probe = opts.backend == BackendChoice::All && opts.adapter.is_none();
        let mut failed = Vec::new();
        for adapter in ranked {
            let api = adapter.get_info().backend.to_str();
            match Self::open(adapter, opts) {
                Ok(ctx) if !probe => return Ok(ctx),
                Ok(ctx) => match ctx.smoke() {
                    Ok(()) => return Ok(ctx),
                    Err(e) => failed.push(format!("{} ({api}): {e}", ctx.adapter.name)),
                },
                Err(e) if !probe => return Err(e),
                Err(e) => failed.push(format!("({api}) {e}")),
            }
        }
        Err(gpu_err(
            "wgpu",
            format!("no adapter runs compute kernels: {}", failed.join("; ")),
        ))
    }

    /// A 1×4 ReLU run and read back: whether the adapter compiles, dispatches and
    /// returns results (a driver that fails here is passed over by `--api auto`).
    fn smoke(&self) -> Result<()> {
        use crate::graph::{Graph, Node, Op, ValueInfo};
        use crate::onnx::{ElemType, Tensor};
        let value = |name: &str| ValueInfo {
            name: name.into(),
            elem: ElemType::F32,
            shape: Some(vec![Some(1), Some(4)]),
        };
        let graph = Graph {
            name: "smoke".into(),
            inputs: vec![value("x")],
            outputs: vec![value("y")],
            initializers: HashMap::new(),
            nodes: vec![Node {
                name: "relu".into(),
                op: Op::Relu,
                inputs: vec!["x".into()],
                outputs: vec!["y".into()],
            }],
        };
        let x = [Tensor::f32(vec![1, 4], vec![-1.0, 0.5, -0.25, 2.0])];
        let y = GpuModel::compile(self, &graph, &x)?.run(&x)?;
        let got = y.first().and_then(Tensor::as_f32).unwrap_or_default();
        if got != [0.0, 0.5, 0.0, 2.0] {
            return Err(gpu_err(
                &self.adapter.name,
                format!("a ReLU of [-1, 0.5, -0.25, 2] gave {got:?}"),
            ));
        }
        Ok(())
    }

    /// Opens a device on `adapter` with `opts`.
    fn open(adapter: wgpu::Adapter, opts: &GpuOptions) -> Result<GpuContext> {
        let wg = opts.workgroup_size;
        let summary = adapters::summarise(&adapter);
        let name = summary.name.clone();
        if !summary.compute {
            return Err(gpu_err(&name, "the adapter cannot run compute shaders"));
        }
        let timestamps = summary.timestamp_query;
        if opts.dtype == Dtype::F16 && !summary.shader_f16 {
            return Err(gpu_err(
                &name,
                "--dtype f16 needs 16-bit shader floats (wgpu's SHADER_F16), which this adapter does not offer; use --dtype f32 or another adapter (`device-runner info` lists which have f16)",
            ));
        }
        let mut features = wgpu::Features::empty();
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if opts.dtype == Dtype::F16 {
            features |= wgpu::Features::SHADER_F16;
        }
        // A profile above what this adapter offers in some field is capped there (the
        // adapter cannot enforce more than it has); `limits_capped` says where.
        let (limits, limits_capped) = match opts.limits {
            None => (adapter.limits(), Vec::new()),
            Some(p) => {
                let (l, capped) = crate::limit_profiles::capped(&p.limits, &summary.limits);
                (adapters::with_profile(&adapter.limits(), &l), capped)
            }
        };
        let owner = match opts.limits {
            Some(p) => format!("limit profile {}", p.name),
            None => format!("adapter '{name}'"),
        };
        if wg > limits.max_compute_invocations_per_workgroup
            || wg > limits.max_compute_workgroup_size_x
        {
            return Err(gpu_err(
                &name,
                format!(
                    "workgroup size {wg} needs max_compute_invocations_per_workgroup and \
                     max_compute_workgroup_size_x of at least {wg}; {owner} allows {} and {}",
                    limits.max_compute_invocations_per_workgroup,
                    limits.max_compute_workgroup_size_x
                ),
            ));
        }
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("moga device-runner"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| gpu_err(&name, format!("cannot open a device: {e}")))?;
        let cache = match &opts.tuning {
            Tuning::Auto { cache } => cache.as_deref(),
            _ => None,
        };
        // Kernel choices belong to one adapter through one API: the same GPU's Vulkan
        // and GLES drivers compile the variants differently.
        let driver = format!("{} {}", summary.backend, summary.driver_info);
        let choices = tune::Choices::load(cache, &summary.name, &driver)?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let opened = adapters::limits_of(&device.limits());
        Ok(GpuContext {
            timestamp_period_ns: f64::from(queue.get_timestamp_period()),
            device,
            queue,
            adapter: summary,
            timestamps,
            limits: opened,
            limit_profile: opts.limits,
            limits_capped,
            max_binding_bytes: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            workgroup_size: wg,
            tuning: opts.tuning.clone(),
            dtype: opts.dtype,
            choices: Mutex::new(choices),
            pipelines: Mutex::default(),
            errors,
        })
    }

    /// The pipeline of `kernel` specialised for `constants` (override constants besides
    /// the workgroup size), compiled on first use.
    pub(crate) fn pipeline(
        &self,
        kernel: Kernel,
        constants: &[(&'static str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| gpu_err(&self.adapter.name, "pipeline cache poisoned"))?;
        let key = PipelineKey {
            kernel,
            constants: constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
        };
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.name()),
                source: wgpu::ShaderSource::Wgsl(
                    format!("{}{}", kernels::prelude(self.dtype), kernel.source()).into(),
                ),
            });
        let mut all = vec![("WG", f64::from(self.workgroup_size))];
        all.extend_from_slice(constants);
        let constants: Vec<(&str, f64)> = all;
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name()),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    ..Default::default()
                },
                cache: None,
            });
        self.check(&format!("compiling kernel {}", kernel.name()))?;
        cache.insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Turns errors the device reported since the last check into one error.
    /// The size of a storage buffer holding `bytes` of tensor `label` (whole 16-byte
    /// blocks, at least one: kernels may read any buffer as vec4s), or the error naming
    /// the tensor when the adapter cannot bind that much at once.
    pub(crate) fn check_binding(&self, label: &str, bytes: u64) -> Result<u64> {
        let size = bytes.max(16).div_ceil(16) * 16;
        if size > self.max_binding_bytes {
            return Err(Error::tensor(
                label,
                format!(
                    "needs {size} bytes; {} binds at most {} \
                     (max_storage_buffer_binding_size, max_buffer_size)",
                    self.limits_owner(),
                    self.max_binding_bytes
                ),
            ));
        }
        Ok(size)
    }

    /// Whose limits bound this device: "limit profile P" or "adapter 'A'".
    pub fn limits_owner(&self) -> String {
        match self.limit_profile {
            Some(p) => format!("limit profile {}", p.name),
            None => format!("adapter '{}'", self.adapter.name),
        }
    }

    /// Whether a dispatch of `kernel` over `groups` workgroups fits the device's limits;
    /// the error names the first limit it exceeds.
    pub(crate) fn fits(&self, kernel: Kernel, groups: [u32; 3]) -> std::result::Result<(), String> {
        let ([x, y], shared) = kernel.workgroup(self.workgroup_size, self.dtype.bytes() as u32);
        let l = &self.limits;
        let needs = [
            (
                "max_compute_invocations_per_workgroup",
                u64::from(x * y),
                u64::from(l.max_compute_invocations_per_workgroup),
            ),
            (
                "max_compute_workgroup_size_x",
                x.into(),
                l.max_compute_workgroup_size_x.into(),
            ),
            (
                "max_compute_workgroup_size_y",
                y.into(),
                l.max_compute_workgroup_size_y.into(),
            ),
            (
                "max_compute_workgroup_storage_size",
                shared.into(),
                l.max_compute_workgroup_storage_size.into(),
            ),
            (
                "max_storage_buffers_per_shader_stage",
                kernel.storage_buffers().into(),
                l.max_storage_buffers_per_shader_stage.into(),
            ),
            (
                "max_uniform_buffer_binding_size",
                kernels::PARAMS_BYTES,
                l.max_uniform_buffer_binding_size,
            ),
            (
                "max_compute_workgroups_per_dimension",
                groups.iter().copied().max().unwrap_or(1).into(),
                l.max_compute_workgroups_per_dimension.into(),
            ),
        ];
        match needs.iter().find(|(_, need, has)| need > has) {
            Some((limit, need, has)) => Err(format!(
                "kernel {} needs {limit} = {need}; {} allows {has}",
                kernel.name(),
                self.limits_owner()
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn check(&self, doing: &str) -> Result<()> {
        let mut v = self
            .errors
            .lock()
            .map_err(|_| gpu_err(&self.adapter.name, "error sink poisoned"))?;
        if v.is_empty() {
            return Ok(());
        }
        let all = std::mem::take(&mut *v).join("; ");
        Err(gpu_err(&self.adapter.name, format!("{doing}: {all}")))
    }

    /// Waits until the queue is idle.
    pub(crate) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| gpu_err(&self.adapter.name, format!("waiting for the GPU: {e}")))
    }
}

/// A compiled pipeline: the kernel and the bits of its override constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    kernel: Kernel,
    constants: Vec<(&'static str, u64)>,
}

/// The adapters to try, in order: the one asked for by index or name substring, else
/// every one, real GPUs before software ones and Vulkan or Metal before GL.
fn choose(list: Vec<wgpu::Adapter>, wanted: Option<&str>) -> Result<Vec<wgpu::Adapter>> {
    let names: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "{i}: {} ({})",
                a.get_info().name,
                a.get_info().backend.to_str()
            )
        })
        .collect();
    if list.is_empty() {
        return Err(gpu_err(
            "wgpu",
            "no GPU adapter found (on Linux without a GPU, install mesa-vulkan-drivers: scripts/setup.sh)",
        ));
    }
    if let Some(w) = wanted {
        let found = match w.parse::<usize>() {
            Ok(i) => list.into_iter().nth(i),
            Err(_) => list
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&w.to_lowercase())),
        };
        return found.map(|a| vec![a]).ok_or_else(|| {
            gpu_err(
                "wgpu",
                format!("no adapter matches '{w}' (adapters: {})", names.join(", ")),
            )
        });
    }
    let mut list = list;
    list.sort_by_cached_key(|a| adapters::summarise(a).preference());
    Ok(list)
}
