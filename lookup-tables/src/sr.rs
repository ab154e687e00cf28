//! Super-resolution spaces (×2, luminance only): FALSR's cells with links, MoreMNAS's
//! plain chain of the same cells, their presets and their exact costs.
//!
//! The structure is the authors' released frozen graphs, read node by node
//! (`docs/sr-released-graphs.md` has every cell, link and weight shape):
//! - feature extractor (`fe`): 3×3 conv 1 → 32 + ReLU;
//! - 7 searchable cells, each {conv, grouped conv with 2 or 4 groups, inverted
//!   bottleneck with expansion 2} × filters {16, 32, 48, 64} × kernel {1, 3} ×
//!   repeats {1, 2, 4} × in-cell skip {yes, no} = 192 choices:
//!   - conv / grouped: per repeat a k×k conv (+ bias) + ReLU; the skip adds the first
//!     repeat's output to the last's (no add when there is one repeat);
//!   - inverted bottleneck: a linear 1×1 conv maps the input to f channels, then per
//!     repeat k×k conv f → 2f + ReLU, 3×3 depthwise + ReLU, k×k conv 2f → f, plus the
//!     repeat's input (always); the skip adds the 1×1 map's output to the last repeat's
//!     (no add when there is one repeat); the output is linear;
//! - tail: 3×3 conv (its inputs concatenated) → 32 + ReLU, plus the feature extractor's
//!   output; depth-to-space ×2 (32 → 8, TensorFlow's channel order = ONNX's DCR); 3×3
//!   conv 8 → 1 (+ bias, no activation) predicting the high-resolution Y directly.
//!   Every convolution has a bias; there is no BatchNorm.
//!
//! **Links** (FALSR only): cell 0 reads the feature extractor; cell j ≥ 1 always reads
//! cell j − 1 and optionally the feature extractor and cells 0 … j − 2; the tail always
//! reads cell 6 and optionally the feature extractor and cells 0 … 5. One bit per
//! optional link, grouped cell 1 (1 bit) | cell 2 (2) | … | cell 6 (6) | tail (7), each
//! group in source order FE, c0, c1, …: 21 + 7 = 28 bits, FALSR's n(n+1)/2. Inputs are
//! concatenated in ascending source order (FE first). This bit order is our
//! reconstruction from the released graphs (the paper does not print one); the link
//! sets themselves are the graphs'. MoreMNAS has no links: every cell and the tail read
//! the previous part only.
//!
//! **Costs** (the classification spaces' convention): multiply-adds are
//! `Hout·Wout·Cout·(Cin/groups)·k²` per convolution (biases, ReLUs, adds, concatenation
//! and depth-to-space are free); parameters are weights + biases. The published
//! figures are multiply-adds at a 480×480 *low-resolution* input (a 960×960 output).
//!
//! **Encoding**: `falsr:<cell>-<cell>-…-<cell>/<28 bits>` or `moremnas:<cell>-…-<cell>`,
//! a cell written `<op>_f<filters>_k<kernel>_b<repeats>_<skip|noskip>` with op `conv`,
//! `group2`, `group4` or `invbot`, e.g. `conv_f64_k3_b4_skip`; bits may be grouped with
//! `.` (`0.00.001.1010.00000.101001.1111111`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::stats::{ArchStats, PartStats};
use crate::unit::{KeyField, PlacedUnit, UnitKey, UnitKind};

/// Searchable cells of both spaces.
pub const SR_CELLS: usize = 7;
/// Channels of the feature extractor and of the tail.
pub const SR_FEATURES: u32 = 32;
/// Optional links of FALSR: n(n+1)/2 for n = 7.
pub const SR_LINK_BITS: usize = 28;
/// Upscaling factor.
pub const SR_SCALE: u32 = 2;
/// Filters a cell may have.
pub const SR_FILTERS: [u32; 4] = [16, 32, 48, 64];
/// Kernel sizes a cell may have.
pub const SR_KERNELS: [u32; 2] = [1, 3];
/// Repeats a cell may have.
pub const SR_REPEATS: [u32; 3] = [1, 2, 4];
/// The published figures' low-resolution input side.
pub const SR_STATS_SIDE: u32 = 480;

/// A super-resolution search space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrSpaceId {
    /// FALSR: 7 cells × 192 choices plus 28 link bits.
    Falsr,
    /// MoreMNAS: 7 cells × 192 choices in a plain chain.
    Moremnas,
}

impl SrSpaceId {
    /// Both spaces.
    pub const ALL: [SrSpaceId; 2] = [SrSpaceId::Falsr, SrSpaceId::Moremnas];

    /// The lower-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            SrSpaceId::Falsr => "falsr",
            SrSpaceId::Moremnas => "moremnas",
        }
    }

    /// Link bits of an architecture of this space.
    pub fn link_bits(self) -> usize {
        match self {
            SrSpaceId::Falsr => SR_LINK_BITS,
            SrSpaceId::Moremnas => 0,
        }
    }
}

impl fmt::Display for SrSpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SrSpaceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SrSpaceId::ALL
            .into_iter()
            .find(|id| id.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownSpace {
                name: s.to_string(),
                known: SrSpaceId::ALL.map(SrSpaceId::name).join(", "),
            })
    }
}

/// The operator of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrOp {
    /// Plain k×k convolution + ReLU per repeat.
    Conv,
    /// Grouped convolution, 2 groups.
    Group2,
    /// Grouped convolution, 4 groups.
    Group4,
    /// Inverted bottleneck with expansion 2.
    Invbot,
}

impl SrOp {
    /// Every operator, in a stable order.
    pub const ALL: [SrOp; 4] = [SrOp::Conv, SrOp::Group2, SrOp::Group4, SrOp::Invbot];

    /// The token in encodings.
    pub fn name(self) -> &'static str {
        match self {
            SrOp::Conv => "conv",
            SrOp::Group2 => "group2",
            SrOp::Group4 => "group4",
            SrOp::Invbot => "invbot",
        }
    }

    /// Groups of the cell's k×k convolutions (1 for conv and the inverted bottleneck).
    pub fn groups(self) -> u32 {
        match self {
            SrOp::Group2 => 2,
            SrOp::Group4 => 4,
            SrOp::Conv | SrOp::Invbot => 1,
        }
    }
}

/// One searchable cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrCell {
    /// The operator.
    pub op: SrOp,
    /// Output channels (16, 32, 48, 64).
    pub filters: u32,
    /// Kernel size of the k×k convolutions (1 or 3).
    pub kernel: u32,
    /// Repeats of the block (1, 2, 4).
    pub repeats: u32,
    /// The in-cell skip.
    pub skip: bool,
}

impl SrCell {
    /// Every one of the 192 choices, in a stable order.
    pub fn all() -> Vec<SrCell> {
        let mut v = Vec::with_capacity(192);
        for op in SrOp::ALL {
            for filters in SR_FILTERS {
                for kernel in SR_KERNELS {
                    for repeats in SR_REPEATS {
                        for skip in [false, true] {
                            v.push(SrCell {
                                op,
                                filters,
                                kernel,
                                repeats,
                                skip,
                            });
                        }
                    }
                }
            }
        }
        v
    }

    /// Reads `<op>_f<filters>_k<kernel>_b<repeats>_<skip|noskip>` (syntax only).
    pub fn parse_token(token: &str) -> std::result::Result<SrCell, String> {
        let t = token.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "'{token}' is not a cell (expected <op>_f<filters>_k<kernel>_b<repeats>_<skip|noskip> \
                 with op conv, group2, group4 or invbot, e.g. conv_f64_k3_b4_skip)"
            )
        };
        let parts: Vec<&str> = t.split('_').collect();
        let [op, f, k, b, s] = parts[..] else {
            return Err(bad());
        };
        let op = SrOp::ALL
            .into_iter()
            .find(|o| o.name() == op)
            .ok_or_else(bad)?;
        let num = |s: &str, prefix: char| -> std::result::Result<u32, String> {
            let d = s.strip_prefix(prefix).ok_or_else(bad)?;
            if d.is_empty() || d.len() > 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            d.parse().map_err(|_| bad())
        };
        let skip = match s {
            "skip" => true,
            "noskip" => false,
            _ => return Err(bad()),
        };
        Ok(SrCell {
            op,
            filters: num(f, 'f')?,
            kernel: num(k, 'k')?,
            repeats: num(b, 'b')?,
            skip,
        })
    }

    /// Checks the cell against the space's choices; the message names the bad field.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let field = |name: &'static str, v: u32, ok: &[u32]| {
            if ok.contains(&v) {
                Ok(())
            } else {
                let ok: Vec<String> = ok.iter().map(u32::to_string).collect();
                Err((
                    name,
                    format!("{v} is not one of {} ({self})", ok.join(", ")),
                ))
            }
        };
        field("filters", self.filters, &SR_FILTERS)?;
        field("kernel", self.kernel, &SR_KERNELS)?;
        field("repeats", self.repeats, &SR_REPEATS)
    }

    /// Whether the cell ends with an activation (conv and grouped cells do; the inverted
    /// bottleneck's output is linear).
    pub fn ends_with_relu(&self) -> bool {
        self.op != SrOp::Invbot
    }
}

impl fmt::Display for SrCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_f{}_k{}_b{}_{}",
            self.op.name(),
            self.filters,
            self.kernel,
            self.repeats,
            if self.skip { "skip" } else { "noskip" }
        )
    }
}

/// Where a part's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrSource {
    /// The feature extractor's output (32 channels).
    Features,
    /// The output of cell `i`.
    Cell(usize),
}

/// A super-resolution architecture: 7 cells and, for FALSR, 28 link bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrArch {
    /// The space.
    pub space: SrSpaceId,
    /// One cell per searchable position.
    pub cells: Vec<SrCell>,
    /// FALSR's optional links (empty for MoreMNAS), in the documented bit order.
    #[serde(default, with = "bits")]
    pub links: Vec<bool>,
}

mod bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[bool], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::bit_string(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<bool>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_bits(&s).map_err(serde::de::Error::custom)
    }
}

fn bit_string(v: &[bool]) -> String {
    v.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

fn parse_bits(s: &str) -> std::result::Result<Vec<bool>, String> {
    s.chars()
        .filter(|c| !matches!(c, '.' | ' ' | '_'))
        .map(|c| match c {
            '0' => Ok(false),
            '1' => Ok(true),
            _ => Err(format!("'{c}' in the links is not 0 or 1")),
        })
        .collect()
}

/// First bit of the link group of input slot `slot` (1 … 6 for cells, 7 for the tail):
/// slot j has j optional sources FE, c0, …, c(j − 2).
fn group_start(slot: usize) -> usize {
    slot * (slot - 1) / 2
}

impl SrArch {
    /// Whether `text` names a super-resolution architecture (preset, encoding or JSON of
    /// one of these spaces), so commands can route it here.
    pub fn claims(text: &str) -> bool {
        let t = text.trim();
        if sr_preset(t).is_some() {
            return true;
        }
        if t.starts_with('{') {
            return SrSpaceId::ALL
                .iter()
                .any(|s| t.contains(&format!("\"{}\"", s.name())));
        }
        t.split_once(':')
            .is_some_and(|(s, _)| s.trim().parse::<SrSpaceId>().is_ok())
    }

    /// Reads a preset name, an encoding or JSON; validated.
    pub fn parse(input: &str) -> Result<SrArch> {
        let text = input.trim();
        let arch = if text.starts_with('{') {
            serde_json::from_str(text).map_err(|error| Error::Json {
                what: "super-resolution architecture JSON".into(),
                error,
            })?
        } else if let Some(p) = sr_preset(text) {
            return Ok(p.arch());
        } else {
            SrArch::parse_encoding(text)?
        };
        arch.validate()?;
        Ok(arch)
    }

    /// Reads the compact encoding (syntax only; see [`SrArch::validate`]).
    pub fn parse_encoding(input: &str) -> Result<SrArch> {
        let text = input.trim();
        let syntax = |message: String| Error::ArchSyntax {
            input: text.chars().take(120).collect(),
            message,
        };
        let (space, rest) = text
            .split_once(':')
            .ok_or_else(|| syntax("expected '<space>:<cell>-<cell>-…[/<link bits>]'".into()))?;
        let space: SrSpaceId = space.parse()?;
        let (cells, links) = match rest.split_once('/') {
            Some((c, l)) => (c, parse_bits(l).map_err(syntax)?),
            None => (rest, Vec::new()),
        };
        if cells.trim().is_empty() {
            return Err(syntax("no cells after the space name".into()));
        }
        let cells = cells
            .split('-')
            .enumerate()
            .map(|(i, t)| SrCell::parse_token(t).map_err(|m| syntax(format!("cell {i}: {m}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(SrArch {
            space,
            cells,
            links,
        })
    }

    /// Checks cell count, every cell's fields and the link count; errors name the cell
    /// and the field.
    pub fn validate(&self) -> Result<()> {
        let space = self.space.name().to_string();
        if self.cells.len() != SR_CELLS {
            return Err(Error::LayerCount {
                space,
                expected: SR_CELLS,
                found: self.cells.len(),
            });
        }
        for (i, c) in self.cells.iter().enumerate() {
            c.check().map_err(|(field, message)| Error::InvalidCell {
                space: space.clone(),
                cell: i,
                field,
                message,
            })?;
        }
        let want = self.space.link_bits();
        if self.links.len() != want {
            return Err(Error::SpaceOption {
                space,
                message: format!(
                    "field 'links': {} bits given, the space has {want}{}",
                    self.links.len(),
                    if want == 0 {
                        " (a plain chain: drop the '/…' part)"
                    } else {
                        " (cell 1 … cell 6, then the tail: 1+2+3+4+5+6+7)"
                    }
                ),
            });
        }
        Ok(())
    }

    /// The compact encoding.
    pub fn encode(&self) -> String {
        self.to_string()
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("architectures always serialise")
    }

    /// One architecture drawn uniformly: each cell among the 192 choices, each link bit
    /// a fair coin.
    pub fn sample(space: SrSpaceId, rng: &mut SplitMix64) -> SrArch {
        let all = SrCell::all();
        let cells = (0..SR_CELLS)
            .map(|_| all[rng.below(all.len() as u64) as usize])
            .collect();
        let links = (0..space.link_bits()).map(|_| rng.below(2) == 1).collect();
        SrArch {
            space,
            cells,
            links,
        }
    }

    /// `n` architectures from `seed` (the same seed gives the same list).
    pub fn sample_n(space: SrSpaceId, n: usize, seed: u64) -> Vec<SrArch> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| SrArch::sample(space, &mut rng)).collect()
    }

    /// The sources of input slot `slot` (0 … 6 = cells, 7 = the tail), in concatenation
    /// order.
    pub fn sources(&self, slot: usize) -> Vec<SrSource> {
        assert!(slot <= SR_CELLS, "slot {slot} out of range");
        if slot == 0 {
            return vec![SrSource::Features];
        }
        let mut v = Vec::new();
        if !self.links.is_empty() {
            let start = group_start(slot);
            for (k, &on) in self.links[start..start + slot].iter().enumerate() {
                if on {
                    v.push(if k == 0 {
                        SrSource::Features
                    } else {
                        SrSource::Cell(k - 1)
                    });
                }
            }
        }
        v.push(SrSource::Cell(slot - 1));
        v
    }

    /// Channels of a source.
    pub fn channels(&self, s: SrSource) -> u32 {
        match s {
            SrSource::Features => SR_FEATURES,
            SrSource::Cell(i) => self.cells[i].filters,
        }
    }

    /// Input channels of slot `slot` (the concatenation's).
    pub fn input_channels(&self, slot: usize) -> u32 {
        self.sources(slot).iter().map(|&s| self.channels(s)).sum()
    }

    /// The preset's name when the architecture is one.
    pub fn preset_name(&self) -> Option<&'static str> {
        SR_PRESETS
            .iter()
            .find(|p| p.arch() == *self)
            .map(|p| p.name)
    }

    /// Multiply-adds and parameters at a `side`×`side` low-resolution input, part by part
    /// (summed over [`SrArch::plan`]'s convolutions).
    pub fn stats(&self, side: u32) -> Result<ArchStats> {
        self.validate()?;
        let plan = self.plan();
        let mut parts = Vec::new();
        for (part, (name, op)) in self.part_names().into_iter().enumerate() {
            let nodes: Vec<&SrNode> = plan
                .iter()
                .filter(|n| n.part == part && n.op != SrNodeOp::Input)
                .collect();
            let (first, last) = (nodes[0], nodes[nodes.len() - 1]);
            let cin = match &first.op {
                SrNodeOp::Conv { cin, .. } => *cin,
                _ => first.inputs.iter().map(|&i| plan[i].channels).sum(),
            };
            let (mut madds, mut params) = (0, 0);
            for n in &nodes {
                if let SrNodeOp::Conv {
                    cin,
                    cout,
                    kernel,
                    groups,
                    ..
                } = n.op
                {
                    let hw = u64::from(side * n.scale);
                    let weights =
                        u64::from(cout) * u64::from(cin / groups) * u64::from(kernel * kernel);
                    madds += hw * hw * weights;
                    params += weights + u64::from(cout);
                }
            }
            parts.push(PartStats {
                name,
                op,
                input_hw: side * plan[first.inputs[0]].scale,
                cin,
                cout: last.channels,
                output_hw: side * last.scale,
                madds,
                params,
            });
        }
        Ok(ArchStats {
            arch: self.encode(),
            preset: self.preset_name().map(str::to_string),
            madds: parts.iter().map(|p| p.madds).sum(),
            params: parts.iter().map(|p| p.params).sum(),
            depth: self.cells.iter().map(|c| c.repeats as usize).sum(),
            parts,
        })
    }

    /// The parts of the network, input to output: (name, what it is). [`SrNode::part`]
    /// indexes this list.
    pub fn part_names(&self) -> Vec<(String, String)> {
        let mut v = vec![("fe".to_string(), "conv3x3 relu".to_string())];
        for (i, c) in self.cells.iter().enumerate() {
            v.push((format!("cell {i}"), c.to_string()));
        }
        v.push(("tail".into(), "conv3x3 relu + fe".into()));
        v.push(("upsample".into(), "depth-to-space x2".into()));
        v.push(("out".into(), "conv3x3".into()));
        v
    }

    /// The network as a list of nodes, input first and output last: the one description
    /// of the structure that the cost count, the ONNX builder and the trainer all read.
    /// Node `i` writes tensor `i`; inputs refer to earlier nodes.
    pub fn plan(&self) -> Vec<SrNode> {
        let mut p = Plan::default();
        let x = p.push("input", 0, SrNodeOp::Input, vec![], 1);
        let fe = p.conv("fe", 0, x, (SR_FEATURES, 3, 1), true);
        let mut outputs: Vec<usize> = Vec::with_capacity(SR_CELLS);
        let source = |s: SrSource, outputs: &[usize]| match s {
            SrSource::Features => fe,
            SrSource::Cell(i) => outputs[i],
        };
        for (i, cell) in self.cells.iter().enumerate() {
            let part = 1 + i;
            let srcs = self
                .sources(i)
                .iter()
                .map(|&s| source(s, &outputs))
                .collect();
            let input = p.concat(&format!("cells.{i}.concat"), part, srcs);
            let out = p.cell(&format!("cells.{i}"), part, input, cell);
            outputs.push(out);
        }
        let part = 1 + SR_CELLS;
        let srcs = self
            .sources(SR_CELLS)
            .iter()
            .map(|&s| source(s, &outputs))
            .collect();
        let input = p.concat("tail.concat", part, srcs);
        p.tail(part, input, fe);
        p.nodes
    }

    /// The latency-table units of the network at a `side`×`side` low-resolution input,
    /// input to output: the feature extractor, each cell (fed its concatenated inputs),
    /// the tail. Validates first.
    pub fn units(&self, side: u32) -> Result<Vec<PlacedUnit>> {
        self.validate()?;
        let mut v = vec![PlacedUnit {
            part: "fe".into(),
            key: fe_unit(side),
        }];
        for (i, c) in self.cells.iter().enumerate() {
            v.push(PlacedUnit {
                part: format!("cell {i}"),
                key: c.unit(side, self.input_channels(i)),
            });
        }
        v.push(PlacedUnit {
            part: "tail".into(),
            key: tail_unit(side, self.input_channels(SR_CELLS)),
        });
        Ok(v)
    }
}

/// The feature extractor's unit at a `side`×`side` input.
pub fn fe_unit(side: u32) -> UnitKey {
    UnitKey::new(UnitKind::SrFe, side, 1, SR_FEATURES)
}

/// The tail's unit at a `side`×`side` input fed `cin` concatenated channels.
pub fn tail_unit(side: u32, cin: u32) -> UnitKey {
    UnitKey::new(UnitKind::SrTail, side, cin, 1)
}

impl SrCell {
    /// The cell's latency-table unit at a `side`×`side` input fed `cin` channels. A
    /// cell of one block has no skip to take, so its key says `noskip` either way.
    pub fn unit(&self, side: u32, cin: u32) -> UnitKey {
        UnitKey {
            kernel: self.kernel,
            expansion: if self.op == SrOp::Invbot { 2 } else { 1 },
            groups: self.op.groups(),
            repeats: self.repeats,
            skip: self.skip && self.repeats > 1,
            ..UnitKey::new(UnitKind::SrCell, side, cin, self.filters)
        }
    }

    /// Multiply-adds per low-resolution pixel and parameters of the cell fed `cin`
    /// channels (its plan's convolutions).
    pub fn cost(&self, cin: u32) -> (u64, u64) {
        let plan = unit_plan(&self.unit(1, cin)).expect("a cell unit has a plan");
        plan.iter()
            .filter_map(|n| match n.op {
                SrNodeOp::Conv {
                    cin,
                    cout,
                    kernel,
                    groups,
                    ..
                } => {
                    let w = u64::from(cout) * u64::from(cin / groups) * u64::from(kernel * kernel);
                    Some((w, w + u64::from(cout)))
                }
                _ => None,
            })
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// The cell a checked `srcell` unit measures.
    fn of_unit(key: &UnitKey) -> SrCell {
        let op = match (key.expansion, key.groups) {
            (2, _) => SrOp::Invbot,
            (_, 2) => SrOp::Group2,
            (_, 4) => SrOp::Group4,
            _ => SrOp::Conv,
        };
        SrCell {
            op,
            filters: key.cout,
            kernel: key.kernel,
            repeats: key.repeats,
            skip: key.skip,
        }
    }
}

/// The checks [`UnitKey::check`] makes of the super-resolution kinds (none of others).
pub(crate) fn check_unit(key: &UnitKey) -> std::result::Result<(), (KeyField, String)> {
    match key.kind {
        UnitKind::SrFe if key.cin != 1 || key.cout != SR_FEATURES => Err((
            KeyField::Cout,
            format!(
                "srfe maps 1 channel to {SR_FEATURES}, not {} to {}",
                key.cin, key.cout
            ),
        )),
        UnitKind::SrTail if key.cout != 1 => Err((
            KeyField::Cout,
            format!("srtail ends in 1 channel, not {}", key.cout),
        )),
        UnitKind::SrCell => {
            match (key.expansion, key.groups) {
                (1, 1 | 2 | 4) | (2, 1) => {}
                (e, g) => {
                    return Err((
                        KeyField::Groups,
                        format!(
                            "expansion {e} with groups {g} is no cell operator (conv: e1 g1, group2: e1 g2, group4: e1 g4, invbot: e2 g1)"
                        ),
                    ));
                }
            }
            if key.repeats == 0 {
                return Err((KeyField::Repeats, "must be at least 1".into()));
            }
            if key.skip && key.repeats == 1 {
                return Err((
                    KeyField::Skip,
                    "a cell of one block has no skip (write noskip)".into(),
                ));
            }
            if key.expansion == 1
                && (!key.cin.is_multiple_of(key.groups) || !key.cout.is_multiple_of(key.groups))
            {
                return Err((
                    KeyField::Groups,
                    format!(
                        "{} groups do not divide {} -> {} channels",
                        key.groups, key.cin, key.cout
                    ),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The plan of one super-resolution unit's model: inputs `x` (and, for the tail, `x2`,
/// the feature extractor's output), the same nodes the whole network has for that
/// part, output last. `None` for a unit that is not a super-resolution kind.
pub fn unit_plan(key: &UnitKey) -> Option<Vec<SrNode>> {
    let mut p = Plan::default();
    let x = p.push("x", 0, SrNodeOp::Input, vec![], key.cin);
    match key.kind {
        UnitKind::SrFe => {
            p.conv("fe", 0, x, (SR_FEATURES, 3, 1), true);
        }
        UnitKind::SrCell => {
            p.cell("cell", 0, x, &SrCell::of_unit(key));
        }
        UnitKind::SrTail => {
            let fe = p.push("x2", 0, SrNodeOp::Input, vec![], SR_FEATURES);
            p.tail(0, x, fe);
        }
        _ => return None,
    }
    Some(p.nodes)
}

impl SrSpaceId {
    /// The network a table of the space measures its runs against: its smallest
    /// published network (FALSR-B, MoreMNAS-C).
    pub fn reference_arch(self) -> SrArch {
        let name = match self {
            SrSpaceId::Falsr => "FALSR-B",
            SrSpaceId::Moremnas => "MoreMNAS-C",
        };
        sr_preset(name).expect("the reference is a preset").arch()
    }

    /// Every distinct unit any architecture of the space can need at a `side`×`side`
    /// input: what a complete table for the space holds. Cells are keyed by every input
    /// width their concatenation can have at their position, so FALSR's table is large
    /// (a few thousand units) and MoreMNAS's chain needs a few hundred.
    pub fn unit_list(self, side: u32) -> Vec<UnitKey> {
        let mut seen = std::collections::HashSet::new();
        std::iter::once(fe_unit(side))
            .chain((0..=SR_CELLS).flat_map(|slot| self.slot_units(slot, side)))
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// The units slot `slot` (a cell position, or [`SR_CELLS`] for the tail) can be, at
    /// every input width it can have (with repeats: a one-block cell's skip and noskip
    /// are one unit).
    pub fn slot_units(self, slot: usize, side: u32) -> Vec<UnitKey> {
        let widths = self.input_widths(slot);
        if slot == SR_CELLS {
            return widths.iter().map(|&w| tail_unit(side, w)).collect();
        }
        let cells = SrCell::all();
        widths
            .iter()
            .flat_map(|&w| cells.iter().map(move |c| c.unit(side, w)))
            .collect()
    }

    /// The input widths slot `slot` (a cell, or [`SR_CELLS`] for the tail) can have:
    /// the previous cell's filters, plus, in FALSR's space, any subset of the feature
    /// extractor and the earlier cells.
    pub fn input_widths(self, slot: usize) -> Vec<u32> {
        if slot == 0 {
            return vec![SR_FEATURES];
        }
        let mut extra: std::collections::BTreeSet<u32> = [0].into();
        if self == SrSpaceId::Falsr {
            extra.insert(SR_FEATURES);
            for _ in 0..slot - 1 {
                extra = extra
                    .iter()
                    .flat_map(|&e| std::iter::once(e).chain(SR_FILTERS.map(|f| e + f)))
                    .collect();
            }
        }
        let widths: std::collections::BTreeSet<u32> = extra
            .iter()
            .flat_map(|&e| SR_FILTERS.map(|f| e + f))
            .collect();
        widths.into_iter().collect()
    }
}

/// One node of [`SrArch::plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrNode {
    /// The node's name; a convolution's weights are `<name>.weight` and `<name>.bias`.
    pub name: String,
    /// Index into [`SrArch::part_names`].
    pub part: usize,
    /// What it computes.
    pub op: SrNodeOp,
    /// Earlier nodes it reads (several for a concatenation, in channel order).
    pub inputs: Vec<usize>,
    /// Channels of its output.
    pub channels: u32,
    /// Its output's size relative to the low-resolution input (1, or 2 after upsampling).
    pub scale: u32,
}

/// What a node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrNodeOp {
    /// The low-resolution Y input, `[N, 1, H, W]`.
    Input,
    /// A convolution with bias, stride 1, padding `kernel / 2`, then ReLU when `relu`.
    Conv {
        /// Input channels.
        cin: u32,
        /// Output channels.
        cout: u32,
        /// Kernel size.
        kernel: u32,
        /// Groups (the channel count for the depthwise convolution).
        groups: u32,
        /// Whether a ReLU follows.
        relu: bool,
    },
    /// Element-wise sum of the two inputs.
    Add,
    /// Channel concatenation of the inputs, in order.
    Concat,
    /// Depth-to-space ×2 in TensorFlow's channel order (ONNX `DepthToSpace`, mode DCR).
    DepthToSpace,
}

#[derive(Default)]
struct Plan {
    nodes: Vec<SrNode>,
}

impl Plan {
    fn push(&mut self, name: &str, part: usize, op: SrNodeOp, inputs: Vec<usize>, c: u32) -> usize {
        let scale = inputs.first().map_or(1, |&i| self.nodes[i].scale);
        self.nodes.push(SrNode {
            name: name.to_string(),
            part,
            op,
            inputs,
            channels: c,
            scale,
        });
        self.nodes.len() - 1
    }

    /// A convolution `(cout, kernel, groups)` of node `x`.
    fn conv(
        &mut self,
        name: &str,
        part: usize,
        x: usize,
        shape: (u32, u32, u32),
        relu: bool,
    ) -> usize {
        let (cout, kernel, groups) = shape;
        let cin = self.nodes[x].channels;
        let op = SrNodeOp::Conv {
            cin,
            cout,
            kernel,
            groups,
            relu,
        };
        self.push(name, part, op, vec![x], cout)
    }

    /// A searchable cell reading node `input`; nodes are named `<prefix>.…`. Returns the
    /// cell's output.
    fn cell(&mut self, prefix: &str, part: usize, input: usize, cell: &SrCell) -> usize {
        let p = self;
        let i = prefix;
        let (f, k) = (cell.filters, cell.kernel);
        let skip = cell.skip && cell.repeats > 1;
        match cell.op {
            SrOp::Invbot => {
                let start = p.conv(&format!("{i}.map"), part, input, (f, 1, 1), false);
                let mut x = start;
                for r in 0..cell.repeats {
                    let n = format!("{i}.{r}");
                    let e = p.conv(&format!("{n}.expand"), part, x, (2 * f, k, 1), true);
                    let d = p.conv(&format!("{n}.dw"), part, e, (2 * f, 3, 2 * f), true);
                    let j = p.conv(&format!("{n}.project"), part, d, (f, k, 1), false);
                    x = p.push(&format!("{n}.add"), part, SrNodeOp::Add, vec![x, j], f);
                }
                if skip {
                    let name = format!("{i}.skip");
                    x = p.push(&name, part, SrNodeOp::Add, vec![start, x], f);
                }
                x
            }
            op => {
                let mut x = input;
                let mut first = None;
                for r in 0..cell.repeats {
                    let name = format!("{i}.{r}.conv");
                    x = p.conv(&name, part, x, (f, k, op.groups()), true);
                    first.get_or_insert(x);
                }
                match first {
                    Some(f0) if skip => {
                        let name = format!("{i}.skip");
                        p.push(&name, part, SrNodeOp::Add, vec![f0, x], f)
                    }
                    _ => x,
                }
            }
        }
    }

    /// The tail reading node `input` (the concatenation) and the feature extractor
    /// `fe`: conv + ReLU, the global residual, depth-to-space, the output conv.
    fn tail(&mut self, part: usize, input: usize, fe: usize) -> usize {
        let t = self.conv("tail", part, input, (SR_FEATURES, 3, 1), true);
        let t = self.push("tail.add", part, SrNodeOp::Add, vec![t, fe], SR_FEATURES);
        let up = SR_FEATURES / (SR_SCALE * SR_SCALE);
        let u = self.push("upsample", part + 1, SrNodeOp::DepthToSpace, vec![t], up);
        self.nodes[u].scale = SR_SCALE;
        self.conv("out", part + 2, u, (1, 3, 1), false)
    }

    /// A concatenation of several sources, or the one source itself.
    fn concat(&mut self, name: &str, part: usize, srcs: Vec<usize>) -> usize {
        if srcs.len() == 1 {
            return srcs[0];
        }
        let c = srcs.iter().map(|&i| self.nodes[i].channels).sum();
        self.push(name, part, SrNodeOp::Concat, srcs, c)
    }
}

impl fmt::Display for SrArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.space)?;
        for (i, c) in self.cells.iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write!(f, "{c}")?;
        }
        if !self.links.is_empty() {
            f.write_str("/")?;
            // Grouped per input slot, as the module documentation describes.
            let mut at = 0;
            for slot in 1..=SR_CELLS {
                if slot > 1 {
                    f.write_str(".")?;
                }
                let end = (at + slot).min(self.links.len());
                f.write_str(&bit_string(&self.links[at..end]))?;
                at = end;
            }
            f.write_str(&bit_string(&self.links[at..]))?;
        }
        Ok(())
    }
}

/// A published super-resolution model.
#[derive(Clone, Copy, Debug)]
pub struct SrPreset {
    /// The name as published, e.g. `FALSR-A`.
    pub name: &'static str,
    /// The architecture in the compact encoding.
    pub encoding: &'static str,
}

impl SrPreset {
    /// The architecture (checked by the tests, so this cannot fail).
    pub fn arch(&self) -> SrArch {
        SrArch::parse_encoding(self.encoding).expect("preset encodings are valid")
    }
}

/// The released models whose graphs could be read (MoreMNAS-A and -B are missing from
/// the authors' repository: `docs/sr-released-graphs.md`).
pub const SR_PRESETS: [SrPreset; 5] = [
    SrPreset {
        name: "FALSR-A",
        encoding: "falsr:conv_f64_k3_b4_skip-conv_f48_k1_b1_skip-conv_f64_k3_b4_skip-conv_f64_k3_b4_skip-conv_f64_k3_b4_skip-conv_f64_k1_b4_noskip-conv_f64_k3_b4_skip/0.00.001.1010.00000.101001.1111111",
    },
    SrPreset {
        name: "FALSR-B",
        encoding: "falsr:invbot_f16_k3_b1_skip-invbot_f48_k1_b2_skip-conv_f16_k1_b2_skip-invbot_f32_k3_b4_noskip-conv_f64_k3_b2_noskip-group4_f16_k3_b4_noskip-conv_f16_k3_b1_skip/1.11.000.0011.00101.111000.0100101",
    },
    SrPreset {
        name: "FALSR-C",
        encoding: "falsr:group2_f32_k1_b1_noskip-conv_f64_k1_b4_noskip-invbot_f48_k3_b4_noskip-group2_f32_k1_b1_noskip-group4_f32_k1_b1_skip-conv_f48_k1_b4_noskip-conv_f16_k3_b1_skip/1.00.010.1000.10000.010000.1010001",
    },
    SrPreset {
        name: "MoreMNAS-C",
        encoding: "moremnas:invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip-group2_f48_k1_b4_skip-group2_f16_k1_b1_noskip-invbot_f16_k1_b2_noskip-invbot_f16_k1_b2_noskip",
    },
    SrPreset {
        name: "MoreMNAS-D",
        encoding: "moremnas:conv_f48_k1_b1_skip-group4_f32_k1_b2_skip-conv_f48_k1_b1_skip-group4_f48_k1_b1_skip-invbot_f48_k1_b4_skip-group4_f16_k1_b1_noskip-invbot_f64_k3_b4_noskip",
    },
];

/// The super-resolution preset called `name` (case-insensitive, `_` accepted for `-`).
pub fn sr_preset(name: &str) -> Option<&'static SrPreset> {
    let want = name.trim().replace('_', "-");
    SR_PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(&want))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// falsr: srfe + 160 distinct cells × 26 input widths (16 … 416) + 30 tails (16 … 480).
    const FALSR_UNITS: usize = 4191;

    #[test]
    fn units_cover_every_network_and_rebuild_its_parts() {
        let convs = |nodes: Vec<&SrNode>| {
            let mut v: Vec<SrNodeOp> = nodes
                .into_iter()
                .map(|n| n.op)
                .filter(|op| matches!(op, SrNodeOp::Conv { .. }))
                .collect();
            v.sort_by_key(|op| format!("{op:?}"));
            v
        };
        let counts: Vec<usize> = SrSpaceId::ALL.map(|s| s.unit_list(24).len()).to_vec();
        // moremnas: srfe + 160 distinct cells × 4 input widths + 4 tails.
        assert_eq!(counts, [FALSR_UNITS, 645]);
        for space in SrSpaceId::ALL {
            let list: std::collections::HashSet<UnitKey> =
                space.unit_list(24).into_iter().collect();
            let presets = SR_PRESETS.iter().map(SrPreset::arch);
            for arch in SrArch::sample_n(space, 25, 5)
                .into_iter()
                .chain(presets.filter(|a| a.space == space))
            {
                let units = arch.units(24).unwrap();
                assert_eq!(units.len(), 2 + SR_CELLS);
                let plan = arch.plan();
                for (part, u) in units.iter().enumerate() {
                    u.key.check().unwrap();
                    assert!(list.contains(&u.key), "{space}: {} not listed", u.key);
                    let parts = if part == 1 + SR_CELLS {
                        part..part + 3
                    } else {
                        part..part + 1
                    };
                    let whole = convs(plan.iter().filter(|n| parts.contains(&n.part)).collect());
                    let unit = unit_plan(&u.key).unwrap();
                    assert_eq!(whole, convs(unit.iter().collect()), "{}", u.key);
                }
            }
        }
    }

    #[test]
    fn sr_unit_keys_are_checked_and_named() {
        let c = SrCell::parse_token("invbot_f48_k3_b2_skip").unwrap();
        let k = c.unit(480, 96);
        assert_eq!(k.to_string(), "srcell 480x480 96->48 k3 e2 g1 b2 skip");
        let one = SrCell::parse_token("group4_f16_k1_b1_skip").unwrap();
        assert_eq!(
            one.unit(8, 32).to_string(),
            "srcell 8x8 32->16 k1 e1 g4 b1 noskip"
        );
        let bad = UnitKey {
            skip: true,
            ..one.unit(8, 32)
        };
        assert_eq!(bad.check().unwrap_err().0, KeyField::Skip);
        let bad = UnitKey { groups: 4, ..k };
        assert_eq!(bad.check().unwrap_err().0, KeyField::Groups);
        assert_eq!(tail_unit(10, 64).output_hw(), 20);
        assert_eq!(
            UnitKey::new(UnitKind::SrFe, 10, 3, 32)
                .check()
                .unwrap_err()
                .0,
            KeyField::Cout
        );
        // Costs per low-resolution pixel: one 1×1 conv 32 → 16 in 4 groups, with bias.
        assert_eq!(one.cost(32), (128, 144));
        // invbot f16 k1 b1: map 32→16, expand 16→32, dw 3×3 on 32, project 32→16.
        let ib = SrCell::parse_token("invbot_f16_k1_b1_noskip").unwrap();
        assert_eq!(ib.cost(32).0, 512 + 512 + 32 * 9 + 512);
    }

    #[test]
    fn presets_round_trip_and_validate() {
        for p in SR_PRESETS {
            let a = p.arch();
            a.validate().unwrap();
            assert_eq!(a.encode(), p.encoding, "{}", p.name);
            assert_eq!(SrArch::parse(&a.to_json()).unwrap(), a);
            assert_eq!(a.preset_name(), Some(p.name));
            assert!(SrArch::claims(p.name) && SrArch::claims(p.encoding));
        }
        assert!(!SrArch::claims("MoGA-A") && !SrArch::claims("moga:k3e3"));
    }

    /// The input channels of every cell and of the tail, as the released graphs' weight
    /// shapes show them (docs/sr-released-graphs.md, column Cin).
    #[test]
    fn links_give_the_released_input_channels() {
        let cin = |name: &str| {
            let a = sr_preset(name).unwrap().arch();
            (0..=SR_CELLS)
                .map(|s| a.input_channels(s))
                .collect::<Vec<_>>()
        };
        assert_eq!(cin("FALSR-A"), [32, 64, 48, 112, 144, 64, 208, 464]);
        assert_eq!(cin("FALSR-B"), [32, 48, 96, 16, 96, 144, 112, 80]);
        assert_eq!(cin("FALSR-C"), [32, 64, 64, 80, 64, 64, 80, 160]);
        assert_eq!(cin("MoreMNAS-C"), [32, 16, 16, 16, 48, 16, 16, 16]);
        assert_eq!(cin("MoreMNAS-D"), [32, 48, 32, 48, 48, 48, 16, 64]);
    }

    /// Parameters recounted from the released graphs' weights, part by part
    /// (docs/sr-released-graphs.md §5): exact.
    #[test]
    fn params_equal_the_released_graphs() {
        let parts = |name: &str| {
            let s = sr_preset(name).unwrap().arch().stats(480).unwrap();
            (
                s.params,
                s.parts.iter().map(|p| p.params).collect::<Vec<u64>>(),
            )
        };
        assert_eq!(
            parts("FALSR-A"),
            (
                1_021_401,
                vec![
                    320, 129_280, 3_120, 138_496, 175_360, 193_792, 16_640, 230_656, 133_664, 0, 73
                ]
            )
        );
        assert_eq!(parts("FALSR-B").0, 324_745);
        assert_eq!(parts("FALSR-C").0, 426_569);
        assert_eq!(parts("MoreMNAS-C").0, 25_001);
        assert_eq!(parts("MoreMNAS-D").0, 663_993);
        assert_eq!(
            parts("MoreMNAS-D").1,
            vec![
                320, 1_584, 704, 1_584, 624, 43_632, 208, 596_800, 18_464, 0, 73
            ]
        );
    }

    #[test]
    fn errors_name_the_cell_and_the_field() {
        let e = SrArch::parse("moremnas:conv_f40_k3_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cell 0") && e.contains("'filters'") && e.contains("40"),
            "{e}"
        );
        let e = SrArch::parse("moremnas:conv_f16_k1_b1_skip-conv_f16_k5_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cell 1") && e.contains("'kernel'"), "{e}");
        let e = SrArch::parse("moremnas:conv_f16_k1_b1_skip-conv_f16_k1_b3_skip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("7") && e.contains("2"), "{e}");
        let e = SrArch::parse("falsr:conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip-conv_f16_k1_b1_skip/0101")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'links'") && e.contains("4 bits"), "{e}");
        let e = SrArch::parse("falsr:sep_f16_k1_b1_skip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cell 0") && e.contains("sep_f16"), "{e}");
    }

    #[test]
    fn sampling_is_seeded_valid_and_covers_the_choices() {
        for space in SrSpaceId::ALL {
            let a = SrArch::sample_n(space, 300, 7);
            assert_eq!(a, SrArch::sample_n(space, 300, 7));
            for x in &a {
                x.validate().unwrap();
                assert_eq!(SrArch::parse(&x.encode()).unwrap(), *x);
            }
            let distinct: std::collections::HashSet<_> =
                a.iter().flat_map(|x| x.cells.iter().copied()).collect();
            assert!(distinct.len() > 150, "{}", distinct.len());
        }
        assert_eq!(SrCell::all().len(), 192);
    }

    #[test]
    fn a_plain_chain_reads_only_the_previous_part() {
        let a = sr_preset("MoreMNAS-C").unwrap().arch();
        for slot in 1..=SR_CELLS {
            assert_eq!(a.sources(slot), [SrSource::Cell(slot - 1)]);
        }
        let mut dense = sr_preset("FALSR-A").unwrap().arch();
        dense.links = vec![true; SR_LINK_BITS];
        assert_eq!(dense.sources(7).len(), 8);
        assert_eq!(dense.sources(3)[0], SrSource::Features);
    }
}
