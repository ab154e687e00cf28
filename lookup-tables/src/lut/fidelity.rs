//! How far a table's predictions can be trusted: predicted against measured latency of
//! whole networks, in nn-Meter's terms (Zhang et al., MobiSys 2021: the share within
//! ±10 %, RMSPE), plus RMSE, the mean signed error and Kendall's τ (does the table
//! rank networks as the device does — what a search needs).
//!
//! A table sums units measured in isolation; a whole network differs by fixed costs
//! (session start-up, the first upload, layout conversions at unit borders that a whole
//! graph avoids, residual adds fused into convolutions). Two corrections are fitted on
//! whole-network runs, both minimising the squared *relative* error (weights 1/m², so
//! the fit optimises the RMSPE that is reported):
//!
//! - `offset`: measured ≈ Σ units + c;
//! - `affine`: measured ≈ a × Σ units + c (a per-backend factor for costs that grow
//!   with the network, e.g. a per-kernel dispatch overhead).
//!
//! A correction changes every later prediction, so it has to earn its place
//! ([`check_correction`]): fitted on at least [`MIN_FIT_NETWORKS`] networks, judged on
//! at least [`MIN_HOLDOUT_NETWORKS`] others it never saw, physically sensible over the
//! whole space (a scale within [`SCALE_RANGE`], predictions positive and within a
//! factor of two of the plain sum everywhere), and better than the plain sum on the
//! held-out networks by more than the sampling uncertainty of that comparison (the
//! lower end of a bootstrap 95 % interval of the RMSPE gain above zero).

use serde::Serialize;

use super::Correction;

/// Fewest networks a correction may be fitted on.
pub const MIN_FIT_NETWORKS: usize = 10;
/// Fewest held-out networks a correction must be judged on before it is stored.
pub const MIN_HOLDOUT_NETWORKS: usize = 10;
/// The factor a correction may apply to the sum of units: a table off by more needs
/// profiling again, not a correction.
pub const SCALE_RANGE: (f64, f64) = (0.5, 2.0);

/// Agreement of predictions with measurements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Networks compared.
    pub n: usize,
    /// Share (0–1) with |predicted − measured| ≤ 10 % of measured.
    pub within_10pct: f64,
    /// Wilson 95 % interval of that share.
    pub within_10pct_ci: (f64, f64),
    /// Share (0–1) within ±5 %.
    pub within_5pct: f64,
    /// Wilson 95 % interval of that share.
    pub within_5pct_ci: (f64, f64),
    /// Root mean square percentage error, %.
    pub rmspe_pct: f64,
    /// Root mean square error, ms.
    pub rmse_ms: f64,
    /// Mean of predicted − measured, ms (positive: the table over-predicts).
    pub mean_signed_error_ms: f64,
    /// Mean of (predicted − measured) / measured, %.
    pub mean_signed_error_pct: f64,
    /// Kendall's τ-b between predicted and measured (1: same order).
    pub kendall_tau: f64,
}

/// nn-Meter's metrics and the rest for `predicted[i]` against `measured[i]`.
pub fn metrics(predicted: &[f64], measured: &[f64]) -> Metrics {
    let n = predicted.len().min(measured.len());
    let pairs: Vec<(f64, f64)> = predicted
        .iter()
        .zip(measured)
        .map(|(&p, &m)| (p, m))
        .collect();
    let nf = n.max(1) as f64;
    let rel = |(p, m): &(f64, f64)| (p - m) / m;
    let hits = |limit: f64| pairs.iter().filter(|x| rel(x).abs() <= limit).count();
    Metrics {
        n,
        within_10pct: hits(0.10) as f64 / nf,
        within_10pct_ci: wilson(hits(0.10), n),
        within_5pct: hits(0.05) as f64 / nf,
        within_5pct_ci: wilson(hits(0.05), n),
        rmspe_pct: 100.0 * (pairs.iter().map(|x| rel(x).powi(2)).sum::<f64>() / nf).sqrt(),
        rmse_ms: (pairs.iter().map(|(p, m)| (p - m).powi(2)).sum::<f64>() / nf).sqrt(),
        mean_signed_error_ms: pairs.iter().map(|(p, m)| p - m).sum::<f64>() / nf,
        mean_signed_error_pct: 100.0 * pairs.iter().map(rel).sum::<f64>() / nf,
        kendall_tau: kendall_tau(predicted, measured),
    }
}

/// The Wilson score 95 % interval of a share of `hits` in `n` (0–1 both ends; (0, 1)
/// when `n` is 0): unlike the plain ± 1.96 σ it stays inside [0, 1] and is honest at
/// 0 % and 100 %.
pub fn wilson(hits: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n, p) = (1.96f64, n as f64, hits as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// What a sample of networks says about a share target (e.g. ≥ 95 % within ±5 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The whole interval is at or above the target.
    Meets,
    /// The whole interval is below it.
    Misses,
    /// The interval straddles it: the sample is too small to decide.
    Undecided,
}

/// The verdict of a share's interval on `target`.
pub fn verdict(ci: (f64, f64), target: f64) -> Verdict {
    if ci.0 >= target {
        Verdict::Meets
    } else if ci.1 < target {
        Verdict::Misses
    } else {
        Verdict::Undecided
    }
}

/// Kendall's τ-b (ties in either ranking counted as in the τ-b definition); 0 when
/// fewer than two pairs or a ranking is all ties.
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let da = a[i].total_cmp(&a[j]) as i64;
            let db = b[i].total_cmp(&b[j]) as i64;
            match (da, db) {
                (0, 0) => {}
                (0, _) => ties_a += 1,
                (_, 0) => ties_b += 1,
                _ if da == db => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n0 = (concordant + discordant) as f64;
    let denom = ((n0 + ties_a as f64) * (n0 + ties_b as f64)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (concordant - discordant) as f64 / denom
    }
}

/// Which correction to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Σ units as it is (scale 1, overhead 0).
    Sum,
    /// Σ units + c.
    Offset,
    /// a × Σ units + c.
    Affine,
}

impl Model {
    /// Every model, simplest first.
    pub const ALL: [Model; 3] = [Model::Sum, Model::Offset, Model::Affine];

    /// `sum`, `offset` or `affine`.
    pub fn name(self) -> &'static str {
        match self {
            Model::Sum => "sum",
            Model::Offset => "offset",
            Model::Affine => "affine",
        }
    }
}

/// Leave-one-out RMSPE (%) of `model` on these networks: each network predicted by the
/// model fitted on the others. `None` when it cannot be fitted that way.
pub fn loo_rmspe(model: Model, units_ms: &[f64], measured_ms: &[f64]) -> Option<f64> {
    let n = units_ms.len().min(measured_ms.len());
    if n < 2 {
        return None;
    }
    let mut sq = 0.0;
    for i in 0..n {
        let (mut u, mut m) = (units_ms[..n].to_vec(), measured_ms[..n].to_vec());
        u.remove(i);
        m.remove(i);
        let c = fit(model, &u, &m)?;
        sq += ((c.apply(units_ms[i]) - measured_ms[i]) / measured_ms[i]).powi(2);
    }
    Some(100.0 * (sq / n as f64).sqrt())
}

/// The model with the lowest leave-one-out RMSPE on these networks, the simpler one on
/// a tie within 0.1 percentage points (a correction must earn its parameters), with
/// every model's figure.
pub fn select(units_ms: &[f64], measured_ms: &[f64]) -> (Model, Vec<(Model, Option<f64>)>) {
    let scores: Vec<(Model, Option<f64>)> = Model::ALL
        .iter()
        .map(|&m| (m, loo_rmspe(m, units_ms, measured_ms)))
        .collect();
    let mut best = (Model::Sum, f64::INFINITY);
    for &(m, s) in &scores {
        if let Some(s) = s
            && s < best.1 - 0.1
        {
            best = (m, s);
        }
    }
    (best.0, scores)
}

/// Fits `model` to whole-network measurements: `units_ms[i]` is network i's sum of unit
/// medians, `measured_ms[i]` its measured latency. Minimises Σ ((pred − m) / m)².
/// `None` with fewer networks than parameters or degenerate data (all sums equal).
pub fn fit(model: Model, units_ms: &[f64], measured_ms: &[f64]) -> Option<Correction> {
    let n = units_ms.len().min(measured_ms.len());
    let w: Vec<f64> = measured_ms[..n].iter().map(|m| 1.0 / (m * m)).collect();
    let (u, m) = (&units_ms[..n], &measured_ms[..n]);
    let sw: f64 = w.iter().sum();
    let (scale, overhead_ms) = match model {
        Model::Sum => (1.0, 0.0),
        Model::Offset => {
            if n < 1 || sw.is_nan() || sw <= 0.0 {
                return None;
            }
            let c = (0..n).map(|i| w[i] * (m[i] - u[i])).sum::<f64>() / sw;
            (1.0, c)
        }
        Model::Affine => {
            if n < 2 {
                return None;
            }
            // Weighted least squares for m ≈ a u + c.
            let su: f64 = (0..n).map(|i| w[i] * u[i]).sum();
            let sm: f64 = (0..n).map(|i| w[i] * m[i]).sum();
            let suu: f64 = (0..n).map(|i| w[i] * u[i] * u[i]).sum();
            let sum: f64 = (0..n).map(|i| w[i] * u[i] * m[i]).sum();
            let det = sw * suu - su * su;
            if det.is_nan() || det.abs() <= 1e-12 * sw * suu {
                return None;
            }
            let a = (sw * sum - su * sm) / det;
            let c = (sm - a * su) / sw;
            (a, c)
        }
    };
    if !scale.is_finite() || !overhead_ms.is_finite() {
        return None;
    }
    Some(Correction {
        model: model.name().into(),
        scale,
        overhead_ms,
        fitted_on: n as u32,
        fitted_at: super::utc_rfc3339(super::unix_now()),
        ..Correction::default()
    })
}

/// How a fitted correction fared against the plain sum on held-out networks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Gain {
    /// RMSPE of the plain sum on the held-out networks, %.
    pub sum_rmspe_pct: f64,
    /// RMSPE of the corrected prediction there, %.
    pub corrected_rmspe_pct: f64,
    /// Bootstrap 95 % interval of the difference (sum − corrected), percentage points.
    pub gain_ci_pct: (f64, f64),
}

/// Paired bootstrap of the RMSPE gain of `corrected` over `sum` against `measured`
/// (2,000 resamples, fixed seed: the same data give the same interval).
pub fn gain(sum: &[f64], corrected: &[f64], measured: &[f64]) -> Gain {
    let n = sum.len().min(corrected.len()).min(measured.len());
    let sq = |p: &[f64], i: usize| ((p[i] - measured[i]) / measured[i]).powi(2);
    let rmspe = |p: &[f64], idx: &mut dyn Iterator<Item = usize>| {
        let (mut total, mut k) = (0.0, 0usize);
        for i in idx {
            total += sq(p, i);
            k += 1;
        }
        100.0 * (total / k.max(1) as f64).sqrt()
    };
    let sum_rmspe_pct = rmspe(sum, &mut (0..n));
    let corrected_rmspe_pct = rmspe(corrected, &mut (0..n));
    let mut rng = crate::rng::SplitMix64::new(0x6a1e);
    let mut diffs: Vec<f64> = (0..2000)
        .map(|_| {
            let idx: Vec<usize> = (0..n)
                .map(|_| rng.below(n.max(1) as u64) as usize)
                .collect();
            rmspe(sum, &mut idx.iter().copied()) - rmspe(corrected, &mut idx.iter().copied())
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let q = |p: f64| diffs[((diffs.len() - 1) as f64 * p).round() as usize];
    Gain {
        sum_rmspe_pct,
        corrected_rmspe_pct,
        gain_ci_pct: if n == 0 {
            (0.0, 0.0)
        } else {
            (q(0.025), q(0.975))
        },
    }
}

/// Why `c` may not be stored, or `Ok` with its gain when it may: fitted on enough
/// networks, physically sensible over the space's range of unit sums `units_range_ms`
/// (the lightest and heaviest architecture's Σ units), and better than the plain sum
/// on the held-out networks by more than the sampling uncertainty. The plain sum itself
/// (`sum`) always passes: it is what a table predicts without a correction.
pub fn check_correction(
    c: &Correction,
    units_range_ms: (f64, f64),
    holdout_units: &[f64],
    holdout_measured: &[f64],
) -> std::result::Result<Gain, Vec<String>> {
    let corrected: Vec<f64> = holdout_units.iter().map(|&u| c.apply(u)).collect();
    let g = gain(holdout_units, &corrected, holdout_measured);
    if c.model == Model::Sum.name() {
        return Ok(g);
    }
    let mut why = Vec::new();
    if (c.fitted_on as usize) < MIN_FIT_NETWORKS {
        why.push(format!(
            "fitted on {} networks; at least {MIN_FIT_NETWORKS} are needed",
            c.fitted_on
        ));
    }
    if holdout_units.len() < MIN_HOLDOUT_NETWORKS {
        why.push(format!(
            "{} held-out networks; at least {MIN_HOLDOUT_NETWORKS} are needed to judge it",
            holdout_units.len()
        ));
    }
    let (lo, hi) = SCALE_RANGE;
    if !(lo..=hi).contains(&c.scale) {
        why.push(format!(
            "its scale {:.4} is outside [{lo}, {hi}] (a table off by that much needs profiling again)",
            c.scale
        ));
    }
    for u in [units_range_ms.0, units_range_ms.1] {
        let p = c.apply(u);
        if p.is_nan() || p <= 0.0 || !(0.5..=2.0).contains(&(p / u)) {
            why.push(format!(
                "it predicts {p:.4} ms for an architecture whose units sum to {u:.4} ms (the space's range is {:.4}–{:.4} ms): more than a factor of two away",
                units_range_ms.0, units_range_ms.1
            ));
            break;
        }
    }
    if g.gain_ci_pct.0 <= 0.0 {
        why.push(format!(
            "on the {} held-out networks it does not beat the plain sum by more than chance: RMSPE {:.2} % against {:.2} %, gain 95 % interval [{:+.2}, {:+.2}] points",
            holdout_units.len(),
            g.corrected_rmspe_pct,
            g.sum_rmspe_pct,
            g.gain_ci_pct.0,
            g.gain_ci_pct.1
        ));
    }
    if why.is_empty() { Ok(g) } else { Err(why) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_sample() {
        let measured = [10.0, 20.0, 40.0, 80.0];
        let predicted = [11.0, 19.0, 40.0, 92.0];
        let m = metrics(&predicted, &measured);
        assert_eq!(m.n, 4);
        assert_eq!(m.within_10pct, 0.75); // +10 %, −5 %, 0 %; +15 % is out.
        assert_eq!(m.within_5pct, 0.5);
        let rmspe = (0.1f64.powi(2) + 0.05f64.powi(2) + 0.15f64.powi(2)) / 4.0;
        assert!((m.rmspe_pct - 100.0 * rmspe.sqrt()).abs() < 1e-9);
        assert!((m.mean_signed_error_ms - 3.0).abs() < 1e-12);
        assert!((m.rmse_ms - ((1.0 + 1.0 + 144.0) / 4.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(m.kendall_tau, 1.0);
    }

    #[test]
    fn kendall_tau_counts_swaps_and_ties() {
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // One swap of three pairs: (2 − 1) / 3.
        assert!((kendall_tau(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
        // scipy.stats.kendalltau([1,2,2,3],[1,2,3,3]) = 0.8.
        assert!((kendall_tau(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 3.0]) - 0.8).abs() < 1e-12);
        assert_eq!(kendall_tau(&[1.0], &[2.0]), 0.0);
    }

    #[test]
    fn fits_recover_the_generating_correction() {
        let units = [5.0, 7.0, 11.0, 13.0, 20.0];
        let off: Vec<f64> = units.iter().map(|u| u - 1.5).collect();
        let c = fit(Model::Offset, &units, &off).unwrap();
        assert_eq!(c.scale, 1.0);
        assert!((c.overhead_ms + 1.5).abs() < 1e-9);
        let aff: Vec<f64> = units.iter().map(|u| 0.8 * u + 0.7).collect();
        let c = fit(Model::Affine, &units, &aff).unwrap();
        assert!((c.scale - 0.8).abs() < 1e-9 && (c.overhead_ms - 0.7).abs() < 1e-9);
        assert!((c.apply(10.0) - 8.7).abs() < 1e-9);
        assert!(fit(Model::Affine, &[5.0, 5.0], &[4.0, 6.0]).is_none());
        assert!(fit(Model::Offset, &[], &[]).is_none());
    }

    #[test]
    fn selection_prefers_what_predicts_held_out_networks() {
        let units = [5.0, 7.0, 11.0, 13.0, 20.0, 8.0];
        // A constant overhead: the offset wins, the affine fits it too but no better.
        let off: Vec<f64> = units.iter().map(|u| u + 2.0).collect();
        assert_eq!(select(&units, &off).0, Model::Offset);
        // Already right up to noise: the plain sum stays.
        let noisy: Vec<f64> = units
            .iter()
            .enumerate()
            .map(|(i, u)| u * if i % 2 == 0 { 1.01 } else { 0.99 })
            .collect();
        assert_eq!(select(&units, &noisy).0, Model::Sum);
        // A factor: the affine.
        let scaled: Vec<f64> = units.iter().map(|u| 1.3 * u - 0.5).collect();
        let (m, scores) = select(&units, &scaled);
        assert_eq!(m, Model::Affine);
        assert!(scores[2].1.unwrap() < 1e-9);
    }

    fn spread(n: usize) -> Vec<f64> {
        (0..n).map(|i| 10.0 + 5.0 * i as f64 / n as f64).collect()
    }

    fn noise(i: usize) -> f64 {
        // Deterministic ±3 % jitter.
        let mut r = crate::rng::SplitMix64::new(i as u64 + 11);
        1.0 + 0.06 * (r.next_f64() - 0.5)
    }

    #[test]
    fn wilson_intervals_match_known_values() {
        // 19 of 20: the Wilson interval is [0.7639, 0.9911] (textbook value).
        let (lo, hi) = wilson(19, 20);
        assert!(
            (lo - 0.7639).abs() < 1e-3 && (hi - 0.9911).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(20, 20);
        assert!(lo > 0.83 && hi == 1.0);
        assert_eq!(verdict(wilson(20, 20), 0.95), Verdict::Undecided);
        assert_eq!(verdict(wilson(400, 400), 0.95), Verdict::Meets);
        assert_eq!(verdict(wilson(10, 20), 0.95), Verdict::Misses);
    }

    #[test]
    fn noise_alone_earns_no_correction() {
        let u = spread(40);
        let m: Vec<f64> = u.iter().enumerate().map(|(i, v)| v * noise(i)).collect();
        let (fu, fm): (Vec<f64>, Vec<f64>) = (
            u.iter().step_by(2).copied().collect(),
            m.iter().step_by(2).copied().collect(),
        );
        let (hu, hm): (Vec<f64>, Vec<f64>) = (
            u.iter().skip(1).step_by(2).copied().collect(),
            m.iter().skip(1).step_by(2).copied().collect(),
        );
        for model in [Model::Offset, Model::Affine] {
            let c = fit(model, &fu, &fm).unwrap();
            let err = check_correction(&c, (9.0, 16.0), &hu, &hm).unwrap_err();
            assert!(
                err.iter()
                    .any(|w| w.contains("does not beat the plain sum")),
                "{model:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_negative_trend_is_refused() {
        // Bigger networks measured faster: the demo's −0.64 × Σ + 8.4 ms.
        let u = spread(24);
        let m: Vec<f64> = u
            .iter()
            .enumerate()
            .map(|(i, v)| (-0.64 * v + 16.0) * noise(i))
            .collect();
        let (fu, fm): (Vec<f64>, Vec<f64>) = (
            u.iter().step_by(2).copied().collect(),
            m.iter().step_by(2).copied().collect(),
        );
        let (hu, hm): (Vec<f64>, Vec<f64>) = (
            u.iter().skip(1).step_by(2).copied().collect(),
            m.iter().skip(1).step_by(2).copied().collect(),
        );
        let c = fit(Model::Affine, &fu, &fm).unwrap();
        assert!(c.scale < 0.0);
        let err = check_correction(&c, (9.0, 16.0), &hu, &hm).unwrap_err();
        assert!(
            err.iter().any(|w| w.contains("outside [0.5, 2]")),
            "{err:?}"
        );
    }

    #[test]
    fn one_outlier_does_not_buy_an_absurd_correction() {
        let u = spread(24);
        let mut m: Vec<f64> = u.iter().enumerate().map(|(i, v)| v * noise(i)).collect();
        m[4] *= 3.0;
        let (fu, fm): (Vec<f64>, Vec<f64>) = (
            u.iter().step_by(2).copied().collect(),
            m.iter().step_by(2).copied().collect(),
        );
        let (hu, hm): (Vec<f64>, Vec<f64>) = (
            u.iter().skip(1).step_by(2).copied().collect(),
            m.iter().skip(1).step_by(2).copied().collect(),
        );
        for model in [Model::Offset, Model::Affine] {
            let c = fit(model, &fu, &fm).unwrap();
            assert!(
                check_correction(&c, (9.0, 16.0), &hu, &hm).is_err(),
                "{model:?} {c:?}"
            );
        }
    }

    #[test]
    fn too_few_networks_are_refused_and_a_real_offset_is_kept() {
        let u = spread(30);
        let m: Vec<f64> = u
            .iter()
            .enumerate()
            .map(|(i, v)| (v + 2.0) * noise(i))
            .collect();
        let (fu, fm): (Vec<f64>, Vec<f64>) = (
            u.iter().step_by(2).copied().collect(),
            m.iter().step_by(2).copied().collect(),
        );
        let (hu, hm): (Vec<f64>, Vec<f64>) = (
            u.iter().skip(1).step_by(2).copied().collect(),
            m.iter().skip(1).step_by(2).copied().collect(),
        );
        let c = fit(Model::Offset, &fu, &fm).unwrap();
        let g = check_correction(&c, (9.0, 16.0), &hu, &hm).unwrap();
        assert!(g.gain_ci_pct.0 > 5.0, "{g:?}");
        let few = fit(Model::Offset, &fu[..6], &fm[..6]).unwrap();
        let err = check_correction(&few, (9.0, 16.0), &hu[..6], &hm[..6]).unwrap_err();
        assert!(err.iter().any(|w| w.contains("at least 10")), "{err:?}");
        // The plain sum always passes.
        assert!(
            check_correction(
                &Correction {
                    model: "sum".into(),
                    ..Correction::default()
                },
                (9.0, 16.0),
                &hu,
                &hm
            )
            .is_ok()
        );
    }
}
