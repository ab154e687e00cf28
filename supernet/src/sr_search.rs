//! Searching the `falsr` and `moremnas` spaces with the search crate's engine and its
//! one problem ([`search::objectives::SpaceProblem`] over [`SrSpaceId`], whose genome
//! is 7 cells of 192 choices, then FALSR's 28 link bits): objectives PSNR (max),
//! multiply-adds and parameters (min) with FALSR's constraints (a minimum PSNR, a
//! maximum of multiply-adds), FALSR's initial population and roulette wheels, and
//! FALSR's way of scoring, as an accuracy oracle: every candidate trained briefly from
//! scratch ([`BriefTraining`]), or inherited supernet weights ([`SrOracle`]).
//!
//! Crossover is the engine's uniform crossover over all genes, cells and links at once
//! (FALSR crosses both together); mutation is the engine's random mutation, optionally
//! mixed with MoreMNAS's reinforced controller (`--rl-mutation`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::sr::{SR_CELLS, SR_STATS_SIDE};
use lookup_tables::{SplitMix64, SrArch, SrCell, SrSpaceId};
use search::objectives::{Direction, Metrics, Objective, ObjectiveSpec, SpaceProblem};
use search::oracle::{AccuracyOracle, Features};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{Error, Result};
use crate::sr_image::{Plane, SrImages, SrPair, SrScore};
use crate::sr_net::{SrSchedule, SrTrainConfig, mean_score, train_sr_on};

/// Reads `psnr:max,madds:min,params:min` (each objective once, in its only sensible
/// direction): PSNR is the search's accuracy objective, maximised.
pub fn parse_sr_objectives(s: &str) -> Result<Vec<ObjectiveSpec>> {
    let mut v: Vec<ObjectiveSpec> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, dir) = part.split_once(':').unwrap_or((part, ""));
        let (objective, want) = match name {
            "psnr" => (Objective::Accuracy, "max"),
            "madds" => (Objective::Madds, "min"),
            "params" => (Objective::Params, "min"),
            "lat" => (Objective::Latency, "min"),
            _ => {
                return Err(Error::Usage(format!(
                    "--objectives: '{name}' is not a super-resolution objective (psnr:max, madds:min, params:min, lat:min)"
                )));
            }
        };
        if !dir.is_empty() && dir != want {
            return Err(Error::Usage(format!(
                "--objectives: {name} is {want}imised here, not '{dir}'"
            )));
        }
        if v.iter().any(|o| o.objective == objective) {
            return Err(Error::Usage(format!("--objectives: {name} twice")));
        }
        let direction = if want == "max" {
            Direction::Max
        } else {
            Direction::Min
        };
        v.push(ObjectiveSpec {
            objective,
            direction,
        });
    }
    if v.len() < 2 {
        return Err(Error::Usage(format!(
            "--objectives '{s}': a multi-objective search needs two or more of psnr, madds, params, lat"
        )));
    }
    Ok(v)
}

/// An objective's name in super-resolution reports (`psnr` for the accuracy).
pub fn sr_objective_name(o: &ObjectiveSpec) -> &'static str {
    match o.objective {
        Objective::Accuracy => "psnr",
        Objective::Madds => "madds",
        Objective::Params => "params",
        Objective::Latency => "lat",
    }
}

/// One architecture's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrMetrics {
    /// The architecture, encoded.
    pub arch: String,
    /// Held-out PSNR on Y after brief training, dB.
    pub psnr: f64,
    /// Held-out SSIM on Y.
    pub ssim: f64,
    /// Multiply-adds at 480×480.
    pub madds: u64,
    /// Parameters.
    pub params: u64,
    /// Latency predicted by the search's table, ms (with `lat` among the objectives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat_ms: Option<f64>,
    /// Whether the constraints hold.
    pub feasible: bool,
}

/// FALSR's scoring: each candidate trained from scratch for a few steps on random
/// patches, then scored on the centres of the held-out images. Scores are cached by
/// encoding, in memory and (with a file) as JSON lines appended as they are made, so a
/// rerun with the same file measures nothing twice (lines of other steps, seeds or image
/// folders are ignored).
pub struct BriefTraining {
    /// Steps per candidate.
    pub steps: usize,
    /// Patches per step.
    pub batch: usize,
    /// Low-resolution patch side.
    pub patch: usize,
    /// Adam's peak learning rate.
    pub lr: f64,
    /// Seed of every candidate's weights and patches (the same for all: a paired comparison).
    pub seed: u64,
    device: Device,
    train: Vec<SrPair>,
    held: Vec<SrPair>,
    cache: HashMap<String, SrScore>,
    file: Option<PathBuf>,
    data: PathBuf,
    /// Candidates trained in this process, and their seconds.
    pub trained: usize,
    /// Seconds spent training and scoring.
    pub seconds: f64,
}

/// Side of the low-resolution centre crop of each held-out image the brief scores use.
pub const BRIEF_EVAL_SIDE: usize = 48;

impl BriefTraining {
    /// Brief training on the images of `data`; `cache` is the JSON-lines file of earlier
    /// scores (created when absent).
    pub fn new(
        data: &Path,
        steps: usize,
        seed: u64,
        device: Device,
        cache: Option<&Path>,
    ) -> Result<BriefTraining> {
        let images = SrImages::load(data)?;
        let held = SrPair::all(&images.held_out)
            .into_iter()
            .map(|p| centre(&p, BRIEF_EVAL_SIDE))
            .collect();
        let mut b = BriefTraining {
            steps,
            batch: 8,
            patch: 24,
            lr: 2e-3,
            seed,
            device,
            train: SrPair::all(&images.train),
            held,
            cache: HashMap::new(),
            file: cache.map(Path::to_path_buf),
            data: data.to_path_buf(),
            trained: 0,
            seconds: 0.0,
        };
        if let Some(f) = cache
            && f.exists()
        {
            let text = std::fs::read_to_string(f).map_err(|e| Error::Io {
                path: f.to_path_buf(),
                error: e,
            })?;
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let e: CacheLine = serde_json::from_str(line)
                    .map_err(|e| Error::Usage(format!("{}: line {}: {e}", f.display(), i + 1)))?;
                if e.steps == steps && e.seed == seed && e.data == data.display().to_string() {
                    b.cache.insert(e.arch, e.score);
                }
            }
        }
        Ok(b)
    }

    /// Scores previously made (this run's and the cache file's).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// The held-out PSNR and SSIM of `arch` after brief training.
    pub fn score(&mut self, arch: &SrArch) -> Result<SrScore> {
        let key = arch.encode();
        if let Some(s) = self.cache.get(&key) {
            return Ok(*s);
        }
        let t0 = Instant::now();
        let config = SrTrainConfig {
            arch: arch.clone(),
            data: PathBuf::new(),
            schedule: SrSchedule {
                seconds: None,
                steps: Some(self.steps),
                batch: self.batch,
                patch: self.patch,
                lr: self.lr,
                eval_every: 0,
                seed: self.seed,
            },
        };
        let net = train_sr_on(&config, self.device, &self.train)?;
        let (score, _) = net.score(&self.held);
        self.trained += 1;
        self.seconds += t0.elapsed().as_secs_f64();
        if let Some(f) = &self.file {
            let line = CacheLine {
                arch: key.clone(),
                steps: self.steps,
                seed: self.seed,
                data: self.data.display().to_string(),
                score,
            };
            let mut fh = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .map_err(|e| Error::Io {
                    path: f.clone(),
                    error: e,
                })?;
            writeln!(fh, "{}", serde_json::to_string(&line).expect("serialises")).map_err(|e| {
                Error::Io {
                    path: f.clone(),
                    error: e,
                }
            })?;
        }
        self.cache.insert(key, score);
        Ok(score)
    }

    /// Bicubic on the same crops.
    pub fn bicubic(&self) -> SrScore {
        let each: Vec<SrScore> = self
            .held
            .iter()
            .map(crate::sr_image::bicubic_baseline)
            .collect();
        mean_score(&each)
    }
}

/// How a search scores PSNR: FALSR's brief training of each candidate, or inherited
/// weights from a supernet trained once ([`crate::sr_supernet`]).
pub enum SrOracle {
    /// Each candidate trained briefly from scratch.
    Brief(BriefTraining),
    /// Inherited weights from a supernet checkpoint.
    Supernet(crate::sr_supernet::SupernetSr),
}

impl SrOracle {
    /// The held-out PSNR and SSIM of `arch` (both oracles score the same centre crops).
    pub fn score(&mut self, arch: &SrArch) -> Result<SrScore> {
        match self {
            SrOracle::Brief(b) => b.score(arch),
            SrOracle::Supernet(s) => s.score(arch),
        }
    }

    /// Bicubic on the same crops.
    pub fn bicubic(&self) -> SrScore {
        match self {
            SrOracle::Brief(b) => b.bicubic(),
            SrOracle::Supernet(s) => s.bicubic(),
        }
    }
}

/// PSNR as the search's accuracy: the one oracle trait of every space.
impl AccuracyOracle<SrArch> for SrOracle {
    fn accuracy(&mut self, arch: &SrArch, _: Features) -> Result<f64> {
        self.score(arch).map(|s| s.psnr_db)
    }

    fn describe(&self) -> String {
        match self {
            SrOracle::Brief(b) => format!("brief training (FALSR), {} steps", b.steps),
            SrOracle::Supernet(s) => format!("supernet {} (inherited weights)", s.dir.display()),
        }
    }

    /// Bicubic's PSNR on the same crops to 6 dB above it: a range for normalising a
    /// hypervolume only (no network of these spaces reaches +6 dB at ×2).
    fn bounds(&self, _: Features, _: Features) -> (f64, f64) {
        let b = self.bicubic().psnr_db;
        (b, b + 6.0)
    }
}

/// One cached score: valid for the same steps, seed and image folder.
#[derive(Serialize, Deserialize)]
struct CacheLine {
    arch: String,
    steps: usize,
    seed: u64,
    data: String,
    score: SrScore,
}

/// The centre `side`×`side` (low resolution) of a pair, or all of it when smaller.
pub(crate) fn centre(p: &SrPair, side: usize) -> SrPair {
    let (w, h) = (p.lr_y.width.min(side), p.lr_y.height.min(side));
    let (x, y) = ((p.lr_y.width - w) / 2, (p.lr_y.height - h) / 2);
    let crop = |pl: &Plane, s: usize| pl.crop(x * s, y * s, w * s, h * s);
    SrPair {
        name: p.name.clone(),
        hr_y: crop(&p.hr_y, 2),
        lr_y: crop(&p.lr_y, 1),
        lr_cb: crop(&p.lr_cb, 1),
        lr_cr: crop(&p.lr_cr, 1),
    }
}

/// A search problem over one of the super-resolution spaces: the one problem of every
/// space, with PSNR from an [`SrOracle`] (kept concrete: reports read its SSIM and
/// bicubic baseline).
pub type SrProblem = SpaceProblem<SrSpaceId, SrOracle>;

/// One architecture's report row: its counts from the search's metrics, PSNR and SSIM
/// from the oracle (cached: nothing is trained twice).
pub fn sr_metrics(m: &Metrics, oracle: &mut SrOracle) -> Result<SrMetrics> {
    let arch = SrArch::parse(&m.arch)?;
    let s = oracle.score(&arch)?;
    Ok(SrMetrics {
        arch: m.arch.clone(),
        psnr: s.psnr_db,
        ssim: s.ssim,
        madds: m.madds,
        params: m.params,
        lat_ms: m.latency_ms,
        feasible: m.feasible,
    })
}

/// The report row of one architecture scored outside a search (exact counts at
/// 480x480, the oracle's PSNR and SSIM).
pub fn score_arch(arch: &SrArch, oracle: &mut SrOracle) -> Result<SrMetrics> {
    let stats = arch.stats(SR_STATS_SIDE)?;
    let s = oracle.score(arch)?;
    Ok(SrMetrics {
        arch: arch.encode(),
        psnr: s.psnr_db,
        ssim: s.ssim,
        madds: stats.madds,
        params: stats.params,
        lat_ms: None,
        feasible: true,
    })
}

/// FALSR's roulette wheels for its hybrid mutation, one biased by multiply-adds and
/// one by parameters: a cell choice weighs `ln(1 + cost)`, its cost counted with a
/// 32-channel input (multiply-adds per low-resolution pixel); link bits weigh 1
/// each. Heavier cells are drawn more often, log-scaled so the lightest stay
/// reachable (our reading of FALSR's text; the authors' code is not public).
pub fn roulettes(space: SrSpaceId) -> Vec<Vec<Vec<f64>>> {
    let costs: Vec<(u64, u64)> = SrCell::all()
        .iter()
        .map(|c| c.cost(lookup_tables::sr::SR_FEATURES))
        .collect();
    let wheel = |pick: fn(&(u64, u64)) -> u64| {
        let cells: Vec<f64> = costs.iter().map(|c| (1.0 + pick(c) as f64).ln()).collect();
        let mut w = vec![cells; SR_CELLS];
        w.extend(std::iter::repeat_n(vec![1.0, 1.0], space.link_bits()));
        w
    };
    vec![wheel(|c| c.0), wheel(|c| c.1)]
}

/// FALSR's initial population: each individual one random cell repeated in all seven
/// positions, its links random, dense or none in turn (FALSR only).
pub fn falsr_initial(space: SrSpaceId, n: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64::new(seed ^ 0xFA15);
    (0..n)
        .map(|i| {
            let c = rng.below(192) as usize;
            let mut g = vec![c; SR_CELLS];
            for _ in 0..space.link_bits() {
                g.push(match i % 3 {
                    0 => rng.below(2) as usize,
                    1 => 1,
                    _ => 0,
                });
            }
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: Vec<ObjectiveSpec>) -> Vec<&'static str> {
        v.iter().map(sr_objective_name).collect()
    }

    #[test]
    fn objectives_parse_with_clear_errors() {
        assert_eq!(
            names(parse_sr_objectives("psnr:max,madds:min,params:min").unwrap()),
            ["psnr", "madds", "params"]
        );
        let e = parse_sr_objectives("psnr:min,madds")
            .unwrap_err()
            .to_string();
        assert!(e.contains("maximised"), "{e}");
        let e = parse_sr_objectives("acc:max,madds")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'acc'"), "{e}");
        assert!(parse_sr_objectives("psnr").is_err());
        assert_eq!(
            names(parse_sr_objectives("psnr:max,lat:min").unwrap()),
            ["psnr", "lat"]
        );
    }
}
