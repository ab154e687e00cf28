//! The fixture against the real Debian `adb`: a private adb server connects to it over
//! TCP, runs shell commands with exit codes, and pushes and pulls files.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_real_adb_server_drives_the_fixture() {
    let scratch = std::env::temp_dir().join(format!("moga-fixture-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_moga-adbd-fixture"))
        .args([
            "--root",
            scratch.join("device").to_str().unwrap(),
            "--model",
            "Test Model",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _fixture = Killed(child);
    let device = line.trim().strip_prefix("listening ").unwrap().to_string();

    let port = free_port().to_string();
    let adb = |args: &[&str]| {
        let out = Command::new("adb")
            .arg("-P")
            .arg(&port)
            .args(args)
            .env("HOME", &scratch)
            .output()
            .expect("adb runs (scripts/setup.sh)");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let _server = scopeguard(|| {
        let _ = Command::new("adb")
            .args(["-P", &port, "kill-server"])
            .env("HOME", &scratch)
            .output();
    });
    adb(&["start-server"]);
    let (_, out) = adb(&["connect", &device]);
    assert!(out.contains("connected to"), "{out}");
    let (_, out) = adb(&[
        "-s",
        &device,
        "wait-for-device",
        "shell",
        "getprop",
        "ro.product.model",
    ]);
    assert_eq!(out.trim(), "Test Model");
    let (code, out) = adb(&["-s", &device, "shell", "echo hi; exit 3"]);
    assert_eq!(
        (code, out.trim()),
        (Some(3), "hi"),
        "shell v2 carries the exit code"
    );

    let local = scratch.join("payload.bin");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &payload).unwrap();
    let (code, out) = adb(&[
        "-s",
        &device,
        "push",
        local.to_str().unwrap(),
        "/data/local/tmp/x/payload.bin",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        std::fs::read(scratch.join("device/data/local/tmp/x/payload.bin")).unwrap(),
        payload
    );
    let back = scratch.join("back.bin");
    let (code, out) = adb(&[
        "-s",
        &device,
        "pull",
        "/data/local/tmp/x/payload.bin",
        back.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(std::fs::read(&back).unwrap(), payload);
    let (code, _) = adb(&["-s", &device, "push", local.to_str().unwrap(), "/etc/evil"]);
    assert_ne!(code, Some(0), "paths outside /data/local/tmp are refused");
    let _ = std::fs::remove_dir_all(&scratch);
    let _: PathBuf = scratch;
}

struct Guard<F: FnMut()>(F);

impl<F: FnMut()> Drop for Guard<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn scopeguard<F: FnMut()>(f: F) -> Guard<F> {
    Guard(f)
}
