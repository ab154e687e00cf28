// 2-D convolution with a square kernel (at most 7), equal strides (at most 2), equal
// top and left paddings and no dilation, any groups (depthwise: one channel per group),
// bias and activation fused. Each invocation computes a block of PY rows × PX
// neighbouring outputs of MF filters of one group: per input channel of the group, each
// input row the block's rows share is loaded once (its span, for all PX outputs) and used
// by every output row and filter it reaches, with that kernel row's taps in registers.
// Shapes, kernel size, stride, padding, blocking and the activation are override
// constants: the loops over taps unroll and the padding checks fold away inside.
//
// Params: 0 n.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> w: array<F>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

override C: u32 = 1u;
override M: u32 = 1u;
// Input channels and filters per group.
override CG: u32 = 1u;
override MG: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
// Kernel size (at most 7), stride (at most 2) and padding.
override K: u32 = 3u;
override S: u32 = 1u;
override P: u32 = 1u;
// Outputs along the row (at most 8), rows and filters (MF divides MG) per invocation;
// PX · PY · MF at most 16.
override PX: u32 = 4u;
override PY: u32 = 1u;
override MF: u32 = 1u;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override ACT_A: f32 = 0.0;
override ACT_B: f32 = 0.0;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let owb = (OW + PX - 1u) / PX;
    let ohb = (OH + PY - 1u) / PY;
    let mb = M / MF;
    if (i >= p(0u) * mb * ohb * owb) {
        return;
    }
    let ox0 = (i % owb) * PX;
    let oy0 = ((i / owb) % ohb) * PY;
    let fb = i / (owb * ohb);
    let m0 = (fb % mb) * MF;
    let n = fb / mb;
    let c0 = (m0 / MG) * CG;
    // acc[(f · PY + py) · PX + j]: filter m0 + f, output (oy0 + py, ox0 + j).
    var acc: array<F, 16>;
    for (var f = 0u; f < MF; f++) {
        var b = F(0.0);
        if (HAS_BIAS) {
            b = bias[m0 + f];
        }
        for (var a = 0u; a < PX * PY; a++) {
            acc[f * PX * PY + a] = b;
        }
    }
    let ix0 = i32(ox0 * S) - i32(P);
    let span = (PX - 1u) * S + K;
    let inside = ix0 >= 0 && ix0 + i32(span) <= i32(W);
    for (var cc = 0u; cc < CG; cc++) {
        let wbase = (m0 * CG + cc) * K * K;
        let xplane = n * C + c0 + cc;
        // Input rows r of the block: output row py uses r = py · S + ky.
        for (var r = 0u; r < (PY - 1u) * S + K; r++) {
            let iy = i32(oy0 * S + r) - i32(P);
            if (iy < 0 || iy >= i32(H)) {
                continue;
            }
            let row = (xplane * H + u32(iy)) * W;
            var xr: array<F, 24>;
            if (inside) {
                for (var t = 0u; t < span; t++) {
                    xr[t] = x[row + u32(ix0) + t];
                }
            } else {
                for (var t = 0u; t < span; t++) {
                    let ix = ix0 + i32(t);
                    xr[t] = select(0.0, x[row + u32(clamp(ix, 0, i32(W) - 1))], ix >= 0 && ix < i32(W));
                }
            }
            for (var py = 0u; py < PY; py++) {
                let ky = i32(r) - i32(py * S);
                if (ky < 0 || ky >= i32(K)) {
                    continue;
                }
                for (var f = 0u; f < MF; f++) {
                    // The taps of this kernel row (a short loop the compiler unrolls
                    // into registers; a whole K×K array would not be).
                    var taps: array<F, 7>;
                    for (var kx = 0u; kx < K; kx++) {
                        taps[kx] = w[wbase + f * CG * K * K + u32(ky) * K + kx];
                    }
                    for (var j = 0u; j < PX; j++) {
                        for (var kx = 0u; kx < K; kx++) {
                            acc[(f * PY + py) * PX + j] += xr[j * S + kx] * taps[kx];
                        }
                    }
                }
            }
        }
    }
    for (var f = 0u; f < MF; f++) {
        for (var py = 0u; py < PY; py++) {
            let oy = oy0 + py;
            if (oy >= OH) {
                continue;
            }
            let yo = ((n * M + m0 + f) * OH + oy) * OW;
            for (var j = 0u; j < PX; j++) {
                if (ox0 + j < OW) {
                    y[yo + ox0 + j] = activate(acc[(f * PY + py) * PX + j], ACT, ACT_A, ACT_B);
                }
            }
        }
    }
}
