//! The real `device-runner` binary on this machine: lavapipe gives a real Vulkan
//! adapter, the venv's libonnxruntime a real ONNX Runtime.

mod common;

use common::{Scratch, runner};
use device_runner::onnx::builder::{
    GraphBuilder, RandomWeights, network_model, sr_model, unit_model,
};
use device_runner::onnx::{self, Tensor};
use lookup_tables::{Space, SpaceId, SpaceOptions, preset, sr_preset};

#[test]
fn info_json_lists_adapters_and_the_ort_library() {
    let out = runner(&["info", "--json", "--auto-adapter"]);
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
    // Here `--api auto` runs on lavapipe through Vulkan (preferred over Mesa's GL).
    let i = v["auto_adapter"].as_u64().expect("auto_adapter") as usize;
    assert_eq!(adapters[i]["backend"], "vulkan", "{v}");
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
        device_runner::info::WGPU_VERSION
    );
    assert!(
        lock.contains(&want),
        "update info::WGPU_VERSION to the wgpu in Cargo.lock"
    );
}

fn small_network(dir: &std::path::Path) -> std::path::PathBuf {
    let space = Space::with_options(
        SpaceId::Moga,
        SpaceOptions {
            resolution: 64,
            classes: 10,
        },
    )
    .unwrap();
    let arch = preset("MoGA-B").unwrap().arch();
    let p = dir.join("moga-b-64.onnx");
    onnx::write_model(
        &p,
        &network_model(&space, &arch, &mut RandomWeights::new(1)).unwrap(),
    )
    .unwrap();
    p
}

#[test]
fn exec_writes_outputs_that_agree_across_backends() {
    let s = Scratch::new("exec");
    let model = small_network(&s.0);
    let x = Tensor::f32(
        vec![1, 3, 64, 64],
        (0..3 * 64 * 64)
            .map(|i| ((i % 97) as f32 / 48.0) - 1.0)
            .collect(),
    );
    onnx::write_tensor(&s.0.join("x.pb"), "input", &x).unwrap();
    let mut outs = Vec::new();
    for backend in ["wgpu", "cpu"] {
        let dir = s.0.join(backend);
        let r = runner(&[
            "exec",
            "--backend",
            backend,
            "--model",
            model.to_str().unwrap(),
            "--input",
            s.0.join("x.pb").to_str().unwrap(),
            "--output-dir",
            dir.to_str().unwrap(),
        ]);
        assert!(
            r.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        outs.push(onnx::read_tensor(&dir.join("output_0.pb")).unwrap());
    }
    assert_eq!(outs[0].shape, vec![1, 10]);
    let (a, b) = (outs[0].as_f32().unwrap(), outs[1].as_f32().unwrap());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-3 * scale),
        "{a:?} vs {b:?}"
    );
}

#[test]
fn bench_reports_one_json_line_per_model_and_survives_a_bad_one() {
    let s = Scratch::new("bench");
    small_network(&s.0);
    let key = Space::new(SpaceId::Fairnas).unit_list()[0];
    onnx::write_model(
        &s.0.join("stem.onnx"),
        &unit_model(&key, &mut RandomWeights::new(2)).unwrap(),
    )
    .unwrap();
    std::fs::write(s.0.join("broken.onnx"), b"not a model").unwrap();
    // A phone's sysfs, where the runner reads its heat (MOGA_SYSFS, as the adbd fixture
    // sets it for the programs it runs).
    let sys = s.0.join("sys");
    for (rel, v) in [
        ("class/thermal/thermal_zone0/type", "gpuss-0-usr"),
        ("class/thermal/thermal_zone0/temp", "43500"),
        (
            "devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
            "1804800",
        ),
        ("class/kgsl/kgsl-3d0/gpuclk", "585000000"),
    ] {
        std::fs::create_dir_all(sys.join(rel).parent().unwrap()).unwrap();
        std::fs::write(sys.join(rel), v).unwrap();
    }
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_device-runner"))
        .args([
            "bench",
            "--backend",
            "wgpu",
            "--model",
            s.0.to_str().unwrap(),
            "--warmup",
            "2",
            "--runs",
            "5",
            "--json",
        ])
        .env("MOGA_SYSFS", &sys)
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(1),
        "a failed model makes the exit code non-zero"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per model, in name order");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("not an ONNX model"),
        "{}",
        lines[0]
    );
    for ok in &lines[1..] {
        assert_eq!(ok["runs"], 5);
        assert_eq!(ok["backend"], "wgpu");
        let (p10, med, p90) = (
            ok["wall_p10_ms"].as_f64().unwrap(),
            ok["wall_median_ms"].as_f64().unwrap(),
            ok["wall_p90_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p10 && p10 <= med && med <= p90, "{ok}");
        assert!(
            ok["gpu_median_ms"].as_f64().is_some_and(|g| g > 0.0),
            "lavapipe has timestamps: {ok}"
        );
        // The device's heat before and after each model's measurement.
        for end in ["before", "after"] {
            let h = &ok["heat"][end];
            assert_eq!(h["zones"][0]["kind"], "gpuss-0-usr", "{ok}");
            assert_eq!(h["zones"][0]["celsius"], 43.5, "{ok}");
            assert_eq!(h["cpu_khz"][0], serde_json::json!(["policy0", 1804800]));
            assert_eq!(h["gpu_hz"], serde_json::json!(["kgsl-3d0", 585000000]));
        }
    }
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let s = Scratch::new("bad");
    let model = small_network(&s.0);
    let wrong = Tensor::f32(vec![1, 3, 32, 32], vec![0.0; 3 * 32 * 32]);
    onnx::write_tensor(&s.0.join("x.pb"), "input", &wrong).unwrap();
    let r = runner(&[
        "exec",
        "--backend",
        "wgpu",
        "--model",
        model.to_str().unwrap(),
        "--input",
        s.0.join("x.pb").to_str().unwrap(),
        "--output-dir",
        s.0.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("tensor 'input'") && err.contains("[1, 3, 32, 32]"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let r = runner(&[
        "exec",
        "--backend",
        "wgpu",
        "--model",
        "/nonexistent.onnx",
        "--output-dir",
        s.0.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("/nonexistent.onnx"));
}

/// A deterministic `w`×`h` colour picture: smooth ramps plus a pattern, mid-range enough
/// that most upscaled pixels are not clipped.
fn colour_png(path: &std::path::Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (60 + 6 * x) as u8,
            (70 + 9 * y) as u8,
            (90 + (x * 7 + y * 13) % 80) as u8,
        ])
    })
    .save(path)
    .unwrap();
}

#[test]
fn exec_upscales_an_image_into_a_png() {
    let s = Scratch::new("png");
    let input = s.0.join("in.png");
    colour_png(&input, 20, 14);
    let model = s.0.join("m.onnx");
    let arch = sr_preset("MoreMNAS-C").unwrap().arch();
    onnx::write_model(
        &model,
        &sr_model(&arch, 14, 20, &mut RandomWeights::new(1)).unwrap(),
    )
    .unwrap();
    let mut ups = Vec::new();
    for backend in ["cpu", "wgpu"] {
        let dir = s.0.join(backend);
        let up = s.0.join(format!("up-{backend}.png"));
        let r = runner(&[
            "exec",
            "--backend",
            backend,
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output-dir",
            dir.to_str().unwrap(),
            "--output-png",
            up.to_str().unwrap(),
        ]);
        assert!(
            r.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let y = onnx::read_tensor(&dir.join("output_0.pb")).unwrap();
        assert_eq!(y.shape, [1, 1, 28, 40]);
        let img = image::open(&up).unwrap();
        assert_eq!(img.color(), image::ColorType::Rgb8, "{backend}");
        let img = img.into_rgb8();
        assert_eq!(img.dimensions(), (40, 28), "{backend}");
        // The PNG's luminance is the model's output (Y = output · 255), up to 8-bit
        // rounding, wherever no channel was clipped.
        let back = imaging::rgb_to_ycbcr(&imaging::load_rgb(&up).unwrap()).y;
        let mut compared = 0;
        for ((px, b), v) in img.pixels().zip(&back.data).zip(y.as_f32().unwrap()) {
            if px.0.iter().all(|&c| c > 0 && c < 255) {
                assert!(
                    (b - 255.0 * v).abs() <= 1.0,
                    "{backend}: {b} vs {}",
                    255.0 * v
                );
                compared += 1;
            }
        }
        // Random weights push most of Y out of range; a fair share still is not.
        assert!(compared >= 100, "{backend}: {compared} unclipped pixels");
        ups.push(img);
    }
    let worst = ups[0]
        .as_raw()
        .iter()
        .zip(ups[1].as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 1, "cpu and wgpu PNGs differ by {worst} levels");
}

#[test]
fn an_output_that_is_not_the_upscaled_image_is_one_clear_error() {
    let s = Scratch::new("png-bad");
    let input = s.0.join("in.jpg");
    image::DynamicImage::ImageRgb8(image::RgbImage::new(20, 14))
        .save_with_format(&input, image::ImageFormat::Jpeg)
        .unwrap();
    // Same size out as in: a model that does not upscale.
    let mut g = GraphBuilder::new("same-size");
    let x = g.input("input", &[1, 1, 14, 20]);
    let y = g.node("Relu", "y", &[&x], vec![]);
    let model = s.0.join("relu.onnx");
    onnx::write_model(&model, &g.finish(&[(&y, vec![1, 1, 14, 20])])).unwrap();
    let up = s.0.join("up.png");
    let exec = |input: &std::path::Path| {
        runner(&[
            "exec",
            "--backend",
            "cpu",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output-dir",
            s.0.join("out").to_str().unwrap(),
            "--output-png",
            up.to_str().unwrap(),
        ])
    };
    let r = exec(&input);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("[1, 1, 14, 20]") && err.contains("[1, 1, 28, 40]") && err.contains("in.jpg"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        s.0.join("out/output_0.pb").is_file() && !up.exists(),
        "the tensor is still written, no PNG is"
    );

    let pb = s.0.join("x.pb");
    onnx::write_tensor(
        &pb,
        "input",
        &Tensor::f32(vec![1, 1, 14, 20], vec![0.5; 280]),
    )
    .unwrap();
    let r = exec(&pb);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("needs exactly one image --input"), "{err}");
}

#[test]
fn ort_backend_runs_exec_and_bench_like_wgpu() {
    let s = Scratch::new("ort");
    let model = small_network(&s.0);
    let x = Tensor::f32(
        vec![1, 3, 64, 64],
        (0..3 * 64 * 64)
            .map(|i| ((i % 89) as f32 / 44.0) - 1.0)
            .collect(),
    );
    onnx::write_tensor(&s.0.join("x.pb"), "input", &x).unwrap();
    let mut outs = Vec::new();
    for backend in ["ort", "wgpu"] {
        let dir = s.0.join(backend);
        let r = runner(&[
            "exec",
            "--backend",
            backend,
            "--model",
            model.to_str().unwrap(),
            "--input",
            s.0.join("x.pb").to_str().unwrap(),
            "--output-dir",
            dir.to_str().unwrap(),
        ]);
        assert!(
            r.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        outs.push(onnx::read_tensor(&dir.join("output_0.pb")).unwrap());
    }
    let (a, b) = (outs[0].as_f32().unwrap(), outs[1].as_f32().unwrap());
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-3 * scale));

    let r = runner(&[
        "bench",
        "--backend",
        "ort",
        "--model",
        model.to_str().unwrap(),
        "--warmup",
        "3",
        "--runs",
        "8",
        "--threads",
        "2",
        "--opt-level",
        "extended",
        "--json",
        "--per-node",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["runs"], 8);
    assert!(
        v["device"]
            .as_str()
            .unwrap()
            .contains("CPUExecutionProvider (2 threads)"),
        "{v}"
    );
    assert!(v["gpu_median_ms"].is_null());
    let nodes = v["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n["op_type"] == "Conv" && n["median_ms"].as_f64().unwrap() > 0.0),
        "{v}"
    );
    assert!(
        nodes.iter().all(|n| n["runs"] == 8),
        "warm-up runs are left out: {v}"
    );
}

#[test]
fn ort_library_problems_are_one_clear_error() {
    let s = Scratch::new("ort-errors");
    let model = small_network(&s.0);
    let m = model.to_str().unwrap();
    let old = common::repo().join(".deps/ort-1.20.1/libonnxruntime.so.1.20.1");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--ort-lib", "/nonexistent/libonnxruntime.so"],
            "/nonexistent/libonnxruntime.so: no such file".into(),
        ),
        (
            vec!["--ort-lib", old.to_str().unwrap()],
            "version 1.20.1 is too old".into(),
        ),
        (
            vec!["--ep", "xnnpack"],
            "execution provider XnnpackExecutionProvider is not in this library".into(),
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["bench", "--backend", "ort", "--model", m, "--runs", "1"];
        args.extend(extra);
        let r = runner(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            !r.status.success() && err.contains(&want),
            "want '{want}': {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let r = runner(&[
        "bench",
        "--backend",
        "cpu",
        "--model",
        m,
        "--runs",
        "1",
        "--per-node",
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("--per-node needs --backend ort or wgpu"));
}

/// Rounds, a reference and per-node timing together, on both backends, read back as the
/// runner's own types: every model gets a ratio to the reference and a median per
/// round; node shares cover the model.
#[test]
fn bench_interleaves_rounds_against_a_reference_node_by_node() {
    use device_runner::protocol::BenchLine;
    let s = Scratch::new("bench-rounds");
    let units = Space::new(SpaceId::Fairnas).unit_list();
    let mut paths = Vec::new();
    for (i, key) in [units[3], units[9], units[20]].iter().enumerate() {
        let p = s.0.join(format!("u{i}.onnx"));
        onnx::write_model(
            &p,
            &unit_model(key, &mut RandomWeights::new(i as u64)).unwrap(),
        )
        .unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    for backend in ["ort", "wgpu"] {
        let r = runner(&[
            "bench",
            "--backend",
            backend,
            "--json",
            "--warmup",
            "1",
            "--runs",
            "6",
            "--rounds",
            "3",
            "--per-node",
            "--reference",
            &paths[2],
            "--model",
            &paths[0],
            "--model",
            &paths[1],
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let lines = BenchLine::parse_all(&String::from_utf8_lossy(&r.stdout));
        assert_eq!(lines.len(), 2, "{backend}");
        for line in lines {
            let BenchLine::Record(rec) = line else {
                panic!("{backend}: {line:?}")
            };
            let ratio = rec.ratio.as_ref().expect("a ratio to the reference");
            assert_eq!(
                (ratio.pairs, ratio.round_medians.len()),
                (6, 3),
                "{backend}"
            );
            assert!(ratio.median > 0.0 && ratio.reference.ends_with("u2.onnx"));
            assert_eq!(rec.round_medians_ms.len(), 3);
            let nodes = rec.nodes.as_ref().expect("nodes");
            let total: f64 = nodes.iter().map(|n| n.share.unwrap()).sum();
            assert!(
                nodes.len() >= 2 && (total - 1.0).abs() < 0.2,
                "{backend}: {total} {nodes:?}"
            );
        }
    }
}
