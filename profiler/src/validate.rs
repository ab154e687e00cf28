//! How far a table's predictions hold on its device: random networks of the space
//! measured whole (against the table's reference, so the device's drift since the table
//! was measured cancels), compared with the table's sums of units; corrections fitted on
//! every other network and judged on the rest, and stored only when they earn it
//! ([`lookup_tables::lut::fidelity::check_correction`]).

use std::path::Path;

use device_runner::onnx::builder::{RandomWeights, network_model, sr_model};
use device_runner::onnx::proto::ModelProto;
use indicatif::ProgressBar;
use lookup_tables::lut::fidelity::{self, Gain, Metrics, Model};
use lookup_tables::lut::{Correction, Prediction, Repeatability};
use lookup_tables::sr::{SR_CELLS, fe_unit};
use lookup_tables::{Lut, Outcome, Space, SrArch, SrSpaceId};
use serde::Serialize;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::networks::{NetworkModel, ReferenceNow, measure_networks};
use crate::profile::{ProfileOptions, Target, staging};

/// The share targets a report judges: this project's (≥ 95 % within ±5 %) and
/// nn-Meter's (≥ 99 % within ±10 %).
pub const TARGETS: [(f64, f64); 2] = [(0.05, 0.95), (0.10, 0.99)];

/// Which correction to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wanted {
    /// Of those that pass the checks, the lowest leave-one-out RMSPE on the fitted
    /// half; the plain sum (nothing stored) when none does.
    Auto,
    /// This one, or an error saying why it may not be stored.
    Model(Model),
}

/// What to validate.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Random architectures to measure.
    pub samples: usize,
    /// Seed of the sample and of the models' weights.
    pub seed: u64,
    /// Which correction to keep.
    pub wanted: Wanted,
    /// Write the kept correction into the table.
    pub store: bool,
    /// Runner invocations each network is measured in (its figure: their median).
    pub invocations: usize,
}

/// One way of predicting, scored on the held-out half.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    /// For people.
    pub name: String,
    /// `sum`, `offset`, `affine`, or `stored` (the table's correction before this run).
    pub model: String,
    /// Its factor on Σ units.
    pub scale: f64,
    /// Its overhead, ms.
    pub overhead_ms: f64,
    /// Leave-one-out RMSPE (%) on the fitted half: what `auto` chooses by.
    pub fit_loo_rmspe_pct: Option<f64>,
    /// Its gain over the plain sum on the held-out half, when it passed the checks.
    pub gain: Option<Gain>,
    /// Why it may not be stored (empty: it may).
    pub refused: Vec<String>,
    /// Whether it is the one kept.
    pub chosen: bool,
    /// Its agreement on the held-out half.
    pub holdout: Metrics,
}

/// One measured network.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// The architecture, encoded.
    pub arch: String,
    /// `fit` or `holdout`.
    pub half: &'static str,
    /// The table's plain sum of units, ms.
    pub units_ms: f64,
    /// Measured, in the table's time unit, ms.
    pub measured_ms: Option<f64>,
    /// Measured now, ms.
    pub now_ms: Option<f64>,
    /// With the kept correction, ms.
    pub corrected_ms: Option<f64>,
    /// Why it was not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A share target and what the held-out sample says about it.
#[derive(Clone, Debug, Serialize)]
pub struct TargetVerdict {
    /// ± this fraction.
    pub within: f64,
    /// The share wanted.
    pub target: f64,
    /// What the kept prediction's interval says.
    pub verdict: fidelity::Verdict,
}

/// The whole validation.
#[derive(Clone, Debug, Serialize)]
pub struct Validation {
    /// The table.
    pub lut: String,
    /// The device.
    pub device: String,
    /// The backend and its version.
    pub backend: String,
    /// `block`, `op` or `mixed`.
    pub level: &'static str,
    /// How the table was measured (`isolated`, `context`).
    pub method: String,
    /// Networks asked for.
    pub samples: usize,
    /// Their seed.
    pub seed: u64,
    /// Networks measured.
    pub measured: usize,
    /// Networks that failed.
    pub failed: usize,
    /// The reference now against the table (the drift since it was measured).
    pub reference: Option<ReferenceNow>,
    /// The networks' two interleaved passes compared.
    pub repeatability: Option<Repeatability>,
    /// Networks the corrections were fitted on.
    pub fit_n: usize,
    /// Networks held out.
    pub holdout_n: usize,
    /// Every variant on the held-out half; the plain sum first after a stored one.
    pub variants: Vec<Variant>,
    /// The correction predictions use from now on (`None`: the plain sum).
    pub kept: Option<Correction>,
    /// Why that one.
    pub decision: String,
    /// Whether the table was written (a changed correction, without `--no-store`).
    pub stored: bool,
    /// The targets, judged on the held-out half with the kept prediction.
    pub verdicts: Vec<TargetVerdict>,
    /// Seconds the measuring took.
    pub seconds: f64,
}

/// The lightest and heaviest architecture's Σ units in the table (exact: sums per layer).
pub fn units_range(lut: &Lut, space: &Space) -> Result<(f64, f64)> {
    let t = lut.layer_table(space)?;
    let fold = |pick: fn(f64, f64) -> f64, start: f64| {
        t.fixed_units_ms
            + t.units_ms
                .iter()
                .map(|l| l.iter().copied().fold(start, pick))
                .sum::<f64>()
    };
    Ok((
        fold(f64::min, f64::INFINITY),
        fold(f64::max, f64::NEG_INFINITY),
    ))
}

/// Bounds on the Σ units of a super-resolution space's networks that `lut` can
/// predict: per part, the lightest and heaviest unit the table holds for any input
/// width the part can have. An error when a part has none.
pub fn sr_units_range(lut: &Lut, space: SrSpaceId, side: u32) -> Result<(f64, f64)> {
    let mut slots = vec![vec![fe_unit(side)]];
    slots.extend((0..=SR_CELLS).map(|slot| space.slot_units(slot, side)));
    let (mut lo, mut hi) = (0.0, 0.0);
    for (i, keys) in slots.iter().enumerate() {
        let ms: Vec<f64> = keys
            .iter()
            .filter_map(|k| lut.unit_ms(k).map(|(v, _)| v))
            .collect();
        if ms.is_empty() {
            return Err(Error::Missing {
                what: "units".into(),
                message: format!(
                    "the table has no unit for part {i} of {space} at {side}x{side} (e.g. {})",
                    keys[0]
                ),
            });
        }
        lo += ms.iter().copied().fold(f64::INFINITY, f64::min);
        hi += ms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }
    Ok((lo, hi))
}

/// Measures `opts.samples` random networks of `target` on `device` and judges `lut`
/// (read from `path`) against them; writes the kept correction into the table when
/// asked. Also returns every network's figures.
pub fn validate(
    device: Device,
    measuring: &ProfileOptions,
    lut: &mut Lut,
    path: &Path,
    target: &Target,
    opts: &ValidateOptions,
    bar: &ProgressBar,
) -> Result<(Validation, Vec<Point>)> {
    // Two per half at least; a correction is stored only from far more (the checks).
    let min = 4;
    if opts.samples < min {
        return Err(Error::Missing {
            what: "--samples".into(),
            message: format!("at least {min} networks are needed (half fit, half held out)"),
        });
    }
    // Predictions first: an incomplete table is refused before anything is measured.
    type Build<'a> = Box<dyn Fn(&mut RandomWeights) -> Result<ModelProto> + 'a>;
    let mut nets: Vec<(Result<Prediction, lookup_tables::Error>, String, Build)> = Vec::new();
    match target {
        Target::Space(space) => {
            for arch in space.sample(opts.samples, opts.seed) {
                let (name, p) = (arch.encode(), lut.predict(space, &arch));
                let build: Build = Box::new(move |w| Ok(network_model(space, &arch, w)?));
                nets.push((p, name, build));
            }
        }
        &Target::Sr { space, side } => {
            for arch in SrArch::sample_n(space, opts.samples, opts.seed) {
                let (name, p) = (arch.encode(), lut.predict_in(&arch.space, &arch, side));
                let s = side as usize;
                let build: Build = Box::new(move |w| Ok(sr_model(&arch, s, s, w)?));
                nets.push((p, name, build));
            }
        }
    }
    let mut units = Vec::with_capacity(nets.len());
    let mut level = "block";
    for (p, name, _) in &nets {
        let p = p.as_ref().map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: format!("predicting {name}: {e}"),
        })?;
        level = p.level;
        units.push(p.units_ms);
    }
    let range = match target {
        Target::Space(space) => units_range(lut, space)?,
        &Target::Sr { space, side } => sr_units_range(lut, space, side)?,
    };
    let work = staging("validate")?;
    let mut models = Vec::new();
    for (i, (_, name, build)) in nets.iter().enumerate() {
        let file = work.path().join(format!("net-{i:03}.onnx"));
        let model = build(&mut RandomWeights::new(opts.seed ^ i as u64))?;
        device_runner::onnx::write_model(&file, &model)?;
        models.push(NetworkModel {
            name: name.clone(),
            file,
        });
    }
    let run = measure_networks(
        device,
        measuring,
        &models,
        lut.meta.reference.as_ref(),
        opts.invocations,
        bar,
    )?;
    // Alternate halves: each half spans the sample's whole range of sizes.
    let mut points: Vec<Point> = run
        .results
        .iter()
        .zip(&units)
        .enumerate()
        .map(|(i, (r, u))| {
            let (measured_ms, error) = match &r.outcome {
                Outcome::Ok(s) => (Some(s.median_ms), None),
                Outcome::Failed { error } => (None, Some(error.clone())),
            };
            Point {
                arch: r.name.clone(),
                half: if i % 2 == 0 { "fit" } else { "holdout" },
                units_ms: *u,
                measured_ms,
                now_ms: r.now.map(|s| s.median_ms),
                corrected_ms: None,
                error,
            }
        })
        .collect();
    let pick = |half: &str| -> (Vec<f64>, Vec<f64>) {
        points
            .iter()
            .filter(|p| p.half == half)
            .filter_map(|p| Some((p.units_ms, p.measured_ms?)))
            .unzip()
    };
    let (fit_u, fit_m) = pick("fit");
    let (hold_u, hold_m) = pick("holdout");
    if fit_u.len() < 2 || hold_u.len() < 2 {
        return Err(Error::Missing {
            what: "measurements".into(),
            message: format!(
                "too few networks were measured ({} of {}) to fit and check a correction; see the errors above",
                fit_u.len() + hold_u.len(),
                points.len()
            ),
        });
    }
    let score = |c: &Correction| {
        fidelity::metrics(
            &hold_u.iter().map(|&u| c.apply(u)).collect::<Vec<_>>(),
            &hold_m,
        )
    };
    let mut variants = Vec::new();
    if let Some(c) = &lut.meta.correction {
        variants.push(Variant {
            name: format!("the table's stored {} correction", c.model),
            model: "stored".into(),
            scale: c.scale,
            overhead_ms: c.overhead_ms,
            fit_loo_rmspe_pct: None,
            gain: None,
            refused: Vec::new(),
            chosen: false,
            holdout: score(c),
        });
    }
    let (_, loo) = fidelity::select(&fit_u, &fit_m);
    let mut candidates = Vec::new();
    for (model, loo) in loo {
        let Some(mut c) = fidelity::fit(model, &fit_u, &fit_m) else {
            continue;
        };
        let holdout = score(&c);
        c.holdout_rmspe = Some(holdout.rmspe_pct);
        c.holdout_n = holdout.n as u32;
        let check = fidelity::check_correction(&c, range, &hold_u, &hold_m);
        variants.push(Variant {
            name: match model {
                Model::Sum => "sum of units".into(),
                m => format!("sum + fitted {}", m.name()),
            },
            model: model.name().into(),
            scale: c.scale,
            overhead_ms: c.overhead_ms,
            fit_loo_rmspe_pct: loo,
            gain: check.as_ref().ok().copied(),
            refused: check.err().unwrap_or_default(),
            chosen: false,
            holdout,
        });
        candidates.push((model, c, variants.len() - 1));
    }
    let chosen = match opts.wanted {
        Wanted::Auto => candidates
            .iter()
            .filter(|(_, _, v)| variants[*v].refused.is_empty())
            .min_by(|a, b| {
                let loo = |i: usize| variants[i].fit_loo_rmspe_pct.unwrap_or(f64::INFINITY);
                loo(a.2).total_cmp(&loo(b.2))
            }),
        Wanted::Model(m) => {
            let found = candidates.iter().find(|(model, ..)| *model == m);
            if let Some((_, _, v)) = found
                && !variants[*v].refused.is_empty()
            {
                return Err(Error::Table {
                    path: path.to_path_buf(),
                    message: format!(
                        "the {} correction may not be stored: {}",
                        m.name(),
                        variants[*v].refused.join("; ")
                    ),
                });
            }
            found
        }
    };
    let (kept_model, fitted) = match chosen {
        Some((model, c, v)) => (*model, (*v, c.clone())),
        None => {
            return Err(Error::Table {
                path: path.to_path_buf(),
                message: "no correction could be fitted (all sums equal?)".into(),
            });
        }
    };
    // What the table keeps: a newly fitted correction that earned it; else, under
    // `auto`, the table's own correction unless the plain sum beats it beyond chance
    // (a small sample that cannot judge a new correction does not undo an old one).
    let stored_before = lut.meta.correction.clone();
    let sum_pred: Vec<f64> = hold_u.clone();
    let (kept, decision, chosen_variant) = match (kept_model, &stored_before, opts.wanted) {
        (Model::Sum, Some(old), Wanted::Auto) => {
            let old_pred: Vec<f64> = hold_u.iter().map(|&u| old.apply(u)).collect();
            let g = fidelity::gain(&old_pred, &sum_pred, &hold_m);
            if g.gain_ci_pct.0 > 0.0 {
                (
                    None,
                    format!(
                        "removed the table's {} correction: the plain sum beats it beyond chance (RMSPE {:.2} % against {:.2} %)",
                        old.model, g.corrected_rmspe_pct, g.sum_rmspe_pct
                    ),
                    fitted.0,
                )
            } else {
                (
                    Some(old.clone()),
                    format!(
                        "kept the table's {} correction: no newly fitted one beats the plain sum beyond chance, nor does the plain sum beat it",
                        old.model
                    ),
                    0,
                )
            }
        }
        (Model::Sum, _, _) => (
            None,
            "the plain sum of units: no correction earns its place".to_string(),
            fitted.0,
        ),
        (m, _, _) => (
            Some(fitted.1.clone()),
            format!("a newly fitted {} correction", m.name()),
            fitted.0,
        ),
    };
    variants[chosen_variant].chosen = true;
    for p in &mut points {
        p.corrected_ms = Some(kept.as_ref().map_or(p.units_ms, |c| c.apply(p.units_ms)));
    }
    let changed = kept != stored_before;
    if opts.store && changed {
        lut.meta.correction = kept.clone();
        lut.write(path)?;
    }
    let kept_metrics = variants
        .iter()
        .find(|v| v.chosen)
        .map(|v| v.holdout)
        .expect("one variant is chosen");
    let verdicts = TARGETS
        .iter()
        .map(|&(within, target)| TargetVerdict {
            within,
            target,
            verdict: fidelity::verdict(
                if within <= 0.05 {
                    kept_metrics.within_5pct_ci
                } else {
                    kept_metrics.within_10pct_ci
                },
                target,
            ),
        })
        .collect();
    let passes: Vec<(f64, f64)> = run.results.iter().filter_map(|r| r.passes).collect();
    let failed = points.iter().filter(|p| p.measured_ms.is_none()).count();
    Ok((
        Validation {
            lut: path.display().to_string(),
            device: format!("{} ({})", run.device_id, run.device.model),
            backend: format!("{} {}", run.backend.name, run.backend.version),
            level,
            method: lut.meta.protocol.method.clone(),
            samples: opts.samples,
            seed: opts.seed,
            measured: points.len() - failed,
            failed,
            reference: run.reference,
            repeatability: Repeatability::of(&passes),
            fit_n: fit_u.len(),
            holdout_n: hold_u.len(),
            variants,
            kept,
            decision,
            stored: opts.store && changed,
            verdicts,
            seconds: run.seconds,
        },
        points,
    ))
}
