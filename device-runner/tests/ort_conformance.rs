//! ONNX's backend test cases through the ONNX Runtime backend: every case ONNX Runtime
//! can load whose inputs and outputs are tensors must give the expected outputs, or,
//! where ONNX Runtime itself deviates from the reference (its documented failures:
//! random ops, some attention variants, …), exactly what the onnxruntime Python package
//! gives with the same library version (tests/ort_reference.py) — that proves the
//! deviation is ONNX Runtime's, not the backend's. Cases ONNX Runtime refuses to load,
//! and cases with sequence, map, optional or string values, are counted, not run. Run in-process through the same session
//! code `device-runner exec --backend ort` uses (a process per case would take minutes);
//! tests/cli.rs runs cases through the binary itself.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use device_runner::backend::OptLevel;
use device_runner::onnx::{self, Tensor, proto};
use device_runner::ort_backend::{OrtModel, OrtOptions, OrtRuntime};

use common::onnx_cases::pbs;

fn tensor_io(model: &proto::ModelProto) -> bool {
    let Some(g) = model.graph.as_ref() else {
        return false;
    };
    g.input.iter().chain(&g.output).all(|v| {
        matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(proto::type_proto::Value::TensorType(t))
            if onnx::tensor::element_size(t.elem_type.unwrap_or(0)).is_some())
    })
}

/// ONNX's backend-test comparison (numpy.testing.assert_allclose with rtol 1e-3 and a
/// small atol); NaN must meet NaN.
fn close(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.shape != want.shape {
        return Err(format!("shape {:?}, expected {:?}", got.shape, want.shape));
    }
    if got.dtype() != want.dtype() {
        return Err(format!(
            "element type {}, expected {}",
            got.dtype(),
            want.dtype()
        ));
    }
    let (g, w) = (
        got.to_f64().ok_or("not numeric")?,
        want.to_f64().ok_or("not numeric")?,
    );
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 + 1e-3 * b.abs();
        if !ok {
            return Err(format!("element {i} is {a}, expected {b}"));
        }
    }
    Ok(())
}

#[test]
fn every_case_onnx_runtime_loads_passes() {
    let rt = OrtRuntime::get(None).expect("ONNX Runtime loads (scripts/setup.sh)");
    let data = common::onnx_package().join("backend/test/data");
    let opts = OrtOptions {
        opt_level: OptLevel::All,
        ..OrtOptions::default()
    };
    let (mut passed, mut refused, mut non_tensor, mut deviating) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ours: HashMap<(String, String), Result<Vec<Tensor>, String>> = HashMap::new();
    for suite in ["node", "pytorch-converted", "pytorch-operator", "simple"] {
        let Ok(dir) = std::fs::read_dir(data.join(suite)) else {
            continue;
        };
        let mut cases: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        cases.sort();
        for case in cases {
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let Ok(model) = onnx::read_model(&case.join("model.onnx")) else {
                continue;
            };
            if !tensor_io(&model) {
                non_tensor.push(name);
                continue;
            }
            let mut session = match OrtModel::load(rt, &case.join("model.onnx"), &opts) {
                Ok(s) => s,
                Err(_) => {
                    refused.push(name);
                    continue;
                }
            };
            let mut problem = None;
            for set in pbs(&case, "test_data_set_") {
                let inputs: Result<Vec<Tensor>, _> = pbs(&set, "input_")
                    .iter()
                    .map(|p| onnx::read_tensor(p))
                    .collect();
                let run = inputs
                    .map_err(|e| e.to_string())
                    .and_then(|i| session.run(&i).map_err(|e| e.to_string()));
                let check = run.clone().and_then(|outs| {
                    for (i, want) in pbs(&set, "output_").iter().enumerate() {
                        let want = onnx::read_tensor(want).map_err(|e| e.to_string())?;
                        let got = outs.get(i).ok_or(format!("output {i} missing"))?;
                        close(got, &want).map_err(|m| format!("output {i}: {m}"))?;
                    }
                    Ok(())
                });
                if let Err(m) = check {
                    problem.get_or_insert(m);
                }
                ours.insert(
                    (
                        name.clone(),
                        set.file_name().unwrap().to_string_lossy().into_owned(),
                    ),
                    run,
                );
            }
            match problem {
                None => passed.push(name),
                Some(m) => deviating.push((case.clone(), name, m)),
            }
        }
    }
    // Where the output differs from the reference, it must be ONNX Runtime's own result.
    let scratch = common::Scratch::new("ort-reference");
    let out = Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ort_reference.py"))
        .arg(&scratch.0)
        .args(deviating.iter().map(|(case, _, _)| case))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "ort_reference.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    for (case, name, why) in &deviating {
        for set in pbs(case, "test_data_set_") {
            let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
            let mine = &ours[&(name.clone(), set_name.clone())];
            let dir = scratch.0.join(name).join(&set_name);
            let same = match mine {
                Ok(m) => {
                    let theirs: Vec<Tensor> = pbs(&dir, "output_")
                        .iter()
                        .map(|p| onnx::read_tensor(p).unwrap())
                        .collect();
                    m.len() == theirs.len()
                        && m.iter()
                            .zip(&theirs)
                            .all(|(a, b)| a.shape == b.shape && a.to_bytes() == b.to_bytes())
                }
                // Both refused to run it: ONNX Runtime's behaviour, reproduced.
                Err(_) => dir.join("error.txt").exists(),
            };
            if !same {
                failures.push(format!("{name}/{set_name}: {why}; and the backend's output is not onnxruntime's own: {:?}", mine.as_ref().err()));
            }
        }
    }
    let names: Vec<&str> = deviating.iter().map(|(_, n, _)| n.as_str()).collect();
    eprintln!(
        "passed {}; ONNX Runtime's own deviations from the reference, reproduced exactly {} ({}); not loadable by ONNX Runtime {} ({}); non-tensor values {}",
        passed.len(),
        names.len(),
        names.join(" "),
        refused.len(),
        refused.join(" "),
        non_tensor.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed.len() > 1400, "only {} cases passed", passed.len());
}
