//! End-to-end tests of `moga lut check|show|merge|predict` on tables written through the
//! lookup-tables API. The rows are test data (medians derived from the unit's size), not
//! measurements: these tests are about the file format and the commands.

mod common;

use common::Scratch;
use lookup_tables::lut::{BackendInfo, DeviceInfo, LatencyStats};
use lookup_tables::{Lut, LutMeta, LutRow, Outcome, Space, SpaceId};

fn table(space: SpaceId, serial: &str, keep: impl Fn(usize) -> bool) -> Lut {
    let mut lut = Lut::new(LutMeta {
        spaces: vec![space],
        device: DeviceInfo {
            model: "Test Phone".into(),
            soc: "testsoc".into(),
            serials: vec![serial.into()],
            ..DeviceInfo::default()
        },
        backend: BackendInfo {
            name: "ort".into(),
            version: "1.31.1".into(),
            ..BackendInfo::default()
        },
        ..LutMeta::default()
    });
    for (i, key) in Space::new(space)
        .unit_list()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
    {
        let m = 0.1 + f64::from(key.cout) / 1000.0;
        lut.insert(LutRow {
            key,
            outcome: Outcome::Ok(LatencyStats {
                median_ms: m,
                p10_ms: m * 0.95,
                p90_ms: m * 1.1,
                mean_ms: m,
                std_ms: 0.01,
                runs: 30,
                gpu_median_ms: None,
            }),
            serial: serial.into(),
            measured_unix_s: 1_800_000_000 + i as u64,
        })
        .unwrap();
    }
    lut
}

#[test]
fn check_accepts_a_complete_table_and_reports_coverage() {
    let s = Scratch::new("lut-check");
    table(SpaceId::Moga, "A1", |_| true)
        .write(&s.path("moga.csv"))
        .unwrap();
    let v = s
        .moga(&["lut", "check", "moga.csv", "--space", "moga", "--json"])
        .json();
    assert_eq!(v["complete"], true);
    assert_eq!(v["summary"]["rows"], 125);
    let human = s
        .moga(&["lut", "check", "moga.csv", "--space", "moga"])
        .ok();
    assert!(
        human.contains("space moga: complete (125 units)"),
        "{human}"
    );

    let r = s.moga(&["lut", "check", "moga.csv", "--space", "fairnas", "--json"]);
    assert_eq!(r.code(), 1, "an incomplete table fails the check");
    let v: serde_json::Value = serde_json::from_str(r.stdout().trim()).unwrap();
    // Every fairnas unit but the classifier (fc 1280→1000, the same in both spaces).
    assert_eq!(v["coverage"][0]["missing"].as_array().unwrap().len(), 69);
}

#[test]
fn check_names_the_line_of_a_corrupted_table() {
    let s = Scratch::new("lut-corrupt");
    let path = s.path("t.csv");
    table(SpaceId::Fairnas, "A1", |_| true)
        .write(&path)
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let mut bad = lines.clone();
    let row = bad[9].replacen(",ok,", ",ok,-0.5", 1);
    bad[9] = &row;
    std::fs::write(&path, bad.join("\n") + "\n").unwrap();
    let err = s.moga(&["lut", "check", "t.csv"]).fails_with_one_line();
    assert!(err.contains("t.csv: line 10, field 'median_ms'"), "{err}");

    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = s.moga(&["lut", "check", "t.csv"]).fails_with_one_line();
    assert!(
        err.contains("t.csv: line") && err.contains("truncated"),
        "{err}"
    );

    let mut dup = lines.clone();
    dup.insert(20, lines[12]);
    let n = dup.len();
    dup[n - 1] = "# end: 71 rows";
    std::fs::write(&path, dup.join("\n") + "\n").unwrap();
    let err = s.moga(&["lut", "check", "t.csv"]).fails_with_one_line();
    assert!(
        err.contains("line 21: repeats the unit of line 13"),
        "{err}"
    );

    let err = s
        .moga(&["lut", "check", "missing.csv"])
        .fails_with_one_line();
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn merge_joins_shards_and_refuses_other_devices() {
    let s = Scratch::new("lut-merge");
    table(SpaceId::Scarlet, "A1", |i| i % 2 == 0)
        .write(&s.path("a.csv"))
        .unwrap();
    table(SpaceId::Scarlet, "B2", |i| i % 2 == 1)
        .write(&s.path("b.csv"))
        .unwrap();
    let v = s
        .moga(&["lut", "merge", "a.csv", "b.csv", "-o", "ab.csv", "--json"])
        .json();
    assert_eq!(v["summary"]["rows"], 136);
    let check = s
        .moga(&["lut", "check", "ab.csv", "--space", "scarlet", "--json"])
        .json();
    assert_eq!(check["complete"], true);
    assert_eq!(
        check["meta"]["device"]["serials"],
        serde_json::json!(["A1", "B2"])
    );

    let err = s
        .moga(&["lut", "merge", "a.csv", "ab.csv", "-o", "x.csv"])
        .fails_with_one_line();
    assert!(err.contains("both tables measured"), "{err}");
    s.moga(&[
        "lut", "merge", "a.csv", "ab.csv", "-o", "x.csv", "--prefer", "last",
    ])
    .ok();

    let mut other = table(SpaceId::Scarlet, "C3", |_| true);
    other.meta.device.model = "Other Phone".into();
    other.write(&s.path("c.csv")).unwrap();
    let err = s
        .moga(&["lut", "merge", "a.csv", "c.csv", "-o", "y.csv"])
        .fails_with_one_line();
    assert!(
        err.contains("device.model differs ('Test Phone' vs 'Other Phone')"),
        "{err}"
    );
    assert!(
        !s.path("y.csv").exists(),
        "nothing is written when the merge fails"
    );
}

#[test]
fn predict_sums_units_or_lists_what_is_missing() {
    let s = Scratch::new("lut-predict");
    table(SpaceId::Moga, "A1", |_| true)
        .write(&s.path("full.csv"))
        .unwrap();
    let v = s
        .moga(&[
            "lut", "predict", "--lut", "full.csv", "MoGA-A", "MoGA-C", "--json",
        ])
        .json_lines();
    assert_eq!(v.len(), 2);
    assert!(v[0]["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(v[0].get("parts").is_none());
    let b = s
        .moga(&[
            "lut",
            "predict",
            "--lut",
            "full.csv",
            "MoGA-B",
            "--breakdown",
            "--json",
        ])
        .json();
    assert_eq!(b["parts"].as_array().unwrap().len(), 19);

    // Units 2..14 are layer 0's twelve choices: every architecture needs one of them.
    table(SpaceId::Moga, "A1", |i| !(2..14).contains(&i))
        .write(&s.path("holes.csv"))
        .unwrap();
    let r = s.moga(&["lut", "predict", "--lut", "holes.csv", "MoGA-A"]);
    assert_ne!(r.code(), 0);
    let err = r.stderr();
    assert!(
        err.contains("1 unit(s) missing:\n  mbconv 112x112 16->24 k5 s2 e6 relu"),
        "{err}"
    );
}

#[test]
fn show_prints_metadata_and_rows() {
    let s = Scratch::new("lut-show");
    table(SpaceId::Fairnas, "A1", |_| true)
        .write(&s.path("t.csv"))
        .unwrap();
    let human = s.moga(&["lut", "show", "t.csv"]).ok();
    assert!(human.contains("70 rows (70 measured, 0 failed)"), "{human}");
    assert!(human.contains("backend: ort 1.31.1"), "{human}");
    let v = s.moga(&["lut", "show", "t.csv", "--json"]).json();
    assert_eq!(v["rows"].as_array().unwrap().len(), 70);
}
