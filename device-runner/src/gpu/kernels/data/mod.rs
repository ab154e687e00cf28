//! Data movement: strided copies (Transpose, DepthToSpace, each input of Concat), Pad and
//! Resize. The index arithmetic ONNX defines is resolved on the host
//! (`graph::shape`'s plans, shared with the CPU reference); the kernels only follow it.

use super::{Call, Kernel, Params, grid_1d};
use crate::error::{Error, Result};
use crate::graph::PadMode;
use crate::graph::shape::{PadPlan, ResizePlan, Strided};

#[cfg(test)]
mod tests;

/// Highest rank the copy and pad kernels handle.
pub const MAX_RANK: usize = 6;

fn rank_ok(what: &str, rank: usize) -> Result<()> {
    if rank > MAX_RANK {
        return Err(Error::Gpu {
            backend: "kernel".into(),
            message: format!("{what} supports rank ≤ {MAX_RANK}, not {rank}"),
        });
    }
    Ok(())
}

/// One strided copy from `x` into `y`.
pub fn copy(c: &Strided, [x, y]: [usize; 2], wg: u32) -> Result<Call> {
    rank_ok("a strided copy", c.dims.len())?;
    let n = c.len();
    let mut params = Params::default();
    params.set_all(0, &[n, c.dims.len(), c.dst_base])?;
    params.set_all(4, &c.dims)?;
    params.set_all(10, &c.src)?;
    params.set_all(16, &c.dst)?;
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Copy,
        params,
        buffers: vec![x, y],
        groups: grid_1d(n, wg)?,
    })
}

/// Pad by `plan`.
pub fn pad(plan: &PadPlan, [x, y]: [usize; 2], wg: u32) -> Result<Call> {
    rank_ok("Pad", plan.output.len())?;
    let n: usize = plan.output.iter().product();
    let mode = match plan.mode {
        PadMode::Constant => 0,
        PadMode::Reflect => 1,
        PadMode::Edge => 2,
        PadMode::Wrap => 3,
    };
    let mut params = Params::default();
    params
        .set_all(0, &[n, plan.output.len(), mode])?
        .set_f32(3, plan.value);
    params.set_all(4, &plan.output)?;
    params.set_all(10, &plan.input)?;
    for (k, &b) in plan.begins.iter().enumerate() {
        let b = i32::try_from(b).map_err(|_| Error::Gpu {
            backend: "kernel".into(),
            message: format!("pad {b} does not fit in 32 bits"),
        })?;
        params.set_f32(16 + k, f32::from_bits(b as u32));
    }
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Pad,
        params,
        buffers: vec![x, y],
        groups: grid_1d(n, wg)?,
    })
}

/// The taps of a resize plan as the kernel reads them: per axis and output coordinate
/// (i0, i1, weight bits, outside) as 32-bit words, axis after axis; and each axis's
/// first tap.
pub fn resize_taps(plan: &ResizePlan) -> Result<(Vec<u32>, [usize; 4])> {
    let mut out = Vec::new();
    let mut first = [0usize; 4];
    let idx = |i: usize| {
        u32::try_from(i).map_err(|_| Error::Gpu {
            backend: "kernel".into(),
            message: format!("index {i} does not fit in 32 bits"),
        })
    };
    for (k, taps) in plan.taps.iter().enumerate() {
        first[k] = out.len() / 4;
        for t in taps {
            out.extend([idx(t.i0)?, idx(t.i1)?, t.w.to_bits(), u32::from(t.outside)]);
        }
    }
    Ok((out, first))
}

/// Resize by `plan`; `taps` holds [`resize_taps`]' buffer, `first` its offsets.
pub fn resize(
    plan: &ResizePlan,
    first: [usize; 4],
    [x, taps, y]: [usize; 3],
    wg: u32,
) -> Result<Call> {
    let n: usize = plan.output.iter().product();
    let mut params = Params::default();
    params
        .set_all(0, &[n, usize::from(plan.linear)])?
        .set_f32(2, plan.extrapolation);
    params.set_all(4, &plan.input)?;
    params.set_all(8, &plan.output)?;
    params.set_all(12, &first)?;
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Resize,
        params,
        buffers: vec![x, taps, y],
        groups: grid_1d(n, wg)?,
    })
}
