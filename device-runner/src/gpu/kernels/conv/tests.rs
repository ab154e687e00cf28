//! Every convolution kernel against the CPU reference on random shapes: the direct
//! kernel (strides, padding, dilation, groups), the depthwise one, the tiled 1×1 one
//! (sizes that do not fill its 32×32 tiles), with bias and fused activations.

use proptest::prelude::*;

use crate::cpu::Act;
use crate::gpu::kernels::testing::{both_on, chain, ctx, rel_diff, values};
use crate::gpu::{Dtype, GpuContext, GpuOptions, Tuning};
use crate::graph::shape::Conv2d;
use crate::graph::{AutoPad, ConvAttrs, Op};
use crate::onnx::Tensor;

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    c: usize,
    m: usize,
    group: usize,
    hw: (usize, usize),
    k: (usize, usize),
    stride: (usize, usize),
    pads: [usize; 4],
    dil: (usize, usize),
    bias: bool,
    act: usize,
}

fn run_case(c: &Case, seed: u64) -> f32 {
    run_case_on(ctx(), c, seed).0
}

/// The relative difference to the reference on `ctx`, and the convolution's variant.
fn run_case_on(ctx: &GpuContext, c: &Case, seed: u64) -> (f32, String) {
    let x_shape = vec![c.n, c.c, c.hw.0, c.hw.1];
    let w_shape = vec![c.m, c.c / c.group, c.k.0, c.k.1];
    let w = Tensor::f32(w_shape.clone(), values(w_shape.iter().product(), seed));
    let b = Tensor::f32(vec![c.m], values(c.m, seed + 1));
    let attrs = ConvAttrs {
        kernel_shape: None,
        strides: [c.stride.0, c.stride.1],
        pads: c.pads,
        dilations: [c.dil.0, c.dil.1],
        group: c.group,
        auto_pad: AutoPad::NotSet,
    };
    let mut ops = vec![(
        Op::Conv(attrs),
        if c.bias { vec!["w", "b"] } else { vec!["w"] },
    )];
    match c.act {
        1 => ops.push((Op::Relu, vec![])),
        2 => ops.push((Op::HardSwish, vec![])),
        3 => ops.push((
            Op::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            vec![],
        )),
        4 => ops.push((
            Op::Clip {
                min: None,
                max: None,
            },
            vec!["lo", "hi"],
        )),
        _ => {}
    }
    let lo = Tensor::f32(vec![], vec![-0.25]);
    let hi = Tensor::f32(vec![], vec![0.5]);
    let g = chain(
        &[("x", x_shape.clone())],
        &[("w", w), ("b", b), ("lo", lo), ("hi", hi)],
        ops,
    );
    let x = Tensor::f32(x_shape.clone(), values(x_shape.iter().product(), seed + 2));
    let (gpu, cpu, variants) = both_on(ctx, &g, &[x]);
    (rel_diff(&gpu[0], &cpu[0]), variants[0].clone())
}

/// Every variant of the blocked 1×1, the taps and the rows kernels, forced, against the CPU
/// reference on shapes that do not fill their blocks: batches, odd channel counts and
/// pixel counts, kernels 1–7, strides 1–2, paddings (bottom and right ones unequal),
/// groups (depthwise, with a channel multiplier, grouped, dense), every activation.
#[test]
fn every_variant_matches_the_reference() {
    every_variant_within(Dtype::F32, 1e-5, 10);
}

/// The same in half precision (storage and arithmetic f16, activations in f32): within
/// 1e-2 of the output's magnitude (f16 has an 11-bit significand; the sums here run over
/// up to 70 × 49 products).
#[test]
fn every_variant_runs_in_half_precision() {
    every_variant_within(Dtype::F16, 1e-2, 3);
}

fn every_variant_within(dtype: Dtype, tolerance: f32, cases: usize) {
    use super::Variant;
    let mut rng = lookup_tables::SplitMix64::new(11);
    let mut pick = |n: usize| rng.below(n as u64) as usize;
    let mut variants: Vec<Variant> = [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2)]
        .map(|(filters, pixels)| Variant::Blocked { filters, pixels })
        .to_vec();
    for (filters, pixels) in super::TAPS_BLOCKS {
        variants.push(Variant::Taps { filters, pixels });
    }
    for (pixels, rows, filters) in [
        (2, 1, 1),
        (4, 1, 1),
        (8, 1, 1),
        (4, 2, 1),
        (8, 2, 1),
        (4, 4, 1),
        (4, 1, 2),
        (4, 1, 4),
        (8, 1, 2),
        (2, 2, 4),
    ] {
        variants.push(Variant::Rows {
            pixels,
            rows,
            filters,
        });
    }
    for v in variants {
        let ctx = GpuContext::new(&GpuOptions {
            tuning: Tuning::Force(v),
            dtype,
            ..GpuOptions::default()
        })
        .expect("a GPU adapter with f16 (lavapipe: scripts/setup.sh)");
        // The wide taps blocks compile a large shader per case on lavapipe: fewer cases.
        let cases = match v {
            Variant::Taps { filters, pixels }
                if super::taps_kernel(filters, pixels) == super::Kernel::ConvTapsWide =>
            {
                cases.min(4)
            }
            _ => cases,
        };
        for i in 0..cases {
            let c = match v {
                Variant::Blocked { .. } => {
                    let hw = 1 + pick(13);
                    Case {
                        n: 1 + pick(2),
                        c: 1 + pick(70),
                        m: 1 + pick(70),
                        group: 1,
                        hw: (hw, hw + pick(2)),
                        k: (1, 1),
                        stride: (1, 1),
                        pads: [0; 4],
                        dil: (1, 1),
                        bias: pick(2) == 0,
                        act: pick(5),
                    }
                }
                Variant::Taps { .. } => {
                    // Dense: one group, any channel counts (not filling the vec4s of
                    // filters), a 1×1 kernel only with stride 2 (else it is pointwise).
                    let k: usize = [1, 3, 5, 7][pick(4)];
                    let p = pick(k.div_ceil(2) + 1).min(k - 1);
                    let hw = k + pick(12);
                    let stride = if k == 1 { 2 } else { 1 + pick(2) };
                    Case {
                        n: 1 + pick(2),
                        c: 1 + pick(40),
                        m: 1 + pick(40),
                        group: 1,
                        hw: (hw, hw + pick(3)),
                        k: (k, k),
                        stride: (stride, stride),
                        pads: [p, p, pick(k), pick(k)],
                        dil: (1, 1),
                        bias: pick(2) == 0,
                        act: pick(5),
                    }
                }
                _ => {
                    let k: usize = [1, 3, 5, 7][pick(4)];
                    let p = pick(k.div_ceil(2) + 1).min(k - 1);
                    let (group, cpg, mpg) = match v {
                        // Filter blocks need the filters per group to divide.
                        Variant::Rows { filters: 4, .. } => [(1, 3, 8), (2, 3, 4)][pick(2)],
                        Variant::Rows { filters: 2, .. } => {
                            [(1, 3, 8), (5, 1, 2), (2, 3, 2)][pick(3)]
                        }
                        _ => [(1, 3, 8), (6, 1, 1), (5, 1, 2), (2, 3, 2)][pick(4)],
                    };
                    let hw = k + pick(12);
                    let stride = if k == 1 { 2 } else { 1 + pick(2) };
                    Case {
                        n: 1 + pick(2),
                        c: cpg * group,
                        m: mpg * group,
                        group,
                        hw: (hw, hw + pick(3)),
                        k: (k, k),
                        stride: (stride, stride),
                        pads: [p, p, pick(k), pick(k)],
                        dil: (1, 1),
                        bias: pick(2) == 0,
                        act: pick(5),
                    }
                }
            };
            let (d, ran) = run_case_on(&ctx, &c, 100 + i as u64);
            // The taps kernel's sums run over up to 40 × 49 products, in another order
            // than the reference's: f32 rounding reaches about 1e-5 of the output.
            let tolerance = match (v, dtype) {
                (Variant::Taps { .. }, Dtype::F32) => 4.0 * tolerance,
                _ => tolerance,
            };
            assert!(
                d < tolerance,
                "{v} {c:?} ({dtype:?}): relative difference {d}"
            );
            assert_eq!(ran, v.to_string(), "{c:?}");
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..3,
        1usize..5,
        1usize..4,
        prop::sample::select(vec![1usize, 2, 3]),
        (1usize..10, 1usize..10),
        (
            prop::sample::select(vec![1usize, 3, 5]),
            prop::sample::select(vec![1usize, 3]),
        ),
    )
        .prop_flat_map(|(n, cpg, mpg, group, hw, k)| {
            (
                Just((n, cpg, mpg, group, hw, k)),
                (1usize..3, 1usize..3),
                prop::array::uniform4(0usize..3),
                (1usize..3, 1usize..3),
                any::<bool>(),
                0usize..5,
            )
        })
        .prop_filter_map(
            "kernel must fit the padded input",
            |((n, cpg, mpg, group, hw, k), stride, pads, dil, bias, act)| {
                let fits = |i: usize, kk: usize, d: usize, pb: usize, pe: usize| {
                    i + pb + pe > (kk - 1) * d
                };
                (fits(hw.0, k.0, dil.0, pads[0], pads[2])
                    && fits(hw.1, k.1, dil.1, pads[1], pads[3]))
                .then_some(Case {
                    n,
                    c: cpg * group,
                    m: mpg * group,
                    group,
                    hw,
                    k,
                    stride,
                    pads,
                    dil,
                    bias,
                    act,
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn direct_matches_the_reference(c in case(), seed in any::<u32>()) {
        let d = run_case(&c, u64::from(seed));
        prop_assert!(d < 1e-5, "{c:?}: relative difference {d}");
    }

    #[test]
    fn depthwise_matches_the_reference(ch in 1usize..40, hw in 1usize..20, k in prop::sample::select(vec![3usize, 5, 7]), s in 1usize..3, act in 0usize..5, seed in any::<u32>()) {
        let p = k / 2;
        let c = Case { n: 1, c: ch, m: ch, group: ch, hw: (hw, hw + 1), k: (k, k), stride: (s, s), pads: [p; 4], dil: (1, 1), bias: true, act };
        let d = run_case(&c, u64::from(seed));
        prop_assert!(d < 1e-5, "{c:?}: relative difference {d}");
    }

    #[test]
    fn pointwise_matches_the_reference(n in 1usize..3, c in 1usize..70, m in 1usize..70, hw in 1usize..13, bias in any::<bool>(), act in 0usize..5, seed in any::<u32>()) {
        let case = Case { n, c, m, group: 1, hw: (hw, hw), k: (1, 1), stride: (1, 1), pads: [0; 4], dil: (1, 1), bias, act };
        let d = run_case(&case, u64::from(seed));
        prop_assert!(d < 1e-5, "{case:?}: relative difference {d}");
    }
}

#[test]
fn kernel_choice_follows_the_shape() {
    use super::kernel_for;
    use crate::gpu::kernels::Kernel;
    let base = Conv2d {
        n: 1,
        c: 8,
        h: 5,
        w: 5,
        m: 8,
        oh: 5,
        ow: 5,
        kh: 1,
        kw: 1,
        sh: 1,
        sw: 1,
        pt: 0,
        pl: 0,
        dh: 1,
        dw: 1,
        group: 1,
    };
    assert_eq!(kernel_for(&base), Kernel::ConvPointwise);
    assert_eq!(
        kernel_for(&Conv2d {
            kh: 3,
            kw: 3,
            pt: 1,
            pl: 1,
            group: 8,
            ..base
        }),
        Kernel::ConvDepthwise
    );
    assert_eq!(
        kernel_for(&Conv2d {
            kh: 3,
            kw: 3,
            pt: 1,
            pl: 1,
            group: 2,
            ..base
        }),
        Kernel::ConvDirect
    );
    assert_eq!(
        kernel_for(&Conv2d {
            sh: 2,
            oh: 3,
            ow: 3,
            sw: 2,
            ..base
        }),
        Kernel::ConvDirect
    );
    let _ = Act::None;
}
