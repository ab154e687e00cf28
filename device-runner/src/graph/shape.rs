//! Shape inference: from concrete input shapes, every tensor's shape and every node's
//! resolved geometry (padding, window counts, matmul batching), checked once so the
//! backends can execute without re-validating.

use std::collections::HashMap;

use super::{AutoPad, CoordMode, Graph, NearestMode, Node, Op, PadMode, ResizeAttrs, ResizeMode};
use crate::error::{Error, Result};
use crate::onnx::{Tensor, tensor::checked_numel};

/// A 2-D convolution, fully resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub m: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (h).
    pub sh: usize,
    /// Stride (w).
    pub sw: usize,
    /// Padding before (top).
    pub pt: usize,
    /// Padding before (left).
    pub pl: usize,
    /// Dilation (h).
    pub dh: usize,
    /// Dilation (w).
    pub dw: usize,
    /// Groups.
    pub group: usize,
}

impl Conv2d {
    /// A 1×1, stride-1, unpadded, ungrouped convolution: a matrix product per image.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.pt == 0
            && self.pl == 0
            && self.group == 1
            && self.oh == self.h
            && self.ow == self.w
    }

    /// One filter per channel.
    pub fn is_depthwise(&self) -> bool {
        self.group == self.c && self.m == self.c && self.group > 1
    }
}

/// A 2-D average pool, fully resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Batch × channels.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Stride (h).
    pub sh: usize,
    /// Stride (w).
    pub sw: usize,
    /// Padding top.
    pub pt: usize,
    /// Padding left.
    pub pl: usize,
    /// Padding bottom.
    pub pb: usize,
    /// Padding right.
    pub pr: usize,
    /// Dilation (h).
    pub dh: usize,
    /// Dilation (w).
    pub dw: usize,
    /// Count padding in the divisor.
    pub count_include_pad: bool,
}

/// A batched matrix product with numpy broadcasting, fully resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatMulPlan {
    /// Output batch dimensions.
    pub batch: Vec<usize>,
    /// Rows of A.
    pub m: usize,
    /// Columns of B.
    pub n: usize,
    /// Shared dimension.
    pub k: usize,
    /// Element stride of A per output batch dimension (0 where broadcast).
    pub a_batch_strides: Vec<usize>,
    /// Element stride of B per output batch dimension (0 where broadcast).
    pub b_batch_strides: Vec<usize>,
}

/// A strided copy: for every index of `dims`, element Σ iₖ·src[k] of the input goes to
/// element `dst_base` + Σ iₖ·dst[k] of the output. Transpose and DepthToSpace are one
/// (the output contiguous), Concat one per input (the input contiguous).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strided {
    /// The index space.
    pub dims: Vec<usize>,
    /// Input strides per index dimension.
    pub src: Vec<usize>,
    /// Output strides per index dimension.
    pub dst: Vec<usize>,
    /// First output element.
    pub dst_base: usize,
}

impl Strided {
    /// Elements copied.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether nothing is copied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f(source, destination)` for every element, in index order.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let n = self.len();
        let mut idx = vec![0usize; self.dims.len()];
        for _ in 0..n {
            let src: usize = idx.iter().zip(&self.src).map(|(i, s)| i * s).sum();
            let dst: usize = idx.iter().zip(&self.dst).map(|(i, s)| i * s).sum();
            f(src, self.dst_base + dst);
            for k in (0..idx.len()).rev() {
                idx[k] += 1;
                if idx[k] < self.dims[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

/// Row-major strides of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        st[k] = st[k + 1] * shape[k + 1];
    }
    st
}

/// Pad, fully resolved: output element o of an axis reads input element o − begin, mapped
/// back into the axis by the mode (or the constant, in constant mode).
#[derive(Clone, Debug, PartialEq)]
pub struct PadPlan {
    /// Input shape.
    pub input: Vec<usize>,
    /// Output shape.
    pub output: Vec<usize>,
    /// Elements added before each axis (negative: removed).
    pub begins: Vec<i64>,
    /// Fill rule.
    pub mode: PadMode,
    /// The constant (constant mode).
    pub value: f32,
}

/// The input index that padded coordinate `i` (input coordinates, may lie outside
/// `0..n`) reads, or `None` for the constant.
pub fn pad_source(i: i64, n: usize, mode: PadMode) -> Option<usize> {
    let n = n as i64;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    if n == 0 {
        return None;
    }
    Some(match mode {
        PadMode::Constant => return None,
        PadMode::Edge => i.clamp(0, n - 1) as usize,
        PadMode::Wrap => i.rem_euclid(n) as usize,
        PadMode::Reflect => {
            if n == 1 {
                0
            } else {
                // Period 2(n − 1): 0 1 … n−1 n−2 … 1 0 1 …
                let m = i.rem_euclid(2 * (n - 1));
                (if m < n { m } else { 2 * (n - 1) - m }) as usize
            }
        }
    })
}

/// One output coordinate of a resized axis: the input elements it interpolates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    /// First input element.
    pub i0: usize,
    /// Second input element (equal to `i0` when there is no interpolation).
    pub i1: usize,
    /// Weight of `i1` (the first gets 1 − w).
    pub w: f32,
    /// Outside the region of interest: the extrapolation value.
    pub outside: bool,
}

/// Resize, fully resolved on 4 axes (lower ranks padded in front with length-1 axes):
/// per axis and output coordinate its taps. Linear interpolation runs on the last two
/// axes; the first two take their first tap.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizePlan {
    /// Input shape (4-D).
    pub input: [usize; 4],
    /// Output shape (4-D).
    pub output: [usize; 4],
    /// Taps per axis, one per output coordinate.
    pub taps: [Vec<Tap>; 4],
    /// Bilinear on the last two axes (else nearest).
    pub linear: bool,
    /// Value outside the region of interest.
    pub extrapolation: f32,
}

/// Per-node resolved geometry.
#[derive(Clone, Debug, PartialEq)]
pub enum Geometry {
    /// Nothing beyond the shapes.
    Plain,
    /// Conv.
    Conv(Conv2d),
    /// AveragePool.
    Pool(Pool2d),
    /// Gemm: rows, columns, shared dimension.
    Gemm {
        /// Rows of the output.
        m: usize,
        /// Columns of the output.
        n: usize,
        /// Shared dimension.
        k: usize,
    },
    /// MatMul.
    MatMul(MatMulPlan),
    /// Transpose, DepthToSpace (one copy), Concat (one per input, in input order).
    Copy(Vec<Strided>),
    /// Pad.
    Pad(PadPlan),
    /// Softmax over `len` elements `inner` apart, `outer × inner` times.
    Softmax {
        /// Blocks before the axis.
        outer: usize,
        /// Elements normalised together.
        len: usize,
        /// Elements after the axis.
        inner: usize,
    },
    /// Resize.
    Resize(ResizePlan),
}

/// Every tensor's shape and every node's geometry.
#[derive(Clone, Debug, Default)]
pub struct Shapes {
    /// Tensor name → shape.
    pub tensors: HashMap<String, Vec<usize>>,
    /// Geometry per node, in node order.
    pub geometry: Vec<Geometry>,
}

impl Shapes {
    /// The shape of `name` (known after inference for every tensor of the graph).
    pub fn of(&self, name: &str) -> &[usize] {
        self.tensors.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Output size and (begin, end) padding of one spatial axis.
pub fn axis_geometry(
    input: usize,
    k: usize,
    s: usize,
    d: usize,
    pads: (usize, usize),
    auto: AutoPad,
    ceil: bool,
) -> Option<(usize, usize, usize)> {
    let span = (k - 1).checked_mul(d)? + 1;
    let (pb, pe) = match auto {
        AutoPad::NotSet => pads,
        AutoPad::Valid => (0, 0),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let out = input.div_ceil(s);
            let total = ((out.saturating_sub(1)) * s + span).saturating_sub(input);
            let small = total / 2;
            if auto == AutoPad::SameUpper {
                (small, total - small)
            } else {
                (total - small, small)
            }
        }
    };
    let padded = input + pb + pe;
    if padded < span {
        return None;
    }
    let mut out = if ceil {
        (padded - span).div_ceil(s) + 1
    } else {
        (padded - span) / s + 1
    };
    // A window may not start in the end padding (ONNX and PyTorch agree).
    if ceil && (out - 1) * s >= input + pb {
        out -= 1;
    }
    Some((out, pb, pe))
}

/// numpy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let y = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (x, y) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// Element strides of `shape` broadcast to `out` (0 on broadcast dimensions), aligned to
/// `out`'s rank.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let o = i + out.len() - shape.len();
        strides[o] = if shape[i] == 1 && out[o] != 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

/// Infers shapes. `inputs` gives each graph input's shape; `consts` holds tensors known
/// before running (initializers are added here; int64 inputs such as Reshape's shape
/// may be passed in).
pub fn infer(
    graph: &Graph,
    inputs: &HashMap<String, Vec<usize>>,
    consts: &HashMap<String, &Tensor>,
) -> Result<Shapes> {
    let mut shapes = Shapes::default();
    for v in &graph.inputs {
        let s = inputs
            .get(&v.name)
            .ok_or_else(|| Error::tensor(&v.name, "no shape given for this graph input"))?;
        if let Some(decl) = &v.shape {
            let fits =
                decl.len() == s.len() && decl.iter().zip(s).all(|(d, &x)| d.is_none_or(|d| d == x));
            if !fits {
                return Err(Error::tensor(
                    &v.name,
                    format!("shape {s:?} does not fit the declared {}", show_decl(decl)),
                ));
            }
        }
        checked_numel(s)
            .ok_or_else(|| Error::tensor(&v.name, format!("shape {s:?} is too large")))?;
        shapes.tensors.insert(v.name.clone(), s.clone());
    }
    for (name, t) in &graph.initializers {
        shapes.tensors.insert(name.clone(), t.shape.clone());
    }
    let constant = |name: &str| -> Option<&Tensor> {
        graph
            .initializers
            .get(name)
            .or_else(|| consts.get(name).copied())
    };
    for node in &graph.nodes {
        let (shape, geo) = infer_node(node, &shapes, &constant)?;
        checked_numel(&shape)
            .ok_or_else(|| node.error(format!("output shape {shape:?} is too large")))?;
        shapes.tensors.insert(node.outputs[0].clone(), shape);
        shapes.geometry.push(geo);
    }
    Ok(shapes)
}

fn show_decl(decl: &[Option<usize>]) -> String {
    let parts: Vec<String> = decl
        .iter()
        .map(|d| d.map_or("?".into(), |n| n.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn infer_node<'t>(
    node: &Node,
    shapes: &Shapes,
    constant: &dyn Fn(&str) -> Option<&'t Tensor>,
) -> Result<(Vec<usize>, Geometry)> {
    let input = |i: usize| -> Result<&[usize]> {
        let name = node
            .input(i)
            .ok_or_else(|| node.error(format!("input {i} is missing")))?;
        Ok(shapes.of(name))
    };
    let x = input(0)?.to_vec();
    match &node.op {
        Op::Conv(a) => {
            let w = input(1)?;
            if x.len() != 4 || w.len() != 4 {
                return Err(node.error(format!("only 2-D convolution (4-D input and weight) is supported; input {x:?}, weight {w:?}")));
            }
            let (n, c, h, wd) = (x[0], x[1], x[2], x[3]);
            let (m, cg, kh, kw) = (w[0], w[1], w[2], w[3]);
            if let Some(ks) = a.kernel_shape
                && ks != [kh, kw]
            {
                return Err(node.error(format!(
                    "kernel_shape {ks:?} disagrees with the weight {w:?}"
                )));
            }
            if c % a.group != 0 || m % a.group != 0 || cg * a.group != c {
                return Err(node.error(format!(
                    "{c} input channels, {m} filters of {cg} channels do not fit group {}",
                    a.group
                )));
            }
            if let Some(b) = node.input(2)
                && shapes.of(b) != [m]
            {
                return Err(node.error(format!("bias shape {:?} should be [{m}]", shapes.of(b))));
            }
            let geo = |dim: &str, i: usize, k: usize| {
                axis_geometry(
                    x[2 + i],
                    k,
                    a.strides[i],
                    a.dilations[i],
                    (a.pads[i], a.pads[i + 2]),
                    a.auto_pad,
                    false,
                )
                .ok_or_else(|| {
                    node.error(format!(
                        "the {dim} kernel (with dilation) is larger than the padded input"
                    ))
                })
            };
            let (oh, pt, _) = geo("vertical", 0, kh)?;
            let (ow, pl, _) = geo("horizontal", 1, kw)?;
            let conv = Conv2d {
                n,
                c,
                h,
                w: wd,
                m,
                oh,
                ow,
                kh,
                kw,
                sh: a.strides[0],
                sw: a.strides[1],
                pt,
                pl,
                dh: a.dilations[0],
                dw: a.dilations[1],
                group: a.group,
            };
            Ok((vec![n, m, oh, ow], Geometry::Conv(conv)))
        }
        Op::BatchNorm { .. } => {
            if x.len() < 2 {
                return Err(node.error(format!("input {x:?} has no channel axis")));
            }
            for i in 1..5 {
                if input(i)? != [x[1]] {
                    return Err(node.error(format!(
                        "parameter input {i} has shape {:?}, expected [{}]",
                        input(i)?,
                        x[1]
                    )));
                }
            }
            Ok((x, Geometry::Plain))
        }
        Op::Relu | Op::HardSwish | Op::HardSigmoid { .. } | Op::Sigmoid | Op::Identity => {
            Ok((x, Geometry::Plain))
        }
        Op::Clip { .. } => {
            for i in 1..3 {
                if let Some(b) = node.input(i)
                    && checked_numel(shapes.of(b)) != Some(1)
                {
                    return Err(node.error(format!(
                        "bound input '{b}' must be a scalar, has shape {:?}",
                        shapes.of(b)
                    )));
                }
            }
            Ok((x, Geometry::Plain))
        }
        Op::Add | Op::Mul => {
            let y = input(1)?;
            let out = broadcast(&x, y)
                .ok_or_else(|| node.error(format!("shapes {x:?} and {y:?} do not broadcast")))?;
            Ok((out, Geometry::Plain))
        }
        Op::GlobalAveragePool => {
            if x.len() < 3 {
                return Err(node.error(format!("input {x:?} has no spatial axes")));
            }
            let mut out = x.clone();
            out[2..].iter_mut().for_each(|d| *d = 1);
            Ok((out, Geometry::Plain))
        }
        Op::AveragePool(a) | Op::MaxPool(a) => {
            if x.len() != 4 {
                return Err(node.error(format!(
                    "only 2-D pooling (4-D input) is supported; input {x:?}"
                )));
            }
            let geo = |i: usize| {
                axis_geometry(
                    x[2 + i],
                    a.kernel_shape[i],
                    a.strides[i],
                    a.dilations[i],
                    (a.pads[i], a.pads[i + 2]),
                    a.auto_pad,
                    a.ceil_mode,
                )
                .ok_or_else(|| node.error("the window is larger than the padded input"))
            };
            let (oh, pt, pb) = geo(0)?;
            let (ow, pl, pr) = geo(1)?;
            let pool = Pool2d {
                planes: x[0] * x[1],
                h: x[2],
                w: x[3],
                oh,
                ow,
                kh: a.kernel_shape[0],
                kw: a.kernel_shape[1],
                sh: a.strides[0],
                sw: a.strides[1],
                pt,
                pl,
                pb,
                pr,
                dh: a.dilations[0],
                dw: a.dilations[1],
                count_include_pad: a.count_include_pad && matches!(node.op, Op::AveragePool(_)),
            };
            Ok((vec![x[0], x[1], oh, ow], Geometry::Pool(pool)))
        }
        Op::Gemm {
            trans_a, trans_b, ..
        } => {
            let b = input(1)?;
            if x.len() != 2 || b.len() != 2 {
                return Err(node.error(format!("Gemm takes 2-D inputs; got {x:?} and {b:?}")));
            }
            let (m, k) = if *trans_a { (x[1], x[0]) } else { (x[0], x[1]) };
            let (k2, n) = if *trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
            if k != k2 {
                return Err(node.error(format!(
                    "inner dimensions differ: A gives {k}, B gives {k2}"
                )));
            }
            if let Some(c) = node.input(2) {
                let cs = shapes.of(c);
                if cs.len() > 2 || broadcast(cs, &[m, n]).as_deref() != Some(&[m, n][..]) {
                    return Err(node.error(format!(
                        "C of shape {cs:?} does not broadcast to [{m}, {n}]"
                    )));
                }
            }
            Ok((vec![m, n], Geometry::Gemm { m, n, k }))
        }
        Op::MatMul => {
            let b = input(1)?.to_vec();
            let (plan, out) = matmul_plan(&x, &b).map_err(|m| node.error(m))?;
            Ok((out, Geometry::MatMul(plan)))
        }
        Op::Flatten { axis } => {
            let r = x.len() as i64;
            let ax = if *axis < 0 { axis + r } else { *axis };
            if !(0..=r).contains(&ax) {
                return Err(node.error(format!("axis {axis} is outside the input's rank {r}")));
            }
            let ax = ax as usize;
            Ok((
                vec![x[..ax].iter().product(), x[ax..].iter().product()],
                Geometry::Plain,
            ))
        }
        Op::Concat { axis } => {
            let ax = normalize_axis(*axis, x.len()).map_err(|m| node.error(m))?;
            let mut out = x.clone();
            out[ax] = 0;
            let mut parts = Vec::new();
            for (i, name) in node.inputs.iter().enumerate() {
                if name.is_empty() {
                    return Err(node.error(format!("input {i} is empty")));
                }
                let s = shapes.of(name);
                let fits = s.len() == x.len()
                    && s.iter()
                        .zip(&x)
                        .enumerate()
                        .all(|(k, (a, b))| k == ax || a == b);
                if !fits {
                    return Err(node.error(format!(
                        "input '{name}' of shape {s:?} does not fit {x:?} along axis {ax}"
                    )));
                }
                parts.push(s[ax]);
                out[ax] += s[ax];
            }
            let outer: usize = x[..ax].iter().product();
            let inner: usize = x[ax + 1..].iter().product();
            let mut offset = 0;
            let copies = parts
                .iter()
                .map(|&len| {
                    let c = Strided {
                        dims: vec![outer, len * inner],
                        src: vec![len * inner, 1],
                        dst: vec![out[ax] * inner, 1],
                        dst_base: offset * inner,
                    };
                    offset += len;
                    c
                })
                .collect();
            Ok((out, Geometry::Copy(copies)))
        }
        Op::Transpose { perm } => {
            let r = x.len();
            let perm: Vec<usize> = match perm {
                None => (0..r).rev().collect(),
                Some(p) => {
                    let p: Vec<usize> = p
                        .iter()
                        .map(|&a| normalize_axis(a, r))
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|m| node.error(m))?;
                    let mut seen = vec![false; r];
                    if p.len() != r || p.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
                        return Err(node.error(format!(
                            "perm {p:?} is not a permutation of the input's {r} axes"
                        )));
                    }
                    p
                }
            };
            Ok(permuted(&x, &perm))
        }
        Op::DepthToSpace { blocksize: b, crd } => {
            if x.len() != 4 || x[1] % (b * b) != 0 {
                return Err(node.error(format!(
                    "input {x:?} must be 4-D with channels divisible by blocksize² = {}",
                    b * b
                )));
            }
            let (n, c, h, w) = (x[0], x[1] / (b * b), x[2], x[3]);
            // The input viewed in 6-D, then permuted into [n, c, h, b, w, b].
            let (view, perm) = if *crd {
                (vec![n, c, *b, *b, h, w], [0, 1, 4, 2, 5, 3])
            } else {
                (vec![n, *b, *b, c, h, w], [0, 3, 4, 1, 5, 2])
            };
            let (_, geo) = permuted(&view, &perm);
            Ok((vec![n, c, h * b, w * b], geo))
        }
        Op::Squeeze { axes } => {
            let axes = match axes {
                Some(a) => Some(a.clone()),
                None => match node.input(1) {
                    Some(name) => Some(const_ints(node, constant, name)?),
                    None => None,
                },
            };
            let drop: Vec<usize> = match axes {
                None => (0..x.len()).filter(|&k| x[k] == 1).collect(),
                Some(a) => a
                    .iter()
                    .map(|&v| normalize_axis(v, x.len()))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|m| node.error(m))?,
            };
            if let Some(&k) = drop.iter().find(|&&k| x[k] != 1) {
                return Err(node.error(format!("axis {k} of {x:?} has length {}, not 1", x[k])));
            }
            let out = (0..x.len())
                .filter(|k| !drop.contains(k))
                .map(|k| x[k])
                .collect();
            Ok((out, Geometry::Plain))
        }
        Op::Unsqueeze { axes } => {
            let axes = match axes {
                Some(a) => a.clone(),
                None => {
                    let name = node
                        .input(1)
                        .ok_or_else(|| node.error("the axes input is missing"))?;
                    const_ints(node, constant, name)?
                }
            };
            let r = x.len() + axes.len();
            let mut at: Vec<usize> = axes
                .iter()
                .map(|&v| normalize_axis(v, r))
                .collect::<std::result::Result<_, _>>()
                .map_err(|m| node.error(m))?;
            at.sort_unstable();
            if at.windows(2).any(|w| w[0] == w[1]) {
                return Err(node.error(format!("axes {axes:?} repeat an axis")));
            }
            let mut rest = x.iter();
            let out = (0..r)
                .map(|k| {
                    if at.contains(&k) {
                        1
                    } else {
                        *rest.next().unwrap_or(&1)
                    }
                })
                .collect();
            Ok((out, Geometry::Plain))
        }
        Op::Softmax { axis, flatten } => {
            let ax = normalize_axis(*axis, x.len()).map_err(|m| node.error(m))?;
            let outer: usize = x[..ax].iter().product();
            let (len, inner) = if *flatten {
                (x[ax..].iter().product(), 1)
            } else {
                (x[ax], x[ax + 1..].iter().product())
            };
            Ok((x, Geometry::Softmax { outer, len, inner }))
        }
        Op::Pad { mode, pads, value } => {
            let r = x.len();
            let (pads, axes, value) = match pads {
                Some(p) => (p.clone(), (0..r).collect::<Vec<_>>(), *value),
                None => {
                    let name = node
                        .input(1)
                        .ok_or_else(|| node.error("the pads input is missing"))?;
                    let pads = const_ints(node, constant, name)?;
                    let value = match node.input(2) {
                        Some(v) => const_floats(node, constant, v)?
                            .first()
                            .copied()
                            .unwrap_or(0.0),
                        None => 0.0,
                    };
                    let axes = match node.input(3) {
                        Some(a) => const_ints(node, constant, a)?
                            .iter()
                            .map(|&v| normalize_axis(v, r))
                            .collect::<std::result::Result<_, _>>()
                            .map_err(|m| node.error(m))?,
                        None => (0..r).collect(),
                    };
                    (pads, axes, value)
                }
            };
            if pads.len() != 2 * axes.len() {
                return Err(node.error(format!(
                    "pads {pads:?} should hold {} values (begin and end of {} axes)",
                    2 * axes.len(),
                    axes.len()
                )));
            }
            let mut begins = vec![0i64; r];
            let mut out = x.clone();
            for (k, &ax) in axes.iter().enumerate() {
                let (b, e) = (pads[k], pads[k + axes.len()]);
                let len = x[ax] as i64 + b + e;
                if len < 0 {
                    return Err(node.error(format!(
                        "pads {b} and {e} remove more than the {} elements of axis {ax}",
                        x[ax]
                    )));
                }
                if *mode == PadMode::Reflect && (b.max(e) >= x[ax] as i64 && x[ax] > 1) {
                    return Err(node.error(format!(
                        "reflect pads {b} and {e} must be smaller than axis {ax}'s length {}",
                        x[ax]
                    )));
                }
                if *mode != PadMode::Constant && x[ax] == 0 && len > 0 {
                    return Err(node.error(format!("cannot {mode:?}-pad the empty axis {ax}")));
                }
                begins[ax] = b;
                out[ax] = len as usize;
            }
            let plan = PadPlan {
                input: x,
                output: out.clone(),
                begins,
                mode: *mode,
                value,
            };
            Ok((out, Geometry::Pad(plan)))
        }
        Op::Resize(a) => {
            let plan = resize_plan(node, a, &x, constant)?;
            let r = x.len();
            Ok((plan.output[4 - r..].to_vec(), Geometry::Resize(plan)))
        }
        Op::Reshape { allowzero } => {
            let sname = node
                .input(1)
                .ok_or_else(|| node.error("the shape input is missing"))?;
            let spec = const_ints(node, constant, sname)?;
            Ok((
                reshape(&x, &spec, *allowzero).map_err(|m| node.error(m))?,
                Geometry::Plain,
            ))
        }
    }
}

/// An axis in `0..rank` from ONNX's possibly negative form.
pub fn normalize_axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is outside the rank {rank}"))
    }
}

/// `shape` permuted by `perm` (output axis k is input axis perm[k]), as a copy into a
/// contiguous output.
fn permuted(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Geometry) {
    let st = contiguous_strides(shape);
    let dims: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let copy = Strided {
        src: perm.iter().map(|&a| st[a]).collect(),
        dst: contiguous_strides(&dims),
        dims: dims.clone(),
        dst_base: 0,
    };
    (dims, Geometry::Copy(vec![copy]))
}

fn const_ints<'t>(
    node: &Node,
    constant: &dyn Fn(&str) -> Option<&'t Tensor>,
    name: &str,
) -> Result<Vec<i64>> {
    constant(name)
        .and_then(Tensor::as_i64)
        .map(<[i64]>::to_vec)
        .ok_or_else(|| {
            node.error(format!(
                "input '{name}' must be a constant int64 tensor (an initializer or a fed input)"
            ))
        })
}

fn const_floats<'t>(
    node: &Node,
    constant: &dyn Fn(&str) -> Option<&'t Tensor>,
    name: &str,
) -> Result<Vec<f32>> {
    let t = constant(name).ok_or_else(|| {
        node.error(format!(
            "input '{name}' must be a constant (an initializer or a fed input)"
        ))
    })?;
    t.as_f32()
        .map(<[f32]>::to_vec)
        .ok_or_else(|| node.error(format!("input '{name}' must be float32")))
}

/// Where output coordinate `o` of a resized axis lies in the input (ONNX's
/// coordinate_transformation_mode, computed as the reference implementation does).
fn source_coordinate(
    mode: CoordMode,
    o: usize,
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
) -> f64 {
    let x = o as f64;
    let inp = input as f64;
    let out_w = scale * inp;
    match mode {
        CoordMode::AlignCorners => {
            if out_w == 1.0 {
                0.0
            } else {
                x * (inp - 1.0) / (out_w - 1.0)
            }
        }
        CoordMode::Asymmetric => x / scale,
        CoordMode::TfCropAndResize => {
            let base = if out_w == 1.0 {
                (roi.1 - roi.0) * (inp - 1.0) / 2.0
            } else {
                x * (roi.1 - roi.0) * (inp - 1.0) / (out_w - 1.0)
            };
            base + roi.0 * (inp - 1.0)
        }
        CoordMode::PytorchHalfPixel => {
            if out_w == 1.0 {
                -0.5
            } else {
                (x + 0.5) / scale - 0.5
            }
        }
        CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordMode::HalfPixelSymmetric => {
            let adjustment = output as f64 / out_w;
            let offset = inp / 2.0 * (1.0 - adjustment);
            offset + (x + 0.5) / scale - 0.5
        }
        CoordMode::TfHalfPixelForNn => (x + 0.5) / scale,
    }
}

/// The taps of one resized axis.
fn axis_taps(
    a: &ResizeAttrs,
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
) -> Vec<Tap> {
    let last = input.saturating_sub(1) as i64;
    let clamp = |i: i64| i.clamp(0, last) as usize;
    (0..output)
        .map(|o| {
            let x = source_coordinate(a.coord, o, input, output, scale, roi);
            let outside = a.coord == CoordMode::TfCropAndResize && (x < 0.0 || x > last as f64);
            let f = x.floor();
            let frac = x - f;
            let (i0, i1, w) = if frac == 0.0 {
                (clamp(f as i64), clamp(f as i64), 0.0)
            } else {
                match a.mode {
                    ResizeMode::Linear => (clamp(f as i64), clamp(f as i64 + 1), frac as f32),
                    ResizeMode::Nearest => {
                        let up = match a.nearest {
                            NearestMode::RoundPreferFloor => frac > 0.5,
                            NearestMode::RoundPreferCeil => frac >= 0.5,
                            NearestMode::Floor => false,
                            NearestMode::Ceil => true,
                        };
                        let i = clamp(f as i64 + i64::from(up));
                        (i, i, 0.0)
                    }
                }
            };
            Tap { i0, i1, w, outside }
        })
        .collect()
}

fn resize_plan<'t>(
    node: &Node,
    a: &ResizeAttrs,
    x: &[usize],
    constant: &dyn Fn(&str) -> Option<&'t Tensor>,
) -> Result<ResizePlan> {
    let r = x.len();
    if r == 0 || r > 4 {
        return Err(node.error(format!("input {x:?}: only ranks 1 to 4 are supported")));
    }
    let floats = |i: usize| -> Result<Option<Vec<f32>>> {
        let Some(name) = node.input(i) else {
            return Ok(None);
        };
        let v = const_floats(node, constant, name)?;
        Ok((!v.is_empty()).then_some(v))
    };
    let (roi, scales, sizes) = if a.legacy {
        (None, floats(1)?, None)
    } else {
        let sizes = match node.input(3) {
            Some(name) => {
                let v = const_ints(node, constant, name)?;
                (!v.is_empty()).then_some(v)
            }
            None => None,
        };
        (floats(1)?, floats(2)?, sizes)
    };
    let axes: Vec<usize> = match &a.axes {
        Some(ax) => ax
            .iter()
            .map(|&v| normalize_axis(v, r))
            .collect::<std::result::Result<_, _>>()
            .map_err(|m| node.error(m))?,
        None => (0..r).collect(),
    };
    let given = |what: &str, n: usize| -> Result<()> {
        if n != axes.len() {
            return Err(node.error(format!("{what} has {n} values for {} axes", axes.len())));
        }
        Ok(())
    };
    let mut scale = vec![1f64; r];
    let mut out = x.to_vec();
    match (&scales, &sizes) {
        (Some(s), None) => {
            given("scales", s.len())?;
            for (&ax, &v) in axes.iter().zip(s) {
                if v.is_nan() || v <= 0.0 {
                    return Err(node.error(format!("scale {v} must be positive")));
                }
                scale[ax] = f64::from(v);
                out[ax] = (f64::from(v) * x[ax] as f64) as usize;
            }
        }
        (None, Some(s)) => {
            given("sizes", s.len())?;
            for (&ax, &v) in axes.iter().zip(s) {
                if v <= 0 || x[ax] == 0 {
                    return Err(node.error(format!(
                        "size {v} of axis {ax} (input length {}) must be positive",
                        x[ax]
                    )));
                }
                scale[ax] = v as f64 / x[ax] as f64;
                out[ax] = v as usize;
            }
            if let Some(smaller) = a.keep_aspect {
                let pick = axes.iter().map(|&ax| scale[ax]);
                let s = if smaller {
                    pick.fold(f64::MIN, f64::max)
                } else {
                    pick.fold(f64::MAX, f64::min)
                };
                for &ax in &axes {
                    scale[ax] = s;
                    out[ax] = (s * x[ax] as f64 + 0.5) as usize;
                }
            }
        }
        _ => {
            return Err(node.error("exactly one of scales and sizes must be given (non-empty)"));
        }
    }
    let mut rois = vec![(0f64, 1f64); r];
    if a.coord == CoordMode::TfCropAndResize {
        let roi = roi.ok_or_else(|| node.error("tf_crop_and_resize needs the roi input"))?;
        given("roi (halved)", roi.len() / 2)?;
        for (k, &ax) in axes.iter().enumerate() {
            rois[ax] = (f64::from(roi[k]), f64::from(roi[k + axes.len()]));
        }
    }
    let pad = 4 - r;
    let mut input = [1usize; 4];
    let mut output = [1usize; 4];
    input[pad..].copy_from_slice(x);
    output[pad..].copy_from_slice(&out);
    let linear = a.mode == ResizeMode::Linear;
    let taps: [Vec<Tap>; 4] = std::array::from_fn(|k| {
        if k < pad {
            vec![Tap {
                i0: 0,
                i1: 0,
                w: 0.0,
                outside: false,
            }]
        } else {
            let ax = k - pad;
            if axes.contains(&ax) {
                axis_taps(a, x[ax], out[ax], scale[ax], rois[ax])
            } else {
                // An axis not resized is not interpolated at all (the reference permutes
                // it out), whatever the coordinate mapping would make of scale 1.
                (0..x[ax])
                    .map(|i| Tap {
                        i0: i,
                        i1: i,
                        w: 0.0,
                        outside: false,
                    })
                    .collect()
            }
        }
    });
    if linear && let Some(k) = (0..2).find(|&k| taps[k].iter().any(|t| t.w != 0.0 && t.i0 != t.i1))
    {
        return Err(node.error(format!(
            "linear interpolation along axis {} is not supported (only along the last two)",
            k as i64 - pad as i64
        )));
    }
    Ok(ResizePlan {
        input,
        output,
        taps,
        linear,
        extrapolation: a.extrapolation,
    })
}

/// The output shape of Reshape.
pub fn reshape(
    x: &[usize],
    spec: &[i64],
    allowzero: bool,
) -> std::result::Result<Vec<usize>, String> {
    let total: usize = x.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            -1 => return Err(format!("shape {spec:?} has more than one -1")),
            0 if !allowzero => out.push(*x.get(i).ok_or_else(|| {
                format!("shape {spec:?} copies dimension {i}, which the input {x:?} lacks")
            })?),
            d if d >= 0 => out.push(d as usize),
            d => return Err(format!("invalid dimension {d} in {spec:?}")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer_at {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot infer -1: {total} elements into {spec:?}"));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(format!("{x:?} ({total} elements) cannot become {out:?}"));
    }
    Ok(out)
}

/// Plans numpy matmul of shapes `a` and `b`; returns the plan and the output shape.
pub fn matmul_plan(
    a: &[usize],
    b: &[usize],
) -> std::result::Result<(MatMulPlan, Vec<usize>), String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul inputs must have at least one dimension".into());
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!("inner dimensions differ: {a:?} × {b:?}"));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast(ab, bb)
        .ok_or_else(|| format!("batch dimensions of {a:?} and {b:?} do not broadcast"))?;
    let stride_of = |own: &[usize], mat: usize| -> Vec<usize> {
        let mut st = broadcast_strides(own, &batch);
        st.iter_mut().for_each(|s| *s *= mat);
        st
    };
    let plan = MatMulPlan {
        a_batch_strides: stride_of(ab, m * k),
        b_batch_strides: stride_of(bb, k * n),
        batch: batch.clone(),
        m,
        n,
        k,
    };
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok((plan, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_and_ceil_mode_follow_onnx() {
        // SAME_UPPER, 5 wide, kernel 3, stride 2 → 3 outputs, pads (1, 1).
        assert_eq!(
            axis_geometry(5, 3, 2, 1, (0, 0), AutoPad::SameUpper, false),
            Some((3, 1, 1))
        );
        // 4 wide: total pad 1, SAME_UPPER puts it at the end, SAME_LOWER at the start.
        assert_eq!(
            axis_geometry(4, 3, 2, 1, (0, 0), AutoPad::SameUpper, false),
            Some((2, 0, 1))
        );
        assert_eq!(
            axis_geometry(4, 3, 2, 1, (0, 0), AutoPad::SameLower, false),
            Some((2, 1, 0))
        );
        // ceil mode: 4 wide, window 3, stride 2: floor gives 1, ceil 2.
        assert_eq!(
            axis_geometry(4, 3, 2, 1, (0, 0), AutoPad::NotSet, true).map(|g| g.0),
            Some(2)
        );
        // the last window would start in the end padding: dropped.
        assert_eq!(
            axis_geometry(5, 2, 2, 1, (0, 1), AutoPad::NotSet, true).map(|g| g.0),
            Some(3)
        );
        assert_eq!(
            axis_geometry(2, 5, 1, 1, (0, 0), AutoPad::NotSet, false),
            None
        );
    }

    #[test]
    fn pad_modes_follow_numpy() {
        // np.pad([1, 2, 3], 3, mode=…) read back as source indices.
        let row =
            |mode| -> Vec<Option<usize>> { (-3..6).map(|i| pad_source(i, 3, mode)).collect() };
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        assert_eq!(row(PadMode::Reflect), s(&[1, 2, 1, 0, 1, 2, 1, 0, 1]));
        assert_eq!(row(PadMode::Edge), s(&[0, 0, 0, 0, 1, 2, 2, 2, 2]));
        assert_eq!(row(PadMode::Wrap), s(&[0, 1, 2, 0, 1, 2, 0, 1, 2]));
        assert_eq!(row(PadMode::Constant)[..4], [None, None, None, Some(0)]);
        assert_eq!(pad_source(-2, 1, PadMode::Reflect), Some(0));
    }

    #[test]
    fn broadcasting_and_reshape() {
        assert_eq!(broadcast(&[2, 3, 4], &[4]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[1, 3, 1], &[2, 1, 5]), Some(vec![2, 3, 5]));
        assert_eq!(broadcast(&[2, 3], &[3, 2]), None);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(reshape(&[2, 3, 4], &[0, -1], false), Ok(vec![2, 12]));
        assert_eq!(reshape(&[0, 3], &[3, 0], true), Ok(vec![3, 0]));
        assert!(reshape(&[2, 3], &[-1, -1], false).is_err());
        assert!(reshape(&[2, 3], &[4], false).is_err());
    }

    #[test]
    fn matmul_handles_vectors_and_batches() {
        let (p, out) = matmul_plan(&[3], &[3]).unwrap();
        assert_eq!((out, p.m, p.n, p.k), (vec![], 1, 1, 3));
        let (p, out) = matmul_plan(&[2, 1, 3, 4], &[5, 4, 6]).unwrap();
        assert_eq!(out, vec![2, 5, 3, 6]);
        assert_eq!(p.a_batch_strides, vec![12, 0]);
        assert_eq!(p.b_batch_strides, vec![0, 24]);
        assert!(matmul_plan(&[2, 3], &[4, 5]).is_err());
    }
}
