// Dense K×K convolution (one group, square kernel up to 7, equal strides up to 2, equal
// top and left paddings, no dilation) as a register-blocked sum over input channels and
// taps, the 1×1 blocked kernel's scheme with a shifted input per tap: no workgroup
// memory and no barriers. Each invocation computes 4·TM4 filters × 4·PQ neighbouring
// outputs of one output row, reading the weights pre-transposed to [C·K·K][M4] vec4s of
// four filters (zero padded) and, per tap, the four inputs each output of a vec4 reads:
// y[n, m, oy, ox] = Σ_{c,ky,kx} w[m, c, ky, kx] · x[n, c, oy·S + ky − P, ox·S + kx − P]
// + bias[m], activation fused. Dense convolutions over many channels (super-resolution
// cells) run here far faster than on the rows kernel, whose blocks reuse inputs but
// not weights.
//
// Params: 0 n (everything else is an override constant).

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<F>>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

override C: u32 = 1u;
override M: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
override K: u32 = 3u;
override S: u32 = 1u;
override P: u32 = 1u;
// vec4s per transposed weight row: M rounded up to a multiple of 4·TM4, over 4.
override M4: u32 = 1u;
// vec4s of filters and of outputs per invocation (TM4 · PQ at most 16, PQ at most 4).
override TM4: u32 = 1u;
override PQ: u32 = 1u;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override ACT_A: f32 = 0.0;
override ACT_B: f32 = 0.0;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let owb = (OW + 4u * PQ - 1u) / (4u * PQ);
    let mb = M4 / TM4;
    if (i >= p(0u) * mb * OH * owb) {
        return;
    }
    // Neighbouring invocations take neighbouring output blocks of the same filters.
    let ox0 = (i % owb) * 4u * PQ;
    let oy = (i / owb) % OH;
    let im = (i / (owb * OH)) % mb;
    let n = i / (owb * OH * mb);
    // acc[(t·PQ + j)·4 + q]: the four filters of block t at output ox0 + 4j + q. The
    // sums run over C·K·K products, so they are kept in f32 whatever F is (f16 storage
    // drifts by several per cent over a thousand terms).
    // (ACC, the accumulator's size, is prepended: 16 or 64 vec4s; zero as declared.)
    var acc: array<vec4<f32>, ACC>;
    let ix0 = i32(ox0 * S) - i32(P);
    // Whether every input this block reads along the row is inside it.
    let inside = ix0 >= 0 && ix0 + i32((4u * PQ - 1u) * S + K) <= i32(W);
    for (var c = 0u; c < C; c++) {
        for (var ky = 0u; ky < K; ky++) {
            let iy = i32(oy * S + ky) - i32(P);
            if (iy < 0 || iy >= i32(H)) {
                continue;
            }
            let row = ((n * C + c) * H + u32(iy)) * W;
            for (var kx = 0u; kx < K; kx++) {
                var xv: array<vec4<f32>, 4>;
                for (var j = 0u; j < PQ; j++) {
                    for (var q = 0u; q < 4u; q++) {
                        let ix = ix0 + i32((4u * j + q) * S + kx);
                        if (inside) {
                            xv[j][q] = f32(x[row + u32(ix)]);
                        } else {
                            xv[j][q] = select(0.0, f32(x[row + u32(clamp(ix, 0, i32(W) - 1))]), ix >= 0 && ix < i32(W));
                        }
                    }
                }
                let wo = ((c * K + ky) * K + kx) * M4 + im * TM4;
                for (var t = 0u; t < TM4; t++) {
                    let wv = vec4<f32>(wt[wo + t]);
                    for (var j = 0u; j < PQ; j++) {
                        let a = (t * PQ + j) * 4u;
                        acc[a] += wv * xv[j].x;
                        acc[a + 1u] += wv * xv[j].y;
                        acc[a + 2u] += wv * xv[j].z;
                        acc[a + 3u] += wv * xv[j].w;
                    }
                }
            }
        }
    }
    for (var t = 0u; t < TM4; t++) {
        for (var f = 0u; f < 4u; f++) {
            let m = (im * TM4 + t) * 4u + f;
            if (m >= M) {
                continue;
            }
            var b = 0.0;
            if (HAS_BIAS) {
                b = f32(bias[m]);
            }
            let yo = ((n * M + m) * OH + oy) * OW;
            for (var j = 0u; j < PQ; j++) {
                let a = (t * PQ + j) * 4u;
                for (var q = 0u; q < 4u; q++) {
                    let ox = ox0 + 4u * j + q;
                    if (ox < OW) {
                        y[yo + ox] = activate(F(acc[a + q][f] + b), ACT, ACT_A, ACT_B);
                    }
                }
            }
        }
    }
}
