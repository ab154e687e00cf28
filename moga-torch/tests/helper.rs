//! The libtorch helper on its own: it reports libtorch for `moga doctor`, and it refuses
//! to run for a `moga` built from other sources (a stale helper would read today's
//! command line differently). What it runs for `moga` is tested through `moga` itself
//! (the root package's tests/train.rs, tests/sr.rs, tests/deploy.rs).

use std::process::Command;

#[test]
fn the_helper_reports_a_working_libtorch() {
    let out = Command::new(env!("CARGO_BIN_EXE_moga-torch"))
        .args(["doctor", "--libtorch-only"])
        .env_remove("MOGA_CLI_FINGERPRINT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["compute_ok"], true, "{v}");
    assert!(v["threads"].as_i64().is_some_and(|t| t >= 1), "{v}");
    assert_ne!(v["version"], "unknown", "{v}");
}

#[test]
fn a_helper_from_other_sources_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_moga-torch"))
        .args(["eval", "--ckpt", "nowhere", "FairNAS-A"])
        .env("MOGA_CLI_FINGERPRINT", "0.0.0-0000000000000000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("built from other sources"), "{err}");
}
