//! Super-resolution end to end through the real binary: the presets and sampled
//! architectures of both spaces as ONNX models on the CPU reference, ONNX Runtime and
//! wgpu (lavapipe), at non-square sizes.

mod common;

use common::QUICK;

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

fn sample_images() -> String {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/sr-images");
    assert!(
        d.join("val/text.png").is_file(),
        "{} is missing: run scripts/setup.sh",
        d.display()
    );
    format!("images:{}", d.display())
}

/// A short `moga sr train` on the bundled images writes weights and a record with a
/// bicubic baseline; the trained network upscales a PNG on libtorch, the CPU reference,
/// ONNX Runtime and wgpu to the same pixels (±1 level); `moga export --ckpt` writes it
/// with its weights and the engines agree with libtorch.
#[test]
fn a_trained_network_upscales_a_png_on_every_engine() {
    let s = common::Scratch::new("sr-train");
    let data = sample_images();
    let v = s
        .moga(&[
            "sr",
            "train",
            "MoreMNAS-C",
            "--data",
            &data,
            "--steps",
            "24",
            "--eval-every",
            "12",
            "--batch",
            "4",
            "--patch",
            "16",
            "--device",
            "cpu",
            "-o",
            "w",
            "--json",
        ])
        .json();
    assert_eq!(v["records"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["params"], 25_001);
    assert_eq!(v["per_image"].as_array().unwrap().len(), 5);
    let bicubic = v["bicubic"]["psnr_db"].as_f64().unwrap();
    assert!((25.0..40.0).contains(&bicubic), "{bicubic}");
    assert!(s.path("w/sr.safetensors").is_file() && s.path("w/sr.json").is_file());

    // A small colour input: a crop of a held-out image.
    let img = image::open(data.strip_prefix("images:").unwrap().to_string() + "/val/coffee.png")
        .unwrap()
        .crop_imm(200, 150, 40, 30)
        .to_rgb8();
    img.save(s.path("in.png")).unwrap();
    let mut outs = Vec::new();
    for engine in ["torch", "cpu", "ort", "wgpu"] {
        let out = format!("up-{engine}.png");
        let r = s
            .moga(&[
                "sr",
                "upscale",
                "in.png",
                "-o",
                &out,
                "--weights",
                "w",
                "--engine",
                engine,
                "--json",
            ])
            .json();
        assert_eq!(r["output_size"], serde_json::json!([80, 60]), "{r}");
        outs.push(image::open(s.path(&out)).unwrap().to_rgb8());
    }
    for (e, o) in outs.iter().enumerate().skip(1) {
        let worst = o
            .as_raw()
            .iter()
            .zip(outs[0].as_raw())
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 1, "engine {e}: {worst} levels from libtorch");
    }

    let v = s
        .moga(&[
            "export",
            "MoreMNAS-C",
            "--ckpt",
            "w",
            "-o",
            "c.onnx",
            "--lr-size",
            "10x14",
            "--verify",
            "--json",
        ])
        .json();
    assert!(v["weights"].as_str().unwrap().starts_with("trained"), "{v}");
    let engines = v["verify"].as_array().unwrap();
    assert_eq!(engines.len(), 4, "{v}");
    for e in &engines[1..] {
        assert!(e["max_rel_diff"].as_f64().unwrap() <= 1e-4, "{e}");
    }
    let err = s
        .moga(&["export", "FALSR-B", "--ckpt", "w", "-o", "b.onnx"])
        .fails_with_one_line();
    assert!(err.contains("not falsr:"), "{err}");
}

/// `moga search --space falsr` end to end with FALSR's brief-training oracle (a few
/// steps: the figure is not the point here): a front, the presets scored by the same
/// oracle, a plot; every score cached, so the same command again trains nothing, and a
/// front member exports.
#[test]
fn a_falsr_search_writes_its_front_and_reuses_its_scores() {
    let s = common::Scratch::new("sr-search");
    let data = sample_images();
    let args = [
        "search",
        "--space",
        "falsr",
        "--data",
        &data,
        "--population",
        "4",
        "--generations",
        "1",
        "--accuracy",
        "train:3",
        "--roulette-mutation",
        "0.5",
        "-o",
        "front.json",
        "--plot",
        "front.svg",
        "--json",
    ];
    let v = s.moga(&args).json();
    let front = v["front"].as_array().unwrap();
    assert!(!front.is_empty(), "{v}");
    assert_eq!(v["presets"].as_array().unwrap().len(), 3);
    assert!(v["oracle"]["trained"].as_u64().unwrap() >= 4);
    for m in front {
        assert!(m["psnr"].as_f64().unwrap().is_finite() && m["madds"].as_u64().unwrap() > 0);
    }
    assert!(
        std::fs::read_to_string(s.path("front.svg"))
            .unwrap()
            .contains("<svg")
    );
    let again = s.moga(&args).json();
    assert_eq!(again["oracle"]["trained"], 0, "{again}");
    assert_eq!(again["front"], v["front"]);
    let e = s
        .moga(&[
            "export",
            "front.json#0",
            "-o",
            "f.onnx",
            "--lr-size",
            "8",
            "--json",
        ])
        .json();
    assert_eq!(e["arch"], front[0]["arch"]);
    assert!(s.path("f.onnx").is_file());
    let err = s
        .moga(&[
            "search",
            "--space",
            "moremnas",
            "--objectives",
            "psnr:max,lat:min",
            "-o",
            "x.json",
        ])
        .fails_with_one_line();
    assert!(
        err.contains("needs the device's latency table (--lut"),
        "{err}"
    );
}

/// Latency tables for super-resolution: MoreMNAS's whole table profiled with ONNX
/// Runtime at an 8×8 input is complete, predicts a preset part by part and is validated
/// against whole networks; FALSR-B's own units, profiled on wgpu, predict it.
// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn sr_tables_are_profiled_predicted_and_validated() {
    let s = common::Scratch::new("sr-lut");
    let root = s.path("root");
    let root = root.to_str().unwrap();
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "ort",
        "--space",
        "moremnas",
        "--lr-side",
        "8",
        "-o",
        "m.csv",
        "--local-root",
        root,
        "--json",
    ];
    args.extend(QUICK);
    let p = s.moga(&args).json();
    assert_eq!(
        (p["units"].as_u64(), p["failed"].as_u64()),
        (Some(645), Some(0)),
        "{p}"
    );
    let lut = lookup_tables::Lut::read(&s.path("m.csv")).unwrap();
    assert_eq!(lut.meta.sr_spaces, [lookup_tables::SrSpaceId::Moremnas]);
    assert!(
        lut.meta
            .reference
            .as_ref()
            .unwrap()
            .arch
            .starts_with("moremnas:")
    );
    s.moga(&[
        "lut",
        "check",
        "m.csv",
        "--space",
        "moremnas",
        "--lr-side",
        "8",
    ])
    .ok();

    let v = s
        .moga(&[
            "lut",
            "predict",
            "--lut",
            "m.csv",
            "MoreMNAS-C",
            "--lr-side",
            "8",
            "--breakdown",
            "--json",
        ])
        .json();
    let parts = v["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 9, "{v}");
    assert_eq!(parts[0]["unit"], "srfe 8x8 1->32");
    assert_eq!(parts[4]["unit"], "srcell 8x8 16->48 k1 e1 g2 b4 skip");
    let sum: f64 = parts.iter().map(|p| p["median_ms"].as_f64().unwrap()).sum();
    assert!(
        (v["latency_ms"].as_f64().unwrap() - sum).abs() < 1e-9,
        "{v}"
    );
    // At the default side the table has nothing, and says which side it holds.
    let e = s.moga(&["lut", "predict", "--lut", "m.csv", "MoreMNAS-C"]);
    assert!(e.stderr().contains("pass --lr-side 8"), "{}", e.stderr());

    let mut args = vec![
        "lut",
        "validate",
        "--lut",
        "m.csv",
        "--space",
        "moremnas",
        "--lr-side",
        "8",
        "--samples",
        "8",
        "--no-store",
        "--local-root",
        root,
        "--json",
    ];
    args.extend(&QUICK[..8]);
    let v = s.moga(&args).json();
    assert_eq!(
        (v["measured"].as_u64(), v["failed"].as_u64()),
        (Some(8), Some(0)),
        "{v}"
    );

    // Deployed beside its prediction.
    let mut args = vec![
        "deploy",
        "MoreMNAS-C",
        "--lut",
        "m.csv",
        "--lr-side",
        "8",
        "--local-root",
        root,
        "--json",
    ];
    args.extend(&QUICK[..8]);
    let d = s.moga(&args).json();
    assert_eq!(d["preset"], "MoreMNAS-C", "{d}");
    assert!(
        d["median_ms"].as_f64().unwrap() > 0.0 && d["predicted_ms"].as_f64().unwrap() > 0.0,
        "{d}"
    );
    assert!(d["error_pct"].as_f64().unwrap().is_finite(), "{d}");

    // The table as a search objective: a moremnas search minimising predicted latency.
    let data = sample_images();
    let v = s
        .moga(&[
            "search",
            "--space",
            "moremnas",
            "--objectives",
            "psnr:max,lat:min",
            "--lut",
            "m.csv",
            "--lr-side",
            "8",
            "--data",
            &data,
            "--population",
            "4",
            "--generations",
            "1",
            "--accuracy",
            "train:2",
            "-o",
            "lat.json",
            "--json",
        ])
        .json();
    for m in v["front"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["evaluated"].as_array().unwrap())
    {
        assert!(m["lat_ms"].as_f64().unwrap() > 0.0, "{m}");
    }
    let e = s.moga(&[
        "search",
        "--space",
        "moremnas",
        "--objectives",
        "psnr:max,lat:min",
        "--lut",
        "m.csv",
        "--data",
        &data,
        "-o",
        "x.json",
    ]);
    assert!(
        e.fails_with_one_line()
            .contains("lacks 645 of the 645 units"),
        "{}",
        e.stderr()
    );

    // FALSR-B's units alone, on wgpu (lavapipe): grouped convolutions, concatenated
    // inputs up to 208 channels, the tail.
    let b = lookup_tables::sr_preset("FALSR-B").unwrap().arch();
    let names: Vec<String> = b
        .units(8)
        .unwrap()
        .iter()
        .map(|u| u.key.to_string())
        .collect();
    let mut args = vec![
        "profile",
        "--device",
        "local",
        "--backend",
        "wgpu",
        "--space",
        "falsr",
        "--lr-side",
        "8",
        "-o",
        "b.csv",
        "--local-root",
        root,
        "--json",
    ];
    for n in &names {
        args.extend(["--only", n.as_str()]);
    }
    args.extend(QUICK);
    let p = s.moga(&args).json();
    let distinct = names.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(
        (p["units"].as_u64(), p["measured"].as_u64()),
        (Some(distinct as u64), Some(distinct as u64)),
        "{p}"
    );
    let v = s
        .moga(&[
            "lut",
            "predict",
            "--lut",
            "b.csv",
            "FALSR-B",
            "--lr-side",
            "8",
            "--json",
        ])
        .json();
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0, "{v}");
    let e = s.moga(&[
        "profile",
        "--device",
        "local",
        "--backend",
        "ort",
        "--space",
        "falsr",
        "--ops",
        "-o",
        "x.csv",
        "--local-root",
        root,
    ]);
    assert!(e.fails_with_one_line().contains("measured whole"));
}

/// The weight-sharing supernet: a short `moga sr supernet` checkpoints at every
/// evaluation and resumes to a longer budget; its inherited weights score architectures
/// (`moga sr score`), drive a search (`--accuracy supernet:DIR`) and export with
/// `moga export --ckpt`, where every engine agrees with libtorch.
// Why one long test: a scenario whose steps each need what the one before made (a table,
// a checkpoint, a running fixture); split, every part would redo minutes of set-up.
#[test]
fn an_sr_supernet_trains_resumes_scores_searches_and_exports() {
    let s = common::Scratch::new("sr-supernet");
    let data = sample_images();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "sr",
            "supernet",
            "--space",
            "moremnas",
            "--data",
            &data,
            "--batch",
            "2",
            "--patch",
            "8",
            "--eval-every",
            "2",
            "--device",
            "cpu",
            "-o",
            "sn",
            "--json",
        ];
        args.extend(extra);
        s.moga(&args).json()
    };
    let v = train(&["--steps", "4"]);
    assert_eq!(v["steps_done"], 4, "{v}");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{v}");
    assert_eq!(records[1]["presets"].as_array().unwrap().len(), 2);
    // What the presets reach with the cells cut off, kept beside their inherited scores.
    let fixed = records[1]["fixed_parts"].as_array().unwrap();
    assert_eq!(fixed.len(), 2, "{v}");
    assert!(
        fixed.iter().all(|p| p[1].as_f64().unwrap().is_finite()),
        "{v}"
    );
    assert!(s.path("sn/srsupernet.safetensors").is_file());
    let v = train(&["--steps", "6", "--resume"]);
    assert_eq!(v["steps_done"], 6, "{v}");
    assert!(
        v["weak_oracle"].as_str().unwrap().contains("below bicubic"),
        "{v}"
    );
    assert_eq!(v["records"].as_array().unwrap().len(), 3, "{v}");
    let e = s
        .moga(&["sr", "supernet", "--space", "falsr", "--resume", "-o", "sn"])
        .fails_with_one_line();
    assert!(e.contains("holds a moremnas supernet"), "{e}");

    let oracle = "supernet:sn";
    let scored = s.moga(&[
        "sr",
        "score",
        "MoreMNAS-C",
        "--space",
        "moremnas",
        "--sample",
        "2",
        "--data",
        &data,
        "--accuracy",
        oracle,
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = scored
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["name"], "MoreMNAS-C");
    assert!(
        lines
            .iter()
            .all(|l| l["psnr"].as_f64().unwrap().is_finite())
    );
    let e = s
        .moga(&[
            "sr",
            "score",
            "FALSR-B",
            "--space",
            "falsr",
            "--data",
            &data,
            "--accuracy",
            oracle,
        ])
        .fails_with_one_line();
    assert!(e.contains("covers moremnas, not falsr"), "{e}");

    let searched = s.moga(&[
        "search",
        "--space",
        "moremnas",
        "--data",
        &data,
        "--population",
        "4",
        "--generations",
        "1",
        "--accuracy",
        oracle,
        "-o",
        "front.json",
        "--json",
    ]);
    let v = searched.json();
    // Six steps teach the shared weights nothing: the search says its oracle is weak.
    let err = searched.stderr();
    assert!(
        err.contains("warning: sn: at step 6 every preset") && err.contains("below bicubic"),
        "{err}"
    );
    assert!(
        v["oracle"]["kind"]
            .as_str()
            .unwrap()
            .starts_with("supernet"),
        "{v}"
    );
    assert_eq!(v["oracle"]["supernet_steps"], 6);
    assert!(!v["front"].as_array().unwrap().is_empty(), "{v}");
    // A preset's inherited score is the one `moga sr score` gave.
    let c = v["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "MoreMNAS-C")
        .unwrap();
    assert_eq!(c["psnr"], lines[0]["psnr"]);

    let e = s
        .moga(&[
            "export",
            "MoreMNAS-D",
            "--ckpt",
            "sn",
            "-o",
            "d.onnx",
            "--lr-size",
            "9x7",
            "--verify",
            "--json",
        ])
        .json();
    let engines = e["verify"].as_array().unwrap();
    assert_eq!(engines.len(), 4, "libtorch and three engines: {e}");
    for x in &engines[1..] {
        let d = x["max_rel_diff"].as_f64().unwrap_or(f64::NAN);
        assert!(d <= 1e-4, "{}: {x}", x["engine"]);
    }
}
