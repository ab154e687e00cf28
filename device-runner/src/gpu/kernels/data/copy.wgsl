// A strided copy (Transpose, DepthToSpace, each input of Concat): for every index of up
// to 6 dimensions, y[dst_base + Σ i·dst] = x[Σ i·src]. One invocation per element.
// Params: 0 elements, 1 rank, 2 dst_base, 4..10 dims, 10..16 src strides,
// 16..22 dst strides.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    let r = p(1u);
    var rest = i;
    var src = 0u;
    var dst = p(2u);
    for (var k = 0u; k < r; k++) {
        let d = r - 1u - k;
        let c = rest % p(4u + d);
        rest = rest / p(4u + d);
        src += c * p(10u + d);
        dst += c * p(16u + d);
    }
    y[dst] = x[src];
}
