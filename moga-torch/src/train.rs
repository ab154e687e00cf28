//! `moga train` and `moga eval`: supernet training and the accuracy it gives
//! architectures.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lookup_tables::Space;
use supernet::train::{EpochRecord, device_name, parse_device};
use supernet::{DataSpec, Evaluator, Strategy, TrainConfig, Trainer};

use moga::cli::{EvalArgs, ResidualInitArg, StrategyArg, TrainArgs, WeightsArg};
use moga::cmd::load_arch;
use moga::output::{Table, json_line, thousands};

/// Epochs when neither the flag nor a checkpoint says.
const DEFAULT_EPOCHS: usize = 10;

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    supernet::torch::set_threads(a.threads);
    let device = parse_device(&a.device)?;
    let mut t = if a.resume {
        Trainer::resume(&a.output, device, a.epochs)?
    } else {
        let space = a.space.context("--space is required")?;
        let arch = a.arch.as_deref().map(load_arch).transpose()?;
        let strategy = match (&arch, a.strategy) {
            (Some(_), _) => Strategy::Standalone,
            (None, StrategyArg::Fair) => Strategy::Fair,
            (None, StrategyArg::Spos) => Strategy::Spos,
        };
        let config = TrainConfig {
            space,
            strategy,
            scarlet_let: a.scarlet_let,
            arch,
            data: DataSpec::parse(&a.data)?,
            resolution: a.resolution,
            epochs: a.epochs.unwrap_or(DEFAULT_EPOCHS),
            batch: a.batch,
            max_steps: a.steps,
            lr: a.lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            grad_clip: a.grad_clip,
            warmup_steps: a.warmup_steps,
            sum_shared_gradients: a.sum_shared_gradients,
            entangled: a.weights == WeightsArg::Entangled,
            zero_init_residual: a.residual_init == ResidualInitArg::Zero,
            augment: a.augment,
            seed: a.seed,
        };
        Trainer::new(config, device, &a.output)?
    };
    let c = &t.config;
    let what = match &c.arch {
        Some(arch) => format!(
            "stand-alone {}",
            arch.preset_name()
                .map_or_else(|| arch.encode(), str::to_string)
        ),
        None => format!(
            "{} supernet of {}{}, {} weights",
            c.strategy,
            c.space,
            if c.scarlet_let { " with LET" } else { "" },
            if c.entangled { "entangled" } else { "separate" }
        ),
    };
    let paths = t.paths_per_step();
    eprintln!(
        "training {what}: {} parameters, {paths} path(s) per step; {} ({} train / {} validation images, {} classes) at {}x{}; {} epochs of {} steps of {}; device {}, {} CPU threads; checkpoint {}",
        thousands(t.net.trainable_params() as u64),
        c.data,
        t.data.train.len(),
        t.data.val.len(),
        t.data.classes,
        c.resolution,
        c.resolution,
        c.epochs,
        t.steps_per_epoch(),
        c.batch,
        device_name(t.net.device()),
        supernet::torch::threads(),
        a.output.display()
    );
    if t.finished() {
        eprintln!(
            "{}: all {} epochs are done; raise --epochs to train longer",
            a.output.display(),
            t.config.epochs
        );
    }
    let start = Instant::now();
    let mut out = std::io::stdout().lock();
    while !t.finished() {
        let bar = ProgressBar::new(t.steps_per_epoch() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} epoch {prefix} [{elapsed_precise}] {bar:25} {pos}/{len} steps, ETA {eta} {wide_msg}",
            )
            .context("progress bar template")?,
        );
        bar.set_prefix(format!("{}/{}", t.state.epochs_done + 1, t.config.epochs));
        let record = t.train_epoch(&mut |p| {
            bar.set_position(p.step as u64);
            bar.set_message(format!(
                "loss {:.3}, accuracy {:.1}%, {:.0} images/s",
                p.loss, p.accuracy, p.images_per_sec
            ));
        })?;
        bar.finish_and_clear();
        if a.out.json {
            let mut v = serde_json::to_value(&record)?;
            v["kind"] = "epoch".into();
            v["epochs"] = t.config.epochs.into();
            v["checkpoint"] = a.output.display().to_string().into();
            json_line(&mut out, &v)?;
        } else {
            writeln!(out, "{}", epoch_line(&record, t.config.epochs))?;
        }
    }
    let updates: Vec<u64> = t.state.updates.iter().flatten().copied().collect();
    let (lo, hi) = (
        updates.iter().copied().min().unwrap_or(0),
        updates.iter().copied().max().unwrap_or(0),
    );
    if a.out.json {
        json_line(
            &mut out,
            &serde_json::json!({
                "kind": "summary",
                "checkpoint": a.output.display().to_string(),
                "config": t.config,
                "epochs_done": t.state.epochs_done,
                "steps": t.state.steps,
                "updates_per_choice_min": lo,
                "updates_per_choice_max": hi,
                "seconds": start.elapsed().as_secs_f64(),
            }),
        )?;
    } else {
        writeln!(
            out,
            "{} steps; updates per choice: min {lo}, max {hi}{}; checkpoint {}",
            t.state.steps,
            if lo == hi && t.net.choices.iter().any(|c| c.len() > 1) {
                " (every choice updated equally)"
            } else {
                ""
            },
            a.output.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let val = r
        .val_accuracy
        .map(|v| format!(", validation {v:.2}%"))
        .unwrap_or_default();
    format!(
        "epoch {}/{epochs}: loss {:.4}, training accuracy {:.2}%{val}, {:.0} images/s, {:.1} s, lr {:.4}",
        r.epoch, r.loss, r.train_accuracy, r.images_per_sec, r.seconds, r.lr
    )
}

pub fn eval(a: EvalArgs) -> Result<ExitCode> {
    supernet::torch::set_threads(a.threads);
    let device = parse_device(&a.device)?;
    anyhow::ensure!(a.batch >= 2, "--batch must be at least 2");
    let data = a.data.as_deref().map(DataSpec::parse).transpose()?;
    let mut ev = Evaluator::open(&a.ckpt, data.as_ref(), device)?;
    ev.bn_batches = a.bn_batches;
    ev.batch = a.batch;
    if a.no_cache {
        ev = ev.without_cache();
    }
    let mut archs = a
        .archs
        .iter()
        .map(|s| load_arch(s))
        .collect::<Result<Vec<_>>>()?;
    if a.sample > 0 {
        anyhow::ensure!(
            ev.config.arch.is_none(),
            "--sample: {} holds one stand-alone network, not a supernet",
            a.ckpt.display()
        );
        archs.extend(Space::new(ev.config.space).sample(a.sample, a.seed));
    }
    anyhow::ensure!(
        !archs.is_empty(),
        "name the architectures to evaluate (or --sample N)"
    );
    let bar = ProgressBar::new(archs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:25} {pos}/{len}, ETA {eta} {wide_msg}",
        )
        .context("progress bar template")?,
    );
    let mut out = std::io::stdout().lock();
    let mut table = Table::new(&[
        "architecture",
        " accuracy %",
        " loss",
        " params",
        " seconds",
    ]);
    for arch in &archs {
        bar.set_message(
            arch.preset_name()
                .map_or_else(|| arch.encode(), str::to_string),
        );
        let e = ev.evaluate(arch)?;
        bar.inc(1);
        if a.out.json {
            bar.suspend(|| json_line(&mut out, &e))?;
        } else {
            table.row(vec![
                e.preset.clone().unwrap_or_else(|| e.arch.clone()),
                format!("{:.2}", e.accuracy),
                format!("{:.4}", e.loss),
                thousands(e.params as u64),
                if e.cached {
                    "cached".into()
                } else {
                    format!("{:.2}", e.seconds)
                },
            ]);
        }
    }
    bar.finish_and_clear();
    if !a.out.json {
        writeln!(
            out,
            "{} ({} {}, {} epochs) on {}, BatchNorm recalibrated on {} batches of {}",
            a.ckpt.display(),
            ev.config.space,
            ev.config.strategy,
            ev.state.epochs_done,
            ev.data.spec,
            ev.bn_batches,
            ev.batch
        )?;
        table.write(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
