//! The loop closed on this machine: a table profiled with ONNX Runtime, random networks
//! measured whole against it (`moga lut validate`), corrections judged (too few networks
//! earn none; a named one that may not be stored is an error; a stored one the plain sum
//! beats is removed), predictions using the table's correction, and a network deployed
//! beside its prediction.

mod common;

use common::QUICK;

use common::Scratch;
use lookup_tables::Lut;

const SHAPE: [&str; 4] = ["--resolution", "32", "--classes", "10"];

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn validate_judges_corrections_and_deploy_compares_with_the_prediction() {
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
        assert_eq!(x["holdout"]["n"], 3, "{x}");
    }
    // The fidelity figure itself is the bench's (scripts/bench/fidelity.sh finds ±5 % on
    // 95–100 % of held-out networks with the default protocol). This quick protocol on a
    // loaded CI machine can put one network of three 15–20 % off (seen: RMSPE 10.5 %),
    // so the test holds what a broken table could not pass, not the machine's calm:
    // the typical network near its sum (below) and none off by a third.
    let sum = &v["variants"][0]["holdout"];
    assert!(sum["rmspe_pct"].as_f64().unwrap() < 20.0, "{sum}");
    // Three networks per half cannot earn a correction: the plain sum stays, and the
    // report says why each fitted one was refused.
    let variants = v["variants"].as_array().unwrap();
    let chosen: Vec<&serde_json::Value> = variants.iter().filter(|x| x["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1, "{v}");
    assert_eq!(chosen[0]["model"], "sum", "{v}");
    for x in &variants[1..] {
        let why = x["refused"].to_string();
        assert!(why.contains("at least 10"), "{why}");
    }
    assert!(v["kept"].is_null() && v["stored"] == false, "{v}");
    assert!(v["decision"].as_str().unwrap().contains("plain sum"), "{v}");
    let ci = &variants[0]["holdout"]["within_10pct_ci"];
    assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap(), "{ci}");
    let svg = std::fs::read_to_string(s.path("fidelity.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("measured latency"),
        "plot"
    );
    // Every network, fitted half included: near its sum, and ranked as the sums rank
    // them (Kendall's τ over the 6: a table that ranks no better than chance fails).
    let points: Vec<serde_json::Value> = std::fs::read_to_string(s.path("points.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(points.len(), 6);
    let pairs: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            (
                p["units_ms"].as_f64().unwrap(),
                p["measured_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut errors: Vec<f64> = pairs.iter().map(|(u, m)| (m / u - 1.0).abs()).collect();
    for (u, m) in &pairs {
        assert!(
            (m / u - 1.0).abs() < 0.33,
            "{u} ms predicted, {m} ms measured"
        );
    }
    errors.sort_by(f64::total_cmp);
    let median = (errors[2] + errors[3]) / 2.0;
    assert!(
        median < 0.10,
        "the median network is {:.1} % off its sum: {pairs:?}",
        100.0 * median
    );
    let (mut agree, mut disagree) = (0, 0);
    for i in 0..pairs.len() {
        for j in i + 1..pairs.len() {
            let s = (pairs[i].0 - pairs[j].0) * (pairs[i].1 - pairs[j].1);
            if s > 0.0 {
                agree += 1;
            } else if s < 0.0 {
                disagree += 1;
            }
        }
    }
    assert!(
        agree as f64 >= 2.0 * disagree as f64,
        "the table ranks the networks no better than chance: {agree} pairs agree, {disagree} disagree: {pairs:?}"
    );
    let lut = Lut::read(&s.path("lut.csv")).unwrap();
    assert!(lut.meta.correction.is_none());
    assert!(
        lut.meta.reference.is_some(),
        "runs were paired with a reference"
    );

    // A named correction that may not be stored is one clear error.
    let mut named = args.clone();
    named.retain(|a| *a != "--json");
    named.extend(["--model", "affine"]);
    let e = s.moga(&named).fails_with_one_line();
    assert!(
        e.contains("the affine correction may not be stored") && e.contains("at least 10"),
        "{e}"
    );

    // A stored correction is what predictions use; one the plain sum beats beyond chance
    // is removed by the next validation. Here 0.5 × Σ units: whole networks are never
    // faster than three quarters of their units' sum, so the plain sum beats it on every
    // network however the machine drifts. (1.9 × Σ units was used before and lost only
    // when this quick protocol, under load, measured networks ~1.5× their sum: a test
    // of the decision, not of the machine's calm.)
    let mut lut = Lut::read(&s.path("lut.csv")).unwrap();
    lut.meta.correction = Some(lookup_tables::lut::Correction {
        model: "affine".into(),
        scale: 0.5,
        overhead_ms: 0.01,
        fitted_on: 20,
        ..Default::default()
    });
    lut.write(&s.path("lut.csv")).unwrap();
    let mut pargs = vec!["lut", "predict", "--lut", "lut.csv", "fairnas-a", "--json"];
    pargs.extend(SHAPE);
    let p = s.moga(&pargs).json();
    let (units, latency) = (
        p["units_ms"].as_f64().unwrap(),
        p["latency_ms"].as_f64().unwrap(),
    );
    assert!((latency - (0.5 * units + 0.01)).abs() < 1e-9, "{p}");
    let v = s.moga(&args).json();
    assert_eq!(v["variants"][0]["model"], "stored", "{v}");
    assert!(v["decision"].as_str().unwrap().contains("removed"), "{v}");
    assert!(
        Lut::read(&s.path("lut.csv"))
            .unwrap()
            .meta
            .correction
            .is_none()
    );
    let p = s.moga(&pargs).json();
    let latency = p["latency_ms"].as_f64().unwrap();
    assert!((latency - units).abs() < 1e-9, "{p}");

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
    // The prediction at the device's speed now (the reference's drift since the table
    // was measured), the error from ratios to the reference.
    let (m, pred, drift) = (
        d["median_ms"].as_f64().unwrap(),
        d["predicted_ms"].as_f64().unwrap(),
        d["drift_pct"].as_f64().unwrap(),
    );
    assert!(
        (pred - latency * (1.0 + drift / 100.0)).abs() < 1e-9 * pred,
        "{d}"
    );
    let err = d["error_pct"].as_f64().unwrap();
    assert!((err - 100.0 * (pred - m) / m).abs() < 25.0, "{d}");
    // The table holds for the deployed network too (loosely: one network, measured once,
    // under whatever else CI runs beside it).
    assert!(err.abs() < 33.0, "{d}");
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
