// Resize of a 4-D tensor by precomputed taps (graph::shape::ResizePlan): per axis and
// output coordinate (i0, i1, weight of i1, outside). Nearest reads i0 on every axis;
// linear interpolates between i0 and i1 on the last two; an output outside the region of
// interest on any axis is the extrapolation value. One invocation per output element.
// Params: 0 elements, 1 linear, 2 extrapolation (bits), 4..8 input dims,
// 8..12 output dims, 12..16 first tap of each axis.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> taps: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    let ow = p(11u);
    let oh = p(10u);
    let oc = p(9u);
    let tx = taps[p(15u) + i % ow];
    let ty = taps[p(14u) + (i / ow) % oh];
    let tc = taps[p(13u) + (i / (ow * oh)) % oc];
    let tn = taps[p(12u) + i / (ow * oh * oc)];
    if (tx.w + ty.w + tc.w + tn.w != 0u) {
        y[i] = F(pf(2u));
        return;
    }
    let w = p(7u);
    let plane = (tn.x * p(5u) + tc.x) * p(6u) * w;
    if (p(1u) == 0u) {
        y[i] = x[plane + ty.x * w + tx.x];
        return;
    }
    let wy = F(bitcast<f32>(ty.z));
    let wx = F(bitcast<f32>(tx.z));
    let top = x[plane + ty.x * w + tx.x] * (1.0 - wx) + x[plane + ty.x * w + tx.y] * wx;
    let bottom = x[plane + ty.y * w + tx.x] * (1.0 - wx) + x[plane + ty.y * w + tx.y] * wx;
    y[i] = top * (1.0 - wy) + bottom * wy;
}
