//! Half precision (`--dtype f16`): every kernel family other than the convolutions
//! (conv/tests.rs forces each of their variants) in f16 against the f32 CPU reference,
//! and the error on an adapter without 16-bit shader floats.

use std::sync::OnceLock;

use crate::backend::BackendChoice;
use crate::cpu;
use crate::gpu::kernels::testing::{chain, rel_diff, values};
use crate::gpu::{Dtype, GpuContext, GpuModel, GpuOptions, adapters};
use crate::graph::{
    AutoPad, CoordMode, NearestMode, Op, PadMode, PoolAttrs, ResizeAttrs, ResizeMode,
};
use crate::onnx::Tensor;

/// A chain of operators, each with its extra inputs (as `testing::chain` takes them).
type Chain<'a> = Vec<(Op, Vec<&'a str>)>;

fn half() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        GpuContext::new(&GpuOptions {
            dtype: Dtype::F16,
            ..GpuOptions::default()
        })
        .expect("an adapter with f16 (lavapipe's Vulkan driver has it)")
    })
}

fn input(shape: &[usize], seed: u64) -> Tensor {
    Tensor::f32(shape.to_vec(), values(shape.iter().product(), seed))
}

/// The largest difference from the reference relative to its magnitude.
fn half_vs_reference(g: &crate::graph::Graph, inputs: &[Tensor]) -> f32 {
    let mut m = GpuModel::compile(half(), g, inputs).expect("compiles in f16");
    let gpu = m.run(inputs).expect("runs in f16");
    let cpu = cpu::run(g, inputs).expect("runs on the CPU");
    rel_diff(&gpu[0], &cpu[0])
}

#[test]
fn every_kernel_family_runs_in_half_precision() {
    let pool = |kernel| PoolAttrs {
        kernel_shape: [kernel, kernel],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: false,
        auto_pad: AutoPad::NotSet,
    };
    let s = vec![1, 8, 9, 11];
    let resize = ResizeAttrs {
        mode: ResizeMode::Linear,
        coord: CoordMode::HalfPixel,
        nearest: NearestMode::RoundPreferFloor,
        extrapolation: 0.0,
        keep_aspect: None,
        axes: None,
        legacy: false,
    };
    let cases: Vec<(&str, Chain)> = vec![
        ("relu", vec![(Op::Relu, vec![])]),
        ("hard-swish", vec![(Op::HardSwish, vec![])]),
        ("sigmoid", vec![(Op::Sigmoid, vec![])]),
        ("add", vec![(Op::Add, vec!["c"])]),
        ("mul", vec![(Op::Mul, vec!["c"])]),
        (
            "batchnorm",
            vec![(Op::BatchNorm { epsilon: 1e-5 }, vec!["g", "c1", "c1", "v"])],
        ),
        ("global average", vec![(Op::GlobalAveragePool, vec![])]),
        ("average pool", vec![(Op::AveragePool(pool(3)), vec![])]),
        ("max pool", vec![(Op::MaxPool(pool(3)), vec![])]),
        (
            "softmax",
            vec![(
                Op::Softmax {
                    axis: 1,
                    flatten: false,
                },
                vec![],
            )],
        ),
        (
            "transpose",
            vec![(
                Op::Transpose {
                    perm: Some(vec![0, 2, 3, 1]),
                },
                vec![],
            )],
        ),
        ("concat", vec![(Op::Concat { axis: 1 }, vec!["x"])]),
        (
            "pad",
            vec![(
                Op::Pad {
                    mode: PadMode::Reflect,
                    pads: Some(vec![0, 0, 1, 2, 0, 0, 2, 1]),
                    value: 0.0,
                },
                vec![],
            )],
        ),
        (
            "depth to space",
            vec![(
                Op::DepthToSpace {
                    blocksize: 2,
                    crd: false,
                },
                vec![],
            )],
        ),
        ("resize", vec![(Op::Resize(resize), vec!["", "scales"])]),
        (
            "flatten + gemm",
            vec![
                (Op::Flatten { axis: 1 }, vec![]),
                (
                    Op::Gemm {
                        alpha: 1.0,
                        beta: 1.0,
                        trans_a: false,
                        trans_b: true,
                    },
                    vec!["w", "b"],
                ),
            ],
        ),
        (
            "flatten + matmul",
            vec![(Op::Flatten { axis: 1 }, vec![]), (Op::MatMul, vec!["wt"])],
        ),
    ];
    let k = s.iter().product::<usize>() / s[0];
    let consts = [
        ("c", Tensor::f32(vec![8, 1, 1], values(8, 3))),
        ("c1", Tensor::f32(vec![8], values(8, 3))),
        (
            "g",
            Tensor::f32(vec![8], values(8, 4).iter().map(|v| v + 1.5).collect()),
        ),
        (
            "v",
            Tensor::f32(vec![8], values(8, 5).iter().map(|v| v + 1.5).collect()),
        ),
        ("scales", Tensor::f32(vec![4], vec![1.0, 1.0, 1.7, 0.6])),
        ("w", Tensor::f32(vec![10, k], values(10 * k, 6))),
        ("wt", Tensor::f32(vec![k, 10], values(10 * k, 7))),
        ("b", Tensor::f32(vec![10], values(10, 8))),
    ];
    for (what, ops) in cases {
        let g = chain(&[("x", s.clone())], &consts, ops);
        let d = half_vs_reference(&g, &[input(&s, 9)]);
        assert!(d < 1e-2, "{what} in f16: relative difference {d}");
    }
}

#[test]
fn an_adapter_without_f16_is_one_clear_error() {
    let list = adapters(BackendChoice::All).unwrap_or_default();
    let Some(i) = list.iter().position(|a| a.compute && !a.shader_f16) else {
        eprintln!("every adapter here has f16; nothing to refuse");
        return;
    };
    let err = GpuContext::new(&GpuOptions {
        adapter: Some(i.to_string()),
        dtype: Dtype::F16,
        ..GpuOptions::default()
    })
    .err()
    .expect("f16 on an adapter without it is refused")
    .to_string();
    assert!(
        err.contains("SHADER_F16") && err.contains(&list[i].name),
        "{err}"
    );
}
