//! One model loaded on one backend, behind the small interface `exec` and `bench` use
//! (enum dispatch rather than a trait object: each backend keeps its own types).

use std::path::Path;
use std::time::Instant;

use crate::backend::BackendKind;
use crate::bench::Sample;
use crate::cpu;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::onnx::{self, Tensor};

/// Devices and runtimes opened once and shared by every model of a run.
#[derive(Default)]
pub struct Devices {
    /// The GPU, when the wgpu backend is used.
    #[cfg(feature = "wgpu")]
    pub gpu: Option<crate::gpu::GpuContext>,
    /// ONNX Runtime and the session options, when the ort backend is used.
    #[cfg(feature = "ort")]
    pub ort: Option<(
        &'static crate::ort_backend::OrtRuntime,
        crate::ort_backend::OrtOptions,
    )>,
}

impl Devices {
    /// What runs the models: the adapter, the execution provider, or the CPU reference.
    pub fn describe(&self, backend: BackendKind) -> String {
        match backend {
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                self.gpu
                    .as_ref()
                    .map_or("wgpu".into(), |g| match g.limit_profile {
                        Some(p) => format!(
                            "{} ({}, {} limits)",
                            g.adapter.name, g.adapter.backend, p.name
                        ),
                        None => format!("{} ({})", g.adapter.name, g.adapter.backend),
                    })
            }
            #[cfg(feature = "ort")]
            BackendKind::Ort => self.ort.as_ref().map_or("ort".into(), |(rt, o)| {
                format!(
                    "onnxruntime {} {} ({} thread{})",
                    rt.library.version,
                    o.ep.ort_name(),
                    o.threads,
                    if o.threads == 1 { "" } else { "s" }
                )
            }),
            other => other.name().to_string(),
        }
    }
}

/// A model ready to run.
pub enum Session<'c> {
    /// The CPU reference.
    Cpu {
        /// The graph.
        graph: Graph,
        /// The inputs of the next timed run.
        inputs: Vec<Tensor>,
    },
    /// The wgpu backend.
    #[cfg(feature = "wgpu")]
    Wgpu(Box<crate::gpu::GpuModel<'c>>),
    /// ONNX Runtime.
    #[cfg(feature = "ort")]
    Ort(Box<crate::ort_backend::OrtModel>),
    /// Keeps the lifetime when no GPU backend is compiled in.
    #[doc(hidden)]
    _Phantom(std::marker::PhantomData<&'c ()>),
}

fn load_graph(path: &Path) -> Result<Graph> {
    Graph::from_model(&onnx::read_model(path)?, &path.display().to_string())
}

impl crate::bench::Subject for Session<'_> {
    fn time(&mut self) -> Result<Sample> {
        Session::time(self)
    }
}

impl<'c> Session<'c> {
    /// Loads the model at `path` on `backend` for `given` inputs, or for seeded random
    /// inputs of the declared shapes when none are given; returns the session (inputs
    /// set) and the inputs.
    pub fn open(
        backend: BackendKind,
        devices: &'c Devices,
        path: &Path,
        given: &[Tensor],
        seed: u64,
    ) -> Result<(Session<'c>, Vec<Tensor>)> {
        match backend {
            BackendKind::Cpu => {
                let graph = load_graph(path)?;
                let inputs = if given.is_empty() {
                    random_inputs(&specs_of(&graph), seed)?
                } else {
                    given.to_vec()
                };
                cpu::bind(&graph, &inputs)?;
                Ok((
                    Session::Cpu {
                        graph,
                        inputs: inputs.clone(),
                    },
                    inputs,
                ))
            }
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                let ctx = devices.gpu.as_ref().ok_or_else(|| Error::Gpu {
                    backend: "wgpu".into(),
                    message: "no GPU device opened".into(),
                })?;
                let graph = load_graph(path)?;
                let inputs = if given.is_empty() {
                    random_inputs(&specs_of(&graph), seed)?
                } else {
                    given.to_vec()
                };
                let model = crate::gpu::GpuModel::compile(ctx, &graph, &inputs)?;
                model.set_inputs(&inputs)?;
                Ok((Session::Wgpu(Box::new(model)), inputs))
            }
            #[cfg(feature = "ort")]
            BackendKind::Ort => {
                let (rt, opts) = devices.ort.as_ref().ok_or_else(|| Error::Ort {
                    message: "ONNX Runtime was not loaded".into(),
                })?;
                let mut model = crate::ort_backend::OrtModel::load(rt, path, opts)?;
                let inputs = if given.is_empty() {
                    random_inputs(&model.input_specs(), seed)?
                } else {
                    given.to_vec()
                };
                model.set_inputs(&inputs)?;
                Ok((Session::Ort(Box::new(model)), inputs))
            }
            #[allow(unreachable_patterns)]
            other => {
                let _ = (devices, path, given, seed);
                Err(Error::NotCompiled {
                    backend: other.name(),
                })
            }
        }
    }

    /// Runs once on `inputs` and returns the outputs.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Session::Cpu { graph, .. } => cpu::run(graph, inputs),
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => m.run(inputs),
            #[cfg(feature = "ort")]
            Session::Ort(m) => m.run(inputs),
            Session::_Phantom(_) => unreachable!("never constructed"),
        }
    }

    /// Runs once on the inputs given at load time; the time it took.
    pub fn time(&mut self) -> Result<Sample> {
        match self {
            Session::Cpu { graph, inputs } => {
                let t = Instant::now();
                cpu::run(graph, inputs)?;
                Ok((t.elapsed().as_secs_f64() * 1e3, None))
            }
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => m.time().map(|t| (t.wall_ms, t.gpu_ms)),
            #[cfg(feature = "ort")]
            Session::Ort(m) => m.time(),
            Session::_Phantom(_) => unreachable!("never constructed"),
        }
    }

    /// A second session on the same model for per-node timing where the backend needs
    /// one: ONNX Runtime's profiler is a session option and slows the session it is on,
    /// so the profiled session is kept apart from the timed one (its profile is written
    /// under `prefix`). `None` where the session itself times nodes (wgpu).
    pub fn open_profiled(
        &self,
        devices: &'c Devices,
        path: &Path,
        inputs: &[Tensor],
        prefix: &Path,
    ) -> Result<Option<Session<'c>>> {
        match self {
            #[cfg(feature = "ort")]
            Session::Ort(_) => {
                let (rt, opts) = devices.ort.as_ref().ok_or_else(|| Error::Ort {
                    message: "ONNX Runtime was not loaded".into(),
                })?;
                let opts = crate::ort_backend::OrtOptions {
                    profile: Some(prefix.to_path_buf()),
                    ..opts.clone()
                };
                let mut model = crate::ort_backend::OrtModel::load(rt, path, &opts)?;
                model.set_inputs(inputs)?;
                Ok(Some(Session::Ort(Box::new(model))))
            }
            #[cfg(feature = "wgpu")]
            Session::Wgpu(_) => {
                let _ = (devices, path, inputs, prefix);
                Ok(None)
            }
            _ => {
                let _ = (devices, path, inputs, prefix);
                Err(Error::Model {
                    model: path.display().to_string(),
                    message: "per-node timing needs --backend ort or wgpu".into(),
                })
            }
        }
    }

    /// One run timed node by node where this session does so itself (wgpu: GPU time per
    /// dispatch); a plain run otherwise (a profiled ONNX Runtime session records its
    /// node times in its profile).
    pub fn time_nodes(&mut self) -> Result<Option<Vec<f64>>> {
        match self {
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => m.time_nodes().map(Some),
            other => other.time().map(|_| None),
        }
    }

    /// The variant each convolution dispatch runs as (wgpu sessions; `None` otherwise).
    pub fn kernel_choices(&self) -> Option<Vec<crate::protocol::KernelChoice>> {
        match self {
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => Some(
                m.kernel_choices()
                    .into_iter()
                    .filter(|(_, kernel, _)| kernel.starts_with("conv"))
                    .map(|(node, kernel, variant)| crate::protocol::KernelChoice {
                        node,
                        kernel: kernel.to_string(),
                        variant,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Per-node times from the per-node runs: `node_runs` for sessions that timed nodes
    /// themselves, the profile for a profiled ONNX Runtime session (its first `skip`
    /// runs left out).
    pub fn node_times(
        &mut self,
        node_runs: &[Vec<f64>],
        skip: usize,
    ) -> Result<Vec<crate::protocol::NodeTime>> {
        match self {
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => {
                let provider = m.adapter_name().to_string();
                Ok(m.dispatch_nodes()
                    .into_iter()
                    .zip(crate::bench::node_summary(node_runs))
                    .map(
                        |((node, kernel), (median_ms, share, runs))| crate::protocol::NodeTime {
                            node,
                            op_type: kernel.to_string(),
                            provider: provider.clone(),
                            median_ms,
                            share,
                            runs,
                        },
                    )
                    .collect())
            }
            #[cfg(feature = "ort")]
            Session::Ort(m) => m.node_times(skip),
            _ => {
                let _ = (node_runs, skip);
                Err(Error::Model {
                    model: "session".into(),
                    message: "per-node timing needs --backend ort or wgpu".into(),
                })
            }
        }
    }

    /// Kernel dispatches (wgpu) or graph nodes (cpu) per run; `None` for ONNX Runtime,
    /// whose optimised graph is its own.
    pub fn work_items(&self) -> Option<usize> {
        match self {
            Session::Cpu { graph, .. } => Some(graph.nodes.len()),
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => Some(m.dispatch_count),
            #[cfg(feature = "ort")]
            Session::Ort(_) => None,
            Session::_Phantom(_) => None,
        }
    }
}

/// A graph's inputs as (name, element type code, shape).
pub fn specs_of(graph: &Graph) -> Vec<(String, i32, Option<Vec<usize>>)> {
    graph
        .inputs
        .iter()
        .map(|v| {
            let code = match v.elem {
                crate::onnx::ElemType::F32 => 1,
                crate::onnx::ElemType::I64 => 7,
                crate::onnx::ElemType::Other(c) => c,
            };
            (
                v.name.clone(),
                code,
                v.shape.as_ref().and_then(|s| s.iter().copied().collect()),
            )
        })
        .collect()
}

/// Seeded float inputs uniform in [-1, 1) for inputs with fixed shapes.
pub fn random_inputs(
    specs: &[(String, i32, Option<Vec<usize>>)],
    seed: u64,
) -> Result<Vec<Tensor>> {
    let mut rng = lookup_tables::SplitMix64::new(seed);
    specs
        .iter()
        .map(|(name, code, shape)| {
            let shape = shape.clone().ok_or_else(|| {
                Error::tensor(
                    name,
                    "has no fixed shape: pass --input files to run this model",
                )
            })?;
            if *code != 1 {
                return Err(Error::tensor(
                    name,
                    "is not a float input: pass --input files to run this model",
                ));
            }
            let n = crate::onnx::tensor::checked_numel(&shape)
                .ok_or_else(|| Error::tensor(name, "is too large"))?;
            Ok(Tensor::f32(
                shape,
                (0..n)
                    .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
                    .collect(),
            ))
        })
        .collect()
}
