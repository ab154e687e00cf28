//! The ONNX files users bring: torchvision's MobileNetV3-Small and -Large, exported by
//! `torch.onnx.export` (constant folding on) from the venv's torch by
//! scripts/export-torchvision.sh, run through the real `device-runner exec` on wgpu and
//! the CPU reference, and compared with ONNX Runtime on the same file (and ONNX Runtime
//! with PyTorch itself, so that the export is known good).

mod common;

use std::path::Path;
use std::process::Command;

use device_runner::backend::BackendChoice;
use device_runner::gpu::{GpuContext, GpuModel, GpuOptions};
use device_runner::graph::Graph;
use device_runner::limit_profiles::PROFILES;
use device_runner::onnx::{self, Tensor};

/// Largest difference relative to the largest magnitude of `want`.
fn rel_diff(got: &Path, want: &Path) -> f32 {
    let g = onnx::read_tensor(got).unwrap();
    let w = onnx::read_tensor(want).unwrap();
    assert_eq!(g.shape, w.shape, "{} vs {}", got.display(), want.display());
    relative(&g, &w)
}

/// Largest |g − w| over the largest |w|.
fn relative(g: &Tensor, w: &Tensor) -> f32 {
    assert_eq!(g.shape, w.shape);
    let (g, w) = (g.as_f32().unwrap(), w.as_f32().unwrap());
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    g.iter()
        .zip(w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
        / scale
}

#[test]
fn mobilenet_v3_exports_match_onnx_runtime() {
    let scratch = common::Scratch::new("torchvision");
    let dir = &scratch.0;
    let out = Command::new(common::repo().join("scripts/export-torchvision.sh"))
        .arg(dir)
        .output()
        .expect("scripts/export-torchvision.sh runs");
    assert!(
        out.status.success(),
        "export failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Vulkan under each phone limit profile, and GLES.
    let mut profiled: Vec<GpuContext> = PROFILES
        .iter()
        .map(|p| {
            GpuContext::new(&GpuOptions {
                limits: Some(p),
                ..GpuOptions::default()
            })
            .unwrap()
        })
        .collect();
    profiled.push(
        GpuContext::new(&GpuOptions {
            backend: BackendChoice::Gl,
            ..GpuOptions::default()
        })
        .unwrap(),
    );
    for model in ["mobilenet_v3_small", "mobilenet_v3_large"] {
        let file = dir.join(format!("{model}.onnx"));
        let input = dir.join(format!("{model}.input.pb"));
        let run = |backend: &str, dtype: &str| {
            let out_dir = dir.join(format!("{model}-{backend}-{dtype}"));
            let mut args = vec![
                "exec".to_string(),
                "--backend".into(),
                backend.into(),
                "--model".into(),
                file.display().to_string(),
                "--input".into(),
                input.display().to_string(),
                "--output-dir".into(),
                out_dir.display().to_string(),
            ];
            if backend == "wgpu" {
                // The default kernels: autotuning every convolution shape of both models
                // on lavapipe takes a minute (the variants have their own test).
                args.extend(["--tuning".into(), "defaults".into()]);
                args.extend(["--dtype".into(), dtype.into()]);
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = common::runner(&refs);
            assert!(
                r.status.success(),
                "{model} on {backend}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            out_dir.join("output_0.pb")
        };
        let ort = run("ort", "f32");
        let torch = dir.join(format!("{model}.torch.pb"));
        let vs_torch = rel_diff(&ort, &torch);
        assert!(
            vs_torch < 1e-4,
            "{model}: ONNX Runtime vs PyTorch {vs_torch}"
        );
        // f32 agrees to rounding; half precision (f16 storage and arithmetic) within
        // 1e-2 of the largest logit (3.2e-3 and 3.8e-3 measured on lavapipe).
        for (backend, dtype, tolerance) in [
            ("wgpu", "f32", 1e-4),
            ("cpu", "f32", 1e-4),
            ("wgpu", "f16", 1e-2),
        ] {
            let d = rel_diff(&run(backend, dtype), &ort);
            eprintln!("{model}: {backend} {dtype} vs ONNX Runtime {d:.2e} of the largest logit");
            assert!(
                d < tolerance,
                "{model}: {backend} {dtype} differs from ONNX Runtime by {d}"
            );
        }
        // Under every phone GPU limit profile (the device opened with its limits).
        let graph = Graph::from_model(&onnx::read_model(&file).unwrap(), model).unwrap();
        let inputs = [onnx::read_tensor(&input).unwrap()];
        let want = onnx::read_tensor(&ort).unwrap();
        for ctx in &profiled {
            let under = format!("{} ({})", ctx.limits_owner(), ctx.adapter.backend);
            let got = GpuModel::compile(ctx, &graph, &inputs)
                .and_then(|mut m| m.run(&inputs))
                .unwrap_or_else(|e| panic!("{model} under {under}: {e}"));
            let d = relative(&got[0], &want);
            eprintln!("{model}: wgpu f32 under {under} vs ONNX Runtime {d:.2e}");
            assert!(d < 1e-4, "{model} under {under}: {d}");
        }
    }
}
