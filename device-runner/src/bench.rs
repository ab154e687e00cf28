//! The measurement protocol of one model: warm-up runs discarded, then measured runs
//! until a count or a time budget, reported as median and spread of wall time (and of
//! GPU time where the backend has timestamps).

use serde::Serialize;

use crate::error::Result;

/// How long to measure (tract's `BenchLimits`, moga's protocol).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BenchLimits {
    /// Runs discarded before measuring.
    pub warmup_runs: usize,
    /// Measured runs wanted.
    pub runs: usize,
    /// Stop measuring after this many seconds even if fewer runs were made (at least
    /// one run is always measured).
    pub max_seconds: f64,
}

impl Default for BenchLimits {
    fn default() -> Self {
        BenchLimits {
            warmup_runs: 10,
            runs: 50,
            max_seconds: 10.0,
        }
    }
}

/// Order statistics of a sample, milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub std: f64,
    /// Samples.
    pub count: usize,
}

/// Linear-interpolated percentile `q` (0–1) of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Stats {
    /// Statistics of `samples` (`None` when empty).
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Some(Stats {
            median: percentile(&s, 0.5),
            p10: percentile(&s, 0.1),
            p90: percentile(&s, 0.9),
            mean,
            std: var.sqrt(),
            count: s.len(),
        })
    }
}

/// One timed run: wall milliseconds and, where measured, GPU milliseconds.
pub type Sample = (f64, Option<f64>);

/// Wall and GPU statistics of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// Wall time per run.
    pub wall: Stats,
    /// GPU time per run, when every run had it.
    pub gpu: Option<Stats>,
}

/// Runs `run` per `limits`: warm-up, then measured runs.
pub fn measure(
    limits: &BenchLimits,
    mut run: impl FnMut() -> Result<Sample>,
) -> Result<Measurement> {
    for _ in 0..limits.warmup_runs {
        run()?;
    }
    let start = std::time::Instant::now();
    let mut wall = Vec::with_capacity(limits.runs);
    let mut gpu = Vec::with_capacity(limits.runs);
    while wall.len() < limits.runs.max(1) {
        let (w, g) = run()?;
        wall.push(w);
        if let Some(g) = g {
            gpu.push(g);
        }
        if start.elapsed().as_secs_f64() >= limits.max_seconds {
            break;
        }
    }
    let wall_stats = Stats::of(&wall).expect("at least one run");
    let gpu_stats = if gpu.len() == wall.len() {
        Stats::of(&gpu)
    } else {
        None
    };
    Ok(Measurement {
        wall: wall_stats,
        gpu: gpu_stats,
    })
}

/// The JSON line `device-runner bench` prints per model.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRecord {
    /// The model file.
    pub model: String,
    /// `wgpu`, `ort` or `cpu`.
    pub backend: String,
    /// The adapter or execution provider.
    pub device: String,
    /// Measured runs.
    pub runs: usize,
    /// Wall time, milliseconds.
    pub wall_median_ms: f64,
    /// Wall time 10th percentile.
    pub wall_p10_ms: f64,
    /// Wall time 90th percentile.
    pub wall_p90_ms: f64,
    /// Wall time mean.
    pub wall_mean_ms: f64,
    /// Wall time standard deviation.
    pub wall_std_ms: f64,
    /// GPU time median, when the adapter has timestamps.
    pub gpu_median_ms: Option<f64>,
    /// GPU time 10th percentile.
    pub gpu_p10_ms: Option<f64>,
    /// GPU time 90th percentile.
    pub gpu_p90_ms: Option<f64>,
    /// GPU time mean.
    pub gpu_mean_ms: Option<f64>,
    /// GPU time standard deviation.
    pub gpu_std_ms: Option<f64>,
    /// Kernel dispatches (wgpu) or graph nodes per run.
    pub dispatches: Option<usize>,
    /// The limits used.
    pub limits: BenchLimits,
}

impl BenchRecord {
    /// The record of a measurement.
    pub fn new(
        model: String,
        backend: &str,
        device: String,
        m: &Measurement,
        dispatches: Option<usize>,
        limits: BenchLimits,
    ) -> BenchRecord {
        BenchRecord {
            model,
            backend: backend.to_string(),
            device,
            runs: m.wall.count,
            wall_median_ms: m.wall.median,
            wall_p10_ms: m.wall.p10,
            wall_p90_ms: m.wall.p90,
            wall_mean_ms: m.wall.mean,
            wall_std_ms: m.wall.std,
            gpu_median_ms: m.gpu.map(|g| g.median),
            gpu_p10_ms: m.gpu.map(|g| g.p10),
            gpu_p90_ms: m.gpu.map(|g| g.p90),
            gpu_mean_ms: m.gpu.map(|g| g.mean),
            gpu_std_ms: m.gpu.map(|g| g.std),
            dispatches,
            limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_known_sample() {
        let s = Stats::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (s.median, s.p10, s.p90, s.mean, s.count),
            (3.0, 1.4, 4.6, 3.0, 5)
        );
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn measuring_respects_counts_and_budget() {
        let mut calls = 0;
        let m = measure(
            &BenchLimits {
                warmup_runs: 3,
                runs: 7,
                max_seconds: 60.0,
            },
            || {
                calls += 1;
                Ok((1.0, Some(0.5)))
            },
        )
        .unwrap();
        assert_eq!((calls, m.wall.count, m.gpu.unwrap().median), (10, 7, 0.5));
        let m = measure(
            &BenchLimits {
                warmup_runs: 0,
                runs: 1000,
                max_seconds: 0.0,
            },
            || Ok((1.0, None)),
        )
        .unwrap();
        assert_eq!(m.wall.count, 1);
        assert!(m.gpu.is_none());
    }
}
