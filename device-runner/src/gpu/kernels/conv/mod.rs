//! Convolutions: a tiled matrix-product kernel for 1×1 convolutions, a depthwise kernel,
//! and a direct kernel for everything else; bias and activation fused in all three.

use super::{Call, Kernel, Params, grid_1d};
use crate::cpu::Act;
use crate::error::Result;
use crate::graph::shape::Conv2d;

#[cfg(test)]
mod tests;

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

/// The dispatch of a convolution: buffers are input, weights, bias (a dummy when
/// `has_bias` is false) and output slots.
pub fn call(
    g: &Conv2d,
    [x, w, b, y]: [usize; 4],
    has_bias: bool,
    act: Act,
    wg: u32,
) -> Result<Call> {
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
        params,
        buffers: vec![x, w, b, y],
        groups,
    })
}
