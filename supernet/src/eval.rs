//! Accuracy of an architecture with inherited weights: its path's BatchNorm statistics
//! recalibrated on a few training batches (FairNAS §4.1 and SPOS §3.3 do this, because
//! the running statistics a supernet accumulates mix every path), then the validation
//! split in inference mode. Results are cached per architecture in the checkpoint
//! folder (`accuracy-cache.jsonl`), keyed by everything that changes them.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::{Arch, SplitMix64};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::data::{Data, DataSpec, Split};
use super::net::{Mode, Supernet};
use super::train::{CONFIG_FILE, STATE_FILE, TrainConfig, TrainState, read_json, restore};
use crate::error::{Error, Result};

/// The cache file inside a checkpoint folder.
pub const CACHE_FILE: &str = "accuracy-cache.jsonl";

/// Accuracy and loss on a split.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Score {
    /// Top-1 accuracy, %.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// `split` in order, in batches of `batch`: normalised images and labels on `device`.
pub fn eval_batches(
    data: &Data,
    split: &Split,
    batch: usize,
    device: Device,
) -> Vec<(Tensor, Tensor)> {
    let n = split.len() as i64;
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = (batch.max(1) as i64).min(n - start);
        let idx = Tensor::arange_start(start, start + len, (Kind::Int64, Device::Cpu));
        out.push(data.plain_batch(split, &idx, device));
        start += len;
    }
    out
}

/// Runs `path` over `split` in inference mode.
pub fn score(net: &Supernet, data: &Data, split: &Split, path: &[usize], batch: usize) -> Score {
    score_on(net, &eval_batches(data, split, batch, net.device()), path)
}

/// Runs `path` over prepared batches (see [`eval_batches`]) in inference mode.
pub fn score_on(net: &Supernet, batches: &[(Tensor, Tensor)], path: &[usize]) -> Score {
    let _g = tch::no_grad_guard();
    let (mut correct, mut loss, mut n) = (0i64, 0.0, 0i64);
    for (x, y) in batches {
        n += y.size()[0];
        let logits = net.forward(x, path, Mode::EVAL);
        loss += logits
            .cross_entropy_loss(y, None::<Tensor>, tch::Reduction::Sum, -100, 0.0)
            .double_value(&[]);
        correct += logits
            .argmax(-1, false)
            .eq_tensor(y)
            .sum(Kind::Int64)
            .int64_value(&[]);
    }
    Score {
        accuracy: 100.0 * correct as f64 / n.max(1) as f64,
        loss: loss / n.max(1) as f64,
    }
}

/// Validation accuracy of `path` as the weights stand.
pub fn validate(net: &Supernet, data: &Data, path: &[usize], batch: usize) -> Score {
    score(net, data, &data.val, path, batch)
}

/// The training images BatchNorm is recalibrated on: `batches` batches of `batch`,
/// unaugmented, a fixed seeded selection so every architecture sees the same images,
/// normalised, on `device`.
pub fn recalibration_batches(
    data: &Data,
    batches: usize,
    batch: usize,
    seed: u64,
    device: Device,
) -> Vec<Tensor> {
    let mut rng = SplitMix64::new(seed ^ 0xB4_7C_4A_11);
    data.batches(&data.train, batch, &mut rng)
        .iter()
        .filter(|b| b.size()[0] >= 2)
        .take(batches)
        .map(|idx| data.plain_batch(&data.train, idx, device).0)
        .collect()
}

/// Re-estimates the BatchNorm statistics of `path` from prepared batches (see
/// [`recalibration_batches`]): statistics reset, then a cumulative average (momentum
/// 1/(k+1) at batch k).
pub fn recalibrate_on(net: &Supernet, batches: &[Tensor], path: &[usize]) {
    if batches.is_empty() {
        return;
    }
    let _g = tch::no_grad_guard();
    net.reset_bn(path);
    for (k, x) in batches.iter().enumerate() {
        let mode = Mode {
            train: true,
            bn_momentum: 1.0 / (k as f64 + 1.0),
            dropout: false,
        };
        let _ = net.forward(x, path, mode);
    }
}

/// One architecture's measured accuracy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// The architecture, encoded.
    pub arch: String,
    /// Its preset name, if it is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preset: Option<String>,
    /// Validation top-1 accuracy, %.
    pub accuracy: f64,
    /// Validation loss.
    pub loss: f64,
    /// Trainable parameters of the path at this resolution and class count.
    pub params: i64,
    /// Whether it came from the cache.
    #[serde(default)]
    pub cached: bool,
    /// Seconds spent (0 when cached).
    pub seconds: f64,
}

/// What a cached accuracy depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CacheKey {
    arch: String,
    data: String,
    epochs_done: usize,
    bn_batches: usize,
    batch: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CacheLine {
    #[serde(flatten)]
    key: CacheKey,
    accuracy: f64,
    loss: f64,
}

/// A path's tensors named as the ONNX exporter asks for them (PyTorch state-dict style,
/// the choice token dropped: `layers.3.expand.conv.weight`) → (shape, values).
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A CPU copy of a tensor as (shape, f32 values).
fn host_copy(t: &Tensor) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let data = Vec::<f32>::try_from(&t.flatten(0, -1))
        .map_err(|e| Error::Usage(format!("copying a tensor to the host: {e}")))?;
    Ok((shape, data))
}

/// A checkpoint opened for evaluation: the accuracy oracle.
pub struct Evaluator {
    /// The run that wrote it.
    pub config: TrainConfig,
    /// Where it stands.
    pub state: TrainState,
    /// The network.
    pub net: Supernet,
    /// The data evaluated on.
    pub data: Data,
    /// BatchNorm recalibration batches.
    pub bn_batches: usize,
    /// Batch size of recalibration and evaluation.
    pub batch: usize,
    dir: PathBuf,
    cache: HashMap<String, (f64, f64)>,
    use_cache: bool,
    /// Recalibration and validation batches, prepared once for the settings they were
    /// made with (`bn_batches`, `batch`) and reused by every architecture.
    prepared: Option<Prepared>,
}

struct Prepared {
    settings: (usize, usize),
    recal: Vec<Tensor>,
    val: Vec<(Tensor, Tensor)>,
}

impl Evaluator {
    /// Opens `dir` (written by `moga train`); `data` overrides the training data (same
    /// classes needed).
    pub fn open(dir: &Path, data: Option<&DataSpec>, device: Device) -> Result<Evaluator> {
        let config: TrainConfig = read_json(&dir.join(CONFIG_FILE)).map_err(|e| {
            Error::Usage(format!(
                "{e} (is {} a checkpoint written by `moga train`?)",
                dir.display()
            ))
        })?;
        let state: TrainState = read_json(&dir.join(STATE_FILE))?;
        let spec = data.cloned().unwrap_or_else(|| config.data.clone());
        let (data, net) = restore(dir, &config, &spec, device)?;
        let mut ev = Evaluator {
            config,
            state,
            net,
            data,
            bn_batches: 10,
            batch: 128,
            dir: dir.to_path_buf(),
            cache: HashMap::new(),
            use_cache: true,
            prepared: None,
        };
        ev.read_cache()?;
        Ok(ev)
    }

    /// Turns the cache off (neither read nor written).
    pub fn without_cache(mut self) -> Self {
        self.use_cache = false;
        self
    }

    fn key(&self, arch: &Arch) -> CacheKey {
        CacheKey {
            arch: arch.encode(),
            data: self.data.spec.to_string(),
            epochs_done: self.state.epochs_done,
            bn_batches: self.bn_batches,
            batch: self.batch,
        }
    }

    fn key_string(k: &CacheKey) -> String {
        serde_json::to_string(k).expect("serialisable")
    }

    fn read_cache(&mut self) -> Result<()> {
        let path = self.dir.join(CACHE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::Io { path, error: e }),
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<CacheLine>(line) {
                Ok(c) => {
                    self.cache
                        .insert(Self::key_string(&c.key), (c.accuracy, c.loss));
                }
                // A last line cut short by a crash mid-append is dropped; anything else
                // is damage a person should see.
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                Err(e) => {
                    return Err(Error::Usage(format!(
                        "{}: line {}: {e} (delete the file to re-measure)",
                        path.display(),
                        i + 1
                    )));
                }
            }
        }
        Ok(())
    }

    fn append_cache(&self, line: &CacheLine) -> Result<()> {
        let path = self.dir.join(CACHE_FILE);
        let mut text = serde_json::to_string(line).expect("serialisable");
        text.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::Io {
                path: path.clone(),
                error: e,
            })?;
        // One write of a whole line: concurrent appenders never interleave inside it.
        f.write_all(text.as_bytes())
            .map_err(|e| Error::Io { path, error: e })
    }

    /// The batches of this evaluator's settings, prepared on first use.
    fn prepared(&mut self) -> &Prepared {
        let settings = (self.bn_batches, self.batch);
        if self
            .prepared
            .as_ref()
            .is_none_or(|p| p.settings != settings)
        {
            let device = self.net.device();
            self.prepared = Some(Prepared {
                settings,
                recal: recalibration_batches(
                    &self.data,
                    self.bn_batches,
                    self.batch,
                    self.config.seed,
                    device,
                ),
                val: eval_batches(&self.data, &self.data.val, self.batch, device),
            });
        }
        self.prepared.as_ref().expect("prepared above")
    }

    /// Re-estimates `path`'s BatchNorm statistics with this evaluator's settings.
    fn recalibrate(&mut self, path: &[usize]) {
        self.prepared();
        let p = self.prepared.as_ref().expect("prepared");
        recalibrate_on(&self.net, &p.recal, path);
    }

    /// The weights `arch` inherits, ready for export: its path's BatchNorm statistics
    /// recalibrated as for [`Evaluator::evaluate`], then every tensor on the path. An
    /// identity trained as a LET is refused: the exported network is the searched
    /// architecture, where that layer is a skip, and a skip is not the LET's output.
    pub fn path_weights(&mut self, arch: &Arch) -> Result<NamedTensors> {
        let path = self.net.path_of(arch)?;
        if let Some(l) = (0..path.len()).find(|&l| self.net.let_module(l, path[l]).is_some()) {
            return Err(Error::Usage(format!(
                "layer {l} of {} is an identity, and this supernet trained identities as LETs \
                 (--scarlet-let): the exported network would skip where the supernet \
                 computes a 1×1 convolution, so its outputs would not match; train the \
                 stand-alone network (moga train --arch) to export it",
                arch.encode()
            )));
        }
        self.recalibrate(&path);
        let mut out = NamedTensors::new();
        for t in self.net.path_tensors(&path)? {
            out.insert(t.name, host_copy(&t.tensor)?);
        }
        Ok(out)
    }

    /// Logits of `arch` in inference mode for `input` (`[n, channels, r, r]` values,
    /// `n` taken from the length), with the BatchNorm statistics as they stand (call
    /// [`Evaluator::path_weights`] first to get the exported network's).
    pub fn logits(&self, arch: &Arch, input: &[f32]) -> Result<Vec<f32>> {
        let _g = tch::no_grad_guard();
        let path = self.net.path_of(arch)?;
        let r = i64::from(self.net.space.options.resolution);
        let c = i64::from(self.net.space.in_channels);
        let n = input.len() as i64 / (c * r * r);
        if n < 1 || n * c * r * r != input.len() as i64 {
            return Err(Error::Usage(format!(
                "an input of {} values is not a whole number of [{c}, {r}, {r}] images",
                input.len()
            )));
        }
        let x = Tensor::from_slice(input)
            .view([n, c, r, r])
            .to_device(self.net.device());
        let y = self.net.forward(&x, &path, Mode::EVAL);
        Ok(host_copy(&y)?.1)
    }

    /// Accuracy of `arch` with inherited weights (from the cache when measured before).
    pub fn evaluate(&mut self, arch: &Arch) -> Result<Evaluation> {
        let path = self.net.path_of(arch)?;
        let key = self.key(arch);
        let ks = Self::key_string(&key);
        let params = self.net.path_params(&path)?;
        let preset = arch.preset_name().map(str::to_string);
        if let Some(&(accuracy, loss)) = self.cache.get(&ks).filter(|_| self.use_cache) {
            return Ok(Evaluation {
                arch: key.arch,
                preset,
                accuracy,
                loss,
                params,
                cached: true,
                seconds: 0.0,
            });
        }
        let start = Instant::now();
        self.recalibrate(&path);
        let p = self.prepared.as_ref().expect("prepared by recalibrate");
        let s = score_on(&self.net, &p.val, &path);
        if self.use_cache {
            self.append_cache(&CacheLine {
                key: key.clone(),
                accuracy: s.accuracy,
                loss: s.loss,
            })?;
            self.cache.insert(ks, (s.accuracy, s.loss));
        }
        Ok(Evaluation {
            arch: key.arch,
            preset,
            accuracy: s.accuracy,
            loss: s.loss,
            params,
            cached: false,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
