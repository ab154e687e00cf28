// Y = alpha · A' · B' + beta · C (C broadcast to [m, n]). One invocation per output
// element, looping over k. NAIVE: no tiling; the networks' Gemms are their 1-row
// classifiers, which are memory-bound anyway.
// Params: 0 m, 1 n, 2 k, 3 transA, 4 transB, 5 alpha, 6 beta, 7 has_c, 8 C row stride,
// 9 C column stride, 10 act, 11 act a, 12 act b.

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> cm: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = linear_index(gid, nwg);
    let m = p(0u); let n = p(1u); let k = p(2u);
    if (idx >= m * n) {
        return;
    }
    let i = idx / n;
    let j = idx % n;
    var acc = 0.0;
    for (var kk = 0u; kk < k; kk++) {
        var av = a[i * k + kk];
        if (p(3u) != 0u) {
            av = a[kk * m + i];
        }
        var bv = b[kk * n + j];
        if (p(4u) != 0u) {
            bv = b[j * k + kk];
        }
        acc += av * bv;
    }
    var v = pf(5u) * acc;
    if (p(7u) != 0u) {
        v += pf(6u) * cm[i * p(8u) + j * p(9u)];
    }
    y[idx] = activate(v, p(10u), pf(11u), pf(12u));
}
