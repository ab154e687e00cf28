//! Weight-sharing supernets on libtorch (CUDA when present, else the CPU), the part of
//! moga that needs libtorch (the search engine does not):
//!
//! - [`net`]: the supernet of a space, every choice block of every layer, run one
//!   single path at a time; ScarletNAS's linearly equivalent identity;
//! - [`train`]: FairNAS strict-fairness training, SPOS sampling, stand-alone training,
//!   epoch checkpoints and resume;
//! - [`eval`]: accuracy with inherited weights after BatchNorm recalibration, cached:
//!   the accuracy oracle of `moga search --accuracy supernet:CKPT`;
//! - [`data`]: the bundled digits, CIFAR-10 binaries, image folders;
//! - [`oracle`]: a checkpoint as the search's [`search::oracle::AccuracyOracle`];
//! - [`torch`]: libtorch through `tch` (CUDA when present);
//! - [`dist`]: PyTorch's distributed engine (c10d): a Gloo process group and its
//!   collectives.
//!
//! **Linearly equivalent identity (LET)**, ScarletNAS (Chu et al. 2019,
//! arXiv:1908.06022, §3.2): with `--scarlet-let` an identity choice is trained as
//! `BN(W x)`, a 1×1 convolution `W` (`[cout, cin, 1, 1]`, no bias) followed by
//! BatchNorm, with no activation. In inference mode that is the affine map
//! `y = diag(s) W x + (β − s μ)` with `s = γ / √(σ² + ε)`
//! ([`net::ConvBn::folded_linear`]), and since the next layer begins with a linear 1×1
//! expansion convolution the two compose into one linear map: the LET adds no
//! representational power over a skip, but gives the supernet's deep, skip-heavy paths
//! a trainable, normalised signal instead of raw activations, which keeps training
//! stable when depth is searched. The architecture it stands for is the identity: the
//! exported network and every latency and MAdds figure treat the choice as a skip.

#![warn(missing_docs)]

pub mod data;
pub mod dist;
mod error;
pub mod eval;
pub mod net;
mod optim;
pub mod oracle;
/// The data of ×2 luminance super-resolution: image folders and their split,
/// low-resolution pairs, training patches, the bicubic baseline; with the [`imaging`]
/// crate's colour, MATLAB's bicubic resize and PSNR/SSIM re-exported.
pub mod sr_image;
/// Super-resolution networks on libtorch: built from the space's plan, trained on image
/// patches (L1, Adam), scored by PSNR/SSIM on Y against bicubic.
pub mod sr_net;
/// Searching the super-resolution spaces: genome, objectives, FALSR's initial population
/// and its brief-training oracle.
pub mod sr_search;
/// A weight-sharing super-resolution supernet, trained with FairNAS's strict fairness
/// over the cell operators: the search's cheap oracle.
pub mod sr_supernet;
pub mod torch;
pub mod train;
pub mod weights;

pub use error::{Error, Result};

pub use data::{Data, DataSpec};
pub use eval::{Evaluation, Evaluator, NamedTensors};
pub use net::{Mode, NetOptions, Owner, PathTensor, Supernet};
pub use oracle::SupernetOracle;
pub use train::{Progress, Strategy, TrainConfig, Trainer};

#[cfg(test)]
mod tests;
