//! BatchNormalization: with its statistics as inputs (the kernel), and folded into a
//! preceding convolution (the planner), both against the unfused CPU reference.

use crate::gpu::GpuModel;
use crate::gpu::kernels::testing::{both, chain, ctx, rel_diff, values};
use crate::graph::{AutoPad, ConvAttrs, Op};
use crate::onnx::Tensor;

fn positive(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| 0.5 + v.abs()).collect()
}

#[test]
fn statistics_as_inputs_run_on_the_kernel() {
    let s = vec![2, 5, 3, 4];
    let g = chain(
        &[
            ("x", s.clone()),
            ("scale", vec![5]),
            ("shift", vec![5]),
            ("mean", vec![5]),
            ("var", vec![5]),
        ],
        &[],
        vec![(
            Op::BatchNorm { epsilon: 1e-3 },
            vec!["scale", "shift", "mean", "var"],
        )],
    );
    let inputs = vec![
        Tensor::f32(s.clone(), values(120, 1)),
        Tensor::f32(vec![5], values(5, 2)),
        Tensor::f32(vec![5], values(5, 3)),
        Tensor::f32(vec![5], values(5, 4)),
        Tensor::f32(vec![5], positive(5, 5)),
    ];
    let (gpu, cpu) = both(&g, &inputs);
    assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-6);
}

#[test]
fn constant_statistics_fold_into_the_convolution() {
    let attrs = ConvAttrs {
        kernel_shape: None,
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        auto_pad: AutoPad::NotSet,
    };
    let consts = [
        ("w", Tensor::f32(vec![6, 4, 3, 3], values(216, 7))),
        ("b", Tensor::f32(vec![6], values(6, 8))),
        ("g", Tensor::f32(vec![6], values(6, 9))),
        ("be", Tensor::f32(vec![6], values(6, 10))),
        ("m", Tensor::f32(vec![6], values(6, 11))),
        ("v", Tensor::f32(vec![6], positive(6, 12))),
    ];
    let g = chain(
        &[("x", vec![1, 4, 6, 6])],
        &consts,
        vec![
            (Op::Conv(attrs), vec!["w", "b"]),
            (Op::BatchNorm { epsilon: 1e-5 }, vec!["g", "be", "m", "v"]),
            (Op::Relu, vec![]),
        ],
    );
    let x = Tensor::f32(vec![1, 4, 6, 6], values(144, 13));
    let model = GpuModel::compile(ctx(), &g, std::slice::from_ref(&x)).unwrap();
    assert_eq!(
        model.dispatch_count, 1,
        "conv, BN and ReLU should be one dispatch"
    );
    let (gpu, cpu) = both(&g, &[x]);
    assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
}
