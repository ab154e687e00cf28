//! The scripts hold together without being run for their figures (they take minutes to
//! hours): every bench under `scripts/bench/` parses its arguments through the one
//! shared helper (`--help` prints its header, an unknown argument is one line naming
//! it), every script that `scripts/README.md` or the docs name exists, and the versions
//! of ONNX Runtime, onnx and torch are written in `scripts/setup.sh` alone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn benches() -> Vec<PathBuf> {
    files(&root().join("scripts/bench"), "sh")
        .into_iter()
        .filter(|p| !p.ends_with("lib.sh"))
        .collect()
}

#[test]
fn every_bench_parses_its_arguments_through_the_shared_helper() {
    let benches = benches();
    assert!(benches.len() >= 10, "{benches:?}");
    for b in &benches {
        let text = std::fs::read_to_string(b).unwrap();
        let name = b.strip_prefix(root()).unwrap().display().to_string();
        assert!(
            text.contains(". \"$(dirname \"$0\")/lib.sh\"") && text.contains("parse \"$@\""),
            "{name} does not use scripts/bench/lib.sh"
        );
        assert!(
            !text.contains("while [ $# -gt 0 ]"),
            "{name} parses on its own"
        );
        // From another folder: the helper changes to the repository root first.
        let help = Command::new(b)
            .arg("--help")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{name} --help");
        assert!(
            out.contains(&format!("{name} ")) || out.contains(&format!("{name}\n")),
            "{name} --help shows its usage line:\n{out}"
        );
        let bad = Command::new(b).arg("--no-such-option").output().unwrap();
        let err = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(2), "{name}: {err}");
        assert_eq!(
            err.trim(),
            format!("{name}: unknown argument '--no-such-option' (--help lists the options)")
        );
    }
}

#[test]
fn versions_are_pinned_in_setup_alone() {
    let setup = std::fs::read_to_string(root().join("scripts/setup.sh")).unwrap();
    let mut pinned = Vec::new();
    for name in ["ORT", "ONNX", "TORCH"] {
        let line = setup
            .lines()
            .find(|l| l.starts_with(&format!("{name}_VERSION=")))
            .unwrap_or_else(|| panic!("scripts/setup.sh pins {name}_VERSION"));
        pinned.push(line.split('=').nth(1).unwrap().to_string());
    }
    let (ort, torch) = (&pinned[0], &pinned[2]);
    let mut scripts = files(&root().join("scripts"), "sh");
    scripts.extend(files(&root().join("scripts"), "py"));
    scripts.extend(files(&root().join("scripts/bench"), "sh"));
    scripts.extend(files(&root().join("scripts/bench"), "py"));
    for s in scripts.iter().filter(|p| !p.ends_with("setup.sh")) {
        let text = std::fs::read_to_string(s).unwrap();
        for pin in [
            format!("onnxruntime=={ort}"),
            format!("torch=={torch}"),
            "onnx==1.".to_string(),
        ] {
            assert!(
                !text.contains(&pin),
                "{} pins {pin}: read it from scripts/setup.sh (scripts/bench/lib.sh: setup_version)",
                s.display()
            );
        }
    }
}

/// Every `scripts/…` path the README, the docs and scripts/README.md name exists.
#[test]
fn every_script_named_in_the_docs_exists() {
    let mut pages = vec![root().join("README.md"), root().join("scripts/README.md")];
    for d in ["docs", "docs/guide"] {
        pages.extend(files(&root().join(d), "md"));
    }
    let mut named = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let base = if page.ends_with("scripts/README.md") {
            root().join("scripts")
        } else {
            root()
        };
        let mut rest = text.as_str();
        while let Some(i) = rest.find(['`', ' ', '(', '[']) {
            rest = &rest[i + 1..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/_-.".contains(*c))
                .collect();
            let word = word.trim_end_matches('.');
            let script = word.ends_with(".sh") || word.ends_with(".py");
            let is_path = word.starts_with("scripts/") || (base != root() && script);
            if script && is_path {
                let p = if word.starts_with("scripts/") {
                    root().join(word)
                } else {
                    base.join(word)
                };
                assert!(
                    p.is_file(),
                    "{} names {word}, which is not there",
                    page.display()
                );
                named += 1;
            }
        }
    }
    assert!(named > 20, "{named}");
}
