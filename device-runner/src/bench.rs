//! The measurement protocol of one model: warm-up runs discarded, then measured runs
//! until a count or a time budget, reported as median and spread of wall time (and of
//! GPU time where the backend has timestamps).

use serde::Serialize;

use crate::error::Result;

/// How long to measure (tract's `BenchLimits`, moga's protocol): warm-up runs are
/// discarded; then runs are measured until `max_runs`, or `max_seconds`, or, once
/// `min_runs` are in, until the median is known to `precision`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BenchLimits {
    /// Runs discarded before measuring.
    pub warmup_runs: usize,
    /// Measured runs at least (unless `max_seconds` runs out first).
    pub min_runs: usize,
    /// Measured runs at most.
    pub runs: usize,
    /// Stop measuring after this many seconds even if fewer runs were made (at least
    /// one run is always measured).
    pub max_seconds: f64,
    /// Stop early when the 95% confidence interval of the median, relative to the
    /// median, is narrower than ± this (e.g. 0.01 for ±1%); `None` runs to `runs`.
    pub precision: Option<f64>,
}

impl Default for BenchLimits {
    fn default() -> Self {
        BenchLimits {
            warmup_runs: 10,
            min_runs: 10,
            runs: 50,
            max_seconds: 10.0,
            precision: None,
        }
    }
}

/// Half-width of the distribution-free 95% confidence interval of the median of sorted
/// `s` (order statistics at n/2 ± 1.96·√n/2), relative to the median; `None` below 6
/// samples, where the interval spans the whole sample.
pub fn median_ci_rel(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n < 6 {
        return None;
    }
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    let median = percentile(sorted, 0.5);
    (median > 0.0).then(|| (sorted[hi] - sorted[lo]) / 2.0 / median)
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
    /// Relative half-width of the 95% CI of the median of the primary clock (GPU time
    /// where there is one, else wall), when enough runs were made.
    pub median_ci_rel: Option<f64>,
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
    let max = limits.runs.max(1);
    let mut wall = Vec::with_capacity(max);
    let mut gpu = Vec::with_capacity(max);
    let mut sorted = Vec::with_capacity(max);
    while wall.len() < max {
        let (w, g) = run()?;
        wall.push(w);
        if let Some(g) = g {
            gpu.push(g);
        }
        if start.elapsed().as_secs_f64() >= limits.max_seconds {
            break;
        }
        if let Some(p) = limits.precision
            && wall.len() >= limits.min_runs.max(6)
        {
            sorted.clone_from(if gpu.len() == wall.len() { &gpu } else { &wall });
            sorted.sort_by(f64::total_cmp);
            if median_ci_rel(&sorted).is_some_and(|ci| ci <= p) {
                break;
            }
        }
    }
    let wall_stats = Stats::of(&wall).expect("at least one run");
    let gpu_stats = if gpu.len() == wall.len() {
        Stats::of(&gpu)
    } else {
        None
    };
    let mut primary = if gpu_stats.is_some() { gpu } else { wall };
    primary.sort_by(f64::total_cmp);
    Ok(Measurement {
        wall: wall_stats,
        gpu: gpu_stats,
        median_ci_rel: median_ci_rel(&primary),
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
    /// Relative half-width of the 95% confidence interval of the median (GPU time where
    /// measured, else wall).
    pub median_ci95_rel: Option<f64>,
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
            median_ci95_rel: m.median_ci_rel,
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
        let limits = BenchLimits {
            warmup_runs: 3,
            min_runs: 1,
            runs: 7,
            max_seconds: 60.0,
            precision: None,
        };
        let m = measure(&limits, || {
            calls += 1;
            Ok((1.0, Some(0.5)))
        })
        .unwrap();
        assert_eq!((calls, m.wall.count, m.gpu.unwrap().median), (10, 7, 0.5));
        let limits = BenchLimits {
            warmup_runs: 0,
            runs: 1000,
            max_seconds: 0.0,
            ..BenchLimits::default()
        };
        let m = measure(&limits, || Ok((1.0, None))).unwrap();
        assert_eq!(m.wall.count, 1);
        assert!(m.gpu.is_none());
    }

    #[test]
    fn adaptive_stopping_ends_when_the_median_is_known() {
        // A steady clock: the interval closes as soon as min_runs are in.
        let limits = BenchLimits {
            warmup_runs: 0,
            min_runs: 10,
            runs: 1000,
            max_seconds: 60.0,
            precision: Some(0.01),
        };
        let m = measure(&limits, || Ok((2.0, None))).unwrap();
        assert_eq!(m.wall.count, 10);
        assert_eq!(m.median_ci_rel, Some(0.0));
        // A noisy one needs more runs, but stops before the maximum.
        let mut rng = lookup_tables::SplitMix64::new(3);
        let m = measure(&limits, || Ok((10.0 + rng.next_f64(), None))).unwrap();
        assert!(m.wall.count > 10 && m.wall.count < 1000, "{}", m.wall.count);
        assert!(m.median_ci_rel.unwrap() <= 0.01);
    }

    #[test]
    fn median_interval_uses_order_statistics() {
        assert_eq!(median_ci_rel(&[1.0; 5]), None);
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        // n = 100: ranks 40 and 60 (0-based), half-width 10 around the median 50.5.
        assert!((median_ci_rel(&s).unwrap() - 10.0 / 50.5).abs() < 1e-12);
    }
}
