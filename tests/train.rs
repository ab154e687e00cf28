//! `moga train`, `moga eval` and `moga search --accuracy supernet:DIR` end to end, on
//! the bundled digits with a few steps: checkpoints, resume, the cache, clear errors.

mod common;

use common::{Scratch, free_port};

const TINY: &[&str] = &[
    "--space", "fairnas", "--data", "digits", "--batch", "8", "--steps", "2", "--device", "cpu",
    "--seed", "3",
];

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn train_resume_eval_and_search_on_a_supernet() {
    let s = Scratch::new("train");
    let mut args = vec!["train", "-o", "ck", "--epochs", "1", "--json"];
    args.extend(TINY);
    let lines = s.moga(&args).json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["kind"], "epoch");
    assert_eq!(lines[0]["epoch"], 1);
    assert!(lines[0]["loss"].as_f64().unwrap().is_finite());
    let sum = &lines[1];
    assert_eq!(sum["kind"], "summary");
    assert_eq!(sum["steps"], 2);
    // Strict fairness: every choice of every layer updated at each of the 2 steps.
    assert_eq!(sum["updates_per_choice_min"], 2);
    assert_eq!(sum["updates_per_choice_max"], 2);
    for f in [
        "config.json",
        "state.json",
        "supernet.safetensors",
        "optimizer.safetensors",
    ] {
        assert!(s.path("ck").join(f).is_file(), "{f}");
    }

    // The same folder again without --resume would overwrite the run.
    let err = s.moga(&args).fails_with_one_line();
    assert!(err.contains("--resume"), "{err}");
    // Resume to two epochs: only the second runs.
    let lines = s
        .moga(&["train", "-o", "ck", "--resume", "--epochs", "2", "--json"])
        .json_lines();
    assert_eq!(lines[0]["epoch"], 2);
    assert_eq!(lines[1]["steps"], 4);
    assert_eq!(lines[1]["updates_per_choice_min"], 4);

    // Evaluation: a preset and a sampled architecture; the second call is cached.
    let ev = [
        "eval",
        "--ckpt",
        "ck",
        "--bn-batches",
        "2",
        "--batch",
        "32",
        "--device",
        "cpu",
        "--sample",
        "1",
        "--json",
        "fairnas-a",
    ];
    let first = s.moga(&ev).json_lines();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["preset"], "FairNAS-A");
    for e in &first {
        let acc = e["accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{e}");
        assert_eq!(e["cached"], false);
    }
    let again = s.moga(&ev).json_lines();
    assert_eq!(again[0]["cached"], true);
    assert_eq!(again[0]["accuracy"], first[0]["accuracy"]);
    let plain: Vec<&str> = ev.iter().copied().filter(|a| *a != "--json").collect();
    let table = s.moga(&plain).ok();
    assert!(
        table.contains("FairNAS-A") && table.contains("accuracy %"),
        "{table}"
    );

    // The checkpoint as the accuracy oracle of a search.
    let front = s
        .moga(&[
            "search",
            "--space",
            "fairnas",
            "--objectives",
            "acc:max,madds:min",
            "--accuracy",
            "supernet:ck",
            "--population",
            "4",
            "--generations",
            "1",
            "--seed",
            "1",
            "-o",
            "front.json",
            "--json",
        ])
        .json();
    assert!(
        front["accuracy_oracle"]
            .as_str()
            .unwrap()
            .starts_with("supernet ck"),
        "{front}"
    );
    for m in front["front"].as_array().unwrap() {
        let acc = m["accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{m}");
    }

    // The front's best, exported with the weights it inherits: the ONNX file gives the
    // supernet's logits on ONNX Runtime, wgpu and the CPU reference.
    let ex = s
        .moga(&[
            "export",
            "front.json#0",
            "--ckpt",
            "ck",
            "--bn-batches",
            "2",
            "--batch",
            "32",
            "--verify",
            "-o",
            "best.onnx",
            "--json",
        ])
        .json();
    assert_eq!(ex["arch"], front["front"][0]["arch"], "{ex}");
    let engines = ex["verify"].as_array().unwrap();
    assert_eq!(engines.len(), 4, "{ex}");
    assert!(engines.iter().all(|e| e["ok"] == true), "{ex}");
    assert!(
        engines[0]["engine"]
            .as_str()
            .unwrap()
            .starts_with("libtorch")
    );
    // Deployed on this machine with those weights, measured whole.
    let dep = s
        .moga(&[
            "deploy",
            "front.json#0",
            "--ckpt",
            "ck",
            "--bn-batches",
            "2",
            "--backend",
            "ort",
            "--local-root",
            "local",
            "--warmup",
            "1",
            "--min-runs",
            "3",
            "--runs",
            "5",
            "--max-seconds",
            "0.2",
            "--json",
        ])
        .json();
    assert_eq!(dep["status"], "ok", "{dep}");
    assert!(dep["median_ms"].as_f64().unwrap() > 0.0, "{dep}");
    assert!(
        dep["weights"].as_str().unwrap().contains("inherited"),
        "{dep}"
    );
    let err = s
        .moga(&["export", "front.json#99", "-o", "x.onnx"])
        .fails_with_one_line();
    assert!(
        err.contains("front.json#99") && err.contains("members"),
        "{err}"
    );

    // Errors name what is wrong.
    let err = s
        .moga(&["eval", "--ckpt", "ck", "--device", "cpu", "moga-a"])
        .fails_with_one_line();
    assert!(err.contains("space"), "{err}");
    let err = s
        .moga(&["eval", "--ckpt", "nowhere", "fairnas-a"])
        .fails_with_one_line();
    assert!(
        err.contains("nowhere") && err.contains("moga train"),
        "{err}"
    );
    let err = s
        .moga(&["train", "-o", "empty", "--resume", "--device", "cpu"])
        .fails_with_one_line();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn train_refuses_bad_input_before_any_work() {
    let s = Scratch::new("train-errors");
    let cases: [(&[&str], &str); 5] = [
        (&["--data", "mnist"], "mnist"),
        (&["--data", "cifar10:missing-dir"], "missing-dir"),
        (&["--device", "cuda:7"], "cuda:7"),
        (&["--arch", "moga-a"], "of space moga, not fairnas"),
        (&["--batch", "5000"], "--batch 5000"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["train", "-o", "ck", "--epochs", "1", "--space", "fairnas"];
        args.extend(extra);
        let err = s.moga(&args).fails_with_one_line();
        assert!(err.contains(want), "want '{want}': {err}");
    }
}

const RANKED: &[&str] = &[
    "train",
    "-o",
    "ck",
    "--space",
    "fairnas",
    "--data",
    "digits",
    "--batch",
    "8",
    "--device",
    "cpu",
    "--seed",
    "3",
    "--threads",
    "1",
];

/// Two ranks started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT; rank 0
/// serves the store); rank 1 is killed in the middle of the second epoch. Rank 0 fails
/// with one line naming rank 1, well within --dist-timeout, and `--resume` on two ranks
/// started by `moga train --nproc 2` completes the run from the first epoch's
/// checkpoint.
#[test]
fn a_rank_killed_mid_epoch_stops_the_others_naming_it_and_the_run_resumes() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let s = Scratch::new("train-ranks-fault");
    let port = free_port().to_string();
    let spawn = |rank: &str| {
        let mut args = RANKED.to_vec();
        args.extend(["--epochs", "2", "--steps", "30", "--dist-timeout", "60"]);
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(&args)
            .current_dir(&s.dir)
            .env("WORLD_SIZE", "2")
            .env("RANK", rank)
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let rank0 = spawn("0");
    let mut rank1 = spawn("1");
    let state = s.path("ck").join("state.json");
    let start = Instant::now();
    while !state.is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no first epoch in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    rank1.kill().unwrap();
    let _ = rank1.wait();
    let killed = Instant::now();
    let out = rank0.wait_with_output().unwrap();
    let waited = killed.elapsed();
    assert!(!out.status.success());
    assert!(
        waited < Duration::from_secs(30),
        "rank 0 took {waited:?} to notice"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("moga:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("rank 0 of 2") && errors[0].contains("rank 1 stopped"),
        "{}",
        errors[0]
    );
    let lines = s
        .moga(&["train", "-o", "ck", "--resume", "--nproc", "2", "--json"])
        .json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["epoch"], 2);
    assert_eq!(lines[1]["steps"], 60);
    assert_eq!(lines[1]["updates_per_choice_min"], 60);
}

/// `torchrun --nproc-per-node 2 --no-python moga train …`, with the venv's torchrun
/// where `scripts/setup.sh` made one: torchrun's agent serves the store, every rank is
/// a client of it, and only rank 0 reports.
#[test]
fn torchrun_starts_moga_train_on_two_ranks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let torchrun = root.join(".deps/venv/bin/torchrun");
    if !torchrun.is_file() {
        eprintln!(
            "skipped: no {} (scripts/setup.sh makes it)",
            torchrun.display()
        );
        return;
    }
    let s = Scratch::new("train-torchrun");
    let stubs = root.join(".deps/torch-cpu-stubs");
    let ld = match std::env::var("LD_LIBRARY_PATH") {
        Ok(v) if !v.is_empty() => format!("{}:{v}", stubs.display()),
        _ => stubs.display().to_string(),
    };
    let mut args = vec![
        "--nproc-per-node",
        "2",
        "--master-port",
        "0",
        "--no-python",
        env!("CARGO_BIN_EXE_moga"),
    ];
    let port = free_port().to_string();
    args[3] = &port;
    args.extend(RANKED);
    args.extend(["--epochs", "1", "--steps", "2", "--json"]);
    let out = std::process::Command::new(&torchrun)
        .args(&args)
        .current_dir(&s.dir)
        .env("LD_LIBRARY_PATH", ld)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "torchrun failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one epoch line and one summary, from rank 0 only: {stdout}"
    );
    assert_eq!(lines[1]["steps"], 2);
    assert!(s.path("ck").join("state.json").is_file());
}

/// NCCL asked for in a build without the `nccl` feature: one line saying how to get it,
/// before any training.
#[test]
fn nccl_without_the_feature_is_one_clear_line() {
    let s = Scratch::new("train-nccl");
    let port = free_port().to_string();
    let mut args = RANKED.to_vec();
    args.extend(["--epochs", "1", "--steps", "1", "--dist-backend", "nccl"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(&args)
        .current_dir(&s.dir)
        .env("WORLD_SIZE", "1")
        .env("RANK", "0")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", &port)
        .output()
        .unwrap();
    let run = common::Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        output: out,
    };
    let err = run.fails_with_one_line();
    assert!(
        err.contains("joining the NCCL group") && err.contains("--features moga-torch/nccl"),
        "{err}"
    );
}
