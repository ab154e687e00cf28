//! Global and windowed average pooling against the CPU reference.

use proptest::prelude::*;

use crate::gpu::kernels::testing::{both, chain, rel_diff, values};
use crate::graph::{AutoPad, Op, PoolAttrs};
use crate::onnx::Tensor;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn global_average_matches(n in 1usize..3, c in prop::sample::select(vec![1usize, 7, 19, 64, 97, 200]), h in 1usize..30, w in 1usize..30, seed in any::<u32>()) {
        let s = vec![n, c, h, w];
        let g = chain(&[("x", s.clone())], &[], vec![(Op::GlobalAveragePool, vec![])]);
        let x = Tensor::f32(s.clone(), values(s.iter().product(), u64::from(seed)));
        let (gpu, cpu) = both(&g, &[x]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
    }

    #[test]
    fn windowed_average_matches(h in 3usize..12, w in 3usize..12, k in (1usize..4, 1usize..4), s in (1usize..3, 1usize..3), pads in prop::array::uniform4(0usize..2), dil in (1usize..3, 1usize..2), ceil in any::<bool>(), include in any::<bool>(), seed in any::<u32>()) {
        prop_assume!(h + pads[0] + pads[2] > (k.0 - 1) * dil.0 && w + pads[1] + pads[3] > (k.1 - 1) * dil.1);
        prop_assume!(pads[0] < k.0 && pads[2] < k.0 && pads[1] < k.1 && pads[3] < k.1);
        let shape = vec![2, 3, h, w];
        let attrs = PoolAttrs { kernel_shape: [k.0, k.1], strides: [s.0, s.1], pads, dilations: [dil.0, dil.1], ceil_mode: ceil, count_include_pad: include, auto_pad: AutoPad::NotSet };
        let g = chain(&[("x", shape.clone())], &[], vec![(Op::AveragePool(attrs), vec![])]);
        let x = Tensor::f32(shape.clone(), values(shape.iter().product(), u64::from(seed)));
        let (gpu, cpu) = both(&g, &[x]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
    }
}
