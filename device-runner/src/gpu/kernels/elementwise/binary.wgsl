// y = a (+|×) b with numpy broadcasting, rank ≤ 6.
// Params: 0 n, 1 rank, 2 op (0 add, 1 mul), 4..10 output dims, 10..16 a's strides,
// 16..22 b's strides (0 on broadcast dimensions), all aligned to the output's rank.

@group(0) @binding(1) var<storage, read> a: array<F>;
@group(0) @binding(2) var<storage, read> b: array<F>;
@group(0) @binding(3) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    let rank = p(1u);
    var rest = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = 0u; d < rank; d++) {
        let axis = rank - 1u - d;
        let dim = p(4u + axis);
        let coord = rest % dim;
        rest = rest / dim;
        ia += coord * p(10u + axis);
        ib += coord * p(16u + axis);
    }
    if (p(2u) == 1u) {
        y[i] = a[ia] * b[ib];
    } else {
        y[i] = a[ia] + b[ib];
    }
}
