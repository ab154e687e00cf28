//! `moga search` end to end: front.json with the front and the history, the plot, the
//! problem export, and clear errors.

mod common;

use std::path::Path;

use common::Scratch;

fn lut() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/lut-moga-ort-local.csv")
        .display()
        .to_string()
}

#[test]
fn search_writes_the_front_the_history_and_a_plot() {
    let s = Scratch::new("search");
    let lut = lut();
    let v = s
        .moga(&[
            "search",
            "--space",
            "moga",
            "--lut",
            &lut,
            "--objectives",
            "acc:max,lat:min,params:max",
            "--algorithm",
            "moga",
            "--weights",
            "1,1,0.1",
            "--rl-mutation",
            "--budget-ms",
            "10",
            "--population",
            "16",
            "--generations",
            "5",
            "--seed",
            "3",
            "-o",
            "front.json",
            "--plot",
            "front.svg",
            "--export-problem",
            "problem.json",
            "--json",
        ])
        .json();
    assert_eq!(v["evaluations"], 16 * 6);
    let front: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("front.json")).unwrap()).unwrap();
    let members = front["front"].as_array().unwrap();
    assert!(!members.is_empty());
    for m in members {
        assert!(m["arch"].as_str().unwrap().starts_with("moga:"));
        assert!(m["latency_ms"].as_f64().unwrap() <= 10.0, "{m}");
        assert!(
            m["params"].as_u64().is_some()
                && m["madds"].as_u64().is_some()
                && m["accuracy"].as_f64().is_some()
        );
    }
    assert_eq!(front["history"].as_array().unwrap().len(), 6);
    assert!(
        front["accuracy_oracle"]
            .as_str()
            .unwrap()
            .starts_with("proxy"),
        "the proxy is labelled as such"
    );
    assert_eq!(
        front["presets"].as_array().unwrap().len(),
        3,
        "MoGA-A/B/C placed on the same axes"
    );
    let svg = std::fs::read_to_string(s.path("front.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("MoGA-A"),
        "the plot marks the presets"
    );
    s.moga(&[
        "search",
        "--space",
        "moga",
        "--lut",
        &lut,
        "--population",
        "8",
        "--generations",
        "2",
        "-o",
        "f2.json",
        "--plot",
        "front.png",
    ])
    .ok();
    assert_eq!(&std::fs::read(s.path("front.png")).unwrap()[1..4], b"PNG");
    let problem: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("problem.json")).unwrap()).unwrap();
    assert_eq!(problem["latency_ms"].as_array().unwrap().len(), 14);
}

#[test]
fn search_errors_are_one_clear_line() {
    let s = Scratch::new("search-errors");
    let lut = lut();
    let cases: [(&[&str], &str); 10] = [
        (
            &["--objectives", "acc:max,speed:min"],
            "unknown objective 'speed'",
        ),
        (
            &["--algorithm", "exact"],
            "sums over layers (lat, params, madds); accuracy is not",
        ),
        (
            &["--epsilon", "0.1"],
            "--epsilon applies to --algorithm exact or --seed-exact",
        ),
        (&["--accuracy", "supernet:ckpt"], "moga train"),
        (
            &["--weights", "1,2"],
            "--weights has 2 values for 3 objectives",
        ),
        (&["--space", "fairnas"], "unit(s) missing"),
        // The other task's flags are refused, not ignored (before libtorch starts).
        (
            &["--min-psnr", "30"],
            "--min-psnr does not apply to the moga space: it is a super-resolution constraint",
        ),
        (
            &["--space", "moremnas", "--budget-ms", "5"],
            "--budget-ms does not apply to the moremnas space: it is a classification constraint",
        ),
        (
            &["--space", "falsr", "--seed-exact"],
            "--seed-exact does not apply to the falsr space",
        ),
        (&["--roulette-mutation", "0.5"], "FALSR's hybrid mutation"),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "search",
            "--lut",
            &lut,
            "-o",
            "f.json",
            "--population",
            "4",
            "--generations",
            "1",
        ];
        if !extra.contains(&"--space") {
            args.extend(["--space", "moga"]);
        }
        args.extend(extra);
        let r = s.moga(&args);
        assert!(!r.output.status.success(), "{args:?}");
        assert!(r.stderr().contains(want), "want '{want}': {}", r.stderr());
    }
}

#[test]
fn the_exact_front_and_the_gap_of_a_heuristic_run() {
    let s = Scratch::new("search-exact");
    let lut = lut();
    let base = [
        "search",
        "--space",
        "moga",
        "--lut",
        lut.as_str(),
        "--objectives",
        "lat:min,params:max",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--algorithm",
        "exact",
        "-o",
        "exact.json",
        "--plot",
        "exact.svg",
        "--json",
    ]);
    let v = s.moga(&args).json();
    let points = v["exact"]["points"].as_u64().unwrap();
    assert!(points > 10, "{v}");
    assert_eq!(v["front"].as_array().unwrap().len() as u64, points);
    assert!(v["exact"]["peak_bytes"].as_u64().unwrap() > 0);
    assert!(
        std::fs::read_to_string(s.path("exact.svg"))
            .unwrap()
            .contains("<svg")
    );
    // The ε-grid keeps fewer points; a heuristic run reports its share of the exact
    // front's hypervolume, in JSON and in words.
    let mut args = base.to_vec();
    args.extend([
        "--algorithm",
        "exact",
        "--epsilon",
        "0.05",
        "-o",
        "grid.json",
        "--json",
    ]);
    let g = s.moga(&args).json();
    assert!(g["exact"]["points"].as_u64().unwrap() < points, "{g}");
    let mut args = base.to_vec();
    args.extend([
        "--population",
        "16",
        "--generations",
        "5",
        "--archive-share",
        "0.5",
        "-o",
        "nsga2.json",
        "--json",
    ]);
    let h = s.moga(&args).json();
    let share = h["optimality"]["hypervolume_share"].as_f64().unwrap();
    assert!(share > 0.5 && share <= 1.0 + 1e-12, "{h}");
    assert_eq!(h["optimality"]["exact_points"].as_u64(), Some(points));
    let mut args = base.to_vec();
    args.extend([
        "--population",
        "16",
        "--generations",
        "5",
        "-o",
        "words.json",
    ]);
    let text = s.moga(&args).stdout();
    assert!(
        text.contains("% of the exact front's hypervolume"),
        "{text}"
    );
}

/// Issue 30: the best-measured configuration is the default (NSGA-II with three
/// quarters of its children from the elite archive); plain NSGA-II is one flag away,
/// and MoGA's and MoreMNAS's variants keep their published form.
#[test]
fn the_default_search_breeds_from_the_elite_archive() {
    let s = Scratch::new("search-default");
    let lut = lut();
    let share = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--space",
            "moga",
            "--lut",
            lut.as_str(),
            "--population",
            "8",
            "--generations",
            "2",
            "-o",
            "f.json",
            "--json",
        ];
        args.extend(extra);
        s.moga(&args).ok();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(s.path("f.json")).unwrap()).unwrap();
        v["settings"]["archive_share"].as_f64().unwrap()
    };
    assert_eq!(share(&[]), 0.75);
    assert_eq!(share(&["--archive-share", "0"]), 0.0);
    assert_eq!(share(&["--algorithm", "moga"]), 0.0);
    assert_eq!(share(&["--rl-mutation"]), 0.0);
    let e = s
        .moga(&[
            "search",
            "--space",
            "moga",
            "--lut",
            lut.as_str(),
            "--archive-share",
            "1.5",
            "-o",
            "f.json",
        ])
        .fails_with_one_line();
    assert!(e.contains("--archive-share must be within 0..=1"), "{e}");
}
