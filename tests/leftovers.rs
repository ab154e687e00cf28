//! Issue 30: no temporary folder outlives its run. The profiler's staging folders
//! (`moga-context-*`, `moga-validate-*`, …), deployment's models and the runner's
//! per-node profiles (`moga-ort-profile-*`) are removed when the run ends, when it
//! fails, and when it is interrupted (SIGINT to the whole process group, as a terminal's
//! Ctrl-C sends it). Each run gets a temporary folder of its own (TMPDIR), so the
//! count is exact however many tests run beside it.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::adb::{Killed, bin};
use common::{QUICK, Scratch};

/// moga's temporary folders in `tmp`.
fn ours(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("moga-"))
                .collect()
        })
        .unwrap_or_default()
}

fn profile_args(root: &Path) -> Vec<String> {
    let mut a = common::profile_args("local", "fairnas", "lut.csv");
    a.extend(
        [
            "--method",
            "context",
            "--local-root",
            root.to_str().unwrap(),
        ]
        .map(String::from),
    );
    a.extend(QUICK.iter().map(|s| s.to_string()));
    a
}

#[test]
fn runs_leave_no_temporary_folders_on_success_error_or_interrupt() {
    let s = Scratch::new("leftovers");
    let tmp = s.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let root = s.path("root");
    let moga = |args: &[String]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_moga"));
        c.args(args)
            .current_dir(&s.dir)
            .env("TMPDIR", &tmp)
            .env_remove("RUST_LOG");
        c
    };

    // An error after the staging folder is made: a library that is not ONNX Runtime.
    let mut args = profile_args(&root);
    args.extend(["--ort-lib".into(), "/etc/hostname".into()]);
    let out = moga(&args).output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(ours(&tmp), Vec::<String>::new(), "left after an error");

    // The runner failing after its per-node folder is made.
    let out = Command::new(bin("device-runner"))
        .args([
            "bench",
            "--backend",
            "ort",
            "--per-node",
            "--model",
            "none.onnx",
        ])
        .args(["--ort-lib", "/etc/hostname"])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        ours(&tmp),
        Vec::<String>::new(),
        "left by the runner's error"
    );

    // Interrupted mid-run, profiler and runner alike.
    let mut run = Killed(
        moga(&profile_args(&root))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let names = ours(&tmp);
        if names.iter().any(|n| n.starts_with("moga-context-"))
            && names.iter().any(|n| n.starts_with("moga-ort-profile-"))
        {
            break;
        }
        assert!(
            run.0.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "no temporary folders appeared: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", run.0.id());
    let killed = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = run.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "an interrupted moga exits with 130"
    );
    // The runner ends on its own signal; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ours(&tmp).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ours(&tmp), Vec::<String>::new(), "left after an interrupt");

    // A whole run (resumed to completion), then a deployment: nothing left either.
    let mut args = profile_args(&root);
    args.push("--resume".into());
    let out = moga(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args: Vec<String> = ["deploy", "FairNAS-A", "--lut", "lut.csv", "--local-root"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(root.to_str().unwrap().into());
    args.extend(
        [
            "--resolution",
            "32",
            "--classes",
            "10",
            "--invocations",
            "1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.extend(QUICK.iter().map(|s| s.to_string()));
    let out = moga(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ours(&tmp), Vec::<String>::new(), "left after a whole run");
}
