//! Shape inference: from concrete input shapes, every tensor's shape and every node's
//! resolved geometry (padding, window counts, matmul batching), checked once so the
//! backends can execute without re-validating.

use std::collections::HashMap;

use super::{AutoPad, Graph, Node, Op};
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
        Op::AveragePool(a) => {
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
                count_include_pad: a.count_include_pad,
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
        Op::Reshape { allowzero } => {
            let sname = node
                .input(1)
                .ok_or_else(|| node.error("the shape input is missing"))?;
            let spec = constant(sname).and_then(Tensor::as_i64).ok_or_else(|| {
                node.error(format!(
                    "the shape input '{sname}' must be a constant int64 tensor"
                ))
            })?;
            Ok((
                reshape(&x, spec, *allowzero).map_err(|m| node.error(m))?,
                Geometry::Plain,
            ))
        }
    }
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
