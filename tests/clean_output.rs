//! A first run reads clean: after `scripts/setup.sh`, the commands that start the GPU
//! stack and a short demo print no line with ERROR unless something failed. The Vulkan
//! loader's notes about drivers it cannot load are debug-level detail, not errors.

mod common;

use std::path::Path;
use std::process::Command;

use common::adb::bin;
use common::{Scratch, moga};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of `text` that say ERROR.
fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("ERROR")).collect()
}

/// The ELF machine of this host's executables (e_machine).
fn host_elf_machine() -> u16 {
    match std::env::consts::ARCH {
        "x86_64" => 62,
        "aarch64" => 183,
        other => panic!("no ELF machine known for {other}"),
    }
}

#[test]
fn the_host_vulkan_loader_sees_only_drivers_of_this_architecture() {
    // scripts/setup.sh installs lavapipe for arm64 (the emulated arm64 device's driver);
    // its manifests must not be where the host's loader looks.
    let Ok(dir) = std::fs::read_dir("/usr/share/vulkan/icd.d") else {
        return;
    };
    for entry in dir {
        let manifest = entry.unwrap().path();
        let text = std::fs::read_to_string(&manifest).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let library = json["ICD"]["library_path"].as_str().unwrap_or_default();
        // A bare name resolves through the host's own library path.
        let Ok(bytes) = std::fs::read(library) else {
            continue;
        };
        let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
        assert_eq!(
            machine,
            host_elf_machine(),
            "{} names {library}, a driver of another architecture (scripts/setup.sh moves \
             those to /usr/share/vulkan/icd.d.arm64-device)",
            manifest.display()
        );
    }
}

#[test]
fn commands_that_start_wgpu_print_no_error_lines() {
    let info = Command::new(bin("device-runner"))
        .arg("info")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(info.status.success());
    let stderr = String::from_utf8_lossy(&info.stderr);
    assert_eq!(
        error_lines(&stderr),
        Vec::<&str>::new(),
        "device-runner info:\n{stderr}"
    );

    let doctor = moga(&["doctor"]);
    assert!(doctor.stdout().contains("[vulkan"), "{}", doctor.stdout());
    let stderr = doctor.stderr();
    assert_eq!(
        error_lines(&stderr),
        Vec::<&str>::new(),
        "moga doctor:\n{stderr}"
    );
}

#[test]
fn a_driver_the_loader_cannot_load_is_a_debug_note_not_an_error() {
    // A manifest whose library is not there (as another architecture's driver is for the
    // host) beside this host's lavapipe: the loader reports it at error severity on every
    // instance, and a debug build of moga asks wgpu for those reports.
    let lavapipe = format!(
        "/usr/share/vulkan/icd.d/lvp_icd.{}.json",
        std::env::consts::ARCH
    );
    if !Path::new(&lavapipe).is_file() {
        eprintln!("skipped: no {lavapipe}");
        return;
    }
    let s = Scratch::new("loader-note");
    let phone = s.path("phone_icd.json");
    std::fs::write(
        &phone,
        r#"{"file_format_version": "1.0.0",
            "ICD": {"library_path": "/nonexistent/libvulkan_phone.so", "api_version": "1.3.0"}}"#,
    )
    .unwrap();
    let icds = format!("{}:{lavapipe}", phone.display());
    let doctor = |log: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_moga"));
        c.arg("doctor")
            .env("VK_ICD_FILENAMES", &icds)
            .env_remove("RUST_LOG");
        if let Some(log) = log {
            c.env("RUST_LOG", log);
        }
        c.output().unwrap()
    };

    let plain = doctor(None);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        stdout.contains("[vulkan"),
        "lavapipe still listed:\n{stdout}"
    );
    assert_eq!(error_lines(&stderr), Vec::<&str>::new(), "{stderr}");

    // Asked for, the note is there, at debug level.
    let debug = doctor(Some("warn,wgpu_hal::gles::egl=off,wgpu_hal::vulkan=debug"));
    let stderr = String::from_utf8_lossy(&debug.stderr);
    if cfg!(debug_assertions) {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("DEBUG") && l.contains("Loader Message")),
            "{stderr}"
        );
    }
    assert_eq!(error_lines(&stderr), Vec::<&str>::new(), "{stderr}");
}

#[test]
fn a_short_demo_prints_no_error_lines() {
    let s = Scratch::new("demo");
    let out = s.path("demo-out");
    let demo = Command::new(repo().join("scripts/demo.sh"))
        .arg("--short")
        .current_dir(repo())
        .env("DEMO_OUT", &out)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&demo.stdout),
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(
        demo.status.success(),
        "scripts/demo.sh --short failed:\n{text}"
    );
    assert!(text.contains("== done (--short)"), "{text}");
    assert_eq!(error_lines(&text), Vec::<&str>::new(), "{text}");
}
