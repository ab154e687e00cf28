//! ONNX's own backend test cases (shipped in the `onnx` wheel) through the real
//! `device-runner exec`, on the wgpu backend and on the CPU reference.
//!
//! A case is claimed when every operator is one the runner supports (Resize without cubic
//! interpolation or antialiasing, MaxPool without its Indices output), every tensor is
//! float32 (int64 only as a shape, pads or axes input), and convolutions and pools are
//! 2-D (the runner's scope: NCHW images). Every claimed case must pass within ONNX's own tolerance
//! (rtol 1e-3, atol 1e-5); the list of claimed cases is printed and its size checked, so
//! a parser change cannot silently shrink it.

mod common;

use common::onnx_cases::{cases, compare, pbs};

fn run_all(backend: &str) -> usize {
    let cases = cases();
    let scratch = common::Scratch::new(&format!("conformance-{backend}"));
    let mut failures = Vec::new();
    for case in &cases {
        for set in pbs(case, "test_data_set_") {
            let out = scratch.0.join(format!(
                "{}-{}",
                case.file_name().unwrap().to_string_lossy(),
                set.file_name().unwrap().to_string_lossy()
            ));
            let model = case.join("model.onnx");
            let mut args = vec![
                "exec".to_string(),
                "--backend".into(),
                backend.into(),
                "--model".into(),
                model.display().to_string(),
                "--output-dir".into(),
                out.display().to_string(),
            ];
            for i in pbs(&set, "input_") {
                args.extend(["--input".into(), i.display().to_string()]);
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = common::runner(&refs);
            if !r.status.success() {
                failures.push(format!(
                    "{}: {}",
                    case.display(),
                    String::from_utf8_lossy(&r.stderr).trim()
                ));
                continue;
            }
            for (i, want) in pbs(&set, "output_").iter().enumerate() {
                if let Err(e) = compare(case, &out.join(format!("output_{i}.pb")), want) {
                    failures.push(e);
                }
            }
        }
    }
    let names: Vec<String> = cases
        .iter()
        .map(|c| c.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    eprintln!(
        "{backend}: {} claimed ONNX backend cases: {}",
        names.len(),
        names.join(" ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed on {backend}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// At least this many cases are claimed (onnx 1.20.1 ships 203 for the operators
/// above); fewer means the selection or the parser regressed.
const MIN_CASES: usize = 200;

#[test]
fn backend_cases_pass_on_wgpu() {
    assert!(run_all("wgpu") >= MIN_CASES);
}

#[test]
fn backend_cases_pass_on_the_cpu_reference() {
    assert!(run_all("cpu") >= MIN_CASES);
}
