//! What a LUT row measures: a unit, identified by its kind and shape.
//!
//! Block-level units are what a space's latency is summed from: `stem`, `separable`,
//! `mbconv` (the whole inverted-residual block, with its SE and residual add), `head`
//! (1×1 conv + BN + activation + global average pool) and `fc` (a fully connected layer
//! with bias and optional activation). Op-level units (`conv`, `dwconv`, `se`, `pool`,
//! `add`) measure single operators, for finer tables and for studying where the time of
//! a block goes.
//!
//! A key holds everything needed to build the unit's model, so two rows with equal keys
//! measure the same computation: identical layers of a space share one unit, and the
//! unit list of a space is the distinct set over all layers and choices.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::error::Result;
use crate::space::{Activation, Choice, Space};

/// The kinds of unit a LUT can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// Full convolution from the image + BN + activation.
    Stem,
    /// Depthwise + BN + activation + pointwise + BN.
    Separable,
    /// A whole MBConv block: expand 1×1, depthwise, optional SE, project 1×1, residual.
    Mbconv,
    /// 1×1 conv + BN + activation + global average pool.
    Head,
    /// Fully connected layer with bias, optional activation.
    Fc,
    /// One full convolution + BN + activation.
    Conv,
    /// One depthwise convolution + BN + activation.
    Dwconv,
    /// Squeeze-and-excitation alone (pool, FC, act, FC, h-sigmoid, scale).
    Se,
    /// Global average pool.
    Pool,
    /// Element-wise residual add.
    Add,
    /// Super-resolution feature extractor: 3×3 conv 1 → 32 with bias + ReLU.
    SrFe,
    /// One searchable super-resolution cell (conv, grouped conv or inverted bottleneck,
    /// repeated, with its skip), fed its concatenated inputs as one tensor.
    SrCell,
    /// Super-resolution tail: 3×3 conv (concatenated inputs → 32) + ReLU, plus the
    /// feature extractor's output, depth-to-space ×2 and the 3×3 conv 8 → 1.
    SrTail,
}

/// The key fields, in file order after `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyField {
    /// Input height = width.
    InputHw,
    /// Input channels.
    Cin,
    /// Output channels.
    Cout,
    /// Kernel size.
    Kernel,
    /// Stride.
    Stride,
    /// MBConv expansion.
    Expansion,
    /// SE squeeze activation (or `none`).
    Se,
    /// Activation.
    Act,
    /// Convolution groups (super-resolution cells).
    Groups,
    /// Repeats of a cell's block.
    Repeats,
    /// A cell's skip connection (`skip` or `noskip`).
    Skip,
}

impl KeyField {
    /// Every field, in file order.
    pub const ALL: [KeyField; 11] = [
        KeyField::InputHw,
        KeyField::Cin,
        KeyField::Cout,
        KeyField::Kernel,
        KeyField::Stride,
        KeyField::Expansion,
        KeyField::Se,
        KeyField::Act,
        KeyField::Groups,
        KeyField::Repeats,
        KeyField::Skip,
    ];

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            KeyField::InputHw => "input_hw",
            KeyField::Cin => "cin",
            KeyField::Cout => "cout",
            KeyField::Kernel => "kernel",
            KeyField::Stride => "stride",
            KeyField::Expansion => "expansion",
            KeyField::Se => "se",
            KeyField::Act => "act",
            KeyField::Groups => "groups",
            KeyField::Repeats => "repeats",
            KeyField::Skip => "skip",
        }
    }
}

impl UnitKind {
    /// Every kind, in a stable order.
    pub const ALL: [UnitKind; 13] = [
        UnitKind::Stem,
        UnitKind::Separable,
        UnitKind::Mbconv,
        UnitKind::Head,
        UnitKind::Fc,
        UnitKind::Conv,
        UnitKind::Dwconv,
        UnitKind::Se,
        UnitKind::Pool,
        UnitKind::Add,
        UnitKind::SrFe,
        UnitKind::SrCell,
        UnitKind::SrTail,
    ];

    /// The lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Stem => "stem",
            UnitKind::Separable => "separable",
            UnitKind::Mbconv => "mbconv",
            UnitKind::Head => "head",
            UnitKind::Fc => "fc",
            UnitKind::Conv => "conv",
            UnitKind::Dwconv => "dwconv",
            UnitKind::Se => "se",
            UnitKind::Pool => "pool",
            UnitKind::Add => "add",
            UnitKind::SrFe => "srfe",
            UnitKind::SrCell => "srcell",
            UnitKind::SrTail => "srtail",
        }
    }

    /// Whether `field` means something for this kind. Fields that do not are written as
    /// `-` and must be `-` when read.
    pub fn uses(self, field: KeyField) -> bool {
        use KeyField as F;
        use UnitKind as K;
        match field {
            F::InputHw | F::Cin | F::Cout => true,
            F::Kernel => matches!(
                self,
                K::Stem | K::Separable | K::Mbconv | K::Conv | K::Dwconv | K::SrCell
            ),
            F::Stride => matches!(
                self,
                K::Stem | K::Separable | K::Mbconv | K::Conv | K::Dwconv
            ),
            F::Expansion => matches!(self, K::Mbconv | K::SrCell),
            F::Groups | F::Repeats | F::Skip => self == K::SrCell,
            F::Se => matches!(self, K::Mbconv | K::Se),
            F::Act => matches!(
                self,
                K::Stem | K::Separable | K::Mbconv | K::Head | K::Fc | K::Conv | K::Dwconv
            ),
        }
    }

    /// Whether the output has the input's channels by construction.
    pub fn keeps_channels(self) -> bool {
        matches!(
            self,
            UnitKind::Dwconv | UnitKind::Se | UnitKind::Pool | UnitKind::Add
        )
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UnitKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        UnitKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown unit kind '{s}' (known: {})",
                    UnitKind::ALL.map(UnitKind::name).join(", ")
                )
            })
    }
}

/// The identity of a measured unit. Fields the kind does not use are 0 / `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitKey {
    /// What is measured.
    pub kind: UnitKind,
    /// Input height = width.
    pub input_hw: u32,
    /// Input channels.
    pub cin: u32,
    /// Output channels.
    pub cout: u32,
    /// Kernel size (0 where unused).
    pub kernel: u32,
    /// Stride (0 where unused).
    pub stride: u32,
    /// MBConv expansion (0 where unused).
    pub expansion: u32,
    /// SE squeeze activation when the unit has SE.
    pub se: Option<Activation>,
    /// Activation (`None` where unused).
    pub act: Activation,
    /// Convolution groups of a super-resolution cell (0 where unused).
    #[serde(default)]
    pub groups: u32,
    /// Repeats of a super-resolution cell's block (0 where unused).
    #[serde(default)]
    pub repeats: u32,
    /// A super-resolution cell's skip (false where unused; a cell of one block has none).
    #[serde(default)]
    pub skip: bool,
}

impl UnitKey {
    /// A key of `kind` with the shape fields set and every other field unused.
    pub fn new(kind: UnitKind, input_hw: u32, cin: u32, cout: u32) -> UnitKey {
        UnitKey {
            kind,
            input_hw,
            cin,
            cout,
            kernel: 0,
            stride: 0,
            expansion: 0,
            se: None,
            act: Activation::None,
            groups: 0,
            repeats: 0,
            skip: false,
        }
    }

    /// Output height = width.
    pub fn output_hw(&self) -> u32 {
        match self.kind {
            UnitKind::Head | UnitKind::Pool | UnitKind::Fc => 1,
            UnitKind::SrTail => self.input_hw * crate::sr::SR_SCALE,
            _ if self.stride > 1 => self.input_hw.div_ceil(self.stride),
            _ => self.input_hw,
        }
    }

    /// Whether the unit ends with a residual add (MBConv with unchanged shape).
    pub fn has_residual(&self) -> bool {
        self.kind == UnitKind::Mbconv && self.stride == 1 && self.cin == self.cout
    }

    /// Checks that the fields make sense for the kind; the message names the field.
    pub fn check(&self) -> std::result::Result<(), (KeyField, String)> {
        use KeyField as F;
        let k = self.kind;
        let positive = |f: KeyField, v: u32| {
            if v == 0 {
                Err((f, format!("must be at least 1 for kind {k}")))
            } else {
                Ok(())
            }
        };
        positive(F::InputHw, self.input_hw)?;
        positive(F::Cin, self.cin)?;
        positive(F::Cout, self.cout)?;
        if k.uses(F::Kernel) {
            positive(F::Kernel, self.kernel)?;
            if self.kernel.is_multiple_of(2) {
                return Err((
                    F::Kernel,
                    format!("kernel {} is even; units use odd kernels", self.kernel),
                ));
            }
        }
        if k.uses(F::Stride) {
            positive(F::Stride, self.stride)?;
        }
        if k.uses(F::Expansion) {
            positive(F::Expansion, self.expansion)?;
        }
        if k.keeps_channels() && self.cin != self.cout {
            return Err((
                F::Cout,
                format!(
                    "kind {k} keeps channels, so cout must equal cin ({})",
                    self.cin
                ),
            ));
        }
        if k == UnitKind::Se && self.se.is_none() {
            return Err((F::Se, "kind se needs its squeeze activation".into()));
        }
        if k == UnitKind::Fc && self.input_hw != 1 {
            return Err((F::InputHw, "an fc unit takes a 1×1 input".into()));
        }
        crate::sr::check_unit(self)
    }
}

impl fmt::Display for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind;
        write!(
            f,
            "{k} {hw}x{hw} {}->{}",
            self.cin,
            self.cout,
            hw = self.input_hw
        )?;
        if k.uses(KeyField::Kernel) {
            write!(f, " k{}", self.kernel)?;
        }
        if k.uses(KeyField::Stride) {
            write!(f, " s{}", self.stride)?;
        }
        if k.uses(KeyField::Expansion) {
            write!(f, " e{}", self.expansion)?;
        }
        if k.uses(KeyField::Groups) {
            write!(f, " g{} b{}", self.groups, self.repeats)?;
            f.write_str(if self.skip { " skip" } else { " noskip" })?;
        }
        if let Some(se) = self.se {
            write!(f, " se({se})")?;
        }
        if k.uses(KeyField::Act) {
            write!(f, " {}", self.act)?;
        }
        Ok(())
    }
}

impl UnitKey {
    /// The single-operator units this unit is made of, input to output (an op-level
    /// unit is its own decomposition). SE hidden width follows the spaces' rule
    /// (expanded / 4).
    pub fn ops(&self) -> Vec<UnitKey> {
        let (hw, cin, cout) = (self.input_hw, self.cin, self.cout);
        let out_hw = self.output_hw();
        let conv =
            |hw: u32, cin: u32, cout: u32, kernel: u32, stride: u32, act: Activation| UnitKey {
                kernel,
                stride,
                act,
                ..UnitKey::new(UnitKind::Conv, hw, cin, cout)
            };
        let dw = |hw: u32, c: u32, kernel: u32, stride: u32, act: Activation| UnitKey {
            kernel,
            stride,
            act,
            ..UnitKey::new(UnitKind::Dwconv, hw, c, c)
        };
        match self.kind {
            UnitKind::Stem => vec![conv(hw, cin, cout, self.kernel, self.stride, self.act)],
            UnitKind::Separable => vec![
                dw(hw, cin, self.kernel, self.stride, self.act),
                conv(hw, cin, cout, 1, 1, Activation::None),
            ],
            UnitKind::Mbconv => {
                let hid = crate::stats::expanded(cin, self.expansion);
                let mut v = vec![
                    conv(hw, cin, hid, 1, 1, self.act),
                    dw(hw, hid, self.kernel, self.stride, self.act),
                ];
                if let Some(squeeze) = self.se {
                    v.push(UnitKey {
                        se: Some(squeeze),
                        ..UnitKey::new(UnitKind::Se, out_hw, hid, hid)
                    });
                }
                v.push(conv(out_hw, hid, cout, 1, 1, Activation::None));
                if self.has_residual() {
                    v.push(UnitKey::new(UnitKind::Add, out_hw, cout, cout));
                }
                v
            }
            UnitKind::Head => vec![
                conv(hw, cin, cout, 1, 1, self.act),
                UnitKey::new(UnitKind::Pool, hw, cout, cout),
            ],
            _ => vec![*self],
        }
    }
}

/// Where a unit sits in an architecture, for breakdowns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlacedUnit {
    /// `stem`, `separable`, `layer 3`, `head`, `hidden fc`, `classifier`.
    pub part: String,
    /// The unit.
    pub key: UnitKey,
}

impl Space {
    /// The block-level units an architecture is made of, input to output. Identity
    /// layers contribute none. Validates `arch` first.
    pub fn units_of(&self, arch: &Arch) -> Result<Vec<PlacedUnit>> {
        self.validate(arch)?;
        let mut out = self.fixed_units_front();
        for (layer, choice) in self.layers.iter().zip(&arch.layers) {
            if let Some(key) = self.layer_unit(layer.index, *choice) {
                out.push(PlacedUnit {
                    part: format!("layer {}", layer.index),
                    key,
                });
            }
        }
        out.extend(self.fixed_units_back());
        Ok(out)
    }

    /// The unit of `choice` at searchable layer `layer`; `None` for identity.
    pub fn layer_unit(&self, layer: usize, choice: Choice) -> Option<UnitKey> {
        let l = &self.layers[layer];
        match choice {
            Choice::Identity => None,
            Choice::Mbconv(m) => Some(UnitKey {
                kernel: m.kernel,
                stride: l.stride,
                expansion: m.expansion,
                se: m.se.then(|| self.se.squeeze_act(l.act)),
                act: l.act,
                ..UnitKey::new(UnitKind::Mbconv, l.input_hw, l.cin, l.cout)
            }),
        }
    }

    /// The units every architecture has (stem, separable, head, classifier), placed.
    pub fn fixed_units(&self) -> Vec<PlacedUnit> {
        let mut v = self.fixed_units_front();
        v.extend(self.fixed_units_back());
        v
    }

    fn fixed_units_front(&self) -> Vec<PlacedUnit> {
        let hw = self.stem_output_hw();
        let stem = UnitKey {
            kernel: self.stem.kernel,
            stride: self.stem.stride,
            act: self.stem.act,
            ..UnitKey::new(
                UnitKind::Stem,
                self.options.resolution,
                self.in_channels,
                self.stem.cout,
            )
        };
        let sep = UnitKey {
            kernel: self.separable.kernel,
            stride: 1,
            act: self.separable.act,
            ..UnitKey::new(UnitKind::Separable, hw, self.stem.cout, self.separable.cout)
        };
        vec![
            PlacedUnit {
                part: "stem".into(),
                key: stem,
            },
            PlacedUnit {
                part: "separable".into(),
                key: sep,
            },
        ]
    }

    fn fixed_units_back(&self) -> Vec<PlacedUnit> {
        let h = self.head;
        let mut out = vec![PlacedUnit {
            part: "head".into(),
            key: UnitKey {
                act: h.act,
                ..UnitKey::new(
                    UnitKind::Head,
                    self.final_hw(),
                    self.final_channels(),
                    h.conv_channels,
                )
            },
        }];
        let mut cin = h.conv_channels;
        if let Some((width, act)) = h.hidden {
            out.push(PlacedUnit {
                part: "hidden fc".into(),
                key: UnitKey {
                    act,
                    ..UnitKey::new(UnitKind::Fc, 1, cin, width)
                },
            });
            cin = width;
        }
        out.push(PlacedUnit {
            part: "classifier".into(),
            key: UnitKey::new(UnitKind::Fc, 1, cin, h.classes),
        });
        out
    }

    /// Every distinct single-operator unit of the space's blocks: what an op-level table
    /// (or a kernel benchmark on the space's real shapes) measures.
    pub fn op_unit_list(&self) -> Vec<UnitKey> {
        let mut seen = HashSet::new();
        self.unit_list()
            .iter()
            .flat_map(UnitKey::ops)
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// Every distinct unit any architecture of the space can need: what a complete table
    /// for the space must hold. Ordered input to output; layers with equal shapes share
    /// their units.
    pub fn unit_list(&self) -> Vec<UnitKey> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut add = |k: UnitKey| {
            if seen.insert(k) {
                out.push(k);
            }
        };
        self.fixed_units_front()
            .into_iter()
            .for_each(|p| add(p.key));
        for layer in &self.layers {
            for choice in self.choices_at(layer.index) {
                if let Some(k) = self.layer_unit(layer.index, choice) {
                    add(k);
                }
            }
        }
        self.fixed_units_back().into_iter().for_each(|p| add(p.key));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    #[test]
    fn unit_lists_dedupe_identical_layers() {
        // moga: 10 distinct layer shapes × 12 choices + stem, separable, head, 2 fc.
        // fairnas: 11 × 6 + 4; scarlet: 11 × 12 + 4 (identity needs no unit).
        let counts: Vec<usize> = SpaceId::ALL
            .iter()
            .map(|&id| Space::new(id).unit_list().len())
            .collect();
        assert_eq!(counts, [125, 70, 136]);
    }

    #[test]
    fn blocks_decompose_into_checked_op_units() {
        for id in SpaceId::ALL {
            let s = Space::new(id);
            let ops = s.op_unit_list();
            assert!(
                ops.iter().all(|k| k.check().is_ok() && k.ops() == vec![*k]),
                "{id}"
            );
            assert!(ops.len() > s.layers.len(), "{id}: {}", ops.len());
        }
        let moga = Space::new(SpaceId::Moga);
        let arch = crate::presets::preset("MoGA-A").unwrap().arch();
        let l3 = moga
            .units_of(&arch)
            .unwrap()
            .into_iter()
            .find(|u| u.part == "layer 3")
            .unwrap()
            .key;
        let kinds: Vec<UnitKind> = l3.ops().iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [
                UnitKind::Conv,
                UnitKind::Dwconv,
                UnitKind::Se,
                UnitKind::Conv,
                UnitKind::Add
            ]
        );
    }

    #[test]
    fn every_unit_of_every_sample_is_listed() {
        for id in SpaceId::ALL {
            let s = Space::new(id);
            let list: HashSet<UnitKey> = s.unit_list().into_iter().collect();
            for arch in s.sample(20, 1) {
                for u in s.units_of(&arch).unwrap() {
                    assert!(list.contains(&u.key), "{id}: {} not listed", u.key);
                    u.key.check().unwrap();
                }
            }
        }
    }

    #[test]
    fn keys_carry_the_se_squeeze_activation() {
        let moga = Space::new(SpaceId::Moga);
        let arch = crate::presets::preset("MoGA-A").unwrap().arch();
        let units = moga.units_of(&arch).unwrap();
        let l3 = units.iter().find(|u| u.part == "layer 3").unwrap().key;
        assert_eq!(l3.to_string(), "mbconv 28x28 40->40 k3 s1 e6 se(relu) relu");
        assert!(l3.has_residual());
        let scarlet = Space::new(SpaceId::Scarlet);
        let arch = crate::presets::preset("Scarlet-A").unwrap().arch();
        let l18 = scarlet
            .units_of(&arch)
            .unwrap()
            .into_iter()
            .find(|u| u.part == "layer 18")
            .unwrap()
            .key;
        assert_eq!(
            l18.to_string(),
            "mbconv 7x7 192->320 k7 s1 e6 se(relu) hswish"
        );
        assert!(!l18.has_residual());
    }
}
