//! One model of a task's search space: what the search engine, the oracles, the
//! latency table and the CLI need of a space, whatever the task. Classification
//! ([`Space`]) and super-resolution ([`SrSpaceId`]) implement it; a third task (a
//! detection or segmentation space) is another implementation, not another copy of
//! the search (the search crate's tests add a toy one in a few lines).
//!
//! A space is searched through a *genome*: one choice index per position, each
//! position with its own number of choices. The space decodes a genome into its
//! architecture type and back, names each choice, counts multiply-adds and parameters,
//! and lists the latency units an architecture is made of at an input shape. Where a
//! position's cost does not depend on the other positions (classification's layers),
//! [`SearchSpace::additive`] tabulates it once, and the search evaluates by table
//! lookups and can compute the exact Pareto front; where it does (super-resolution's
//! cells, whose inputs depend on the links), every architecture is counted whole.

use std::fmt;

use crate::error::{Error, Result};
use crate::lut::Lut;
use crate::rng::SplitMix64;
use crate::space::{Choice, Space, SpaceOptions};
use crate::sr::{SR_CELLS, SrArch, SrCell, SrSpaceId};
use crate::stats::ArchStats;
use crate::unit::{PlacedUnit, UnitKey};
use crate::{Arch, PRESETS, SR_PRESETS};

/// An architecture of some space: written and read as text.
pub trait Architecture: Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The canonical text encoding (what tables, caches and `front.json` key by).
    fn encode(&self) -> String;
    /// Reads any of the architecture's written forms (encoding, preset name, JSON); the
    /// error says what was expected.
    fn parse(text: &str) -> Result<Self>;
    /// The published model with exactly this architecture, if any.
    fn preset_name(&self) -> Option<&'static str>;
}

/// Per-position multiply-adds and parameters of an additive space, and its fixed parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdditiveCounts {
    /// Multiply-adds per position and choice.
    pub madds: Vec<Vec<u64>>,
    /// Parameters per position and choice.
    pub params: Vec<Vec<u64>>,
    /// Multiply-adds of the parts no choice changes.
    pub fixed_madds: u64,
    /// Parameters of the parts no choice changes.
    pub fixed_params: u64,
}

/// A search space of one task. See the module documentation.
pub trait SearchSpace: Clone + Send + Sync + 'static {
    /// Its architectures.
    type Arch: Architecture;
    /// What an input is described by when costing or profiling (a resolution, a side).
    type Shape: Copy + fmt::Debug + PartialEq + Send + Sync;

    /// The space's name, as the CLI and every file spell it.
    fn name(&self) -> String;
    /// The input shape the space is counted and searched at.
    fn shape(&self) -> Self::Shape;
    /// An input shape as reports write it (`224x224`).
    fn describe_shape(&self, shape: Self::Shape) -> String {
        format!("{shape:?}")
    }
    /// The CLI flag that profiles at `shape` (`--resolution 224`, `--lr-side 8`).
    fn shape_flag(&self, shape: Self::Shape) -> String;
    /// The number of choices at each genome position.
    fn cardinalities(&self) -> Vec<usize>;
    /// The architecture of a genome (each gene below its position's cardinality).
    fn decode(&self, genes: &[usize]) -> Self::Arch;
    /// The genome of an architecture; `None` when it is not of this space.
    fn genes(&self, arch: &Self::Arch) -> Option<Vec<usize>>;
    /// Choice `choice` at `position`, as a token (for exported problems and reports).
    fn choice_token(&self, position: usize, choice: usize) -> String;
    /// Whether that choice skips the position (an identity layer): an oracle's feature.
    fn skips(&self, _position: usize, _choice: usize) -> bool {
        false
    }
    /// One architecture drawn uniformly, gene by gene.
    fn sample(&self, rng: &mut SplitMix64) -> Self::Arch {
        let genes: Vec<usize> = self
            .cardinalities()
            .iter()
            .map(|&k| rng.below(k as u64) as usize)
            .collect();
        self.decode(&genes)
    }
    /// `n` architectures drawn with `seed` (the same seed, the same list).
    fn sample_n(&self, n: usize, seed: u64) -> Vec<Self::Arch> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| self.sample(&mut rng)).collect()
    }
    /// The published models of this space, by name.
    fn presets(&self) -> Vec<(&'static str, Self::Arch)>;
    /// Exact multiply-adds and parameters, part by part, at [`SearchSpace::shape`];
    /// an architecture not of this space is an error.
    fn stats(&self, arch: &Self::Arch) -> Result<ArchStats>;
    /// The latency units `arch` is made of at `shape`, input to output.
    fn units(&self, arch: &Self::Arch, shape: Self::Shape) -> Result<Vec<PlacedUnit>>;
    /// Every unit any architecture of the space needs at `shape`: what a complete
    /// latency table holds.
    fn unit_list(&self, shape: Self::Shape) -> Vec<UnitKey>;
    /// Per-position counts when every position's cost is independent of the others
    /// (then the search evaluates by lookups and the exact front exists); `None` when
    /// not.
    fn additive(&self) -> Option<AdditiveCounts> {
        None
    }
    /// Per-position latencies from `lut` (the correction folded in) and the fixed
    /// parts', for an additive space: `None` where latency is not a sum over positions.
    fn latency_terms(&self, _lut: &Lut) -> Result<Option<(Vec<Vec<f64>>, f64)>> {
        Ok(None)
    }
}

impl Architecture for Arch {
    fn encode(&self) -> String {
        Arch::encode(self)
    }
    fn parse(text: &str) -> Result<Self> {
        Arch::parse(text)
    }
    fn preset_name(&self) -> Option<&'static str> {
        Arch::preset_name(self)
    }
}

impl Architecture for SrArch {
    fn encode(&self) -> String {
        SrArch::encode(self)
    }
    fn parse(text: &str) -> Result<Self> {
        SrArch::parse(text)
    }
    fn preset_name(&self) -> Option<&'static str> {
        SrArch::preset_name(self)
    }
}

impl SearchSpace for Space {
    type Arch = Arch;
    /// The input resolution.
    type Shape = u32;

    fn name(&self) -> String {
        self.id.to_string()
    }
    fn shape(&self) -> u32 {
        self.options.resolution
    }
    fn describe_shape(&self, resolution: u32) -> String {
        format!("{resolution}x{resolution}")
    }
    fn shape_flag(&self, resolution: u32) -> String {
        format!("--resolution {resolution}")
    }
    fn cardinalities(&self) -> Vec<usize> {
        (0..self.layers.len())
            .map(|l| self.choices_at(l).len())
            .collect()
    }
    fn decode(&self, genes: &[usize]) -> Arch {
        Arch {
            space: self.id,
            layers: genes
                .iter()
                .enumerate()
                .map(|(l, &g)| self.nth_choice(l, g))
                .collect(),
        }
    }
    fn genes(&self, arch: &Arch) -> Option<Vec<usize>> {
        if arch.space != self.id || arch.layers.len() != self.layers.len() {
            return None;
        }
        arch.layers
            .iter()
            .enumerate()
            .map(|(l, c)| self.choices_at(l).iter().position(|x| x == c))
            .collect()
    }
    fn choice_token(&self, position: usize, choice: usize) -> String {
        self.choices_at(position)[choice].token()
    }
    fn skips(&self, position: usize, choice: usize) -> bool {
        self.choices_at(position)[choice] == Choice::Identity
    }
    fn sample(&self, rng: &mut SplitMix64) -> Arch {
        Arch::sample(self, rng)
    }
    fn presets(&self) -> Vec<(&'static str, Arch)> {
        PRESETS
            .iter()
            .map(|p| (p.name, p.arch()))
            .filter(|(_, a)| a.space == self.id)
            .collect()
    }
    fn stats(&self, arch: &Arch) -> Result<ArchStats> {
        Space::stats(self, arch)
    }
    fn units(&self, arch: &Arch, resolution: u32) -> Result<Vec<PlacedUnit>> {
        self.at(resolution)?.units_of(arch)
    }
    fn unit_list(&self, resolution: u32) -> Vec<UnitKey> {
        self.at(resolution)
            .map_or_else(|_| Vec::new(), |s| s.unit_list())
    }
    fn additive(&self) -> Option<AdditiveCounts> {
        let choices: Vec<Vec<Choice>> =
            (0..self.layers.len()).map(|l| self.choices_at(l)).collect();
        let base = Arch {
            space: self.id,
            layers: choices.iter().map(|c| c[0]).collect(),
        };
        let base_stats = Space::stats(self, &base).expect("the first choices form an architecture");
        let counts: Vec<Vec<(u64, u64)>> = choices
            .iter()
            .enumerate()
            .map(|(l, cs)| cs.iter().map(|&c| self.layer_counts(l, c)).collect())
            .collect();
        // Parts 0 and 1 are the stem and the separable block; the searchable layers follow.
        let layers = 2..2 + self.layers.len();
        Some(AdditiveCounts {
            fixed_madds: base_stats.madds
                - base_stats.parts[layers.clone()]
                    .iter()
                    .map(|p| p.madds)
                    .sum::<u64>(),
            fixed_params: base_stats.params
                - base_stats.parts[layers]
                    .iter()
                    .map(|p| p.params)
                    .sum::<u64>(),
            madds: counts
                .iter()
                .map(|l| l.iter().map(|c| c.0).collect())
                .collect(),
            params: counts
                .iter()
                .map(|l| l.iter().map(|c| c.1).collect())
                .collect(),
        })
    }
    fn latency_terms(&self, lut: &Lut) -> Result<Option<(Vec<Vec<f64>>, f64)>> {
        Ok(Some(lut.layer_table(self)?.additive()))
    }
}

impl Space {
    /// Choice `g` of those valid at `layer` (as [`Space::choices_at`] lists them),
    /// without building the list: decoding is on a search's reporting path.
    fn nth_choice(&self, layer: usize, g: usize) -> Choice {
        let keeps = self
            .layers
            .get(layer)
            .is_some_and(crate::space::Layer::keeps_shape);
        self.choices
            .iter()
            .copied()
            .filter(|c| keeps || *c != Choice::Identity)
            .nth(g)
            .expect("a gene below its position's cardinality")
    }

    /// This space at another input resolution (itself when the same).
    fn at(&self, resolution: u32) -> Result<std::borrow::Cow<'_, Space>> {
        if resolution == self.options.resolution {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let options = SpaceOptions {
            resolution,
            ..self.options
        };
        Space::with_options(self.id, options).map(std::borrow::Cow::Owned)
    }
}

impl SearchSpace for SrSpaceId {
    type Arch = SrArch;
    /// The low-resolution input's side (square inputs).
    type Shape = u32;

    fn name(&self) -> String {
        SrSpaceId::name(*self).to_string()
    }
    /// FALSR counts multiply-adds at a 480×480 low-resolution input.
    fn shape(&self) -> u32 {
        crate::sr::SR_STATS_SIDE
    }
    fn describe_shape(&self, side: u32) -> String {
        format!("{side}x{side}")
    }
    fn shape_flag(&self, side: u32) -> String {
        format!("--lr-side {side}")
    }
    /// Seven cells of 192 choices each, then the link bits.
    fn cardinalities(&self) -> Vec<usize> {
        let mut cards = vec![SrCell::all().len(); SR_CELLS];
        cards.extend(std::iter::repeat_n(2, self.link_bits()));
        cards
    }
    fn decode(&self, genes: &[usize]) -> SrArch {
        let cells = sr_cells();
        SrArch {
            space: *self,
            cells: genes[..SR_CELLS].iter().map(|&g| cells[g]).collect(),
            links: genes[SR_CELLS..].iter().map(|&g| g == 1).collect(),
        }
    }
    fn genes(&self, arch: &SrArch) -> Option<Vec<usize>> {
        if arch.space != *self {
            return None;
        }
        let cells = sr_cells();
        let mut g: Vec<usize> = arch
            .cells
            .iter()
            .map(|c| cells.iter().position(|x| x == c))
            .collect::<Option<_>>()?;
        g.extend(arch.links.iter().map(|&b| usize::from(b)));
        Some(g)
    }
    fn choice_token(&self, position: usize, choice: usize) -> String {
        if position < SR_CELLS {
            sr_cells()[choice].to_string()
        } else {
            ["0", "1"][choice].to_string()
        }
    }
    fn sample(&self, rng: &mut SplitMix64) -> SrArch {
        SrArch::sample(*self, rng)
    }
    fn presets(&self) -> Vec<(&'static str, SrArch)> {
        SR_PRESETS
            .iter()
            .map(|p| (p.name, p.arch()))
            .filter(|(_, a)| a.space == *self)
            .collect()
    }
    fn stats(&self, arch: &SrArch) -> Result<ArchStats> {
        if arch.space != *self {
            return Err(Error::SpaceOption {
                space: self.to_string(),
                message: format!("the architecture belongs to space {}", arch.space),
            });
        }
        arch.stats(crate::sr::SR_STATS_SIDE)
    }
    fn units(&self, arch: &SrArch, side: u32) -> Result<Vec<PlacedUnit>> {
        arch.units(side)
    }
    fn unit_list(&self, side: u32) -> Vec<UnitKey> {
        SrSpaceId::unit_list(*self, side)
    }
}

/// The 192 cells, in genome order (built once).
fn sr_cells() -> &'static [SrCell] {
    static CELLS: std::sync::LazyLock<Vec<SrCell>> = std::sync::LazyLock::new(SrCell::all);
    &CELLS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpaceId;

    /// Genomes and architectures convert both ways, and the additive counts add up to
    /// what the space counts whole, for both tasks.
    #[test]
    fn both_tasks_decode_encode_and_count_through_one_trait() {
        fn round_trip<S: SearchSpace>(space: &S) {
            for arch in space.sample_n(20, 7) {
                let genes = space.genes(&arch).expect("a sample is of its space");
                assert_eq!(space.decode(&genes), arch);
                assert_eq!(S::Arch::parse(&arch.encode()).unwrap(), arch);
                let stats = space.stats(&arch).unwrap();
                if let Some(a) = space.additive() {
                    let m: u64 = genes.iter().enumerate().map(|(p, &g)| a.madds[p][g]).sum();
                    let p: u64 = genes.iter().enumerate().map(|(p, &g)| a.params[p][g]).sum();
                    assert_eq!(a.fixed_madds + m, stats.madds);
                    assert_eq!(a.fixed_params + p, stats.params);
                }
                assert!(!space.units(&arch, space.shape()).unwrap().is_empty());
            }
            for (name, arch) in space.presets() {
                assert!(space.genes(&arch).is_some(), "{name}");
                assert_eq!(arch.preset_name(), Some(name));
            }
        }
        for id in SpaceId::ALL {
            round_trip(&Space::new(id));
        }
        for id in SrSpaceId::ALL {
            round_trip(&id);
        }
        let moga = Space::new(SpaceId::Moga);
        let arch = moga.presets()[0].1.clone();
        assert_eq!(
            moga.units(&arch, 224).unwrap().len(),
            moga.units(&arch, 160).unwrap().len()
        );
        assert_ne!(
            moga.units(&arch, 224).unwrap(),
            moga.units(&arch, 160).unwrap()
        );
    }
}
