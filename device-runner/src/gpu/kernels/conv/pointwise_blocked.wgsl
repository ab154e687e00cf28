// 1×1 convolution (stride 1, no padding, one group), register-blocked: no workgroup
// memory and no barriers. Each invocation computes 4·TM4 filters × 4·PQ pixels in
// registers, reading the weights pre-transposed to [C][M4] vec4s of four filters (zero
// padded), and four pixels of a channel at a time (one vec4 load when the plane is a
// whole number of vec4s):
// y[n, m, q] = Σ_c w[m, c] · x[n, c, q] + bias[m], activation fused.
//
// Params: 0 n (the batch; everything else is an override constant). Shapes, blocking
// and the activation are override constants, so the shader compiler
// sees constant trip counts and folds the index arithmetic. Neighbouring invocations
// take neighbouring pixel blocks of the same filters.

// x as vec4s: the model's buffers are padded to 16 bytes, so every element is reachable.
@group(0) @binding(1) var<storage, read> x: array<vec4<F>>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<F>>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<F>>;

override C: u32 = 1u;
override M: u32 = 1u;
override Q: u32 = 1u;
// vec4s per transposed weight row: M rounded up to a multiple of 4·TM4, over 4.
override M4: u32 = 1u;
// vec4s of filters and of pixels per invocation (TM4 · PQ at most 4).
override TM4: u32 = 1u;
override PQ: u32 = 1u;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override ACT_A: f32 = 0.0;
override ACT_B: f32 = 0.0;

fn xload(base: u32, q: u32) -> F {
    if (q < Q) {
        let e = base + q;
        return x[e / 4u][e % 4u];
    }
    return 0.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let qb = (Q + 4u * PQ - 1u) / (4u * PQ);
    let mb = M4 / TM4;
    if (i >= p(0u) * mb * qb) {
        return;
    }
    let iq = i % qb;
    let im = (i / qb) % mb;
    let n = i / (qb * mb);
    let q0 = iq * 4u * PQ;
    // acc[(t·PQ + j)·4 + p]: the four filters of block t at pixel 4j + p.
    var acc: array<vec4<F>, 16>;
    for (var a = 0u; a < 16u; a++) {
        acc[a] = vec4<F>(0.0);
    }
    var xo = n * C * Q;
    var wo = im * TM4;
    for (var k = 0u; k < C; k++) {
        var xv: array<vec4<F>, 4>;
        for (var j = 0u; j < PQ; j++) {
            let q = q0 + 4u * j;
            if (Q % 4u == 0u && q < Q) {
                // Rows of whole vec4s: one 16-byte load.
                xv[j] = x[(xo + q) / 4u];
            } else {
                xv[j] = vec4<F>(xload(xo, q), xload(xo, q + 1u), xload(xo, q + 2u), xload(xo, q + 3u));
            }
        }
        for (var t = 0u; t < TM4; t++) {
            let wv = wt[wo + t];
            for (var j = 0u; j < PQ; j++) {
                let a = (t * PQ + j) * 4u;
                acc[a] += wv * xv[j].x;
                acc[a + 1u] += wv * xv[j].y;
                acc[a + 2u] += wv * xv[j].z;
                acc[a + 3u] += wv * xv[j].w;
            }
        }
        xo += Q;
        wo += M4;
    }
    for (var t = 0u; t < TM4; t++) {
        for (var f = 0u; f < 4u; f++) {
            let m = (im * TM4 + t) * 4u + f;
            if (m >= M) {
                continue;
            }
            var b = F(0.0);
            if (HAS_BIAS) {
                b = bias[m];
            }
            let yo = (n * M + m) * Q;
            for (var j = 0u; j < PQ; j++) {
                let a = (t * PQ + j) * 4u;
                let q = q0 + 4u * j;
                if (Q % 4u == 0u) {
                    if (q < Q) {
                        let v = vec4<F>(acc[a][f], acc[a + 1u][f], acc[a + 2u][f], acc[a + 3u][f]) + b;
                        y[(yo + q) / 4u] = vec4<F>(
                            activate(v.x, ACT, ACT_A, ACT_B),
                            activate(v.y, ACT, ACT_A, ACT_B),
                            activate(v.z, ACT, ACT_A, ACT_B),
                            activate(v.w, ACT, ACT_A, ACT_B),
                        );
                    }
                } else {
                    for (var p = 0u; p < 4u; p++) {
                        if (q + p < Q) {
                            let e = yo + q + p;
                            y[e / 4u][e % 4u] = activate(acc[a + p][f] + b, ACT, ACT_A, ACT_B);
                        }
                    }
                }
            }
        }
    }
}
