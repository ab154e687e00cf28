//! Pooling: global average (a reduction per plane) and windowed average or maximum.

use super::{Call, Kernel, MAX_GROUPS, Params, grid_1d};
use crate::error::{Error, Result};
use crate::graph::shape::Pool2d;

#[cfg(test)]
mod tests;

/// Largest workgroup the reduction's shared array holds (global_avg.wgsl).
pub const MAX_REDUCE_WG: u32 = 256;

/// Largest plane the one-invocation-per-plane kernel sums (larger planes, or fewer
/// planes than a workgroup holds, take a workgroup per plane).
pub const MAX_PLANE_PER_INVOCATION: usize = 1024;

/// The mean of each of `planes` planes of `size` elements: an invocation per plane for
/// many small planes, else a workgroup per plane.
pub fn global_avg(planes: usize, size: usize, [x, y]: [usize; 2], wg: u32) -> Result<Call> {
    if size <= MAX_PLANE_PER_INVOCATION && planes >= wg as usize {
        let mut params = Params::default();
        params.set_all(0, &[planes])?;
        return Ok(Call {
            constants: vec![("SIZE", size as f64)],
            variant: "plain".into(),
            kernel: Kernel::GlobalAvgPoolPlanes,
            params,
            buffers: vec![x, y],
            groups: grid_1d(planes, wg)?,
        });
    }
    if !wg.is_power_of_two() || wg > MAX_REDUCE_WG {
        return Err(Error::Gpu {
            backend: "kernel".into(),
            message: format!(
                "the pooling reduction needs a power-of-two workgroup ≤ {MAX_REDUCE_WG}, not {wg}"
            ),
        });
    }
    let mut params = Params::default();
    params.set_all(0, &[planes, size])?;
    let gx = planes.min(MAX_GROUPS as usize);
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::GlobalAvgPool,
        params,
        buffers: vec![x, y],
        groups: [gx as u32, planes.div_ceil(gx) as u32, 1],
    })
}

/// ONNX AveragePool (`max` false) or MaxPool.
pub fn window(p: &Pool2d, max: bool, [x, y]: [usize; 2], wg: u32) -> Result<Call> {
    let mut params = Params::default();
    params.set_all(
        0,
        &[
            p.planes,
            p.h,
            p.w,
            p.oh,
            p.ow,
            p.kh,
            p.kw,
            p.sh,
            p.sw,
            p.pt,
            p.pl,
            p.pb,
            p.pr,
            p.dh,
            p.dw,
            usize::from(p.count_include_pad),
            usize::from(max),
        ],
    )?;
    params.set_f32(17, f32::NEG_INFINITY);
    Ok(Call {
        constants: Vec::new(),
        variant: "plain".into(),
        kernel: Kernel::Pool,
        params,
        buffers: vec![x, y],
        groups: grid_1d(p.planes * p.oh * p.ow, wg)?,
    })
}
