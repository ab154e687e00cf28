// Depthwise 2-D convolution (groups = channels = filters), bias and activation fused.
// One invocation per output element; each reads its k×k window. Memory-bound by
// nature; the window's rows are read contiguously.
//
// Params as conv/direct.wgsl.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> w: array<F>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let c = p(1u); let h = p(2u); let wd = p(3u);
    let oh = p(5u); let ow = p(6u); let kh = p(7u); let kw = p(8u);
    let total = p(0u) * c * oh * ow;
    if (i >= total) {
        return;
    }
    let ox = i % ow;
    let oy = (i / ow) % oh;
    let plane = i / (ow * oh);
    let ch = plane % c;
    var acc = F(0.0);
    if (p(16u) != 0u) {
        acc = bias[ch];
    }
    let y0 = i32(oy * p(9u)) - i32(p(11u));
    let x0 = i32(ox * p(10u)) - i32(p(12u));
    let dh = i32(p(13u));
    let dw = i32(p(14u));
    for (var ky = 0u; ky < kh; ky++) {
        let iy = y0 + i32(ky) * dh;
        if (iy < 0 || iy >= i32(h)) {
            continue;
        }
        let row = (plane * h + u32(iy)) * wd;
        let wrow = (ch * kh + ky) * kw;
        for (var kx = 0u; kx < kw; kx++) {
            let ix = x0 + i32(kx) * dw;
            if (ix >= 0 && ix < i32(wd)) {
                acc += x[row + u32(ix)] * w[wrow + kx];
            }
        }
    }
    y[i] = activate(acc, p(17u), pf(18u), pf(19u));
}
