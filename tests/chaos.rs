//! Chaos during profiling: `moga profile` through the real adb server to the adbd
//! fixture, while at seeded random moments the profiler is SIGKILLed, the fixture (the
//! phone's adbd) is killed and restarted, or the device-runner is killed on the device
//! side; every round resumes. After every round the table on disk reads strictly (never
//! half-written, no temporary file left), no measured row is lost, none duplicated; at
//! the end the table is complete and every row is a finished measurement.
//!
//! `MOGA_CHAOS_ROUNDS` (default 3) and `MOGA_CHAOS_SEED` (default 1) set the run;
//! `scripts/chaos.sh N` runs N rounds and prints the tally.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use common::adb::{AdbServer, Killed, start_fixture};
use lookup_tables::{Lut, Space, SpaceId, SpaceOptions};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Data rows of the table as raw CSV keys (the nine key columns), with their counts.
fn raw_keys(path: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    if let Ok(t) = std::fs::read_to_string(path) {
        for l in t.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let key: Vec<&str> = l.split(',').take(9).collect();
            *out.entry(key.join(",")).or_insert(0) += 1;
        }
    }
    out
}

/// Processes whose executable lies under `root`: the device-runner the fixture runs.
fn kill_runners_under(root: &Path) -> usize {
    let root = root.canonicalize().unwrap_or(root.to_path_buf());
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(exe) = std::fs::read_link(e.path().join("exe"))
            && exe.starts_with(&root)
        {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            n += 1;
        }
    }
    n
}

// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn profiling_survives_kills_of_profiler_device_and_runner() {
    let rounds = env_or("MOGA_CHAOS_ROUNDS", 3);
    let mut rng = lookup_tables::SplitMix64::new(env_or("MOGA_CHAOS_SEED", 1));
    let s = Scratch::new("chaos");
    let server = AdbServer::start(&s.dir);
    let device_root = s.path("device");
    let (mut fixture, device) = start_fixture(&device_root, 0);
    let port: u16 = device.rsplit(':').next().unwrap().parse().unwrap();
    let connected = server.adb(&["connect", &device]);
    assert!(connected.status.success(), "{connected:?}");
    let total = Space::with_options(
        SpaceId::Fairnas,
        SpaceOptions {
            resolution: 32,
            classes: 10,
        },
    )
    .unwrap()
    .unit_list()
    .len();
    let lut = s.path("lut.csv");
    let args = |resume: bool| {
        let mut a: Vec<String> = [
            "profile",
            "--device",
            &device,
            "--adb",
            &server.addr(),
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
            "3",
            "--warmup",
            "1",
            "--min-runs",
            "3",
            "--runs",
            "5",
            "--max-seconds",
            "0.2",
            "--precision",
            "0",
            "--unit-timeout",
            "30",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        if resume {
            a.push("--resume".into());
        }
        a
    };

    let (mut kills, mut lost, mut duplicated) = (0u32, 0usize, 0usize);
    // Faults that happened, by kind: profiler killed, device's adbd restarted, runner
    // killed on the device. A round whose fault did not happen (the table finished
    // first, no runner was busy) does not count, and rounds go on (up to 3 × 3 more)
    // until every kind has happened at least once.
    let mut happened = [0u32; 3];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut round = 0;
    while round < rounds || (happened.contains(&0) && round < rounds + 9) {
        round += 1;
        // Each round's stderr is kept: a run that ends on its own must say why.
        let log = s.path(&format!("round-{round}.stderr"));
        let mut run = Killed(
            Command::new(env!("CARGO_BIN_EXE_moga"))
                .args(args(lut.exists()))
                .current_dir(&s.dir)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let wait = Duration::from_millis(500 + rng.next_u64() % 3500);
        let start = Instant::now();
        let mut finished = None;
        while start.elapsed() < wait {
            if let Some(status) = run.0.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(status) = finished {
            // The table completed before this round's kill: check it, start a new one.
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                status.success(),
                "round {round}: the profiler ended on its own with {status}:\n{stderr}"
            );
            let table = Lut::read(&lut).expect("a finished run leaves a whole table");
            assert_eq!(table.rows().len(), total);
            std::fs::remove_file(&lut).unwrap();
            seen.clear();
            continue;
        }
        let kind = (round - 1) % 3;
        match kind {
            0 => {
                run.0.kill().unwrap();
                happened[0] += 1;
            }
            1 => {
                // The phone's adbd dies and comes back on the same address; the profiler
                // waits for it (adb reports it offline meanwhile) and goes on, until it
                // is killed too.
                drop(fixture);
                let (f, again) = start_fixture(&device_root, port);
                assert_eq!(again, device);
                fixture = f;
                happened[1] += 1;
                // adb reconnects on its own (about 10 s here); the profiler waits for
                // it. The round ends once the device is back, a moment later, so that
                // the next round finds it online.
                let t = Instant::now();
                while !String::from_utf8_lossy(&server.adb(&["devices"]).stdout)
                    .contains(&format!("{device}\tdevice"))
                    && t.elapsed() < Duration::from_secs(60)
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::thread::sleep(Duration::from_millis(500 + rng.next_u64() % 2500));
                let _ = run.0.kill();
            }
            _ => {
                // Wait for a runner to be busy on the device, kill it there; the profiler
                // measures that batch's units again and goes on, until it is killed too.
                let t = Instant::now();
                let mut found = 0;
                while found == 0
                    && t.elapsed() < Duration::from_secs(10)
                    && run.0.try_wait().unwrap().is_none()
                {
                    found = kill_runners_under(&device_root);
                    std::thread::sleep(Duration::from_millis(5));
                }
                if found > 0 {
                    happened[2] += 1;
                }
                std::thread::sleep(Duration::from_millis(200 + rng.next_u64() % 1800));
                let _ = run.0.kill();
            }
        }
        kills += 1;
        // Whatever happened, the profiler ends (or is ended) before the table is read.
        let t = Instant::now();
        while run.0.try_wait().unwrap().is_none() && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(run);

        if lut.exists() {
            let table = Lut::read(&lut).expect("the table on disk is always whole");
            let keys = raw_keys(&lut);
            duplicated += keys.values().filter(|&&n| n > 1).count();
            let now: BTreeSet<String> = table
                .rows()
                .iter()
                .filter(|r| r.stats().is_some())
                .map(|r| r.key.to_string())
                .collect();
            lost += seen.difference(&now).count();
            seen.extend(now);
        }
    }

    // A last calm run completes the table.
    let out = Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(args(lut.exists()))
        .current_dir(&s.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = Lut::read(&lut).unwrap();
    let keys = raw_keys(&lut);
    duplicated += keys.values().filter(|&&n| n > 1).count();
    let now: BTreeSet<String> = table.rows().iter().map(|r| r.key.to_string()).collect();
    lost += seen.difference(&now).count();
    // A write cut short by a kill may leave its temporary file; the next write of the
    // table removes those of dead processes.
    let leftovers: Vec<String> = std::fs::read_dir(&s.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    println!(
        "chaos: {kills} kills survived ({} profiler, {} device, {} runner), rows lost {lost}, rows duplicated {duplicated}",
        happened[0], happened[1], happened[2]
    );
    assert!(
        !happened.contains(&0),
        "every kind of fault must happen at least once: {happened:?}"
    );
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert_eq!((lost, duplicated), (0, 0));
    assert_eq!(table.rows().len(), total);
    for r in table.rows() {
        let st = r
            .stats()
            .unwrap_or_else(|| panic!("{} is not a finished measurement: {:?}", r.key, r.outcome));
        assert!(st.runs >= 3 && st.median_ms > 0.0, "{}: {st:?}", r.key);
    }
    drop(fixture);
}
