//! Convolutions: a tiled matrix-product kernel and a register-blocked one for 1×1
//! convolutions, the taps kernel for dense K×K ones, the rows kernel for square kernels
//! of any groups, a depthwise kernel, and a direct kernel for everything else; bias and
//! activation fused in all.

use super::{Call, Kernel, Params, act_constants, grid_1d};
use crate::backend::Dtype;
use crate::cpu::Act;
use crate::error::Result;
use crate::graph::shape::Conv2d;

#[cfg(test)]
mod tests;

/// How a convolution runs: which kernel, and its blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The kernel [`kernel_for`] names, as it is.
    Plain,
    /// A 1×1 convolution register-blocked over weights laid out by
    /// [`blocked_weights`].
    Blocked {
        /// vec4s of filters per invocation.
        filters: u32,
        /// vec4s of pixels per invocation (`filters · pixels` at most 4).
        pixels: u32,
    },
    /// A dense convolution ([`taps_fit`]) register-blocked like [`Variant::Blocked`],
    /// over weights laid out by [`blocked_weights`] with one row per input channel and
    /// tap.
    Taps {
        /// vec4s of filters per invocation.
        filters: u32,
        /// vec4s of neighbouring outputs of a row per invocation (at most 4;
        /// `filters · pixels` at most 16).
        pixels: u32,
    },
    /// A convolution with a block of `filters` × `rows` × `pixels` outputs per
    /// invocation: square kernels up to 7, equal strides up to 2, equal top and left
    /// paddings, no dilation, any groups ([`rows_fit`]).
    Rows {
        /// Outputs along a row (1–8).
        pixels: u32,
        /// Rows.
        rows: u32,
        /// Filters of one group (dividing the filters per group; the product of the
        /// three at most 16).
        filters: u32,
    },
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Variant::Plain => write!(f, "plain"),
            Variant::Blocked { filters, pixels } => write!(f, "blocked {filters}x{pixels}"),
            Variant::Taps { filters, pixels } => write!(f, "taps {filters}x{pixels}"),
            Variant::Rows {
                pixels,
                rows,
                filters,
            } => write!(f, "rows {pixels}x{rows}x{filters}"),
        }
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Variant, String> {
        let bad = || {
            format!("'{s}' is not a convolution variant (plain, blocked FxP, taps FxP, rows PxRxF)")
        };
        match s.split_once(' ') {
            None if s == "plain" => Ok(Variant::Plain),
            Some((kind @ ("blocked" | "taps"), fp)) => {
                let (f, p) = fp.split_once('x').ok_or_else(bad)?;
                let (filters, pixels) =
                    (f.parse().map_err(|_| bad())?, p.parse().map_err(|_| bad())?);
                Ok(if kind == "taps" {
                    Variant::Taps { filters, pixels }
                } else {
                    Variant::Blocked { filters, pixels }
                })
            }
            Some(("rows", prf)) => {
                let v: Vec<u32> = prf
                    .split('x')
                    .map(|t| t.parse().map_err(|_| bad()))
                    .collect::<std::result::Result<_, _>>()?;
                match v[..] {
                    [pixels, rows, filters] => Ok(Variant::Rows {
                        pixels,
                        rows,
                        filters,
                    }),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

/// The taps kernel's blocks (vec4s of filters, vec4s of pixels): the autotuner's
/// candidates, each forced in the tests; [`taps_kernel`] says which pipeline each runs on.
pub const TAPS_BLOCKS: [(u32, u32); 9] = [
    (1, 1),
    (1, 2),
    (2, 1),
    (2, 2),
    (2, 4),
    (4, 2),
    (8, 1),
    (8, 2),
    (4, 4),
];

/// The pipeline a taps block runs on: over 4 vec4s of outputs, the one with the larger
/// accumulator.
pub fn taps_kernel(filters: u32, pixels: u32) -> Kernel {
    if filters * pixels > 4 {
        Kernel::ConvTapsWide
    } else {
        Kernel::ConvTaps
    }
}

/// The variants a convolution can run as (the autotuner's candidates); blocked
/// variants only when the weights are constants (`weights_known`: they are laid out
/// again at compile time).
pub fn variants(g: &Conv2d, weights_known: bool) -> Vec<Variant> {
    let mut v = vec![Variant::Plain];
    if g.is_pointwise() && weights_known {
        for (filters, pixels) in [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2)] {
            v.push(Variant::Blocked { filters, pixels });
        }
    } else if rows_fit(g) {
        if taps_fit(g) && weights_known {
            for (filters, pixels) in TAPS_BLOCKS {
                v.push(Variant::Taps { filters, pixels });
            }
        }
        for (pixels, rows) in [(2, 1), (4, 1), (8, 1), (4, 2), (8, 2), (4, 4)] {
            v.push(Variant::Rows {
                pixels,
                rows,
                filters: 1,
            });
        }
        // Several filters per invocation share the input rows they read (the stem).
        let per_group = g.m / g.group;
        for (pixels, rows, filters) in [(4, 1, 2), (4, 1, 4), (8, 1, 2), (2, 2, 4)] {
            if per_group.is_multiple_of(filters as usize) {
                v.push(Variant::Rows {
                    pixels,
                    rows,
                    filters,
                });
            }
        }
    }
    v
}

/// The shortest sums (input channels × taps) the taps kernel is the default for: below
/// it (a stem's 3 channels) the rows kernel's input reuse wins.
pub const TAPS_MIN_TERMS: usize = 64;

/// vec4s of filters per invocation of the default taps variant: the most, up to 8,
/// that divide the filters' vec4s, so no block is padded. Each vec4 of weights a lane
/// loads (on lavapipe, a gather per lane) then feeds 8 outputs per filter; more filters
/// per invocation load the input fewer times (`scripts/bench/gpu.sh`'s dense 3×3
/// microbenchmarks: 8 vec4s of filters × 2 of pixels 0.66× the time of 1 × 2).
fn taps_default_filters(m: usize) -> u32 {
    let m4 = m.div_ceil(4);
    [8, 4, 2]
        .into_iter()
        .find(|&f| m4.is_multiple_of(f))
        .unwrap_or(1) as u32
}

/// The variant without tuning: the one fastest on most shapes of
/// `scripts/bench/gpu.sh`'s microbenchmarks on lavapipe.
pub fn default_variant(g: &Conv2d, weights_known: bool) -> Variant {
    if g.is_pointwise() && weights_known {
        Variant::Blocked {
            filters: 1,
            pixels: 2,
        }
    } else if taps_fit(g) && weights_known && g.c * g.kh * g.kw >= TAPS_MIN_TERMS {
        Variant::Taps {
            filters: taps_default_filters(g.m),
            pixels: 2,
        }
    } else if rows_fit(g) {
        Variant::Rows {
            pixels: 4,
            rows: 2,
            filters: 1,
        }
    } else {
        Variant::Plain
    }
}

/// What the autotuner's choice for a convolution depends on: its whole geometry,
/// whether an activation and a bias are fused (the batch included) and, other than f32
/// (whose keys carry no suffix), the tensors' dtype: half precision changes what is
/// fastest.
pub fn tune_key(g: &Conv2d, act: Act, has_bias: bool, dtype: Dtype) -> String {
    let suffix = match dtype {
        Dtype::F32 => String::new(),
        other => format!(" {}", other.name()),
    };
    format!(
        "conv n{} c{} {}x{} m{} k{}x{} s{}x{} p{},{} d{}x{} g{} act{} bias{}{suffix}",
        g.n,
        g.c,
        g.h,
        g.w,
        g.m,
        g.kh,
        g.kw,
        g.sh,
        g.sw,
        g.pt,
        g.pl,
        g.dh,
        g.dw,
        g.group,
        act.code().0,
        u8::from(has_bias)
    )
}

/// Whether a convolution fits the rows kernel.
pub fn rows_fit(g: &Conv2d) -> bool {
    g.kh == g.kw && g.kh <= 7 && g.sh == g.sw && g.sh <= 2 && g.pt == g.pl && g.dh == 1 && g.dw == 1
}

/// Whether a convolution fits the taps kernel: the rows kernel's geometry, one group,
/// more than a 1×1 kernel.
pub fn taps_fit(g: &Conv2d) -> bool {
    rows_fit(g) && g.group == 1 && !g.is_pointwise()
}

/// The kernel a convolution runs on.
pub fn kernel_for(g: &Conv2d) -> Kernel {
    if g.is_pointwise() {
        Kernel::ConvPointwise
    } else if g.is_depthwise() {
        Kernel::ConvDepthwise
    } else {
        Kernel::ConvDirect
    }
}

/// The weights of a 1×1 convolution (`[m][c]`) transposed to `[c][m4·4]`, m rounded up
/// to a multiple of 4·`filters` with zeros: rows of vec4s of four filters, as the
/// blocked kernel reads them. Returns the data and m4. A dense K×K convolution's
/// weights (`[m][c·K·K]`) with `c` = c·K·K are the taps kernel's.
pub fn blocked_weights(w: &[f32], m: usize, c: usize, filters: u32) -> (Vec<f32>, usize) {
    let m4 = filter_vec4s(m, filters);
    let mut t = vec![0.0; c * m4 * 4];
    for (mm, row) in w.chunks_exact(c).take(m).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            t[k * m4 * 4 + mm] = v;
        }
    }
    (t, m4)
}

/// vec4s per transposed weight row of the blocked and taps kernels: `m` filters rounded
/// up to a multiple of 4·`filters`, over 4.
fn filter_vec4s(m: usize, filters: u32) -> usize {
    m.div_ceil(4 * filters as usize) * filters as usize
}

/// The call of a kernel specialised by override constants: `constants` with the bias
/// flag and the fused activation's appended.
fn specialised(
    kernel: Kernel,
    variant: Variant,
    constants: Vec<(&'static str, f64)>,
    params: Params,
    (has_bias, act): (bool, Act),
    buffers: Vec<usize>,
    groups: [u32; 3],
) -> Result<Call> {
    Ok(Call {
        kernel,
        variant: variant.to_string(),
        constants: constants
            .into_iter()
            .chain([("HAS_BIAS", if has_bias { 1.0 } else { 0.0 })])
            .chain(act_constants(act))
            .collect(),
        params,
        buffers,
        groups,
    })
}

/// The dispatch of a convolution: buffers are input, weights (for a blocked variant,
/// laid out by [`blocked_weights`]), bias (a dummy when `has_bias` is false) and
/// output slots.
pub fn call(
    g: &Conv2d,
    [x, w, b, y]: [usize; 4],
    has_bias: bool,
    act: Act,
    wg: u32,
    variant: Variant,
) -> Result<Call> {
    if let Variant::Rows {
        pixels,
        rows,
        filters,
    } = variant
        && rows_fit(g)
        && (g.m / g.group).is_multiple_of(filters as usize)
    {
        let mut params = Params::default();
        params.set_all(0, &[g.n])?;
        let invocations = g.n
            * (g.m / filters as usize)
            * g.oh.div_ceil(rows as usize)
            * g.ow.div_ceil(pixels as usize);
        return specialised(
            Kernel::ConvRows,
            variant,
            vec![
                ("C", g.c as f64),
                ("M", g.m as f64),
                ("CG", (g.c / g.group) as f64),
                ("MG", (g.m / g.group) as f64),
                ("H", g.h as f64),
                ("W", g.w as f64),
                ("OH", g.oh as f64),
                ("OW", g.ow as f64),
                ("K", g.kh as f64),
                ("S", g.sh as f64),
                ("P", g.pt as f64),
                ("PX", f64::from(pixels)),
                ("PY", f64::from(rows)),
                ("MF", f64::from(filters)),
            ],
            params,
            (has_bias, act),
            vec![x, w, b, y],
            grid_1d(invocations, wg)?,
        );
    }
    if let (Variant::Taps { filters, pixels }, true) = (variant, taps_fit(g))
        && (1..=4).contains(&pixels)
        && (1..=16).contains(&(filters * pixels))
    {
        let m4 = filter_vec4s(g.m, filters);
        let invocations = g.n * (m4 / filters as usize) * g.oh * g.ow.div_ceil(4 * pixels as usize);
        let mut params = Params::default();
        params.set_all(0, &[g.n])?;
        return specialised(
            taps_kernel(filters, pixels),
            variant,
            vec![
                ("C", g.c as f64),
                ("M", g.m as f64),
                ("H", g.h as f64),
                ("W", g.w as f64),
                ("OH", g.oh as f64),
                ("OW", g.ow as f64),
                ("K", g.kh as f64),
                ("S", g.sh as f64),
                ("P", g.pt as f64),
                ("M4", m4 as f64),
                ("TM4", f64::from(filters)),
                ("PQ", f64::from(pixels)),
            ],
            params,
            (has_bias, act),
            vec![x, w, b, y],
            grid_1d(invocations, wg)?,
        );
    }
    if let (Variant::Blocked { filters, pixels }, true) = (variant, g.is_pointwise()) {
        let q = g.h * g.w;
        let m4 = filter_vec4s(g.m, filters);
        let invocations = g.n * (m4 / filters as usize) * q.div_ceil(4 * pixels as usize);
        let mut params = Params::default();
        params.set_all(0, &[g.n, g.c, g.m, q, m4])?;
        return specialised(
            Kernel::ConvPointwiseBlocked,
            variant,
            vec![
                ("C", g.c as f64),
                ("M", g.m as f64),
                ("Q", q as f64),
                ("M4", m4 as f64),
                ("TM4", f64::from(filters)),
                ("PQ", f64::from(pixels)),
            ],
            params,
            (has_bias, act),
            vec![x, w, b, y],
            grid_1d(invocations, wg)?,
        );
    }
    let kernel = kernel_for(g);
    let mut params = Params::default();
    let groups = if kernel == Kernel::ConvPointwise {
        params
            .set_all(0, &[g.n, g.c, g.m, g.h * g.w, usize::from(has_bias)])?
            .set_act(5, act);
        [
            (g.h * g.w).div_ceil(32) as u32,
            g.m.div_ceil(32) as u32,
            g.n as u32,
        ]
    } else {
        params
            .set_all(
                0,
                &[
                    g.n,
                    g.c,
                    g.h,
                    g.w,
                    g.m,
                    g.oh,
                    g.ow,
                    g.kh,
                    g.kw,
                    g.sh,
                    g.sw,
                    g.pt,
                    g.pl,
                    g.dh,
                    g.dw,
                    g.group,
                    usize::from(has_bias),
                ],
            )?
            .set_act(17, act);
        grid_1d(g.n * g.m * g.oh * g.ow, wg)?
    };
    Ok(Call {
        kernel,
        constants: Vec::new(),
        variant: "plain".into(),
        params,
        buffers: vec![x, w, b, y],
        groups,
    })
}
