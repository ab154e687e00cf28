//! Gemm and MatMul.

use super::{Call, Kernel, Params, act_constants, grid_1d};
use crate::cpu::Act;
use crate::error::{Error, Result};
use crate::graph::shape::{MatMulPlan, broadcast_strides};

#[cfg(test)]
mod tests;

/// Gemm: buffers A, B, C (a dummy when `c_shape` is `None`), Y.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    (m, n, k): (usize, usize, usize),
    (trans_a, trans_b): (bool, bool),
    (alpha, beta): (f32, f32),
    c_shape: Option<&[usize]>,
    act: Act,
    buffers: [usize; 4],
    wg: u32,
) -> Result<Call> {
    let mut params = Params::default();
    params.set_all(0, &[m])?;
    let (cs0, cs1) = match c_shape {
        Some(cs) => {
            let st = broadcast_strides(cs, &[m, n]);
            (st[0], st[1])
        }
        None => (0, 0),
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    Ok(Call {
        constants: vec![
            ("M", m as f64),
            ("N", n as f64),
            ("K", k as f64),
            ("TRANS_A", flag(trans_a)),
            ("TRANS_B", flag(trans_b)),
            ("ALPHA", f64::from(alpha)),
            ("BETA", f64::from(beta)),
            ("HAS_C", flag(c_shape.is_some())),
            ("CS0", cs0 as f64),
            ("CS1", cs1 as f64),
        ]
        .into_iter()
        .chain(act_constants(act))
        .collect(),
        variant: "plain".into(),
        kernel: Kernel::Gemm,
        params,
        buffers: buffers.to_vec(),
        groups: grid_1d(m * n, wg)?,
    })
}

/// Most batch dimensions the matmul kernel handles.
pub const MAX_BATCH_RANK: usize = 4;

/// Batched matmul: buffers A, B, Y.
pub fn matmul(p: &MatMulPlan, buffers: [usize; 3], wg: u32) -> Result<Call> {
    if p.batch.len() > MAX_BATCH_RANK {
        return Err(Error::Gpu {
            backend: "kernel".into(),
            message: format!(
                "matmul supports ≤ {MAX_BATCH_RANK} batch dimensions, not {}",
                p.batch.len()
            ),
        });
    }
    let total = p.batch.iter().product::<usize>() * p.m * p.n;
    let mut params = Params::default();
    params.set_all(0, &[p.m, p.n, p.k, p.batch.len()])?;
    params.set_all(4, &p.batch)?;
    params.set_all(8, &p.a_batch_strides)?;
    params.set_all(12, &p.b_batch_strides)?;
    params.set(16, total)?;
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::MatMul,
        params,
        buffers: buffers.to_vec(),
        groups: grid_1d(total, wg)?,
    })
}
