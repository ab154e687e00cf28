//! `moga train`, `moga eval` and `moga search --accuracy supernet:DIR` end to end, on
//! the bundled digits with a few steps: checkpoints, resume, the cache, clear errors.

mod common;

use common::Scratch;

const TINY: &[&str] = &[
    "--space", "fairnas", "--data", "digits", "--batch", "8", "--steps", "2", "--device", "cpu",
    "--seed", "3",
];

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
