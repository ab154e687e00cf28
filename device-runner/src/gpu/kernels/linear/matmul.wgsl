// Batched matrix product with broadcast batch dimensions (numpy matmul; 1-D operands
// were made 2-D by the planner). One invocation per output element. NAIVE: no tiling.
// Params: 0 m, 1 n, 2 k, 3 batch rank (≤ 4), 4..8 batch dims, 8..12 A's batch strides,
// 12..16 B's batch strides, 16 total outputs.

@group(0) @binding(1) var<storage, read> a: array<F>;
@group(0) @binding(2) var<storage, read> b: array<F>;
@group(0) @binding(3) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = linear_index(gid, nwg);
    let m = p(0u); let n = p(1u); let k = p(2u);
    if (idx >= p(16u)) {
        return;
    }
    let j = idx % n;
    let i = (idx / n) % m;
    var rest = idx / (m * n);
    var oa = 0u;
    var ob = 0u;
    let rank = p(3u);
    for (var d = 0u; d < rank; d++) {
        let axis = rank - 1u - d;
        let coord = rest % p(4u + axis);
        rest = rest / p(4u + axis);
        oa += coord * p(8u + axis);
        ob += coord * p(12u + axis);
    }
    // f32 sums: MatMul's inner dimension is unbounded (a flattened feature map).
    var acc = 0.0;
    for (var kk = 0u; kk < k; kk++) {
        acc += f32(a[oa + i * k + kk]) * f32(b[ob + kk * n + j]);
    }
    y[idx] = F(acc);
}
