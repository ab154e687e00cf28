//! Super-resolution end to end through the real binary: the presets and sampled
//! architectures of both spaces as ONNX models on the CPU reference, ONNX Runtime and
//! wgpu (lavapipe), at non-square sizes.

mod common;

/// Every preset and two sampled architectures of each space: one model per network at
/// a small non-square size; all three engines agree within 1e-4 of the largest output,
/// and the ONNX checker accepts the file.
#[test]
fn sr_networks_run_on_three_backends_and_agree() {
    let s = common::Scratch::new("sr-export");
    let mut archs: Vec<String> = ["FALSR-A", "FALSR-B", "FALSR-C", "MoreMNAS-C", "MoreMNAS-D"]
        .map(String::from)
        .to_vec();
    for space in ["falsr", "moremnas"] {
        let out = s.moga(&["arch", "sample", "--space", space, "-n", "2", "--seed", "5"]);
        archs.extend(out.ok().lines().map(str::to_string));
    }
    for (i, arch) in archs.iter().enumerate() {
        let file = format!("m{i}.onnx");
        let v = s
            .moga(&[
                "export",
                arch,
                "-o",
                &file,
                "--lr-size",
                "12x17",
                "--verify",
                "--json",
            ])
            .json();
        let engines = v["verify"].as_array().unwrap();
        assert_eq!(engines.len(), 3, "{v}");
        for e in &engines[1..] {
            let d = e["max_rel_diff"].as_f64().unwrap_or(f64::NAN);
            assert!(d <= 1e-4, "{arch} on {}: {e}", e["engine"]);
        }
        let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
        let check = std::process::Command::new(python)
            .args(["-c", "import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print([d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim])"])
            .arg(s.path(&file))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&check.stdout).trim(),
            "[1, 1, 24, 34]"
        );
    }
    let r = s.moga(&["export", "FALSR-A", "-o", "x.onnx", "--lr-size", "0x4"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("'0x4' is not a size"), "{}", r.stderr());
    let err = s
        .moga(&["export", "falsr:conv_f16_k1_b1_skip", "-o", "x.onnx"])
        .fails_with_one_line();
    assert!(err.contains("falsr has 7"), "{err}");
    assert!(!s.path("x.onnx").exists());
}
