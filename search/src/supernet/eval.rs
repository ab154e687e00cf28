//! Accuracy of an architecture with inherited weights: its path's BatchNorm statistics
//! recalibrated on a few training batches (FairNAS §4.1 and SPOS §3.3 do this, because
//! the running statistics a supernet accumulates mix every path), then the validation
//! split in inference mode. Results are cached per architecture in the checkpoint
//! folder (`accuracy-cache.jsonl`), keyed by everything that changes them.

use std::collections::HashMap;
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

/// Runs `path` over `split` in inference mode.
pub fn score(net: &Supernet, data: &Data, split: &Split, path: &[usize], batch: usize) -> Score {
    let _g = tch::no_grad_guard();
    let n = split.len() as i64;
    let (mut correct, mut loss) = (0i64, 0.0);
    let mut start = 0;
    while start < n {
        let len = (batch as i64).min(n - start);
        let idx = Tensor::arange_start(start, start + len, (Kind::Int64, Device::Cpu));
        let (x, y) = data.plain_batch(split, &idx, net.device());
        let logits = net.forward(&x, path, Mode::EVAL);
        loss += logits
            .cross_entropy_loss(&y, None::<Tensor>, tch::Reduction::Sum, -100, 0.0)
            .double_value(&[]);
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        start += len;
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

/// Re-estimates the BatchNorm statistics of `path` from `batches` training batches
/// (unaugmented, a fixed seeded selection so every architecture sees the same images):
/// statistics reset, then a cumulative average (momentum 1/(k+1) at batch k).
pub fn recalibrate(
    net: &Supernet,
    data: &Data,
    path: &[usize],
    batches: usize,
    batch: usize,
    seed: u64,
) {
    if batches == 0 {
        return;
    }
    let _g = tch::no_grad_guard();
    net.reset_bn(path);
    let mut rng = SplitMix64::new(seed ^ 0xB4_7C_4A_11);
    let order = data.batches(&data.train, batch, &mut rng);
    for (k, idx) in order
        .iter()
        .filter(|b| b.size()[0] >= 2)
        .take(batches)
        .enumerate()
    {
        let (x, _) = data.plain_batch(&data.train, idx, net.device());
        let mode = Mode {
            train: true,
            bn_momentum: 1.0 / (k as f64 + 1.0),
            dropout: false,
        };
        let _ = net.forward(&x, path, mode);
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

    /// Accuracy of `arch` with inherited weights (from the cache when measured before).
    pub fn evaluate(&mut self, arch: &Arch) -> Result<Evaluation> {
        let path = self.net.path_of(arch)?;
        let key = self.key(arch);
        let ks = Self::key_string(&key);
        let params = self.net.path_params(&path);
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
        recalibrate(
            &self.net,
            &self.data,
            &path,
            self.bn_batches,
            self.batch,
            self.config.seed,
        );
        let s = validate(&self.net, &self.data, &path, self.batch);
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
