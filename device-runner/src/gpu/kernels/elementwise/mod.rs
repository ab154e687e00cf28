//! Element-wise kernels: activations (with Clip's bounds as constants or as tensors) and
//! broadcasting add / multiply.

use super::{Call, Kernel, Params, grid_1d};
use crate::cpu::Act;
use crate::error::{Error, Result};
use crate::graph::shape::broadcast_strides;

#[cfg(test)]
mod tests;

/// Highest rank the broadcasting kernel handles.
pub const MAX_RANK: usize = 6;

/// y = act(x) over `n` elements; `bounds` are Clip's (min, max) tensor slots when they
/// are inputs, `dummy` fills the bindings otherwise.
pub fn unary(
    n: usize,
    act: Act,
    [x, y]: [usize; 2],
    bounds: Option<(usize, usize)>,
    dummy: usize,
    wg: u32,
) -> Result<Call> {
    let mut params = Params::default();
    params
        .set(0, n)?
        .set_act(1, act)
        .set(4, usize::from(bounds.is_some()))?;
    let (lo, hi) = bounds.unwrap_or((dummy, dummy));
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Unary,
        params,
        buffers: vec![x, y, lo, hi],
        groups: grid_1d(n, wg)?,
    })
}

/// y = a (+|×) b, broadcast to `out`.
pub fn binary(
    a_shape: &[usize],
    b_shape: &[usize],
    out: &[usize],
    mul: bool,
    [a, b, y]: [usize; 3],
    wg: u32,
) -> Result<Call> {
    if out.len() > MAX_RANK {
        return Err(Error::Gpu {
            backend: "kernel".into(),
            message: format!("broadcasting supports rank ≤ {MAX_RANK}, not {}", out.len()),
        });
    }
    let n: usize = out.iter().product();
    let mut params = Params::default();
    params.set_all(0, &[n, out.len(), usize::from(mul)])?;
    params.set_all(4, out)?;
    params.set_all(10, &broadcast_strides(a_shape, out))?;
    params.set_all(16, &broadcast_strides(b_shape, out))?;
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Binary,
        params,
        buffers: vec![a, b, y],
        groups: grid_1d(n, wg)?,
    })
}
