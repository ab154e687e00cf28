//! Normalisations: batch normalisation that could not be folded into a convolution (its
//! input is not a convolution's, or its statistics are inputs rather than constants), and
//! softmax.

use super::{Call, Kernel, Params, grid_1d};
use crate::error::Result;

#[cfg(test)]
mod tests;

/// BN over axis 1 of a tensor of `shape`; buffers: x, scale, shift, mean, var, y.
pub fn batch_norm(shape: &[usize], eps: f32, buffers: [usize; 6], wg: u32) -> Result<Call> {
    let n: usize = shape.iter().product();
    let inner: usize = shape[2..].iter().product();
    let mut params = Params::default();
    params.set_all(0, &[n, shape[1], inner])?.set_f32(3, eps);
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::BatchNorm,
        params,
        buffers: buffers.to_vec(),
        groups: grid_1d(n, wg)?,
    })
}

/// Softmax over `len` elements `inner` apart, `outer × inner` rows.
pub fn softmax(
    (outer, len, inner): (usize, usize, usize),
    [x, y]: [usize; 2],
    wg: u32,
) -> Result<Call> {
    let rows = outer * inner;
    let mut params = Params::default();
    params.set_all(0, &[rows, len, inner.max(1)])?;
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Softmax,
        params,
        buffers: vec![x, y],
        groups: grid_1d(rows, wg)?,
    })
}
