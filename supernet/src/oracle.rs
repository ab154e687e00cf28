//! A supernet checkpoint as the search's accuracy oracle: each architecture's
//! validation accuracy with inherited weights after BatchNorm recalibration, cached in
//! the checkpoint ([`crate::eval`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::Arch;
use search::oracle::{AccuracyOracle, Features, OracleCalls};

use crate::error::{Error, Result};
use crate::eval::Evaluator;

/// An opened supernet checkpoint.
pub struct SupernetOracle {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// The evaluator.
    pub evaluator: Evaluator,
    calls: OracleCalls,
}

impl SupernetOracle {
    /// Opens `dir` on `device`; a stand-alone network's checkpoint is refused (it holds
    /// one architecture, not a space).
    pub fn open(dir: &Path, device: tch::Device) -> Result<SupernetOracle> {
        let evaluator = Evaluator::open(dir, None, device)?;
        if evaluator.config.arch.is_some() {
            return Err(Error::Usage(format!(
                "{} holds a stand-alone network (trained with --arch), not a supernet",
                dir.display()
            )));
        }
        Ok(SupernetOracle {
            dir: dir.to_path_buf(),
            evaluator,
            calls: OracleCalls::default(),
        })
    }
}

impl AccuracyOracle for SupernetOracle {
    fn accuracy(&mut self, arch: &Arch, _: Features) -> search::Result<f64> {
        let start = Instant::now();
        let e = self.evaluator.evaluate(arch)?;
        self.calls.calls += 1;
        self.calls.cache_hits += u64::from(e.cached);
        self.calls.seconds += start.elapsed().as_secs_f64();
        Ok(e.accuracy)
    }

    fn describe(&self) -> String {
        let ev = &self.evaluator;
        format!(
            "supernet {} ({} {}{} on {}, {} epochs; validation accuracy after BatchNorm recalibration on {} batches)",
            self.dir.display(),
            ev.config.space,
            ev.config.strategy,
            if ev.config.scarlet_let {
                " with LET"
            } else {
                ""
            },
            ev.data.spec,
            ev.state.epochs_done,
            ev.bn_batches
        )
    }

    fn bounds(&self, _: Features, _: Features) -> (f64, f64) {
        (0.0, 100.0)
    }

    fn calls(&self) -> OracleCalls {
        self.calls
    }
}
