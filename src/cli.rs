//! The command line, declared with clap derive: one struct per command, shared option
//! groups flattened. Validation into typed values happens here (value parsers) so a bad
//! flag fails before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lookup_tables::SpaceId;
use lookup_tables::lut::Prefer;

/// Hardware-aware neural architecture search for phone GPUs: profile, build latency
/// tables, search, deploy.
#[derive(Parser)]
#[command(name = "moga", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Search spaces: their skeletons, choices and unit lists.
    #[command(subcommand)]
    Space(SpaceCmd),
    /// Architectures: statistics, sampling.
    #[command(subcommand)]
    Arch(ArchCmd),
    /// Latency lookup tables: check, show, merge, predict.
    #[command(subcommand)]
    Lut(LutCmd),
    /// Write an architecture as an ONNX model (BatchNorm folded; random weights until
    /// a supernet checkpoint is given).
    Export(ExportArgs),
    /// Write one ONNX model per LUT unit of a space (or per single-operator unit with
    /// --ops), with an index `units.jsonl`.
    ExportUnits(ExportUnitsArgs),
    /// List devices: this machine (`local`) and every device of the adb servers.
    Devices(DevicesArgs),
    /// Multi-objective architecture search (NSGA-II, MoGA's weighted variant, random)
    /// under accuracy, LUT latency, parameters and MAdds.
    Search(Box<SearchArgs>),
    /// Measure a space's units on devices into latency tables (resumable).
    Profile(Box<ProfileArgs>),
    /// Train a weight-sharing supernet (FairNAS strict fairness or SPOS, optionally with
    /// Scarlet's linearly equivalent identity) or one stand-alone network (resumable).
    Train(Box<TrainArgs>),
    /// Accuracy of architectures with weights inherited from a supernet checkpoint,
    /// after BatchNorm recalibration (cached in the checkpoint).
    Eval(EvalArgs),
    /// Measure architectures whole on a device (pushed, run with the measurement
    /// protocol) beside the latency their table predicts.
    Deploy(Box<DeployArgs>),
    /// Check the installed stack: GPU adapters, ONNX Runtime, libtorch, adb.
    Doctor(DoctorArgs),
    /// Super-resolution (x2, luminance; FALSR and MoreMNAS spaces): train a network on
    /// an image folder, upscale images with it.
    #[command(subcommand)]
    Sr(SrCmd),
}

#[derive(Subcommand)]
pub enum SrCmd {
    /// Train one architecture stand-alone on random patches of an image folder (L1,
    /// Adam, cosine decay) and score it against bicubic on the held-out images (PSNR and
    /// SSIM on Y, border 2). Writes sr.safetensors and sr.json to --output at every
    /// evaluation.
    Train(Box<SrTrainArgs>),
    /// Train a weight-sharing supernet of falsr or moremnas with FairNAS's strict
    /// fairness over the cell operators (four paths per step, each operator once per
    /// position; the other choices and the links uniform), scoring the space's presets
    /// with inherited weights at every evaluation. Writes srsupernet.safetensors (with
    /// Adam's moments) and srsupernet.json to --output at every evaluation; --resume
    /// continues them. The search's cheap oracle: `moga search --accuracy supernet:DIR`.
    Supernet(Box<SrSupernetArgs>),
    /// Score architectures with a search's PSNR oracle (train:STEPS or supernet:DIR):
    /// held-out PSNR/SSIM on the centre crops, multiply-adds and parameters. The same
    /// numbers `moga search` ranks by; used to compare oracles (scripts/bench/sr-supernet.sh).
    Score(Box<SrScoreArgs>),
    /// Upscale an image x2 with a trained network: Y by the network (libtorch, or an ONNX
    /// engine: the CPU reference, onnxruntime, wgpu), Cb/Cr bicubic.
    Upscale(Box<SrUpscaleArgs>),
}

#[derive(Args)]
pub struct SrTrainArgs {
    /// Preset (FALSR-A, MoreMNAS-C), encoding (falsr:conv_f64_k3_b4_skip-…/…), JSON or a
    /// file holding one.
    #[arg(value_name = "ARCH")]
    pub arch: String,
    /// images:DIR — DIR/train and DIR/val, else every image of DIR sorted by name with
    /// every third (index 2, 5, …) held out. scripts/setup.sh installs scikit-image's
    /// sample images as .deps/sr-images (10 training, 5 held-out).
    #[arg(long, default_value = "images:.deps/sr-images")]
    pub data: String,
    /// Training time budget in minutes (evaluations not counted).
    #[arg(long, value_name = "MIN", required_unless_present = "steps")]
    pub minutes: Option<f64>,
    /// Training steps (with --minutes: whichever comes first).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Patches per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Low-resolution patch side in pixels.
    #[arg(long, default_value_t = 32)]
    pub patch: usize,
    /// Peak learning rate of Adam.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Score the held-out images every N steps (0: at the end only).
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub eval_every: usize,
    /// Seed of weights and patches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when libtorch sees a GPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch's CPU threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Folder for sr.safetensors and sr.json.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct SrSupernetArgs {
    /// falsr or moremnas.
    #[arg(long)]
    pub space: lookup_tables::SrSpaceId,
    /// images:DIR, as for `moga sr train`.
    #[arg(long, default_value = "images:.deps/sr-images")]
    pub data: String,
    /// Training time budget in minutes (evaluations not counted).
    #[arg(long, value_name = "MIN", required_unless_present_any = ["steps", "resume"])]
    pub minutes: Option<f64>,
    /// Training steps (with --minutes: whichever comes first). Each step trains four paths.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Patches per step (the four paths see the same batch).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Low-resolution patch side in pixels.
    #[arg(long, default_value_t = 32)]
    pub patch: usize,
    /// Peak learning rate of Adam.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Score the presets every N steps (0: at the end only).
    #[arg(long, default_value_t = 250, value_name = "N")]
    pub eval_every: usize,
    /// Seed of weights, patches and paths.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when libtorch sees a GPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch's CPU threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Continue the checkpoint in --output (its settings win).
    #[arg(long)]
    pub resume: bool,
    /// Folder for srsupernet.safetensors and srsupernet.json.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct SrScoreArgs {
    /// Architectures (presets, encodings, JSON or files), scored in order.
    #[arg(value_name = "ARCH")]
    pub archs: Vec<String>,
    /// falsr or moremnas.
    #[arg(long)]
    pub space: lookup_tables::SrSpaceId,
    /// Also score N architectures sampled uniformly from the space (seeded by --seed).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sample: usize,
    /// train:STEPS (FALSR's brief training) or supernet:DIR.
    #[arg(long, default_value = "train:100")]
    pub accuracy: String,
    /// images:DIR the oracle trains and scores on.
    #[arg(long, default_value = "images:.deps/sr-images")]
    pub data: String,
    /// Seed of the samples and of brief training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct SrUpscaleArgs {
    /// An image (PNG, JPEG; colour or greyscale).
    #[arg(value_name = "IMAGE")]
    pub input: PathBuf,
    /// The upscaled image to write (PNG).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// A `moga sr train` output folder.
    #[arg(long, value_name = "DIR")]
    pub weights: PathBuf,
    /// torch (libtorch), cpu (moga's ONNX reference), ort or wgpu.
    #[arg(long, default_value = "torch")]
    pub engine: String,
    #[command(flatten)]
    pub out: Output,
}

/// `--json`: machine output only on stdout.
#[derive(Args, Clone, Copy, Default)]
pub struct Output {
    /// Print JSON (one object per line) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Input resolution and classes of a space.
#[derive(Args, Clone, Copy)]
pub struct SpaceShape {
    /// Input image height and width.
    #[arg(long, default_value_t = 224, value_name = "PIXELS")]
    pub resolution: u32,
    /// Classifier outputs.
    #[arg(long, default_value_t = 1000)]
    pub classes: u32,
    /// Super-resolution: the low-resolution input's side (the published figures use
    /// 480, a 960×960 output).
    #[arg(long, default_value_t = lookup_tables::sr::SR_STATS_SIDE, value_name = "PIXELS")]
    pub lr_side: u32,
}

fn parse_space(s: &str) -> Result<SpaceId, String> {
    s.parse().map_err(|e: lookup_tables::Error| e.to_string())
}

/// A classification or a super-resolution space.
#[derive(Clone, Copy, Debug)]
pub enum AnySpace {
    /// moga, fairnas, scarlet.
    Classify(SpaceId),
    /// falsr, moremnas.
    Sr(lookup_tables::SrSpaceId),
}

fn parse_any_space(s: &str) -> Result<AnySpace, String> {
    if let Ok(id) = s.parse::<SpaceId>() {
        return Ok(AnySpace::Classify(id));
    }
    s.parse::<lookup_tables::SrSpaceId>()
        .map(AnySpace::Sr)
        .map_err(|_| {
            format!("unknown search space '{s}' (known: moga, fairnas, scarlet, falsr, moremnas)")
        })
}

#[derive(Subcommand)]
pub enum SpaceCmd {
    /// List the spaces.
    List(Output),
    /// Show one space: skeleton, per-layer shapes, choices, presets, unit count.
    Show {
        /// moga, fairnas, scarlet, falsr or moremnas.
        #[arg(value_parser = parse_any_space)]
        space: AnySpace,
        #[command(flatten)]
        shape: SpaceShape,
        /// Also list every distinct unit a complete table for the space holds.
        #[arg(long)]
        units: bool,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Subcommand)]
pub enum ArchCmd {
    /// Multiply-adds and parameters, in total and per layer.
    Stats {
        /// Preset name (MoGA-A), encoding (moga:k5e6-…), JSON, or a file holding one.
        /// Super-resolution presets and encodings too (FALSR-A, falsr:conv_f64_k3_b4_skip-…).
        #[arg(required = true, value_name = "ARCH")]
        archs: Vec<String>,
        #[command(flatten)]
        shape: SpaceShape,
        #[command(flatten)]
        out: Output,
    },
    /// Draw random architectures (uniform per layer; the same seed gives the same list).
    Sample {
        /// moga, fairnas, scarlet, falsr or moremnas.
        #[arg(long, value_parser = parse_any_space)]
        space: AnySpace,
        /// How many.
        #[arg(short = 'n', long = "count", default_value_t = 1)]
        count: usize,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Subcommand)]
pub enum LutCmd {
    /// Read a table strictly; with --space, also check it covers the space.
    Check {
        /// The table (CSV).
        lut: PathBuf,
        /// Spaces the table must cover completely (repeatable; super-resolution spaces at
        /// --lr-side).
        #[arg(long = "space", value_parser = parse_any_space)]
        spaces: Vec<AnySpace>,
        #[command(flatten)]
        shape: SpaceShape,
        #[command(flatten)]
        out: Output,
    },
    /// Print a table's metadata and rows.
    Show {
        /// The table (CSV).
        lut: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// Merge tables of the same device model and backend into one.
    Merge {
        /// Tables to merge, the first is the base.
        #[arg(required = true, num_args = 2.., value_name = "LUT")]
        luts: Vec<PathBuf>,
        /// Where to write the merged table (written atomically).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// When two tables measured the same unit: refuse (error), keep the first, take the last.
        #[arg(long, value_enum, default_value_t = PreferArg::Error)]
        prefer: PreferArg,
        #[command(flatten)]
        out: Output,
    },
    /// How far a table can be trusted: measure random architectures whole on the
    /// device, compare with the table's predictions, fit the per-network correction on
    /// half and report on the other half, and store the correction in the table.
    Validate(Box<ValidateArgs>),
    /// Predict architectures' latency from a table (sum of units + fitted overhead).
    Predict {
        /// The table (CSV).
        #[arg(long)]
        lut: PathBuf,
        /// Preset name, encoding, JSON, or a file holding one.
        #[arg(required = true, value_name = "ARCH")]
        archs: Vec<String>,
        /// Show the per-unit breakdown.
        #[arg(long)]
        breakdown: bool,
        #[command(flatten)]
        shape: SpaceShape,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PreferArg {
    Error,
    First,
    Last,
}

impl From<PreferArg> for Prefer {
    fn from(p: PreferArg) -> Prefer {
        match p {
            PreferArg::Error => Prefer::Error,
            PreferArg::First => Prefer::First,
            PreferArg::Last => Prefer::Last,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    /// FairNAS strict fairness: every choice of every layer once per step.
    Fair,
    /// Uniform single-path sampling, one path per step.
    Spos,
}

/// How a layer's choices hold their weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightsArg {
    /// One block's weights shared by every inverted-residual choice of a layer.
    Entangled,
    /// A block of its own per choice.
    Separate,
}

/// The initial gamma of a shortcut block's last BatchNorm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResidualInitArg {
    /// 0: each shortcut block starts as the identity.
    Zero,
    /// 1: PyTorch's default.
    One,
}

#[derive(Args)]
pub struct TrainArgs {
    /// moga, fairnas or scarlet.
    #[arg(long, value_parser = parse_space, required_unless_present = "resume")]
    pub space: Option<SpaceId>,
    /// How paths are drawn each step.
    #[arg(long, value_enum, default_value = "fair", conflicts_with = "resume")]
    pub strategy: StrategyArg,
    /// Train identity choices as ScarletNAS's linearly equivalent transformation
    /// (1x1 conv + BatchNorm, no activation) instead of a bare skip.
    #[arg(long, conflicts_with = "resume")]
    pub scarlet_let: bool,
    /// How a layer's choices hold their weights: entangled (one block's convolutions,
    /// each choice reading its expansion's leading channels and its kernel's centre;
    /// BatchNorm per choice) or separate (a block per choice). Separate weights left
    /// the FairNAS space's supernet at chance on the digits; see docs/benchmarks.md.
    #[arg(
        long,
        value_enum,
        default_value = "entangled",
        conflicts_with = "resume"
    )]
    pub weights: WeightsArg,
    /// Initial gamma of the last BatchNorm of every block with a shortcut: zero (the
    /// block starts as the identity) or one (PyTorch's default).
    #[arg(long, value_enum, default_value = "zero", conflicts_with = "resume")]
    pub residual_init: ResidualInitArg,
    /// Random crops (and flips where they keep the class) of the training images. Off
    /// by default: on short CPU runs it slowed every supernet and stand-alone network.
    #[arg(long, conflicts_with = "resume")]
    pub augment: bool,
    /// Train this one architecture stand-alone instead of a supernet (preset name,
    /// encoding, JSON or a file); --strategy does not apply.
    #[arg(long, value_name = "ARCH", conflicts_with = "resume")]
    pub arch: Option<String>,
    /// digits (bundled), cifar10:DIR (the binary version's data_batch_*.bin and
    /// test_batch.bin) or folder:DIR (one sub-folder of images per class).
    #[arg(long, default_value = "digits", conflicts_with = "resume")]
    pub data: String,
    /// Input height and width the images are scaled to.
    #[arg(
        long,
        default_value_t = 32,
        value_name = "PIXELS",
        conflicts_with = "resume"
    )]
    pub resolution: u32,
    /// Epochs in all (with --resume: raise the total to train longer).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 64, conflicts_with = "resume")]
    pub batch: usize,
    /// At most this many steps per epoch (all batches otherwise).
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    pub steps: Option<usize>,
    /// Peak learning rate, decayed to zero by a cosine over the run.
    #[arg(long, default_value_t = 0.02, conflicts_with = "resume")]
    pub lr: f64,
    /// SGD momentum (Nesterov).
    #[arg(long, default_value_t = 0.9, conflicts_with = "resume")]
    pub momentum: f64,
    /// Weight decay of convolution and linear weights.
    #[arg(long, default_value_t = 4e-5, conflicts_with = "resume")]
    pub weight_decay: f64,
    /// Scale each step's gradients down to this global norm at most (0: never).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "NORM",
        conflicts_with = "resume"
    )]
    pub grad_clip: f64,
    /// Raise the learning rate linearly over this many first steps.
    #[arg(long, default_value_t = 0, value_name = "N", conflicts_with = "resume")]
    pub warmup_steps: usize,
    /// Give shared layers (stem, head, classifier) the sum of the m paths' gradients,
    /// as FairNAS's Algorithm 1, instead of their mean (choice layers are the same
    /// either way).
    #[arg(long, conflicts_with = "resume")]
    pub sum_shared_gradients: bool,
    /// Seed of weights, data order, augmentation and paths.
    #[arg(long, default_value_t = 0, conflicts_with = "resume")]
    pub seed: u64,
    /// auto (CUDA when libtorch sees a GPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch's CPU threads (0: one per core; with --nproc, the cores shared out).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Train data parallel on N ranks started on this host (c10d's Gloo), as
    /// `torchrun --nproc-per-node N --no-python moga train …` does; --batch is split
    /// among them and must be a multiple of N, at least 2N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub nproc: Option<u32>,
    /// Seconds a rank waits for the others (to join, or in any collective) before it
    /// fails naming the ranks that stopped.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub dist_timeout: u64,
    /// c10d backend of several ranks: auto (NCCL for CUDA devices in a build with the
    /// `nccl` feature, else Gloo), gloo or nccl.
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    pub dist_backend: String,
    /// The checkpoint folder: config.json, state.json, supernet.safetensors,
    /// optimizer.safetensors, rewritten atomically after every epoch.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Continue the run in --output from its last finished epoch.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint folder written by `moga train`.
    #[arg(long, value_name = "DIR")]
    pub ckpt: PathBuf,
    /// Evaluate on this data instead of the training run's (same classes).
    #[arg(long)]
    pub data: Option<String>,
    /// Training batches that re-estimate each architecture's BatchNorm statistics.
    #[arg(long, default_value_t = 10)]
    pub bn_batches: usize,
    /// Images per batch for recalibration and evaluation.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Measure again even when the checkpoint's cache has the figure (and do not
    /// record it).
    #[arg(long)]
    pub no_cache: bool,
    /// Also evaluate N architectures sampled uniformly from the checkpoint's space.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sample: usize,
    /// Seed of --sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch's CPU threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Architectures: preset names, encodings, JSON, or files holding one.
    #[arg(value_name = "ARCH")]
    pub archs: Vec<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// The ONNX Runtime library to check (else ORT_DYLIB_PATH, else next to the binary).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Only libtorch's report, as one JSON line: what `moga doctor` asks its
    /// `moga-torch` helper.
    #[arg(long, hide = true)]
    pub libtorch_only: bool,
    /// Check a device instead of this machine: its ABI and Android version, the GPU APIs
    /// it offers, the limit profile its GPU matches, its thermal zones and whether the
    /// device-runner for it is built (`local`, an adb serial or `tcp:HOST:PORT`).
    #[arg(long, value_name = "ID")]
    pub device: Option<String>,
    #[command(flatten)]
    pub servers: Servers,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct ExportUnitsArgs {
    /// moga, fairnas or scarlet.
    #[arg(long, value_parser = parse_space)]
    pub space: SpaceId,
    /// The single-operator units the blocks are made of, instead of the blocks.
    #[arg(long)]
    pub ops: bool,
    /// The folder to write (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Preset name, encoding, JSON, or a file holding one.
    #[arg(value_name = "ARCH")]
    pub arch: String,
    /// The model file to write (atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Seed of the random weights (and of --verify's input).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inherit the weights from this supernet checkpoint (`moga train -o`): the path's
    /// BatchNorm recalibrated as `moga eval` does, then folded. The space's resolution
    /// and classes are the checkpoint's. Super-resolution: a `moga sr train -o` folder
    /// holding this architecture, or a `moga sr supernet -o` folder (inherited weights).
    #[arg(long, value_name = "DIR")]
    pub ckpt: Option<PathBuf>,
    /// BatchNorm recalibration batches (with --ckpt).
    #[arg(long, default_value_t = 10)]
    pub bn_batches: usize,
    /// Batch size of recalibration (with --ckpt).
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Run the written model on ONNX Runtime, wgpu and the CPU reference (and libtorch
    /// with --ckpt) on one seeded input and compare the outputs; fails beyond 1e-3 of
    /// the largest logit.
    #[arg(long)]
    pub verify: bool,
    /// Super-resolution networks: the low-resolution input's size, HEIGHTxWIDTH (the
    /// output is twice that); default --lr-side square.
    #[arg(long, value_name = "HxW", value_parser = parse_hw)]
    pub lr_size: Option<(usize, usize)>,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}

/// Reads `HEIGHTxWIDTH` (or one number for a square).
pub fn parse_hw(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("'{s}' is not a size: expected HEIGHTxWIDTH, e.g. 120x160, or one number");
    let num = |t: &str| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(bad)
    };
    match s.split_once(['x', 'X']) {
        Some((h, w)) => Ok((num(h)?, num(w)?)),
        None => num(s).map(|n| (n, n)),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CorrectionArg {
    /// The model with the lowest leave-one-out RMSPE on the fitted half.
    Auto,
    /// Σ units as it is.
    Sum,
    /// Σ units + c: one fixed per-network overhead.
    Offset,
    /// a × Σ units + c: also a per-backend factor.
    Affine,
}

/// How whole networks are measured. Options left out come from the table (--lut), so
/// the networks are measured as its units were; else the profiler's defaults.
#[derive(Args, Clone)]
pub struct MeasureArgs {
    /// The device (`local` or an adb serial).
    #[arg(long, default_value = "local", value_name = "ID")]
    pub device: String,
    /// wgpu or ort (default: the table's backend).
    #[arg(long, value_enum)]
    pub backend: Option<ProfileBackend>,
    /// Runs discarded first.
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Runs measured at least.
    #[arg(long)]
    pub min_runs: Option<usize>,
    /// Runs measured at most.
    #[arg(long)]
    pub runs: Option<usize>,
    /// Seconds of measuring per network at most.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Stop once the median is known to ± this fraction (0: never early).
    #[arg(long)]
    pub precision: Option<f64>,
    /// Interleaved rounds the networks' runs are spread over (default: the table's).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Pause between networks, milliseconds.
    #[arg(long)]
    pub cooldown_ms: Option<u64>,
    /// Networks per runner invocation (default: all at once, interleaved).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Runner invocations (processes) each network is measured in; its figure is the
    /// mean of theirs. A process's memory layout moves a network's ratio to the
    /// reference by about 0.7 % here, which more runs in one process do not average away.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub invocations: u32,
    /// Seconds one network may take before it counts as hung.
    #[arg(long, default_value_t = 300)]
    pub unit_timeout: u64,
    /// ONNX Runtime execution provider.
    #[arg(long, value_enum)]
    pub ep: Option<device_runner::backend::ExecutionProvider>,
    /// ONNX Runtime threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// ONNX Runtime graph optimisation level.
    #[arg(long, value_enum)]
    pub opt_level: Option<device_runner::backend::OptLevel>,
    /// GPU API (wgpu backend) on the device: auto (all), vulkan, gles (gl), metal.
    #[arg(long, visible_alias = "api", value_enum, default_value_t = device_runner::backend::BackendChoice::All)]
    pub wgpu_backend: device_runner::backend::BackendChoice,
    /// wgpu adapter by index or name (default: the table's).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Tensors' element type on the GPU (default: the table's, else f32).
    #[arg(long, value_enum)]
    pub dtype: Option<device_runner::backend::Dtype>,
    /// Open the GPU with a phone's limits (a profile `device-runner info` lists;
    /// default: the table's, else the adapter's own).
    #[arg(long, value_name = "PROFILE")]
    pub limits: Option<String>,
    /// The device-runner to use (else the build for the device's ABI).
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,
    /// The ONNX Runtime library for the device (else the one for its ABI).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Do not ask phones for fixed-performance mode while measuring.
    #[arg(long)]
    pub no_fixed_performance: bool,
    #[command(flatten)]
    pub servers: Servers,
}

#[derive(Args)]
pub struct DeployArgs {
    /// Architectures: preset name, encoding, JSON, a file holding one, or FRONT.json#N
    /// (member N of a `moga search -o` front, 0 = most accurate).
    #[arg(required = true, value_name = "ARCH")]
    pub archs: Vec<String>,
    /// The device's latency table: print its prediction and the error.
    #[arg(long, value_name = "LUT")]
    pub lut: Option<PathBuf>,
    /// Deploy with the weights inherited from this supernet checkpoint (BatchNorm
    /// recalibrated and folded), at the checkpoint's resolution; else random weights.
    /// Super-resolution: a `moga sr train -o` or `moga sr supernet -o` folder.
    #[arg(long, value_name = "DIR")]
    pub ckpt: Option<PathBuf>,
    /// BatchNorm recalibration batches (with --ckpt).
    #[arg(long, default_value_t = 10)]
    pub bn_batches: usize,
    /// Keep the exported models in this folder (else a temporary one).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    #[command(flatten)]
    pub measure: MeasureArgs,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// The table (CSV); the fitted correction is written back into it (atomically).
    #[arg(long)]
    pub lut: PathBuf,
    /// moga, fairnas, scarlet, or falsr, moremnas (at --lr-side).
    #[arg(long, value_parser = parse_any_space)]
    pub space: AnySpace,
    /// Random architectures to measure whole (a correction is fitted on half of them
    /// and judged on the other half; at least 10 each before one is stored).
    #[arg(long, default_value_t = 40)]
    pub samples: usize,
    /// Seed of the sample (and of the models' random weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The correction to keep: `auto` takes, of those that pass the checks (enough
    /// networks, a sensible scale, a gain over the plain sum beyond chance on held-out
    /// networks), the best on the fitted half, and the plain sum when none passes; a
    /// named one that fails them is an error saying why.
    #[arg(long, value_enum, default_value_t = CorrectionArg::Auto)]
    pub model: CorrectionArg,
    /// Report only; leave the table as it is.
    #[arg(long)]
    pub no_store: bool,
    /// Draw predicted vs measured with the ±10 % band (SVG, or PNG by extension).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Also write every network's figures (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub details: Option<PathBuf>,
    #[command(flatten)]
    pub measure: MeasureArgs,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}

/// Where devices are found.
#[derive(Args, Clone)]
pub struct Servers {
    /// An adb server as HOST:PORT (repeatable; else MOGA_ADB_SERVERS, else the local
    /// server on ANDROID_ADB_SERVER_PORT or 5037, started when needed).
    #[arg(long = "adb", value_name = "HOST:PORT")]
    pub adb: Vec<String>,
    /// Where `local` keeps its files (default ~/.cache/moga/local).
    #[arg(long, value_name = "DIR")]
    pub local_root: Option<PathBuf>,
    /// Wait this long for an adb device that is `offline`, `connecting` or
    /// `unauthorized` (a restarted adbd, a reconnecting TCP device, a USB debugging
    /// prompt) to become usable, before using it and when it goes away mid-run.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait_device: u64,
}

#[derive(Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub servers: Servers,
    /// `adb connect` a device on TCP first (phones over Wi-Fi, device farms; repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Vec<String>,
    /// Remove a device's profiling lock (when the profiler that held it is gone).
    #[arg(long, value_name = "ID")]
    pub unlock: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Context for blocks, isolated for single operators.
    Auto,
    /// Units timed inside whole networks.
    Context,
    /// Each unit alone.
    Isolated,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProfileBackend {
    Wgpu,
    Ort,
}

#[derive(Args)]
pub struct ProfileArgs {
    /// Device ids (`local`, an adb serial; repeatable). Devices of the same model share
    /// the work and one table.
    #[arg(long = "device", value_name = "ID", required_unless_present = "all")]
    pub devices: Vec<String>,
    /// Every usable device of the adb servers.
    #[arg(long, conflicts_with = "devices")]
    pub all: bool,
    #[arg(long, value_enum)]
    pub backend: ProfileBackend,
    /// moga, fairnas, scarlet, or falsr, moremnas (their cells, feature extractor and
    /// tail at an --lr-side square input; measured isolated).
    #[arg(long, value_parser = parse_any_space)]
    pub space: AnySpace,
    /// Measure only the units whose name matches PATTERN (`*` matches anything; as
    /// tables and messages name units, e.g. 'conv 32x32*' or 'dwconv*'); repeatable.
    /// Measured isolated; a later run without it and with --resume completes the table.
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Measure the single-operator units of the space's blocks instead of the blocks
    /// (isolated).
    #[arg(long)]
    pub ops: bool,
    /// How units are measured: `context` times them node by node inside whole networks
    /// of covering designs (what they cost where they are used), `isolated` runs each
    /// alone; `auto`: context for blocks, isolated for --ops.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Covering designs of the context method (each is every choice of every layer in
    /// as many networks as a layer has choices).
    #[arg(long, default_value_t = 3)]
    pub designs: usize,
    /// Interleaved rounds per runner invocation: every model of a batch gets a share
    /// of its runs per round, in a shuffled order, so the device's drift spreads over
    /// all of them.
    #[arg(long, default_value_t = 8)]
    pub rounds: usize,
    /// Do not pair runs with the space's reference network (then a drifting device's
    /// speed goes straight into the table).
    #[arg(long)]
    pub no_reference: bool,
    /// The table to write; a folder when the devices are of several models (one table
    /// per model).
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Complete an existing table: measure only what it lacks (and what failed).
    #[arg(long)]
    pub resume: bool,
    /// Runs discarded before measuring each unit.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Runs measured at least.
    #[arg(long, default_value_t = 30)]
    pub min_runs: usize,
    /// Runs measured at most.
    #[arg(long, default_value_t = 1000)]
    pub runs: usize,
    /// Seconds of measuring per unit at most.
    #[arg(long, default_value_t = 2.0)]
    pub max_seconds: f64,
    /// Stop a unit once its median is known to ± this fraction (95% confidence); 0
    /// measures --runs (or --max-seconds) always.
    #[arg(long, default_value_t = 0.01)]
    pub precision: f64,
    /// Pause between units, milliseconds (phones: lets them cool down).
    #[arg(long, default_value_t = 0)]
    pub cooldown_ms: u64,
    /// Models per runner invocation (and per checkpoint): default 8 units, or one
    /// covering design of networks.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seconds one unit may take before it counts as hung.
    #[arg(long, default_value_t = 120)]
    pub unit_timeout: u64,
    /// Seed of the units' random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// ONNX Runtime execution provider.
    #[arg(long, value_enum, default_value_t = device_runner::backend::ExecutionProvider::Cpu)]
    pub ep: device_runner::backend::ExecutionProvider,
    /// ONNX Runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// ONNX Runtime graph optimisation level.
    #[arg(long, value_enum, default_value_t = device_runner::backend::OptLevel::All)]
    pub opt_level: device_runner::backend::OptLevel,
    /// GPU API (wgpu backend) on the device: auto (all), vulkan, gles (gl), metal.
    #[arg(long, visible_alias = "api", value_enum, default_value_t = device_runner::backend::BackendChoice::All)]
    pub wgpu_backend: device_runner::backend::BackendChoice,
    /// wgpu adapter by index or name.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Tensors' element type on the GPU: f16 (half precision, as phones' engines run by
    /// default) needs an adapter with 16-bit shader floats.
    #[arg(long, value_enum, default_value_t = device_runner::backend::Dtype::F32)]
    pub dtype: device_runner::backend::Dtype,
    /// Open the GPU with a phone's limits (a profile `device-runner info` lists:
    /// adreno-6xx-7xx, mali-valhall, …), which the driver then enforces; recorded in the
    /// table.
    #[arg(long, value_name = "PROFILE")]
    pub limits: Option<String>,
    /// The device-runner to use (else the build for the device's ABI).
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,
    /// The ONNX Runtime library for the device (else the one for its ABI).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Do not ask phones for fixed-performance mode while measuring (asked by default
    /// on Android 12+, where `cmd power set-fixed-performance-mode-enabled` exists).
    #[arg(long)]
    pub no_fixed_performance: bool,
    /// Before each batch, wait until the device's hottest thermal zone is at most this
    /// warm, °C (at most --cool-down; a batch started hotter is counted in the table).
    /// The hottest zone is recorded before every batch either way.
    #[arg(long, value_name = "CELSIUS")]
    pub max_temp: Option<f64>,
    /// The longest wait for a device to cool down (above --max-temp, or after a
    /// throttled batch), seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub cool_down: u64,
    /// After each batch, compare the reference network's time with the first batch's:
    /// a batch that ran it more than this many percent slower while the device was
    /// warmer (2 °C) or clocked lower (5 %) is measured again once the device has
    /// cooled back (at most --cool-down), and counted in the table's device_state.
    /// With --no-reference, a batch that ran with lowered clocks is.
    #[arg(long, value_name = "PERCENT", default_value_t = 20.0)]
    pub throttle_check: f64,
    /// Keep every batch as measured, throttled or not (no --throttle-check).
    #[arg(long)]
    pub no_throttle_check: bool,
    #[command(flatten)]
    pub servers: Servers,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AlgorithmArg {
    /// NSGA-II.
    Nsga2,
    /// MoGA's weighted NSGA-II (per-objective weights in the crowding distance).
    Moga,
    /// Random search with the same number of evaluations.
    Random,
    /// The exact Pareto front when every objective is a sum over layers (lat, params,
    /// madds): layer-wise dynamic programming, no sampling; --epsilon for the ε-grid.
    Exact,
}

#[derive(Args)]
pub struct SearchArgs {
    /// moga, fairnas, scarlet, or the super-resolution spaces falsr and moremnas.
    #[arg(long, value_parser = parse_any_space)]
    pub space: AnySpace,
    /// The device's latency table (needed when latency is an objective or constrained;
    /// an incomplete table is refused with the units it lacks).
    #[arg(long, value_name = "LUT")]
    pub lut: Option<PathBuf>,
    /// Objectives, NAME:min|max, from acc, lat, params, madds [default:
    /// acc:max,lat:min,params:max]; super-resolution: from psnr, madds, params, lat (with
    /// --lut, at --lr-side) [default:
    /// psnr:max,madds:min,params:min].
    #[arg(long)]
    pub objectives: Option<String>,
    /// Per-objective weights for --algorithm moga (MoGA used 1,1,0.1 for acc, lat, params).
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<f64>,
    /// Latency budget, ms: architectures above it are infeasible.
    #[arg(long, value_name = "MS")]
    pub budget_ms: Option<f64>,
    /// Parameter cap.
    #[arg(long, value_name = "N")]
    pub max_params: Option<u64>,
    /// Accuracy oracle: proxy (a labelled stand-in) or csv:PATH (arch,accuracy)
    /// [default: proxy]; super-resolution: train:STEPS, FALSR's scoring (each candidate
    /// trained STEPS steps from scratch, PSNR on the held-out images' centres) [default:
    /// train:100], or supernet:DIR (inherited weights of a `moga sr supernet`
    /// checkpoint, scored on the same crops).
    #[arg(long)]
    pub accuracy: Option<String>,
    /// Super-resolution: the images the oracle trains and scores on (images:DIR).
    #[arg(long, default_value = "images:.deps/sr-images")]
    pub data: String,
    /// Super-resolution: PSNR at least this (dB; FALSR's constraint).
    #[arg(long, value_name = "DB")]
    pub min_psnr: Option<f64>,
    /// Super-resolution: multiply-adds (at 480x480) at most this many billions.
    #[arg(long, value_name = "G")]
    pub max_madds_g: Option<f64>,
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Nsga2)]
    pub algorithm: AlgorithmArg,
    /// With --algorithm exact (or --seed-exact): keep one partial sum per cell of a
    /// logarithmic grid, so that every exact point has a kept one within a factor
    /// (1+ε) in every objective; for large three-objective fronts.
    #[arg(long, value_name = "EPS")]
    pub epsilon: Option<f64>,
    /// Seed the initial population with the exact front of the additive objectives
    /// (lat, params, madds) among --objectives, spread evenly over it.
    #[arg(long)]
    pub seed_exact: bool,
    /// Share of each generation's children bred from the elite archive (every
    /// non-dominated architecture found so far) instead of the population: half one
    /// layer changed, half a path relinking of two neighbouring members; 0 is plain
    /// NSGA-II. [default: 0.75 for --algorithm nsga2 on the classification spaces (the
    /// best measured: 99.98 % of the exact front's hypervolume against plain NSGA-II's
    /// 99.67 %, scripts/bench/search.sh); 0 with --algorithm moga, --rl-mutation
    /// (MoGA's and MoreMNAS's own variants) and on the super-resolution spaces]
    #[arg(long, value_name = "SHARE")]
    pub archive_share: Option<f64>,
    /// MoreMNAS reinforced mutation: a learned controller mixed with random mutation.
    #[arg(long)]
    pub rl_mutation: bool,
    /// Share of children the controller mutates (the roulette's reinforced slice).
    #[arg(long, default_value_t = 0.5)]
    pub rl_ratio: f64,
    /// Super-resolution, FALSR's hybrid mutation: the share of mutated genes whose new
    /// choice is drawn from a roulette wheel biased by multiply-adds or by parameters
    /// (picked in turn at random; weights log-scaled), the rest uniformly (0: random
    /// mutation only; with --rl-mutation the controller's share is taken first).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub roulette_mutation: f64,
    /// Individuals per generation.
    #[arg(long, default_value_t = 64)]
    pub population: usize,
    /// Generations.
    #[arg(long, default_value_t = 50)]
    pub generations: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the front and the history (JSON, atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Also draw the front (SVG).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Also write every generation's population (each evaluated architecture with its
    /// figures) into the output's history, which otherwise holds each generation's
    /// evaluations and hypervolume only (20,000 evaluations make about 6 MB).
    #[arg(long)]
    pub history: bool,
    /// Also write the per-layer objective tables (for other tools, e.g. the pymoo benchmark).
    #[arg(long, value_name = "FILE")]
    pub export_problem: Option<PathBuf>,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}
