//! Hostile names end to end: work folders, output paths and device ids made of spaces,
//! quotes, `;`, `$()`, backticks, newlines and `..` are only ever names. Nothing they
//! spell is executed on the device (here: this machine, through the same shell layer a
//! phone gets) or the host, and nothing is written outside the chosen folders.

mod common;

use std::path::Path;

use common::Scratch;

/// A name that runs `touch PWNED…` if any layer hands it to a shell unquoted.
const HOSTILE: &str = "we ird 'q' \"dq\" ;touch PWNED1; $(touch PWNED2) `touch PWNED3` \\ \n..";

fn pwned(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            if e.file_name().to_string_lossy().starts_with("PWNED") {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[test]
fn hostile_folders_and_paths_are_only_names() {
    let s = Scratch::new("hostile");
    let root = s.path(&format!("root {HOSTILE}"));
    let out_dir = s.path(&format!("out {HOSTILE}"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let lut = out_dir.join(format!("lut {HOSTILE}.csv"));
    let (root_s, lut_s) = (root.to_str().unwrap(), lut.to_str().unwrap());
    let quick = [
        "--warmup",
        "1",
        "--min-runs",
        "3",
        "--runs",
        "3",
        "--max-seconds",
        "0.1",
        "--precision",
        "0",
        "--resolution",
        "32",
        "--classes",
        "10",
    ];
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "-o",
        lut_s,
        "--local-root",
        root_s,
        "--json",
    ];
    args.extend(quick);
    let v = s.moga(&args).json();
    assert_eq!(v["missing"], 0, "{v}");
    assert!(lut.is_file(), "the table is where it was asked to be");

    // Deployed with its models kept in a hostile folder, through the same shell layer.
    let keep = out_dir.join(format!("models {HOSTILE}"));
    let mut args = vec![
        "deploy",
        "FairNAS-A",
        "--lut",
        lut_s,
        "--local-root",
        root_s,
        "--keep",
        keep.to_str().unwrap(),
        "--json",
    ];
    args.extend(quick);
    let d = s.moga(&args).json();
    assert_eq!(d["status"], "ok", "{d}");
    assert!(keep.read_dir().unwrap().count() == 1);

    // A hostile device id is refused by name, and runs nothing.
    for id in [
        HOSTILE,
        "$(touch PWNED4)",
        "`touch PWNED5`",
        "a;touch PWNED6",
    ] {
        let run = s.moga(&[
            "deploy",
            "FairNAS-A",
            "--device",
            id,
            "--backend",
            "ort",
            "--local-root",
            root_s,
        ]);
        assert_ne!(run.code(), 0, "{id}");
        assert!(run.stderr().starts_with("moga: "), "{}", run.stderr());
    }

    // Nothing ran, and everything written is inside the scratch folder's chosen places.
    assert_eq!(pwned(&s.dir), Vec::<String>::new());
    let tmp_top: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("PWNED"))
        .collect();
    assert_eq!(tmp_top, Vec::<String>::new());
    let mut top: Vec<String> = std::fs::read_dir(&s.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [format!("out {HOSTILE}"), format!("root {HOSTILE}")],
        "only the chosen folders"
    );
}
