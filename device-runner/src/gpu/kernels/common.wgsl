// Shared by every kernel (prepended to each shader's source, after the precision
// prelude that defines F, the tensors' element type: f32, or f16 with `enable f16`).
//
// Parameters arrive in one uniform block of 64 u32 words; floats are stored as their
// bits. 1-D kernels run over a 2-D grid of workgroups (x at most 65535 groups), and
// `linear_index` turns the invocation into an element index.

struct Params {
    v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Invocations per workgroup of the 1-D kernels; set per pipeline.
override WG: u32 = 64u;

fn p(i: u32) -> u32 {
    return params.v[i / 4u][i % 4u];
}

fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Activation codes: 0 none, 1 relu, 2 clip(a, b), 3 hard-swish, 4 hard-sigmoid(a, b),
// 5 sigmoid. Matches cpu::Act. Evaluated in f32 whatever the tensors' type F (Clip's
// open bounds are f32's extremes, which f16 cannot hold).
fn activate(xf: F, code: u32, a: f32, b: f32) -> F {
    let x = f32(xf);
    switch code {
        case 1u: { return F(max(x, 0.0)); }
        case 2u: { return F(min(max(x, a), b)); }
        case 3u: { return F(x * clamp(x / 6.0 + 0.5, 0.0, 1.0)); }
        case 4u: { return F(clamp(a * x + b, 0.0, 1.0)); }
        case 5u: { return F(1.0 / (1.0 + exp(-x))); }
        default: { return xf; }
    }
}
