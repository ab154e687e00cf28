//! Multi-objective architecture search, without libtorch:
//!
//! - [`ga`], [`pareto`], [`rl`]: the evolutionary multi-objective engine (NSGA-II,
//!   MoGA's weighted variant, MoreMNAS's reinforced mutation, random search);
//! - [`exact`]: exact Pareto fronts of objectives that are sums over layers (layer-wise
//!   dynamic programming), and its ε-grid variant;
//! - [`objectives`], [`run`], [`plot`]: searching a space under accuracy, LUT latency,
//!   parameters and MAdds, with constraints, into `front.json` and a plot;
//! - [`oracle`]: where accuracies come from, a trait (the proxy and accuracy tables
//!   here; supernet checkpoints in the `supernet` crate).

#![warn(missing_docs)]

mod error;
pub mod exact;
pub mod ga;
pub mod objectives;
pub mod oracle;
pub mod pareto;
pub mod plot;
#[cfg(test)]
mod problems;
pub mod rl;
pub mod run;

pub use error::{Error, Result};
