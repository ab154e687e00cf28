//! The data model every moga crate shares: search spaces (one [`SearchSpace`] trait
//! whatever the task) and their fixed skeletons
//! (classification, and super-resolution in [`sr`]), the published presets, architectures (encoding, JSON, validation, seeded sampling), exact
//! multiply-adds and parameter counts, the units a latency table is keyed by, and the
//! table file itself (strict reading, atomic writing, merging, prediction).
//!
//! It sits at the bottom of the workspace and depends only on serde and csv, so the
//! device-runner can use it on a phone and every host tool agrees on what a unit is.

#![warn(missing_docs)]

mod arch;
mod atomic;
mod error;
pub mod lut;
mod presets;
mod rng;
mod search_space;
mod space;
pub mod sr;
mod stats;
mod unit;

pub use arch::Arch;
pub use atomic::write_atomic;
pub use error::{Error, Result};
pub use lut::{Lut, LutMeta, LutRow, Outcome};
pub use presets::{PRESETS, Preset, preset};
pub use rng::SplitMix64;
pub use search_space::{AdditiveCounts, Architecture, SearchSpace};
pub use space::{
    Activation, Choice, Head, Layer, MbConv, SeRule, SeSqueeze, Separable, Space, SpaceId,
    SpaceOptions, Stem,
};
pub use sr::{SR_PRESETS, SrArch, SrCell, SrOp, SrPreset, SrSource, SrSpaceId, sr_preset};
pub use stats::{ArchStats, PartStats, expanded, se_width};
pub use unit::{KeyField, PlacedUnit, UnitKey, UnitKind};
