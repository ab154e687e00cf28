// Windowed mean or maximum with ONNX AveragePool / MaxPool semantics: dilation, padding,
// ceil mode; the mean's divisor counts padding (count_include_pad) or only real
// elements, the maximum never sees padding. One invocation per output element.
// NAIVE: windows are re-read by neighbouring outputs.
// Params: 0 planes, 1 h, 2 w, 3 oh, 4 ow, 5 kh, 6 kw, 7 sh, 8 sw, 9 pt, 10 pl, 11 pb,
// 12 pr, 13 dh, 14 dw, 15 count_include_pad, 16 maximum (else mean), 17 −∞ (bits).

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let h = i32(p(1u)); let wd = i32(p(2u)); let oh = p(3u); let ow = p(4u);
    if (i >= p(0u) * oh * ow) {
        return;
    }
    let ox = i % ow;
    let oy = (i / ow) % oh;
    let plane = i / (ow * oh);
    let hpad = h + i32(p(11u));
    let wpad = wd + i32(p(12u));
    var sum = 0.0;
    var best = pf(17u);
    var count = 0u;
    var padded = 0u;
    for (var ky = 0u; ky < p(5u); ky++) {
        let iy = i32(oy * p(7u) + ky * p(13u)) - i32(p(9u));
        for (var kx = 0u; kx < p(6u); kx++) {
            let ix = i32(ox * p(8u) + kx * p(14u)) - i32(p(10u));
            if (iy < hpad && ix < wpad) {
                padded += 1u;
            }
            if (iy >= 0 && ix >= 0 && iy < h && ix < wd) {
                let v = x[(plane * u32(h) + u32(iy)) * u32(wd) + u32(ix)];
                sum += f32(v);
                best = max(best, f32(v));
                count += 1u;
            }
        }
    }
    var div = count;
    if (p(15u) != 0u) {
        div = padded;
    }
    var v = 0.0;
    if (div > 0u) {
        v = sum / f32(div);
    }
    if (p(16u) != 0u) {
        v = best;
    }
    y[i] = F(v);
}
