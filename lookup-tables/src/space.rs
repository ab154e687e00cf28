//! The search spaces: a fixed skeleton (stem, separable block, head) around a list of
//! searchable layers, each of which takes one choice from the space's choice list.
//!
//! The skeletons are the authors' released model definitions, read layer by layer:
//! - `moga`: github.com/xiaomi-automl/MoGA `models/MoGA_{A,B,C}.py` (MobileNetV3-like;
//!   stem 16 h-swish, separable 16 ReLU, 14 layers, ReLU in the first five and h-swish
//!   after, SE squeeze uses the block's activation, head 960 → global pool → 1280
//!   (1×1 conv, no BN, no bias, h-swish) → classifier).
//! - `fairnas`: github.com/xiaomi-automl/FairNAS `models/FairNAS_{A,B,C}.py`
//!   (MobileNetV2-like; stem 32, separable 32→16, 19 layers, ReLU6 everywhere, no SE,
//!   head 1280 → global pool → classifier).
//! - `scarlet`: github.com/xiaomi-automl/SCARLET-NAS `models/Scarlet_{A,B,C}.py` and
//!   `models/basic_ops.py` (FairNAS's skeleton; blocks use h-swish, SE squeeze ReLU;
//!   identity may replace a layer, which makes depth searchable).
//!
//! All three use SE with hidden width `expanded // 4` and an h-sigmoid gate, MBConv
//! hidden width `round(cin × expansion)`, depthwise padding `kernel // 2`, and a residual
//! add when stride is 1 and input and output channels agree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Identifies a search space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceId {
    /// MoGA: 14 layers × 12 choices (kernel × expansion × SE).
    Moga,
    /// FairNAS: 19 layers × 6 choices (kernel × expansion).
    Fairnas,
    /// ScarletNAS: 19 layers × 13 choices (MoGA's 12 plus identity).
    Scarlet,
}

impl SpaceId {
    /// Every space, in a stable order.
    pub const ALL: [SpaceId; 3] = [SpaceId::Moga, SpaceId::Fairnas, SpaceId::Scarlet];

    /// The lower-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            SpaceId::Moga => "moga",
            SpaceId::Fairnas => "fairnas",
            SpaceId::Scarlet => "scarlet",
        }
    }
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SpaceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SpaceId::ALL
            .into_iter()
            .find(|id| id.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownSpace {
                name: s.to_string(),
                known: SpaceId::ALL.map(SpaceId::name).join(", "),
            })
    }
}

/// An activation function as the models use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// No activation.
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// x · relu6(x + 3) / 6 (MobileNetV3).
    Hswish,
    /// relu6(x + 3) / 6 (MobileNetV3).
    Hsigmoid,
}

impl Activation {
    /// Every activation, in a stable order.
    pub const ALL: [Activation; 5] = [
        Activation::None,
        Activation::Relu,
        Activation::Relu6,
        Activation::Hswish,
        Activation::Hsigmoid,
    ];

    /// The lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::Hswish => "hswish",
            Activation::Hsigmoid => "hsigmoid",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown activation '{s}' (known: {})",
                    Activation::ALL.map(Activation::name).join(", ")
                )
            })
    }
}

/// An inverted-residual (MBConv) block choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbConv {
    /// Depthwise kernel size (3, 5 or 7).
    pub kernel: u32,
    /// Expansion ratio of the hidden width (3 or 6).
    pub expansion: u32,
    /// Squeeze-and-excitation on the expanded features.
    pub se: bool,
}

/// What a searchable layer can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Choice {
    /// An MBConv block.
    Mbconv(MbConv),
    /// The layer is skipped (ScarletNAS); only where the layer keeps its shape.
    Identity,
}

impl Choice {
    /// The compact token: `k5e6`, `k5e6se` or `id`.
    pub fn token(&self) -> String {
        self.to_string()
    }

    /// Reads a compact token (case-insensitive): `k{kernel}e{expansion}[se]` or `id`.
    pub fn parse_token(token: &str) -> std::result::Result<Choice, String> {
        let t = token.trim().to_ascii_lowercase();
        if t == "id" || t == "identity" {
            return Ok(Choice::Identity);
        }
        let bad = || {
            format!(
                "'{token}' is not a choice (expected k<kernel>e<expansion>, k<kernel>e<expansion>se or id, e.g. k5e6se)"
            )
        };
        let rest = t.strip_prefix('k').ok_or_else(bad)?;
        let (kernel, rest) = rest.split_once('e').ok_or_else(bad)?;
        let (expansion, se) = match rest.strip_suffix("se") {
            Some(e) => (e, true),
            None => (rest, false),
        };
        let num = |s: &str| -> std::result::Result<u32, String> {
            if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        Ok(Choice::Mbconv(MbConv {
            kernel: num(kernel)?,
            expansion: num(expansion)?,
            se,
        }))
    }
}

impl Choice {
    /// Appends the choice's code (`k5e6se`, `id`) to `out`, without the formatting
    /// machinery (see [`crate::Arch::encode`]).
    pub fn push_code(&self, out: &mut String) {
        fn number(out: &mut String, n: u32) {
            match char::from_digit(n, 10) {
                Some(d) => out.push(d),
                None => out.push_str(&n.to_string()),
            }
        }
        match self {
            Choice::Identity => out.push_str("id"),
            Choice::Mbconv(m) => {
                out.push('k');
                number(out, m.kernel);
                out.push('e');
                number(out, m.expansion);
                if m.se {
                    out.push_str("se");
                }
            }
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(8);
        self.push_code(&mut s);
        f.write_str(&s)
    }
}

/// One searchable layer of a skeleton: where it sits and what shape it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Zero-based index among the searchable layers.
    pub index: usize,
    /// Input height and width (square).
    pub input_hw: u32,
    /// Input channels.
    pub cin: u32,
    /// Output channels.
    pub cout: u32,
    /// Depthwise stride (1 or 2).
    pub stride: u32,
    /// The block's activation (fixed per layer, not searched).
    pub act: Activation,
}

impl Layer {
    /// Output height and width: `ceil(input / stride)` for every odd kernel with
    /// padding `kernel / 2`.
    pub fn output_hw(&self) -> u32 {
        self.input_hw.div_ceil(self.stride)
    }

    /// Whether the output has the input's shape, which allows the residual add and
    /// the identity choice.
    pub fn keeps_shape(&self) -> bool {
        self.stride == 1 && self.cin == self.cout
    }
}

/// The stem: a full 3×3 convolution from the image, BN, activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stem {
    /// Output channels.
    pub cout: u32,
    /// Kernel size.
    pub kernel: u32,
    /// Stride.
    pub stride: u32,
    /// Activation after BN.
    pub act: Activation,
}

/// The fixed separable block after the stem: depthwise 3×3, BN, activation,
/// pointwise 1×1, BN (no activation, no residual).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Separable {
    /// Output channels of the pointwise convolution.
    pub cout: u32,
    /// Depthwise kernel size.
    pub kernel: u32,
    /// Activation after the depthwise convolution.
    pub act: Activation,
}

/// The head: 1×1 conv + BN + activation, global average pool, an optional hidden fully
/// connected layer (MoGA's 1×1 conv on the pooled features), then the classifier.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Head {
    /// Channels of the 1×1 conv before pooling.
    pub conv_channels: u32,
    /// Its activation.
    pub act: Activation,
    /// MoGA's hidden layer after pooling: width and activation (no BN, no bias).
    pub hidden: Option<(u32, Activation)>,
    /// Classifier outputs.
    pub classes: u32,
    /// Dropout before the classifier (training only).
    pub dropout: f32,
}

/// Where the SE squeeze activation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeSqueeze {
    /// The block's own activation (MoGA).
    BlockAct,
    /// Always this activation (ScarletNAS: ReLU).
    Fixed(Activation),
}

/// The squeeze-and-excitation rule of a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SeRule {
    /// SE hidden width = expanded width / `reduction` (integer division).
    pub reduction: u32,
    /// Activation after the squeeze FC.
    pub squeeze: SeSqueeze,
    /// Gate after the excite FC.
    pub gate: Activation,
}

impl SeRule {
    /// The squeeze activation in a layer with block activation `act`.
    pub fn squeeze_act(&self, act: Activation) -> Activation {
        match self.squeeze {
            SeSqueeze::BlockAct => act,
            SeSqueeze::Fixed(a) => a,
        }
    }
}

/// Options that change a space's shapes but not its structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceOptions {
    /// Input image height and width.
    pub resolution: u32,
    /// Classifier outputs.
    pub classes: u32,
}

impl Default for SpaceOptions {
    /// ImageNet at 224×224, as every published figure is.
    fn default() -> Self {
        SpaceOptions {
            resolution: 224,
            classes: 1000,
        }
    }
}

/// A search space: skeleton, searchable layers and their choices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Space {
    /// Which space.
    pub id: SpaceId,
    /// Input resolution and classes.
    pub options: SpaceOptions,
    /// Input image channels (3).
    pub in_channels: u32,
    /// The stem.
    pub stem: Stem,
    /// The separable block.
    pub separable: Separable,
    /// The searchable layers.
    pub layers: Vec<Layer>,
    /// The head.
    pub head: Head,
    /// The SE rule.
    pub se: SeRule,
    /// The choice list every layer draws from (identity only where a layer keeps shape).
    pub choices: Vec<Choice>,
}

/// `(cout, stride, act)` per searchable layer.
type LayerPlan = [(u32, u32, Activation)];

const MOGA_LAYERS: &LayerPlan = {
    use Activation::{Hswish as H, Relu as R};
    &[
        (24, 2, R),
        (24, 1, R),
        (40, 2, R),
        (40, 1, R),
        (40, 1, R),
        (80, 2, H),
        (80, 1, H),
        (80, 1, H),
        (80, 1, H),
        (112, 1, H),
        (112, 1, H),
        (160, 2, H),
        (160, 1, H),
        (160, 1, H),
    ]
};

/// FairNAS and ScarletNAS share this plan of channels and strides.
const FAIRNAS_PLAN: [(u32, u32); 19] = [
    (32, 2),
    (32, 1),
    (40, 2),
    (40, 1),
    (40, 1),
    (40, 1),
    (80, 2),
    (80, 1),
    (80, 1),
    (80, 1),
    (96, 1),
    (96, 1),
    (96, 1),
    (96, 1),
    (192, 2),
    (192, 1),
    (192, 1),
    (192, 1),
    (320, 1),
];

fn mbconv_choices(with_se: bool, with_identity: bool) -> Vec<Choice> {
    let mut out = Vec::new();
    for kernel in [3, 5, 7] {
        for expansion in [3, 6] {
            for se in if with_se {
                &[false, true][..]
            } else {
                &[false][..]
            } {
                out.push(Choice::Mbconv(MbConv {
                    kernel,
                    expansion,
                    se: *se,
                }));
            }
        }
    }
    if with_identity {
        out.push(Choice::Identity);
    }
    out
}

impl Space {
    /// The space at ImageNet resolution (224) with 1000 classes.
    pub fn new(id: SpaceId) -> Space {
        Space::with_options(id, SpaceOptions::default())
            .expect("the default options are valid for every space")
    }

    /// The space at another resolution or class count. The resolution must survive the
    /// five stride-2 stages (at least 32) and classes must be at least 1.
    pub fn with_options(id: SpaceId, options: SpaceOptions) -> Result<Space> {
        if options.resolution < 32 || options.resolution > 4096 {
            return Err(Error::SpaceOption {
                space: id.to_string(),
                message: format!(
                    "resolution {} is outside 32..=4096 (the network halves it five times)",
                    options.resolution
                ),
            });
        }
        if options.classes == 0 || options.classes > 1_000_000 {
            return Err(Error::SpaceOption {
                space: id.to_string(),
                message: format!("classes {} is outside 1..=1000000", options.classes),
            });
        }
        let plan: Vec<(u32, u32, Activation)> = match id {
            SpaceId::Moga => MOGA_LAYERS.to_vec(),
            SpaceId::Fairnas => FAIRNAS_PLAN
                .iter()
                .map(|&(c, s)| (c, s, Activation::Relu6))
                .collect(),
            SpaceId::Scarlet => FAIRNAS_PLAN
                .iter()
                .map(|&(c, s)| (c, s, Activation::Hswish))
                .collect(),
        };
        let (stem, separable, head, se, choices) = match id {
            SpaceId::Moga => (
                Stem {
                    cout: 16,
                    kernel: 3,
                    stride: 2,
                    act: Activation::Hswish,
                },
                Separable {
                    cout: 16,
                    kernel: 3,
                    act: Activation::Relu,
                },
                Head {
                    conv_channels: 960,
                    act: Activation::Hswish,
                    hidden: Some((1280, Activation::Hswish)),
                    classes: options.classes,
                    dropout: 0.2,
                },
                SeRule {
                    reduction: 4,
                    squeeze: SeSqueeze::BlockAct,
                    gate: Activation::Hsigmoid,
                },
                mbconv_choices(true, false),
            ),
            SpaceId::Fairnas | SpaceId::Scarlet => (
                Stem {
                    cout: 32,
                    kernel: 3,
                    stride: 2,
                    act: Activation::Relu6,
                },
                Separable {
                    cout: 16,
                    kernel: 3,
                    act: Activation::Relu6,
                },
                Head {
                    conv_channels: 1280,
                    act: Activation::Relu6,
                    hidden: None,
                    classes: options.classes,
                    dropout: if id == SpaceId::Fairnas { 0.2 } else { 0.0 },
                },
                SeRule {
                    reduction: 4,
                    squeeze: SeSqueeze::Fixed(Activation::Relu),
                    gate: Activation::Hsigmoid,
                },
                if id == SpaceId::Fairnas {
                    mbconv_choices(false, false)
                } else {
                    mbconv_choices(true, true)
                },
            ),
        };
        let mut hw = options.resolution.div_ceil(stem.stride);
        let mut cin = separable.cout;
        let layers = plan
            .iter()
            .enumerate()
            .map(|(index, &(cout, stride, act))| {
                let layer = Layer {
                    index,
                    input_hw: hw,
                    cin,
                    cout,
                    stride,
                    act,
                };
                hw = layer.output_hw();
                cin = cout;
                layer
            })
            .collect();
        Ok(Space {
            id,
            options,
            in_channels: 3,
            stem,
            separable,
            layers,
            head,
            se,
            choices,
        })
    }

    /// Height and width after the stem (the separable block keeps it).
    pub fn stem_output_hw(&self) -> u32 {
        self.options.resolution.div_ceil(self.stem.stride)
    }

    /// Height and width entering the head.
    pub fn final_hw(&self) -> u32 {
        self.layers
            .last()
            .map_or(self.stem_output_hw(), Layer::output_hw)
    }

    /// Channels entering the head.
    pub fn final_channels(&self) -> u32 {
        self.layers.last().map_or(self.separable.cout, |l| l.cout)
    }

    /// The choices valid at `layer`: the space's list, without identity where the
    /// layer changes shape (identity cannot change channels or resolution).
    pub fn choices_at(&self, layer: usize) -> Vec<Choice> {
        let keeps = self.layers.get(layer).is_some_and(Layer::keeps_shape);
        self.choices
            .iter()
            .copied()
            .filter(|c| keeps || *c != Choice::Identity)
            .collect()
    }

    /// Checks one choice at one layer; the error names the layer, the choice and the
    /// valid alternatives.
    pub fn check_choice(&self, layer: usize, choice: Choice) -> Result<()> {
        let Some(slot) = self.layers.get(layer) else {
            return Err(Error::InvalidChoice {
                space: self.id.to_string(),
                layer,
                message: format!("no such layer (the space has {})", self.layers.len()),
            });
        };
        let valid = self.choices_at(layer);
        if valid.contains(&choice) {
            return Ok(());
        }
        let list = valid
            .iter()
            .map(Choice::token)
            .collect::<Vec<_>>()
            .join(" ");
        let why = match choice {
            Choice::Identity if self.choices.contains(&Choice::Identity) => format!(
                "identity is not allowed here: the layer changes shape ({}→{} channels, stride {})",
                slot.cin, slot.cout, slot.stride
            ),
            Choice::Mbconv(m) if m.se && !self.choices.iter().any(has_se) => {
                format!("'{choice}' has SE, which space {} does not search", self.id)
            }
            _ => format!("'{choice}' is not a choice of space {}", self.id),
        };
        Err(Error::InvalidChoice {
            space: self.id.to_string(),
            layer,
            message: format!("{why} (valid: {list})"),
        })
    }
}

fn has_se(c: &Choice) -> bool {
    matches!(c, Choice::Mbconv(m) if m.se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_and_choice_counts_match_the_papers() {
        let counts: Vec<(usize, usize)> = SpaceId::ALL
            .iter()
            .map(|&id| {
                let s = Space::new(id);
                (s.layers.len(), s.choices.len())
            })
            .collect();
        assert_eq!(counts, vec![(14, 12), (19, 6), (19, 13)]);
    }

    #[test]
    fn resolutions_follow_the_strides() {
        let moga = Space::new(SpaceId::Moga);
        let hw: Vec<u32> = moga.layers.iter().map(|l| l.input_hw).collect();
        assert_eq!(hw, [112, 56, 56, 28, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7]);
        assert_eq!(moga.final_hw(), 7);
        let fair = Space::new(SpaceId::Fairnas);
        assert_eq!(fair.layers[18].input_hw, 7);
        assert_eq!(fair.final_channels(), 320);
    }

    #[test]
    fn identity_only_where_the_layer_keeps_shape() {
        let s = Space::new(SpaceId::Scarlet);
        let allowed: Vec<usize> = (0..19)
            .filter(|&i| s.choices_at(i).contains(&Choice::Identity))
            .collect();
        assert_eq!(allowed, [1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17]);
        let err = s.check_choice(0, Choice::Identity).unwrap_err().to_string();
        assert!(
            err.contains("layer 0") && err.contains("changes shape"),
            "{err}"
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_junk() {
        for c in Space::new(SpaceId::Scarlet).choices {
            assert_eq!(Choice::parse_token(&c.token()).unwrap(), c);
        }
        assert_eq!(
            Choice::parse_token("K7E3SE").unwrap(),
            Choice::Mbconv(MbConv {
                kernel: 7,
                expansion: 3,
                se: true
            })
        );
        for junk in ["", "k", "ke", "k3e", "k3x6", "e6k3", "k3e6sx", "k99999e3"] {
            assert!(Choice::parse_token(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn se_is_named_when_the_space_has_none() {
        let s = Space::new(SpaceId::Fairnas);
        let err = s
            .check_choice(2, Choice::parse_token("k5e6se").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer 2") && err.contains("does not search"),
            "{err}"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let opts = SpaceOptions {
            resolution: 16,
            classes: 10,
        };
        assert!(Space::with_options(SpaceId::Moga, opts).is_err());
        let small = Space::with_options(
            SpaceId::Moga,
            SpaceOptions {
                resolution: 32,
                classes: 10,
            },
        )
        .unwrap();
        assert_eq!(small.final_hw(), 1);
    }
}
