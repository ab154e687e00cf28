//! `moga lut validate`: how far a table's predictions hold, printed, plotted and (when
//! a correction earns it) stored. The work is the profiler's ([`profiler::validate`]).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lookup_tables::Lut;
use lookup_tables::lut::fidelity::{Model, Verdict};
use profiler::validate::{Point, ValidateOptions, Validation, Wanted, validate};
use search::plot::{FidelitySeries, plot_fidelity};

use super::deploy::{measure_options, open_device, progress};
use crate::cli::{CorrectionArg, ValidateArgs};
use crate::output::{Table, json_line};

pub fn run(a: ValidateArgs) -> Result<ExitCode> {
    let mut lut = Lut::read(&a.lut)?;
    let target = super::target(a.space, a.shape)?;
    let measuring = measure_options(&a.measure, &target, Some(&lut))?;
    let opts = ValidateOptions {
        samples: a.samples,
        seed: a.seed,
        wanted: match a.model {
            CorrectionArg::Auto => Wanted::Auto,
            CorrectionArg::Sum => Wanted::Model(Model::Sum),
            CorrectionArg::Offset => Wanted::Model(Model::Offset),
            CorrectionArg::Affine => Wanted::Model(Model::Affine),
        },
        store: !a.no_store,
        invocations: a.measure.invocations as usize,
    };
    let bar = progress(a.samples, "networks")?;
    let (report, points) = validate(
        open_device(&a.measure)?,
        &measuring,
        &mut lut,
        &a.lut,
        &target,
        &opts,
        &bar,
    )?;
    bar.finish_and_clear();
    if let Some(path) = &a.plot {
        let series = |f: &dyn Fn(&Point) -> Option<f64>, label: &str| FidelitySeries {
            label: label.to_string(),
            points: points
                .iter()
                .filter_map(|p| Some((p.measured_ms?, f(p)?)))
                .collect(),
        };
        let mut all = vec![series(&|p| Some(p.units_ms), "sum of units")];
        if let Some(c) = &report.kept {
            all.push(series(
                &|p| p.corrected_ms,
                &format!("with the {} correction", c.model),
            ));
        }
        plot_fidelity(
            &format!(
                "{} on {} ({}), {} networks",
                a.lut
                    .file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
                report.device,
                report.backend,
                report.measured
            ),
            &all,
            path,
        )?;
    }
    if let Some(path) = &a.details {
        let mut text = String::new();
        for p in &points {
            text.push_str(&serde_json::to_string(p)?);
            text.push('\n');
        }
        lookup_tables::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.out.json {
        json_line(&mut out, &report)?;
    } else {
        print(&mut out, &report, &points)?;
        if let Some(p) = &a.plot {
            writeln!(out, "plot: {}", p.display())?;
        }
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn pct(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}

fn print(out: &mut impl Write, r: &Validation, points: &[Point]) -> Result<()> {
    writeln!(
        out,
        "{}: {}-level table ({}) on {}, {}; {} random networks (seed {}) measured whole in {:.1} s, {} failed",
        r.lut, r.level, r.method, r.device, r.backend, r.samples, r.seed, r.seconds, r.failed
    )?;
    match &r.reference {
        Some(x) => writeln!(
            out,
            "reference network: {:.3} ms now, {:.3} ms when the table was measured ({:+.1} %); networks are compared as ratios to it, so that drift is not in the errors",
            x.now_ms, x.table_ms, x.drift_pct
        )?,
        None => writeln!(
            out,
            "the table has no reference network: any drift of the device since it was measured is in the errors below"
        )?,
    }
    if let Some(rep) = &r.repeatability {
        writeln!(
            out,
            "repeatability of the measured networks (two interleaved passes): median |Δ| {:.2} %, p90 {:.2} %",
            rep.median_abs_delta_pct, rep.p90_abs_delta_pct
        )?;
    }
    for p in points.iter().filter(|p| p.error.is_some()) {
        writeln!(
            out,
            "  failed: {}: {}",
            p.arch,
            p.error.as_deref().unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "fitted on {} networks (fit LOO: leave-one-out RMSPE there), reported on the other {} (95 % Wilson intervals; * = kept):",
        r.fit_n, r.holdout_n
    )?;
    let mut t = Table::new(&[
        "prediction",
        " fit LOO",
        " ±10%",
        " ±5%",
        " RMSPE",
        " mean_err",
        " tau",
    ]);
    for v in &r.variants {
        let m = &v.holdout;
        t.row(vec![
            format!("{}{}", v.name, if v.chosen { " *" } else { "" }),
            v.fit_loo_rmspe_pct
                .map_or("-".into(), |x| format!("{x:.2} %")),
            format!(
                "{} [{}, {}]",
                pct(m.within_10pct),
                pct(m.within_10pct_ci.0),
                pct(m.within_10pct_ci.1)
            ),
            format!(
                "{} [{}, {}]",
                pct(m.within_5pct),
                pct(m.within_5pct_ci.0),
                pct(m.within_5pct_ci.1)
            ),
            format!("{:.2} %", m.rmspe_pct),
            format!("{:+.2} %", m.mean_signed_error_pct),
            format!("{:.3}", m.kendall_tau),
        ]);
    }
    t.write(out)?;
    for v in r.variants.iter().filter(|v| !v.refused.is_empty()) {
        writeln!(out, "not stored, {}: {}", v.name, v.refused.join("; "))?;
    }
    for v in &r.verdicts {
        let what = format!("≥ {} within ±{}", pct(v.target), pct(v.within));
        writeln!(
            out,
            "{}",
            match v.verdict {
                Verdict::Meets => format!("target {what}: met (the whole interval is above it)"),
                Verdict::Misses =>
                    format!("target {what}: missed (the whole interval is below it)"),
                Verdict::Undecided => format!(
                    "target {what}: too few networks to decide (the interval straddles it; measure more with --samples)"
                ),
            }
        )?;
    }
    let formula = |c: &lookup_tables::lut::Correction| {
        format!(
            "predicted = {:.4} × Σ units {:+.4} ms ({})",
            c.scale, c.overhead_ms, c.model
        )
    };
    writeln!(out, "kept: {}", r.decision)?;
    match (&r.kept, r.stored) {
        (Some(c), true) => writeln!(out, "stored in {}: {}", r.lut, formula(c))?,
        (None, true) => writeln!(out, "{}: the stored correction was removed", r.lut)?,
        (_, false) => writeln!(
            out,
            "{} was not written (its correction is unchanged, or --no-store)",
            r.lut
        )?,
    }
    Ok(())
}
