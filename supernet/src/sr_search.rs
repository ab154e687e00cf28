//! Searching the `falsr` and `moremnas` spaces with the search crate's engine: the
//! genome (7 cells of 192 choices, then FALSR's 28 link bits), objectives PSNR (max),
//! multiply-adds and parameters (min) with FALSR's constraints (a minimum PSNR, a
//! maximum of multiply-adds), FALSR's initial population, and FALSR's way of scoring:
//! every candidate trained briefly from scratch ([`BriefTraining`]).
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
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{Error, Result};
use crate::sr_image::{Plane, SrImages, SrPair, SrScore};
use crate::sr_net::{SrSchedule, SrTrainConfig, mean_score, train_sr_on};

/// What a search of these spaces can minimise or maximise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrObjective {
    /// Held-out PSNR on Y, dB (maximised).
    Psnr,
    /// Multiply-adds at a 480×480 input (minimised).
    Madds,
    /// Parameters (minimised).
    Params,
    /// Latency predicted by a device's table at the table's input side (minimised).
    Lat,
}

/// Reads `psnr:max,madds:min,params:min` (each objective once, in its only sensible
/// direction).
pub fn parse_sr_objectives(s: &str) -> Result<Vec<SrObjective>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, dir) = part.split_once(':').unwrap_or((part, ""));
        let (o, want) = match name {
            "psnr" => (SrObjective::Psnr, "max"),
            "madds" => (SrObjective::Madds, "min"),
            "params" => (SrObjective::Params, "min"),
            "lat" => (SrObjective::Lat, "min"),
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
        if v.contains(&o) {
            return Err(Error::Usage(format!("--objectives: {name} twice")));
        }
        v.push(o);
    }
    if v.len() < 2 {
        return Err(Error::Usage(format!(
            "--objectives '{s}': a multi-objective search needs two or more of psnr, madds, params, lat"
        )));
    }
    Ok(v)
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

/// Constraints of a search (FALSR's).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SrConstraints {
    /// PSNR at least, dB.
    pub min_psnr: Option<f64>,
    /// Multiply-adds at most (at 480×480).
    pub max_madds: Option<u64>,
}

/// A search problem over one of the super-resolution spaces.
pub struct SrProblem {
    space: SrSpaceId,
    cells: Vec<SrCell>,
    cards: Vec<usize>,
    objectives: Vec<SrObjective>,
    constraints: SrConstraints,
    /// The oracle.
    pub oracle: SrOracle,
    /// The latency table and the input side its units were measured at.
    latency: Option<(lookup_tables::Lut, u32)>,
    /// Every architecture evaluated, in order.
    pub evaluated: Vec<SrMetrics>,
}

impl SrProblem {
    /// A problem of `space` under `objectives` and `constraints`.
    pub fn new(
        space: SrSpaceId,
        objectives: Vec<SrObjective>,
        constraints: SrConstraints,
        oracle: SrOracle,
    ) -> SrProblem {
        let mut cards = vec![192; SR_CELLS];
        cards.extend(std::iter::repeat_n(2, space.link_bits()));
        SrProblem {
            space,
            cells: SrCell::all(),
            cards,
            objectives,
            constraints,
            oracle,
            latency: None,
            evaluated: Vec::new(),
        }
    }

    /// Predicts latencies from `lut` at a `side`×`side` input (needed for `lat`). The
    /// table must hold every unit of the space at that side: an error says how many it
    /// lacks and names the first.
    pub fn with_latency(mut self, lut: lookup_tables::Lut, side: u32) -> Result<SrProblem> {
        let needed = self.space.unit_list(side);
        let missing = lut.missing(&needed);
        if let Some(first) = missing.first() {
            return Err(Error::Usage(format!(
                "the latency table lacks {} of the {} units of {} at {side}x{side} (first: {first}); complete it with `moga profile --space {} --lr-side {side} --resume`",
                missing.len(),
                needed.len(),
                self.space,
                self.space
            )));
        }
        self.latency = Some((lut, side));
        Ok(self)
    }

    /// The architecture of a genome.
    pub fn arch(&self, genes: &[usize]) -> SrArch {
        SrArch {
            space: self.space,
            cells: genes[..SR_CELLS].iter().map(|&g| self.cells[g]).collect(),
            links: genes[SR_CELLS..].iter().map(|&g| g == 1).collect(),
        }
    }

    /// The genome of an architecture of this space.
    pub fn genes(&self, arch: &SrArch) -> Option<Vec<usize>> {
        if arch.space != self.space {
            return None;
        }
        let mut g: Vec<usize> = arch
            .cells
            .iter()
            .map(|c| self.cells.iter().position(|x| x == c))
            .collect::<Option<_>>()?;
        g.extend(arch.links.iter().map(|&b| usize::from(b)));
        Some(g)
    }

    /// Scores one architecture (the oracle, exact counts, constraints).
    pub fn metrics(&mut self, arch: &SrArch) -> Result<SrMetrics> {
        let stats = arch.stats(SR_STATS_SIDE)?;
        let s = self.oracle.score(arch)?;
        let feasible = self.constraints.min_psnr.is_none_or(|m| s.psnr_db >= m)
            && self.constraints.max_madds.is_none_or(|m| stats.madds <= m);
        let lat_ms = match &self.latency {
            Some((lut, side)) => Some(lut.predict_sr(arch, *side)?.latency_ms),
            None => None,
        };
        Ok(SrMetrics {
            arch: arch.encode(),
            psnr: s.psnr_db,
            ssim: s.ssim,
            madds: stats.madds,
            params: stats.params,
            lat_ms,
            feasible,
        })
    }

    /// FALSR's roulette wheels for its hybrid mutation, one biased by multiply-adds and
    /// one by parameters: a cell choice weighs `ln(1 + cost)`, its cost counted with a
    /// 32-channel input (multiply-adds per low-resolution pixel); link bits weigh 1
    /// each. Heavier cells are drawn more often, log-scaled so the lightest stay
    /// reachable (our reading of FALSR's text; the authors' code is not public).
    pub fn roulettes(&self) -> Vec<Vec<Vec<f64>>> {
        let costs: Vec<(u64, u64)> = self
            .cells
            .iter()
            .map(|c| c.cost(lookup_tables::sr::SR_FEATURES))
            .collect();
        let wheel = |pick: fn(&(u64, u64)) -> u64| {
            let cells: Vec<f64> = costs.iter().map(|c| (1.0 + pick(c) as f64).ln()).collect();
            let mut w = vec![cells; SR_CELLS];
            w.extend(std::iter::repeat_n(vec![1.0, 1.0], self.space.link_bits()));
            w
        };
        vec![wheel(|c| c.0), wheel(|c| c.1)]
    }

    /// FALSR's initial population: each individual one random cell repeated in all seven
    /// positions, its links random, dense or none in turn (FALSR only).
    pub fn falsr_initial(&self, n: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut rng = SplitMix64::new(seed ^ 0xFA15);
        (0..n)
            .map(|i| {
                let c = rng.below(192) as usize;
                let mut g = vec![c; SR_CELLS];
                for _ in 0..self.space.link_bits() {
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
}

impl search::ga::Problem for SrProblem {
    fn cardinalities(&self) -> &[usize] {
        &self.cards
    }

    fn objectives(&self) -> usize {
        self.objectives.len()
    }

    fn evaluate(&mut self, genes: &[usize], f: &mut [f64]) -> Result<f64> {
        let arch = self.arch(genes);
        let m = self.metrics(&arch)?;
        for (slot, o) in f.iter_mut().zip(&self.objectives) {
            *slot = match o {
                SrObjective::Psnr => -m.psnr,
                SrObjective::Madds => m.madds as f64,
                SrObjective::Params => m.params as f64,
                SrObjective::Lat => m.lat_ms.ok_or_else(|| {
                    Error::Usage("--objectives lat needs a latency table (--lut)".into())
                })?,
            };
        }
        let mut violation = 0.0;
        if let Some(min) = self.constraints.min_psnr {
            violation += (min - m.psnr).max(0.0);
        }
        if let Some(max) = self.constraints.max_madds {
            violation += (m.madds as f64 - max as f64).max(0.0) / max as f64;
        }
        self.evaluated.push(m);
        Ok(violation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_with_clear_errors() {
        assert_eq!(
            parse_sr_objectives("psnr:max,madds:min,params:min").unwrap(),
            [SrObjective::Psnr, SrObjective::Madds, SrObjective::Params]
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
            parse_sr_objectives("psnr:max,lat:min").unwrap(),
            [SrObjective::Psnr, SrObjective::Lat]
        );
    }
}
