//! The ONNX builder: every unit of every space, the single-operator units and whole
//! networks pass `onnx.checker.check_model(full_check=True)`; units and the presets
//! MoGA-A, FairNAS-A and Scarlet-A give the same outputs on wgpu as on the CPU
//! reference (random weights, max |diff| ≤ 1e-3 × max |output|).

mod common;

use std::path::PathBuf;

use device_runner::cpu;
use device_runner::gpu::{GpuContext, GpuModel, GpuOptions};
use device_runner::graph::Graph;
use device_runner::onnx::builder::{RandomWeights, network_model, part_of_node, unit_model};
use device_runner::onnx::{self, Tensor, proto::ModelProto};
use device_runner::session::{random_inputs, specs_of};
use lookup_tables::{Activation, Space, SpaceId, UnitKey, UnitKind, preset};

fn op_units() -> Vec<UnitKey> {
    let conv = UnitKey {
        kernel: 3,
        stride: 2,
        act: Activation::Relu6,
        ..UnitKey::new(UnitKind::Conv, 17, 8, 12)
    };
    let dw = UnitKey {
        kernel: 5,
        stride: 1,
        act: Activation::Hswish,
        ..UnitKey::new(UnitKind::Dwconv, 14, 24, 24)
    };
    let se = UnitKey {
        se: Some(Activation::Relu),
        ..UnitKey::new(UnitKind::Se, 7, 96, 96)
    };
    let pool = UnitKey::new(UnitKind::Pool, 7, 320, 320);
    let add = UnitKey::new(UnitKind::Add, 28, 40, 40);
    vec![conv, dw, se, pool, add]
}

fn write_all(dir: &std::path::Path, models: &[(String, ModelProto)]) -> Vec<PathBuf> {
    models
        .iter()
        .map(|(name, m)| {
            let p = dir.join(format!("{name}.onnx"));
            onnx::write_model(&p, m).unwrap();
            p
        })
        .collect()
}

#[test]
fn every_model_passes_the_onnx_checker() {
    let scratch = common::Scratch::new("builder-check");
    let mut models = Vec::new();
    let mut w = RandomWeights::new(1);
    for id in SpaceId::ALL {
        for (i, key) in Space::new(id).unit_list().iter().enumerate() {
            models.push((
                format!("{id}-unit-{i:03}"),
                unit_model(key, &mut w).unwrap(),
            ));
        }
    }
    for (i, key) in op_units().iter().enumerate() {
        models.push((format!("op-{i}"), unit_model(key, &mut w).unwrap()));
    }
    for p in lookup_tables::PRESETS {
        let arch = p.arch();
        models.push((
            p.name.to_string(),
            network_model(&Space::new(arch.space), &arch, &mut w).unwrap(),
        ));
    }
    let small = Space::with_options(
        SpaceId::Scarlet,
        lookup_tables::SpaceOptions {
            resolution: 32,
            classes: 10,
        },
    )
    .unwrap();
    for (i, arch) in small.sample(3, 5).iter().enumerate() {
        models.push((
            format!("scarlet32-{i}"),
            network_model(&small, arch, &mut w).unwrap(),
        ));
    }
    let paths = write_all(&scratch.0, &models);
    assert_eq!(paths.len(), 125 + 70 + 136 + 5 + 9 + 3);
    common::check_models(&paths);
}

fn gpu() -> GpuContext {
    GpuContext::new(&GpuOptions::default()).expect("a GPU adapter (lavapipe: scripts/setup.sh)")
}

/// max |gpu − cpu| / max |cpu|.
fn compare(model: &ModelProto, name: &str, ctx: &GpuContext) -> f32 {
    let graph = Graph::from_model(model, name).unwrap();
    let inputs: Vec<Tensor> = random_inputs(&specs_of(&graph), 3).unwrap();
    let want = cpu::run(&graph, &inputs).unwrap();
    let got = GpuModel::compile(ctx, &graph, &inputs)
        .unwrap()
        .run(&inputs)
        .unwrap();
    let (g, w) = (got[0].as_f32().unwrap(), want[0].as_f32().unwrap());
    assert_eq!(got[0].shape, want[0].shape, "{name}");
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

#[test]
fn every_moga_unit_agrees_between_wgpu_and_the_reference() {
    let ctx = gpu();
    let mut w = RandomWeights::new(2);
    let mut keys = Space::new(SpaceId::Moga).unit_list();
    keys.extend(op_units());
    for key in keys {
        let d = compare(&unit_model(&key, &mut w).unwrap(), &key.to_string(), &ctx);
        assert!(d <= 1e-3, "{key}: relative difference {d}");
    }
}

#[test]
fn whole_presets_agree_between_wgpu_and_the_reference() {
    let ctx = gpu();
    for name in ["MoGA-A", "FairNAS-A", "Scarlet-A"] {
        let arch = preset(name).unwrap().arch();
        let model =
            network_model(&Space::new(arch.space), &arch, &mut RandomWeights::new(4)).unwrap();
        let d = compare(&model, name, &ctx);
        assert!(d <= 1e-3, "{name}: relative difference {d}");
    }
}

#[test]
fn every_node_of_a_network_names_its_part() {
    let mut w = RandomWeights::new(3);
    for id in SpaceId::ALL {
        let space = Space::new(id);
        for arch in space.sample(3, 9) {
            let parts: Vec<String> = space
                .units_of(&arch)
                .unwrap()
                .into_iter()
                .map(|u| u.part)
                .collect();
            let model = network_model(&space, &arch, &mut w).unwrap();
            let mut seen = std::collections::HashSet::new();
            for node in &model.graph.as_ref().unwrap().node {
                let name = node.name.clone().unwrap_or_default();
                let part =
                    part_of_node(&name).unwrap_or_else(|| panic!("{id}: node {name} has no part"));
                assert!(
                    parts.contains(&part),
                    "{id}: {name} → {part}, not one of {parts:?}"
                );
                seen.insert(part);
            }
            assert_eq!(seen.len(), parts.len(), "{id}: every part has nodes");
        }
    }
    assert_eq!(
        part_of_node("layers.12.se.excite").as_deref(),
        Some("layer 12")
    );
    assert_eq!(part_of_node("stem_nchwc").as_deref(), Some("stem"));
    assert_eq!(part_of_node("ReorderOutput_token_165"), None);
}
