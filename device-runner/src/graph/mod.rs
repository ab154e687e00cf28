//! The runner's model of an ONNX graph: nodes with typed operators (attributes parsed
//! and checked once, errors naming the node), initializers, inputs and outputs. Both the
//! CPU reference and the wgpu backend execute this form; [`shape`] infers every tensor's
//! shape for given input shapes.
//!
//! Operators (float32, 2-D images in NCHW): Conv, BatchNormalization (inference), Relu,
//! HardSwish, HardSigmoid, Sigmoid, Clip, Add, Mul (broadcasting), GlobalAveragePool,
//! AveragePool, MaxPool, Gemm, MatMul, Softmax, Concat, Pad, Transpose, Squeeze,
//! Unsqueeze, Flatten, Reshape, Identity, Resize (nearest, linear), DepthToSpace; Constant
//! nodes become initializers. Shape-like inputs (Reshape's shape, Pad's pads, Resize's
//! scales or sizes, …) must be known before running: initializers, or graph inputs fed
//! with the model and fixed when it is compiled.

pub mod shape;

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::onnx::proto::{self, attribute_proto::AttributeType};
use crate::onnx::{ElemType, Tensor};

/// How Conv and AveragePool derive padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// Output = ceil(input / stride), extra padding at the end.
    SameUpper,
    /// Output = ceil(input / stride), extra padding at the start.
    SameLower,
    /// No padding.
    Valid,
}

/// Conv attributes (2-D).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvAttrs {
    /// Kernel height and width, when given (else from the weight's shape).
    pub kernel_shape: Option<[usize; 2]>,
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
    /// Groups.
    pub group: usize,
    /// Padding rule.
    pub auto_pad: AutoPad,
}

/// AveragePool attributes (2-D).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolAttrs {
    /// Window height and width.
    pub kernel_shape: [usize; 2],
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
    /// Round output size up instead of down.
    pub ceil_mode: bool,
    /// Count padding in the divisor.
    pub count_include_pad: bool,
    /// Padding rule.
    pub auto_pad: AutoPad,
}

/// How Pad fills what lies outside the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// A constant.
    Constant,
    /// Mirrored about the edge, the edge not repeated.
    Reflect,
    /// The edge value repeated.
    Edge,
    /// The other end of the axis (periodic).
    Wrap,
}

/// Resize's interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// The nearest input element (rounded by `NearestMode`).
    Nearest,
    /// Linear in each resized axis (bilinear for images).
    Linear,
}

/// How Resize maps an output coordinate to an input one (ONNX's
/// `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    /// (x + 0.5) / scale − 0.5.
    HalfPixel,
    /// Half-pixel, re-centred when the output size was rounded.
    HalfPixelSymmetric,
    /// Half-pixel, but 0 for an output of length 1 (PyTorch).
    PytorchHalfPixel,
    /// x · (in − 1) / (out − 1).
    AlignCorners,
    /// x / scale.
    Asymmetric,
    /// (x + 0.5) / scale.
    TfHalfPixelForNn,
    /// Within the region of interest, outside it the extrapolation value.
    TfCropAndResize,
}

/// How nearest-neighbour Resize rounds a fractional coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    /// Round, halves down.
    RoundPreferFloor,
    /// Round, halves up.
    RoundPreferCeil,
    /// Down.
    Floor,
    /// Up.
    Ceil,
}

/// Resize attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizeAttrs {
    /// Interpolation.
    pub mode: ResizeMode,
    /// Coordinate mapping.
    pub coord: CoordMode,
    /// Rounding of nearest-neighbour coordinates.
    pub nearest: NearestMode,
    /// Value outside the region of interest (tf_crop_and_resize).
    pub extrapolation: f32,
    /// With `sizes`: keep the aspect ratio, fitting inside ("not_larger") or around
    /// ("not_smaller") the sizes; `None` stretches.
    pub keep_aspect: Option<bool>,
    /// The axes `scales`/`sizes`/`roi` refer to (opset 18), else all.
    pub axes: Option<Vec<i64>>,
    /// Opset 10: inputs are (X, scales), no roi.
    pub legacy: bool,
}

/// An operator with its attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Convolution: X, W, optional B.
    Conv(ConvAttrs),
    /// Batch normalisation with running statistics: X, scale, B, mean, var.
    BatchNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// max(x, 0).
    Relu,
    /// x · max(0, min(1, x/6 + 1/2)).
    HardSwish,
    /// max(0, min(1, alpha·x + beta)).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// min(max(x, min), max); bounds from inputs (opset ≥ 11) or attributes.
    Clip {
        /// Lower bound from the attribute (opset < 11).
        min: Option<f32>,
        /// Upper bound from the attribute (opset < 11).
        max: Option<f32>,
    },
    /// Element-wise sum with broadcasting.
    Add,
    /// Element-wise product with broadcasting.
    Mul,
    /// Mean over H and W.
    GlobalAveragePool,
    /// Windowed mean.
    AveragePool(PoolAttrs),
    /// Windowed maximum (padding never wins).
    MaxPool(PoolAttrs),
    /// alpha · A' · B' + beta · C.
    Gemm {
        /// Scale of the product.
        alpha: f32,
        /// Scale of C.
        beta: f32,
        /// Transpose A.
        trans_a: bool,
        /// Transpose B.
        trans_b: bool,
    },
    /// numpy matmul.
    MatMul,
    /// To 2-D at `axis`.
    Flatten {
        /// Split point (negative counts from the end).
        axis: i64,
    },
    /// The input, unchanged.
    Identity,
    /// To the shape given by the second input.
    Reshape {
        /// A 0 in the shape means 0, not "copy".
        allowzero: bool,
    },
    /// The inputs joined along `axis`.
    Concat {
        /// The joining axis (negative counts from the end).
        axis: i64,
    },
    /// Padding (or cropping, with negative pads) of every axis.
    Pad {
        /// What fills the border.
        mode: PadMode,
        /// Pads from the attribute (opset < 11); else the second input.
        pads: Option<Vec<i64>>,
        /// The constant from the attribute (opset < 11); else the third input.
        value: f32,
    },
    /// exp(x) / Σ exp(x) along `axis`.
    Softmax {
        /// The axis (negative counts from the end).
        axis: i64,
        /// Opset < 13: the input is flattened to 2-D at `axis` and normalised per row.
        flatten: bool,
    },
    /// Axes permuted.
    Transpose {
        /// The permutation; `None` reverses the axes.
        perm: Option<Vec<i64>>,
    },
    /// Axes of length 1 removed.
    Squeeze {
        /// From the attribute (opset < 13); else the optional second input; all axes of
        /// length 1 when neither.
        axes: Option<Vec<i64>>,
    },
    /// Axes of length 1 inserted.
    Unsqueeze {
        /// From the attribute (opset < 13); else the second input.
        axes: Option<Vec<i64>>,
    },
    /// Interpolation to new sizes.
    Resize(ResizeAttrs),
    /// Channels rearranged into blocks of pixels.
    DepthToSpace {
        /// Block edge.
        blocksize: usize,
        /// Column-row-depth order (mode CRD) instead of depth-column-row (DCR).
        crd: bool,
    },
}

impl Op {
    /// The ONNX operator name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::BatchNorm { .. } => "BatchNormalization",
            Op::Relu => "Relu",
            Op::HardSwish => "HardSwish",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::Sigmoid => "Sigmoid",
            Op::Clip { .. } => "Clip",
            Op::Add => "Add",
            Op::Mul => "Mul",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::AveragePool(_) => "AveragePool",
            Op::MaxPool(_) => "MaxPool",
            Op::Gemm { .. } => "Gemm",
            Op::MatMul => "MatMul",
            Op::Flatten { .. } => "Flatten",
            Op::Reshape { .. } => "Reshape",
            Op::Identity => "Identity",
            Op::Concat { .. } => "Concat",
            Op::Pad { .. } => "Pad",
            Op::Softmax { .. } => "Softmax",
            Op::Transpose { .. } => "Transpose",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Resize(_) => "Resize",
            Op::DepthToSpace { .. } => "DepthToSpace",
        }
    }

    /// Whether input `i` is a parameter (a shape, pads, scales, axes, a fill value)
    /// rather than data: it must be known when the graph is compiled.
    pub fn parameter_input(&self, i: usize) -> bool {
        match self {
            Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => i == 1,
            Op::Pad { .. } | Op::Resize(_) => i >= 1,
            _ => false,
        }
    }

    /// Whether the operator only renames its input's memory (a view: same elements, same
    /// order).
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Identity
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. }
        )
    }

    /// Every operator type the runner executes (Constant nodes become initializers
    /// when the graph is read).
    pub const SUPPORTED: [&'static str; 26] = [
        "Constant",
        "Conv",
        "BatchNormalization",
        "Relu",
        "HardSwish",
        "HardSigmoid",
        "Sigmoid",
        "Clip",
        "Add",
        "Mul",
        "GlobalAveragePool",
        "AveragePool",
        "Gemm",
        "MatMul",
        "Flatten",
        "Reshape",
        "Identity",
        "MaxPool",
        "Concat",
        "Pad",
        "Softmax",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Resize",
        "DepthToSpace",
    ];
}

/// One node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's name, or its first output's when the model leaves it unnamed.
    pub name: String,
    /// What it computes.
    pub op: Op,
    /// Input tensor names; `""` marks an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
}

impl Node {
    /// The `i`-th input, when present and not omitted.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::node(&self.name, self.op.name(), message)
    }
}

/// A graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub elem: ElemType,
    /// Dimensions: `Some(n)` fixed, `None` symbolic or unknown; `None` overall when the
    /// model gives no shape.
    pub shape: Option<Vec<Option<usize>>>,
}

/// A parsed graph, nodes in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The model's name (graph name, else the file).
    pub name: String,
    /// Inputs to feed (graph inputs that are not initializers), in order.
    pub inputs: Vec<ValueInfo>,
    /// Outputs, in order.
    pub outputs: Vec<ValueInfo>,
    /// Constant tensors.
    pub initializers: HashMap<String, Tensor>,
    /// The nodes, topologically ordered.
    pub nodes: Vec<Node>,
}

/// The default-domain opset versions the runner understands: the operators' semantics
/// have not changed over this range for float tensors (older attribute forms such as
/// Clip's min/max are read; Reshape's pre-5 `shape` attribute is refused by name).
pub const OPSET_RANGE: std::ops::RangeInclusive<i64> = 6..=25;

impl Graph {
    /// Reads a model; `what` names it in errors.
    pub fn from_model(model: &proto::ModelProto, what: &str) -> Result<Graph> {
        let merr = |m: String| Error::Model {
            model: what.to_string(),
            message: m,
        };
        let opset = model
            .opset_import
            .iter()
            .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
            .and_then(|o| o.version)
            .ok_or_else(|| merr("imports no default-domain opset".into()))?;
        if !OPSET_RANGE.contains(&opset) {
            return Err(merr(format!(
                "opset {opset} is outside the supported {}..={}",
                OPSET_RANGE.start(),
                OPSET_RANGE.end()
            )));
        }
        let g = model
            .graph
            .as_ref()
            .ok_or_else(|| merr("has no graph".into()))?;
        let mut initializers = HashMap::new();
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            initializers.insert(name, Tensor::from_proto(t)?);
        }
        if !g.sparse_initializer.is_empty() {
            return Err(merr("sparse initializers are not supported".into()));
        }
        let inputs = g
            .input
            .iter()
            .filter(|v| !initializers.contains_key(v.name.as_deref().unwrap_or_default()))
            .map(|v| value_info(v, what))
            .collect::<Result<Vec<_>>>()?;
        let outputs = g
            .output
            .iter()
            .map(|v| value_info(v, what))
            .collect::<Result<Vec<_>>>()?;

        let mut known: HashSet<String> = initializers.keys().cloned().collect();
        known.extend(inputs.iter().map(|v| v.name.clone()));
        let mut nodes = Vec::with_capacity(g.node.len());
        for n in &g.node {
            if n.op_type.as_deref() == Some("Constant")
                && matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
            {
                // A constant is an initializer by another name: folded here, so that
                // every backend (and the fusions that look for constant weights) sees
                // it as one.
                let (out, t) = constant_node(n)?;
                if !known.insert(out.clone()) {
                    return Err(Error::node(
                        &out,
                        "Constant",
                        format!("output '{out}' is produced twice"),
                    ));
                }
                initializers.insert(out, t);
                continue;
            }
            let node = parse_node(n, opset)?;
            for i in node.inputs.iter().filter(|i| !i.is_empty()) {
                if !known.contains(i) {
                    return Err(node.error(format!("input '{i}' is not produced before this node (the graph is not topologically sorted or misses it)")));
                }
            }
            for o in &node.outputs {
                if !o.is_empty() && !known.insert(o.clone()) {
                    return Err(node.error(format!("output '{o}' is produced twice")));
                }
            }
            nodes.push(node);
        }
        for o in &outputs {
            if !known.contains(&o.name) {
                return Err(merr(format!("graph output '{}' is never produced", o.name)));
            }
        }
        let name = g
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| what.to_string());
        Ok(Graph {
            name,
            inputs,
            outputs,
            initializers,
            nodes,
        })
    }

    /// The nodes that read tensor `name`.
    pub fn consumers(&self, name: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.inputs.iter().any(|i| i == name))
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether tensor `name` is read only as a parameter (see [`Op::parameter_input`]),
    /// so a graph input of that name is fixed when the graph is compiled.
    pub fn is_parameter(&self, name: &str) -> bool {
        let mut read = false;
        for n in &self.nodes {
            for (i, input) in n.inputs.iter().enumerate() {
                if input == name {
                    if !n.op.parameter_input(i) {
                        return false;
                    }
                    read = true;
                }
            }
        }
        read && !self.is_output(name)
    }

    /// Whether `name` is a graph output.
    pub fn is_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| o.name == name)
    }
}

fn value_info(v: &proto::ValueInfoProto, what: &str) -> Result<ValueInfo> {
    let name = v.name.clone().unwrap_or_default();
    let err = |m: String| Error::Model {
        model: what.to_string(),
        message: format!("value '{name}': {m}"),
    };
    let tensor = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(t)) => t,
        _ => return Err(err("only tensor values are supported".into())),
    };
    let elem = match tensor.elem_type {
        Some(1) => ElemType::F32,
        Some(7) => ElemType::I64,
        other => {
            return Err(err(format!(
                "element type {} is not supported (float32 and int64 are)",
                other.unwrap_or(0)
            )));
        }
    };
    let shape = tensor.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(n)) if n >= 0 => {
                    Some(n as usize)
                }
                _ => None,
            })
            .collect()
    });
    Ok(ValueInfo { name, elem, shape })
}

/// A Constant node's output name and value: its `value` tensor, or `value_float(s)` /
/// `value_int(s)`; sparse and string values are refused, naming the node.
fn constant_node(n: &proto::NodeProto) -> Result<(String, Tensor)> {
    let out = n.output.first().cloned().unwrap_or_default();
    let name = n
        .name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| out.clone());
    let fail = |m: &str| Error::node(&name, "Constant", m.to_string());
    if out.is_empty() {
        return Err(fail("has no output"));
    }
    let [a] = n.attribute.as_slice() else {
        return Err(fail("needs exactly one value attribute"));
    };
    let t = match a.name.as_deref().unwrap_or_default() {
        "value" => Tensor::from_proto(
            a.t.as_ref()
                .ok_or_else(|| fail("'value' holds no tensor"))?,
        )?,
        "value_float" => Tensor::f32(vec![], vec![a.f.unwrap_or(0.0)]),
        "value_floats" => Tensor::f32(vec![a.floats.len()], a.floats.clone()),
        "value_int" => Tensor::i64(vec![], vec![a.i.unwrap_or(0)]),
        "value_ints" => Tensor::i64(vec![a.ints.len()], a.ints.clone()),
        other => {
            return Err(fail(&format!(
                "attribute '{other}' is not supported (sparse and string constants are not)"
            )));
        }
    };
    Ok((out, t))
}

/// Typed attribute access for one node, with errors naming node and attribute.
struct Attrs<'a> {
    node: &'a proto::NodeProto,
    name: String,
    op: String,
}

impl<'a> Attrs<'a> {
    fn get(&self, key: &str) -> Option<&'a proto::AttributeProto> {
        self.node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(key))
    }

    fn err(&self, key: &str, m: impl std::fmt::Display) -> Error {
        Error::node(&self.name, &self.op, format!("attribute '{key}': {m}"))
    }

    fn kind(&self, a: &proto::AttributeProto) -> Option<AttributeType> {
        a.r#type.and_then(|t| AttributeType::try_from(t).ok())
    }

    fn int(&self, key: &str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(a)
                if self.kind(a) == Some(AttributeType::Int)
                    || (a.r#type.is_none() && a.i.is_some()) =>
            {
                Ok(a.i.unwrap_or(0))
            }
            Some(_) => Err(self.err(key, "expected an integer")),
        }
    }

    fn float(&self, key: &str, default: f32) -> Result<f32> {
        match self.get(key) {
            None => Ok(default),
            Some(a)
                if self.kind(a) == Some(AttributeType::Float)
                    || (a.r#type.is_none() && a.f.is_some()) =>
            {
                Ok(a.f.unwrap_or(0.0))
            }
            Some(_) => Err(self.err(key, "expected a float")),
        }
    }

    fn opt_float(&self, key: &str) -> Result<Option<f32>> {
        self.get(key).map(|_| self.float(key, 0.0)).transpose()
    }

    fn ints(&self, key: &str) -> Result<Option<Vec<i64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(a) if self.kind(a) == Some(AttributeType::Ints) || a.r#type.is_none() => {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => Err(self.err(key, "expected a list of integers")),
        }
    }

    fn string(&self, key: &str, default: &str) -> Result<String> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(a)
                if self.kind(a) == Some(AttributeType::String)
                    || (a.r#type.is_none() && a.s.is_some()) =>
            {
                String::from_utf8(a.s.clone().unwrap_or_default())
                    .map_err(|_| self.err(key, "not UTF-8"))
            }
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }

    /// A list of exactly `n` non-negative integers (2-D spatial attributes), or `default`.
    fn spatial<const N: usize>(&self, key: &str, default: [usize; N]) -> Result<[usize; N]> {
        let Some(v) = self.ints(key)? else {
            return Ok(default);
        };
        if v.len() != N {
            return Err(self.err(
                key,
                format!("expected {N} values for 2-D images, got {v:?}"),
            ));
        }
        let mut out = [0usize; N];
        for (o, &x) in out.iter_mut().zip(&v) {
            *o = usize::try_from(x)
                .map_err(|_| self.err(key, format!("negative value in {v:?}")))?;
        }
        Ok(out)
    }

    fn auto_pad(&self) -> Result<AutoPad> {
        match self.string("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" | "" => Ok(AutoPad::NotSet),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            "VALID" => Ok(AutoPad::Valid),
            other => Err(self.err("auto_pad", format!("unknown value '{other}'"))),
        }
    }

    fn positive<const N: usize>(&self, key: &str, v: [usize; N]) -> Result<[usize; N]> {
        if v.contains(&0) {
            return Err(self.err(key, format!("values must be at least 1, got {v:?}")));
        }
        Ok(v)
    }
}

fn parse_node(n: &proto::NodeProto, opset: i64) -> Result<Node> {
    let op_type = n.op_type.clone().unwrap_or_default();
    let outputs: Vec<String> = n.output.clone();
    let name = n
        .name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| outputs.first().cloned())
        .unwrap_or_else(|| "(unnamed)".into());
    if !matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx")) {
        return Err(Error::node(
            &name,
            &op_type,
            format!(
                "domain '{}' is not supported",
                n.domain.as_deref().unwrap_or("")
            ),
        ));
    }
    let a = Attrs {
        node: n,
        name: name.clone(),
        op: op_type.clone(),
    };
    let op = match op_type.as_str() {
        "Conv" => Op::Conv(ConvAttrs {
            kernel_shape: a
                .ints("kernel_shape")?
                .map(|_| a.spatial("kernel_shape", [1, 1]))
                .transpose()?,
            strides: a.positive("strides", a.spatial("strides", [1, 1])?)?,
            pads: a.spatial("pads", [0; 4])?,
            dilations: a.positive("dilations", a.spatial("dilations", [1, 1])?)?,
            group: usize::try_from(a.int("group", 1)?)
                .ok()
                .filter(|&g| g >= 1)
                .ok_or_else(|| a.err("group", "must be at least 1"))?,
            auto_pad: a.auto_pad()?,
        }),
        "BatchNormalization" => {
            if a.int("training_mode", 0)? != 0
                || outputs.iter().filter(|o| !o.is_empty()).count() > 1
            {
                return Err(Error::node(
                    &name,
                    &op_type,
                    "training mode is not supported (inference only)",
                ));
            }
            if opset < 7 && a.int("is_test", 1)? == 0 {
                return Err(a.err("is_test", "training mode is not supported (inference only)"));
            }
            if opset < 9 && a.int("spatial", 1)? != 1 {
                return Err(a.err("spatial", "only spatial=1 is supported"));
            }
            Op::BatchNorm {
                epsilon: a.float("epsilon", 1e-5)?,
            }
        }
        "Relu" => Op::Relu,
        "HardSwish" => Op::HardSwish,
        "HardSigmoid" => Op::HardSigmoid {
            alpha: a.float("alpha", 0.2)?,
            beta: a.float("beta", 0.5)?,
        },
        "Sigmoid" => Op::Sigmoid,
        "Clip" => Op::Clip {
            min: a.opt_float("min")?,
            max: a.opt_float("max")?,
        },
        "Add" | "Mul" => {
            if a.get("broadcast").is_some() || a.get("axis").is_some() {
                return Err(Error::node(
                    &name,
                    &op_type,
                    "legacy broadcast/axis attributes (opset < 7) are not supported",
                ));
            }
            if op_type == "Add" { Op::Add } else { Op::Mul }
        }
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "AveragePool" | "MaxPool" => {
            let pool = PoolAttrs {
                kernel_shape: a.positive("kernel_shape", a.spatial("kernel_shape", [0, 0])?)?,
                strides: a.positive("strides", a.spatial("strides", [1, 1])?)?,
                pads: a.spatial("pads", [0; 4])?,
                dilations: a.positive("dilations", a.spatial("dilations", [1, 1])?)?,
                ceil_mode: a.int("ceil_mode", 0)? != 0,
                count_include_pad: a.int("count_include_pad", 0)? != 0,
                auto_pad: a.auto_pad()?,
            };
            if op_type == "AveragePool" {
                Op::AveragePool(pool)
            } else {
                if outputs.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(Error::node(
                        &name,
                        &op_type,
                        "the Indices output is not supported",
                    ));
                }
                Op::MaxPool(pool)
            }
        }
        "Concat" => Op::Concat {
            axis: a
                .get("axis")
                .map(|_| a.int("axis", 0))
                .transpose()?
                .ok_or_else(|| a.err("axis", "is required"))?,
        },
        "Pad" => {
            let mode = match a.string("mode", "constant")?.as_str() {
                "constant" => PadMode::Constant,
                "reflect" => PadMode::Reflect,
                "edge" => PadMode::Edge,
                "wrap" => PadMode::Wrap,
                other => return Err(a.err("mode", format!("unknown value '{other}'"))),
            };
            if opset < 11 {
                Op::Pad {
                    mode,
                    pads: Some(
                        a.ints("pads")?
                            .ok_or_else(|| a.err("pads", "is required (opset < 11)"))?,
                    ),
                    value: a.float("value", 0.0)?,
                }
            } else {
                Op::Pad {
                    mode,
                    pads: None,
                    value: 0.0,
                }
            }
        }
        "Softmax" => Op::Softmax {
            axis: a.int("axis", if opset < 13 { 1 } else { -1 })?,
            flatten: opset < 13,
        },
        "Transpose" => Op::Transpose {
            perm: a.ints("perm")?,
        },
        "Squeeze" | "Unsqueeze" => {
            let axes = if opset < 13 { a.ints("axes")? } else { None };
            if op_type == "Squeeze" {
                Op::Squeeze { axes }
            } else {
                if opset < 13 && axes.is_none() {
                    return Err(a.err("axes", "is required (opset < 13)"));
                }
                Op::Unsqueeze { axes }
            }
        }
        "Resize" => Op::Resize(resize_attrs(&a, opset)?),
        "DepthToSpace" => Op::DepthToSpace {
            blocksize: usize::try_from(a.int("blocksize", 0)?)
                .ok()
                .filter(|&b| b >= 1)
                .ok_or_else(|| a.err("blocksize", "is required and must be at least 1"))?,
            crd: match a.string("mode", "DCR")?.as_str() {
                "DCR" => false,
                "CRD" => true,
                other => return Err(a.err("mode", format!("unknown value '{other}'"))),
            },
        },
        "Gemm" => Op::Gemm {
            alpha: a.float("alpha", 1.0)?,
            beta: a.float("beta", 1.0)?,
            trans_a: a.int("transA", 0)? != 0,
            trans_b: a.int("transB", 0)? != 0,
        },
        "MatMul" => Op::MatMul,
        "Flatten" => Op::Flatten {
            axis: a.int("axis", 1)?,
        },
        "Reshape" => Op::Reshape {
            allowzero: a.int("allowzero", 0)? != 0,
        },
        "Identity" => Op::Identity,
        other => {
            return Err(Error::node(
                &name,
                other,
                format!(
                    "operator {other} is not supported (supported: {})",
                    Op::SUPPORTED.join(", ")
                ),
            ));
        }
    };
    if outputs.first().is_none_or(|o| o.is_empty()) {
        return Err(Error::node(&name, &op_type, "has no output"));
    }
    Ok(Node {
        name,
        op,
        inputs: n.input.clone(),
        outputs: outputs.into_iter().take(1).collect(),
    })
}

fn resize_attrs(a: &Attrs, opset: i64) -> Result<ResizeAttrs> {
    let mode = match a.string("mode", "nearest")?.as_str() {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        other => {
            return Err(a.err(
                "mode",
                format!("'{other}' is not supported (nearest and linear are)"),
            ));
        }
    };
    if a.int("antialias", 0)? != 0 {
        return Err(a.err("antialias", "antialiasing is not supported"));
    }
    let legacy = opset < 11;
    let default_coord = if legacy { "asymmetric" } else { "half_pixel" };
    let coord = match a
        .string("coordinate_transformation_mode", default_coord)?
        .as_str()
    {
        "half_pixel" => CoordMode::HalfPixel,
        "half_pixel_symmetric" => CoordMode::HalfPixelSymmetric,
        "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
        "align_corners" => CoordMode::AlignCorners,
        "asymmetric" => CoordMode::Asymmetric,
        "tf_half_pixel_for_nn" => CoordMode::TfHalfPixelForNn,
        "tf_crop_and_resize" => CoordMode::TfCropAndResize,
        other => {
            return Err(a.err(
                "coordinate_transformation_mode",
                format!("unknown value '{other}'"),
            ));
        }
    };
    let default_nearest = if legacy {
        "floor"
    } else {
        "round_prefer_floor"
    };
    let nearest = match a.string("nearest_mode", default_nearest)?.as_str() {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => return Err(a.err("nearest_mode", format!("unknown value '{other}'"))),
    };
    let keep_aspect = match a.string("keep_aspect_ratio_policy", "stretch")?.as_str() {
        "stretch" => None,
        "not_larger" => Some(false),
        "not_smaller" => Some(true),
        other => {
            return Err(a.err(
                "keep_aspect_ratio_policy",
                format!("unknown value '{other}'"),
            ));
        }
    };
    Ok(ResizeAttrs {
        mode,
        coord,
        nearest,
        extrapolation: a.float("extrapolation_value", 0.0)?,
        keep_aspect,
        axes: a.ints("axes")?,
        legacy,
    })
}

/// Folds inference BN into convolution weights: W' = W·s, b' = (b − mean)·s + β with
/// s = γ / √(var + ε), per output channel.
pub fn fold_bn(
    w: &[f32],
    b: Option<&[f32]>,
    m: usize,
    bn: [&[f32]; 4],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let [gamma, beta, mean, var] = bn;
    let per = w.len() / m;
    let mut w2 = w.to_vec();
    let mut b2 = vec![0f32; m];
    for o in 0..m {
        let s = f64::from(gamma[o]) / (f64::from(var[o]) + f64::from(eps)).sqrt();
        for v in &mut w2[o * per..(o + 1) * per] {
            *v = (f64::from(*v) * s) as f32;
        }
        let bias = b.map_or(0.0, |b| f64::from(b[o]));
        b2[o] = ((bias - f64::from(mean[o])) * s + f64::from(beta[o])) as f32;
    }
    (w2, b2)
}
