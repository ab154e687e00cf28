// Any 2-D convolution (kernel, stride, padding, dilation, groups), bias and activation
// fused. One invocation per output element, looping over the filter's channels and
// taps. NAIVE: no tiling or data reuse between invocations; the pointwise and
// depthwise kernels cover the shapes that dominate MBConv networks.
//
// Params: 0 n, 1 c, 2 h, 3 w, 4 m, 5 oh, 6 ow, 7 kh, 8 kw, 9 sh, 10 sw, 11 pt, 12 pl,
// 13 dh, 14 dw, 15 group, 16 has_bias, 17 act, 18 act a, 19 act b.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> w: array<F>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let c = p(1u); let h = p(2u); let wd = p(3u); let m = p(4u);
    let oh = p(5u); let ow = p(6u); let kh = p(7u); let kw = p(8u);
    let total = p(0u) * m * oh * ow;
    if (i >= total) {
        return;
    }
    let ox = i % ow;
    let oy = (i / ow) % oh;
    let oc = (i / (ow * oh)) % m;
    let n = i / (ow * oh * m);
    let cg = c / p(15u);
    let g = oc / (m / p(15u));
    var acc = F(0.0);
    if (p(16u) != 0u) {
        acc = bias[oc];
    }
    for (var ic = 0u; ic < cg; ic++) {
        let ch = g * cg + ic;
        let xbase = (n * c + ch) * h;
        let wbase = (oc * cg + ic) * kh;
        for (var ky = 0u; ky < kh; ky++) {
            let iy = i32(oy * p(9u) + ky * p(13u)) - i32(p(11u));
            if (iy < 0 || iy >= i32(h)) {
                continue;
            }
            for (var kx = 0u; kx < kw; kx++) {
                let ix = i32(ox * p(10u) + kx * p(14u)) - i32(p(12u));
                if (ix < 0 || ix >= i32(wd)) {
                    continue;
                }
                acc += x[(xbase + u32(iy)) * wd + u32(ix)] * w[(wbase + ky) * kw + kx];
            }
        }
    }
    y[i] = activate(acc, p(17u), pf(18u), pf(19u));
}
