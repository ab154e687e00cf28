// Y = alpha · A' · B' + beta · C (C broadcast to [m, n]), activation fused. One
// invocation per output element, k walked four at a time into four independent
// accumulators. Shapes, transposes, alpha, beta, C's strides and the activation are
// override constants (the transposes' branches fold away); the networks' Gemms are
// their 1-row classifiers, memory-bound.
// Params: 0 m (also the constant M).

@group(0) @binding(1) var<storage, read> a: array<F>;
@group(0) @binding(2) var<storage, read> b: array<F>;
@group(0) @binding(3) var<storage, read> cm: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

override M: u32 = 1u;
override N: u32 = 1u;
override K: u32 = 1u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ALPHA: f32 = 1.0;
override BETA: f32 = 1.0;
override HAS_C: bool = false;
// C's strides over rows and columns of Y (0 where it broadcasts).
override CS0: u32 = 0u;
override CS1: u32 = 0u;
override ACT: u32 = 0u;
override ACT_A: f32 = 0.0;
override ACT_B: f32 = 0.0;

fn av(i: u32, kk: u32) -> F {
    if (TRANS_A) {
        return a[kk * M + i];
    }
    return a[i * K + kk];
}

fn bv(kk: u32, j: u32) -> F {
    if (TRANS_B) {
        return b[j * K + kk];
    }
    return b[kk * N + j];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = linear_index(gid, nwg);
    if (idx >= p(0u) * N) {
        return;
    }
    let i = idx / N;
    let j = idx % N;
    var acc = vec4<F>(0.0);
    let k4 = K / 4u * 4u;
    for (var kk = 0u; kk < k4; kk += 4u) {
        let x = vec4<F>(av(i, kk), av(i, kk + 1u), av(i, kk + 2u), av(i, kk + 3u));
        let w = vec4<F>(bv(kk, j), bv(kk + 1u, j), bv(kk + 2u, j), bv(kk + 3u, j));
        acc += x * w;
    }
    var sum = acc.x + acc.y + acc.z + acc.w;
    for (var kk = k4; kk < K; kk++) {
        sum += av(i, kk) * bv(kk, j);
    }
    var v = F(ALPHA) * sum;
    if (HAS_C) {
        v += F(BETA) * cm[i * CS0 + j * CS1];
    }
    y[idx] = activate(v, ACT, ACT_A, ACT_B);
}
