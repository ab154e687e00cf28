//! `moga search`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lookup_tables::Lut;
use search::ga::{Algorithm, GaConfig};
use search::objectives::{Constraints, parse_objectives};
use search::oracle::AccuracyOracle;
use search::rl::RlConfig;
use search::run::{SearchOptions, SearchReport, search_classification};

use crate::cli::{AlgorithmArg, AnySpace, Command, SearchArgs};
use crate::output::{Table, json_line, thousands};
use crate::torch::Libtorch;

/// `moga search` (the super-resolution spaces' search trains networks: libtorch's).
pub fn run(a: SearchArgs, torch: &dyn Libtorch) -> Result<ExitCode> {
    refuse_the_other_tasks_flags(&a)?;
    let space = match a.space {
        AnySpace::Sr(_) => return torch.run(Command::Search(Box::new(a))),
        AnySpace::Classify(id) => super::space(id, a.shape)?,
    };
    let objectives = parse_objectives(
        a.objectives
            .as_deref()
            .unwrap_or("acc:max,lat:min,params:max"),
    )?;
    let lut = match &a.lut {
        Some(p) => Some((p.clone(), Lut::read(p)?)),
        None => None,
    };
    let ga = ga_config(&a, objectives.len())?;
    let algorithm = ga.algorithm;
    let opts = SearchOptions {
        space,
        lut,
        latency_shape: None,
        oracle: oracle(a.accuracy.as_deref().unwrap_or("proxy"), torch)?,
        objectives,
        constraints: Constraints {
            budget_ms: a.budget_ms,
            max_params: a.max_params,
            ..Constraints::default()
        },
        ga,
        epsilon: a.epsilon,
        seed_exact: a.seed_exact,
        // The plot draws every evaluated architecture.
        evaluated: a.history || a.plot.is_some(),
        record: false,
    };
    let bar = if algorithm == Algorithm::Exact {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(a.generations as u64 + 1)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} generation {pos}/{len}, ETA {eta} {wide_msg}",
        )
        .context("progress bar template")?,
    );
    let (report, problem, all) = search_classification(opts, &mut |g, hv| {
        bar.set_position(g.generation as u64 + 1);
        if let Some(hv) = hv {
            bar.set_message(format!(
                "{} evaluations, hypervolume {hv:.4}",
                g.evaluations
            ));
        }
    })?;
    bar.finish_and_clear();
    let mut report = report;
    if !a.history {
        for g in &mut report.history {
            g.population.clear();
        }
    }
    let json = serde_json::to_vec_pretty(&report)?;
    lookup_tables::write_atomic(&a.output, &json)?;
    if let Some(p) = &a.plot {
        search::plot::plot_front(&report, &all, p)?;
    }
    if let Some(p) = &a.export_problem {
        let mut v = serde_json::to_value(problem.tables()?)?;
        v["objectives"] = serde_json::to_value(&report.objectives)?;
        v["constraints"] = serde_json::to_value(report.constraints)?;
        v["accuracy_oracle"] = serde_json::Value::String(report.accuracy_oracle.clone());
        v["bounds"] = serde_json::to_value(problem.bounds()?)?;
        lookup_tables::write_atomic(p, &serde_json::to_vec_pretty(&v)?)?;
    }
    let mut out = std::io::stdout().lock();
    if a.out.json {
        // The report without its history (that stays in the file), and where it went.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            #[serde(flatten)]
            report: &'a search::run::SearchReport,
            output: String,
        }
        report.history.clear();
        json_line(
            &mut out,
            &Line {
                report: &report,
                output: a.output.display().to_string(),
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&mut out, &report, &a)?;
    Ok(ExitCode::SUCCESS)
}

/// A search's report for people: what ran and how fast, how close to the exact front,
/// the oracle and the table, the front (its first 20) and the presets.
fn print_report(out: &mut impl Write, report: &SearchReport, a: &SearchArgs) -> Result<()> {
    let name = format!("{:?}", report.settings.algorithm).to_lowercase();
    if let (Algorithm::Exact, Some(x)) = (report.settings.algorithm, &report.exact) {
        writeln!(
            out,
            "exact{} front on {}: {} points in {:.3} s, hypervolume {:.4}; {} candidate partial sums, at most {} kept after a layer, {:.1} MiB",
            x.epsilon
                .map(|e| format!(" (ε-grid, ε = {e})"))
                .unwrap_or_default(),
            report.space,
            report.front.len(),
            x.seconds,
            report.hypervolume,
            thousands(x.candidates),
            thousands(x.partial_per_layer.iter().copied().max().unwrap_or(0) as u64),
            x.peak_bytes as f64 / (1024.0 * 1024.0)
        )?;
    } else {
        writeln!(
            out,
            "{name} on {}: {} evaluations in {:.3} s ({:.0}/s), {} on the front, hypervolume {:.4}",
            report.space,
            report.evaluations,
            report.seconds,
            report.evaluations_per_second,
            report.front.len(),
            report.hypervolume
        )?;
        writeln!(
            out,
            "time: oracle {:.3} s ({} calls, {} from its cache), engine {:.3} s ({:.0} evaluations/s)",
            report.timing.oracle_seconds,
            thousands(report.oracle_calls.calls),
            thousands(report.oracle_calls.cache_hits),
            report.timing.engine_seconds,
            report.timing.engine_evaluations_per_second
        )?;
    }
    if let Some(o) = &report.optimality {
        writeln!(
            out,
            "optimality: {:.2} % of the exact front's hypervolume ({:.4} of {:.4}); {} of {} front members on the exact front of {} points",
            100.0 * o.hypervolume_share,
            report.hypervolume,
            o.exact_hypervolume,
            o.on_exact_front,
            report.front.len(),
            o.exact_points
        )?;
    }
    if report.seeded > 0 {
        writeln!(
            out,
            "seeded: {} initial genomes from the exact front of the additive objectives",
            report.seeded
        )?;
    }
    writeln!(out, "accuracy: {}", report.accuracy_oracle)?;
    if let Some(l) = &report.lut {
        writeln!(out, "latency: {} ({}, {})", l.path, l.device, l.backend)?;
    }
    let mut t = Table::new(&[" accuracy", " latency_ms", " params", " madds", "arch"]);
    for m in report.front.iter().take(20) {
        t.row(vec![
            m.accuracy.map_or("-".into(), |x| format!("{x:.3}")),
            m.latency_ms.map_or("-".into(), |x| format!("{x:.3}")),
            thousands(m.params),
            thousands(m.madds),
            m.arch.clone(),
        ]);
    }
    t.write(out)?;
    if report.front.len() > 20 {
        writeln!(
            out,
            "… {} more in {}",
            report.front.len() - 20,
            a.output.display()
        )?;
    }
    for p in &report.presets {
        writeln!(
            out,
            "preset {}: accuracy {:.3}, latency {} ms",
            p.name,
            p.metrics.accuracy.unwrap_or(f64::NAN),
            p.metrics
                .latency_ms
                .map_or("-".into(), |x| format!("{x:.3}"))
        )?;
    }
    writeln!(
        out,
        "wrote {}{}",
        a.output.display(),
        a.plot
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// A flag of one task given with a space of the other is one line naming the flag, the
/// space and what the flag is for (before anything starts: the super-resolution
/// search's libtorch included), never silently ignored.
fn refuse_the_other_tasks_flags(a: &SearchArgs) -> Result<()> {
    /// `moga search`'s arguments alone, to read their defaults.
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        a: SearchArgs,
    }
    let defaults =
        <Defaults as clap::Parser>::try_parse_from(["search", "--space", "moga", "-o", "x.json"])
            .context("the search defaults")?
            .a;
    let (space, given) = match a.space {
        AnySpace::Classify(id) => (
            id.to_string(),
            vec![
                (
                    "--min-psnr",
                    a.min_psnr.is_some(),
                    "a super-resolution constraint",
                ),
                (
                    "--max-madds-g",
                    a.max_madds_g.is_some(),
                    "a super-resolution constraint",
                ),
                (
                    "--data",
                    a.data != defaults.data,
                    "the super-resolution oracle's images",
                ),
                (
                    "--roulette-mutation",
                    a.roulette_mutation != 0.0,
                    "FALSR's hybrid mutation, for the super-resolution spaces (falsr, moremnas)",
                ),
                (
                    "--lr-side",
                    a.shape.lr_side != defaults.shape.lr_side,
                    "the super-resolution input's side",
                ),
            ],
        ),
        AnySpace::Sr(id) => (
            id.to_string(),
            vec![
                (
                    "--budget-ms",
                    a.budget_ms.is_some(),
                    "a classification constraint",
                ),
                (
                    "--max-params",
                    a.max_params.is_some(),
                    "a classification constraint",
                ),
                (
                    "--seed-exact",
                    a.seed_exact,
                    "the exact front of additive objectives; PSNR is not additive",
                ),
                (
                    "--export-problem",
                    a.export_problem.is_some(),
                    "the classification spaces' per-layer tables",
                ),
                (
                    "--history",
                    a.history,
                    "the classification search's per-generation populations",
                ),
                (
                    "--resolution",
                    a.shape.resolution != defaults.shape.resolution,
                    "a classifier's input; super-resolution takes --lr-side",
                ),
                (
                    "--classes",
                    a.shape.classes != defaults.shape.classes,
                    "a classifier's outputs",
                ),
            ],
        ),
    };
    match given.iter().find(|(_, given, _)| *given) {
        Some((flag, _, what)) => bail!("{flag} does not apply to the {space} space: it is {what}"),
        None => Ok(()),
    }
}

/// The evolutionary engine's settings from the command line (shared by every space);
/// `m` objectives.
pub fn ga_config(a: &SearchArgs, m: usize) -> Result<GaConfig> {
    anyhow::ensure!(a.population >= 2, "--population must be at least 2");
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.rl_ratio),
        "--rl-ratio must be within 0..=1"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.roulette_mutation),
        "--roulette-mutation must be within 0..=1"
    );
    let archive_share = a.archive_share.unwrap_or_else(|| default_archive_share(a));
    anyhow::ensure!(
        (0.0..=1.0).contains(&archive_share),
        "--archive-share must be within 0..=1"
    );
    let algorithm = match a.algorithm {
        AlgorithmArg::Nsga2 => Algorithm::Nsga2,
        AlgorithmArg::Moga => Algorithm::Moga,
        AlgorithmArg::Random => Algorithm::Random,
        AlgorithmArg::Exact => Algorithm::Exact,
    };
    if let Some(e) = a.epsilon {
        anyhow::ensure!(
            e > 0.0 && e.is_finite(),
            "--epsilon must be positive (got {e})"
        );
        anyhow::ensure!(
            algorithm == Algorithm::Exact || a.seed_exact,
            "--epsilon applies to --algorithm exact or --seed-exact"
        );
    }
    anyhow::ensure!(
        a.weights.is_empty() || a.weights.len() == m,
        "--weights has {} values for {} objectives",
        a.weights.len(),
        m
    );
    anyhow::ensure!(
        a.weights.iter().all(|w| *w >= 0.0 && w.is_finite()),
        "--weights must be finite and non-negative"
    );
    Ok(GaConfig {
        algorithm,
        population: a.population,
        generations: a.generations,
        seed: a.seed,
        crossover_prob: 0.9,
        mutation_prob: None,
        weights: if a.weights.is_empty() {
            vec![1.0; m]
        } else {
            a.weights.clone()
        },
        rl: a.rl_mutation.then_some(RlConfig {
            ratio: a.rl_ratio,
            ..RlConfig::default()
        }),
        initial: Vec::new(),
        archive_share,
        roulettes: Vec::new(),
        roulette_share: a.roulette_mutation,
        keep_history: false,
    })
}

/// The archive share a search gets unless told: the best measured configuration
/// (NSGA-II with three quarters of its children from the elite archive,
/// `scripts/bench/search.sh`) for plain NSGA-II on the classification spaces; MoGA's
/// and MoreMNAS's variants and FALSR's super-resolution search stay as published.
fn default_archive_share(a: &SearchArgs) -> f64 {
    let plain = matches!(a.algorithm, AlgorithmArg::Nsga2) && !a.rl_mutation;
    if plain && matches!(a.space, AnySpace::Classify(_)) {
        0.75
    } else {
        0.0
    }
}

/// `proxy`, `csv:PATH` or `supernet:CKPT_DIR` (evaluated on libtorch's CUDA device when
/// there is one, else the CPU).
fn oracle(spec: &str, torch: &dyn Libtorch) -> Result<Box<dyn AccuracyOracle>> {
    if let Some(o) = search::oracle::parse(spec) {
        return Ok(o?);
    }
    if let Some(dir) = spec.strip_prefix("supernet:") {
        return torch.supernet_oracle(std::path::Path::new(dir));
    }
    anyhow::bail!("--accuracy '{spec}': expected proxy, csv:PATH or supernet:CKPT_DIR")
}
