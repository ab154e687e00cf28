//! Super-resolution networks on libtorch: one architecture of the `falsr` or `moremnas`
//! space built from [`SrArch::plan`] (the same plan the ONNX builder emits, so trained
//! weights export by name), trained stand-alone on random patches of an image folder
//! with an L1 loss and Adam, scored by PSNR and SSIM on Y against bicubic.
//!
//! The recipe follows FALSR/MoreMNAS as far as a CPU allows: ×2, Y only, inputs Y/255
//! in [0, 1] made by MATLAB-style bicubic downscaling, the network predicting the
//! high-resolution Y directly (no bicubic residual: the released graphs have none), L1
//! loss, Adam; the learning rate decays by a cosine over the run (by steps when they
//! bound the run, else by time). Scores round the output to 8 bits and shave 2 pixels,
//! as [`crate::sr_image::score_y`] documents.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::SplitMix64;
use lookup_tables::SrArch;
use lookup_tables::sr::{SrNode, SrNodeOp};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
pub(crate) use crate::optim::Adam;
use crate::sr_image::{
    Plane, SrImages, SrPair, SrScore, bicubic_baseline, random_patches, score_y,
};

/// The weights file of a trained super-resolution network.
pub const SR_WEIGHTS_FILE: &str = "sr.safetensors";
/// Its record (architecture, settings, scores).
pub const SR_RECORD_FILE: &str = "sr.json";

/// A super-resolution network with its own weights.
pub struct SrNet {
    /// The architecture.
    pub arch: SrArch,
    plan: Vec<SrNode>,
    /// `<node>.weight` and `<node>.bias` of every convolution, in plan order.
    params: Vec<(String, Tensor)>,
}

impl SrNet {
    /// Fresh weights (seeded): He-uniform for convolutions followed by a ReLU, a third of
    /// the variance for linear ones (the bottleneck's map and projection, the output),
    /// biases zero.
    pub fn new(arch: &SrArch, seed: u64, device: Device) -> Result<SrNet> {
        arch.validate()?;
        tch::manual_seed(seed as i64);
        let plan = arch.plan();
        let mut params = Vec::new();
        for n in &plan {
            if let SrNodeOp::Conv {
                cin,
                cout,
                kernel,
                groups,
                relu,
            } = n.op
            {
                let (cin, cout, k, g) = (cin as i64, cout as i64, kernel as i64, groups as i64);
                let fan_in = (cin / g * k * k) as f64;
                let bound = if relu {
                    (6.0 / fan_in).sqrt()
                } else {
                    (2.0 / fan_in).sqrt()
                };
                let w = Tensor::empty([cout, cin / g, k, k], (Kind::Float, device))
                    .uniform_(-bound, bound)
                    .set_requires_grad(true);
                let b = Tensor::zeros([cout], (Kind::Float, device)).set_requires_grad(true);
                params.push((format!("{}.weight", n.name), w));
                params.push((format!("{}.bias", n.name), b));
            }
        }
        Ok(SrNet {
            arch: arch.clone(),
            plan,
            params,
        })
    }

    /// The network of `arch` on `params` (`<node>.weight` and `<node>.bias` of every
    /// convolution of its plan, in plan order): how the supernet's sub-networks run on
    /// tensors sliced from the shared weights.
    pub(crate) fn from_params(arch: &SrArch, params: Vec<(String, Tensor)>) -> SrNet {
        SrNet {
            arch: arch.clone(),
            plan: arch.plan(),
            params,
        }
    }

    /// The network with the weights in `file` (a [`SR_WEIGHTS_FILE`] written by
    /// [`SrNet::save`]); every tensor must be there with its shape.
    pub fn load(arch: &SrArch, file: &Path, device: Device) -> Result<SrNet> {
        let mut net = SrNet::new(arch, 0, device)?;
        let not_of = format!("the weights are not of {}", arch.encode());
        let read = read_into(file, &mut net.params, &not_of, "the network")?;
        if read.len() != net.params.len() {
            return Err(Error::Usage(format!(
                "{}: {} tensors, the network has {}",
                file.display(),
                read.len(),
                net.params.len()
            )));
        }
        Ok(net)
    }

    /// Writes every tensor (atomically).
    pub fn save(&self, file: &Path) -> Result<()> {
        crate::weights::write_atomic(&self.params, file)
    }

    /// Every weight by name, as plain values: `(name, shape, values)` for the ONNX
    /// builder's named weights.
    pub fn named_values(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.params
            .iter()
            .map(|(n, t)| {
                let t = t.detach().to_device(Device::Cpu).contiguous();
                let shape = t.size().iter().map(|&d| d as usize).collect();
                let v = Vec::<f32>::try_from(t.flatten(0, -1)).expect("float tensor");
                (n.clone(), shape, v)
            })
            .collect()
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> i64 {
        self.params.iter().map(|(_, t)| t.numel() as i64).sum()
    }

    /// `[N, 1, H, W]` low-resolution Y in [0, 1] → `[N, 1, 2H, 2W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut t: Vec<Tensor> = Vec::with_capacity(self.plan.len());
        let mut p = 0;
        for n in &self.plan {
            let y = match n.op {
                SrNodeOp::Input => x.shallow_clone(),
                SrNodeOp::Conv {
                    kernel,
                    groups,
                    relu,
                    ..
                } => {
                    let (w, b) = (&self.params[p].1, &self.params[p + 1].1);
                    p += 2;
                    let pad = i64::from(kernel / 2);
                    let y = t[n.inputs[0]].conv2d(
                        w,
                        Some(b),
                        [1, 1],
                        [pad, pad],
                        [1, 1],
                        i64::from(groups),
                    );
                    if relu { y.relu() } else { y }
                }
                SrNodeOp::Add => &t[n.inputs[0]] + &t[n.inputs[1]],
                SrNodeOp::Concat => {
                    let parts: Vec<&Tensor> = n.inputs.iter().map(|&i| &t[i]).collect();
                    Tensor::cat(&parts, 1)
                }
                SrNodeOp::DepthToSpace => depth_to_space_dcr(&t[n.inputs[0]], 2),
            };
            t.push(y);
        }
        t.pop().expect("a plan has nodes")
    }

    /// Upscales one low-resolution Y plane (values 0–255) to a 0–255 plane twice its size.
    pub fn upscale(&self, lr_y: &Plane) -> Plane {
        let device = self.params[0].1.device();
        let x = Tensor::from_slice(&lr_y.data)
            .reshape([1, 1, lr_y.height as i64, lr_y.width as i64])
            .to_device(device)
            / 255.0;
        let y = tch::no_grad(|| self.forward(&x)) * 255.0;
        let y = y.to_device(Device::Cpu).flatten(0, -1);
        Plane::new(
            2 * lr_y.width,
            2 * lr_y.height,
            Vec::<f32>::try_from(y).expect("float tensor"),
        )
    }

    /// PSNR and SSIM on Y of every held-out pair, and their means.
    pub fn score(&self, pairs: &[SrPair]) -> (SrScore, Vec<SrScore>) {
        let each: Vec<SrScore> = pairs
            .iter()
            .map(|p| score_y(&self.upscale(&p.lr_y), &p.hr_y))
            .collect();
        (mean_score(&each), each)
    }
}

/// Reads the safetensors `file` and copies into each of `params` the tensor of its name
/// ([`crate::weights::copy_into`]). Returns everything read (checkpoints hold more than
/// weights).
pub(crate) fn read_into(
    file: &Path,
    params: &mut [(String, Tensor)],
    not_of: &str,
    holder: &str,
) -> Result<std::collections::HashMap<String, Tensor>> {
    let read = crate::weights::read(file)?;
    crate::weights::copy_into(
        file,
        &read,
        params.iter_mut().map(|(n, t)| (n.as_str(), t)),
        not_of,
        holder,
    )?;
    Ok(read)
}

/// ONNX's DepthToSpace in DCR mode (TensorFlow's channel order): output channel `c` at
/// offset (i, j) reads input channel `(i·b + j)·C' + c`.
pub fn depth_to_space_dcr(x: &Tensor, b: i64) -> Tensor {
    let [n, c, h, w] = x.size()[..] else {
        panic!("depth-to-space needs a 4-d tensor");
    };
    let c2 = c / (b * b);
    x.reshape([n, b, b, c2, h, w])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([n, c2, h * b, w * b])
}

/// The mean of several scores.
pub fn mean_score(s: &[SrScore]) -> SrScore {
    let n = s.len().max(1) as f64;
    SrScore {
        psnr_db: s.iter().map(|x| x.psnr_db).sum::<f64>() / n,
        ssim: s.iter().map(|x| x.ssim).sum::<f64>() / n,
    }
}

/// How to train one super-resolution network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrTrainConfig {
    /// The architecture.
    pub arch: SrArch,
    /// The image folder ([`SrImages::load`]'s split).
    pub data: PathBuf,
    /// Budget, batches, rate, evaluations, seed.
    #[serde(flatten)]
    pub schedule: SrSchedule,
}

/// The settings of a super-resolution training run, a stand-alone network's or the
/// supernet's: what [`Schedule`] follows.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct SrSchedule {
    /// Stop after this many seconds of training (evaluation not counted).
    pub seconds: Option<f64>,
    /// Stop after this many steps.
    pub steps: Option<usize>,
    /// Patches per step.
    pub batch: usize,
    /// Low-resolution patch side (the high-resolution patch is twice that).
    pub patch: usize,
    /// Peak learning rate of Adam.
    pub lr: f64,
    /// Evaluate every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Seed of weights and patches (and the supernet's paths).
    pub seed: u64,
}

/// One evaluation during training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrRecord {
    /// Steps done.
    pub step: usize,
    /// Training seconds so far.
    pub seconds: f64,
    /// Mean L1 loss (on [0, 1] values) since the previous record.
    pub loss: f64,
    /// Mean PSNR on Y over the held-out images, dB.
    pub psnr: f64,
    /// Mean SSIM on Y over the held-out images.
    pub ssim: f64,
}

/// What a finished training run gives (also written as [`SR_RECORD_FILE`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrOutcome {
    /// The settings.
    pub config: SrTrainConfig,
    /// The architecture, encoded.
    pub arch: String,
    /// Its parameters.
    pub params: i64,
    /// Every evaluation, the last being the final network's.
    pub records: Vec<SrRecord>,
    /// Bicubic ×2 on the same held-out images: mean PSNR and SSIM on Y.
    pub bicubic: SrScore,
    /// The final network on each held-out image: (name, network, bicubic).
    pub per_image: Vec<(String, SrScore, SrScore)>,
    /// Final mean PSNR minus bicubic's, dB.
    pub gain_db: f64,
}

/// Trains `config.arch` stand-alone. With `out`, writes [`SR_WEIGHTS_FILE`] and
/// [`SR_RECORD_FILE`] there (atomically) at every evaluation; `progress` sees each
/// record as it is made.
pub fn train_sr(
    config: &SrTrainConfig,
    device: Device,
    out: Option<&Path>,
    progress: &mut dyn FnMut(&SrRecord),
) -> Result<(SrNet, SrOutcome)> {
    let images = SrImages::load(&config.data)?;
    let train = SrPair::all(&images.train);
    let held = SrPair::all(&images.held_out);
    let baseline: Vec<SrScore> = held.iter().map(bicubic_baseline).collect();
    let mut records: Vec<SrRecord> = Vec::new();
    let mut last_each = Vec::new();
    let net = train_loop(config, device, &train, &mut |net, step, seconds, loss| {
        let (mean, each) = net.score(&held);
        last_each = each;
        let r = SrRecord {
            step,
            seconds,
            loss,
            psnr: mean.psnr_db,
            ssim: mean.ssim,
        };
        progress(&r);
        records.push(r);
        if let Some(dir) = out {
            net.save(&dir.join(SR_WEIGHTS_FILE))?;
            let o = outcome(config, net, &records, &held, &last_each, &baseline);
            write_json_atomic(&dir.join(SR_RECORD_FILE), &o)?;
        }
        Ok(())
    })?;
    let o = outcome(config, &net, &records, &held, &last_each, &baseline);
    Ok((net, o))
}

/// Trains `config.arch` on `train` without scoring it (FALSR's brief training of a
/// search candidate; `config.data` and `eval_every` are not read).
pub fn train_sr_on(config: &SrTrainConfig, device: Device, train: &[SrPair]) -> Result<SrNet> {
    let mut config = config.clone();
    config.schedule.eval_every = 0;
    train_loop(&config, device, train, &mut |_, _, _, _| Ok(()))
}

/// The training loop of one stand-alone network: `evaluate(net, step, training
/// seconds, mean loss since the last call)` every `eval_every` steps and once at the end.
fn train_loop(
    config: &SrTrainConfig,
    device: Device,
    train: &[SrPair],
    evaluate: &mut dyn FnMut(&SrNet, usize, f64, f64) -> Result<()>,
) -> Result<SrNet> {
    let schedule = Schedule::new(config.schedule, device, 0)?;
    let net = SrNet::new(&config.arch, config.schedule.seed, device)?;
    let mut learner = Standalone {
        adam: Adam::new(&net.params),
        net,
        evaluate,
    };
    schedule.run(train, (0, 0.0), &mut learner)?;
    Ok(learner.net)
}

/// One network learning from patches: what [`Schedule::run`] drives.
pub(crate) trait Learner {
    /// One step on a batch (`x` low-, `y` high-resolution) at learning rate `lr`: the
    /// batch's loss.
    fn learn(&mut self, x: &Tensor, y: &Tensor, lr: f64) -> Result<f64>;
    /// An evaluation after `step` steps and `seconds` of training; `loss` is the mean
    /// since the previous one (NaN when none).
    fn evaluate(&mut self, step: usize, seconds: f64, loss: f64) -> Result<()>;
}

struct Standalone<'e> {
    net: SrNet,
    adam: Adam,
    evaluate: &'e mut dyn FnMut(&SrNet, usize, f64, f64) -> Result<()>,
}

impl Learner for Standalone<'_> {
    fn learn(&mut self, x: &Tensor, y: &Tensor, lr: f64) -> Result<f64> {
        let loss = (self.net.forward(x) - y).abs().mean(Kind::Float);
        loss.backward();
        self.adam.step(&mut self.net.params, lr);
        Ok(loss.double_value(&[]))
    }

    fn evaluate(&mut self, step: usize, seconds: f64, loss: f64) -> Result<()> {
        (self.evaluate)(&self.net, step, seconds, loss)
    }
}

/// The schedule every super-resolution training follows (stand-alone networks and the
/// supernet): random patches, Adam's peak rate decayed by a cosine over the run (by
/// steps when they bound it, else by time), evaluations every `eval_every` steps and at
/// the end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    s: SrSchedule,
    device: Device,
    /// Steps over which the rate rises linearly to its peak first (0: none).
    warmup: usize,
}

impl Schedule {
    /// The schedule of `s` on `device`, or the error naming what cannot train.
    pub fn new(s: SrSchedule, device: Device, warmup: usize) -> Result<Schedule> {
        if s.seconds.is_none() && s.steps.is_none() {
            return Err(Error::Usage("give a time budget or a step count".into()));
        }
        if s.batch == 0 || s.patch < 4 {
            return Err(Error::Usage(format!(
                "batch {} / patch {}: a batch needs patches of at least 4 pixels",
                s.batch, s.patch
            )));
        }
        Ok(Schedule { s, device, warmup })
    }

    /// Runs from `start` (steps and training seconds done: a resumed run, whose patches
    /// are drawn from a stream of their own) to the end.
    pub fn run(
        &self,
        train: &[SrPair],
        start: (usize, f64),
        learner: &mut dyn Learner,
    ) -> Result<()> {
        let (start, mut seconds) = start;
        let stream = (start as u64).wrapping_mul(0x9E37_79B9);
        let mut rng = SplitMix64::new(self.s.seed ^ 0x5151 ^ stream);
        let (mut loss_sum, mut loss_n, mut step) = (0.0, 0usize, start);
        let mut evaluated_at = (start > 0).then_some(start);
        let side = self.s.patch as i64;
        loop {
            let by_steps = self.s.steps.map(|s| step as f64 / s.max(1) as f64);
            let by_time = self.s.seconds.map(|s| seconds / s);
            let done = by_steps.into_iter().chain(by_time).fold(0f64, f64::max);
            let finished = done >= 1.0;
            let due = self.s.eval_every > 0 && step > 0 && step % self.s.eval_every == 0;
            if (finished || due) && evaluated_at != Some(step) {
                let loss = if loss_n > 0 {
                    loss_sum / loss_n as f64
                } else {
                    f64::NAN
                };
                learner.evaluate(step, seconds, loss)?;
                evaluated_at = Some(step);
                (loss_sum, loss_n) = (0.0, 0);
            }
            if finished {
                return Ok(());
            }
            let t0 = Instant::now();
            let warm = ((step + 1) as f64 / self.warmup.max(1) as f64).min(1.0);
            let lr = self.s.lr * warm * 0.5 * (1.0 + (std::f64::consts::PI * done).cos());
            let (lr_v, hr_v) = random_patches(train, self.s.patch, self.s.batch, &mut rng)?;
            let n = self.s.batch as i64;
            let x = Tensor::from_slice(&lr_v)
                .reshape([n, 1, side, side])
                .to_device(self.device);
            let y = Tensor::from_slice(&hr_v)
                .reshape([n, 1, 2 * side, 2 * side])
                .to_device(self.device);
            loss_sum += learner.learn(&x, &y, lr)?;
            loss_n += 1;
            step += 1;
            seconds += t0.elapsed().as_secs_f64();
        }
    }
}

fn outcome(
    config: &SrTrainConfig,
    net: &SrNet,
    records: &[SrRecord],
    held: &[SrPair],
    each: &[SrScore],
    baseline: &[SrScore],
) -> SrOutcome {
    let bicubic = mean_score(baseline);
    let last = records.last().map_or(f64::NAN, |r| r.psnr);
    SrOutcome {
        config: config.clone(),
        arch: net.arch.encode(),
        params: net.param_count(),
        records: records.to_vec(),
        per_image: held
            .iter()
            .zip(each.iter().zip(baseline))
            .map(|(p, (s, b))| (p.name.clone(), *s, *b))
            .collect(),
        gain_db: last - bicubic.psnr_db,
        bicubic,
    }
}

fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("records serialise");
    lookup_tables::write_atomic(path, text.as_bytes()).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DCR depth-to-space against its definition, element by element.
    #[test]
    fn depth_to_space_is_dcr() {
        let (c2, h, w) = (2i64, 2i64, 3i64);
        let x =
            Tensor::arange(4 * c2 * h * w, (Kind::Float, Device::Cpu)).reshape([1, 4 * c2, h, w]);
        let y = depth_to_space_dcr(&x, 2);
        assert_eq!(y.size(), [1, c2, 2 * h, 2 * w]);
        for c in 0..c2 {
            for yy in 0..2 * h {
                for xx in 0..2 * w {
                    let (i, j) = (yy % 2, xx % 2);
                    let src = ((i * 2 + j) * c2 + c, yy / 2, xx / 2);
                    assert_eq!(
                        y.double_value(&[0, c, yy, xx]),
                        x.double_value(&[0, src.0, src.1, src.2])
                    );
                }
            }
        }
    }
}
