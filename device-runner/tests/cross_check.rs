//! ONNX Runtime and the wgpu backend on the same files: every preset, random weights,
//! outputs agree within 1e-3 of the output's magnitude.

mod common;

use device_runner::gpu::{GpuContext, GpuModel, GpuOptions};
use device_runner::graph::Graph;
use device_runner::onnx::builder::{RandomWeights, network_model};
use device_runner::onnx::{self};
use device_runner::ort_backend::{OrtModel, OrtOptions, OrtRuntime};
use device_runner::session::{random_inputs, specs_of};
use lookup_tables::{PRESETS, Space};

#[test]
fn every_preset_agrees_between_ort_and_wgpu() {
    let ctx = GpuContext::new(&GpuOptions::default())
        .expect("a GPU adapter (lavapipe: scripts/setup.sh)");
    let rt = OrtRuntime::get(None).expect("ONNX Runtime loads (scripts/setup.sh)");
    let scratch = common::Scratch::new("cross-check");
    for (i, p) in PRESETS.iter().enumerate() {
        let arch = p.arch();
        let model = network_model(
            &Space::new(arch.space),
            &arch,
            &mut RandomWeights::new(i as u64),
        )
        .unwrap();
        let path = scratch.0.join(format!("{}.onnx", p.name));
        onnx::write_model(&path, &model).unwrap();
        let graph = Graph::from_model(&model, p.name).unwrap();
        let inputs = random_inputs(&specs_of(&graph), 7).unwrap();
        let gpu = GpuModel::compile(&ctx, &graph, &inputs)
            .unwrap()
            .run(&inputs)
            .unwrap();
        let ort = OrtModel::load(rt, &path, &OrtOptions::default())
            .unwrap()
            .run(&inputs)
            .unwrap();
        let (a, b) = (gpu[0].as_f32().unwrap(), ort[0].as_f32().unwrap());
        assert_eq!(gpu[0].shape, ort[0].shape, "{}", p.name);
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            diff <= 1e-3 * scale,
            "{}: max |wgpu − ort| = {diff}, max |ort| = {scale}",
            p.name
        );
    }
}
