//! What real phones' GPUs differ in, reproduced on this machine: their limits (each
//! limit profile opens lavapipe with a phone's limits, which the driver then enforces)
//! and the GLES compute path (Mesa's GL driver, for phones without usable Vulkan
//! compute). ONNX's backend cases and the nine presets run under every profile and on
//! GLES and agree with the expected outputs and with ONNX Runtime; a profile too small
//! for a kernel rules out its variants, or fails naming the limit; `--api auto` falls
//! back to GLES when Vulkan is not there.

mod common;

use device_runner::backend::{AdapterLimits, BackendChoice};
use device_runner::gpu::kernels::conv::Variant;
use device_runner::gpu::{GpuContext, GpuModel, GpuOptions, LimitProfile, Tuning};
use device_runner::graph::Graph;
use device_runner::limit_profiles::{PROFILES, capped};
use device_runner::onnx::builder::{RandomWeights, network_model};
use device_runner::onnx::{self, Tensor};
use device_runner::ort_backend::{OrtModel, OrtOptions, OrtRuntime};
use device_runner::session::{random_inputs, specs_of};
use lookup_tables::{PRESETS, Space};

use common::onnx_cases::{cases, compare_tensors, pbs};

fn open(profile: &'static LimitProfile) -> GpuContext {
    GpuContext::new(&GpuOptions {
        limits: Some(profile),
        ..GpuOptions::default()
    })
    .unwrap_or_else(|e| panic!("{}: {e}", profile.name))
}

/// Every configuration a phone may put the kernels in: Vulkan under each limit profile,
/// and GLES (Mesa's GL driver here) with its own limits.
fn configurations() -> Vec<GpuContext> {
    let mut all: Vec<GpuContext> = PROFILES.iter().map(open).collect();
    let gles = GpuContext::new(&GpuOptions {
        backend: BackendChoice::Gl,
        ..GpuOptions::default()
    })
    .expect("Mesa's GL driver (scripts/setup.sh)");
    assert_eq!(gles.adapter.backend, "gl");
    all.push(gles);
    all
}

/// What a configuration is, in messages.
fn label(ctx: &GpuContext) -> String {
    format!("{} ({})", ctx.limits_owner(), ctx.adapter.backend)
}

/// Largest |a − b| over the largest |b|.
fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape, b.shape);
    let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn each_profile_opens_the_device_with_its_limits_and_the_driver_enforces_them() {
    for p in &PROFILES {
        let ctx = open(p);
        let (want, capped_fields) = capped(&p.limits, &ctx.adapter.limits);
        assert_eq!(ctx.limits, want, "{}", p.name);
        assert_eq!(ctx.limits_capped, capped_fields, "{}", p.name);
        // What the device itself enforces, not only what we recorded.
        let device = device_runner::gpu::adapters::limits_of(&ctx.device.limits());
        assert_eq!(device, want, "{}", p.name);
    }
}

#[test]
fn onnx_backend_cases_pass_under_every_profile_and_on_gles() {
    let cases = cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let mut failures = Vec::new();
    for ctx in configurations() {
        let name = label(&ctx);
        for case in &cases {
            let model = onnx::read_model(&case.join("model.onnx")).unwrap();
            let graph = Graph::from_model(&model, "case").unwrap();
            for set in pbs(case, "test_data_set_") {
                let inputs: Vec<Tensor> = pbs(&set, "input_")
                    .iter()
                    .map(|f| onnx::read_tensor(f).unwrap())
                    .collect();
                let got = GpuModel::compile(&ctx, &graph, &inputs).and_then(|mut m| m.run(&inputs));
                let got = match got {
                    Ok(g) => g,
                    Err(e) => {
                        failures.push(format!("{name} {}: {e}", case.display()));
                        continue;
                    }
                };
                for (g, want) in got.iter().zip(pbs(&set, "output_")) {
                    let want = onnx::read_tensor(&want).unwrap();
                    if let Err(e) = compare_tensors(case, g, &want) {
                        failures.push(format!("{name}: {e}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_presets_agree_with_onnx_runtime_under_every_profile_and_on_gles() {
    let rt = OrtRuntime::get(None).expect("ONNX Runtime loads (scripts/setup.sh)");
    let scratch = common::Scratch::new("limit-profiles");
    let contexts = configurations();
    let mut worst = 0f32;
    for (i, preset) in PRESETS.iter().enumerate() {
        let arch = preset.arch();
        let model = network_model(
            &Space::new(arch.space),
            &arch,
            &mut RandomWeights::new(i as u64),
        )
        .unwrap();
        let path = scratch.0.join(format!("{}.onnx", preset.name));
        onnx::write_model(&path, &model).unwrap();
        let graph = Graph::from_model(&model, preset.name).unwrap();
        let inputs = random_inputs(&specs_of(&graph), 7).unwrap();
        let ort = OrtModel::load(rt, &path, &OrtOptions::default())
            .unwrap()
            .run(&inputs)
            .unwrap();
        for ctx in &contexts {
            let gpu = GpuModel::compile(ctx, &graph, &inputs)
                .and_then(|mut m| m.run(&inputs))
                .unwrap_or_else(|e| panic!("{} under {}: {e}", preset.name, label(ctx)));
            let d = rel_diff(&gpu[0], &ort[0]);
            worst = worst.max(d);
            assert!(
                d <= 1e-4,
                "{} under {}: max |wgpu − ort| / max |ort| = {d}",
                preset.name,
                label(ctx)
            );
        }
    }
    eprintln!(
        "presets under {} profiles and on GLES: worst relative difference {worst:.2e}",
        PROFILES.len()
    );
}

/// A profile far below any phone's, to see the checks act: 32 invocations per
/// workgroup (the pointwise kernel's 8×8 tile no longer fits) and 4 storage buffers
/// (BatchNorm binds 6).
fn tiny() -> &'static LimitProfile {
    let base = &PROFILES[0];
    Box::leak(Box::new(LimitProfile {
        name: "tiny",
        limits: AdapterLimits {
            max_compute_invocations_per_workgroup: 32,
            max_compute_workgroup_size_x: 32,
            max_compute_workgroup_size_y: 32,
            max_storage_buffers_per_shader_stage: 4,
            ..base.limits.clone()
        },
        ..base.clone()
    }))
}

#[test]
fn a_kernel_beyond_the_limits_is_not_offered_or_fails_naming_the_limit() {
    // A network's 1×1 convolutions with the plain pointwise kernel forced (an 8×8
    // tile, 64 invocations): each falls back to a variant within the limits, and the
    // outputs are those of the unconstrained device.
    let open_tiny = |tuning| {
        GpuContext::new(&GpuOptions {
            limits: Some(tiny()),
            workgroup_size: 32,
            tuning,
            ..GpuOptions::default()
        })
        .unwrap()
    };
    let ctx = open_tiny(Tuning::Defaults);
    let forced = open_tiny(Tuning::Force(Variant::Plain));
    let free = GpuContext::new(&GpuOptions {
        tuning: Tuning::Force(Variant::Plain),
        ..GpuOptions::default()
    })
    .unwrap();
    let preset = &PRESETS[0];
    let arch = preset.arch();
    let model = network_model(&Space::new(arch.space), &arch, &mut RandomWeights::new(0)).unwrap();
    let graph = Graph::from_model(&model, preset.name).unwrap();
    let inputs = random_inputs(&specs_of(&graph), 7).unwrap();
    let run = |c: &GpuContext| {
        GpuModel::compile(c, &graph, &inputs)
            .and_then(|mut m| m.run(&inputs))
            .unwrap_or_else(|e| panic!("{}: {e}", c.limits_owner()))
    };
    let (a, b) = (run(&forced), run(&free));
    assert!(rel_diff(&a[0], &b[0]) <= 1e-4);

    // The workgroup size itself must fit.
    let err = GpuContext::new(&GpuOptions {
        limits: Some(tiny()),
        workgroup_size: 64,
        ..GpuOptions::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("max_compute_invocations_per_workgroup") && err.contains("tiny"),
        "{err}"
    );

    // BatchNormalization with its statistics as inputs binds 6 storage buffers.
    let bn = cases()
        .into_iter()
        .find(|c| c.ends_with("test_batchnorm_example"))
        .expect("onnx ships test_batchnorm_example");
    let model = onnx::read_model(&bn.join("model.onnx")).unwrap();
    let graph = Graph::from_model(&model, "bn").unwrap();
    let set = bn.join("test_data_set_0");
    let inputs: Vec<Tensor> = pbs(&set, "input_")
        .iter()
        .map(|f| onnx::read_tensor(f).unwrap())
        .collect();
    let err = GpuModel::compile(&ctx, &graph, &inputs)
        .err()
        .expect("BatchNorm cannot run in 4 storage buffers")
        .to_string();
    assert!(
        err.contains("max_storage_buffers_per_shader_stage = 6")
            && err.contains("limit profile tiny allows 4"),
        "{err}"
    );
}

#[test]
fn auto_takes_gles_where_vulkan_is_not_there() {
    // A Vulkan loader that finds only a driver it cannot load: no Vulkan adapter, as on
    // a phone without Vulkan; `--api auto` measures on GLES and says so.
    let s = common::Scratch::new("no-vulkan");
    let manifest = s.0.join("missing_icd.json");
    std::fs::write(
        &manifest,
        r#"{"file_format_version": "1.0.0",
            "ICD": {"library_path": "/nonexistent/libvulkan_phone.so", "api_version": "1.3.0"}}"#,
    )
    .unwrap();
    let model = s.0.join("m.onnx");
    let arch = PRESETS[0].arch();
    let m = network_model(&Space::new(arch.space), &arch, &mut RandomWeights::new(0)).unwrap();
    onnx::write_model(&model, &m).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_device-runner"))
        .args([
            "bench",
            "--backend",
            "wgpu",
            "--api",
            "auto",
            "--tuning",
            "defaults",
        ])
        .args(["--warmup", "0", "--runs", "1", "--json", "--model"])
        .arg(&model)
        .env("VK_ICD_FILENAMES", &manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let device = line["device"].as_str().unwrap_or_default();
    assert!(device.ends_with("(gl)"), "{line}");
    // `info` says so before anything is measured (a table's metadata records it).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_device-runner"))
        .args(["info", "--json", "--auto-adapter"])
        .env("VK_ICD_FILENAMES", &manifest)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let i = info["auto_adapter"].as_u64().expect("auto_adapter") as usize;
    assert_eq!(info["adapters"][i]["backend"], "gl", "{info}");
    assert!(device.starts_with(info["adapters"][i]["name"].as_str().unwrap()));
}
