//! GPU adapters as wgpu sees them: which exist, what they are, what they allow.

use serde::Serialize;

use crate::error::{Error, Result};

/// Which wgpu backends to look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Vulkan, Metal and GL, whichever the platform has.
    #[default]
    All,
    /// Vulkan only.
    Vulkan,
    /// OpenGL / GLES only.
    Gl,
    /// Metal only (Apple).
    Metal,
}

/// One adapter and the facts that matter for measuring on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// Selected limits that bound what kernels can do.
    pub limits: AdapterLimits,
}

/// The limits that bound compute kernels.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// Workgroup shared memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
}

#[cfg(feature = "wgpu")]
fn backends(choice: BackendChoice) -> wgpu::Backends {
    match choice {
        BackendChoice::All => wgpu::Backends::VULKAN | wgpu::Backends::GL | wgpu::Backends::METAL,
        BackendChoice::Vulkan => wgpu::Backends::VULKAN,
        BackendChoice::Gl => wgpu::Backends::GL,
        BackendChoice::Metal => wgpu::Backends::METAL,
    }
}

/// Prepares the environment of a process without a display before any GPU work.
///
/// Mesa's Vulkan driver probes for a Wayland compositor, and libwayland prints
/// "XDG_RUNTIME_DIR is invalid or not set" to stderr on every enumeration when that
/// variable is missing. With no compositor to find, pointing it at the temporary folder
/// changes nothing but the noise.
///
/// # Safety
/// Sets an environment variable: call it before the process starts any thread.
pub unsafe fn prepare_headless_env() {
    let unset = |v: &str| std::env::var_os(v).is_none_or(|x| x.is_empty());
    if unset("XDG_RUNTIME_DIR") && unset("WAYLAND_DISPLAY") && unset("WAYLAND_SOCKET") {
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// Runs a future that wgpu's native backends complete immediately (their futures are
/// `ready`); polls until done rather than pulling in an executor.
#[cfg(feature = "wgpu")]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// Every adapter of the chosen backends.
#[cfg(feature = "wgpu")]
pub fn adapters(choice: BackendChoice) -> Result<Vec<AdapterSummary>> {
    let wanted = backends(choice) & wgpu::Instance::enabled_backend_features();
    if wanted.is_empty() {
        return Err(Error::Gpu {
            backend: format!("{choice:?}").to_lowercase(),
            message: "this platform has none of the requested backends".into(),
        });
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wanted,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let list = block_on(instance.enumerate_adapters(wanted));
    Ok(list.iter().map(summarise).collect())
}

/// Every adapter of the chosen backends.
#[cfg(not(feature = "wgpu"))]
pub fn adapters(_choice: BackendChoice) -> Result<Vec<AdapterSummary>> {
    Err(Error::NotCompiled { backend: "wgpu" })
}

#[cfg(feature = "wgpu")]
fn summarise(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let device_type = match info.device_type {
        wgpu::DeviceType::IntegratedGpu => "integrated_gpu",
        wgpu::DeviceType::DiscreteGpu => "discrete_gpu",
        wgpu::DeviceType::VirtualGpu => "virtual_gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    };
    AdapterSummary {
        name: info.name.clone(),
        backend: info.backend.to_str().to_string(),
        device_type: device_type.into(),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        vendor: info.vendor,
        device: info.device,
        timestamp_query: adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        compute: adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS),
        limits: AdapterLimits {
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        },
    }
}

/// The wgpu version this runner was built with (the LUT's backend version).
pub const WGPU_VERSION: &str = "30.0.2";
