//! The measurement protocol: warm-up runs discarded, then measured runs until a count,
//! a time budget or a wanted precision, reported as median and spread of wall time (and
//! of GPU time where the backend has timestamps).
//!
//! Two defences against a device whose speed drifts (phones throttle; a shared virtual
//! machine's speed moves by 10–20 % within minutes):
//!
//! - **rounds**: every model of an invocation is opened first, then each round gives
//!   every model a share of its runs, in a seeded shuffled order, so drift spreads over
//!   all models instead of landing on some;
//! - **a reference**: one fixed model run beside every measured run; the ratio of the
//!   two times is nearly unchanged by drift that slows both.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long to measure (tract's `BenchLimits`, moga's protocol): warm-up runs are
/// discarded; then runs are measured until `runs`, or `max_seconds`, or, once
/// `min_runs` are in, until the median is known to `precision`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchLimits {
    /// Runs discarded before measuring.
    pub warmup_runs: usize,
    /// Measured runs at least (unless `max_seconds` runs out first).
    pub min_runs: usize,
    /// Measured runs at most (with a reference: pairs).
    pub runs: usize,
    /// Stop measuring a model after this many seconds of its runs even if fewer runs
    /// were made (at least one run is always measured).
    pub max_seconds: f64,
    /// Stop early when the 95% confidence interval of the median, relative to the
    /// median, is narrower than ± this (e.g. 0.01 for ±1%); `None` runs to `runs`.
    pub precision: Option<f64>,
    /// Interleaved rounds the runs are spread over (1: each model measured in one go).
    #[serde(default = "one")]
    pub rounds: usize,
    /// With a reference: one untimed run of the model between the reference's run and
    /// the model's timed runs, so that the model is timed warm, as a model run over and
    /// over is. Timed right after the reference, a model paid for whatever part of its
    /// working set the reference had evicted, which depends on the two networks' memory
    /// layouts: on ONNX Runtime here that moved some networks by 3–10 % against the sum
    /// of their units (table against 40 networks measured 6 times: 1.85 % RMS error
    /// cold, 1.20 % warm).
    #[serde(default)]
    pub warm_pairs: bool,
}

fn one() -> usize {
    1
}

impl Default for BenchLimits {
    fn default() -> Self {
        BenchLimits {
            warmup_runs: 10,
            min_runs: 10,
            runs: 50,
            max_seconds: 10.0,
            precision: None,
            rounds: 1,
            warm_pairs: true,
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

/// The primary clock of a run: GPU time where measured, else wall.
fn primary((wall, gpu): Sample) -> f64 {
    gpu.unwrap_or(wall)
}

/// Something that can be run and timed: a model on a backend.
pub trait Subject {
    /// One timed run.
    fn time(&mut self) -> Result<Sample>;
    /// One run timed node by node, for backends that time nodes themselves (wgpu):
    /// milliseconds per node in execution order. `None` where the backend records node
    /// times elsewhere (ONNX Runtime's profiler, read when measuring ends).
    fn time_nodes(&mut self) -> Result<Option<Vec<f64>>> {
        Ok(None)
    }
}

impl<F: FnMut() -> Result<Sample>> Subject for F {
    fn time(&mut self) -> Result<Sample> {
        self()
    }
}

/// Wall and GPU statistics of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Wall time per run.
    pub wall: Stats,
    /// GPU time per run, when every run had it.
    pub gpu: Option<Stats>,
    /// Relative half-width of the 95% CI of the median of the primary clock (GPU time
    /// where there is one, else wall), when enough runs were made.
    pub median_ci_rel: Option<f64>,
    /// Median of the primary clock per round.
    pub round_medians: Vec<f64>,
    /// The ratio to the reference, when one was run.
    pub ratio: Option<Ratio>,
    /// Per-node times of each per-node run (backends that time nodes themselves).
    pub node_runs: Vec<Vec<f64>>,
}

/// A model's times relative to the reference run beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    /// Statistics of the ratios.
    pub stats: Stats,
    /// Relative half-width of the 95% CI of the median ratio.
    pub median_ci_rel: Option<f64>,
    /// Median of the reference's runs in the pairs, milliseconds (primary clock).
    pub reference_median_ms: f64,
    /// Median ratio per round.
    pub round_medians: Vec<f64>,
}

/// What is collected for one model while measuring.
#[derive(Default)]
struct Series {
    wall: Vec<f64>,
    gpu: Vec<f64>,
    ratio: Vec<f64>,
    reference: Vec<f64>,
    round_medians: Vec<f64>,
    round_ratios: Vec<f64>,
    node_runs: Vec<Vec<f64>>,
    seconds: f64,
    done: bool,
    error: Option<Error>,
}

impl Series {
    fn primary_sorted(&self) -> Vec<f64> {
        let mut s = if !self.ratio.is_empty() {
            self.ratio.clone()
        } else if self.gpu.len() == self.wall.len() && !self.gpu.is_empty() {
            self.gpu.clone()
        } else {
            self.wall.clone()
        };
        s.sort_by(f64::total_cmp);
        s
    }

    /// Pairs with the reference, else runs.
    fn count(&self) -> usize {
        if self.reference.is_empty() {
            self.wall.len()
        } else {
            self.ratio.len()
        }
    }

    fn precise(&self, limits: &BenchLimits) -> bool {
        limits.precision.is_some_and(|p| {
            self.count() >= limits.min_runs.max(6)
                && median_ci_rel(&self.primary_sorted()).is_some_and(|ci| ci <= p)
        })
    }

    fn finish(self) -> Result<Measurement> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let wall = Stats::of(&self.wall).ok_or_else(|| Error::Model {
            model: "bench".into(),
            message: "no run was measured".into(),
        })?;
        let gpu = if self.gpu.len() == self.wall.len() {
            Stats::of(&self.gpu)
        } else {
            None
        };
        let mut prim = if gpu.is_some() {
            self.gpu.clone()
        } else {
            self.wall.clone()
        };
        prim.sort_by(f64::total_cmp);
        let ratio = Stats::of(&self.ratio).map(|stats| {
            let mut sorted = self.ratio.clone();
            sorted.sort_by(f64::total_cmp);
            Ratio {
                stats,
                median_ci_rel: median_ci_rel(&sorted),
                reference_median_ms: Stats::of(&self.reference).map_or(f64::NAN, |s| s.median),
                round_medians: self.round_ratios,
            }
        });
        Ok(Measurement {
            wall,
            gpu,
            median_ci_rel: median_ci_rel(&prim),
            round_medians: self.round_medians,
            ratio,
            node_runs: self.node_runs,
        })
    }
}

/// How many runs of a model go between two reference runs: enough that the model's
/// side of a pair takes about as long as the reference (a unit of 0.05 ms beside a
/// network of 10 ms would otherwise spend almost all the time on the reference).
fn chunk(reference_ms: f64, model_ms: f64) -> usize {
    if model_ms.is_nan() || model_ms <= 0.0 || !reference_ms.is_finite() {
        return 1;
    }
    (reference_ms / model_ms).round().clamp(1.0, 64.0) as usize
}

/// Measures every subject per `limits`: warm-up, then `limits.rounds` rounds, each
/// giving every subject its share of the runs in a seeded shuffled order; with a
/// `reference`, each measured run (or chunk of runs, for models much shorter than the
/// reference) is paired with a reference run and the ratio recorded; with `per_node`,
/// every subject then runs node by node (warm-up, then as often as it ran timed),
/// after all timed runs, so that the timed runs are taken as without it.
///
/// A subject that fails gets its error and the others go on; a failing reference is an
/// error for all (their ratios would mean nothing).
pub fn measure_all(
    limits: &BenchLimits,
    subjects: &mut [&mut dyn Subject],
    mut reference: Option<&mut dyn Subject>,
    per_node: bool,
    seed: u64,
) -> Vec<Result<Measurement>> {
    let n = subjects.len();
    let mut series: Vec<Series> = (0..n).map(|_| Series::default()).collect();
    let fail_all = |e: &Error| -> Vec<Result<Measurement>> {
        (0..n)
            .map(|_| {
                Err(Error::Model {
                    model: "reference".into(),
                    message: e.to_string(),
                })
            })
            .collect()
    };
    let mut reference_ms = f64::NAN;
    if let Some(r) = reference.as_deref_mut() {
        // Warm-up, then three runs that say how long a reference run takes.
        let mut warm = Vec::new();
        for i in 0..limits.warmup_runs + 3 {
            match r.time() {
                Ok(s) if i >= limits.warmup_runs => warm.push(primary(s)),
                Ok(_) => {}
                Err(e) => return fail_all(&e),
            }
        }
        reference_ms = Stats::of(&warm).map_or(f64::NAN, |s| s.median);
    }
    let mut chunks = vec![1usize; n];
    for (i, s) in subjects.iter_mut().enumerate() {
        let mut last = f64::NAN;
        for _ in 0..limits.warmup_runs {
            match s.time() {
                Ok(t) => last = primary(t),
                Err(e) => {
                    series[i].error = Some(e);
                    break;
                }
            }
        }
        if reference.is_some() && series[i].error.is_none() {
            if last.is_nan() {
                match s.time() {
                    Ok(t) => last = primary(t),
                    Err(e) => series[i].error = Some(e),
                }
            }
            chunks[i] = chunk(reference_ms, last);
        }
    }
    let rounds = limits.rounds.max(1);
    // One round: every run in one go, stopping as soon as the median is known. Rounds
    // with a precision: a share of the minimum per round, then more rounds until each
    // model's median is known (or its runs or time are spent). Rounds without one: the
    // runs split evenly.
    let per_round = match (rounds, limits.precision) {
        (1, _) => limits.runs.max(1),
        (_, Some(_)) => limits.min_runs.max(1).div_ceil(rounds),
        (_, None) => limits.runs.max(1).div_ceil(rounds),
    };
    let mut rng = lookup_tables::SplitMix64::new(seed ^ 0x5eed_f0d5);
    let mut order: Vec<usize> = (0..n).collect();
    let mut round = 0;
    loop {
        // Fisher–Yates with the seeded generator: the same seed, the same order.
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &i in &order {
            let st = &mut series[i];
            if st.done || st.error.is_some() {
                continue;
            }
            let subject = &mut *subjects[i];
            let (mut round, mut round_ratio) = (Vec::new(), Vec::new());
            for _ in 0..per_round {
                if st.count() >= limits.runs.max(1) {
                    st.done = true;
                    break;
                }
                let start = std::time::Instant::now();
                let r = match reference.as_deref_mut() {
                    Some(r) => match r.time() {
                        Ok(t) => Some(primary(t)),
                        Err(e) => return fail_all(&e),
                    },
                    None => None,
                };
                if r.is_some()
                    && limits.warm_pairs
                    && let Err(e) = subject.time()
                {
                    st.error = Some(e);
                    break;
                }
                let mut times = Vec::with_capacity(chunks[i]);
                for _ in 0..chunks[i] {
                    match subject.time() {
                        Ok(t) => {
                            st.wall.push(t.0);
                            if let Some(g) = t.1 {
                                st.gpu.push(g);
                            }
                            times.push(primary(t));
                        }
                        Err(e) => {
                            st.error = Some(e);
                            break;
                        }
                    }
                }
                if st.error.is_some() {
                    break;
                }
                round.extend_from_slice(&times);
                if let (Some(r), Some(m)) = (r, Stats::of(&times)) {
                    st.reference.push(r);
                    st.ratio.push(m.median / r);
                    round_ratio.push(m.median / r);
                }
                st.seconds += start.elapsed().as_secs_f64();
                if st.seconds >= limits.max_seconds {
                    st.done = true;
                    break;
                }
                if rounds == 1 && st.precise(limits) {
                    st.done = true;
                    break;
                }
            }
            if let Some(m) = Stats::of(&round) {
                st.round_medians.push(m.median);
            }
            if let Some(m) = Stats::of(&round_ratio) {
                st.round_ratios.push(m.median);
            }
        }
        round += 1;
        for st in series.iter_mut().filter(|s| !s.done && s.error.is_none()) {
            if round >= rounds && (limits.precision.is_none() || st.precise(limits)) {
                st.done = true;
            }
        }
        if series.iter().all(|s| s.done || s.error.is_some()) {
            break;
        }
    }
    if per_node {
        // Node by node only after every timed run: a profiled run beside the timed ones
        // slowed the reference runs that followed it by about 10 % here (ONNX Runtime,
        // 2-core VM) while the models' own runs barely moved, so ratios taken with
        // per-node runs interleaved were not the ratios a whole-network measurement
        // (`moga deploy`, `lut validate`) takes. As many node runs as timed ones.
        for (st, subject) in series.iter_mut().zip(subjects.iter_mut()) {
            if st.error.is_some() {
                continue;
            }
            for k in 0..limits.warmup_runs + st.count().max(1) {
                match subject.time_nodes() {
                    Ok(Some(v)) if k >= limits.warmup_runs => st.node_runs.push(v),
                    Ok(_) => {}
                    Err(e) => {
                        st.error = Some(e);
                        break;
                    }
                }
            }
        }
    }
    series.into_iter().map(Series::finish).collect()
}

/// Measures one subject per `limits` (no reference, no rounds beyond `limits.rounds`).
pub fn measure(
    limits: &BenchLimits,
    mut run: impl FnMut() -> Result<Sample>,
) -> Result<Measurement> {
    let mut subjects: [&mut dyn Subject; 1] = [&mut run];
    measure_all(limits, &mut subjects, None, false, 0)
        .pop()
        .expect("one subject, one result")
}

/// Per-node medians and shares from per-run node times (`runs[r][node]`), in node
/// order; runs that do not have every node are left out of the shares.
pub fn node_summary(runs: &[Vec<f64>]) -> Vec<(f64, Option<f64>, usize)> {
    let nodes = runs.iter().map(Vec::len).max().unwrap_or(0);
    let complete: Vec<&Vec<f64>> = runs.iter().filter(|r| r.len() == nodes).collect();
    (0..nodes)
        .map(|k| {
            let times: Vec<f64> = runs.iter().filter_map(|r| r.get(k).copied()).collect();
            let shares: Vec<f64> = complete
                .iter()
                .filter_map(|r| {
                    let total: f64 = r.iter().sum();
                    (total > 0.0).then(|| r[k] / total)
                })
                .collect();
            (
                Stats::of(&times).map_or(f64::NAN, |s| s.median),
                Stats::of(&shares).map(|s| s.median),
                times.len(),
            )
        })
        .collect()
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
            rounds: 1,
            warm_pairs: true,
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
            rounds: 1,
            warm_pairs: true,
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

    /// A model whose time is `base × speed(t)`, where the device's speed moves with
    /// every run taken on it (a shared clock of runs).
    struct Drifting<'a> {
        base: f64,
        clock: &'a std::cell::Cell<u64>,
    }

    impl Subject for Drifting<'_> {
        fn time(&mut self) -> Result<Sample> {
            let t = self.clock.get();
            self.clock.set(t + 1);
            // Slow by up to 40 % over a few hundred runs, then back.
            let speed = 1.0 + 0.4 * ((t as f64) / 150.0).sin().abs();
            Ok((self.base * speed, None))
        }
    }

    #[test]
    fn a_reference_cancels_drift_and_rounds_spread_it() {
        let clock = std::cell::Cell::new(0);
        let limits = BenchLimits {
            warmup_runs: 2,
            min_runs: 10,
            runs: 40,
            max_seconds: 60.0,
            precision: None,
            rounds: 8,
            warm_pairs: true,
        };
        let (mut a, mut b, mut r) = (
            Drifting {
                base: 2.0,
                clock: &clock,
            },
            Drifting {
                base: 3.0,
                clock: &clock,
            },
            Drifting {
                base: 10.0,
                clock: &clock,
            },
        );
        let mut subjects: [&mut dyn Subject; 2] = [&mut a, &mut b];
        let m = measure_all(&limits, &mut subjects, Some(&mut r), false, 1);
        let (ma, mb) = (m[0].as_ref().unwrap(), m[1].as_ref().unwrap());
        // Times drift by up to 40 %, their ratios to the run beside them by well under 1 %.
        let ra = ma.ratio.as_ref().unwrap();
        let rb = mb.ratio.as_ref().unwrap();
        assert!((ra.stats.median - 0.2).abs() < 0.002, "{:?}", ra.stats);
        assert!((rb.stats.median - 0.3).abs() < 0.003, "{:?}", rb.stats);
        assert_eq!((ra.stats.count, ma.round_medians.len()), (40, 8));
        // Interleaved, both saw the same drift: the plain medians keep the 2:3 ratio.
        assert!((mb.wall.median / ma.wall.median - 1.5).abs() < 0.15);
    }

    #[test]
    fn short_models_run_in_chunks_beside_a_long_reference() {
        assert_eq!(chunk(10.0, 0.5), 20);
        assert_eq!(chunk(10.0, 0.001), 64);
        assert_eq!(chunk(1.0, 5.0), 1);
        assert_eq!(chunk(f64::NAN, 1.0), 1);
        let mut calls = 0;
        let mut unit = || {
            calls += 1;
            Ok((0.5, None))
        };
        let mut reference = || Ok((10.0, None));
        let limits = BenchLimits {
            warmup_runs: 1,
            min_runs: 5,
            runs: 5,
            max_seconds: 60.0,
            precision: None,
            rounds: 1,
            warm_pairs: true,
        };
        let mut subjects: [&mut dyn Subject; 1] = [&mut unit];
        let m = measure_all(&limits, &mut subjects, Some(&mut reference), false, 0);
        let m = m[0].as_ref().unwrap();
        assert_eq!(m.ratio.as_ref().unwrap().stats.count, 5);
        assert_eq!(m.wall.count, 5 * 20);
        // The warm-up, then per pair one untimed run after the reference and 20 timed.
        assert_eq!(calls, 1 + 5 * (1 + 20));
    }

    #[test]
    fn one_failing_model_leaves_the_others_measured() {
        let mut good = || Ok((1.0, None));
        let mut bad = || -> Result<Sample> {
            Err(Error::Model {
                model: "bad".into(),
                message: "boom".into(),
            })
        };
        let limits = BenchLimits {
            rounds: 3,
            runs: 9,
            ..BenchLimits::default()
        };
        let mut subjects: [&mut dyn Subject; 2] = [&mut good, &mut bad];
        let m = measure_all(&limits, &mut subjects, None, false, 0);
        assert_eq!(m[0].as_ref().unwrap().wall.count, 9);
        assert!(m[1].as_ref().unwrap_err().to_string().contains("boom"));
    }

    #[test]
    fn warm_pairs_time_the_model_after_an_untimed_run_of_its_own() {
        use std::cell::Cell;
        // A model that is slow on its first run after the reference's (the reference
        // evicted its working set) and fast when run again.
        let cold = Cell::new(true);
        let mut reference = || {
            cold.set(true);
            Ok((4.0, None))
        };
        let mut model = || Ok((if cold.replace(false) { 3.0 } else { 1.0 }, None));
        for (warm, expected) in [(true, 1.0), (false, 3.0)] {
            let limits = BenchLimits {
                warmup_runs: 0,
                runs: 10,
                warm_pairs: warm,
                ..BenchLimits::default()
            };
            let mut subjects: [&mut dyn Subject; 1] = [&mut model];
            let m = measure_all(&limits, &mut subjects, Some(&mut reference), false, 0)
                .pop()
                .unwrap()
                .unwrap();
            assert_eq!(m.wall.median, expected, "warm pairs {warm}");
            assert_eq!(m.ratio.unwrap().stats.median, expected / 4.0);
        }
    }

    #[test]
    fn node_shares_are_medians_of_per_run_shares() {
        let runs = vec![vec![1.0, 3.0], vec![2.0, 6.0], vec![1.0, 1.0]];
        let s = node_summary(&runs);
        assert_eq!(s[0].0, 1.0);
        assert_eq!(s[0].1, Some(0.25));
        assert_eq!(s[1].1, Some(0.75));
        assert_eq!(s[1].2, 3);
    }

    #[test]
    fn rounds_with_a_precision_run_until_each_median_is_known() {
        let limits = BenchLimits {
            warmup_runs: 0,
            min_runs: 12,
            runs: 1000,
            max_seconds: 60.0,
            precision: Some(0.01),
            rounds: 4,
            warm_pairs: true,
        };
        // Steady: known after the minimum, spread over the 4 rounds.
        let mut steady = || Ok((2.0, None));
        // Noisy: needs more rounds, but stops well before the maximum.
        let mut rng = lookup_tables::SplitMix64::new(5);
        let mut noisy = || Ok((10.0 + rng.next_f64(), None));
        let mut subjects: [&mut dyn Subject; 2] = [&mut steady, &mut noisy];
        let m = measure_all(&limits, &mut subjects, None, false, 0);
        let (a, b) = (m[0].as_ref().unwrap(), m[1].as_ref().unwrap());
        assert_eq!((a.wall.count, a.round_medians.len()), (12, 4));
        assert!(b.wall.count > 12 && b.wall.count < 1000, "{}", b.wall.count);
        assert!(b.median_ci_rel.unwrap() <= 0.01);
        assert_eq!(b.round_medians.len(), b.wall.count / 3);
    }
}
