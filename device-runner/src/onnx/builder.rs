//! Emits ONNX models for what moga measures: every LUT unit (stem, separable block,
//! MBConv block, head, fully connected layer, and the single-operator units) and whole
//! networks of any space, with random or given weights and BatchNorm folded into the
//! convolutions, as inference engines see them.
//!
//! Opset 17, IR version 8; every model passes `onnx.checker.check_model(full_check=True)`
//! (tested through the venv's Python). Tensor names follow the network's structure
//! (`layers.3.expand.w`), so weights from a trained supernet map onto them.

use lookup_tables::sr::SrNodeOp;
use lookup_tables::{Activation, Arch, Space, SplitMix64, SrArch, UnitKey, UnitKind};

use super::Tensor;
use super::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_shape_proto, type_proto,
};
use crate::error::{Error, Result};
use crate::graph::fold_bn;

/// The opset the builder writes.
pub const OPSET: i64 = 17;
/// The IR version the builder writes.
pub const IR_VERSION: i64 = 8;

/// BatchNorm parameters of one layer (running statistics).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// γ.
    pub gamma: Vec<f32>,
    /// β.
    pub beta: Vec<f32>,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running variance.
    pub var: Vec<f32>,
    /// ε.
    pub eps: f32,
}

/// Where weights come from. Names are the layer's path (`stem.conv`,
/// `layers.3.expand.bn`, `classifier`), shapes PyTorch's: convolutions
/// `[out, in/groups, k, k]`, linear layers `[out, in]`.
pub trait Weights {
    /// A convolution's weight.
    fn conv(&mut self, name: &str, shape: [usize; 4]) -> Vec<f32>;
    /// A BatchNorm's parameters.
    fn batch_norm(&mut self, name: &str, channels: usize) -> BatchNorm;
    /// A bias vector.
    fn bias(&mut self, name: &str, len: usize) -> Vec<f32>;
    /// A linear layer's weight `[out, in]`.
    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Vec<f32>;
}

/// Seeded random weights that keep activations in a sane range through deep networks:
/// weights with variance 1/fan-in, BatchNorm statistics near identity.
pub struct RandomWeights {
    rng: SplitMix64,
}

impl RandomWeights {
    /// Weights for `seed`.
    pub fn new(seed: u64) -> Self {
        RandomWeights {
            rng: SplitMix64::new(seed),
        }
    }

    fn uniform(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n)
            .map(|_| (lo + (hi - lo) * self.rng.next_f64()) as f32)
            .collect()
    }
}

impl Weights for RandomWeights {
    fn conv(&mut self, _name: &str, s: [usize; 4]) -> Vec<f32> {
        let a = (3.0 / (s[1] * s[2] * s[3]) as f64).sqrt();
        self.uniform(s.iter().product(), -a, a)
    }

    fn batch_norm(&mut self, _name: &str, c: usize) -> BatchNorm {
        BatchNorm {
            gamma: self.uniform(c, 0.5, 1.0),
            beta: self.uniform(c, -0.1, 0.1),
            mean: self.uniform(c, -0.1, 0.1),
            var: self.uniform(c, 0.5, 1.5),
            eps: 1e-5,
        }
    }

    fn bias(&mut self, _name: &str, len: usize) -> Vec<f32> {
        self.uniform(len, -0.1, 0.1)
    }

    fn linear(&mut self, _name: &str, out: usize, inp: usize) -> Vec<f32> {
        let a = (3.0 / inp as f64).sqrt();
        self.uniform(out * inp, -a, a)
    }
}

/// Given weights, PyTorch state-dict style: `name.weight`, `name.bias`,
/// `name.running_mean`, `name.running_var` → (shape, values), e.g. a path picked out of a
/// trained supernet. A tensor that is absent or of the wrong shape is recorded (the
/// builder's interface cannot fail midway) and zeros stand in; [`NamedWeights::finish`]
/// then reports every problem at once, and every tensor that was never asked for.
pub struct NamedWeights {
    tensors: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    used: std::collections::BTreeSet<String>,
    problems: Vec<String>,
    eps: f32,
}

impl NamedWeights {
    /// Weights from `tensors`; BatchNorm layers use `eps`.
    pub fn new(
        tensors: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        eps: f32,
    ) -> Self {
        NamedWeights {
            tensors,
            used: Default::default(),
            problems: Vec::new(),
            eps,
        }
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match self.tensors.get(name) {
            None => {
                self.problems
                    .push(format!("{name}: absent (wanted shape {shape:?})"));
                vec![0.0; n]
            }
            Some((have, data)) => {
                self.used.insert(name.to_string());
                // A linear layer may come as [out, in] or [out, in, 1, 1]: compare sizes
                // and the leading dimension, which is all the builder's layout depends on.
                let same = have.iter().product::<usize>() == n
                    && data.len() == n
                    && have.first() == shape.first();
                if same {
                    data.clone()
                } else {
                    self.problems.push(format!(
                        "{name}: shape {have:?}, the network needs {shape:?}"
                    ));
                    vec![0.0; n]
                }
            }
        }
    }

    /// Every tensor asked for and absent or misshapen, and every tensor given but never
    /// asked for: the weights do not belong to this network.
    pub fn finish(self, model: &str) -> Result<()> {
        let mut problems = self.problems;
        let unused: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k))
            .collect();
        if !unused.is_empty() {
            problems.push(format!(
                "{} given tensor(s) the network has no place for: {}",
                unused.len(),
                unused
                    .iter()
                    .take(5)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Model {
                model: model.to_string(),
                message: format!("the given weights do not fit: {}", problems.join("; ")),
            })
        }
    }
}

impl Weights for NamedWeights {
    fn conv(&mut self, name: &str, shape: [usize; 4]) -> Vec<f32> {
        self.take(&format!("{name}.weight"), &shape)
    }

    fn batch_norm(&mut self, name: &str, c: usize) -> BatchNorm {
        BatchNorm {
            gamma: self.take(&format!("{name}.weight"), &[c]),
            beta: self.take(&format!("{name}.bias"), &[c]),
            mean: self.take(&format!("{name}.running_mean"), &[c]),
            var: self.take(&format!("{name}.running_var"), &[c]),
            eps: self.eps,
        }
    }

    fn bias(&mut self, name: &str, len: usize) -> Vec<f32> {
        self.take(name, &[len])
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Vec<f32> {
        self.take(&format!("{name}.weight"), &[out, inp])
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..AttributeProto::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..AttributeProto::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..AttributeProto::default()
    }
}

fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..AttributeProto::default()
    }
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let dims = shape
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto { dim: dims }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

/// Builds one graph node by node; tensors are referred to by name.
pub struct GraphBuilder {
    name: String,
    nodes: Vec<NodeProto>,
    initializers: Vec<super::proto::TensorProto>,
    inputs: Vec<ValueInfoProto>,
    metadata: Vec<(String, String)>,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            name: name.into(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Declares a float input.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> String {
        self.inputs.push(value_info(name, shape));
        name.to_string()
    }

    /// Adds a constant.
    pub fn constant(&mut self, name: &str, t: &Tensor) -> String {
        self.initializers.push(t.to_proto(name));
        name.to_string()
    }

    /// Records a metadata property of the model.
    pub fn meta(&mut self, key: &str, value: &str) {
        self.metadata.push((key.into(), value.into()));
    }

    /// Adds a node writing tensor `out`.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            name: Some(name.into()),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            attribute: attrs,
            ..NodeProto::default()
        });
        name.to_string()
    }

    /// A convolution with bias, padding `kernel / 2` (all kernels here are odd).
    pub fn conv(
        &mut self,
        name: &str,
        x: &str,
        w: Tensor,
        b: Tensor,
        stride: usize,
        groups: usize,
    ) -> String {
        let k = w.shape[2];
        let wn = self.constant(&format!("{name}.w"), &w);
        let bn = self.constant(&format!("{name}.b"), &b);
        let p = (k / 2) as i64;
        let attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("strides", &[stride as i64, stride as i64]),
            attr_ints("pads", &[p, p, p, p]),
            attr_int("group", groups as i64),
        ];
        self.node("Conv", name, &[x, &wn, &bn], attrs)
    }

    /// An activation (`None` returns `x` unchanged). ReLU6 becomes Clip(0, 6); h-sigmoid
    /// is HardSigmoid(1/6, 1/2), as relu6(x + 3) / 6 is.
    pub fn act(&mut self, name: &str, x: &str, act: Activation) -> String {
        match act {
            Activation::None => x.to_string(),
            Activation::Relu => self.node("Relu", name, &[x], vec![]),
            Activation::Relu6 => {
                let lo = self.constant(&format!("{name}.min"), &Tensor::f32(vec![], vec![0.0]));
                let hi = self.constant(&format!("{name}.max"), &Tensor::f32(vec![], vec![6.0]));
                self.node("Clip", name, &[x, &lo, &hi], vec![])
            }
            Activation::Hswish => self.node("HardSwish", name, &[x], vec![]),
            Activation::Hsigmoid => self.node(
                "HardSigmoid",
                name,
                &[x],
                vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)],
            ),
        }
    }

    /// y = x · Wᵀ (+ b), W of shape `[out, in]`.
    pub fn gemm(&mut self, name: &str, x: &str, w: Tensor, b: Option<Tensor>) -> String {
        let wn = self.constant(&format!("{name}.w"), &w);
        let mut inputs = vec![x.to_string(), wn];
        if let Some(b) = b {
            inputs.push(self.constant(&format!("{name}.b"), &b));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node("Gemm", name, &refs, vec![attr_int("transB", 1)])
    }

    /// The model with `outputs` (name, shape).
    pub fn finish(self, outputs: &[(&str, Vec<usize>)]) -> ModelProto {
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("moga".into()),
            producer_version: Some(crate::RUNNER_VERSION.into()),
            metadata_props: self
                .metadata
                .into_iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
            graph: Some(GraphProto {
                name: Some(self.name),
                node: self.nodes,
                initializer: self.initializers,
                input: self.inputs,
                output: outputs.iter().map(|(n, s)| value_info(n, s)).collect(),
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
    }
}

/// Emits layers into a [`GraphBuilder`] with weights from a [`Weights`] source.
pub struct Emitter<'w> {
    /// The graph being built.
    pub g: GraphBuilder,
    weights: &'w mut dyn Weights,
}

impl<'w> Emitter<'w> {
    /// Emitting into a graph called `name`.
    pub fn new(name: &str, weights: &'w mut dyn Weights) -> Self {
        Emitter {
            g: GraphBuilder::new(name),
            weights,
        }
    }

    /// Convolution + BatchNorm (folded) + activation; `name` is the layer path.
    pub fn conv_bn_act(
        &mut self,
        name: &str,
        x: &str,
        (cin, cout, k, stride, groups): (usize, usize, usize, usize, usize),
        act: Activation,
    ) -> String {
        let w = self
            .weights
            .conv(&format!("{name}.conv"), [cout, cin / groups, k, k]);
        let bn = self.weights.batch_norm(&format!("{name}.bn"), cout);
        let (w, b) = fold_bn(
            &w,
            None,
            cout,
            [&bn.gamma, &bn.beta, &bn.mean, &bn.var],
            bn.eps,
        );
        let y = self.g.conv(
            name,
            x,
            Tensor::f32(vec![cout, cin / groups, k, k], w),
            Tensor::f32(vec![cout], b),
            stride,
            groups,
        );
        self.g.act(&format!("{name}.act"), &y, act)
    }

    /// Squeeze-and-excitation on `c` channels with hidden width `c / 4`.
    pub fn se(&mut self, name: &str, x: &str, c: usize, squeeze: Activation) -> String {
        let r = lookup_tables::se_width(c as u32, 4) as usize;
        let pooled = self
            .g
            .node("GlobalAveragePool", &format!("{name}.pool"), &[x], vec![]);
        let w1 = self.weights.conv(&format!("{name}.squeeze"), [r, c, 1, 1]);
        let b1 = self.weights.bias(&format!("{name}.squeeze.bias"), r);
        let s = self.g.conv(
            &format!("{name}.squeeze"),
            &pooled,
            Tensor::f32(vec![r, c, 1, 1], w1),
            Tensor::f32(vec![r], b1),
            1,
            1,
        );
        let s = self.g.act(&format!("{name}.squeeze.act"), &s, squeeze);
        let w2 = self.weights.conv(&format!("{name}.excite"), [c, r, 1, 1]);
        let b2 = self.weights.bias(&format!("{name}.excite.bias"), c);
        let e = self.g.conv(
            &format!("{name}.excite"),
            &s,
            Tensor::f32(vec![c, r, 1, 1], w2),
            Tensor::f32(vec![c], b2),
            1,
            1,
        );
        let gate = self
            .g
            .act(&format!("{name}.gate"), &e, Activation::Hsigmoid);
        self.g
            .node("Mul", &format!("{name}.scale"), &[x, &gate], vec![])
    }

    /// An MBConv block: expand, depthwise, optional SE, project, residual when the shape
    /// is kept.
    pub fn mbconv(&mut self, name: &str, x: &str, key: &UnitKey) -> String {
        let (cin, cout, k, s) = (
            key.cin as usize,
            key.cout as usize,
            key.kernel as usize,
            key.stride as usize,
        );
        let hid = lookup_tables::expanded(key.cin, key.expansion) as usize;
        let h = self.conv_bn_act(&format!("{name}.expand"), x, (cin, hid, 1, 1, 1), key.act);
        let mut h = self.conv_bn_act(&format!("{name}.dw"), &h, (hid, hid, k, s, hid), key.act);
        if let Some(squeeze) = key.se {
            h = self.se(&format!("{name}.se"), &h, hid, squeeze);
        }
        let y = self.conv_bn_act(
            &format!("{name}.project"),
            &h,
            (hid, cout, 1, 1, 1),
            Activation::None,
        );
        if key.has_residual() {
            self.g.node("Add", &format!("{name}.add"), &[x, &y], vec![])
        } else {
            y
        }
    }

    /// The stem (a full convolution from the image).
    pub fn stem(&mut self, x: &str, key: &UnitKey) -> String {
        self.conv_bn_act(
            "stem",
            x,
            (
                key.cin as usize,
                key.cout as usize,
                key.kernel as usize,
                key.stride as usize,
                1,
            ),
            key.act,
        )
    }

    /// The separable block: depthwise + BN + act, pointwise + BN.
    pub fn separable(&mut self, x: &str, key: &UnitKey) -> String {
        let (cin, cout, k) = (key.cin as usize, key.cout as usize, key.kernel as usize);
        let h = self.conv_bn_act(
            "separable.dw",
            x,
            (cin, cin, k, key.stride as usize, cin),
            key.act,
        );
        self.conv_bn_act("separable.pw", &h, (cin, cout, 1, 1, 1), Activation::None)
    }

    /// The head: 1×1 conv + BN + act, global average pool (output `[n, cout, 1, 1]`).
    pub fn head(&mut self, x: &str, key: &UnitKey) -> String {
        let h = self.conv_bn_act(
            "head",
            x,
            (key.cin as usize, key.cout as usize, 1, 1, 1),
            key.act,
        );
        self.g.node("GlobalAveragePool", "head.pool", &[&h], vec![])
    }

    /// A fully connected layer on `[n, cin]` with activation; `bias` false for MoGA's
    /// hidden layer.
    pub fn fc(
        &mut self,
        name: &str,
        x: &str,
        cin: usize,
        cout: usize,
        act: Activation,
        bias: bool,
    ) -> String {
        let w = Tensor::f32(vec![cout, cin], self.weights.linear(name, cout, cin));
        let b =
            bias.then(|| Tensor::f32(vec![cout], self.weights.bias(&format!("{name}.bias"), cout)));
        let y = self.g.gemm(name, x, w, b);
        self.g.act(&format!("{name}.act"), &y, act)
    }
}

/// The shape of a unit's input (batch 1).
pub fn unit_input_shape(key: &UnitKey) -> Vec<usize> {
    let (c, hw) = (key.cin as usize, key.input_hw as usize);
    match key.kind {
        UnitKind::Fc => vec![1, c],
        _ => vec![1, c, hw, hw],
    }
}

/// The shape of a unit's output (batch 1).
pub fn unit_output_shape(key: &UnitKey) -> Vec<usize> {
    let (c, hw) = (key.cout as usize, key.output_hw() as usize);
    match key.kind {
        UnitKind::Fc => vec![1, c],
        _ => vec![1, c, hw, hw],
    }
}

/// The model of one LUT unit: input `x`, output `y`.
pub fn unit_model(key: &UnitKey, weights: &mut dyn Weights) -> Result<ModelProto> {
    key.check().map_err(|(f, m)| Error::Model {
        model: key.to_string(),
        message: format!("field {}: {m}", f.name()),
    })?;
    if let Some(plan) = lookup_tables::sr::unit_plan(key) {
        let mut g = GraphBuilder::new(&key.to_string());
        let hw = key.input_hw as usize;
        let y = emit_sr_plan(&mut g, &plan, hw, hw, weights);
        let y = g.node("Identity", "y", &[&y], vec![]);
        g.meta("moga.unit", &key.to_string());
        return Ok(g.finish(&[(&y, unit_output_shape(key))]));
    }
    let mut e = Emitter::new(&key.to_string(), weights);
    let x = e.g.input("x", &unit_input_shape(key));
    let (cin, cout) = (key.cin as usize, key.cout as usize);
    let y = match key.kind {
        UnitKind::Stem => e.stem(&x, key),
        UnitKind::Separable => e.separable(&x, key),
        UnitKind::Mbconv => e.mbconv("block", &x, key),
        UnitKind::Head => e.head(&x, key),
        UnitKind::Fc => e.fc("fc", &x, cin, cout, key.act, true),
        UnitKind::Conv => e.conv_bn_act(
            "conv",
            &x,
            (cin, cout, key.kernel as usize, key.stride as usize, 1),
            key.act,
        ),
        UnitKind::Dwconv => e.conv_bn_act(
            "dwconv",
            &x,
            (cin, cin, key.kernel as usize, key.stride as usize, cin),
            key.act,
        ),
        UnitKind::Se => e.se("se", &x, cin, key.se.unwrap_or(Activation::Relu)),
        UnitKind::Pool => e.g.node("GlobalAveragePool", "pool", &[&x], vec![]),
        UnitKind::Add => {
            let other = e.g.input("x2", &unit_input_shape(key));
            e.g.node("Add", "add", &[&x, &other], vec![])
        }
        UnitKind::SrFe | UnitKind::SrCell | UnitKind::SrTail => {
            unreachable!("super-resolution units are built from their plan above")
        }
    };
    let y = e.g.node("Identity", "y", &[&y], vec![]);
    e.g.meta("moga.unit", &key.to_string());
    let shape = if key.kind == UnitKind::Pool {
        vec![1, cin, 1, 1]
    } else {
        unit_output_shape(key)
    };
    Ok(e.g.finish(&[(&y, shape)]))
}

/// The part of a network (as [`lookup_tables::PlacedUnit::part`] names it: `stem`,
/// `separable`, `layer 3`, `head`, `hidden fc`, `classifier`) that a node of
/// [`network_model`] belongs to, from the node's name; backends keep the name's prefix
/// when they fuse or convert nodes (ONNX Runtime: `layers.3.expand.act_nchwc`).
/// `None` for nodes a backend added on its own (layout conversions such as
/// `ReorderOutput_token_12`): they belong where they run.
pub fn part_of_node(node: &str) -> Option<String> {
    if let Some(rest) = node.strip_prefix("layers.") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return (!digits.is_empty()).then(|| format!("layer {digits}"));
    }
    let first = node.split(['.', '_']).next().unwrap_or_default();
    Some(
        match first {
            "stem" => "stem",
            "separable" => "separable",
            "head" | "flatten" => "head",
            "hidden" => "hidden fc",
            "classifier" | "logits" => "classifier",
            _ => return None,
        }
        .to_string(),
    )
}

/// The model of a whole network of `space`: input `input` `[1, 3, r, r]`, output
/// `logits` `[1, classes]`.
pub fn network_model(space: &Space, arch: &Arch, weights: &mut dyn Weights) -> Result<ModelProto> {
    let units = space.units_of(arch).map_err(|e| Error::Model {
        model: arch.encode(),
        message: e.to_string(),
    })?;
    let r = space.options.resolution as usize;
    let name = arch
        .preset_name()
        .map_or_else(|| arch.encode(), str::to_string);
    let mut e = Emitter::new(&name, weights);
    let mut x = e.g.input("input", &[1, space.in_channels as usize, r, r]);
    for u in &units {
        let k = &u.key;
        x = match (k.kind, u.part.as_str()) {
            (UnitKind::Stem, _) => e.stem(&x, k),
            (UnitKind::Separable, _) => e.separable(&x, k),
            (UnitKind::Mbconv, part) => e.mbconv(&part.replace(' ', "s."), &x, k),
            (UnitKind::Head, _) => {
                let pooled = e.head(&x, k);
                e.g.node("Flatten", "flatten", &[&pooled], vec![attr_int("axis", 1)])
            }
            (UnitKind::Fc, "hidden fc") => {
                e.fc("hidden", &x, k.cin as usize, k.cout as usize, k.act, false)
            }
            (UnitKind::Fc, _) => e.fc(
                "classifier",
                &x,
                k.cin as usize,
                k.cout as usize,
                k.act,
                true,
            ),
            (kind, part) => {
                return Err(Error::Model {
                    model: name,
                    message: format!("unexpected unit kind {kind} at {part}"),
                });
            }
        };
    }
    let y = e.g.node("Identity", "logits", &[&x], vec![]);
    e.g.meta("moga.arch", &arch.encode());
    e.g.meta("moga.space", space.id.name());
    Ok(e.g.finish(&[(&y, vec![1, space.head.classes as usize])]))
}

/// The model of a super-resolution network (×2, luminance) for a `height`×`width`
/// low-resolution input: input `input` `[1, 1, height, width]` (Y in [0, 1]), output `y`
/// `[1, 1, 2·height, 2·width]`. The structure is [`SrArch::plan`]'s, node for node, with
/// the plan's names (`cells.3.1.conv`; weights `<name>.weight`, `<name>.bias`).
pub fn sr_model(
    arch: &SrArch,
    height: usize,
    width: usize,
    weights: &mut dyn Weights,
) -> Result<ModelProto> {
    let name = arch
        .preset_name()
        .map_or_else(|| arch.encode(), str::to_string);
    arch.validate().map_err(|e| Error::Model {
        model: name.clone(),
        message: e.to_string(),
    })?;
    if height == 0 || width == 0 {
        return Err(Error::Model {
            model: name,
            message: format!("input size {height}x{width}: both sides must be at least 1"),
        });
    }
    let mut g = GraphBuilder::new(&name);
    let last = emit_sr_plan(&mut g, &arch.plan(), height, width, weights);
    let y = g.node("Identity", "y", &[&last], vec![]);
    g.meta("moga.arch", &arch.encode());
    g.meta("moga.space", arch.space.name());
    g.meta("moga.task", "sr");
    Ok(g.finish(&[(&y, vec![1, 1, 2 * height, 2 * width])]))
}

/// Emits a super-resolution plan (a whole network's or one unit's) at a `height`×`width`
/// input into `g`: each input node becomes a graph input of its name and channels.
/// Returns the last node's output.
fn emit_sr_plan(
    g: &mut GraphBuilder,
    plan: &[lookup_tables::sr::SrNode],
    height: usize,
    width: usize,
    weights: &mut dyn Weights,
) -> String {
    let mut t: Vec<String> = Vec::with_capacity(plan.len());
    for n in plan {
        let ins: Vec<&str> = n.inputs.iter().map(|&i| t[i].as_str()).collect();
        let out = match n.op {
            SrNodeOp::Input => g.input(&n.name, &[1, n.channels as usize, height, width]),
            SrNodeOp::Conv {
                cin,
                cout,
                kernel,
                groups,
                relu,
            } => {
                let (cin, cout, k, groups) = (
                    cin as usize,
                    cout as usize,
                    kernel as usize,
                    groups as usize,
                );
                let shape = [cout, cin / groups, k, k];
                let w = Tensor::f32(shape.to_vec(), weights.conv(&n.name, shape));
                let b = Tensor::f32(vec![cout], weights.bias(&format!("{}.bias", n.name), cout));
                let y = g.conv(&n.name, ins[0], w, b, 1, groups);
                if relu {
                    g.act(&format!("{}.relu", n.name), &y, Activation::Relu)
                } else {
                    y
                }
            }
            SrNodeOp::Add => g.node("Add", &n.name, &ins, vec![]),
            SrNodeOp::Concat => g.node("Concat", &n.name, &ins, vec![attr_int("axis", 1)]),
            SrNodeOp::DepthToSpace => g.node(
                "DepthToSpace",
                &n.name,
                &ins,
                vec![attr_int("blocksize", 2), attr_string("mode", "DCR")],
            ),
        };
        t.push(out);
    }
    t.pop().expect("a plan has nodes")
}

/// One exported unit model: a line of `units.jsonl`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ExportedUnit {
    /// The model's file name inside the folder.
    pub file: String,
    /// The unit, displayed.
    pub unit: String,
    /// The unit's key.
    pub key: UnitKey,
}

/// The index file written beside exported units.
pub const UNIT_INDEX: &str = "units.jsonl";

/// Writes one model per unit into `dir` (`0000-stem.onnx`, … in the given order, so name
/// order is list order) and the index `units.jsonl` mapping files to units.
pub fn export_units(
    dir: &std::path::Path,
    keys: &[UnitKey],
    weights: &mut dyn Weights,
) -> Result<Vec<ExportedUnit>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut index = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let file = format!("{i:04}-{}.onnx", key.kind);
        super::write_model(&dir.join(&file), &unit_model(key, weights)?)?;
        index.push(ExportedUnit {
            file,
            unit: key.to_string(),
            key: *key,
        });
    }
    let lines: String = index
        .iter()
        .map(|u| serde_json::to_string(u).expect("units serialise") + "\n")
        .collect();
    lookup_tables::write_atomic(&dir.join(UNIT_INDEX), lines.as_bytes())
        .map_err(|e| Error::io(dir.join(UNIT_INDEX), std::io::Error::other(e.to_string())))?;
    Ok(index)
}
