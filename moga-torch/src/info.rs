//! libtorch's report for `moga doctor`: its version, CUDA, threads, and a small
//! computation checked against its known answer.

use moga::torch::TorchInfo;

/// Reports libtorch and proves it computes: d/dw of sum((x·w)²) at a known point.
pub fn probe() -> TorchInfo {
    TorchInfo {
        version: supernet::torch::LIBTORCH_VERSION.to_string(),
        cuda: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
        compute_ok: gradient_check(),
        error: None,
    }
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
