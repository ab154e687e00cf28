// Mean of each plane, one invocation per plane: a sequential sum into four
// accumulators, no workgroup memory or barriers (for many small planes, e.g. the
// squeeze-and-excitation pools of a network's late stages).
// Params: 0 planes. The plane size is the override constant SIZE.

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

override SIZE: u32 = 1u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = linear_index(gid, nwg);
    if (plane >= p(0u)) {
        return;
    }
    let base = plane * SIZE;
    var acc = vec4<f32>(0.0);
    let s4 = SIZE / 4u * 4u;
    for (var i = 0u; i < s4; i += 4u) {
        acc += vec4<f32>(vec4<F>(x[base + i], x[base + i + 1u], x[base + i + 2u], x[base + i + 3u]));
    }
    var sum = acc.x + acc.y + acc.z + acc.w;
    for (var i = s4; i < SIZE; i++) {
        sum += f32(x[base + i]);
    }
    y[plane] = F(sum / f32(SIZE));
}
