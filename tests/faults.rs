//! Resource faults: each gives one clear message naming the device (and the unit or
//! network where there is one), the run goes on where it can, and the exit code says
//! whether the work is complete.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use common::adb::{AdbServer, Killed, bin, rows_in, start_fixture};
use lookup_tables::Lut;

const QUICK: [&str; 14] = [
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

fn profile_args<'a>(device: &'a str, server: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "profile",
        "--device",
        device,
        "--adb",
        server,
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "-o",
        out,
        "--batch",
        "4",
    ];
    a.extend(QUICK);
    a
}

#[test]
fn a_full_device_disk_is_named_and_nothing_is_written() {
    let s = Scratch::new("faults-disk");
    let server = AdbServer::start(&s.dir);
    let mut child = Command::new(bin("moga-adbd-fixture"))
        .args(["--root", s.path("device").to_str().unwrap(), "--disk-full"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _fixture = Killed(child);
    let device = line.trim().strip_prefix("listening ").unwrap().to_string();
    server.adb(&["connect", &device]);
    let err = s
        .moga(&profile_args(&device, &server.addr(), "lut.csv"))
        .fails_with_one_line();
    assert!(
        err.contains(&device) && err.contains("No space left on device"),
        "{err}"
    );
    assert!(
        !s.path("lut.csv").exists(),
        "no table from a device that measured nothing"
    );
}

#[test]
fn a_wrong_onnx_runtime_is_named_before_anything_is_measured() {
    let s = Scratch::new("faults-ort");
    let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".deps/ort-1.20.1/libonnxruntime.so.1.20.1");
    assert!(old.is_file(), "scripts/setup.sh fetches the old library");
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
        "root",
        "--ort-lib",
        old.to_str().unwrap(),
    ];
    args.extend(QUICK);
    let err = s.moga(&args).fails_with_one_line();
    assert!(
        err.contains("local") && err.contains("1.20.1") && err.contains("too old"),
        "{err}"
    );
    assert!(!s.path("lut.csv").exists());
}

#[test]
fn a_network_beyond_the_gpu_limits_fails_alone() {
    let s = Scratch::new("faults-gpu");
    // At 2048 px the first expansion needs 192 MiB in one binding; lavapipe binds 128.
    let run = s.moga(&[
        "deploy",
        "FairNAS-A",
        "--backend",
        "wgpu",
        "--local-root",
        "root",
        "--resolution",
        "2048",
        "--classes",
        "10",
        "--warmup",
        "0",
        "--min-runs",
        "1",
        "--runs",
        "1",
        "--json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let v: serde_json::Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(v["status"], "failed", "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("binds at most") && e.contains("llvmpipe"), "{e}");
    assert_eq!(v["device"], "local");
}

#[test]
fn an_adb_server_that_goes_away_stops_the_run_cleanly_and_resume_completes() {
    let s = Scratch::new("faults-adb");
    let server = AdbServer::start(&s.dir);
    let (_fixture, device) = start_fixture(&s.path("device"), 0);
    server.adb(&["connect", &device]);
    let addr = server.addr();
    let args = profile_args(&device, &addr, "lut.csv");
    let mut run = Killed(
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(&args)
            .current_dir(&s.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lut = s.path("lut.csv");
    let t = Instant::now();
    while rows_in(&lut) < 8 {
        assert!(t.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.adb(&["kill-server"]);
    let t = Instant::now();
    while run.0.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the profiler hangs without its adb server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = run.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(run.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let table = Lut::read(&lut).expect("the checkpoint is whole");
    let kept = table.rows().len();
    if status.success() {
        // adb_client may restart the server itself and finish; then the table is whole.
        assert_eq!(kept, 70, "{stdout}");
    } else {
        assert!(
            (stderr + &stdout).contains(&device),
            "the message names the device"
        );
        // The server back (the fixture reconnected), a resume measures only the rest.
        let home = s.path("again");
        std::fs::create_dir_all(&home).unwrap();
        let server = AdbServer::start(&home);
        server.adb(&["connect", &device]);
        let addr = server.addr();
        let mut resume = profile_args(&device, &addr, "lut.csv");
        resume.extend(["--resume", "--json"]);
        let v = s.moga(&resume).json();
        assert_eq!(v["missing"], 0, "{v}");
        assert_eq!(v["already_measured"].as_u64().unwrap() as usize, kept);
    }
}

#[test]
fn a_stale_runner_of_the_same_size_is_replaced() {
    let s = Scratch::new("faults-stale-runner");
    let server = AdbServer::start(&s.dir);
    let root = s.path("device");
    let (_fixture, device) = start_fixture(&root, 0);
    server.adb(&["connect", &device]);
    // Another build's runner, as a device keeps it from an earlier run: the same size
    // as this one, other bytes (it would not even start).
    let host = std::fs::read(bin("device-runner")).unwrap();
    let remote = root.join("data/local/tmp/moga/bin/device-runner");
    std::fs::create_dir_all(remote.parent().unwrap()).unwrap();
    let mut stale = host.clone();
    let mid = stale.len() / 2;
    stale[mid..mid + 64].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&remote, &stale).unwrap();
    s.moga(&profile_args(&device, &server.addr(), "lut.csv"))
        .ok();
    assert!(
        std::fs::read(&remote).unwrap() == host,
        "the stale runner was replaced by this build's"
    );
}
