//! `moga lut check|show|merge|predict`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lookup_tables::lut::{LutSummary, MissingUnit, Prediction};
use lookup_tables::{Lut, LutMeta, LutRow, Outcome};
use serde::Serialize;

use crate::cli::LutCmd;
use crate::output::{Table, json_line};

pub fn run(cmd: LutCmd) -> Result<ExitCode> {
    if let LutCmd::Validate(a) = cmd {
        return super::validate::run(*a);
    }
    let mut out = std::io::stdout().lock();
    match cmd {
        LutCmd::Check {
            lut,
            spaces,
            shape,
            out: o,
        } => {
            let table = Lut::read(&lut)?;
            let mut coverage = Vec::new();
            for id in spaces {
                let target = super::target(id, shape)?;
                let needed = target.unit_list(false);
                let missing = table.missing(&needed);
                coverage.push(Coverage {
                    space: target.to_string(),
                    needed: needed.len(),
                    missing,
                });
            }
            let complete = coverage.iter().all(|c| c.missing.is_empty());
            let report = CheckReport {
                lut: lut.display().to_string(),
                summary: table.summary(),
                meta: &table.meta,
                complete,
                coverage,
            };
            if o.json {
                json_line(&mut out, &report)?;
            } else {
                print_check(&mut out, &report)?;
            }
            return Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        LutCmd::Show { lut, out: o } => {
            let table = Lut::read(&lut)?;
            if o.json {
                json_line(
                    &mut out,
                    &ShowJson {
                        meta: &table.meta,
                        summary: table.summary(),
                        rows: table.rows(),
                    },
                )?;
            } else {
                print_meta(&mut out, &lut, &table.meta, &table.summary())?;
                writeln!(out)?;
                print_rows(&mut out, table.rows())?;
            }
        }
        LutCmd::Merge {
            luts,
            output,
            prefer,
            out: o,
        } => {
            let mut base = Lut::read(&luts[0])?;
            let mut steps = Vec::new();
            for other_path in &luts[1..] {
                let other = Lut::read(other_path)?;
                let report = base.merge(&luts[0], &other, other_path, prefer.into())?;
                steps.push(MergeStep {
                    lut: other_path.display().to_string(),
                    added: report.added,
                    replaced: report.replaced,
                    kept: report.kept,
                });
            }
            base.write(&output)?;
            let summary = MergeJson {
                output: output.display().to_string(),
                summary: base.summary(),
                merged: steps,
            };
            if o.json {
                json_line(&mut out, &summary)?;
            } else {
                for s in &summary.merged {
                    writeln!(
                        out,
                        "{}: {} added, {} replaced, {} not taken",
                        s.lut, s.added, s.replaced, s.kept
                    )?;
                }
                writeln!(
                    out,
                    "wrote {}: {} rows ({} measured, {} failed)",
                    summary.output,
                    summary.summary.rows,
                    summary.summary.ok,
                    summary.summary.failed
                )?;
            }
        }
        LutCmd::Validate(_) => unreachable!("handled above"),
        LutCmd::Predict {
            lut,
            archs,
            breakdown,
            shape,
            out: o,
        } => {
            let table = Lut::read(&lut)?;
            let mut predictions = Vec::new();
            for arg in &archs {
                if let Some(sr) = super::load_sr_arch(arg)? {
                    predictions.push(predict_sr(&table, &sr, shape.lr_side)?);
                    continue;
                }
                let (arch, space) = super::load_valid_arch(arg, shape)?;
                predictions.push(table.predict(&space, &arch)?);
            }
            if o.json {
                for p in &predictions {
                    let mut v = serde_json::to_value(p)?;
                    if let (false, Some(fields)) = (breakdown, v.as_object_mut()) {
                        fields.remove("parts");
                    }
                    json_line(&mut out, &v)?;
                }
            } else {
                print_predictions(&mut out, &predictions, breakdown)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Coverage {
    space: String,
    needed: usize,
    missing: Vec<MissingUnit>,
}

#[derive(Serialize)]
struct CheckReport<'a> {
    lut: String,
    summary: LutSummary,
    meta: &'a LutMeta,
    complete: bool,
    coverage: Vec<Coverage>,
}

#[derive(Serialize)]
struct ShowJson<'a> {
    meta: &'a LutMeta,
    summary: LutSummary,
    rows: &'a [LutRow],
}

#[derive(Serialize)]
struct MergeStep {
    lut: String,
    added: usize,
    replaced: usize,
    kept: usize,
}

#[derive(Serialize)]
struct MergeJson {
    output: String,
    summary: LutSummary,
    merged: Vec<MergeStep>,
}

fn print_meta(out: &mut impl Write, path: &Path, m: &LutMeta, s: &LutSummary) -> Result<()> {
    writeln!(
        out,
        "{}: {} rows ({} measured, {} failed), Σ medians {:.3} ms",
        path.display(),
        s.rows,
        s.ok,
        s.failed,
        s.total_median_ms
    )?;
    let d = &m.device;
    writeln!(
        out,
        "device: {} {} [{}] gpu '{}' driver '{}' {} {}",
        d.manufacturer, d.model, d.soc, d.gpu, d.driver, d.os, d.abi
    )?;
    writeln!(out, "serials: {}", d.serials.join(", "))?;
    let opts: Vec<String> = m
        .backend
        .options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(
        out,
        "backend: {} {} {}",
        m.backend.name,
        m.backend.version,
        opts.join(" ")
    )?;
    let p = &m.protocol;
    writeln!(
        out,
        "protocol: units {}, {} warm-up, {}–{} runs, {}–{} s per model{}, {} interleaved round{}, {} ms cool-down, {} clock, {} pairs",
        p.method,
        p.warmup_runs,
        p.min_runs,
        p.max_runs,
        p.min_seconds,
        p.max_seconds,
        p.precision
            .map(|x| format!(", until the median is known to ±{}%", x * 100.0))
            .unwrap_or_default(),
        p.rounds,
        if p.rounds == 1 { "" } else { "s" },
        p.cooldown_ms,
        p.timer,
        if p.warm_pairs { "warm" } else { "cold" }
    )?;
    if let Some(c) = &m.context {
        writeln!(
            out,
            "in context: {} covering designs, {} networks, {} timed runs",
            c.covering_designs, c.networks, c.network_runs
        )?;
    }
    if let Some(r) = &m.reference {
        writeln!(
            out,
            "reference network {} at {} px: {:.4} ms is the table's time unit (rows are ratios to it × this); it drifted {:+.1} % to {:+.1} % over {} runner invocations",
            r.arch, r.resolution, r.median_ms, r.drift_min_pct, r.drift_max_pct, r.invocations
        )?;
    }
    if let Some(r) = &m.repeatability {
        writeln!(
            out,
            "repeatability (two interleaved passes over {} models): median |Δ| {:.2} %, p90 {:.2} %",
            r.items, r.median_abs_delta_pct, r.p90_abs_delta_pct
        )?;
    }
    writeln!(
        out,
        "runner {}, created {}, spaces {}",
        m.runner_version,
        m.created,
        m.spaces
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    if let Some(c) = &m.correction {
        writeln!(
            out,
            "correction ({}): predicted = {:.4} × Σ units {:+.4} ms (fitted on {} networks at {}{})",
            c.model,
            c.scale,
            c.overhead_ms,
            c.fitted_on,
            c.fitted_at,
            c.holdout_rmspe.map_or(String::new(), |r| format!(
                "; RMSPE {r:.2} % on {} held out",
                c.holdout_n
            ))
        )?;
    }
    for (k, v) in &m.device_state {
        writeln!(out, "state {k}: {v}")?;
    }
    Ok(())
}

fn print_rows(out: &mut impl Write, rows: &[LutRow]) -> Result<()> {
    let mut t = Table::new(&[
        "unit",
        "status",
        " median_ms",
        " p10_ms",
        " p90_ms",
        " runs",
        " gpu_median_ms",
        "serial",
    ]);
    for r in rows {
        let cells = match &r.outcome {
            Outcome::Ok(s) => vec![
                "ok".into(),
                format!("{:.4}", s.median_ms),
                format!("{:.4}", s.p10_ms),
                format!("{:.4}", s.p90_ms),
                s.runs.to_string(),
                s.gpu_median_ms
                    .map(|g| format!("{g:.4}"))
                    .unwrap_or_else(|| "-".into()),
            ],
            Outcome::Failed { error } => vec![
                format!("failed: {error}"),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ],
        };
        let mut row = vec![r.key.to_string()];
        row.extend(cells);
        row.push(r.serial.clone());
        t.row(row);
    }
    t.write(out)?;
    Ok(())
}

fn print_check(out: &mut impl Write, r: &CheckReport) -> Result<()> {
    print_meta(out, Path::new(&r.lut), r.meta, &r.summary)?;
    for c in &r.coverage {
        if c.missing.is_empty() {
            writeln!(out, "space {}: complete ({} units)", c.space, c.needed)?;
        } else {
            writeln!(
                out,
                "space {}: {} of {} units missing:",
                c.space,
                c.missing.len(),
                c.needed
            )?;
            for m in &c.missing {
                writeln!(out, "  {m}")?;
            }
        }
    }
    if r.coverage.is_empty() {
        writeln!(
            out,
            "ok: the table reads cleanly (pass --space to check coverage)"
        )?;
    }
    Ok(())
}

fn print_predictions(out: &mut impl Write, preds: &[Prediction], breakdown: bool) -> Result<()> {
    for (i, p) in preds.iter().enumerate() {
        if breakdown {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}", p.arch)?;
            let mut t = Table::new(&["part", "unit", " median_ms"]);
            for part in &p.parts {
                t.row(vec![
                    part.part.clone(),
                    part.unit.clone(),
                    format!("{:.4}", part.median_ms),
                ]);
            }
            t.write(out)?;
        }
        writeln!(
            out,
            "{:.4} ms  (units {:.4} + overhead {:+.4})  {}",
            p.latency_ms, p.units_ms, p.overhead_ms, p.arch
        )?;
    }
    if preds.is_empty() {
        bail!("no architectures given");
    }
    Ok(())
}

/// A super-resolution prediction at `side`; when the table lacks units and holds
/// super-resolution units at other sides, the error says which.
pub(super) fn predict_sr(
    table: &Lut,
    arch: &lookup_tables::SrArch,
    side: u32,
) -> Result<Prediction> {
    table.predict_in(&arch.space, arch, side).map_err(|e| {
        let mut sides: Vec<u32> = table
            .rows()
            .iter()
            .filter(|r| r.key.kind == lookup_tables::UnitKind::SrFe)
            .map(|r| r.key.input_hw)
            .filter(|&s| s != side)
            .collect();
        sides.sort_unstable();
        sides.dedup();
        let hint = sides
            .iter()
            .map(|s| format!("--lr-side {s}"))
            .collect::<Vec<_>>()
            .join(" or ");
        if hint.is_empty() {
            anyhow::Error::from(e)
        } else {
            anyhow::anyhow!(
                "{e}\n(the table's super-resolution units are at other sides: pass {hint})"
            )
        }
    })
}
