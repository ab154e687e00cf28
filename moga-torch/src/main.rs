//! `moga-torch`: the part of moga that links libtorch. `moga` hands it the commands that
//! train or read trained weights (`train`, `eval`, `sr …`, `--ckpt`, the `supernet:DIR`
//! oracle, super-resolution searches), whole, with the same command line; it runs the
//! same command-line library as `moga` with the real [`Libtorch`] below, so every other
//! command behaves here exactly as there. Run alone it is `moga` with a slower start.

mod info;
mod sr;
mod train;
mod weights;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use moga::cli::{AnySpace, Command};
use moga::torch::{Libtorch, SrWeights, SupernetWeights, TorchInfo};
use search::oracle::AccuracyOracle;

/// libtorch, linked into this process.
struct Linked;

impl Libtorch for Linked {
    fn hand_over(&self) -> Option<ExitCode> {
        match moga::torch::check_caller() {
            Ok(()) => None,
            Err(e) => {
                eprintln!("moga: {e}");
                Some(ExitCode::FAILURE)
            }
        }
    }

    fn run(&self, command: Command) -> Result<ExitCode> {
        match command {
            Command::Train(a) => train::train(*a),
            Command::Eval(a) => train::eval(a),
            Command::Sr(c) => sr::run(c),
            Command::Search(a) => match a.space {
                AnySpace::Sr(id) => sr::search(*a, id),
                AnySpace::Classify(_) => moga::cmd::search::run(*a, self),
            },
            _ => anyhow::bail!("internal error: not a libtorch command"),
        }
    }

    fn supernet(
        &self,
        dir: &Path,
        bn_batches: usize,
        batch: usize,
    ) -> Result<Box<dyn SupernetWeights>> {
        Ok(Box::new(weights::Checkpoint::open(dir, bn_batches, batch)?))
    }

    fn sr_weights(&self, dir: &Path) -> Result<Box<dyn SrWeights>> {
        Ok(Box::new(sr::SrFolder::open(dir)?))
    }

    fn supernet_oracle(&self, dir: &Path) -> Result<Box<dyn AccuracyOracle>> {
        Ok(Box::new(supernet::SupernetOracle::open(
            dir,
            supernet::train::parse_device("auto")?,
        )?))
    }

    fn info(&self) -> std::result::Result<TorchInfo, String> {
        Ok(info::probe())
    }
}

fn main() -> ExitCode {
    moga::main_with(&Linked)
}
