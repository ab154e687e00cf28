//! The real `device-runner` binary on this machine: lavapipe gives a real Vulkan
//! adapter, the venv's libonnxruntime a real ONNX Runtime.

use std::process::Command;

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_device-runner"))
        .args(args)
        .output()
        .expect("device-runner runs")
}

#[test]
fn info_json_lists_adapters_and_the_ort_library() {
    let out = runner(&["info", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let adapters = v["adapters"].as_array().unwrap();
    assert!(
        adapters
            .iter()
            .any(|a| a["backend"] == "vulkan" && a["compute"] == true),
        "{v}"
    );
    assert!(
        v["ort"]["version"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.31")),
        "{v}"
    );
    assert_eq!(v["backends"], serde_json::json!(["wgpu", "ort"]));
}

#[test]
fn a_wrong_ort_library_is_reported_by_path() {
    let out = runner(&[
        "info",
        "--json",
        "--ort-lib",
        "/nonexistent/libonnxruntime.so",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["ort_error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/libonnxruntime.so"),
        "{v}"
    );
}

#[test]
fn the_wgpu_version_constant_matches_the_lock_file() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let want = format!(
        "name = \"wgpu\"\nversion = \"{}\"",
        device_runner::gpu::WGPU_VERSION
    );
    assert!(
        lock.contains(&want),
        "update gpu::WGPU_VERSION to the wgpu in Cargo.lock"
    );
}
