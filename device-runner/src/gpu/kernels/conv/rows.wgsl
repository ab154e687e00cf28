// 2-D convolution with a square kernel (at most 7), equal strides (at most 2), equal
// top and left paddings and no dilation, any groups (depthwise: one channel per group),
// bias and activation fused. Each invocation computes PX neighbouring outputs of one row
// of one filter: per input channel of its group, the K×K taps are loaded once into
// registers and each input row's span once for all PX outputs.
// Shapes, kernel size, stride, padding, blocking and the activation are override
// constants: the loops over taps unroll and the padding checks fold away inside.
//
// Params: 0 n.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

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
// Outputs along the row per invocation (at most 8).
override PX: u32 = 4u;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override ACT_A: f32 = 0.0;
override ACT_B: f32 = 0.0;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let owb = (OW + PX - 1u) / PX;
    if (i >= p(0u) * M * OH * owb) {
        return;
    }
    let ox0 = (i % owb) * PX;
    let oy = (i / owb) % OH;
    let plane = i / (owb * OH);
    let m = plane % M;
    let n = plane / M;
    let c0 = (m / MG) * CG;
    var b = 0.0;
    if (HAS_BIAS) {
        b = bias[m];
    }
    var acc: array<f32, 8>;
    for (var j = 0u; j < PX; j++) {
        acc[j] = b;
    }
    let ix0 = i32(ox0 * S) - i32(P);
    let span = (PX - 1u) * S + K;
    let inside = ix0 >= 0 && ix0 + i32(span) <= i32(W);
    for (var cc = 0u; cc < CG; cc++) {
        var taps: array<f32, 49>;
        for (var t = 0u; t < K * K; t++) {
            taps[t] = w[(m * CG + cc) * K * K + t];
        }
        let xplane = n * C + c0 + cc;
        for (var ky = 0u; ky < K; ky++) {
            let iy = i32(oy * S + ky) - i32(P);
            if (iy < 0 || iy >= i32(H)) {
                continue;
            }
            let row = (xplane * H + u32(iy)) * W;
            var xr: array<f32, 24>;
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
            for (var j = 0u; j < PX; j++) {
                for (var kx = 0u; kx < K; kx++) {
                    acc[j] += xr[j * S + kx] * taps[ky * K + kx];
                }
            }
        }
    }
    let yo = (plane * OH + oy) * OW;
    for (var j = 0u; j < PX; j++) {
        if (ox0 + j < OW) {
            y[yo + ox0 + j] = activate(acc[j], ACT, ACT_A, ACT_B);
        }
    }
}
