// Inference batch normalisation over axis 1 with the statistics as tensors (BN that
// could not be folded into a preceding convolution).
// Params: 0 n (elements), 1 c, 2 inner (elements per channel and image), 3 epsilon.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read> scale: array<F>;
@group(0) @binding(3) var<storage, read> shift: array<F>;
@group(0) @binding(4) var<storage, read> mean: array<F>;
@group(0) @binding(5) var<storage, read> variance: array<F>;
@group(0) @binding(6) var<storage, read_write> y: array<F>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p(0u)) {
        return;
    }
    let ch = (i / p(2u)) % p(1u);
    let s = f32(scale[ch]) / sqrt(f32(variance[ch]) + pf(3u));
    y[i] = F((f32(x[i]) - f32(mean[ch])) * s + f32(shift[ch]));
}
