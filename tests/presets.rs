//! The nine published models through the real binary: `moga arch stats --json` must
//! agree part by part with the independent count in tests/golden/presets.json (made by
//! generate_presets.py beside it) and within 2% with the published figures
//! (tests/golden/published.csv, a copy of ../shared/reference/published.csv).

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn golden() -> Vec<Value> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/presets.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn stats_match_the_independent_count_part_by_part() {
    for g in golden() {
        let name = g["name"].as_str().unwrap();
        let got = common::moga(&["arch", "stats", name, "--json"]).json();
        assert_eq!(got["preset"], g["name"]);
        assert_eq!(got["madds"], g["madds"], "{name} madds");
        assert_eq!(got["params"], g["params"], "{name} params");
        let parts = got["parts"].as_array().unwrap();
        let want = g["parts"].as_array().unwrap();
        assert_eq!(parts.len(), want.len(), "{name}");
        for (p, w) in parts.iter().zip(want) {
            assert_eq!(
                (&p["name"], &p["madds"], &p["params"]),
                (&w["name"], &w["madds"], &w["params"]),
                "{name}"
            );
        }
    }
}

#[test]
fn every_preset_is_within_two_percent_of_the_published_figures() {
    let csv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/published.csv"),
    )
    .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut checked = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (name, madds_m, params_m) = (f[col("model")], f[col("madds_m")], f[col("params_m")]);
        let got = common::moga(&["arch", "stats", name, "--json"]).json();
        let madds = got["madds"].as_f64().unwrap() / 1e6;
        let params = got["params"].as_f64().unwrap() / 1e6;
        let (pm, pp): (f64, f64) = (madds_m.parse().unwrap(), params_m.parse().unwrap());
        assert!(
            (madds - pm).abs() / pm <= 0.02,
            "{name}: {madds:.2} M MAdds vs published {pm}"
        );
        assert!(
            (params - pp).abs() / pp <= 0.02,
            "{name}: {params:.3} M params vs published {pp}"
        );
        checked += 1;
    }
    assert_eq!(checked, 9);
}

/// The golden file is what its script prints: editing one without the other fails here.
#[test]
fn golden_file_has_not_drifted_from_its_script() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let out = Command::new("python3")
        .arg(dir.join("generate_presets.py"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fresh, Value::Array(golden()));
}

/// The super-resolution presets (`lookup-tables/src/sr.rs`) against the published
/// figures (tests/golden/published-sr.csv, a copy of ../shared/reference/published-sr.csv):
/// multiply-adds at a 480×480 low-resolution input and parameters within 2%, except
/// FALSR-C, whose released graph recounts 4.5% above both published figures
/// (docs/sr-released-graphs.md §5): that discrepancy is asserted as documented, not hidden.
/// MoreMNAS-A and -B are not presets: their graphs are missing from the authors' repository.
#[test]
fn super_resolution_presets_match_the_published_figures() {
    let csv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/published-sr.csv"),
    )
    .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut checked = vec![];
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let name = f[col("model")];
        let (Ok(pm), Ok(pp)) = (
            f[col("madds_g_at_480x480")].parse::<f64>(),
            f[col("params_k")].parse::<f64>(),
        ) else {
            continue; // bicubic
        };
        if name == "MoreMNAS-A" || name == "MoreMNAS-B" {
            let r = common::moga(&["arch", "stats", name]);
            assert_ne!(r.code(), 0, "{name} has no released graph: not a preset");
            continue;
        }
        let got = common::moga(&["arch", "stats", name, "--json"]).json();
        assert_eq!(got["preset"], name);
        let madds = got["madds"].as_f64().unwrap() / 1e9;
        let params = got["params"].as_f64().unwrap() / 1e3;
        let (dm, dp) = ((madds - pm) / pm, (params - pp) / pp);
        if name == "FALSR-C" {
            assert!((0.040..0.050).contains(&dm), "{name}: {madds:.2} G vs {pm}");
            assert!(
                (0.040..0.050).contains(&dp),
                "{name}: {params:.1} K vs {pp}"
            );
        } else {
            assert!(
                dm.abs() <= 0.02,
                "{name}: {madds:.2} G MAdds vs published {pm}"
            );
            assert!(
                dp.abs() <= 0.02,
                "{name}: {params:.1} K params vs published {pp}"
            );
        }
        checked.push(name);
    }
    assert_eq!(
        checked,
        ["FALSR-A", "FALSR-B", "FALSR-C", "MoreMNAS-C", "MoreMNAS-D"]
    );
}
