//! What libtorch this build runs on and whether it works: version, CUDA devices,
//! threads, and a small computation checked against its known answer.

use serde::Serialize;

/// The libtorch in use, as `moga doctor` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct TorchInfo {
    /// The libtorch version linked at build time, e.g. `2.13.0+cu130`.
    pub version: String,
    /// Whether CUDA is usable.
    pub cuda: bool,
    /// CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn: bool,
    /// Intra-op threads libtorch uses on the CPU.
    pub threads: i32,
    /// Whether a forward and backward pass on the CPU gave the expected numbers.
    pub compute_ok: bool,
}

/// The libtorch version this crate was built against.
pub const LIBTORCH_VERSION: &str = env!("MOGA_LIBTORCH_VERSION");

/// Reports libtorch and proves it computes: d/dw of sum((x·w)²) at a known point.
pub fn probe() -> TorchInfo {
    TorchInfo {
        version: LIBTORCH_VERSION.to_string(),
        cuda: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
        compute_ok: gradient_check(),
    }
}

/// Sets libtorch's intra-op CPU threads (0 leaves its default, one per core).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

/// Intra-op CPU threads libtorch uses now.
pub fn threads() -> usize {
    tch::get_num_threads().max(1) as usize
}

/// For x = [1, 2, 3] and w = 2: y = Σ (x·w)² = 56, dy/dw = Σ 2x²w = 56.
fn gradient_check() -> bool {
    let x = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let w = tch::Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
    let y = (&x * &w).square().sum(tch::Kind::Float);
    y.backward();
    let value = y.double_value(&[]);
    let grad = w.grad().double_value(&[0]);
    (value - 56.0).abs() < 1e-4 && (grad - 56.0).abs() < 1e-4
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_loads_and_differentiates() {
        let info = super::probe();
        assert!(info.compute_ok, "{info:?}");
        assert!(info.threads >= 1);
        assert_ne!(
            info.version, "unknown",
            "LIBTORCH was not set at build time"
        );
    }
}
