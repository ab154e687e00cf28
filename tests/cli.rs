//! End-to-end tests of `moga space`, `moga arch` and `moga doctor`: the real binary, its
//! exit codes, its JSON on stdout and its one-line errors on stderr.

mod common;

use common::moga;

#[test]
fn space_list_and_show_report_the_papers_shapes() {
    let spaces = moga(&["space", "list", "--json"]).json_lines();
    let summary: Vec<(String, u64, u64)> = spaces
        .iter()
        .map(|s| {
            (
                s["space"].as_str().unwrap().to_string(),
                s["layers"].as_u64().unwrap(),
                s["choices"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("moga".into(), 14, 12),
            ("fairnas".into(), 19, 6),
            ("scarlet".into(), 19, 13),
            ("falsr".into(), 7, 192),
            ("moremnas".into(), 7, 192)
        ]
    );
    let falsr = moga(&["space", "show", "falsr", "--json"]).json();
    assert_eq!(falsr["link_bits"], 28);
    assert_eq!(falsr["choices"].as_array().unwrap().len(), 192);
    assert_eq!(
        falsr["presets"],
        serde_json::json!(["FALSR-A", "FALSR-B", "FALSR-C"])
    );

    let moga_space = moga(&["space", "show", "moga", "--json", "--units"]).json();
    let layers = moga_space["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 14);
    assert_eq!(layers[0]["input_hw"], 112);
    assert_eq!(layers[13]["cout"], 160);
    assert_eq!(moga_space["units"], 125);
    assert_eq!(moga_space["unit_list"].as_array().unwrap().len(), 125);

    let human = moga(&["space", "show", "scarlet"]).ok();
    assert!(
        human.contains("19 searchable layers × 13 choices"),
        "{human}"
    );
    assert!(human.contains("Scarlet-A, Scarlet-B, Scarlet-C"), "{human}");
}

#[test]
fn arch_stats_takes_every_form_of_an_architecture() {
    let by_name = moga(&["arch", "stats", "FairNAS-C", "--json"]).json();
    let encoding = by_name["arch"].as_str().unwrap().to_string();
    let by_encoding = moga(&["arch", "stats", &encoding, "--json"]).json();
    assert_eq!(by_name, by_encoding);

    let s = common::Scratch::new("arch-forms");
    let json_form = moga(&[
        "arch", "sample", "--space", "fairnas", "-n", "1", "--seed", "3", "--json",
    ])
    .json();
    std::fs::write(s.path("a.json"), json_form.to_string()).unwrap();
    let encoding = moga(&[
        "arch", "sample", "--space", "fairnas", "-n", "1", "--seed", "3",
    ])
    .ok();
    std::fs::write(s.path("a.txt"), &encoding).unwrap();
    let from_json = s.moga(&["arch", "stats", "a.json", "--json"]).json();
    let from_txt = s.moga(&["arch", "stats", "a.txt", "--json"]).json();
    assert_eq!(from_json, from_txt);
    assert_eq!(from_json["arch"], encoding.trim());

    let two = moga(&["arch", "stats", "MoGA-A", "Scarlet-B", "--json"]).json_lines();
    assert_eq!(two.len(), 2);
    assert_eq!(two[1]["depth"], 17);
}

#[test]
fn arch_stats_prints_a_per_layer_table() {
    let out = moga(&["arch", "stats", "MoGA-A"]).ok();
    assert!(out.starts_with("MoGA-A = moga:k5e6-k7e6"), "{out}");
    assert!(out.contains("madds 304,042,176"), "{out}");
    for part in [
        "stem",
        "separable",
        "layer 0",
        "layer 13",
        "head",
        "hidden fc",
        "classifier",
    ] {
        assert!(out.contains(part), "{part} missing:\n{out}");
    }
}

#[test]
fn sampling_is_seeded() {
    let a = moga(&[
        "arch", "sample", "--space", "scarlet", "-n", "20", "--seed", "9",
    ])
    .ok();
    let b = moga(&[
        "arch", "sample", "--space", "scarlet", "-n", "20", "--seed", "9",
    ])
    .ok();
    let c = moga(&[
        "arch", "sample", "--space", "scarlet", "-n", "20", "--seed", "10",
    ])
    .ok();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.lines().count(), 20);
    for line in a.lines() {
        moga(&["arch", "stats", line, "--json"]).json();
    }
}

#[test]
fn bad_architectures_fail_with_one_line_naming_the_layer() {
    let cases = [
        (
            "moga:k5e6-k7e6",
            "space moga has 14 searchable layers, the architecture has 2",
        ),
        (
            "fairnas:k3e3-k3e3-k7e3-k3e3-k3e3-k3e3-k3e3-k3e3-k3e3-k3e6-k3e3-k3e3-k3e3-k3e3-k7e6-k7e6-k3e6-k3e6-k5e6se",
            "layer 18: 'k5e6se' has SE",
        ),
        (
            "scarlet:id-k5e6-k5e3-k7e3se-k3e6se-k5e3se-k3e6se-k3e3-k7e3se-k7e3-k5e3-k7e3se-k3e3-k7e3se-k3e6se-k5e6se-k3e3se-k3e6se-k7e6se",
            "layer 0: identity is not allowed here",
        ),
        ("moga:k5e6-k7x6", "layer 1: 'k7x6' is not a choice"),
        ("MoGA-Z", "not a preset"),
        ("resnet:k3e3", "unknown search space 'resnet'"),
        ("{\"space\":\"moga\"", "architecture JSON"),
    ];
    for (arch, want) in cases {
        let err = moga(&["arch", "stats", arch]).fails_with_one_line();
        assert!(err.contains(want), "{arch}: want '{want}' in '{err}'");
    }
}

#[test]
fn doctor_reports_the_whole_stack() {
    let r = moga(&["doctor", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(r.stdout().trim()).expect("doctor --json prints JSON");
    assert!(
        v["adapters"]["Ok"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "no GPU adapter (lavapipe): {v}"
    );
    assert_eq!(v["libtorch"]["compute_ok"], true, "{v}");
    assert!(
        v["onnxruntime"]["Ok"]["version"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.31")),
        "{v}"
    );
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(r.code(), 0);
}

#[test]
fn export_writes_a_model_the_onnx_checker_accepts() {
    let s = common::Scratch::new("export");
    let v = s
        .moga(&["export", "Scarlet-B", "-o", "scarlet-b.onnx", "--json"])
        .json();
    assert_eq!(v["params"], 6_531_556);
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    let check = std::process::Command::new(python)
        .args(["-c", "import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.graph.output[0].type.tensor_type.shape.dim[1].dim_value)"])
        .arg(s.path("scarlet-b.onnx"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "1000");
    let err = s
        .moga(&["export", "moga:k3e3", "-o", "x.onnx"])
        .fails_with_one_line();
    assert!(err.contains("14 searchable layers"), "{err}");
    assert!(!s.path("x.onnx").exists());
}

/// Issue 30: `moga` links no libtorch (its start-up cost every command about 0.35 s);
/// only the `moga-torch` helper does.
#[test]
fn moga_links_no_libtorch() {
    let out = std::process::Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_moga")])
        .output()
        .expect("readelf runs (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(!needed.is_empty(), "readelf said nothing: {text}");
    for l in needed {
        assert!(
            !l.contains("torch") && !l.contains("c10"),
            "moga needs libtorch: {l}"
        );
    }
}

/// A command that needs libtorch, with no helper where `MOGA_TORCH` points, fails with
/// one line naming the helper; nothing else is started.
#[test]
fn a_missing_helper_is_one_line_naming_it() {
    let s = common::Scratch::new("no-helper");
    let missing = s.path("moga-torch");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(["eval", "--ckpt", "ckpt", "FairNAS-A"])
        .current_dir(&s.dir)
        .env("MOGA_TORCH", &missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("moga: cannot run ") && err.contains(missing.to_str().unwrap()),
        "{err}"
    );
    // Commands that need no libtorch do not look for it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moga"))
        .args(["arch", "stats", "FairNAS-A", "--json"])
        .env("MOGA_TORCH", &missing)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
