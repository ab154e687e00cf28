//! Profiling end to end, without a phone: `moga profile` on this machine with both
//! backends, and through the real adb server to the adbd fixture (a device that runs
//! commands on this host and reports ABI x86_64), which is killed mid-run, restarted
//! and resumed; the table ends complete with every unit once. A device that goes away
//! and comes back (adb reports it `offline` meanwhile) is waited for, at the start of a
//! resume and in the middle of a run.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use common::adb::{AdbServer, rows_in, start_fixture, start_fixture_as};
use lookup_tables::{Lut, Space, SpaceId, SpaceOptions};
use profiler::context;

const QUICK: [&str; 10] = [
    "--warmup",
    "1",
    "--min-runs",
    "3",
    "--runs",
    "5",
    "--max-seconds",
    "0.3",
    "--precision",
    "0",
];

fn units(space: SpaceId, resolution: u32) -> usize {
    Space::with_options(
        space,
        SpaceOptions {
            resolution,
            classes: 10,
        },
    )
    .unwrap()
    .unit_list()
    .len()
}

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn local_profiles_with_both_backends() {
    let s = Scratch::new("profile-local");
    let root = s.path("root");
    for backend in ["ort", "wgpu"] {
        let out = format!("{backend}.csv");
        let mut args = vec![
            "profile",
            "--device",
            "local",
            "--backend",
            backend,
            "--space",
            "fairnas",
            "--resolution",
            "32",
            "--classes",
            "10",
            "-o",
            &out,
            "--local-root",
            root.to_str().unwrap(),
            "--json",
        ];
        args.extend(QUICK);
        if backend == "wgpu" {
            // Measured under a phone's limits, which the table records.
            args.extend(["--limits", "mali-bifrost"]);
        }
        let v = s.moga(&args).json();
        assert_eq!(v["units"], units(SpaceId::Fairnas, 32), "{v}");
        assert_eq!(v["missing"], 0, "{v}");
        let check = s
            .moga(&[
                "lut",
                "check",
                &out,
                "--space",
                "fairnas",
                "--resolution",
                "32",
                "--classes",
                "10",
                "--json",
            ])
            .json();
        assert_eq!(check["complete"], true, "{check}");
        assert_eq!(check["meta"]["backend"]["name"], backend);
        if backend == "wgpu" {
            assert_eq!(
                check["meta"]["backend"]["options"]["limits"],
                "mali-bifrost"
            );
        }
        assert_eq!(
            check["meta"]["device"]["serials"],
            serde_json::json!(["local"])
        );
    }
    // On GLES (phones without Vulkan compute): the table says so, and deploys there.
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "wgpu",
        "--api",
        "gles",
        "--space",
        "fairnas",
        "--resolution",
        "32",
        "--classes",
        "10",
        "--only",
        "fc*",
        "-o",
        "gles.csv",
        "--local-root",
        root.to_str().unwrap(),
        "--json",
    ];
    args.extend(QUICK);
    let v = s.moga(&args).json();
    assert_eq!(
        (v["measured"].as_u64(), v["missing"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    let gles = Lut::read(&s.path("gles.csv")).unwrap();
    assert_eq!(
        gles.meta.backend.options["wgpu_backend"], "gl",
        "{:?}",
        gles.meta.backend
    );
    // By default units are measured in context, against the space's reference network;
    // on lavapipe with GPU timestamps (per dispatch).
    for (file, timer) in [("ort.csv", "wall"), ("wgpu.csv", "gpu")] {
        let lut = Lut::read(&s.path(file)).unwrap();
        let m = &lut.meta;
        assert_eq!(
            (m.protocol.method.as_str(), m.protocol.timer.as_str()),
            ("context", timer)
        );
        let c = m.context.as_ref().expect("context metadata");
        assert_eq!(
            (c.covering_designs, c.networks),
            (3, 18),
            "{file}: fairnas: 3 × 6 networks"
        );
        let r = m.reference.as_ref().expect("a reference");
        assert_eq!(
            r.arch,
            lookup_tables::preset("FairNAS-A").unwrap().arch().encode()
        );
        assert!(r.median_ms > 0.0 && r.invocations == 3, "{r:?}");
        assert!(context::sidecar(&s.path(file)).is_file());
        // The wgpu table records the convolution kernels its networks ran.
        assert_eq!(
            m.kernel_choices.len(),
            if timer == "gpu" { 18 } else { 0 },
            "{file}: {:?}",
            m.kernel_choices.keys().collect::<Vec<_>>()
        );
        assert!(
            m.kernel_choices.values().all(|v| v.contains("conv_")),
            "{:?}",
            m.kernel_choices
        );
    }
    assert!(!root.join("lock").exists(), "the lock is released");

    // An existing table is not overwritten without --resume, and a resume of a complete
    // table measures nothing.
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "--resolution",
        "32",
        "--classes",
        "10",
        "-o",
        "ort.csv",
        "--local-root",
        root.to_str().unwrap(),
    ];
    args.extend(QUICK);
    let err = s.moga(&args).fails_with_one_line();
    assert!(
        err.contains("ort.csv: already exists: pass --resume"),
        "{err}"
    );
    args.extend(["--resume", "--json"]);
    let v = s.moga(&args).json();
    assert_eq!(
        (v["measured"].as_u64(), v["already_measured"].as_u64()),
        (Some(0), v["units"].as_u64())
    );

    // A table killed before its first batch finished records no reference yet; resuming
    // it (the reference on, as when it was started) measures one and every unit.
    let mut meta = Lut::read(&s.path("ort.csv")).unwrap().meta.clone();
    meta.reference = None;
    Lut::new(meta).write(&s.path("ort.csv")).unwrap();
    std::fs::remove_file(context::sidecar(&s.path("ort.csv"))).unwrap();
    let v = s.moga(&args).json();
    assert_eq!(
        (v["measured"].as_u64(), v["already_measured"].as_u64()),
        (v["units"].as_u64(), Some(0)),
        "{v}"
    );
    assert!(
        Lut::read(&s.path("ort.csv"))
            .unwrap()
            .meta
            .reference
            .is_some()
    );
}

#[test]
fn a_second_profiler_on_a_device_is_refused() {
    let s = Scratch::new("profile-lock");
    let root = s.path("root");
    std::fs::create_dir_all(root.join("lock")).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(
        root.join("lock/owner"),
        format!(
            "host={} pid={} since=earlier\n",
            host.trim(),
            std::process::id()
        ),
    )
    .unwrap();
    let err = s
        .moga(&[
            "profile",
            "--device",
            "local",
            "--backend",
            "ort",
            "--space",
            "fairnas",
            "-o",
            "x.csv",
            "--local-root",
            root.to_str().unwrap(),
        ])
        .fails_with_one_line();
    assert!(
        err.contains("device local is being profiled by host=")
            && err.contains(&format!("pid={}", std::process::id())),
        "{err}"
    );
}

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn profiling_over_adb_survives_losing_the_device() {
    let s = Scratch::new("profile-adb");
    let server = AdbServer::start(&s.dir);
    let (fixture, device) = start_fixture(&s.path("device"), 0);
    let port: u16 = device.rsplit(':').next().unwrap().parse().unwrap();
    let server_addr = server.addr();

    let listed = s
        .moga(&[
            "devices",
            "--adb",
            &server_addr,
            "--connect",
            &device,
            "--json",
        ])
        .json_lines();
    let fix = listed
        .iter()
        .find(|d| d["id"] == device.as_str())
        .unwrap_or_else(|| panic!("fixture not listed: {listed:?}"));
    assert_eq!(
        (
            fix["state"].as_str(),
            fix["model"].as_str(),
            fix["abi"].as_str()
        ),
        (Some("device"), Some("Moga Fixture"), Some("x86_64")),
        "{fix}"
    );
    assert_eq!(fix["os"], "Android 14 (API 34)");
    assert_eq!(
        fix["apis"],
        serde_json::json!(["vulkan", "gles3.2"]),
        "{fix}"
    );

    // Profile; kill the device when a few batches are in.
    let total = units(SpaceId::Fairnas, 32);
    let mut args: Vec<String> = [
        "profile",
        "--device",
        &device,
        "--adb",
        &server_addr,
        "--backend",
        "ort",
        "--space",
        "fairnas",
        "--resolution",
        "32",
        "--classes",
        "10",
        "-o",
        "lut.csv",
        "--batch",
        "4",
        // A device that does not come back within 3 s stops the run.
        "--wait-device",
        "3",
        "--json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(QUICK.iter().map(|a| a.to_string()));
    let mut run = Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(&args)
        .current_dir(&s.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lut = s.path("lut.csv");
    let deadline = Instant::now() + Duration::from_secs(120);
    while rows_in(&lut) < 12 {
        assert!(Instant::now() < deadline, "profiling made no progress");
        assert!(
            run.try_wait().unwrap().is_none(),
            "the run ended before the device was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(fixture);
    let out = run.wait_with_output().unwrap();
    assert!(!out.status.success(), "losing the device must fail the run");
    let kept = Lut::read(&lut).expect("the checkpoint is a whole table");
    assert!(
        kept.rows().len() >= 12 && kept.rows().len() < total,
        "{} rows kept",
        kept.rows().len()
    );

    // Bring the device back on the same address and resume.
    let (_fixture, again) = start_fixture(&s.path("device"), port);
    assert_eq!(again, device);
    server.adb(&["disconnect", &device]);
    let connected = server.adb(&["connect", &device]);
    assert!(
        String::from_utf8_lossy(&connected.stdout).contains("connected"),
        "{connected:?}"
    );
    args.push("--resume".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = s.moga(&refs).json();
    assert_eq!(v["missing"], 0, "{v}");
    assert_eq!(
        v["already_measured"].as_u64().unwrap()
            + v["measured"].as_u64().unwrap()
            + v["failed"].as_u64().unwrap(),
        total as u64,
        "{v}"
    );
    let done = Lut::read(&lut).expect("strict read: no duplicate rows");
    assert_eq!(done.rows().len(), total);
    assert!(
        done.rows().iter().all(|r| r.stats().is_some()),
        "every unit measured"
    );
    assert_eq!(done.meta.device.model, "Moga Fixture");
    assert_eq!(done.meta.device.serials, vec![device.clone()]);

    // A whole network deployed to the same device, pushed through adb, beside the
    // table's prediction.
    let mut dargs = vec![
        "deploy",
        "FairNAS-A",
        "--device",
        &device,
        "--adb",
        &server_addr,
        "--lut",
        "lut.csv",
        "--resolution",
        "32",
        "--classes",
        "10",
        "--json",
    ];
    dargs.extend(QUICK);
    let d = s.moga(&dargs).json();
    assert_eq!(
        (d["status"].as_str(), d["device"].as_str()),
        (Some("ok"), Some(device.as_str())),
        "{d}"
    );
    assert!(
        d["predicted_ms"].as_f64().is_some() && d["error_pct"].as_f64().is_some(),
        "{d}"
    );
}

/// `moga profile --device tcp:ADDR --json` of fairnas at 32 px (quick protocol, then
/// `extra`) into `lut.csv`, straight to the fixture at `device` (adb_client's direct
/// mode signs with ~/.android/adbkey; HOME is the scratch folder): its report.
fn profile_direct(s: &Scratch, device: &str, backend: &str, extra: &[&str]) -> serde_json::Value {
    let id = format!("tcp:{device}");
    let mut args = common::profile_args(&id, "fairnas", "lut.csv");
    args[4] = backend.to_string();
    args.extend(
        extra
            .iter()
            .chain(&QUICK)
            .chain(&["--json"])
            .map(|a| a.to_string()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(&args)
        .current_dir(&s.dir)
        .env("HOME", &s.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn profiling_directly_over_tcp_needs_no_adb_server() {
    let s = Scratch::new("profile-direct");
    let (_fixture, device) = start_fixture(&s.path("device"), 0);
    let v = profile_direct(&s, &device, "ort", &[]);
    assert_eq!(
        (v["missing"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    assert_eq!(
        Lut::read(&s.path("lut.csv")).unwrap().meta.device.serials,
        vec![format!("tcp:{device}")]
    );
}

/// A phone whose Vulkan is missing (the fixture's `--no-vulkan`: its programs' Vulkan
/// loader finds no driver): `--backend wgpu` with the default `--api auto` measures on
/// GLES, and the table records the GL adapter it ran on. (A Vulkan driver that is
/// listed but fails is passed over the same way: the runner's `info` names the adapter
/// auto runs on, found by opening it; `device-runner/tests/phone_gpus.rs`.)
#[test]
fn a_gles_only_phone_is_profiled_on_gles() {
    let s = Scratch::new("profile-gles-only");
    let (_fixture, device) = start_fixture_as(&s.path("device"), 0, &["--no-vulkan"]);
    profile_direct(&s, &device, "wgpu", &["--only", "stem*"]);
    let meta = Lut::read(&s.path("lut.csv")).unwrap().meta;
    assert_eq!(meta.backend.options["wgpu_backend"], "gl", "{meta:?}");
    assert!(
        meta.backend.options["adapter"].contains("llvmpipe"),
        "{meta:?}"
    );
}

/// `moga doctor --device` on a phone-like fixture (an Adreno 630's GLES line, three
/// thermal zones): APIs, limit profile, zones and runner; then on a GLES-only device of
/// an ABI moga builds no runner for, which fails naming the runner.
#[test]
fn doctor_checks_a_device() {
    let s = Scratch::new("doctor-device");
    let doctor = |id: &str, json: bool| {
        let mut args = vec!["doctor", "--device", id];
        if json {
            args.push("--json");
        }
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(&args)
            .current_dir(&s.dir)
            .env("HOME", &s.dir)
            .output()
            .unwrap()
    };
    let (_phone, addr) = start_fixture_as(
        &s.path("phone"),
        0,
        &[
            "--gles",
            "Qualcomm, Adreno (TM) 630, OpenGL ES 3.2 V@415.0",
            "--thermal-zone",
            "cpu-0-0-usr=41200",
            "--thermal-zone",
            "gpuss-0-usr=45700",
            "--thermal-zone",
            "battery=31",
            "--cpu-freq",
            "policy0=1804800",
            "--cpu-freq",
            "policy4=2419200",
            "--gpu-clock",
            "585000000",
            "--battery-temp",
            "312",
        ],
    );
    let id = format!("tcp:{addr}");
    let out = doctor(&id, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["device"]["apis"],
        serde_json::json!(["vulkan", "gles3.2"]),
        "{v}"
    );
    assert_eq!(v["limit_profile"], "adreno-6xx-7xx", "{v}");
    assert_eq!(v["platform"], "linux", "{v}");
    let zones = v["heat"]["Ok"]["zones"].as_array().expect("zones read");
    let temps: Vec<_> = zones.iter().map(|z| z["celsius"].as_f64()).collect();
    assert_eq!(temps, [Some(41.2), Some(45.7), Some(31.0)], "{v}");
    assert!(v["runner"]["Ok"].is_string(), "{v}");
    let text = String::from_utf8_lossy(&doctor(&id, false).stdout).into_owned();
    assert!(text.contains("limit profile adreno-6xx-7xx"), "{text}");
    assert!(
        text.contains("3 zones (3 readable), hottest gpuss-0-usr 45.7°C"),
        "{text}"
    );
    assert!(
        text.contains("ok   clocks    cpu policy0 1804 MHz, cpu policy4 2419 MHz, gpu kgsl-3d0 585 MHz, battery 31.2°C"),
        "{text}"
    );
    assert!(text.contains("the device is ready to profile"), "{text}");
    assert!(!stderr.contains("ERROR"), "{stderr}");

    let (_old, addr) =
        start_fixture_as(&s.path("old"), 0, &["--no-vulkan", "--abi", "armeabi-v7a"]);
    let out = doctor(&format!("tcp:{addr}"), false);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ok   apis      gles3.2 (moga profile --api gles: no Vulkan driver)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL runner    ") && text.contains("armeabi-v7a"),
        "{text}"
    );
    assert!(text.contains("no limit profile matches"), "{text}");
}

/// `--max-temp`: a device whose hottest zone is above the limit is waited for before a
/// batch and measured once it cools (the test cools the fixture's zone mid-wait); with
/// a cool-down too short to help, batches are measured hot and counted in the table.
#[test]
fn a_hot_device_is_waited_for_before_measuring() {
    let s = Scratch::new("profile-hot");
    let (_fixture, addr) = start_fixture_as(
        &s.path("device"),
        0,
        &[
            "--thermal-zone",
            "battery=30000",
            "--thermal-zone",
            "cpu-1-0-usr=81000",
            "--gpu-clock",
            "257000000",
        ],
    );
    let cpu_temp = s.path("device/sys/class/thermal/thermal_zone1/temp");
    let id = format!("tcp:{addr}");
    let profile = |out: &str, cool_down: &str| {
        let mut args = vec![
            "profile",
            "--device",
            &id,
            "--backend",
            "ort",
            "--space",
            "fairnas",
            "--resolution",
            "32",
            "--classes",
            "10",
            "--only",
            "stem*",
            "--only",
            "head*",
            "--only",
            "fc*",
            "--batch",
            "1",
            "--max-temp",
            "60",
            "--cool-down",
            cool_down,
            "-o",
            out,
            "--json",
        ];
        args.extend(QUICK);
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(&args)
            .current_dir(&s.dir)
            .env("HOME", &s.dir)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let state = |table: &str| Lut::read(&s.path(table)).unwrap().meta.device_state;

    // Cools down once the profiler says it waits: one wait, nothing measured hot.
    let mut child = profile("cooled.csv", "60");
    let mut stderr = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap())) {
        let line = line.unwrap();
        if line.contains("cooling down (at most") {
            std::thread::sleep(Duration::from_secs(2));
            std::fs::write(&cpu_temp, "52000\n").unwrap();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cpu-1-0-usr at 81.0°C, above --max-temp 60.0°C: cooling down"),
        "{stderr}"
    );
    assert!(stderr.contains("cooled to 52.0°C"), "{stderr}");
    let st = state("cooled.csv");
    let cool = &st[&format!("{id} cool-down")];
    assert!(cool.starts_with("--max-temp 60.0°C: 1 waits, "), "{cool}");
    assert!(cool.contains("; 0 batches started hotter"), "{cool}");
    let hottest = &st[&format!("{id} hottest zone before batches")];
    assert!(
        hottest.starts_with("min 52.0°C, median 52.0°C, max 52.0°C"),
        "{hottest}"
    );
    let clock = &st[&format!("{id} gpu clock (kgsl-3d0) before batches")];
    assert!(
        clock.starts_with("min 257 MHz, median 257 MHz, max 257 MHz"),
        "{clock}"
    );

    // Stays hot; a 1 s cool-down: every batch measured hot, and said.
    std::fs::write(&cpu_temp, "81000\n").unwrap();
    let out = profile("hot.csv", "1").wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("measuring this batch hot"), "{stderr}");
    let st = state("hot.csv");
    let cool = &st[&format!("{id} cool-down")];
    let batches: usize = st[&format!("{id} hottest zone before batches")]
        .rsplit_once('(')
        .and_then(|(_, n)| n.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(batches >= 1);
    assert!(
        cool.contains(&format!("{batches} waits"))
            && cool.contains(&format!("; {batches} batches started hotter after 1 s")),
        "{cool}"
    );
}

/// Issue 32: a phone that heats while the runner runs and throttles (the fixture's
/// thermal script: its clocks halve and the runner really runs 4 times slower). The
/// first batch is measured cool; then the device heats fast, and the batch whose
/// reference network ran slow while the device was warmer and clocked lower is
/// measured again once it has cooled back; the table says so. With
/// `--no-throttle-check` the same heat is kept as measured.
#[test]
fn a_throttled_batch_is_measured_again() {
    let s = Scratch::new("profile-throttle");
    let script = s.path("heat.txt");
    // The fixture reads the script again when it changes (its mtime: wait a second).
    let weather = |script: &std::path::Path, heat: f64, cool: f64| {
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::write(
            script,
            format!("ambient 35\nheat {heat}\ncool {cool}\nthrottle 45\nslowdown 4\nclock 0.5\n"),
        )
        .unwrap();
    };
    std::fs::write(&script, "ambient 35\nheat 0\ncool 20\nthrottle 45\n").unwrap();
    let (_fixture, addr) = start_fixture_as(
        &s.path("device"),
        0,
        &[
            "--thermal-zone",
            "cpu-thermal=35000",
            "--gpu-clock",
            "600000000",
            "--thermal-script",
            script.to_str().unwrap(),
        ],
    );
    let id = format!("tcp:{addr}");
    let profile = |out: &str, extra: &[&str]| {
        let mut args = common::profile_args(&id, "fairnas", out);
        let only = [
            "--method",
            "isolated",
            "--only",
            "mbconv 2x2*",
            "--only",
            "mbconv 4x4*",
        ];
        args.extend(only.iter().map(|a| a.to_string()));
        args.extend(["--batch", "2", "--cool-down", "60"].map(String::from));
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(QUICK.iter().map(|a| a.to_string()));
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(&args)
            .current_dir(&s.dir)
            .env("HOME", &s.dir)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let state = |table: &str| Lut::read(&s.path(table)).unwrap().meta.device_state;

    let mut child = profile("checked.csv", &[]);
    let stderr_lines = child.stderr.take().unwrap();
    let table = s.path("checked.csv");
    // Cool until the first batch is in the table, then hot.
    let heating = std::thread::spawn({
        let (table, script) = (table.clone(), script.clone());
        move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while rows_in(&table) < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            weather(&script, 100.0, 20.0);
        }
    });
    // Cool again once a throttled batch is caught, so that it is measured cool again.
    let mut stderr = String::new();
    let mut cooled = false;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr_lines)) {
        let line = line.unwrap();
        if !cooled && line.contains("throttled batch (") {
            cooled = true;
            weather(&script, 0.0, 20.0);
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    heating.join().unwrap();
    let out = child.wait().unwrap();
    assert!(out.success(), "{stderr}");
    assert!(cooled, "the device never throttled a batch:\n{stderr}");
    if std::env::var_os("MOGA_TEST_SHOW").is_some() {
        eprintln!("{stderr}");
    }
    assert!(
        stderr.contains("the reference ran") && stderr.contains("cooled back in"),
        "{stderr}"
    );
    let st = state("checked.csv");
    let check = &st[&format!("{id} throttle check")];
    assert!(
        check.starts_with("--throttle-check 20%: first batch's reference"),
        "{check}"
    );
    assert!(
        check.contains("measured again after a cool-down"),
        "{check}"
    );
    // Read after every batch too (how hot depends on how fast it cooled since).
    let after = &st[&format!("{id} hottest zone after batches")];
    assert!(after.starts_with("min 35.0°C"), "{after}");
    // The runner read them itself, in its records (the fixture's sysfs is where the
    // runner finds it, as on a phone).
    let read = &st[&format!("{id} readings after batches")];
    assert!(read.ends_with(" 0 through the shell"), "{read}");

    // The same heat, unchecked (and hardly cooling between batches): kept as measured,
    // and the table says the clocks were low.
    weather(&script, 100.0, 2.0);
    let out = profile("unchecked.csv", &["--no-throttle-check"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("throttled batch ("), "{stderr}");
    let st = state("unchecked.csv");
    assert!(!st.contains_key(&format!("{id} throttle check")));
    let clock = &st[&format!("{id} gpu clock (kgsl-3d0) before batches")];
    assert!(
        clock.starts_with("min 300 MHz"),
        "throttled clocks read: {clock}"
    );
}

/// A profile on the fixture through `server`, writing `out`, in batches of 4.
fn fixture_profile(device: &str, server: &str, out: &str) -> Vec<String> {
    let mut a = common::profile_args(device, "fairnas", out);
    a.extend(["--adb", server, "--batch", "4"].map(String::from));
    a.extend(QUICK.iter().map(|a| a.to_string()));
    a
}

/// Issue 30: after a phone's adbd restarts, adb lists it `offline` for a few seconds
/// (about 10 here, adb's own reconnection); a resume started meanwhile waits for it, and
/// a run that loses it mid-way waits too and completes the table, every unit once.
#[test]
fn a_device_that_comes_back_is_waited_for() {
    let s = Scratch::new("profile-wait");
    let server = AdbServer::start(&s.dir);
    let (fixture, device) = start_fixture(&s.path("device"), 0);
    let port: u16 = device.rsplit(':').next().unwrap().parse().unwrap();
    assert!(server.adb(&["connect", &device]).status.success());
    let total = units(SpaceId::Fairnas, 32);
    let spawn = |args: &[String], log: &str| {
        Command::new(env!("CARGO_BIN_EXE_moga"))
            .args(args)
            .current_dir(&s.dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(s.path(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let wait_rows = |path: &std::path::Path, n: usize, run: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while rows_in(path) < n {
            assert!(Instant::now() < deadline, "profiling made no progress");
            assert!(run.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let check = |name: &str| {
        let t = Lut::read(&s.path(name)).expect("strict read: no duplicate rows");
        assert_eq!(t.rows().len(), total, "{name}");
        assert!(t.rows().iter().all(|r| r.stats().is_some()), "{name}");
    };

    // A partial table: the profiler is killed a few batches in.
    let args = fixture_profile(&device, &server.addr(), "a.csv");
    let mut run = spawn(&args, "a1.log");
    wait_rows(&s.path("a.csv"), 8, &mut run);
    run.kill().unwrap();
    run.wait().unwrap();

    // The phone's adbd restarts while the resume starts: the resume waits for it.
    drop(fixture);
    let mut resume = args.clone();
    resume.push("--resume".into());
    let mut run = spawn(&resume, "a2.log");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        run.try_wait().unwrap().is_none(),
        "the resume did not wait: {}",
        std::fs::read_to_string(s.path("a2.log")).unwrap()
    );
    let (fixture, again) = start_fixture(&s.path("device"), port);
    assert_eq!(again, device);
    let status = run.wait().unwrap();
    let log = std::fs::read_to_string(s.path("a2.log")).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("device {device} is offline")) && log.contains("waiting up to"),
        "{log}"
    );
    check("a.csv");

    // Lost in the middle of a run and back: the same run completes the table.
    let args = fixture_profile(&device, &server.addr(), "b.csv");
    let mut run = spawn(&args, "b.log");
    wait_rows(&s.path("b.csv"), 8, &mut run);
    drop(fixture);
    std::thread::sleep(Duration::from_secs(2));
    let (_fixture, again) = start_fixture(&s.path("device"), port);
    assert_eq!(again, device);
    let status = run.wait().unwrap();
    let log = std::fs::read_to_string(s.path("b.log")).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("waiting up to") && log.contains("back after"),
        "{log}"
    );
    check("b.csv");
}
