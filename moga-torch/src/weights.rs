//! A supernet checkpoint's weights for export and deployment: each architecture's path
//! with its BatchNorm recalibrated (as `moga eval` does), then folded into ONNX.

use std::path::{Path, PathBuf};

use anyhow::Result;
use device_runner::onnx::builder::{NamedWeights, network_model};
use device_runner::onnx::proto::ModelProto;
use lookup_tables::{Arch, Space};
use moga::torch::SupernetWeights;
use supernet::Evaluator;

/// A `moga train` checkpoint opened on the CPU for exporting paths.
pub struct Checkpoint {
    ev: Evaluator,
    dir: PathBuf,
}

impl Checkpoint {
    /// Opens `dir`; each path's BatchNorm is recalibrated on `bn_batches` training
    /// batches of `batch`.
    pub fn open(dir: &Path, bn_batches: usize, batch: usize) -> Result<Checkpoint> {
        let cpu = supernet::train::parse_device("cpu")?;
        let mut ev = Evaluator::open(dir, None, cpu)?;
        ev.bn_batches = bn_batches;
        ev.batch = batch;
        Ok(Checkpoint {
            ev,
            dir: dir.to_path_buf(),
        })
    }
}

impl SupernetWeights for Checkpoint {
    fn space(&self) -> &Space {
        &self.ev.net.space
    }

    fn describe(&self) -> String {
        format!(
            "inherited from {} (epoch {}, BatchNorm recalibrated on {} batches of {})",
            self.dir.display(),
            self.ev.state.epochs_done,
            self.ev.bn_batches,
            self.ev.batch
        )
    }

    fn model(&mut self, arch: &Arch) -> Result<ModelProto> {
        let mut w = NamedWeights::new(self.ev.path_weights(arch)?, supernet::net::BN_EPS as f32);
        let model = network_model(&self.ev.net.space, arch, &mut w)?;
        w.finish(&arch.encode())?;
        Ok(model)
    }

    fn logits(&mut self, arch: &Arch, input: &[f32]) -> Result<Vec<f32>> {
        Ok(self.ev.logits(arch, input)?)
    }
}
