//! Gemm and MatMul against the CPU reference.

use proptest::prelude::*;

use crate::gpu::kernels::testing::{both, chain, rel_diff, values};
use crate::graph::Op;
use crate::onnx::Tensor;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn gemm_matches(m in 1usize..9, n in 1usize..40, k in 1usize..40, ta in any::<bool>(), tb in any::<bool>(), c_kind in 0usize..5, alpha in -2f32..2.0, beta in -2f32..2.0, seed in any::<u32>()) {
        let a_shape = if ta { vec![k, m] } else { vec![m, k] };
        let b_shape = if tb { vec![n, k] } else { vec![k, n] };
        let c_shape = match c_kind { 0 => None, 1 => Some(vec![]), 2 => Some(vec![n]), 3 => Some(vec![m, 1]), _ => Some(vec![m, n]) };
        let mut consts = vec![("b", Tensor::f32(b_shape.clone(), values(b_shape.iter().product(), u64::from(seed) + 1)))];
        let mut extra = vec!["b"];
        if let Some(cs) = &c_shape {
            consts.push(("c", Tensor::f32(cs.clone(), values(cs.iter().product(), u64::from(seed) + 2))));
            extra.push("c");
        }
        let g = chain(&[("a", a_shape.clone())], &consts, vec![(Op::Gemm { alpha, beta, trans_a: ta, trans_b: tb }, extra)]);
        let a = Tensor::f32(a_shape.clone(), values(a_shape.iter().product(), u64::from(seed)));
        let (gpu, cpu) = both(&g, &[a]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
    }

    #[test]
    fn matmul_matches(batch_a in prop::collection::vec(1usize..4, 0..3), batch_b in prop::collection::vec(1usize..4, 0..3), m in 1usize..6, n in 1usize..6, k in 1usize..9, vec_a in any::<bool>(), vec_b in any::<bool>(), seed in any::<u32>()) {
        // Make the batch dimensions broadcast: where both have one, use b's or 1.
        let r = batch_a.len().min(batch_b.len());
        let mut ba = batch_a.clone();
        for i in 0..r {
            let (ia, ib) = (ba.len() - 1 - i, batch_b.len() - 1 - i);
            if ba[ia] != batch_b[ib] && ba[ia] != 1 && batch_b[ib] != 1 { ba[ia] = 1; }
        }
        let mut sa = if vec_a { vec![k] } else { [ba.clone(), vec![m, k]].concat() };
        let sb = if vec_b { vec![k] } else { [batch_b.clone(), vec![k, n]].concat() };
        if vec_a && sb.len() == 1 { sa = vec![k]; }
        let g = chain(&[("a", sa.clone()), ("b", sb.clone())], &[], vec![(Op::MatMul, vec!["b"])]);
        let a = Tensor::f32(sa.clone(), values(sa.iter().product(), u64::from(seed)));
        let b = Tensor::f32(sb.clone(), values(sb.iter().product(), u64::from(seed) + 3));
        let (gpu, cpu) = both(&g, &[a, b]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-5);
    }
}
