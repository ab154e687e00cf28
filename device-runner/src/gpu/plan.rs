//! Compiling a graph for the GPU and running it.
//!
//! Compilation resolves shapes, folds BatchNormalization into the convolution before it
//! and fuses a following activation into convolutions and Gemms (when the intermediate
//! tensor has no other reader), gives every tensor a buffer (Flatten and Reshape alias
//! their input's), uploads constants, and records one dispatch per remaining node with
//! its bind group. A run writes the inputs, encodes every dispatch into one compute pass
//! (timestamps at its start and end when the adapter has them), copies the outputs out,
//! and submits once.

use std::collections::HashMap;
use std::time::Instant;

use wgpu::util::DeviceExt;

use super::kernels::{Call, conv, data, elementwise, linear, norm, pool};
use super::{GpuContext, Tuning};
use crate::cpu::{self, Act};
use crate::error::{Error, Result};
use crate::graph::shape::{Conv2d, Geometry, Shapes};
use crate::graph::{Graph, Node, Op};
use crate::onnx::{ElemType, Tensor};

/// Time of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunTiming {
    /// Submit to completion on the host clock, milliseconds.
    pub wall_ms: f64,
    /// Start to end of the compute pass on the GPU clock, milliseconds.
    pub gpu_ms: Option<f64>,
}

struct Dispatch {
    /// The variant of the kernel ("plain" unless a convolution chose another).
    variant: String,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    /// The ONNX node it runs (a fused activation runs in its convolution's dispatch).
    node: String,
    /// The kernel.
    kernel: &'static str,
}

struct Timestamps {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    count: u32,
}

impl Timestamps {
    fn new(ctx: &GpuContext, count: u32) -> Timestamps {
        let bytes = 8 * u64::from(count);
        Timestamps {
            queries: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count,
            }),
            resolve: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            count,
        }
    }

    /// Resolves every query into the readback buffer.
    fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        enc.resolve_query_set(&self.queries, 0..self.count, &self.resolve, 0);
        enc.copy_buffer_to_buffer(
            &self.resolve,
            0,
            &self.readback,
            0,
            8 * u64::from(self.count),
        );
    }
}

/// A graph compiled for one GPU context and one set of input shapes.
pub struct GpuModel<'c> {
    ctx: &'c GpuContext,
    buffers: Vec<wgpu::Buffer>,
    inputs: Vec<(String, Feed)>,
    outputs: Vec<(String, usize, Vec<usize>, wgpu::Buffer)>,
    dispatches: Vec<Dispatch>,
    timestamps: Option<Timestamps>,
    /// Two timestamps per dispatch, made on the first per-dispatch run.
    dispatch_timestamps: Option<Timestamps>,
    /// Kernel dispatches per run.
    pub dispatch_count: usize,
}

/// How a graph input reaches the model.
enum Feed {
    /// Uploaded to this buffer slot each run; its shape is fixed at compile time.
    Upload(usize, Vec<usize>),
    /// A parameter (int64 shapes, Resize's scales, Pad's pads, …) consumed when the model
    /// was compiled: later runs must give the same value.
    Fixed(Tensor),
}

/// What one node becomes after fusion.
struct Step<'g> {
    node: &'g Node,
    geo: &'g Geometry,
    /// The tensor the step writes (a fused successor's output).
    output: String,
    /// Fused activation.
    act: Act,
    /// Weights and bias replacing the node's, after folding BatchNormalization.
    folded: Option<(Vec<f32>, Vec<f32>)>,
}

impl<'c> GpuModel<'c> {
    /// Compiles `graph` for inputs shaped like `inputs` (int64 inputs and inputs read only
    /// as parameters are taken as the constants they are, e.g. Reshape's shape).
    pub fn compile(ctx: &'c GpuContext, graph: &Graph, inputs: &[Tensor]) -> Result<GpuModel<'c>> {
        let (shapes, values) = cpu::bind(graph, inputs)?;
        let steps = fuse(graph, &shapes);
        // Every tensor a step reads or writes gets a binding: refuse a model that cannot
        // bind before any buffer is made or any kernel is tuned or run.
        for s in &steps {
            for name in s
                .node
                .inputs
                .iter()
                .filter(|n| !n.is_empty())
                .chain([&s.output])
            {
                let n: usize = shapes.of(name).iter().product();
                ctx.check_binding(name, (n * ctx.dtype.bytes()) as u64)?;
            }
        }
        let mut b = Builder {
            ctx,
            graph,
            shapes: &shapes,
            buffers: Vec::new(),
            slots: HashMap::new(),
            dummy: 0,
        };
        b.dummy = b.raw_buffer("dummy", 4, None)?;
        let uploaded =
            |v: &crate::graph::ValueInfo| v.elem == ElemType::F32 && !graph.is_parameter(&v.name);
        for v in &graph.inputs {
            if uploaded(v) {
                b.tensor_slot(&v.name)?;
            }
        }
        let mut calls = Vec::new();
        for s in &steps {
            calls.extend(b.calls(s, &values)?);
        }
        let inputs_meta: Vec<(String, Feed)> = graph
            .inputs
            .iter()
            .zip(inputs)
            .map(|(v, t)| {
                let feed = if uploaded(v) {
                    Feed::Upload(b.slots[&v.name], shapes.of(&v.name).to_vec())
                } else {
                    Feed::Fixed(t.clone())
                };
                (v.name.clone(), feed)
            })
            .collect();
        let mut outputs = Vec::new();
        for o in &graph.outputs {
            let slot = b.tensor_slot(&o.name)?;
            let size = b.buffers[slot].size();
            let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&o.name),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            outputs.push((o.name.clone(), slot, shapes.of(&o.name).to_vec(), staging));
        }
        let mut dispatches = Vec::with_capacity(calls.len());
        for (call, label) in calls {
            dispatches.push(make_dispatch(ctx, &b.buffers, &call, label)?);
        }
        ctx.choices
            .lock()
            .map_err(|_| Error::Gpu {
                backend: ctx.adapter.name.clone(),
                message: "kernel choices poisoned".into(),
            })?
            .save()?;
        let timestamps = ctx.timestamps.then(|| Timestamps::new(ctx, 2));
        ctx.check(&format!("compiling model {}", graph.name))?;
        Ok(GpuModel {
            ctx,
            dispatch_count: dispatches.len(),
            buffers: b.buffers,
            inputs: inputs_meta,
            outputs,
            dispatches,
            timestamps,
            dispatch_timestamps: None,
        })
    }

    /// Uploads the inputs (in the graph's input order); parameter inputs were consumed at
    /// compile time and must keep the value they had.
    pub fn set_inputs(&self, inputs: &[Tensor]) -> Result<()> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::tensor(
                "inputs",
                format!(
                    "{} inputs given, the model takes {}",
                    inputs.len(),
                    self.inputs.len()
                ),
            ));
        }
        for ((name, feed), t) in self.inputs.iter().zip(inputs) {
            let (slot, shape) = match feed {
                Feed::Upload(slot, shape) => (slot, shape),
                Feed::Fixed(fixed) => {
                    if fixed != t {
                        return Err(Error::tensor(
                            name,
                            "sets the model's geometry (a shape, pads or scales) and differs from the value it was compiled with; compile again",
                        ));
                    }
                    continue;
                }
            };
            if &t.shape != shape {
                return Err(Error::tensor(
                    name,
                    format!("shape {:?} differs from the compiled {shape:?}", t.shape),
                ));
            }
            let mut bytes = self.ctx.dtype.encode(t.as_f32().unwrap_or_default());
            // Writes go in whole words (an odd count of f16s is padded; the buffer has
            // room: buffers are whole 16-byte blocks).
            bytes.resize(bytes.len().next_multiple_of(4), 0);
            if !bytes.is_empty() {
                self.ctx.queue.write_buffer(&self.buffers[*slot], 0, &bytes);
            }
        }
        Ok(())
    }

    fn encode(&self, read_outputs: bool) -> wgpu::CommandBuffer {
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        {
            let writes = self
                .timestamps
                .as_ref()
                .map(|t| wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("model"),
                timestamp_writes: writes,
            });
            for d in &self.dispatches {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
        }
        if let Some(t) = &self.timestamps {
            t.resolve(&mut enc);
        }
        if read_outputs {
            for (_, slot, _, staging) in &self.outputs {
                enc.copy_buffer_to_buffer(&self.buffers[*slot], 0, staging, 0, staging.size());
            }
        }
        enc.finish()
    }

    fn submit_and_wait(&self, read_outputs: bool) -> Result<RunTiming> {
        let cmd = self.encode(read_outputs);
        let start = Instant::now();
        self.ctx.queue.submit([cmd]);
        self.ctx.wait()?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        self.ctx.check("running")?;
        let gpu_ms = match &self.timestamps {
            Some(t) => {
                let bytes = read_buffer(self.ctx, &t.readback)?;
                Some(gpu_span_ms(&bytes, self.ctx.timestamp_period_ns))
            }
            None => None,
        };
        Ok(RunTiming { wall_ms, gpu_ms })
    }

    /// Runs once on `inputs` and returns the outputs.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.set_inputs(inputs)?;
        self.submit_and_wait(true)?;
        self.outputs
            .iter()
            .map(|(_, _, shape, staging)| {
                let bytes = read_buffer(self.ctx, staging)?;
                let n: usize = shape.iter().product();
                let data = self.ctx.dtype.decode(&bytes, n);
                Ok(Tensor::f32(shape.clone(), data))
            })
            .collect()
    }

    /// Runs once on the inputs last set, without reading outputs back: one measurement.
    pub fn time(&mut self) -> Result<RunTiming> {
        self.submit_and_wait(false)
    }

    /// The adapter's name.
    pub fn adapter_name(&self) -> &str {
        &self.ctx.adapter.name
    }

    /// Each dispatch's ONNX node, kernel and variant, in execution order (the variant
    /// is the autotuner's choice for convolutions).
    pub fn kernel_choices(&self) -> Vec<(String, &'static str, String)> {
        self.dispatches
            .iter()
            .map(|d| (d.node.clone(), d.kernel, d.variant.clone()))
            .collect()
    }

    /// Each dispatch's ONNX node and kernel, in execution order: what
    /// [`GpuModel::time_nodes`] times.
    pub fn dispatch_nodes(&self) -> Vec<(String, &'static str)> {
        self.dispatches
            .iter()
            .map(|d| (d.node.clone(), d.kernel))
            .collect()
    }

    /// Runs once with every dispatch in a compute pass of its own, timestamped at its
    /// start and end: GPU milliseconds per dispatch, in execution order. Separate passes
    /// cost the GPU a little more than the one pass of [`GpuModel::time`] (the
    /// difference is measured by `device-runner bench --per-node`, which reports both).
    pub fn time_nodes(&mut self) -> Result<Vec<f64>> {
        if !self.ctx.timestamps {
            return Err(Error::Gpu {
                backend: self.ctx.adapter.name.clone(),
                message: "per-node timing needs timestamp queries, which this adapter lacks".into(),
            });
        }
        let n = self.dispatches.len();
        // wgpu allows at most 4096 queries in one set.
        if 2 * n > 4096 {
            return Err(Error::Gpu {
                backend: self.ctx.adapter.name.clone(),
                message: format!("{n} dispatches: per-node timing handles at most 2048"),
            });
        }
        if self.dispatch_timestamps.is_none() {
            self.dispatch_timestamps = Some(Timestamps::new(self.ctx, (2 * n).max(2) as u32));
        }
        let t = self.dispatch_timestamps.as_ref().expect("made above");
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("run per node"),
            });
        for (i, d) in self.dispatches.iter().enumerate() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&d.node),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
        t.resolve(&mut enc);
        self.ctx.queue.submit([enc.finish()]);
        self.ctx.wait()?;
        self.ctx.check("running per node")?;
        let bytes = read_buffer(self.ctx, &t.readback)?;
        Ok(dispatch_spans_ms(&bytes, n, self.ctx.timestamp_period_ns))
    }
}

/// Milliseconds of each of `n` dispatches from their (start, end) tick pairs in `bytes`.
pub fn dispatch_spans_ms(bytes: &[u8], n: usize, period_ns: f64) -> Vec<f64> {
    (0..n)
        .map(|i| gpu_span_ms(bytes.get(16 * i..16 * i + 16).unwrap_or(&[]), period_ns))
        .collect()
}

/// Milliseconds between the two timestamps in `bytes` (two little-endian u64 ticks).
pub fn gpu_span_ms(bytes: &[u8], period_ns: f64) -> f64 {
    let tick = |i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    tick(1).wrapping_sub(tick(0)) as f64 * period_ns / 1e6
}

fn read_buffer(ctx: &GpuContext, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    let slice = buffer.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    let mapped = rx.recv().map_err(|e| Error::Gpu {
        backend: ctx.adapter.name.clone(),
        message: format!("mapping a buffer: {e}"),
    })?;
    mapped.map_err(|e| Error::Gpu {
        backend: ctx.adapter.name.clone(),
        message: format!("mapping a buffer: {e}"),
    })?;
    let bytes = slice
        .get_mapped_range()
        .map_err(|e| Error::Gpu {
            backend: ctx.adapter.name.clone(),
            message: format!("reading a buffer: {e}"),
        })?
        .to_vec();
    buffer.unmap();
    Ok(bytes)
}

/// The pipeline, parameters and bind group of `call`, binding model buffers `buffers`.
fn make_dispatch(
    ctx: &GpuContext,
    buffers: &[wgpu::Buffer],
    call: &Call,
    label: String,
) -> Result<Dispatch> {
    ctx.fits(call.kernel, call.groups)
        .map_err(|e| Error::node(&label, call.kernel.name(), e))?;
    let pipeline = ctx.pipeline(call.kernel, &call.constants)?;
    let uniform = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label),
            contents: &call.params.bytes(),
            usage: wgpu::BufferUsages::UNIFORM,
        });
    let mut entries = vec![wgpu::BindGroupEntry {
        binding: 0,
        resource: uniform.as_entire_binding(),
    }];
    for (i, &slot) in call.buffers.iter().enumerate() {
        entries.push(wgpu::BindGroupEntry {
            binding: i as u32 + 1,
            resource: buffers[slot].as_entire_binding(),
        });
    }
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(&label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    Ok(Dispatch {
        variant: call.variant.clone(),
        pipeline,
        bind_group,
        groups: call.groups,
        kernel: call.kernel.name(),
        node: label,
    })
}

/// Rounds of the autotuner's timing (each candidate once per round).
const TUNING_ROUNDS: usize = 5;

/// After the first timed round, the autotuner keeps timing only the candidates within
/// this factor of that round's fastest: the device drifts 10–20 % within minutes, so a
/// candidate twice as slow as the best is not going to win, and on lavapipe one
/// dispatch of a slow variant at a super-resolution shape takes about a second.
const TUNING_KEEP_WITHIN: f64 = 2.0;

/// The candidates (indices) still timed after a round that took `times` ms each.
fn tuning_survivors(times: &[f64], keep_within: f64) -> Vec<usize> {
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    (0..times.len())
        .filter(|&i| times[i] <= best * keep_within)
        .collect()
}

/// The GPU time (wall time on adapters without timestamps) of one run of `d` alone, in
/// milliseconds: what the autotuner compares.
fn time_dispatch(ctx: &GpuContext, d: &Dispatch, t: Option<&Timestamps>) -> Result<f64> {
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("tuning"),
        });
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&d.node),
            timestamp_writes: t.map(|t| wgpu::ComputePassTimestampWrites {
                query_set: &t.queries,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            }),
        });
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
    }
    if let Some(t) = t {
        t.resolve(&mut enc);
    }
    let start = Instant::now();
    ctx.queue.submit([enc.finish()]);
    ctx.wait()?;
    let wall = start.elapsed().as_secs_f64() * 1e3;
    ctx.check(&format!("timing a variant of {}", d.node))?;
    Ok(match t {
        Some(t) => gpu_span_ms(&read_buffer(ctx, &t.readback)?, ctx.timestamp_period_ns),
        None => wall,
    })
}

/// The activation of a node that can be fused (Clip only with constant bounds).
fn fusable_act(node: &Node, graph: &Graph) -> Option<Act> {
    let constants: HashMap<String, Tensor> = (1..3)
        .filter_map(|i| node.input(i))
        .filter_map(|n| {
            graph
                .initializers
                .get(n)
                .map(|t| (n.to_string(), t.clone()))
        })
        .collect();
    if matches!(node.op, Op::Clip { .. })
        && (1..3)
            .filter_map(|i| node.input(i))
            .any(|n| !constants.contains_key(n))
    {
        return None;
    }
    cpu::node_act(node, &constants).ok().flatten()
}

/// Folding and fusion: which nodes run, and what each writes.
fn fuse<'g>(graph: &'g Graph, shapes: &'g Shapes) -> Vec<Step<'g>> {
    let sole_reader = |name: &str| -> Option<usize> {
        let c = graph.consumers(name);
        (c.len() == 1 && !graph.is_output(name)).then(|| c[0])
    };
    let constant = |name: Option<&str>| {
        name.and_then(|n| graph.initializers.get(n))
            .and_then(Tensor::as_f32)
    };
    let mut absorbed = vec![false; graph.nodes.len()];
    let mut steps = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        let geo = &shapes.geometry[i];
        let mut step = Step {
            node,
            geo,
            output: node.outputs[0].clone(),
            act: Act::None,
            folded: None,
        };
        if let (Op::Conv(_), Geometry::Conv(g)) = (&node.op, geo)
            && let Some(j) = sole_reader(&step.output)
        {
            let bn = &graph.nodes[j];
            if let (Op::BatchNorm { epsilon }, Some(w)) = (&bn.op, constant(node.input(1))) {
                let params: Option<Vec<&[f32]>> = (1..5).map(|k| constant(bn.input(k))).collect();
                let bias_ok = node.input(2).is_none() || constant(node.input(2)).is_some();
                if let (Some(p), true) = (params, bias_ok) {
                    step.folded = Some(crate::graph::fold_bn(
                        w,
                        constant(node.input(2)),
                        g.m,
                        [p[0], p[1], p[2], p[3]],
                        *epsilon,
                    ));
                    step.output = bn.outputs[0].clone();
                    absorbed[j] = true;
                }
            }
        }
        if matches!(node.op, Op::Conv(_) | Op::Gemm { .. })
            && let Some(j) = sole_reader(&step.output)
            && let Some(act) = fusable_act(&graph.nodes[j], graph)
        {
            step.act = act;
            step.output = graph.nodes[j].outputs[0].clone();
            absorbed[j] = true;
        }
        steps.push(step);
    }
    steps
}

/// Buffers and calls, built node by node.
struct Builder<'a, 'c> {
    ctx: &'c GpuContext,
    graph: &'a Graph,
    shapes: &'a Shapes,
    buffers: Vec<wgpu::Buffer>,
    slots: HashMap<String, usize>,
    dummy: usize,
}

impl Builder<'_, '_> {
    /// A storage buffer of at least `len` tensor elements (the context's dtype), rounded
    /// up to whole 16-byte blocks (kernels may read any buffer as vec4s), zero-filled
    /// beyond `init`.
    fn raw_buffer(&mut self, label: &str, len: usize, init: Option<&[f32]>) -> Result<usize> {
        let bytes = init.map(|d| self.ctx.dtype.encode(d));
        self.byte_buffer(label, (len * self.ctx.dtype.bytes()) as u64, bytes)
    }

    /// A storage buffer of 32-bit words (indices, tables), whatever the tensors' dtype.
    fn word_buffer(&mut self, label: &str, words: &[u32]) -> Result<usize> {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.byte_buffer(label, bytes.len() as u64, Some(bytes))
    }

    fn byte_buffer(&mut self, label: &str, bytes: u64, init: Option<Vec<u8>>) -> Result<usize> {
        let size = self.ctx.check_binding(label, bytes)?;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let buffer = match init {
            Some(mut contents) if !contents.is_empty() => {
                contents.resize(contents.len().max(size as usize), 0);
                self.ctx
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents: &contents,
                        usage,
                    })
            }
            _ => self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            }),
        };
        self.buffers.push(buffer);
        Ok(self.buffers.len() - 1)
    }

    /// The buffer of tensor `name`, made on first use (constants uploaded).
    fn tensor_slot(&mut self, name: &str) -> Result<usize> {
        if let Some(&s) = self.slots.get(name) {
            return Ok(s);
        }
        let n: usize = self.shapes.of(name).iter().product();
        let init = self
            .graph
            .initializers
            .get(name)
            .map(|t| {
                t.as_f32()
                    .ok_or_else(|| Error::tensor(name, "an int64 tensor cannot feed a GPU kernel"))
            })
            .transpose()?;
        let slot = self.raw_buffer(name, n, init)?;
        self.slots.insert(name.to_string(), slot);
        Ok(slot)
    }

    /// A convolution's call in the variant the context's tuning picks: the default, or
    /// (autotuning) the remembered choice for its shape, or the fastest of its variants
    /// timed here and remembered. `host`: its weights, when they are constants.
    fn conv_call(
        &mut self,
        g: &Conv2d,
        label: &str,
        [x, w, b, y]: [usize; 4],
        host: Option<&[f32]>,
        has_bias: bool,
        act: Act,
    ) -> Result<Call> {
        let wg = self.ctx.workgroup_size;
        let candidates = conv::variants(g, host.is_some());
        let mut transposed: HashMap<u32, usize> = HashMap::new();
        let mut make = |this: &mut Self, v: conv::Variant| -> Result<Call> {
            let ws = match (v, host) {
                (
                    conv::Variant::Blocked { filters, .. } | conv::Variant::Taps { filters, .. },
                    Some(host),
                ) => {
                    match transposed.get(&filters) {
                        Some(&s) => s,
                        None => {
                            // One row per input channel (and tap, for a K×K kernel).
                            let rows = g.c / g.group * g.kh * g.kw;
                            let (t, _) = conv::blocked_weights(host, g.m, rows, filters);
                            let s =
                                this.raw_buffer(&format!("{label}.w{filters}"), t.len(), Some(&t))?;
                            transposed.insert(filters, s);
                            s
                        }
                    }
                }
                _ => w,
            };
            conv::call(g, [x, ws, b, y], has_bias, act, wg, v)
        };
        let chosen = match &self.ctx.tuning {
            Tuning::Force(v) if candidates.contains(v) => *v,
            Tuning::Auto { .. } if candidates.len() > 1 => {
                self.tuned(g, label, &candidates, has_bias, act, &mut make)?
            }
            _ => conv::default_variant(g, host.is_some()),
        };
        let call = make(self, chosen)?;
        if self.ctx.fits(call.kernel, call.groups).is_ok() {
            return Ok(call);
        }
        // Beyond the device's limits (a phone's profile): the first variant within them;
        // with none, the dispatch's check names the limit.
        for &v in candidates.iter().filter(|&&v| v != chosen) {
            let other = make(self, v)?;
            if self.ctx.fits(other.kernel, other.groups).is_ok() {
                return Ok(other);
            }
        }
        Ok(call)
    }

    /// The autotuner's variant for a convolution: remembered for its shape, else the
    /// fastest of `candidates` timed here (remembered from now on).
    fn tuned(
        &mut self,
        g: &Conv2d,
        label: &str,
        candidates: &[conv::Variant],
        has_bias: bool,
        act: Act,
        make: &mut dyn FnMut(&mut Self, conv::Variant) -> Result<Call>,
    ) -> Result<conv::Variant> {
        let key = conv::tune_key(g, act, has_bias, self.ctx.dtype);
        let poisoned = || Error::Gpu {
            backend: self.ctx.adapter.name.clone(),
            message: "kernel choices poisoned".into(),
        };
        let known = self
            .ctx
            .choices
            .lock()
            .map_err(|_| poisoned())?
            .get(&key)
            .and_then(|v| v.parse::<conv::Variant>().ok())
            .filter(|v| candidates.contains(v));
        if let Some(v) = known {
            return Ok(v);
        }
        // Every candidate once per round, TUNING_ROUNDS rounds after a warm-up one, so
        // that a drifting device slows them alike; the lowest median wins. After the
        // first timed round only those within TUNING_KEEP_WITHIN of its best go on.
        let mut dispatches = Vec::with_capacity(candidates.len());
        // Only variants within the device's limits are offered (a phone's profile may
        // rule some out); with none left, the caller's fallback names the limit.
        let mut fitting = Vec::with_capacity(candidates.len());
        for &v in candidates {
            let call = make(self, v)?;
            if self.ctx.fits(call.kernel, call.groups).is_err() {
                continue;
            }
            fitting.push(v);
            dispatches.push(make_dispatch(
                self.ctx,
                &self.buffers,
                &call,
                label.to_string(),
            )?);
        }
        let candidates = &fitting[..];
        if candidates.is_empty() {
            return Ok(conv::Variant::Plain);
        }
        let mut times = vec![Vec::with_capacity(TUNING_ROUNDS); candidates.len()];
        let stamps = self.ctx.timestamps.then(|| Timestamps::new(self.ctx, 2));
        let mut timed: Vec<usize> = (0..candidates.len()).collect();
        for round in 0..=TUNING_ROUNDS {
            for &i in &timed {
                let ms = time_dispatch(self.ctx, &dispatches[i], stamps.as_ref())?;
                if round > 0 {
                    times[i].push(ms);
                }
            }
            if round == 1 {
                let first: Vec<f64> = timed.iter().map(|&i| times[i][0]).collect();
                timed = tuning_survivors(&first, TUNING_KEEP_WITHIN)
                    .into_iter()
                    .map(|k| timed[k])
                    .collect();
            }
        }
        let best = timed
            .iter()
            .map(|&i| {
                let t = &mut times[i];
                t.sort_by(f64::total_cmp);
                (t[t.len() / 2], candidates[i])
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(conv::Variant::Plain, |(_, v)| v);
        self.ctx
            .choices
            .lock()
            .map_err(|_| poisoned())?
            .set(key, best.to_string());
        Ok(best)
    }

    fn input(&mut self, node: &Node, i: usize) -> Result<usize> {
        let name = node
            .input(i)
            .ok_or_else(|| node.error(format!("input {i} is missing")))?;
        self.tensor_slot(name)
    }

    fn calls(&mut self, s: &Step, values: &HashMap<String, Tensor>) -> Result<Vec<(Call, String)>> {
        let node = s.node;
        let wg = self.ctx.workgroup_size;
        let label = node.name.clone();
        let with_node = |e: Error| match e {
            Error::Gpu { message, .. } | Error::Tensor { message, .. } => node.error(message),
            other => other,
        };
        let x_shape = self.shapes.of(node.input(0).unwrap_or_default()).to_vec();
        let call = match (&node.op, s.geo) {
            (op, _) if op.is_view() => {
                let src = self.input(node, 0)?;
                self.slots.insert(s.output.clone(), src);
                return Ok(Vec::new());
            }
            (Op::Conv(_), Geometry::Conv(g)) => {
                let x = self.input(node, 0)?;
                let (w, b) = match &s.folded {
                    Some((w, b)) => (
                        self.raw_buffer(&format!("{label}.w"), w.len(), Some(w))?,
                        Some(self.raw_buffer(&format!("{label}.b"), b.len(), Some(b))?),
                    ),
                    None => (
                        self.input(node, 1)?,
                        node.input(2).map(|_| self.input(node, 2)).transpose()?,
                    ),
                };
                let y = self.tensor_slot(&s.output)?;
                let graph = self.graph;
                let host: Option<&[f32]> = match &s.folded {
                    Some((w, _)) => Some(w),
                    None => node
                        .input(1)
                        .and_then(|n| graph.initializers.get(n))
                        .and_then(Tensor::as_f32),
                };
                let has_bias = b.is_some();
                let slots = [x, w, b.unwrap_or(self.dummy), y];
                self.conv_call(g, &label, slots, host, has_bias, s.act)
            }
            (Op::BatchNorm { epsilon }, _) => {
                let mut slots = [0usize; 6];
                for (k, slot) in slots.iter_mut().enumerate().take(5) {
                    *slot = self.input(node, k)?;
                }
                slots[5] = self.tensor_slot(&s.output)?;
                norm::batch_norm(&x_shape, *epsilon, slots, wg)
            }
            (Op::Add | Op::Mul, _) => {
                let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
                let b_shape = self.shapes.of(node.input(1).unwrap_or_default()).to_vec();
                let y = self.tensor_slot(&s.output)?;
                elementwise::binary(
                    &x_shape,
                    &b_shape,
                    self.shapes.of(&s.output),
                    matches!(node.op, Op::Mul),
                    [a, b, y],
                    wg,
                )
            }
            (Op::GlobalAveragePool, _) => {
                let (x, y) = (self.input(node, 0)?, self.tensor_slot(&s.output)?);
                pool::global_avg(
                    x_shape[0] * x_shape[1],
                    x_shape[2..].iter().product(),
                    [x, y],
                    wg,
                )
            }
            (Op::AveragePool(_) | Op::MaxPool(_), Geometry::Pool(p)) => {
                let (x, y) = (self.input(node, 0)?, self.tensor_slot(&s.output)?);
                pool::window(p, matches!(node.op, Op::MaxPool(_)), [x, y], wg)
            }
            (_, Geometry::Copy(copies)) => {
                let y = self.tensor_slot(&s.output)?;
                let mut calls = Vec::with_capacity(copies.len());
                for (i, c) in copies.iter().enumerate() {
                    if c.is_empty() {
                        continue;
                    }
                    let x = self.input(node, i)?;
                    let call = data::copy(c, [x, y], wg).map_err(with_node)?;
                    calls.push((call, format!("{label}.{i}")));
                }
                return Ok(calls);
            }
            (Op::Pad { .. }, Geometry::Pad(p)) => {
                let (x, y) = (self.input(node, 0)?, self.tensor_slot(&s.output)?);
                data::pad(p, [x, y], wg)
            }
            (Op::Softmax { .. }, Geometry::Softmax { outer, len, inner }) => {
                let (x, y) = (self.input(node, 0)?, self.tensor_slot(&s.output)?);
                norm::softmax((*outer, *len, *inner), [x, y], wg)
            }
            (Op::Resize(_), Geometry::Resize(p)) => {
                let (taps, first) = data::resize_taps(p).map_err(with_node)?;
                let x = self.input(node, 0)?;
                let t = self.word_buffer(&format!("{label}.taps"), &taps)?;
                let y = self.tensor_slot(&s.output)?;
                data::resize(p, first, [x, t, y], wg)
            }
            (
                Op::Gemm {
                    alpha,
                    beta,
                    trans_a,
                    trans_b,
                },
                Geometry::Gemm { m, n, k },
            ) => {
                let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
                let c = node.input(2).map(|_| self.input(node, 2)).transpose()?;
                let c_shape = node.input(2).map(|c| self.shapes.of(c).to_vec());
                let y = self.tensor_slot(&s.output)?;
                linear::gemm(
                    (*m, *n, *k),
                    (*trans_a, *trans_b),
                    (*alpha, *beta),
                    c_shape.as_deref(),
                    s.act,
                    [a, b, c.unwrap_or(self.dummy), y],
                    wg,
                )
            }
            (Op::MatMul, Geometry::MatMul(p)) => {
                let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
                let y = self.tensor_slot(&s.output)?;
                linear::matmul(p, [a, b, y], wg)
            }
            (Op::Clip { .. }, _) if fusable_act(node, self.graph).is_none() => {
                let n: usize = x_shape.iter().product();
                let x = self.input(node, 0)?;
                let lo = match node.input(1) {
                    Some(_) => self.input(node, 1)?,
                    None => self.raw_buffer("clip.min", 1, Some(&[f32::MIN]))?,
                };
                let hi = match node.input(2) {
                    Some(_) => self.input(node, 2)?,
                    None => self.raw_buffer("clip.max", 1, Some(&[f32::MAX]))?,
                };
                let y = self.tensor_slot(&s.output)?;
                elementwise::unary(
                    n,
                    Act::Clip(f32::MIN, f32::MAX),
                    [x, y],
                    Some((lo, hi)),
                    self.dummy,
                    wg,
                )
            }
            _ => {
                let act = cpu::node_act(node, values)?
                    .ok_or_else(|| node.error("no GPU kernel for this operator"))?;
                let n: usize = x_shape.iter().product();
                let (x, y) = (self.input(node, 0)?, self.tensor_slot(&s.output)?);
                elementwise::unary(n, act, [x, y], None, self.dummy, wg)
            }
        }
        .map_err(with_node)?;
        Ok(vec![(call, label)])
    }
}

#[cfg(test)]
mod tests {
    use super::tuning_survivors;

    #[test]
    fn the_autotuner_keeps_timing_only_candidates_near_the_best() {
        // Within the factor (inclusive) go on; a slower one and a failed timing do not.
        assert_eq!(
            tuning_survivors(&[4.0, 1.0, 2.0, 2.5, f64::NAN, 1.9], 2.0),
            vec![1, 2, 5]
        );
        // One candidate always survives, even alone.
        assert_eq!(tuning_survivors(&[7.0], 2.0), vec![0]);
    }
}
