//! The CPU reference: a plain, unoptimised interpreter of the graph, accumulating in f64.
//! It is the yardstick the GPU kernels are tested against (and `--backend cpu` for
//! checking a model by hand); speed is not its job. Index arithmetic that ONNX defines
//! (padding, Resize's coordinate mapping, strided copies) is resolved once in
//! [`shape`]'s plans, which both backends execute.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::shape::{
    self, Conv2d, Geometry, MatMulPlan, PadPlan, Pool2d, ResizePlan, Strided, broadcast_strides,
    contiguous_strides, pad_source,
};
use crate::graph::{Graph, Node, Op};
use crate::onnx::Tensor;

/// Activation functions shared by the reference and the fused GPU kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Identity.
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, lo), hi).
    Clip(f32, f32),
    /// x · max(0, min(1, x/6 + 1/2)).
    HardSwish,
    /// max(0, min(1, alpha·x + beta)).
    HardSigmoid(f32, f32),
    /// 1 / (1 + e^-x).
    Sigmoid,
}

impl Act {
    /// Applies the activation.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Act::None => x,
            Act::Relu => x.max(0.0),
            Act::Clip(lo, hi) => x.max(f64::from(lo)).min(f64::from(hi)),
            Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Act::HardSigmoid(a, b) => (f64::from(a) * x + f64::from(b)).clamp(0.0, 1.0),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

/// Runs the graph on `inputs` (in the graph's input order); returns its outputs.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (shapes, mut values) = bind(graph, inputs)?;
    for (node, geo) in graph.nodes.iter().zip(&shapes.geometry) {
        let out = eval(node, geo, &values, &shapes)?;
        values.insert(node.outputs[0].clone(), out);
    }
    graph
        .outputs
        .iter()
        .map(|o| {
            values
                .get(&o.name)
                .cloned()
                .ok_or_else(|| Error::tensor(&o.name, "was not computed"))
        })
        .collect()
}

/// Checks `inputs` against the graph and infers shapes; int64 inputs and inputs read only
/// as parameters (shapes, pads, scales) count as constants.
pub fn bind(graph: &Graph, inputs: &[Tensor]) -> Result<(shape::Shapes, HashMap<String, Tensor>)> {
    if inputs.len() != graph.inputs.len() {
        let names: Vec<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        return Err(Error::Model {
            model: graph.name.clone(),
            message: format!(
                "takes {} inputs ({}), {} given",
                names.len(),
                names.join(", "),
                inputs.len()
            ),
        });
    }
    let mut values: HashMap<String, Tensor> = HashMap::new();
    let mut in_shapes = HashMap::new();
    for (v, t) in graph.inputs.iter().zip(inputs) {
        if t.elem_type() != v.elem {
            return Err(Error::tensor(
                &v.name,
                format!("is {:?}, the model expects {:?}", t.elem_type(), v.elem),
            ));
        }
        in_shapes.insert(v.name.clone(), t.shape.clone());
        values.insert(v.name.clone(), t.clone());
    }
    let consts: HashMap<String, &Tensor> = values
        .iter()
        .filter(|(k, t)| t.as_i64().is_some() || graph.is_parameter(k))
        .map(|(k, v)| (k.clone(), v))
        .collect();
    let shapes = shape::infer(graph, &in_shapes, &consts)?;
    for (k, t) in &graph.initializers {
        values.insert(k.clone(), t.clone());
    }
    Ok((shapes, values))
}

fn f32_of<'a>(node: &Node, values: &'a HashMap<String, Tensor>, i: usize) -> Result<&'a [f32]> {
    let name = node
        .input(i)
        .ok_or_else(|| node.error(format!("input {i} is missing")))?;
    values
        .get(name)
        .and_then(Tensor::as_f32)
        .ok_or_else(|| node.error(format!("input '{name}' is not a float tensor")))
}

fn scalar(node: &Node, values: &HashMap<String, Tensor>, i: usize) -> Result<Option<f32>> {
    match node.input(i) {
        None => Ok(None),
        Some(_) => Ok(f32_of(node, values, i)?.first().copied()),
    }
}

/// The activation a unary node applies (Clip bounds resolved from `values`).
pub fn node_act(node: &Node, values: &HashMap<String, Tensor>) -> Result<Option<Act>> {
    Ok(Some(match &node.op {
        Op::Relu => Act::Relu,
        Op::HardSwish => Act::HardSwish,
        Op::HardSigmoid { alpha, beta } => Act::HardSigmoid(*alpha, *beta),
        Op::Sigmoid => Act::Sigmoid,
        Op::Clip { min, max } => {
            let lo = scalar(node, values, 1)?.or(*min).unwrap_or(f32::MIN);
            let hi = scalar(node, values, 2)?.or(*max).unwrap_or(f32::MAX);
            Act::Clip(lo, hi)
        }
        _ => return Ok(None),
    }))
}

fn eval(
    node: &Node,
    geo: &Geometry,
    values: &HashMap<String, Tensor>,
    shapes: &shape::Shapes,
) -> Result<Tensor> {
    let out_shape = || -> Vec<usize> { shapes.of(&node.outputs[0]).to_vec() };
    let x = || f32_of(node, values, 0);
    let data = match (&node.op, geo) {
        (Op::Conv(_), Geometry::Conv(g)) => {
            let bias = node.input(2).map(|_| f32_of(node, values, 2)).transpose()?;
            conv2d(x()?, f32_of(node, values, 1)?, bias, g, Act::None)
        }
        (Op::BatchNorm { epsilon }, _) => {
            let p: Vec<&[f32]> = (1..5)
                .map(|i| f32_of(node, values, i))
                .collect::<Result<_>>()?;
            let s = shapes.of(node.input(0).unwrap_or_default());
            batch_norm(x()?, s, p[0], p[1], p[2], p[3], *epsilon)
        }
        (Op::Add | Op::Mul, _) => {
            let (a, b) = (
                node.input(0).unwrap_or_default(),
                node.input(1).unwrap_or_default(),
            );
            let mul = matches!(node.op, Op::Mul);
            binary(
                x()?,
                shapes.of(a),
                f32_of(node, values, 1)?,
                shapes.of(b),
                &out_shape(),
                mul,
            )
        }
        (Op::GlobalAveragePool, _) => {
            let s = shapes.of(node.input(0).unwrap_or_default());
            global_avg_pool(x()?, s[0] * s[1], s[2..].iter().product())
        }
        (Op::AveragePool(_), Geometry::Pool(p)) => avg_pool(x()?, p),
        (Op::MaxPool(_), Geometry::Pool(p)) => max_pool(x()?, p),
        (_, Geometry::Copy(copies)) => {
            let mut out = vec![0f32; out_shape().iter().product()];
            for (i, c) in copies.iter().enumerate() {
                strided_copy(f32_of(node, values, i)?, c, &mut out);
            }
            out
        }
        (Op::Pad { .. }, Geometry::Pad(p)) => pad(x()?, p),
        (Op::Softmax { .. }, Geometry::Softmax { outer, len, inner }) => {
            softmax(x()?, *outer, *len, *inner)
        }
        (Op::Resize(_), Geometry::Resize(p)) => resize(x()?, p),
        (
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            },
            Geometry::Gemm { m, n, k },
        ) => {
            let c = match node.input(2) {
                Some(name) => Some((f32_of(node, values, 2)?, shapes.of(name))),
                None => None,
            };
            gemm(
                x()?,
                f32_of(node, values, 1)?,
                c,
                (*m, *n, *k),
                (*trans_a, *trans_b),
                (*alpha, *beta),
            )
        }
        (Op::MatMul, Geometry::MatMul(p)) => matmul(x()?, f32_of(node, values, 1)?, p),
        (op, _) if op.is_view() => x()?.to_vec(),
        _ => {
            let act = node_act(node, values)?.ok_or_else(|| node.error("no CPU implementation"))?;
            x()?.iter()
                .map(|&v| act.apply(f64::from(v)) as f32)
                .collect()
        }
    };
    Ok(Tensor::f32(out_shape(), data))
}

/// Direct convolution with optional bias and a fused activation.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv2d, act: Act) -> Vec<f32> {
    let (cg, mg) = (g.c / g.group, g.m / g.group);
    let mut out = vec![0f32; g.n * g.m * g.oh * g.ow];
    for n in 0..g.n {
        for m in 0..g.m {
            let grp = m / mg;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = bias.map_or(0.0, |b| f64::from(b[m]));
                    for ic in 0..cg {
                        let c = grp * cg + ic;
                        for ky in 0..g.kh {
                            let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                                if ix < 0 || ix >= g.w as isize {
                                    continue;
                                }
                                let xv = x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                                let wv = w[((m * cg + ic) * g.kh + ky) * g.kw + kx];
                                acc += f64::from(xv) * f64::from(wv);
                            }
                        }
                    }
                    out[((n * g.m + m) * g.oh + oy) * g.ow + ox] = act.apply(acc) as f32;
                }
            }
        }
    }
    out
}

/// Inference batch normalisation over axis 1.
pub fn batch_norm(
    x: &[f32],
    shape: &[usize],
    scale: &[f32],
    b: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Vec<f32> {
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / inner) % c;
            let s = f64::from(scale[ch]) / (f64::from(var[ch]) + f64::from(eps)).sqrt();
            ((f64::from(v) - f64::from(mean[ch])) * s + f64::from(b[ch])) as f32
        })
        .collect()
}

/// Element-wise add or multiply with numpy broadcasting.
pub fn binary(
    a: &[f32],
    ashape: &[usize],
    b: &[f32],
    bshape: &[usize],
    out: &[usize],
    mul: bool,
) -> Vec<f32> {
    let (sa, sb) = (
        broadcast_strides(ashape, out),
        broadcast_strides(bshape, out),
    );
    let n: usize = out.iter().product();
    (0..n)
        .map(|mut i| {
            let (mut ia, mut ib) = (0, 0);
            for d in (0..out.len()).rev() {
                let coord = i % out[d];
                i /= out[d];
                ia += coord * sa[d];
                ib += coord * sb[d];
            }
            if mul { a[ia] * b[ib] } else { a[ia] + b[ib] }
        })
        .collect()
}

/// Mean of each of `planes` planes of `size` elements.
pub fn global_avg_pool(x: &[f32], planes: usize, size: usize) -> Vec<f32> {
    (0..planes)
        .map(|p| {
            (x[p * size..(p + 1) * size]
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / size as f64) as f32
        })
        .collect()
}

/// Windowed mean (ONNX AveragePool semantics, padding and ceil mode included).
pub fn avg_pool(x: &[f32], p: &Pool2d) -> Vec<f32> {
    let mut out = vec![0f32; p.planes * p.oh * p.ow];
    for pl in 0..p.planes {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                let (mut sum, mut count, mut padded) = (0f64, 0usize, 0usize);
                for ky in 0..p.kh {
                    let iy = (oy * p.sh + ky * p.dh) as isize - p.pt as isize;
                    for kx in 0..p.kw {
                        let ix = (ox * p.sw + kx * p.dw) as isize - p.pl as isize;
                        let inside_pad = iy < (p.h + p.pb) as isize && ix < (p.w + p.pr) as isize;
                        if inside_pad {
                            padded += 1;
                        }
                        if iy >= 0 && ix >= 0 && iy < p.h as isize && ix < p.w as isize {
                            sum += f64::from(x[(pl * p.h + iy as usize) * p.w + ix as usize]);
                            count += 1;
                        }
                    }
                }
                let div = if p.count_include_pad { padded } else { count };
                out[(pl * p.oh + oy) * p.ow + ox] = if div == 0 {
                    0.0
                } else {
                    (sum / div as f64) as f32
                };
            }
        }
    }
    out
}

/// alpha · A' · B' + beta · C.
pub fn gemm(
    a: &[f32],
    b: &[f32],
    c: Option<(&[f32], &[usize])>,
    (m, n, k): (usize, usize, usize),
    (ta, tb): (bool, bool),
    (alpha, beta): (f32, f32),
) -> Vec<f32> {
    let cstr = c.map(|(_, s)| broadcast_strides(s, &[m, n]));
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f64;
            for kk in 0..k {
                let av = if ta { a[kk * m + i] } else { a[i * k + kk] };
                let bv = if tb { b[j * k + kk] } else { b[kk * n + j] };
                acc += f64::from(av) * f64::from(bv);
            }
            let mut v = f64::from(alpha) * acc;
            if let (Some((cv, _)), Some(st)) = (c, &cstr) {
                v += f64::from(beta) * f64::from(cv[i * st[0] + j * st[1]]);
            }
            out[i * n + j] = v as f32;
        }
    }
    out
}

/// Batched matrix product with broadcast batch dimensions.
pub fn matmul(a: &[f32], b: &[f32], p: &MatMulPlan) -> Vec<f32> {
    let batches: usize = p.batch.iter().product();
    let mut out = vec![0f32; batches * p.m * p.n];
    for bi in 0..batches {
        let (mut oa, mut ob, mut rest) = (0, 0, bi);
        for d in (0..p.batch.len()).rev() {
            let coord = rest % p.batch[d];
            rest /= p.batch[d];
            oa += coord * p.a_batch_strides[d];
            ob += coord * p.b_batch_strides[d];
        }
        for i in 0..p.m {
            for j in 0..p.n {
                let acc: f64 = (0..p.k)
                    .map(|kk| f64::from(a[oa + i * p.k + kk]) * f64::from(b[ob + kk * p.n + j]))
                    .sum();
                out[(bi * p.m + i) * p.n + j] = acc as f32;
            }
        }
    }
    out
}

/// Windowed maximum (ONNX MaxPool semantics: padding and ceil mode; padded positions
/// never win).
pub fn max_pool(x: &[f32], p: &Pool2d) -> Vec<f32> {
    let mut out = vec![0f32; p.planes * p.oh * p.ow];
    for pl in 0..p.planes {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                let mut best = f32::NEG_INFINITY;
                for ky in 0..p.kh {
                    let iy = (oy * p.sh + ky * p.dh) as isize - p.pt as isize;
                    for kx in 0..p.kw {
                        let ix = (ox * p.sw + kx * p.dw) as isize - p.pl as isize;
                        if iy >= 0 && ix >= 0 && iy < p.h as isize && ix < p.w as isize {
                            best = best.max(x[(pl * p.h + iy as usize) * p.w + ix as usize]);
                        }
                    }
                }
                out[(pl * p.oh + oy) * p.ow + ox] = best;
            }
        }
    }
    out
}

/// A strided copy into `out`.
pub fn strided_copy(x: &[f32], c: &Strided, out: &mut [f32]) {
    c.for_each(|s, d| out[d] = x[s]);
}

/// Pad (or crop).
pub fn pad(x: &[f32], p: &PadPlan) -> Vec<f32> {
    let n: usize = p.output.iter().product();
    let st = contiguous_strides(&p.input);
    (0..n)
        .map(|mut i| {
            let mut src = 0;
            for d in (0..p.output.len()).rev() {
                let o = (i % p.output[d]) as i64;
                i /= p.output[d];
                match pad_source(o - p.begins[d], p.input[d], p.mode) {
                    Some(k) => src += k * st[d],
                    None => return p.value,
                }
            }
            x[src]
        })
        .collect()
}

/// Softmax over `len` elements `inner` apart (max subtracted first).
pub fn softmax(x: &[f32], outer: usize, len: usize, inner: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let max = (0..len)
                .map(|k| f64::from(x[at(k)]))
                .fold(f64::MIN, f64::max);
            let sum: f64 = (0..len).map(|k| (f64::from(x[at(k)]) - max).exp()).sum();
            for k in 0..len {
                out[at(k)] = ((f64::from(x[at(k)]) - max).exp() / sum) as f32;
            }
        }
    }
    out
}

/// Resize (nearest or bilinear on the last two axes) by the plan's taps.
pub fn resize(x: &[f32], p: &ResizePlan) -> Vec<f32> {
    let [_, c, h, w] = p.input;
    let [on, oc, oh, ow] = p.output;
    let mut out = Vec::with_capacity(on * oc * oh * ow);
    for a in &p.taps[0] {
        for b in &p.taps[1] {
            let plane = (a.i0 * c + b.i0) * h * w;
            for ty in &p.taps[2] {
                for tx in &p.taps[3] {
                    if a.outside || b.outside || ty.outside || tx.outside {
                        out.push(p.extrapolation);
                        continue;
                    }
                    let v = |y: usize, xx: usize| f64::from(x[plane + y * w + xx]);
                    let value = if p.linear {
                        let (wy, wx) = (f64::from(ty.w), f64::from(tx.w));
                        let top = v(ty.i0, tx.i0) * (1.0 - wx) + v(ty.i0, tx.i1) * wx;
                        let bottom = v(ty.i1, tx.i0) * (1.0 - wx) + v(ty.i1, tx.i1) * wx;
                        top * (1.0 - wy) + bottom * wy
                    } else {
                        v(ty.i0, tx.i0)
                    };
                    out.push(value as f32);
                }
            }
        }
    }
    out
}
