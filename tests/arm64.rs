//! An arm64 device end to end, on an x86_64 host: the adbd fixture presents itself as an
//! `arm64-v8a` device and runs what it is given under `qemu-aarch64` with Debian's arm64
//! userland (lavapipe for arm64 included), refusing x86_64 programs as a phone would.
//! So the profiler must push the aarch64 runner (`scripts/build-runner.sh
//! aarch64-unknown-linux-gnu`, which scripts/test.sh runs first) and the aarch64 ONNX
//! Runtime library (`scripts/setup.sh`), through the real adb server.

mod common;

use std::path::{Path, PathBuf};

use common::Scratch;
use common::adb::{AdbServer, bin, start_fixture_as};
use device_runner::onnx::{self, Tensor};
use lookup_tables::Lut;

const QUICK: [&str; 14] = [
    "--warmup",
    "1",
    "--min-runs",
    "3",
    "--runs",
    "3",
    "--max-seconds",
    "0.2",
    "--precision",
    "0",
    "--resolution",
    "32",
    "--classes",
    "10",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The aarch64 runner, which must exist (an arm64 test without it proves nothing).
fn arm64_runner() -> PathBuf {
    let p = repo().join("target/aarch64-unknown-linux-gnu/release/device-runner");
    assert!(
        p.is_file(),
        "{} is missing: scripts/build-runner.sh aarch64-unknown-linux-gnu (scripts/test.sh runs it)",
        p.display()
    );
    p
}

fn start_arm64(root: &Path) -> (common::adb::Killed, String) {
    start_arm64_on(root, 0)
}

fn start_arm64_on(root: &Path, port: u16) -> (common::adb::Killed, String) {
    start_fixture_as(
        root,
        port,
        &[
            "--abi",
            "arm64-v8a",
            "--model",
            "Moga Arm64",
            "--soc",
            "fixture-a64",
        ],
    )
}

/// `adb -s DEVICE shell CMD` through the test's server: (exit status, stdout + stderr).
fn shell(server: &AdbServer, device: &str, cmd: &str) -> (i32, String) {
    let out = server.adb(&["-s", device, "shell", cmd]);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn an_arm64_device_gets_the_aarch64_runner_and_profiles() {
    let runner = arm64_runner();
    let s = Scratch::new("arm64-e2e");
    let server = AdbServer::start(&s.dir);
    let addr = server.addr();
    let (_fixture, device) = start_arm64(&s.path("device"));
    let listed = s
        .moga(&["devices", "--adb", &addr, "--connect", &device, "--json"])
        .json_lines();
    let me = listed
        .iter()
        .find(|d| d["id"] == device.as_str())
        .unwrap_or_else(|| panic!("not listed: {listed:?}"));
    assert_eq!(
        (me["abi"].as_str(), me["model"].as_str()),
        (Some("arm64-v8a"), Some("Moga Arm64")),
        "{me}"
    );

    // The host's runner does not run there, as on a phone.
    let pushed = server.adb(&[
        "-s",
        &device,
        "push",
        bin("device-runner").to_str().unwrap(),
        "/data/local/tmp/host-runner",
    ]);
    assert!(pushed.status.success(), "{pushed:?}");
    let (code, text) = shell(
        &server,
        &device,
        "chmod 755 /data/local/tmp/host-runner && /data/local/tmp/host-runner info",
    );
    assert!(
        code == 126 && text.contains("not executable"),
        "{code}: {text}"
    );

    // ONNX Runtime's ARM kernels: a whole table for the fairnas space at 32 px.
    let mut args = vec![
        "profile",
        "--device",
        &device,
        "--adb",
        &addr,
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "-o",
        "ort.csv",
        "--json",
    ];
    args.extend(QUICK);
    let v = s.moga(&args).json();
    assert_eq!(v["missing"], 0, "{v}");
    let lut = Lut::read(&s.path("ort.csv")).unwrap();
    assert_eq!(
        (lut.meta.device.abi.as_str(), lut.meta.device.model.as_str()),
        ("arm64-v8a", "Moga Arm64")
    );
    assert!(lut.rows().iter().all(|r| r.stats().is_some()));

    // What was pushed is the aarch64 build, byte for byte, and it reports aarch64 and
    // the arm64 lavapipe.
    let remote = s.path("device/data/local/tmp/moga/bin/device-runner");
    assert!(std::fs::read(&remote).unwrap() == std::fs::read(&runner).unwrap());
    let (code, info) = shell(
        &server,
        &device,
        "/data/local/tmp/moga/bin/device-runner info",
    );
    assert!(
        code == 0 && info.contains("aarch64") && info.contains("llvmpipe"),
        "{code}: {info}"
    );

    // The GPU path: Vulkan compute on arm64 lavapipe. Every shader is compiled by LLVM
    // under emulation (about a minute per network), so a handful of units: the stem,
    // the head and the classifier (scripts/bench/arm64-e2e.sh profiles whole spaces).
    let mut args = vec![
        "profile",
        "--device",
        &device,
        "--adb",
        &addr,
        "--backend",
        "wgpu",
        "--space",
        "fairnas",
        "-o",
        "wgpu.csv",
        "--json",
        "--only",
        "stem*",
        "--only",
        "head*",
        "--only",
        "fc*",
    ];
    args.extend(QUICK);
    let v = s.moga(&args).json();
    assert_eq!(
        (v["units"].as_u64(), v["missing"].as_u64()),
        (Some(3), Some(0)),
        "{v}"
    );
    let lut = Lut::read(&s.path("wgpu.csv")).unwrap();
    assert!(
        lut.meta.backend.options["adapter"].contains("llvmpipe"),
        "{:?}",
        lut.meta.backend
    );
    assert_eq!(lut.rows().iter().filter(|r| r.stats().is_some()).count(), 3);

    // A deployment there: FairNAS-A measured whole on the device beside what its table
    // predicts, and the same file's outputs on the device (ONNX Runtime's ARM kernels,
    // under emulation) agree with the host's run (its x86 kernels).
    let mut args = vec![
        "deploy",
        "FairNAS-A",
        "--lut",
        "ort.csv",
        "--device",
        &device,
        "--adb",
        &addr,
        "--keep",
        "models",
        "--json",
    ];
    args.extend(QUICK);
    let d = s.moga(&args).json();
    assert_eq!(d["status"], "ok", "{d}");
    let model = std::fs::read_dir(s.path("models"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "onnx"))
        .expect("--keep keeps the deployed model");
    let x = Tensor::f32(
        vec![1, 3, 32, 32],
        (0..3 * 32 * 32)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect(),
    );
    let input = s.path("input.pb");
    onnx::write_tensor(&input, "input", &x).unwrap();
    let host_out = s.path("host-out");
    let host = std::process::Command::new(bin("device-runner"))
        .args(["exec", "--backend", "ort", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--output-dir")
        .arg(&host_out)
        .output()
        .unwrap();
    assert!(host.status.success(), "{host:?}");
    for (local, remote) in [
        (&model, "/data/local/tmp/e2e.onnx"),
        (&input, "/data/local/tmp/e2e-in.pb"),
    ] {
        let r = server.adb(&["-s", &device, "push", local.to_str().unwrap(), remote]);
        assert!(r.status.success(), "{r:?}");
    }
    let (code, text) = shell(
        &server,
        &device,
        "/data/local/tmp/moga/bin/device-runner exec --backend ort --ort-lib /data/local/tmp/moga/bin/libonnxruntime.so --model /data/local/tmp/e2e.onnx --input /data/local/tmp/e2e-in.pb --output-dir /data/local/tmp/e2e-out",
    );
    assert_eq!(code, 0, "{text}");
    let on_device =
        onnx::read_tensor(&s.path("device/data/local/tmp/e2e-out/output_0.pb")).unwrap();
    let on_host = onnx::read_tensor(&host_out.join("output_0.pb")).unwrap();
    let (a, b) = (on_device.as_f32().unwrap(), on_host.as_f32().unwrap());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(
        on_device.shape == on_host.shape && diff <= 1e-4 * scale,
        "arm64 vs host: {diff} of {scale}"
    );
}

/// A mixed farm in one command: an x86_64 device and an arm64 one (different models)
/// give two tables, nothing mixed; the arm64 device lost mid-run and back, `--resume`
/// completes its table with every unit once.
#[test]
fn a_mixed_farm_keeps_its_tables_apart_and_resumes() {
    arm64_runner();
    let s = Scratch::new("arm64-farm");
    let server = AdbServer::start(&s.dir);
    let addr = server.addr();
    let (_x86, x86) = start_fixture_as(&s.path("x86"), 0, &["--model", "Moga X86"]);
    let (arm, a64) = start_arm64(&s.path("arm"));
    let port: u16 = a64.rsplit(':').next().unwrap().parse().unwrap();
    for d in [&x86, &a64] {
        server.adb(&["connect", d]);
    }
    let mut args: Vec<String> = [
        "profile",
        "--device",
        &x86,
        "--device",
        &a64,
        "--adb",
        &addr,
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "--method",
        "isolated",
        "--batch",
        "4",
        "-o",
        "farm",
        "--json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(QUICK.iter().map(|a| a.to_string()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(&args)
        .current_dir(&s.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let arm_table = s.path("farm/moga-arm64-ort.csv");
    let x86_table = s.path("farm/moga-x86-ort.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while common::adb::rows_in(&arm_table) < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "the arm64 device made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(arm);
    let out = run.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "losing a device fails the run: {text}"
    );
    assert!(
        text.contains(&a64),
        "the message names the lost device: {text}"
    );
    let total = Lut::read(&x86_table).unwrap().rows().len();
    assert_eq!(total, 70, "the x86_64 device finished its table");
    let kept = Lut::read(&arm_table)
        .expect("a whole checkpoint")
        .rows()
        .len();
    assert!((8..total).contains(&kept), "{kept} rows kept");

    // The arm64 device back on its address; the same command with --resume.
    let (_arm, again) = start_arm64_on(&s.path("arm"), port);
    assert_eq!(again, a64);
    server.adb(&["disconnect", &a64]);
    server.adb(&["connect", &a64]);
    args.push("--resume".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = s.moga(&refs).json_lines();
    assert!(!v.is_empty());
    for (table, model, abi) in [
        (&arm_table, "Moga Arm64", "arm64-v8a"),
        (&x86_table, "Moga X86", "x86_64"),
    ] {
        let lut = Lut::read(table).expect("strict read: every unit once");
        assert_eq!(lut.rows().len(), total, "{}", table.display());
        assert!(lut.rows().iter().all(|r| r.stats().is_some()));
        assert_eq!(
            (lut.meta.device.model.as_str(), lut.meta.device.abi.as_str()),
            (model, abi)
        );
    }
}
