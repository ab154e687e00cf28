//! The data-movement kernels, the softmax and the max pool against the CPU reference
//! (both follow the same host-side plans; ONNX's backend cases check the plans
//! themselves, tests/conformance.rs).

use proptest::prelude::*;

use crate::gpu::kernels::testing::{both, chain, rel_diff, values};
use crate::graph::{
    AutoPad, CoordMode, NearestMode, Op, PadMode, PoolAttrs, ResizeAttrs, ResizeMode,
};
use crate::onnx::Tensor;

fn input(shape: &[usize], seed: u32) -> Tensor {
    Tensor::f32(
        shape.to_vec(),
        values(shape.iter().product(), u64::from(seed)),
    )
}

fn same(g: &crate::graph::Graph, inputs: &[Tensor]) -> Result<(), TestCaseError> {
    let (gpu, cpu) = both(g, inputs);
    prop_assert_eq!(&gpu[0].shape, &cpu[0].shape);
    prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn transpose_matches(dims in prop::collection::vec(1usize..5, 1..6), seed in any::<u32>(), rot in 0usize..6) {
        let r = dims.len();
        let perm: Vec<i64> = (0..r).map(|k| ((k + rot) % r) as i64).rev().collect();
        let g = chain(&[("x", dims.clone())], &[], vec![(Op::Transpose { perm: Some(perm) }, vec![])]);
        same(&g, &[input(&dims, seed)])?;
    }

    #[test]
    fn concat_matches(a in 1usize..4, b in 1usize..4, rest in prop::collection::vec(1usize..4, 1..4), axis in 0usize..4, seed in any::<u32>()) {
        let axis = axis % (rest.len() + 1);
        let mut s1 = rest.clone();
        s1.insert(axis, a);
        let mut s2 = rest.clone();
        s2.insert(axis, b);
        let g = chain(&[("x", s1.clone()), ("y", s2.clone())], &[], vec![(Op::Concat { axis: axis as i64 - (rest.len() as i64 + 1) }, vec!["y", "x"])]);
        same(&g, &[input(&s1, seed), input(&s2, seed ^ 7)])?;
    }

    #[test]
    fn pad_matches(h in 2usize..7, w in 2usize..7, pads in prop::array::uniform4(-1i64..2), mode in 0usize..4, seed in any::<u32>()) {
        let mode = [PadMode::Constant, PadMode::Reflect, PadMode::Edge, PadMode::Wrap][mode];
        let p = vec![0, 0, pads[0], pads[1], 0, 1, pads[2], pads[3]];
        let g = chain(&[("x", vec![1, 2, h, w])], &[], vec![(Op::Pad { mode, pads: Some(p), value: 0.5 }, vec![])]);
        same(&g, &[input(&[1, 2, h, w], seed)])?;
    }

    #[test]
    fn depth_to_space_matches(b in 1usize..4, c in 1usize..3, h in 1usize..5, w in 1usize..5, crd in any::<bool>(), seed in any::<u32>()) {
        let s = vec![2, c * b * b, h, w];
        let g = chain(&[("x", s.clone())], &[], vec![(Op::DepthToSpace { blocksize: b, crd }, vec![])]);
        same(&g, &[input(&s, seed)])?;
    }

    #[test]
    fn softmax_matches(dims in prop::collection::vec(1usize..6, 1..5), axis in 0usize..4, flatten in any::<bool>(), seed in any::<u32>()) {
        let axis = (axis % dims.len()) as i64;
        let g = chain(&[("x", dims.clone())], &[], vec![(Op::Softmax { axis, flatten }, vec![])]);
        same(&g, &[input(&dims, seed)])?;
    }

    #[test]
    fn resize_matches(h in 1usize..6, w in 1usize..6, sh in 1usize..8, sw in 1usize..8, linear in any::<bool>(), coord in 0usize..6, seed in any::<u32>()) {
        let coord = [CoordMode::HalfPixel, CoordMode::HalfPixelSymmetric, CoordMode::PytorchHalfPixel, CoordMode::AlignCorners, CoordMode::Asymmetric, CoordMode::TfHalfPixelForNn][coord];
        let attrs = ResizeAttrs {
            mode: if linear { ResizeMode::Linear } else { ResizeMode::Nearest },
            coord,
            nearest: NearestMode::RoundPreferFloor,
            extrapolation: 0.0,
            keep_aspect: None,
            axes: Some(vec![2, 3]),
            legacy: false,
        };
        let scales = Tensor::f32(vec![2], vec![sh as f32 / 3.0, sw as f32 / 3.0]);
        let g = chain(&[("x", vec![1, 2, h, w])], &[("scales", scales)], vec![(Op::Resize(attrs), vec!["", "scales"])]);
        prop_assume!(h * sh >= 3 && w * sw >= 3);
        same(&g, &[input(&[1, 2, h, w], seed)])?;
    }

    #[test]
    fn max_pool_matches(h in 3usize..12, w in 3usize..12, k in (1usize..4, 1usize..4), s in (1usize..3, 1usize..3), pads in prop::array::uniform4(0usize..2), dil in (1usize..3, 1usize..2), ceil in any::<bool>(), seed in any::<u32>()) {
        prop_assume!(h + pads[0] + pads[2] > (k.0 - 1) * dil.0 && w + pads[1] + pads[3] > (k.1 - 1) * dil.1);
        prop_assume!(pads[0] < k.0 && pads[2] < k.0 && pads[1] < k.1 && pads[3] < k.1);
        let shape = vec![2, 3, h, w];
        let attrs = PoolAttrs { kernel_shape: [k.0, k.1], strides: [s.0, s.1], pads, dilations: [dil.0, dil.1], ceil_mode: ceil, count_include_pad: false, auto_pad: AutoPad::NotSet };
        let g = chain(&[("x", shape.clone())], &[], vec![(Op::MaxPool(attrs), vec![])]);
        same(&g, &[input(&shape, seed)])?;
    }
}
