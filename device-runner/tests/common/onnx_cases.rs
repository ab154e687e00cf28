//! ONNX's own backend test cases (shipped in the `onnx` wheel): which ones the runner
//! claims, their data sets, and the comparison within ONNX's tolerance.

use std::path::{Path, PathBuf};

use device_runner::graph::Op;
use device_runner::onnx::{self, Tensor, proto};

use super::onnx_package as onnx_package_dir;

pub fn claimed(model: &proto::ModelProto) -> bool {
    let Some(g) = model.graph.as_ref() else {
        return false;
    };
    let elem = |v: &proto::ValueInfoProto| match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(t)) => t.elem_type,
        _ => None,
    };
    // Float everywhere, except int64 tensors that only give a shape, pads or axes.
    let shape_only = |name: &str| {
        g.node.iter().all(|n| {
            n.input.iter().position(|i| i == name).is_none_or(|pos| {
                matches!(
                    (n.op_type.as_deref().unwrap_or_default(), pos),
                    ("Reshape" | "Squeeze" | "Unsqueeze", 1) | ("Pad", 1 | 3) | ("Resize", 3)
                )
            })
        })
    };
    let types_ok = g.output.iter().all(|v| elem(v) == Some(1))
        && g.input.iter().all(|v| {
            elem(v) == Some(1)
                || (elem(v) == Some(7) && shape_only(v.name.as_deref().unwrap_or_default()))
        });
    let rank_of = |name: &str| {
        g.input
            .iter()
            .find(|v| v.name.as_deref() == Some(name))
            .and_then(|v| match v.r#type.as_ref()?.value.as_ref()? {
                proto::type_proto::Value::TensorType(t) => t.shape.as_ref().map(|s| s.dim.len()),
                _ => None,
            })
    };
    let ops_ok = g.node.iter().all(|n| {
        let op = n.op_type.as_deref().unwrap_or_default();
        let spatial = matches!(
            op,
            "Conv" | "AveragePool" | "MaxPool" | "GlobalAveragePool" | "BatchNormalization"
        );
        let attr = |key: &str| n.attribute.iter().find(|a| a.name.as_deref() == Some(key));
        let unclaimed_form = match op {
            "Resize" => {
                attr("mode").and_then(|a| a.s.as_deref()) == Some(b"cubic")
                    || attr("antialias").is_some_and(|a| a.i == Some(1))
            }
            "MaxPool" => n.output.iter().skip(1).any(|o| !o.is_empty()),
            _ => false,
        };
        let training = n
            .attribute
            .iter()
            .any(|a| a.name.as_deref() == Some("training_mode") && a.i == Some(1));
        Op::SUPPORTED.contains(&op)
            && !training
            && !unclaimed_form
            && (!spatial
                || n.input
                    .first()
                    .and_then(|i| rank_of(i))
                    .is_none_or(|r| r == 4))
    });
    types_ok && ops_ok
}

pub fn cases() -> Vec<PathBuf> {
    let data = onnx_package_dir().join("backend/test/data");
    let mut out = Vec::new();
    for suite in ["node", "pytorch-converted", "pytorch-operator", "simple"] {
        let Ok(dir) = std::fs::read_dir(data.join(suite)) else {
            continue;
        };
        for case in dir.flatten().map(|e| e.path()) {
            let Ok(model) = onnx::read_model(&case.join("model.onnx")) else {
                continue;
            };
            if claimed(&model) && case.join("test_data_set_0").is_dir() {
                out.push(case);
            }
        }
    }
    out.sort();
    out
}

pub fn pbs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort_by_key(|p| {
        p.file_stem()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches(prefix)
            .parse::<usize>()
            .unwrap_or(0)
    });
    v
}

/// Compares output file `got` with the case's expected output file `want`.
pub fn compare(case: &Path, got: &Path, want: &Path) -> Result<(), String> {
    let g = onnx::read_tensor(got).map_err(|e| e.to_string())?;
    let w = onnx::read_tensor(want).map_err(|e| e.to_string())?;
    compare_tensors(case, &g, &w)
}

/// Whether `g` equals the expected `w` within ONNX's own tolerance (rtol 1e-3, atol 1e-5).
pub fn compare_tensors(case: &Path, g: &Tensor, w: &Tensor) -> Result<(), String> {
    if g.shape != w.shape {
        return Err(format!(
            "{}: shape {:?}, expected {:?}",
            case.display(),
            g.shape,
            w.shape
        ));
    }
    let (g, w) = (g.as_f32().unwrap(), w.as_f32().unwrap());
    for (i, (a, b)) in g.iter().zip(w).enumerate() {
        if (a - b).abs() > 1e-5 + 1e-3 * b.abs() {
            return Err(format!(
                "{}: element {i} is {a}, expected {b}",
                case.display()
            ));
        }
    }
    Ok(())
}
