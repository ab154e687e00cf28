//! Choosing a backend. Kept free of backend types so the command line builds with any
//! backend compiled out; a backend that is absent reports "not compiled with X".

use serde::{Deserialize, Serialize};

/// The backends a model can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// WGSL compute kernels through wgpu.
    Wgpu,
    /// ONNX Runtime.
    Ort,
    /// The plain CPU reference (slow; for checking).
    Cpu,
}

impl BackendKind {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Ort => "ort",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// ONNX Runtime execution providers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    /// ONNX Runtime's own CPU kernels.
    #[default]
    Cpu,
    /// XNNPACK (ARM and x86 CPUs), when the library was built with it.
    Xnnpack,
    /// Android's Neural Networks API, on Android.
    Nnapi,
}

impl ExecutionProvider {
    /// The name ONNX Runtime lists it under.
    pub fn ort_name(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "CPUExecutionProvider",
            ExecutionProvider::Xnnpack => "XnnpackExecutionProvider",
            ExecutionProvider::Nnapi => "NnapiExecutionProvider",
        }
    }
}

/// ONNX Runtime graph optimisation levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    /// No graph optimisation.
    Disable,
    /// Constant folding, redundant node removal.
    Basic,
    /// Plus node fusions.
    Extended,
    /// Plus layout optimisations (NCHWc on x86).
    Layout,
    /// Everything.
    #[default]
    All,
}

/// The element type of tensors on the GPU: f32, or f16 (storage and arithmetic, as
/// phones' GPU engines run by default; reductions, normalisations and activations
/// evaluate in f32). f16 needs an adapter with 16-bit shader floats (wgpu's SHADER_F16).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// 16-bit floats.
    F16,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }

    /// `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
        }
    }

    /// `data` as this type's little-endian bytes.
    pub fn encode(self, data: &[f32]) -> Vec<u8> {
        match self {
            Dtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F16 => data
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        }
    }

    /// The first `n` elements of `bytes` (this type, little-endian) as f32.
    pub fn decode(self, bytes: &[u8], n: usize) -> Vec<f32> {
        match self {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .take(n)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .take(n)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        }
    }
}

/// Which wgpu backends to look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Vulkan, Metal and GL, whichever the platform has: the first adapter (real GPUs
    /// first, Vulkan before GL) that opens and runs a kernel correctly (`auto`).
    #[default]
    #[value(alias = "auto")]
    All,
    /// Vulkan only.
    Vulkan,
    /// OpenGL ES 3.1 compute (or desktop GL) only: phones without usable Vulkan compute
    /// (`gles`).
    #[value(alias = "gles")]
    Gl,
    /// Metal only (Apple).
    Metal,
}

/// One adapter and the facts that matter for measuring on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `Adreno (TM) 630` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// `vulkan`, `gl`, `metal`.
    pub backend: String,
    /// `integrated_gpu`, `discrete_gpu`, `virtual_gpu`, `cpu`, `other`.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version string.
    pub driver_info: String,
    /// PCI vendor id.
    pub vendor: u32,
    /// PCI device id.
    pub device: u32,
    /// Whether GPU timestamps can be taken around compute passes.
    pub timestamp_query: bool,
    /// Whether compute shaders run at all (GLES below 3.1 has none).
    pub compute: bool,
    /// Whether shaders may use 16-bit floats (wgpu's SHADER_F16: `--precision f16`).
    #[serde(default)]
    pub shader_f16: bool,
    /// Selected limits that bound what kernels can do.
    pub limits: AdapterLimits,
}

impl AdapterSummary {
    /// Where the adapter comes in the runner's preference when none is named (lower
    /// first): real GPUs before virtual or unknown ones before software ones, and
    /// within each, Vulkan or Metal before GL.
    pub fn preference(&self) -> (u8, bool) {
        let kind = match self.device_type.as_str() {
            "discrete_gpu" | "integrated_gpu" => 0,
            "cpu" => 2,
            _ => 1,
        };
        (kind, self.backend != "vulkan" && self.backend != "metal")
    }
}

/// The limits that bound compute kernels: an adapter's, or a phone's
/// ([`crate::limit_profiles`]). Named as wgpu names them. (Fields added after the first
/// records default to 0 there: "not recorded".)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterLimits {
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Largest storage buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup size in x.
    pub max_compute_workgroup_size_x: u32,
    /// Workgroup size in y.
    #[serde(default)]
    pub max_compute_workgroup_size_y: u32,
    /// Workgroup size in z.
    #[serde(default)]
    pub max_compute_workgroup_size_z: u32,
    /// Workgroup shared memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Largest uniform buffer binding, bytes (every kernel's parameters: 256).
    #[serde(default)]
    pub max_uniform_buffer_binding_size: u64,
    /// Push-constant ("immediate") bytes; the kernels use none.
    #[serde(default)]
    pub max_immediate_size: u32,
}

impl AdapterLimits {
    /// Every limit as (wgpu's name, value), in declaration order.
    pub fn named(&self) -> [(&'static str, u64); 11] {
        [
            ("max_buffer_size", self.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                self.max_storage_buffer_binding_size,
            ),
            (
                "max_storage_buffers_per_shader_stage",
                self.max_storage_buffers_per_shader_stage.into(),
            ),
            (
                "max_compute_invocations_per_workgroup",
                self.max_compute_invocations_per_workgroup.into(),
            ),
            (
                "max_compute_workgroup_size_x",
                self.max_compute_workgroup_size_x.into(),
            ),
            (
                "max_compute_workgroup_size_y",
                self.max_compute_workgroup_size_y.into(),
            ),
            (
                "max_compute_workgroup_size_z",
                self.max_compute_workgroup_size_z.into(),
            ),
            (
                "max_compute_workgroup_storage_size",
                self.max_compute_workgroup_storage_size.into(),
            ),
            (
                "max_compute_workgroups_per_dimension",
                self.max_compute_workgroups_per_dimension.into(),
            ),
            (
                "max_uniform_buffer_binding_size",
                self.max_uniform_buffer_binding_size,
            ),
            ("max_immediate_size", self.max_immediate_size.into()),
        ]
    }

    /// The limits where `self` asks for more than `offered` has: (name, asked, offered).
    pub fn above(&self, offered: &AdapterLimits) -> Vec<(&'static str, u64, u64)> {
        self.named()
            .into_iter()
            .zip(offered.named())
            .filter(|((_, asked), (_, has))| asked > has)
            .map(|((name, asked), (_, has))| (name, asked, has))
            .collect()
    }
}
