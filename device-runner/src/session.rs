//! One model loaded on one backend, behind the small interface `exec` and `bench` use
//! (enum dispatch rather than a trait object: each backend keeps its own types).

use std::time::Instant;

use crate::backend::BackendKind;
use crate::bench::Sample;
use crate::cpu;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::onnx::{ElemType, Tensor};

/// A model ready to run.
pub enum Session<'c> {
    /// The CPU reference.
    Cpu {
        /// The graph.
        graph: Graph,
        /// The inputs of the next run.
        inputs: Vec<Tensor>,
    },
    /// The wgpu backend.
    #[cfg(feature = "wgpu")]
    Wgpu(Box<crate::gpu::GpuModel<'c>>),
    /// Keeps the lifetime when no GPU backend is compiled in.
    #[doc(hidden)]
    _Phantom(std::marker::PhantomData<&'c ()>),
}

/// Backends that need a device opened once and shared by every model.
pub struct Devices {
    /// The GPU, when the wgpu backend is used.
    #[cfg(feature = "wgpu")]
    pub gpu: Option<crate::gpu::GpuContext>,
}

impl<'c> Session<'c> {
    /// Loads `graph` on `backend`, compiled for `inputs`' shapes.
    pub fn new(
        backend: BackendKind,
        devices: &'c Devices,
        graph: Graph,
        inputs: &[Tensor],
    ) -> Result<Session<'c>> {
        match backend {
            BackendKind::Cpu => {
                cpu::bind(&graph, inputs)?;
                Ok(Session::Cpu {
                    graph,
                    inputs: inputs.to_vec(),
                })
            }
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                let ctx = devices.gpu.as_ref().ok_or_else(|| Error::Gpu {
                    backend: "wgpu".into(),
                    message: "no GPU device opened".into(),
                })?;
                let model = crate::gpu::GpuModel::compile(ctx, &graph, inputs)?;
                model.set_inputs(inputs)?;
                Ok(Session::Wgpu(Box::new(model)))
            }
            #[cfg(not(feature = "wgpu"))]
            BackendKind::Wgpu => {
                let _ = devices;
                Err(Error::NotCompiled { backend: "wgpu" })
            }
            BackendKind::Ort => Err(Error::NotCompiled { backend: "ort" }),
        }
    }

    /// Runs once on `inputs` and returns the outputs.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Session::Cpu { graph, .. } => cpu::run(graph, inputs),
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => m.run(inputs),
            Session::_Phantom(_) => unreachable!(),
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
            Session::_Phantom(_) => unreachable!(),
        }
    }

    /// Kernel dispatches (wgpu) or nodes (cpu) per run.
    pub fn work_items(&self) -> usize {
        match self {
            Session::Cpu { graph, .. } => graph.nodes.len(),
            #[cfg(feature = "wgpu")]
            Session::Wgpu(m) => m.dispatch_count,
            Session::_Phantom(_) => 0,
        }
    }
}

/// Seeded inputs for every graph input, from their declared shapes (all dimensions
/// must be fixed). Values are uniform in [-1, 1).
pub fn random_inputs(graph: &Graph, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = lookup_tables::SplitMix64::new(seed);
    graph
        .inputs
        .iter()
        .map(|v| {
            let shape: Option<Vec<usize>> =
                v.shape.as_ref().and_then(|s| s.iter().copied().collect());
            let shape = shape.ok_or_else(|| {
                Error::tensor(
                    &v.name,
                    "has no fixed shape: pass --input files to run this model",
                )
            })?;
            if v.elem != ElemType::F32 {
                return Err(Error::tensor(
                    &v.name,
                    "is an int64 input: pass --input files to run this model",
                ));
            }
            let n = crate::onnx::tensor::checked_numel(&shape)
                .ok_or_else(|| Error::tensor(&v.name, "is too large"))?;
            Ok(Tensor::f32(
                shape,
                (0..n)
                    .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
                    .collect(),
            ))
        })
        .collect()
}
