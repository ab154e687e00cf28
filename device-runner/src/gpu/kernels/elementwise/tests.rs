//! Activations and broadcasting add / multiply against the CPU reference.

use proptest::prelude::*;

use crate::gpu::kernels::testing::{both, chain, rel_diff, values};
use crate::graph::Op;
use crate::onnx::Tensor;

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..6, 0..5)
}

/// `b`'s shape: a suffix of `a`'s with some dimensions set to 1 (numpy-compatible).
fn broadcastable(a: &[usize], keep: usize, ones: &[bool]) -> Vec<usize> {
    let start = a.len() - keep.min(a.len());
    a[start..]
        .iter()
        .zip(ones.iter().cycle())
        .map(|(&d, &one)| if one { 1 } else { d })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn activations_match(s in shape(), which in 0usize..5, seed in any::<u32>()) {
        let op = match which {
            0 => Op::Relu,
            1 => Op::HardSwish,
            2 => Op::HardSigmoid { alpha: 0.3, beta: 0.4 },
            3 => Op::Sigmoid,
            _ => Op::Clip { min: Some(-0.5), max: Some(0.25) },
        };
        let g = chain(&[("x", s.clone())], &[], vec![(op, vec![])]);
        let x = Tensor::f32(s.clone(), values(s.iter().product(), u64::from(seed)).iter().map(|v| v * 8.0).collect());
        let (gpu, cpu) = both(&g, &[x]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-6);
    }

    #[test]
    fn broadcasting_matches(a in prop::collection::vec(1usize..5, 1..5), keep in 0usize..5, ones in prop::collection::vec(any::<bool>(), 1..5), mul in any::<bool>(), swap in any::<bool>(), seed in any::<u32>()) {
        let b = broadcastable(&a, keep, &ones);
        let (sa, sb) = if swap { (b.clone(), a.clone()) } else { (a.clone(), b.clone()) };
        let op = if mul { Op::Mul } else { Op::Add };
        let g = chain(&[("a", sa.clone()), ("b", sb.clone())], &[], vec![(op, vec!["b"])]);
        let ta = Tensor::f32(sa.clone(), values(sa.iter().product(), u64::from(seed)));
        let tb = Tensor::f32(sb.clone(), values(sb.iter().product(), u64::from(seed) + 9));
        let (gpu, cpu) = both(&g, &[ta, tb]);
        prop_assert!(rel_diff(&gpu[0], &cpu[0]) < 1e-6);
    }
}

#[test]
fn clip_bounds_can_be_inputs() {
    let g = chain(
        &[("x", vec![2, 7]), ("lo", vec![]), ("hi", vec![])],
        &[],
        vec![(
            Op::Clip {
                min: None,
                max: None,
            },
            vec!["lo", "hi"],
        )],
    );
    let x = Tensor::f32(vec![2, 7], values(14, 5).iter().map(|v| v * 3.0).collect());
    let (gpu, cpu) = both(
        &g,
        &[
            x,
            Tensor::f32(vec![], vec![-1.0]),
            Tensor::f32(vec![], vec![0.5]),
        ],
    );
    assert_eq!(gpu, cpu);
    assert!(
        gpu[0]
            .as_f32()
            .unwrap()
            .iter()
            .all(|v| (-1.0..=0.5).contains(v))
    );
}
