//! `moga train` and `moga eval`: supernet training and the accuracy it gives
//! architectures.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lookup_tables::Space;
use supernet::dist::{Backend, Launch, ProcessGroup};
use supernet::train::{EpochRecord, device_name, parse_device};
use supernet::{DataSpec, Evaluator, Strategy, TrainConfig, Trainer};

use moga::cli::{EvalArgs, ResidualInitArg, StrategyArg, TrainArgs, WeightsArg};
use moga::cmd::load_arch;
use moga::output::{Table, json_line, thousands};

/// Epochs when neither the flag nor a checkpoint says.
const DEFAULT_EPOCHS: usize = 10;

/// Set by `moga train --nproc` in the ranks it starts.
const LAUNCHED_VAR: &str = "MOGA_TRAIN_LAUNCHED";

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    let launch = Launch::from_env()?;
    if let Some(n) = a.nproc {
        match &launch {
            None => return launch_ranks(n as usize, &a),
            Some(_) if std::env::var_os(LAUNCHED_VAR).is_some() => {}
            Some(l) => anyhow::bail!(
                "--nproc {n}: WORLD_SIZE is set already ({}: torchrun or another launcher started this rank); drop --nproc",
                l.world_size
            ),
        }
    }
    supernet::torch::set_threads(a.threads);
    let device = match &launch {
        Some(l) if a.device == "auto" && tch::Cuda::is_available() => {
            parse_device(&format!("cuda:{}", l.local_rank))?
        }
        _ => parse_device(&a.device)?,
    };
    let backend = Backend::choose(&a.dist_backend, device.is_cuda())?;
    let group = launch
        .as_ref()
        .map(|l| l.join(backend, Duration::from_secs(a.dist_timeout)))
        .transpose()?;
    let world = group.as_ref().map_or(1, ProcessGroup::size);
    // Rank 0 speaks for the run; the others only report their own errors.
    let speaks = group.as_ref().is_none_or(|g| g.rank() == 0);
    let mut t = if a.resume {
        Trainer::resume_in(&a.output, device, a.epochs, group)?
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
        Trainer::create(config, device, &a.output, group)?
    };
    if !speaks {
        while !t.finished() {
            t.train_epoch(&mut |_| {})?;
        }
        return Ok(ExitCode::SUCCESS);
    }
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
    let ranks = if world > 1 {
        format!(
            " on {world} ranks ({backend}, {} images each per step)",
            c.batch / world
        )
    } else {
        String::new()
    };
    eprintln!(
        "training {what}: {} parameters, {paths} path(s) per step; {} ({} train / {} validation images, {} classes) at {}x{}; {} epochs of {} steps of {}{ranks}; device {}, {} CPU threads; checkpoint {}",
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

/// `moga train --nproc N`: starts N ranks of this same command on this host, as
/// torchrun would (rank 0 serves the store on a free local port), shares the cores out
/// among them unless --threads says, and waits for them. When one fails the others
/// fail too (within --dist-timeout, naming it); any still running after that are
/// stopped.
fn launch_ranks(n: usize, a: &TrainArgs) -> Result<ExitCode> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free local port for the ranks' store")?
        .port();
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if a.threads == 0 {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        args.push("--threads".into());
        args.push((cores / n).max(1).to_string().into());
    }
    let mut children = Vec::with_capacity(n);
    for rank in 0..n {
        let child = std::process::Command::new(&exe)
            .args(&args)
            .env("WORLD_SIZE", n.to_string())
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("LOCAL_WORLD_SIZE", n.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env(LAUNCHED_VAR, "1")
            .env_remove("TORCHELASTIC_USE_AGENT_STORE")
            .spawn()
            .with_context(|| format!("starting rank {rank} ({})", exe.display()))?;
        children.push(Some(child));
    }
    let mut failed = false;
    let mut deadline: Option<Instant> = None;
    let grace = Duration::from_secs(a.dist_timeout + 30);
    while children.iter().any(Option::is_some) {
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            if let Some(status) = child.try_wait()? {
                *slot = None;
                if !status.success() {
                    failed = true;
                    deadline.get_or_insert_with(|| Instant::now() + grace);
                    use std::os::unix::process::ExitStatusExt;
                    if let Some(sig) = status.signal() {
                        eprintln!("moga: rank {rank} of {n} was killed by signal {sig}");
                    }
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            for (rank, child) in children.iter_mut().enumerate() {
                if let Some(c) = child.take().as_mut() {
                    eprintln!(
                        "moga: rank {rank} of {n} still ran {}s after another failed; stopped",
                        grace.as_secs()
                    );
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
