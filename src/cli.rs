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
    /// Check the installed stack: GPU adapters, ONNX Runtime, libtorch, adb.
    Doctor(DoctorArgs),
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
}

fn parse_space(s: &str) -> Result<SpaceId, String> {
    s.parse().map_err(|e: lookup_tables::Error| e.to_string())
}

#[derive(Subcommand)]
pub enum SpaceCmd {
    /// List the spaces.
    List(Output),
    /// Show one space: skeleton, per-layer shapes, choices, presets, unit count.
    Show {
        /// moga, fairnas or scarlet.
        #[arg(value_parser = parse_space)]
        space: SpaceId,
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
        #[arg(required = true, value_name = "ARCH")]
        archs: Vec<String>,
        #[command(flatten)]
        shape: SpaceShape,
        #[command(flatten)]
        out: Output,
    },
    /// Draw random architectures (uniform per layer; the same seed gives the same list).
    Sample {
        /// moga, fairnas or scarlet.
        #[arg(long, value_parser = parse_space)]
        space: SpaceId,
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
        /// Spaces the table must cover completely (repeatable).
        #[arg(long = "space", value_parser = parse_space)]
        spaces: Vec<SpaceId>,
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

#[derive(Args)]
pub struct DoctorArgs {
    /// The ONNX Runtime library to check (else ORT_DYLIB_PATH, else next to the binary).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
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
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: SpaceShape,
    #[command(flatten)]
    pub out: Output,
}
