// y = act(x). Params: 0 n, 1 act code, 2 a, 3 b, 4 bounds from buffers (Clip whose
// min/max are inputs, not constants).

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;
@group(0) @binding(3) var<storage, read> lo: array<F>;
@group(0) @binding(4) var<storage, read> hi: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    var a = pf(2u);
    var b = pf(3u);
    if (p(4u) != 0u) {
        a = f32(lo[0]);
        b = f32(hi[0]);
    }
    y[i] = activate(x[i], p(1u), a, b);
}
