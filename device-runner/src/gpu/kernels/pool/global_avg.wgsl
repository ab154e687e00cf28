// Mean of each plane: one workgroup per plane (2-D grid of workgroups), a strided sum
// per invocation, then a tree reduction in workgroup memory.
// Params: 0 planes, 1 size (elements per plane).

@group(0) @binding(1) var<storage, read> x: array<F>;
@group(0) @binding(2) var<storage, read_write> y: array<F>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = wg.x + wg.y * nwg.x;
    let size = p(1u);
    var sum = 0.0;
    if (plane < p(0u)) {
        for (var i = lid.x; i < size; i += WG) {
            sum += f32(x[plane * size + i]);
        }
    }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid.x < stride) {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u && plane < p(0u)) {
        y[plane] = F(partial[0] / f32(size));
    }
}
