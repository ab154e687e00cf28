//! Supernet training: FairNAS strict fairness, single-path uniform sampling (SPOS), or
//! one stand-alone architecture; SGD with Nesterov momentum and a cosine schedule;
//! a checkpoint after every epoch that `--resume` continues from.
//!
//! **Strict fairness** (FairNAS, Chu et al. 2019, arXiv:1907.01845, Algorithm 1): each
//! step draws, independently for every layer, a random permutation of its choices and
//! builds m single-path models, model k taking the k-th entry of every layer's
//! permutation. Each model runs forward and backward on the same batch, gradients
//! accumulate, and one optimiser step updates every parameter. So after every step each
//! choice of each layer has been activated and updated exactly once. Where layers hold
//! different numbers of choices (ScarletNAS: identity only where the shape is kept), m is
//! the largest count and a shorter layer tops its permutation up with choices taken in
//! round-robin order, so every choice is still updated at every step and activations stay
//! within one of each other.
//!
//! **Shared layers.** Algorithm 1 sums the m gradients, which gives the stem, head and
//! classifier (on every path) m times the learning rate of the choice blocks (each on
//! one path). At the small batches a CPU affords that diverges: on the bundled digits
//! (FairNAS space, batch 32, lr 0.02) the loss went from 2.3 to 30 within 20 steps. By
//! default each parameter therefore takes the *mean* gradient of the paths it was on:
//! identical to Algorithm 1 for every choice parameter, and Algorithm 1 with lr/m for
//! the shared ones. `--sum-shared-gradients` restores the plain sum.
//!
//! **SPOS** (Guo et al. 2019, arXiv:1904.00420): one uniformly sampled path per step.
//! Parameters off the path get no gradient and are not touched by the optimiser (no
//! weight decay, no momentum carry-over), as PyTorch does with `set_to_none` gradients.
//!
//! **Several ranks** ([`Trainer::create`] with a [`ProcessGroup`]: torchrun, or `moga
//! train --nproc`): data parallel on c10d. Every rank draws the same paths (one seeded
//! stream) and the same per-epoch permutation of the data; of each batch of `--batch`
//! images rank r takes the r-th of `world size` equal slices. After forward and backward
//! over the step's paths, one all-reduce sums the gradients (with the step's loss and
//! counts in the same bucket); each rank takes their mean over ranks, so clipping, the
//! one optimiser step and every decision (a non-finite loss ends the run) are the same on
//! every rank. BatchNorm keeps per-rank statistics, averaged over the ranks before a
//! checkpoint or a validation. Weights are broadcast from rank 0 at the start; only
//! rank 0 writes checkpoints, and the others wait for it. A checkpoint resumes on any
//! number of ranks that divides `--batch` (paths and data order do not depend on it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::{Arch, Space, SpaceId, SpaceOptions, SplitMix64};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::data::{Data, DataSpec};
use super::dist::ProcessGroup;
use super::eval;
use super::net::{Mode, NetOptions, Owner, Supernet};
use crate::error::{Error, Result};
use crate::optim::NesterovSgd;

/// How paths are drawn each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// FairNAS strict fairness.
    Fair,
    /// Uniform single-path sampling.
    Spos,
    /// One fixed architecture (`--arch`), trained as an ordinary network.
    Standalone,
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        match s {
            "fair" => Ok(Strategy::Fair),
            "spos" => Ok(Strategy::Spos),
            _ => Err(Error::Usage(format!(
                "--strategy '{s}': expected fair or spos (a stand-alone network is --arch ARCH)"
            ))),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Fair => "fair",
            Strategy::Spos => "spos",
            Strategy::Standalone => "standalone",
        })
    }
}

/// Everything that defines a training run; `config.json` in the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The search space.
    pub space: SpaceId,
    /// How paths are drawn.
    pub strategy: Strategy,
    /// Identity choices as linearly equivalent transformations (ScarletNAS).
    pub scarlet_let: bool,
    /// The architecture of a stand-alone run.
    pub arch: Option<Arch>,
    /// The data.
    pub data: DataSpec,
    /// Input height and width.
    pub resolution: u32,
    /// Epochs in all.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Steps per epoch at most (all batches when absent).
    pub max_steps: Option<usize>,
    /// Peak learning rate (cosine decay to zero over the run).
    pub lr: f64,
    /// SGD momentum (Nesterov).
    pub momentum: f64,
    /// Weight decay on convolution and linear weights.
    pub weight_decay: f64,
    /// Largest global gradient norm per step; larger gradients are scaled down to it
    /// (0: no clipping). Keeps the first steps of a supernet, whose shared layers
    /// receive the gradients of m paths at once, from diverging.
    #[serde(default)]
    pub grad_clip: f64,
    /// Shared parameters (stem, head, classifier) take the sum of the gradients of the
    /// step's paths, as FairNAS's Algorithm 1 accumulates them, instead of their mean.
    /// Every choice parameter takes part in one path per step under strict fairness,
    /// so this changes only the shared ones: summing multiplies their learning rate by
    /// m, which made small-batch runs diverge (see the module documentation).
    #[serde(default)]
    pub sum_shared_gradients: bool,
    /// Steps over which the learning rate rises linearly to `lr` before the cosine
    /// decay (0: none).
    #[serde(default)]
    pub warmup_steps: usize,
    /// A layer's inverted-residual choices share one block's convolution weights
    /// ([`crate::net`]); checkpoints written before this option were not entangled.
    #[serde(default)]
    pub entangled: bool,
    /// The last BatchNorm of every block with a shortcut starts with γ = 0.
    #[serde(default)]
    pub zero_init_residual: bool,
    /// Random crops (and flips where they keep the class) of the training images;
    /// checkpoints written before this option were augmented.
    #[serde(default = "yes")]
    pub augment: bool,
    /// Seed of data order, augmentation, paths and initial weights.
    pub seed: u64,
}

fn yes() -> bool {
    true
}

impl TrainConfig {
    /// How the network holds and initialises its weights.
    pub fn net_options(&self) -> NetOptions {
        NetOptions {
            let_identity: self.scarlet_let,
            entangled: self.entangled,
            zero_init_residual: self.zero_init_residual,
        }
    }

    /// The space at this run's resolution and `classes` outputs.
    pub fn space_for(&self, classes: usize) -> Result<Space> {
        Ok(Space::with_options(
            self.space,
            SpaceOptions {
                resolution: self.resolution,
                classes: classes as u32,
            },
        )?)
    }
}

/// One finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's paths and steps.
    pub loss: f64,
    /// Training accuracy (%) over the epoch's paths and steps.
    pub train_accuracy: f64,
    /// Validation accuracy (%) of a stand-alone network; absent for supernets, whose
    /// paths `moga eval` measures.
    pub val_accuracy: Option<f64>,
    /// Batch images per second (each image runs through every path of its step).
    pub images_per_sec: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
}

/// Where a run stands; `state.json` in the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Per layer, per choice: optimiser steps that updated that choice's parameters.
    pub updates: Vec<Vec<u64>>,
    /// Per layer, per choice: forward/backward passes that ran through it.
    pub activations: Vec<Vec<u64>>,
    /// Per layer: the next choice for round-robin top-ups (fair, unequal layers).
    pub round_robin: Vec<usize>,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// The moga version that wrote the checkpoint.
    pub moga_version: String,
}

/// Live progress, reported after every step.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
    /// Steps done in this epoch.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// Mean loss so far this epoch.
    pub loss: f64,
    /// Training accuracy (%) so far this epoch.
    pub accuracy: f64,
    /// Batch images per second so far this epoch.
    pub images_per_sec: f64,
}

/// The files of a checkpoint folder.
pub const CONFIG_FILE: &str = "config.json";
/// Training state.
pub const STATE_FILE: &str = "state.json";
/// Network weights (and BatchNorm statistics).
pub const WEIGHTS_FILE: &str = "supernet.safetensors";
/// SGD momentum buffers.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// A training run in memory.
pub struct Trainer {
    /// The run's definition.
    pub config: TrainConfig,
    /// The network.
    pub net: Supernet,
    /// The data.
    pub data: Data,
    /// Progress and counters.
    pub state: TrainState,
    sgd: NesterovSgd,
    dir: PathBuf,
    group: Option<ProcessGroup>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error: e,
    }
}

/// `auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    let cuda = |i: usize| {
        if tch::Cuda::is_available() && (i as i64) < tch::Cuda::device_count() {
            Ok(Device::Cuda(i))
        } else {
            Err(Error::Usage(format!(
                "--device {s}: libtorch sees {} CUDA device(s) (CUDA available: {}); use --device cpu or auto, and see `moga doctor`",
                tch::Cuda::device_count(),
                tch::Cuda::is_available()
            )))
        }
    };
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        _ => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(i) => cuda(i),
            None => Err(Error::Usage(format!(
                "--device '{s}': expected auto, cpu, cuda or cuda:N"
            ))),
        },
    }
}

/// Runs `collective` once per tensor kind among `ts` (a collective takes one kind at a
/// time), in order of first appearance.
fn by_kind(
    ts: &mut [Tensor],
    mut collective: impl FnMut(&mut [&mut Tensor]) -> Result<()>,
) -> Result<()> {
    let mut kinds = Vec::new();
    for t in ts.iter() {
        if !kinds.contains(&t.kind()) {
            kinds.push(t.kind());
        }
    }
    for kind in kinds {
        let mut of_kind: Vec<&mut Tensor> = ts.iter_mut().filter(|t| t.kind() == kind).collect();
        collective(&mut of_kind)?;
    }
    Ok(())
}

/// Each of the ranks takes an equal slice of every batch, of two images at least
/// (BatchNorm).
fn check_shards(batch: usize, group: Option<&ProcessGroup>) -> Result<()> {
    let world = group.map_or(1, ProcessGroup::size);
    if !batch.is_multiple_of(world) || batch / world < 2 {
        return Err(Error::Usage(format!(
            "--batch {batch} over {world} ranks: each rank takes an equal slice of every batch, of 2 images at least; use a multiple of {world} from {}",
            2 * world
        )));
    }
    Ok(())
}

/// The data `spec` and the network `config` describes, with the weights of the
/// checkpoint in `dir`.
pub(crate) fn restore(
    dir: &Path,
    config: &TrainConfig,
    spec: &DataSpec,
    device: Device,
) -> Result<(Data, Supernet)> {
    let data = Data::load(spec, config.resolution as usize, config.seed)?;
    let space = config.space_for(data.classes)?;
    let mut net = Supernet::new(&space, config.net_options(), config.arch.as_ref(), device)?;
    net.load(&dir.join(WEIGHTS_FILE))
        .map_err(|e| Error::Usage(format!("{e} (with {} classes from {spec})", data.classes)))?;
    Ok((data, net))
}

/// A device as `--device` spells it: `cpu`, `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Reads a JSON file of the checkpoint, naming it on failure.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("serialisable");
    text.push('\n');
    lookup_tables::write_atomic(path, text.as_bytes()).map_err(Error::from)
}

impl Trainer {
    /// A new run writing into `dir`, which must not hold a finished epoch already (a
    /// run that never finished one is started again).
    pub fn new(config: TrainConfig, device: Device, dir: &Path) -> Result<Trainer> {
        Trainer::create(config, device, dir, None)
    }

    /// [`Trainer::new`] as one rank of `group` (none: one process); every rank calls it
    /// with the same configuration, and starts from rank 0's weights.
    pub fn create(
        config: TrainConfig,
        device: Device,
        dir: &Path,
        group: Option<ProcessGroup>,
    ) -> Result<Trainer> {
        if dir.join(STATE_FILE).exists() {
            return Err(Error::Usage(format!(
                "{}: already holds a checkpoint; continue it with --resume or write to another folder",
                dir.display()
            )));
        }
        if config.epochs == 0 || config.batch < 2 {
            return Err(Error::Usage(
                "--epochs must be at least 1 and --batch at least 2 (BatchNorm needs two examples)"
                    .into(),
            ));
        }
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(Error::Usage(format!(
                "--lr {}: must be positive",
                config.lr
            )));
        }
        let data = Data::load(&config.data, config.resolution as usize, config.seed)?;
        if data.train.len() < config.batch {
            return Err(Error::Usage(format!(
                "--batch {} exceeds the {} training images of {}",
                config.batch,
                data.train.len(),
                config.data
            )));
        }
        let space = config.space_for(data.classes)?;
        if let Some(a) = config.arch.as_ref().filter(|a| a.space != config.space) {
            return Err(Error::Usage(format!(
                "--arch {} is of space {}, not {}",
                a.encode(),
                a.space,
                config.space
            )));
        }
        check_shards(config.batch, group.as_ref())?;
        tch::manual_seed(config.seed as i64);
        let net = Supernet::new(&space, config.net_options(), config.arch.as_ref(), device)?;
        let counts: Vec<Vec<u64>> = net.choices.iter().map(|c| vec![0; c.len()]).collect();
        let writer = group.as_ref().is_none_or(|g| g.rank() == 0);
        if writer {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let state = TrainState {
            epochs_done: 0,
            steps: 0,
            updates: counts.clone(),
            activations: counts,
            round_robin: vec![0; net.choices.len()],
            history: Vec::new(),
            moga_version: env!("CARGO_PKG_VERSION").into(),
        };
        if writer {
            write_json(&dir.join(CONFIG_FILE), &config)?;
        }
        let sgd = NesterovSgd::new(net.params.len(), config.momentum);
        let mut t = Trainer {
            config,
            net,
            data,
            state,
            sgd,
            dir: dir.to_path_buf(),
            group: None,
        };
        if let Some(g) = group {
            t.join(g)?;
        }
        Ok(t)
    }

    /// Continues the run checkpointed in `dir` (from its last finished epoch);
    /// `epochs` raises the total to train longer.
    pub fn resume(dir: &Path, device: Device, epochs: Option<usize>) -> Result<Trainer> {
        Trainer::resume_in(dir, device, epochs, None)
    }

    /// [`Trainer::resume`] as one rank of `group`: every rank reads the checkpoint
    /// (the folder must be reachable from every host), then takes rank 0's weights.
    pub fn resume_in(
        dir: &Path,
        device: Device,
        epochs: Option<usize>,
        group: Option<ProcessGroup>,
    ) -> Result<Trainer> {
        let mut config: TrainConfig = read_json(&dir.join(CONFIG_FILE))?;
        let state: TrainState = read_json(&dir.join(STATE_FILE)).map_err(|e| {
            Error::Usage(format!(
                "{e} (no finished epoch to resume from: start again without --resume)"
            ))
        })?;
        if let Some(e) = epochs {
            config.epochs = e;
        }
        let (data, net) = restore(dir, &config, &config.data, device)?;
        let mut sgd = NesterovSgd::new(net.params.len(), config.momentum);
        let opt = dir.join(OPTIMIZER_FILE);
        let bufs = crate::weights::read(&opt)?;
        for (i, p) in net.params.iter().enumerate() {
            if let Some(b) = bufs.get(&p.name) {
                sgd.buffers[i] = Some(b.to_device(device));
            }
        }
        if state.updates.len() != net.choices.len() {
            return Err(Error::Usage(format!(
                "{}: counters for {} layers, the network has {}",
                dir.join(STATE_FILE).display(),
                state.updates.len(),
                net.choices.len()
            )));
        }
        check_shards(config.batch, group.as_ref())?;
        let mut t = Trainer {
            config,
            net,
            data,
            state,
            sgd,
            dir: dir.to_path_buf(),
            group: None,
        };
        if let Some(g) = group {
            t.join(g)?;
        }
        Ok(t)
    }

    /// Becomes one rank of `group`: takes rank 0's weights, BatchNorm statistics and
    /// momentum buffers (every rank calls it, or none returns).
    pub fn join(&mut self, group: ProcessGroup) -> Result<()> {
        check_shards(self.config.batch, Some(&group))?;
        self.group = Some(group);
        self.take_rank_zeros_weights()
    }

    /// This process's rank and the number of ranks (0 and 1 alone).
    pub fn rank(&self) -> (usize, usize) {
        self.group.as_ref().map_or((0, 1), |g| (g.rank(), g.size()))
    }

    /// Every rank takes rank 0's weights, BatchNorm statistics and momentum buffers.
    fn take_rank_zeros_weights(&mut self) -> Result<()> {
        let Some(g) = &self.group else {
            return Ok(());
        };
        let mut ts: Vec<Tensor> = self.net.params.iter().map(|p| p.tensor.detach()).collect();
        ts.extend(self.sgd.buffers.iter().flatten().map(Tensor::shallow_clone));
        by_kind(&mut ts, |of_kind| g.broadcast(of_kind, 0))?;
        Ok(())
    }

    /// Averages BatchNorm's running statistics over the ranks (each rank gathered its
    /// own from its slices of the batches).
    fn average_statistics(&mut self) -> Result<()> {
        let Some(g) = &self.group else {
            return Ok(());
        };
        let mut ts: Vec<Tensor> = self
            .net
            .params
            .iter()
            .filter(|p| !p.trainable && p.tensor.is_floating_point())
            .map(|p| p.tensor.detach())
            .collect();
        by_kind(&mut ts, |of_kind| g.all_reduce_sum(of_kind))?;
        let inv = 1.0 / g.size() as f64;
        tch::no_grad(|| {
            for t in &mut ts {
                let _ = t.g_mul_scalar_(inv);
            }
        });
        Ok(())
    }

    /// The checkpoint folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        let full = (self.data.train.len() / self.config.batch).max(1);
        self.config.max_steps.map_or(full, |m| m.min(full))
    }

    /// The learning rate at step `t` of the run: a linear warm-up to `lr` over
    /// `warmup_steps`, then a cosine from `lr` to 0 over the remaining steps.
    pub fn lr_at(&self, t: u64) -> f64 {
        let total = (self.steps_per_epoch() * self.config.epochs).max(1) as f64;
        let warm = (self.config.warmup_steps as f64).min(total - 1.0).max(0.0);
        let t = t as f64;
        if t < warm {
            return self.config.lr * (t + 1.0) / (warm + 1.0);
        }
        let progress = ((t - warm) / (total - warm)).min(1.0);
        0.5 * self.config.lr * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// Single paths run per step: the most choices of any layer under strict fairness,
    /// else one.
    pub fn paths_per_step(&self) -> usize {
        match self.config.strategy {
            Strategy::Fair => self.net.choices.iter().map(Vec::len).max().unwrap_or(1),
            Strategy::Spos | Strategy::Standalone => 1,
        }
    }

    /// The paths of one step.
    pub fn draw_paths(&mut self, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
        let sizes: Vec<usize> = self.net.choices.iter().map(Vec::len).collect();
        match self.config.strategy {
            Strategy::Standalone => vec![vec![0; sizes.len()]],
            Strategy::Spos => vec![
                sizes
                    .iter()
                    .map(|&n| rng.below(n as u64) as usize)
                    .collect(),
            ],
            Strategy::Fair => {
                let m = sizes.iter().copied().max().unwrap_or(1);
                let columns: Vec<Vec<usize>> = sizes
                    .iter()
                    .enumerate()
                    .map(|(l, &n)| {
                        let mut perm: Vec<usize> = (0..n).collect();
                        for i in (1..n).rev() {
                            perm.swap(i, rng.below(i as u64 + 1) as usize);
                        }
                        while perm.len() < m {
                            perm.push(self.state.round_robin[l] % n);
                            self.state.round_robin[l] = (self.state.round_robin[l] + 1) % n;
                        }
                        perm
                    })
                    .collect();
                (0..m)
                    .map(|k| columns.iter().map(|c| c[k]).collect())
                    .collect()
            }
        }
    }

    /// One optimiser step on a batch over `paths`: forward and backward each, gradients
    /// accumulated (and, over ranks, averaged), one SGD update of every parameter that
    /// received a gradient. Returns (summed loss, correct predictions, examples) over
    /// the paths (and ranks: the loss is the mean of the ranks' sums).
    pub fn step(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        paths: &[Vec<usize>],
    ) -> Result<(f64, i64, i64)> {
        self.zero_grads();
        let (loss, correct, n) = self.accumulate(x, y, paths, 1.0);
        let (grad_scale, stats) = self.reduce(paths, [loss, correct as f64, n as f64])?;
        self.apply(paths, grad_scale);
        Ok((stats[0], stats[1].round() as i64, stats[2].round() as i64))
    }

    /// Zeroes the gradients of every trainable parameter that has one.
    pub(crate) fn zero_grads(&self) {
        for p in self.net.params.iter().filter(|p| p.trainable) {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Forward and backward over `paths` on one batch, the loss weighted by `weight`,
    /// gradients added to those already there. Returns (summed unweighted loss,
    /// correct predictions, examples).
    pub(crate) fn accumulate(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        paths: &[Vec<usize>],
        weight: f64,
    ) -> (f64, i64, i64) {
        let (mut loss_sum, mut correct) = (0.0, 0i64);
        for path in paths {
            let logits = self.net.forward(x, path, Mode::TRAIN);
            let loss =
                logits.cross_entropy_loss(y, None::<Tensor>, tch::Reduction::Mean, -100, 0.0);
            if weight == 1.0 {
                loss.backward();
            } else {
                (&loss * weight).backward();
            }
            loss_sum += loss.double_value(&[]);
            correct += logits
                .argmax(-1, false)
                .eq_tensor(y)
                .sum(Kind::Int64)
                .int64_value(&[]);
        }
        (loss_sum, correct, y.size()[0] * paths.len() as i64)
    }

    /// Over ranks: sums the gradients of the parameters on `paths` and `stats` in one
    /// all-reduce. Returns the factor that turns the summed gradients into their mean
    /// over ranks (1 alone) and the stats with the loss averaged over ranks (counts
    /// summed).
    fn reduce(&mut self, paths: &[Vec<usize>], stats: [f64; 3]) -> Result<(f64, [f64; 3])> {
        let Some(g) = &self.group else {
            return Ok((1.0, stats));
        };
        let mut ts: Vec<Tensor> = self
            .net
            .params
            .iter()
            .filter(|p| p.trainable && paths.iter().any(|path| self.net.on_path(p.owner, path)))
            .map(|p| p.tensor.grad())
            .filter(Tensor::defined)
            .collect();
        let kind = ts.first().map_or(Kind::Float, Tensor::kind);
        ts.push(
            Tensor::from_slice(&stats)
                .to_kind(kind)
                .to_device(self.net.device()),
        );
        let mut all: Vec<&mut Tensor> = ts.iter_mut().collect();
        g.all_reduce_sum(&mut all)?;
        let reduced = Vec::<f64>::try_from(ts.last().expect("stats").to_kind(Kind::Double))
            .map_err(|e| Error::Distributed(format!("reduced stats: {e}")))?;
        let world = g.size() as f64;
        Ok((1.0 / world, [reduced[0] / world, reduced[1], reduced[2]]))
    }

    /// The SGD update of every parameter on `paths` that has a gradient, each gradient
    /// first multiplied by `grad_scale` (the mean over ranks); counts the step.
    pub(crate) fn apply(&mut self, paths: &[Vec<usize>], grad_scale: f64) {
        for path in paths {
            for (l, &c) in path.iter().enumerate() {
                self.state.activations[l][c] += 1;
            }
        }
        let lr = self.lr_at(self.state.steps);
        let wd = self.config.weight_decay;
        let clip = if self.config.grad_clip > 0.0 {
            let sq: f64 = tch::no_grad(|| {
                self.net
                    .params
                    .iter()
                    .filter(|p| p.trainable)
                    .map(|p| p.tensor.grad())
                    .filter(Tensor::defined)
                    .map(|g| g.square().sum(Kind::Double).double_value(&[]))
                    .sum()
            });
            let norm = sq.sqrt() * grad_scale;
            if norm.is_finite() && norm > self.config.grad_clip {
                self.config.grad_clip / norm
            } else {
                1.0
            }
        } else {
            1.0
        };
        let scale = clip * grad_scale;
        let mut updated = vec![false; self.net.params.len()];
        tch::no_grad(|| {
            for (i, p) in self.net.params.iter().enumerate() {
                // The paths this parameter was on: none leaves it untouched.
                let uses = paths
                    .iter()
                    .filter(|path| self.net.on_path(p.owner, path))
                    .count();
                if !p.trainable || uses == 0 {
                    continue;
                }
                let g = p.tensor.grad();
                if !g.defined() {
                    continue;
                }
                // Each shared parameter takes the mean gradient of the paths it was on
                // (all m), unless summing is asked for; a choice parameter is on one
                // path. An entangled weight takes the sum: each path updates the slice
                // it reads as it would update that choice's own weights, which is what
                // the PyTorch reference (scripts/bench/supernet_reference.py) does.
                let summed =
                    self.config.sum_shared_gradients || matches!(p.owner, Owner::Layer { .. });
                let scale = if summed || uses <= 1 {
                    scale
                } else {
                    scale / uses as f64
                };
                let g = if scale < 1.0 { &g * scale } else { g };
                let d = if wd > 0.0 && p.tensor.dim() > 1 {
                    &g + &p.tensor * wd
                } else {
                    g
                };
                self.sgd.update(i, &p.tensor, d, lr);
                updated[i] = true;
            }
        });
        let mut seen = std::collections::HashSet::new();
        for (p, &u) in self.net.params.iter().zip(&updated) {
            if let (true, Owner::Choice { layer, choice }) = (u, p.owner) {
                seen.insert((layer, choice));
            }
        }
        for (layer, choice) in seen {
            self.state.updates[layer][choice] += 1;
        }
        self.state.steps += 1;
    }

    /// Trains one epoch and checkpoints it.
    pub fn train_epoch(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<EpochRecord> {
        let epoch = self.state.epochs_done + 1;
        let seed = self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tch::manual_seed(seed as i64);
        let mut rng = SplitMix64::new(seed);
        let device = self.net.device();
        let batches = self
            .data
            .batches(&self.data.train, self.config.batch, &mut rng);
        let steps = self.steps_per_epoch();
        let start = Instant::now();
        let (mut loss, mut correct, mut seen, mut images) = (0.0, 0i64, 0i64, 0usize);
        let mut paths_run = 0usize;
        let batch = self.config.batch;
        let (rank, world) = self.rank();
        let shard = batch / world;
        for (s, idx) in batches
            .iter()
            .filter(|b| b.size()[0] as usize == batch)
            .take(steps)
            .enumerate()
        {
            // Augmentation draws from the stream every rank shares, so each rank
            // augments the whole batch (cheap beside the paths) and keeps its slice.
            let (x, y) = if self.config.augment {
                let (x, y) = self.data.train_batch(idx, &mut rng, device);
                (
                    x.narrow(0, (rank * shard) as i64, shard as i64),
                    y.narrow(0, (rank * shard) as i64, shard as i64),
                )
            } else {
                let idx = idx.narrow(0, (rank * shard) as i64, shard as i64);
                self.data.plain_batch(&self.data.train, &idx, device)
            };
            let paths = self.draw_paths(&mut rng);
            let (l, c, n) = self.step(&x, &y, &paths)?;
            if !l.is_finite() {
                return Err(Error::Usage(format!(
                    "epoch {epoch}, step {}: the loss is {l}; lower --lr (now {})",
                    s + 1,
                    self.config.lr
                )));
            }
            loss += l;
            paths_run += paths.len();
            correct += c;
            seen += n;
            images += self.config.batch;
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            progress(&Progress {
                epoch,
                epochs: self.config.epochs,
                step: s + 1,
                steps,
                loss: loss / paths_run as f64,
                accuracy: 100.0 * correct as f64 / seen.max(1) as f64,
                images_per_sec: images as f64 / secs,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        self.average_statistics()?;
        let val_accuracy = if self.config.strategy == Strategy::Standalone {
            let path = vec![0; self.net.choices.len()];
            Some(eval::validate(&self.net, &self.data, &path, 256).accuracy)
        } else {
            None
        };
        let record = EpochRecord {
            epoch,
            loss: loss / paths_run.max(1) as f64,
            train_accuracy: 100.0 * correct as f64 / seen.max(1) as f64,
            val_accuracy,
            images_per_sec: images as f64 / seconds.max(1e-9),
            seconds,
            lr: self.lr_at(self.state.steps.saturating_sub(1)),
        };
        self.state.epochs_done = epoch;
        self.state.history.push(record.clone());
        if rank == 0 {
            self.checkpoint()?;
        }
        if let Some(g) = &self.group {
            // Nobody runs ahead of a checkpoint that is not yet complete.
            g.barrier()?;
        }
        Ok(record)
    }

    /// Writes weights, momentum buffers and state, each atomically, state last (it
    /// names the epoch the files hold).
    pub fn checkpoint(&self) -> Result<()> {
        let bufs: Vec<(String, Tensor)> = self
            .net
            .params
            .iter()
            .zip(&self.sgd.buffers)
            .filter_map(|(p, b)| {
                b.as_ref()
                    .map(|b| (p.name.clone(), b.to_device(Device::Cpu)))
            })
            .collect();
        crate::weights::write_atomic(&bufs, &self.dir.join(OPTIMIZER_FILE))?;
        self.net.save(&self.dir.join(WEIGHTS_FILE))?;
        write_json(&self.dir.join(STATE_FILE), &self.state)
    }

    /// Whether every epoch is done.
    pub fn finished(&self) -> bool {
        self.state.epochs_done >= self.config.epochs
    }
}
