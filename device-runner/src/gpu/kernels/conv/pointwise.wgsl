// 1×1 convolution (stride 1, no padding, one group) as a tiled matrix product per image:
// y[n, m, q] = Σ_c w[m, c] · x[n, c, q] + bias[m], activation fused.
//
// A workgroup of 8×8 invocations computes a 32 (filters) × 32 (pixels) tile, each
// invocation a 4×4 block held in registers; K is walked in steps of 8 through workgroup
// memory. The tile shape is fixed (not a parameter): the loads below assume 64
// invocations and 256-element tiles.
//
// Params: 0 n, 1 c (K), 2 m, 3 q (pixels), 4 has_bias, 5 act, 6 act a, 7 act b.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> w: array<F>;
@group(0) @binding(3) var<storage, read> bias: array<F>;
@group(0) @binding(4) var<storage, read_write> y: array<F>;

const TM: u32 = 32u;
const TQ: u32 = 32u;
const TK: u32 = 8u;

var<workgroup> ws: array<F, 256>; // TM × TK, filter-major
var<workgroup> xs: array<F, 256>; // TK × TQ, channel-major

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = p(1u); let m = p(2u); let q = p(3u);
    let n = wg.z;
    let m0 = wg.y * TM;
    let q0 = wg.x * TQ;
    let tid = lid.y * 8u + lid.x;
    var acc: array<F, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = F(0.0);
    }
    for (var k0 = 0u; k0 < c; k0 += TK) {
        for (var r = 0u; r < 4u; r++) {
            let e = tid + r * 64u;
            let mm = m0 + e / TK;
            let kk = k0 + e % TK;
            var wv = F(0.0);
            if (mm < m && kk < c) {
                wv = w[mm * c + kk];
            }
            ws[e] = wv;
            let kq = k0 + e / TQ;
            let qq = q0 + e % TQ;
            var xv = F(0.0);
            if (kq < c && qq < q) {
                xv = x[(n * c + kq) * q + qq];
            }
            xs[e] = xv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var a: array<F, 4>;
            var b: array<F, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = ws[(lid.y * 4u + i) * TK + kk];
                b[i] = xs[kk * TQ + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += a[i] * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let mm = m0 + lid.y * 4u + i;
        if (mm >= m) {
            continue;
        }
        var bv = F(0.0);
        if (p(4u) != 0u) {
            bv = bias[mm];
        }
        for (var j = 0u; j < 4u; j++) {
            let qq = q0 + lid.x * 4u + j;
            if (qq < q) {
                y[(n * m + mm) * q + qq] = activate(acc[i * 4u + j] + bv, p(5u), pf(6u), pf(7u));
            }
        }
    }
}
