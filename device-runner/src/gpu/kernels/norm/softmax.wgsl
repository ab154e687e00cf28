// Softmax over `len` elements `inner` apart: one invocation per (outer, inner) row,
// maximum subtracted before the exponentials.
// Params: 0 rows (outer × inner), 1 len, 2 inner.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_index(gid, nwg);
    if (r >= p(0u)) {
        return;
    }
    let len = p(1u);
    let inner = p(2u);
    let base = (r / inner) * len * inner + r % inner;
    var m = x[base];
    for (var k = 1u; k < len; k++) {
        m = max(m, x[base + k * inner]);
    }
    var sum = 0.0;
    for (var k = 0u; k < len; k++) {
        sum += f32(exp(x[base + k * inner] - m));
    }
    for (var k = 0u; k < len; k++) {
        y[base + k * inner] = F(f32(exp(x[base + k * inner] - m)) / sum);
    }
}
