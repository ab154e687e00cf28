// Pad (or crop, with negative pads) of up to 6 axes: output coordinate o of an axis reads
// input coordinate o − begin, brought back into the axis by the mode (0 constant,
// 1 reflect, 2 edge, 3 wrap) or, in constant mode, replaced by the value. One invocation
// per output element.
// Params: 0 elements, 1 rank, 2 mode, 3 value (bits), 4..10 output dims,
// 10..16 input dims, 16..22 begins (i32 bits).

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

// i mod n in [0, n) for n > 0, with only non-negative operands to `%`: GLSL leaves `%`
// of a negative number undefined, and on Mesa's GL driver it differed from WGSL's.
fn modulo(i: i32, n: i32) -> i32 {
    if (i >= 0) {
        return i % n;
    }
    return n - 1 - (-i - 1) % n;
}

// The input coordinate padded coordinate `i` reads, or −1 for the constant.
fn source(i: i32, n: i32, mode: u32) -> i32 {
    if (i >= 0 && i < n) {
        return i;
    }
    if (n == 0) {
        return -1;
    }
    switch mode {
        case 1u: {
            if (n == 1) {
                return 0;
            }
            let period = 2 * (n - 1);
            let m = modulo(i, period);
            if (m < n) {
                return m;
            }
            return period - m;
        }
        case 2u: {
            return clamp(i, 0, n - 1);
        }
        case 3u: {
            return modulo(i, n);
        }
        default: {
            return -1;
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    let r = p(1u);
    var rest = i;
    var src = 0u;
    var stride = 1u;
    for (var k = 0u; k < r; k++) {
        let d = r - 1u - k;
        let o = i32(rest % p(4u + d));
        rest = rest / p(4u + d);
        let n = p(10u + d);
        let s = source(o - bitcast<i32>(p(16u + d)), i32(n), p(2u));
        if (s < 0) {
            y[i] = F(pf(3u));
            return;
        }
        src += u32(s) * stride;
        stride *= n;
    }
    y[i] = x[src];
}
