//! GPU adapters as wgpu sees them: which exist, what they are, what they allow.

pub use crate::backend::{AdapterLimits, AdapterSummary, BackendChoice};
use crate::error::{Error, Result};

/// The wgpu backend flags of a choice.
pub fn backends(choice: BackendChoice) -> wgpu::Backends {
    match choice {
        BackendChoice::All => wgpu::Backends::VULKAN | wgpu::Backends::GL | wgpu::Backends::METAL,
        BackendChoice::Vulkan => wgpu::Backends::VULKAN,
        BackendChoice::Gl => wgpu::Backends::GL,
        BackendChoice::Metal => wgpu::Backends::METAL,
    }
}

/// Runs a future that wgpu's native backends complete immediately (their futures are
/// `ready`); polls until done rather than pulling in an executor.
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

/// A wgpu instance for the chosen backends.
pub fn instance(choice: BackendChoice) -> Result<wgpu::Instance> {
    let wanted = backends(choice) & wgpu::Instance::enabled_backend_features();
    if wanted.is_empty() {
        return Err(Error::Gpu {
            backend: format!("{choice:?}").to_lowercase(),
            message: "this platform has none of the requested backends".into(),
        });
    }
    Ok(wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wanted,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    }))
}

/// Every adapter of the chosen backends.
pub fn adapters(choice: BackendChoice) -> Result<Vec<AdapterSummary>> {
    let list = block_on(instance(choice)?.enumerate_adapters(backends(choice)));
    Ok(list.iter().map(summarise).collect())
}

/// The facts of one adapter.
pub fn summarise(adapter: &wgpu::Adapter) -> AdapterSummary {
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
        shader_f16: adapter.features().contains(wgpu::Features::SHADER_F16),
        compute: adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS),
        limits: limits_of(&limits),
    }
}

/// The kernel-bounding part of wgpu's limits.
pub fn limits_of(l: &wgpu::Limits) -> AdapterLimits {
    AdapterLimits {
        max_buffer_size: l.max_buffer_size,
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
        max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
        max_compute_workgroup_size_y: l.max_compute_workgroup_size_y,
        max_compute_workgroup_size_z: l.max_compute_workgroup_size_z,
        max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
        max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        max_uniform_buffer_binding_size: l.max_uniform_buffer_binding_size,
        max_immediate_size: l.max_immediate_size,
    }
}

/// `base` (an adapter's limits) with the kernel-bounding ones replaced by `profile`'s:
/// what a device opened with them enforces.
pub fn with_profile(base: &wgpu::Limits, profile: &AdapterLimits) -> wgpu::Limits {
    wgpu::Limits {
        max_buffer_size: profile.max_buffer_size,
        max_storage_buffer_binding_size: profile.max_storage_buffer_binding_size,
        max_storage_buffers_per_shader_stage: profile.max_storage_buffers_per_shader_stage,
        max_compute_invocations_per_workgroup: profile.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: profile.max_compute_workgroup_size_x,
        max_compute_workgroup_size_y: profile.max_compute_workgroup_size_y,
        max_compute_workgroup_size_z: profile.max_compute_workgroup_size_z,
        max_compute_workgroup_storage_size: profile.max_compute_workgroup_storage_size,
        max_compute_workgroups_per_dimension: profile.max_compute_workgroups_per_dimension,
        max_uniform_buffer_binding_size: profile.max_uniform_buffer_binding_size,
        max_immediate_size: profile.max_immediate_size,
        ..base.clone()
    }
}
