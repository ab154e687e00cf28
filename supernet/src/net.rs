//! The weight-sharing network: a space's fixed stem and head around its searchable
//! layers, each holding every choice block the space defines. One forward pass runs one
//! single path (one choice per layer); a stand-alone network is the same structure
//! holding only its own choices, so both load, evaluate and export the same way.
//!
//! Parameter names follow the ONNX exporter's weight names with the choice token
//! inserted after the layer (`layers.3.k5e6se.expand.conv.weight`), so a path's
//! weights can be picked out by name.
//!
//! **Entangled weights** (`NetOptions::entangled`, the default of `moga train`): the
//! inverted-residual choices of a layer share one block's convolution weights, as in
//! Once-for-All's weight entanglement: one 1×1 expansion of the layer's widest hidden
//! width, one depthwise kernel of its largest size and one projection
//! (`layers.3.master.{expand,dw,project}.conv.weight`); choice (k, e) convolves with
//! the first e·cin hidden channels and the centre k×k of the kernel. BatchNorm (and
//! squeeze-and-excitation) stay per choice. Every path is still exactly the inverted
//! residual its architecture names, so exported networks and latency tables are
//! unchanged; what changes is that every step trains the weights every choice of the
//! layer reads. Without it, the FairNAS space's supernet stayed at chance on the digits
//! in moga and in the PyTorch reference alike (`scripts/bench/supernet-reference.sh`): the
//! layers that change shape have no shortcut, so a path is only as good as its worst
//! randomly paired, separately trained blocks.

use lookup_tables::{Activation, Arch, Choice, Space, expanded, se_width};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// What owns a parameter: the shared skeleton, or one choice of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Stem, separable block, head and classifier: on every path.
    Shared,
    /// Choice `choice` (an index into the layer's choice list) of layer `layer`.
    Choice {
        /// Searchable layer.
        layer: usize,
        /// Index into that layer's choices.
        choice: usize,
    },
    /// The entangled weights of layer `layer`: on every path whose choice there is an
    /// inverted residual.
    Layer {
        /// Searchable layer.
        layer: usize,
    },
}

/// How a network holds and initialises its weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetOptions {
    /// Identity choices as linearly equivalent transformations (ScarletNAS).
    pub let_identity: bool,
    /// A layer's inverted-residual choices share one block's convolution weights (see
    /// the module documentation). Ignored by stand-alone networks.
    pub entangled: bool,
    /// The last BatchNorm of every block with a shortcut starts with γ = 0, so each
    /// such block starts as the identity (Goyal et al. 2017).
    pub zero_init_residual: bool,
}

/// One tensor of a path under the name the ONNX exporter gives it.
pub struct PathTensor {
    /// `layers.3.expand.conv.weight`, `stem.bn.running_mean`, …
    pub name: String,
    /// The tensor (a view of an entangled weight where the path reads a slice).
    pub tensor: Tensor,
    /// Whether it is trained (BatchNorm running statistics are not).
    pub trainable: bool,
}

/// One named tensor of the network.
pub struct Param {
    /// Its name in checkpoints.
    pub name: String,
    /// The tensor (shared storage with the module that uses it).
    pub tensor: Tensor,
    /// Whether the optimiser updates it (BatchNorm running statistics are not).
    pub trainable: bool,
    /// Who owns it.
    pub owner: Owner,
}

/// How a forward pass runs.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// BatchNorm on batch statistics (and updating its running ones), dropout on.
    pub train: bool,
    /// The running-statistics update weight of BatchNorm in training mode.
    pub bn_momentum: f64,
    /// Dropout before the classifier (training only).
    pub dropout: bool,
}

impl Mode {
    /// Training: batch statistics, momentum 0.1, dropout.
    pub const TRAIN: Mode = Mode {
        train: true,
        bn_momentum: 0.1,
        dropout: true,
    };
    /// Inference: running statistics, no dropout.
    pub const EVAL: Mode = Mode {
        train: false,
        bn_momentum: 0.0,
        dropout: false,
    };
}

/// BatchNorm's ε, as PyTorch's default.
pub const BN_EPS: f64 = 1e-5;

struct Builder<'a> {
    params: &'a mut Vec<Param>,
    device: Device,
    owner: Owner,
}

impl Builder<'_> {
    fn add(&mut self, name: String, t: Tensor, trainable: bool) -> Tensor {
        let t = t.to_device(self.device);
        let t = if trainable {
            t.set_requires_grad(true)
        } else {
            t
        };
        self.params.push(Param {
            name,
            tensor: t.shallow_clone(),
            trainable,
            owner: self.owner,
        });
        t
    }

    /// Kaiming-normal in fan-out mode (as torchvision's MobileNets initialise).
    fn conv(&mut self, name: &str, shape: [i64; 4]) -> Tensor {
        let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
        let t = Tensor::randn(shape, (Kind::Float, Device::Cpu)) * (2.0 / fan_out).sqrt();
        self.add(format!("{name}.weight"), t, true)
    }

    fn bn(&mut self, name: &str, c: i64) -> Bn {
        let o = |v: f64| Tensor::full([c], v, (Kind::Float, Device::Cpu));
        Bn {
            weight: self.add(format!("{name}.weight"), o(1.0), true),
            bias: self.add(format!("{name}.bias"), o(0.0), true),
            mean: self.add(format!("{name}.running_mean"), o(0.0), false),
            var: self.add(format!("{name}.running_var"), o(1.0), false),
        }
    }

    fn conv_bn(&mut self, name: &str, spec: ConvSpec, act: Activation) -> ConvBn {
        let (cin, cout, k, _, groups) = spec;
        let w = Weight::Own(self.conv(&format!("{name}.conv"), [cout, cin / groups, k, k]));
        self.conv_bn_with(name, w, spec, act)
    }

    /// A `ConvBn` whose convolution weight is `weight` (its own or a slice of an
    /// entangled one) and whose BatchNorm is its own.
    fn conv_bn_with(
        &mut self,
        name: &str,
        weight: Weight,
        spec: ConvSpec,
        act: Activation,
    ) -> ConvBn {
        let (_, cout, k, stride, groups) = spec;
        ConvBn {
            weight,
            bn: self.bn(&format!("{name}.bn"), cout),
            stride,
            groups,
            pad: k / 2,
            act,
        }
    }

    fn bias(&mut self, name: &str, n: i64) -> Tensor {
        self.add(
            format!("{name}.bias"),
            Tensor::zeros([n], (Kind::Float, Device::Cpu)),
            true,
        )
    }

    /// N(0, 0.01) as torchvision's classifiers.
    fn linear(&mut self, name: &str, out: i64, inp: i64) -> Tensor {
        let t = Tensor::randn([out, inp], (Kind::Float, Device::Cpu)) * 0.01;
        self.add(format!("{name}.weight"), t, true)
    }
}

/// (cin, cout, kernel, stride, groups)
type ConvSpec = (i64, i64, i64, i64, i64);

/// BatchNorm with its running statistics.
pub struct Bn {
    /// γ.
    pub weight: Tensor,
    /// β.
    pub bias: Tensor,
    /// Running mean.
    pub mean: Tensor,
    /// Running variance.
    pub var: Tensor,
}

impl Bn {
    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.mean),
            Some(&self.var),
            mode.train,
            mode.bn_momentum,
            BN_EPS,
            true,
        )
    }

    fn reset(&self) {
        tch::no_grad(|| {
            let _ = self.mean.shallow_clone().fill_(0.0);
            let _ = self.var.shallow_clone().fill_(1.0);
        });
    }
}

/// A convolution's weight: its own tensor, or the leading `[..out, ..inp]` channels and
/// the centre `k`×`k` taps of a layer's entangled weight. The slice is taken anew at
/// every use, so each forward pass records its own view for autograd.
enum Weight {
    Own(Tensor),
    Slice {
        master: Tensor,
        out: i64,
        inp: i64,
        k: i64,
    },
}

impl Weight {
    fn get(&self) -> Tensor {
        match self {
            Weight::Own(t) => t.shallow_clone(),
            Weight::Slice {
                master,
                out,
                inp,
                k,
            } => {
                let o = (master.size()[2] - k) / 2;
                master
                    .narrow(0, 0, *out)
                    .narrow(1, 0, *inp)
                    .narrow(2, o, *k)
                    .narrow(3, o, *k)
            }
        }
    }
}

/// A convolution without bias, BatchNorm, activation.
pub struct ConvBn {
    weight: Weight,
    /// Its BatchNorm.
    pub bn: Bn,
    stride: i64,
    groups: i64,
    pad: i64,
    act: Activation,
}

impl ConvBn {
    /// The convolution weight, `[out, in/groups, k, k]` (a view where it is a slice of
    /// an entangled weight).
    pub fn weight(&self) -> Tensor {
        self.weight.get()
    }

    /// Convolution, BatchNorm, activation.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let y = x.conv2d(
            &self.weight.get(),
            None::<Tensor>,
            [self.stride, self.stride],
            [self.pad, self.pad],
            [1, 1],
            self.groups,
        );
        activate(self.bn.forward(&y, mode), self.act)
    }

    /// The inference-mode affine map of a 1×1 `ConvBn` without activation, folded:
    /// `y = W x + b` with `W` `[out, in]` and `b` `[out]`.
    pub fn folded_linear(&self) -> (Tensor, Tensor) {
        let _g = tch::no_grad_guard();
        let scale = &self.bn.weight / (&self.bn.var + BN_EPS).sqrt();
        let w = self.weight.get();
        let s = w.size();
        let w = w.reshape([s[0], s[1]]) * scale.unsqueeze(1);
        let b = &self.bn.bias - &self.bn.mean * &scale;
        (w, b)
    }
}

/// Applies an activation.
pub fn activate(x: Tensor, act: Activation) -> Tensor {
    match act {
        Activation::None => x,
        Activation::Relu => x.relu(),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::Hswish => x.hardswish(),
        Activation::Hsigmoid => x.hardsigmoid(),
    }
}

/// Squeeze-and-excitation: pool, 1×1 squeeze with bias, activation, 1×1 excite with
/// bias, hard-sigmoid gate.
struct Se {
    squeeze: (Tensor, Tensor),
    excite: (Tensor, Tensor),
    act: Activation,
}

impl Se {
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.adaptive_avg_pool2d([1, 1]);
        let c =
            |x: &Tensor, (w, b): &(Tensor, Tensor)| x.conv2d(w, Some(b), [1, 1], [0, 0], [1, 1], 1);
        let s = activate(c(&s, &self.squeeze), self.act);
        x * c(&s, &self.excite).hardsigmoid()
    }
}

/// An inverted-residual block.
struct MbBlock {
    expand: ConvBn,
    dw: ConvBn,
    se: Option<Se>,
    project: ConvBn,
    residual: bool,
}

impl MbBlock {
    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let h = self.expand.forward(x, mode);
        let mut h = self.dw.forward(&h, mode);
        if let Some(se) = &self.se {
            h = se.forward(&h);
        }
        let y = self.project.forward(&h, mode);
        if self.residual { y + x } else { y }
    }
}

/// What one choice of a layer computes.
enum Block {
    Mb(Box<MbBlock>),
    /// ScarletNAS's linearly equivalent identity: 1×1 conv + BN, no activation.
    Let(ConvBn),
    /// A bare skip.
    Skip,
}

/// The supernet (or a stand-alone network): parameters and structure.
pub struct Supernet {
    /// The space at the training resolution and class count.
    pub space: Space,
    /// How the weights are held (for a stand-alone network `entangled` is false).
    pub options: NetOptions,
    /// Every tensor, in creation order.
    pub params: Vec<Param>,
    /// Each layer's choices, in the space's order (or just the stand-alone choice).
    pub choices: Vec<Vec<Choice>>,
    device: Device,
    stem: ConvBn,
    sep: (ConvBn, ConvBn),
    layers: Vec<Vec<Block>>,
    head: ConvBn,
    hidden: Option<(Tensor, Activation)>,
    classifier: (Tensor, Tensor),
    dropout: f64,
}

/// The entangled weights of a layer's MBConv choices (`--weights entangled`): one
/// expansion, depthwise and projection convolution at the widest expansion and the
/// largest kernel, which every choice slices; `None` for a layer of identities only.
fn entangled_masters(
    b: &mut Builder,
    layer: &lookup_tables::Layer,
    list: &[Choice],
) -> Option<(Tensor, Tensor, Tensor)> {
    let r = |v: u32| i64::from(v);
    let (lin, lout) = (r(layer.cin), r(layer.cout));
    let mbs: Vec<_> = list
        .iter()
        .filter_map(|c| match c {
            Choice::Mbconv(m) => Some(*m),
            Choice::Identity => None,
        })
        .collect();
    let hid = mbs
        .iter()
        .map(|m| r(expanded(layer.cin, m.expansion)))
        .max();
    let k = mbs.iter().map(|m| r(m.kernel)).max();
    hid.zip(k).map(|(hid, k)| {
        b.owner = Owner::Layer { layer: layer.index };
        let name = format!("layers.{}.master", layer.index);
        (
            b.conv(&format!("{name}.expand.conv"), [hid, lin, 1, 1]),
            b.conv(&format!("{name}.dw.conv"), [hid, 1, k, k]),
            b.conv(&format!("{name}.project.conv"), [lout, hid, 1, 1]),
        )
    })
}

/// One MBConv choice of a layer, named `name`: its own weights, or slices of the
/// layer's entangled `masters`; its projection's BatchNorm scale starts at zero with
/// `zero_init_residual` where the block is residual.
fn mb_block(
    b: &mut Builder,
    space: &Space,
    layer: &lookup_tables::Layer,
    m: &lookup_tables::MbConv,
    name: &str,
    masters: Option<&(Tensor, Tensor, Tensor)>,
    zero_init_residual: bool,
) -> MbBlock {
    let r = |v: u32| i64::from(v);
    let (lin, lout) = (r(layer.cin), r(layer.cout));

    let hid = r(expanded(layer.cin, m.expansion));
    let k = r(m.kernel);
    let specs = [
        (lin, hid, 1, 1, 1),
        (hid, hid, k, r(layer.stride), hid),
        (hid, lout, 1, 1, 1),
    ];
    let mut convs = ["expand", "dw", "project"]
        .iter()
        .zip(specs)
        .enumerate()
        .map(|(i, (part, spec))| {
            let (act, name) = (
                if i < 2 { layer.act } else { Activation::None },
                format!("{name}.{part}"),
            );
            match masters {
                Some(ms) => {
                    let master = [&ms.0, &ms.1, &ms.2][i].shallow_clone();
                    let (out, inp) = (spec.1, spec.0 / spec.4);
                    let w = Weight::Slice {
                        master,
                        out,
                        inp,
                        k: spec.2,
                    };
                    b.conv_bn_with(&name, w, spec, act)
                }
                None => b.conv_bn(&name, spec, act),
            }
        })
        .collect::<Vec<_>>()
        .into_iter();
    let (expand, dw) = (convs.next().unwrap(), convs.next().unwrap());
    let se = m.se.then(|| {
        let w = r(se_width(hid as u32, space.se.reduction));
        let sq = format!("{name}.se.squeeze");
        let ex = format!("{name}.se.excite");
        Se {
            squeeze: (b.conv(&sq, [w, hid, 1, 1]), b.bias(&sq, w)),
            excite: (b.conv(&ex, [hid, w, 1, 1]), b.bias(&ex, hid)),
            act: space.se.squeeze_act(layer.act),
        }
    });
    let project = convs.next().unwrap();
    if zero_init_residual && layer.keeps_shape() {
        tch::no_grad(|| {
            let _ = project.bn.weight.shallow_clone().fill_(0.0);
        });
    }
    MbBlock {
        expand,
        dw,
        se,
        project,
        residual: layer.keeps_shape(),
    }
}

impl Supernet {
    /// No dropout before the classifier (tests whose ranks draw masks from one
    /// process-wide generator in parallel threads).
    #[cfg(test)]
    pub(crate) fn without_dropout(&mut self) {
        self.dropout = 0.0;
    }

    /// Every tensor in double precision, in place (tests comparing orders of
    /// summation, whose float rounding a few steps amplify past any useful tolerance).
    #[cfg(test)]
    pub(crate) fn in_double(&mut self) {
        for p in &mut self.params {
            let d = p.tensor.detach().to_kind(Kind::Double);
            p.tensor.set_data(&d);
        }
    }

    /// Every choice of every layer of `space` (or only `arch`'s, for a stand-alone
    /// network), initialised from libtorch's generator (seed it with
    /// `tch::manual_seed`).
    pub fn new(
        space: &Space,
        options: NetOptions,
        only: Option<&Arch>,
        device: Device,
    ) -> Result<Supernet> {
        if let Some(a) = only {
            space.validate(a)?;
        }
        let options = NetOptions {
            entangled: options.entangled && only.is_none(),
            ..options
        };
        let let_identity = options.let_identity;
        let mut params = Vec::new();
        let mut b = Builder {
            params: &mut params,
            device,
            owner: Owner::Shared,
        };
        let r = |v: u32| i64::from(v);
        let (cin, stem_out) = (r(space.in_channels), r(space.stem.cout));
        let stem = b.conv_bn(
            "stem",
            (cin, stem_out, r(space.stem.kernel), r(space.stem.stride), 1),
            space.stem.act,
        );
        let sk = r(space.separable.kernel);
        let sep = (
            b.conv_bn(
                "separable.dw",
                (stem_out, stem_out, sk, 1, stem_out),
                space.separable.act,
            ),
            b.conv_bn(
                "separable.pw",
                (stem_out, r(space.separable.cout), 1, 1, 1),
                Activation::None,
            ),
        );
        let mut choices = Vec::new();
        let mut layers = Vec::new();
        for layer in &space.layers {
            let list = match only {
                Some(a) => vec![a.layers[layer.index]],
                None => space.choices_at(layer.index),
            };
            let (lin, lout) = (r(layer.cin), r(layer.cout));
            // The entangled weights: the widest expansion, the largest kernel.
            let masters = if options.entangled {
                entangled_masters(&mut b, layer, &list)
            } else {
                None
            };
            let mut blocks = Vec::new();
            for (ci, choice) in list.iter().enumerate() {
                b.owner = Owner::Choice {
                    layer: layer.index,
                    choice: ci,
                };
                let name = format!("layers.{}.{}", layer.index, choice.token());
                blocks.push(match choice {
                    Choice::Identity if let_identity => Block::Let(b.conv_bn(
                        &format!("{name}.let"),
                        (lin, lout, 1, 1, 1),
                        Activation::None,
                    )),
                    Choice::Identity => Block::Skip,
                    Choice::Mbconv(m) => Block::Mb(Box::new(mb_block(
                        &mut b,
                        space,
                        layer,
                        m,
                        &name,
                        masters.as_ref(),
                        options.zero_init_residual,
                    ))),
                });
            }
            choices.push(list);
            layers.push(blocks);
        }
        b.owner = Owner::Shared;
        let h = space.head;
        let head = b.conv_bn(
            "head",
            (r(space.final_channels()), r(h.conv_channels), 1, 1, 1),
            h.act,
        );
        let mut width = r(h.conv_channels);
        let hidden = h.hidden.map(|(w, act)| {
            let t = b.linear("hidden", r(w), width);
            width = r(w);
            (t, act)
        });
        let classifier = (
            b.linear("classifier", r(h.classes), width),
            b.bias("classifier", r(h.classes)),
        );
        Ok(Supernet {
            space: space.clone(),
            options,
            params,
            choices,
            device,
            stem,
            sep,
            layers,
            head,
            hidden,
            classifier,
            dropout: f64::from(h.dropout),
        })
    }

    /// Where the tensors live.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Whether this holds one choice per layer (a stand-alone network).
    pub fn is_standalone(&self) -> bool {
        self.choices.iter().all(|c| c.len() == 1)
    }

    /// The path (choice index per layer) of `arch`, or which layer cannot run it.
    pub fn path_of(&self, arch: &Arch) -> Result<Vec<usize>> {
        if arch.space != self.space.id || arch.layers.len() != self.choices.len() {
            return Err(Error::Usage(format!(
                "architecture {} is not of this network's space {} ({} layers)",
                arch.encode(),
                self.space.id,
                self.choices.len()
            )));
        }
        arch.layers
            .iter()
            .zip(&self.choices)
            .enumerate()
            .map(|(l, (c, list))| {
                list.iter().position(|x| x == c).ok_or_else(|| {
                    Error::Usage(format!(
                        "layer {l}: this network has no {c} (it holds {})",
                        list.iter()
                            .map(Choice::token)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect()
    }

    /// The architecture a path runs.
    pub fn arch_of(&self, path: &[usize]) -> Arch {
        Arch {
            space: self.space.id,
            layers: path.iter().zip(&self.choices).map(|(&i, c)| c[i]).collect(),
        }
    }

    /// Logits `[n, classes]` of one path.
    pub fn forward(&self, x: &Tensor, path: &[usize], mode: Mode) -> Tensor {
        // Images come as float; a network held in another precision takes them in it.
        let kind = self.classifier.0.kind();
        let x = if x.kind() == kind {
            x.shallow_clone()
        } else {
            x.to_kind(kind)
        };
        let mut x = self.stem.forward(&x, mode);
        x = self.sep.1.forward(&self.sep.0.forward(&x, mode), mode);
        for (blocks, &c) in self.layers.iter().zip(path) {
            x = match &blocks[c] {
                Block::Mb(m) => m.forward(&x, mode),
                Block::Let(l) => l.forward(&x, mode),
                Block::Skip => x,
            };
        }
        let mut x = self
            .head
            .forward(&x, mode)
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1);
        if let Some((w, act)) = &self.hidden {
            x = activate(x.linear(w, None::<Tensor>), *act);
        }
        if mode.dropout && self.dropout > 0.0 {
            x = x.dropout(self.dropout, true);
        }
        x.linear(&self.classifier.0, Some(&self.classifier.1))
    }

    /// Resets the running statistics of every BatchNorm on `path`, for recalibration.
    pub fn reset_bn(&self, path: &[usize]) {
        let mut all: Vec<&ConvBn> = vec![&self.stem, &self.sep.0, &self.sep.1, &self.head];
        for (blocks, &c) in self.layers.iter().zip(path) {
            match &blocks[c] {
                Block::Mb(m) => all.extend([&m.expand, &m.dw, &m.project]),
                Block::Let(l) => all.push(l),
                Block::Skip => {}
            }
        }
        for cb in all {
            cb.bn.reset();
        }
    }

    /// The LET module of identity choice `choice` of `layer`, if it is one.
    pub fn let_module(&self, layer: usize, choice: usize) -> Option<&ConvBn> {
        match self.layers.get(layer)?.get(choice)? {
            Block::Let(l) => Some(l),
            _ => None,
        }
    }

    /// The expand convolution of MBConv choice `choice` of `layer`, if it is one.
    pub fn expand_module(&self, layer: usize, choice: usize) -> Option<&ConvBn> {
        match self.layers.get(layer)?.get(choice)? {
            Block::Mb(m) => Some(&m.expand),
            _ => None,
        }
    }

    /// Trainable parameters of the whole network (BatchNorm statistics excluded).
    pub fn trainable_params(&self) -> i64 {
        self.params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.tensor.numel() as i64)
            .sum()
    }

    /// Trainable parameter count of a path (BatchNorm statistics excluded; of an
    /// entangled weight, the slice the path reads).
    pub fn path_params(&self, path: &[usize]) -> Result<i64> {
        Ok(self
            .path_tensors(path)?
            .iter()
            .filter(|t| t.trainable)
            .map(|t| t.tensor.numel() as i64)
            .sum())
    }

    /// Whether a parameter owned by `owner` takes part in `path`.
    pub fn on_path(&self, owner: Owner, path: &[usize]) -> bool {
        match owner {
            Owner::Shared => true,
            Owner::Choice { layer, choice } => path[layer] == choice,
            Owner::Layer { layer } => {
                matches!(self.choices[layer][path[layer]], Choice::Mbconv(_))
            }
        }
    }

    /// Every tensor `path` runs with, under the ONNX exporter's names
    /// (`layers.{l}.{token}.{rest}` and `layers.{l}.master.{rest}` become
    /// `layers.{l}.{rest}`), entangled weights sliced to what the path reads.
    pub fn path_tensors(&self, path: &[usize]) -> Result<Vec<PathTensor>> {
        let strip = |name: &str| -> Result<String> {
            // `layers.{l}.{token}.{rest}` → `layers.{l}.{rest}`.
            let mut parts = name.splitn(4, '.');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(_), Some(rest)) => Ok(format!("{a}.{b}.{rest}")),
                _ => Err(Error::Usage(format!("unexpected parameter name {name}"))),
            }
        };
        let mut out = Vec::new();
        for p in self.params.iter().filter(|p| self.on_path(p.owner, path)) {
            let (name, tensor) = match p.owner {
                Owner::Shared => (p.name.clone(), p.tensor.shallow_clone()),
                Owner::Choice { .. } => (strip(&p.name)?, p.tensor.shallow_clone()),
                Owner::Layer { layer } => {
                    let Block::Mb(m) = &self.layers[layer][path[layer]] else {
                        continue;
                    };
                    let name = strip(&p.name)?;
                    let conv = if name.ends_with(".expand.conv.weight") {
                        &m.expand
                    } else if name.ends_with(".dw.conv.weight") {
                        &m.dw
                    } else {
                        &m.project
                    };
                    (name, conv.weight())
                }
            };
            out.push(PathTensor {
                name,
                tensor,
                trainable: p.trainable,
            });
        }
        Ok(out)
    }

    /// Writes every tensor to a safetensors file (atomically: a temporary file renamed
    /// into place).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let named: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.tensor.detach().to_device(Device::Cpu)))
            .collect();
        crate::weights::write_atomic(&named, path)
    }

    /// Loads every tensor from a safetensors file written by [`Supernet::save`]; names
    /// and shapes must match exactly.
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        let read = crate::weights::read(path)?;
        crate::weights::copy_into(
            path,
            &read,
            self.params
                .iter_mut()
                .map(|p| (p.name.as_str(), &mut p.tensor)),
            "the checkpoint was written for another space or settings",
            "this network",
        )?;
        let ours: std::collections::HashSet<&str> =
            self.params.iter().map(|p| p.name.as_str()).collect();
        let extra: Vec<&String> = read.keys().filter(|k| !ours.contains(k.as_str())).collect();
        if let Some(first) = extra.first() {
            return Err(Error::Usage(format!(
                "{}: tensor {first} does not belong to this network ({} unexpected tensors)",
                path.display(),
                extra.len()
            )));
        }
        Ok(())
    }
}
