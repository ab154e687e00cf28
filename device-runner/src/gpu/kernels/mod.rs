//! The WGSL compute kernels, one folder per family (`*.wgsl` beside the Rust that fills
//! their parameters, and `tests.rs` checking them against the CPU reference).
//!
//! Every kernel reads a 64-word uniform parameter block at binding 0 and its tensors
//! from storage buffers at bindings 1…; `common.wgsl` is prepended to each source. The
//! 1-D kernels take their workgroup size as the override constant `WG`.

pub mod conv;
pub mod data;
pub mod elementwise;
pub mod linear;
pub mod norm;
pub mod pool;

use crate::cpu::Act;
use crate::error::{Error, Result};

/// A kernel (one compute pipeline per kernel and workgroup size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// y = act(x).
    Unary,
    /// Broadcasting add / multiply.
    Binary,
    /// Any convolution (naive).
    ConvDirect,
    /// Depthwise convolution.
    ConvDepthwise,
    /// 1×1 convolution as a tiled matrix product through workgroup memory.
    ConvPointwise,
    /// 1×1 convolution register-blocked, shapes as override constants.
    ConvPointwiseBlocked,
    /// Dense K×K convolution register-blocked over input channels and taps, up to 16
    /// vec4s of outputs per invocation.
    ConvTaps,
    /// The same with up to 64 (a separate pipeline: a larger accumulator slows the
    /// small blocks down on lavapipe).
    ConvTapsWide,
    /// Convolution with a square kernel, several outputs of a row per invocation,
    /// shapes as override constants.
    ConvRows,
    /// Batch normalisation with tensor statistics.
    BatchNorm,
    /// Mean of each plane, a workgroup per plane.
    GlobalAvgPool,
    /// Mean of each plane, an invocation per plane.
    GlobalAvgPoolPlanes,
    /// Windowed mean or maximum.
    Pool,
    /// Strided copy (Transpose, DepthToSpace, Concat).
    Copy,
    /// Pad.
    Pad,
    /// Resize by precomputed taps.
    Resize,
    /// Softmax per row.
    Softmax,
    /// Gemm.
    Gemm,
    /// Batched matmul.
    MatMul,
}

/// What precedes every kernel's source: the tensors' element type `F`.
pub fn prelude(dtype: crate::backend::Dtype) -> &'static str {
    match dtype {
        crate::backend::Dtype::F32 => "alias F = f32;\n",
        crate::backend::Dtype::F16 => "enable f16;\nalias F = f16;\n",
    }
}

macro_rules! shader {
    ($path:literal) => {
        concat!(include_str!("common.wgsl"), "\n", include_str!($path))
    };
}

impl Kernel {
    /// The WGSL source (common prelude included).
    pub fn source(self) -> &'static str {
        match self {
            Kernel::Unary => shader!("elementwise/unary.wgsl"),
            Kernel::Binary => shader!("elementwise/binary.wgsl"),
            Kernel::ConvDirect => shader!("conv/direct.wgsl"),
            Kernel::ConvDepthwise => shader!("conv/depthwise.wgsl"),
            Kernel::ConvPointwise => shader!("conv/pointwise.wgsl"),
            Kernel::ConvPointwiseBlocked => shader!("conv/pointwise_blocked.wgsl"),
            Kernel::ConvTaps => concat!("const ACC: u32 = 16u;\n", shader!("conv/taps.wgsl")),
            Kernel::ConvTapsWide => concat!("const ACC: u32 = 64u;\n", shader!("conv/taps.wgsl")),
            Kernel::ConvRows => shader!("conv/rows.wgsl"),
            Kernel::BatchNorm => shader!("norm/batchnorm.wgsl"),
            Kernel::GlobalAvgPool => shader!("pool/global_avg.wgsl"),
            Kernel::GlobalAvgPoolPlanes => shader!("pool/global_avg_planes.wgsl"),
            Kernel::Pool => shader!("pool/window.wgsl"),
            Kernel::Copy => shader!("data/copy.wgsl"),
            Kernel::Pad => shader!("data/pad.wgsl"),
            Kernel::Resize => shader!("data/resize.wgsl"),
            Kernel::Softmax => shader!("norm/softmax.wgsl"),
            Kernel::Gemm => shader!("linear/gemm.wgsl"),
            Kernel::MatMul => shader!("linear/matmul.wgsl"),
        }
    }

    /// A short name for labels and errors.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Unary => "unary",
            Kernel::Binary => "binary",
            Kernel::ConvDirect => "conv_direct",
            Kernel::ConvDepthwise => "conv_depthwise",
            Kernel::ConvPointwise => "conv_pointwise",
            Kernel::ConvPointwiseBlocked => "conv_pointwise_blocked",
            Kernel::ConvTaps => "conv_taps",
            Kernel::ConvTapsWide => "conv_taps_wide",
            Kernel::ConvRows => "conv_rows",
            Kernel::BatchNorm => "batchnorm",
            Kernel::GlobalAvgPool => "global_avg_pool",
            Kernel::GlobalAvgPoolPlanes => "global_avg_pool_planes",
            Kernel::Pool => "pool",
            Kernel::Copy => "copy",
            Kernel::Pad => "pad",
            Kernel::Resize => "resize",
            Kernel::Softmax => "softmax",
            Kernel::Gemm => "gemm",
            Kernel::MatMul => "matmul",
        }
    }

    /// What one workgroup takes: its invocations along x and y (the 1-D kernels: the
    /// context's workgroup size `wg`) and bytes of workgroup memory (`elem_bytes` per
    /// element of the tensors' type `F`), as the WGSL declares them.
    pub fn workgroup(self, wg: u32, elem_bytes: u32) -> ([u32; 2], u32) {
        match self {
            // conv/pointwise.wgsl: @workgroup_size(8, 8), two array<F, 256> tiles.
            Kernel::ConvPointwise => ([8, 8], 2 * 256 * elem_bytes),
            // pool/global_avg.wgsl: array<f32, 256> of partial sums.
            Kernel::GlobalAvgPool => ([wg, 1], 256 * 4),
            _ => ([wg, 1], 0),
        }
    }

    /// Storage buffers the kernel binds.
    pub fn storage_buffers(self) -> u32 {
        match self {
            Kernel::Binary | Kernel::MatMul | Kernel::Resize => 3,
            Kernel::GlobalAvgPool
            | Kernel::GlobalAvgPoolPlanes
            | Kernel::Pool
            | Kernel::Copy
            | Kernel::Pad
            | Kernel::Softmax => 2,
            Kernel::Unary
            | Kernel::ConvDirect
            | Kernel::ConvDepthwise
            | Kernel::ConvPointwise
            | Kernel::ConvPointwiseBlocked
            | Kernel::ConvTaps
            | Kernel::ConvTapsWide
            | Kernel::ConvRows
            | Kernel::Gemm => 4,
            Kernel::BatchNorm => 6,
        }
    }
}

impl Act {
    /// The kernels' activation code and its two parameters (`activate` in
    /// common.wgsl).
    pub fn code(self) -> (u32, f32, f32) {
        match self {
            Act::None => (0, 0.0, 0.0),
            Act::Relu => (1, 0.0, 0.0),
            Act::Clip(lo, hi) => (2, lo, hi),
            Act::HardSwish => (3, 0.0, 0.0),
            Act::HardSigmoid(a, b) => (4, a, b),
            Act::Sigmoid => (5, 0.0, 0.0),
        }
    }
}

/// The override constants of a fused activation (`ACT`, `ACT_A`, `ACT_B`, as the
/// specialised kernels declare them).
pub fn act_constants(act: Act) -> [(&'static str, f64); 3] {
    let (code, a, b) = act.code();
    [
        ("ACT", f64::from(code)),
        ("ACT_A", f64::from(a)),
        ("ACT_B", f64::from(b)),
    ]
}

/// Bytes of every kernel's uniform parameter block (64 words).
pub const PARAMS_BYTES: u64 = 64 * 4;

/// The parameter block: 64 words, floats as bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    words: [u32; 64],
}

impl Default for Params {
    fn default() -> Self {
        Params { words: [0; 64] }
    }
}

impl Params {
    /// Sets word `i` to an integer; fails when it does not fit 32 bits.
    pub fn set(&mut self, i: usize, v: usize) -> Result<&mut Self> {
        self.words[i] = u32::try_from(v).map_err(|_| Error::Gpu {
            backend: "kernel".into(),
            message: format!(
                "parameter {i} = {v} does not fit in 32 bits (tensor too large for this kernel)"
            ),
        })?;
        Ok(self)
    }

    /// Sets words from `start` to integers.
    pub fn set_all(&mut self, start: usize, vs: &[usize]) -> Result<&mut Self> {
        for (k, &v) in vs.iter().enumerate() {
            self.set(start + k, v)?;
        }
        Ok(self)
    }

    /// Sets word `i` to a float.
    pub fn set_f32(&mut self, i: usize, v: f32) -> &mut Self {
        self.words[i] = v.to_bits();
        self
    }

    /// Sets the three activation words at `i` (code, a, b).
    pub fn set_act(&mut self, i: usize, act: Act) -> &mut Self {
        let (code, a, b) = act.code();
        self.words[i] = code;
        self.set_f32(i + 1, a).set_f32(i + 2, b)
    }

    /// The bytes of the uniform buffer.
    pub fn bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// One dispatch: a kernel, its parameters, the model buffers it binds (in binding
/// order from 1) and its grid of workgroups.
#[derive(Clone, Debug)]
pub struct Call {
    /// The kernel.
    pub kernel: Kernel,
    /// Its override constants (besides `WG`): shapes and options the shader compiler
    /// specialises the pipeline for.
    pub constants: Vec<(&'static str, f64)>,
    /// The variant it runs as ("plain" but for convolutions' other variants).
    pub variant: String,
    /// Its parameter block.
    pub params: Params,
    /// Buffer slots of the model, binding 1 onwards.
    pub buffers: Vec<usize>,
    /// Workgroups in x, y, z.
    pub groups: [u32; 3],
}

/// Most workgroups per grid dimension every adapter allows.
pub const MAX_GROUPS: u32 = 65_535;

/// A grid covering `n` invocations of a 1-D kernel with workgroups of `wg`, folded into
/// y when x would pass [`MAX_GROUPS`].
pub fn grid_1d(n: usize, wg: u32) -> Result<[u32; 3]> {
    let groups = n.div_ceil(wg as usize).max(1);
    let x = groups.min(MAX_GROUPS as usize);
    let y = groups.div_ceil(x);
    if y > MAX_GROUPS as usize {
        return Err(Error::Gpu {
            backend: "kernel".into(),
            message: format!("{n} invocations need more than {MAX_GROUPS}² workgroups of {wg}"),
        });
    }
    Ok([x as u32, y as u32, 1])
}

#[cfg(test)]
mod half_tests;

#[cfg(test)]
pub(crate) mod testing {
    //! Shared by the kernel tests: one GPU context for the whole test binary, and a
    //! runner for single-node graphs on the GPU and on the CPU reference.

    use std::sync::OnceLock;

    use std::collections::HashMap;

    use crate::cpu;
    use crate::gpu::{GpuContext, GpuModel, GpuOptions};
    use crate::graph::{Graph, Node, Op, ValueInfo};
    use crate::onnx::{ElemType, Tensor};

    /// A graph of the `ops` chain: each `(op, extra inputs)` reads the previous output
    /// plus its extra inputs. Inputs with a tensor are initializers, the rest are fed.
    pub fn chain(
        feeds: &[(&str, Vec<usize>)],
        consts: &[(&str, Tensor)],
        ops: Vec<(Op, Vec<&str>)>,
    ) -> Graph {
        let mut nodes = Vec::new();
        let mut prev = feeds[0].0.to_string();
        for (i, (op, extra)) in ops.into_iter().enumerate() {
            let out = format!("t{i}");
            let mut inputs = vec![prev.clone()];
            inputs.extend(extra.iter().map(|s| s.to_string()));
            nodes.push(Node {
                name: format!("n{i}"),
                op,
                inputs,
                outputs: vec![out.clone()],
            });
            prev = out;
        }
        Graph {
            name: "test".into(),
            inputs: feeds
                .iter()
                .map(|(n, s)| ValueInfo {
                    name: n.to_string(),
                    elem: ElemType::F32,
                    shape: Some(s.iter().map(|&d| Some(d)).collect()),
                })
                .collect(),
            outputs: vec![ValueInfo {
                name: prev,
                elem: ElemType::F32,
                shape: None,
            }],
            initializers: consts
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect::<HashMap<_, _>>(),
            nodes,
        }
    }

    /// The adapter for all kernel tests (lavapipe here).
    pub fn ctx() -> &'static GpuContext {
        static CTX: OnceLock<GpuContext> = OnceLock::new();
        CTX.get_or_init(|| {
            GpuContext::new(&GpuOptions::default())
                .expect("a GPU adapter (lavapipe: scripts/setup.sh)")
        })
    }

    /// Runs `graph` on both backends; returns (gpu, cpu) outputs.
    pub fn both(graph: &Graph, inputs: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>) {
        let (gpu, cpu, _) = both_on(ctx(), graph, inputs);
        (gpu, cpu)
    }

    /// [`both`] on `ctx`, with the variant of each dispatch.
    pub fn both_on(
        ctx: &GpuContext,
        graph: &Graph,
        inputs: &[Tensor],
    ) -> (Vec<Tensor>, Vec<Tensor>, Vec<String>) {
        let mut model = GpuModel::compile(ctx, graph, inputs).expect("compiles");
        let gpu = model.run(inputs).expect("runs on the GPU");
        let cpu = cpu::run(graph, inputs).expect("runs on the CPU");
        let variants = model.kernel_choices().into_iter().map(|c| c.2).collect();
        (gpu, cpu, variants)
    }

    /// Largest |a − b| relative to the largest |b| (at least 1).
    pub fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.shape, b.shape);
        let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// Deterministic pseudo-random values in [-1, 1).
    pub fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = lookup_tables::SplitMix64::new(seed);
        (0..n).map(|_| (r.next_f64() * 2.0 - 1.0) as f32).collect()
    }
}
