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

use serde::Serialize;

use super::Correction;

/// Agreement of predictions with measurements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Networks compared.
    pub n: usize,
    /// Share (0–1) with |predicted − measured| ≤ 10 % of measured.
    pub within_10pct: f64,
    /// Share (0–1) within ±5 %.
    pub within_5pct: f64,
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
    let share = |limit: f64| pairs.iter().filter(|x| rel(x).abs() <= limit).count() as f64 / nf;
    Metrics {
        n,
        within_10pct: share(0.10),
        within_5pct: share(0.05),
        rmspe_pct: 100.0 * (pairs.iter().map(|x| rel(x).powi(2)).sum::<f64>() / nf).sqrt(),
        rmse_ms: (pairs.iter().map(|(p, m)| (p - m).powi(2)).sum::<f64>() / nf).sqrt(),
        mean_signed_error_ms: pairs.iter().map(|(p, m)| p - m).sum::<f64>() / nf,
        mean_signed_error_pct: 100.0 * pairs.iter().map(rel).sum::<f64>() / nf,
        kendall_tau: kendall_tau(predicted, measured),
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
}
