//! The loop closed on this machine: a table profiled with ONNX Runtime, random networks
//! measured whole against it (`moga lut validate`), the fitted correction stored and
//! used by later predictions, and a network deployed beside its prediction.

mod common;

use common::Scratch;
use lookup_tables::Lut;

const SHAPE: [&str; 4] = ["--resolution", "32", "--classes", "10"];
const QUICK: [&str; 10] = [
    "--warmup",
    "2",
    "--min-runs",
    "5",
    "--runs",
    "20",
    "--max-seconds",
    "0.2",
    "--precision",
    "0",
];

#[test]
fn validate_fits_stores_and_predicts_with_the_correction() {
    let s = Scratch::new("deploy");
    let root = s.path("root");
    let root = root.to_str().unwrap();
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "-o",
        "lut.csv",
        "--local-root",
        root,
        "--json",
    ];
    args.extend(SHAPE);
    args.extend(QUICK);
    s.moga(&args).json();

    let mut args = vec![
        "lut",
        "validate",
        "--lut",
        "lut.csv",
        "--space",
        "fairnas",
        "--samples",
        "6",
        "--seed",
        "1",
        "--plot",
        "fidelity.svg",
        "--details",
        "points.jsonl",
        "--local-root",
        root,
        "--json",
    ];
    args.extend(SHAPE);
    let v = s.moga(&args).json();
    assert_eq!(
        (v["measured"].as_u64(), v["failed"].as_u64()),
        (Some(6), Some(0)),
        "{v}"
    );
    assert_eq!(
        (v["fit_n"].as_u64(), v["holdout_n"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
    assert_eq!(v["level"], "block");
    assert_eq!(v["backend"].as_str().unwrap(), "ort 1.31.1", "{v}");
    let names: Vec<&str> = v["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sum of units", "sum + fitted offset", "sum + fitted affine"]
    );
    for x in v["variants"].as_array().unwrap() {
        let h = &x["holdout"];
        assert_eq!(h["n"], 3);
        for f in ["within_10pct", "within_5pct"] {
            assert!((0.0..=1.0).contains(&h[f].as_f64().unwrap()), "{h}");
        }
        assert!(h["rmspe_pct"].as_f64().unwrap() >= 0.0);
        assert!((-1.0..=1.0).contains(&h["kendall_tau"].as_f64().unwrap()));
    }
    // --model auto: the variant with the lowest leave-one-out RMSPE on the fitted half.
    let variants = v["variants"].as_array().unwrap();
    let chosen: Vec<&serde_json::Value> = variants.iter().filter(|x| x["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1, "{v}");
    let stored = &v["stored"];
    assert_eq!(stored["model"], chosen[0]["model"], "{v}");
    assert_eq!(stored["fitted_on"], 3);
    assert_eq!(stored["holdout_rmspe"], chosen[0]["holdout"]["rmspe_pct"]);
    let svg = std::fs::read_to_string(s.path("fidelity.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("measured latency"),
        "plot"
    );
    assert_eq!(
        std::fs::read_to_string(s.path("points.jsonl"))
            .unwrap()
            .lines()
            .count(),
        6
    );

    // The correction is in the table, and predictions use it.
    let lut = Lut::read(&s.path("lut.csv")).unwrap();
    let c = lut.meta.correction.clone().expect("stored");
    assert_eq!(c.overhead_ms, stored["overhead_ms"].as_f64().unwrap());
    assert_eq!(c.scale, stored["scale"].as_f64().unwrap());
    assert_eq!(c.holdout_n, 3);
    let mut args = vec!["lut", "predict", "--lut", "lut.csv", "fairnas-a", "--json"];
    args.extend(SHAPE);
    let p = s.moga(&args).json();
    let (units, latency) = (
        p["units_ms"].as_f64().unwrap(),
        p["latency_ms"].as_f64().unwrap(),
    );
    assert!(
        (latency - (c.scale * units + c.overhead_ms)).abs() < 1e-9,
        "{p}"
    );

    // Deployed beside the prediction; measured with the table's backend options.
    let mut args = vec![
        "deploy",
        "FairNAS-A",
        "--lut",
        "lut.csv",
        "--local-root",
        root,
        "--keep",
        "models",
        "--json",
    ];
    args.extend(SHAPE);
    args.extend(QUICK);
    let d = s.moga(&args).json();
    assert_eq!(d["status"], "ok", "{d}");
    assert_eq!(d["preset"], "FairNAS-A");
    let (m, pred) = (
        d["median_ms"].as_f64().unwrap(),
        d["predicted_ms"].as_f64().unwrap(),
    );
    assert_eq!(pred, latency);
    let err = d["error_pct"].as_f64().unwrap();
    assert!((err - 100.0 * (pred - m) / m).abs() < 1e-9, "{d}");
    assert!(
        s.path("models").read_dir().unwrap().count() == 1,
        "--keep keeps the model"
    );

    // Clear refusals before anything is measured.
    let mut args = vec![
        "lut",
        "validate",
        "--lut",
        "lut.csv",
        "--space",
        "moga",
        "--samples",
        "4",
    ];
    args.extend(SHAPE);
    let run = s.moga(&args);
    let e = run.stderr();
    assert!(run.code() != 0 && run.stdout().is_empty(), "{e}");
    assert!(
        e.starts_with("moga: lut.csv: predicting") && e.contains("missing"),
        "{e}"
    );
    let e = s
        .moga(&["deploy", "FairNAS-A", "--local-root", root])
        .fails_with_one_line();
    assert!(e.contains("--backend"), "{e}");
}
