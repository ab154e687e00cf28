//! Search and supernets: the host-side learning half of moga.
//!
//! - [`ga`], [`pareto`], [`rl`]: the evolutionary multi-objective engine (NSGA-II,
//!   MoGA's weighted variant, MoreMNAS's reinforced mutation, random search);
//! - [`objectives`], [`run`], [`plot`]: searching a space under accuracy, LUT latency,
//!   parameters and MAdds, with constraints, into `front.json` and a plot;
//! - [`problems`]: benchmark problems with known optima;
//! - [`supernet`]: weight-sharing supernets (FairNAS, SPOS, ScarletNAS's LET), their
//!   training, checkpoints and the accuracy oracle;
//! - [`torch`]: libtorch through `tch` (CUDA when present).

#![warn(missing_docs)]

mod error;
pub mod ga;
pub mod objectives;
pub mod pareto;
pub mod plot;
pub mod problems;
pub mod rl;
pub mod run;
pub mod supernet;
pub mod torch;

pub use error::{Error, Result};
