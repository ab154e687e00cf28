//! The ONNX builder on arbitrary choices: every valid architecture of every space builds
//! into a model that decodes and plans; invalid ones are refused by validation.
#![no_main]

use device_runner::graph::Graph;
use device_runner::onnx::builder::{BatchNorm, Weights, network_model};
use device_runner::onnx::{decode_model, encode_model};
use libfuzzer_sys::fuzz_target;
use lookup_tables::{Arch, Space, SpaceId, SpaceOptions};

/// Constant weights: the structure is under test, and random numbers for millions of
/// weights would make each case a hundred times slower.
struct Flat;

impl Weights for Flat {
    fn conv(&mut self, _: &str, s: [usize; 4]) -> Vec<f32> {
        vec![0.01; s.iter().product()]
    }
    fn batch_norm(&mut self, _: &str, c: usize) -> BatchNorm {
        BatchNorm {
            gamma: vec![1.0; c],
            beta: vec![0.0; c],
            mean: vec![0.0; c],
            var: vec![1.0; c],
            eps: 1e-5,
        }
    }
    fn bias(&mut self, _: &str, n: usize) -> Vec<f32> {
        vec![0.0; n]
    }
    fn linear(&mut self, _: &str, out: usize, inp: usize) -> Vec<f32> {
        vec![0.01; out * inp]
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let id = SpaceId::ALL[first as usize % SpaceId::ALL.len()];
    // Small resolutions keep each case fast; the structure is the same at 224.
    let resolution = 32 + 32 * u32::from(first >> 6);
    let Ok(space) = Space::with_options(id, SpaceOptions { resolution, classes: 10 }) else {
        return;
    };
    let layers = (0..space.layers.len())
        .map(|i| {
            let all = space.choices_at(i);
            let all_anywhere = Space::new(id).choices_at(0);
            let b = rest.get(i).copied().unwrap_or(0) as usize;
            // Mostly valid choices, sometimes any choice of the space (maybe invalid here).
            if b & 0x80 == 0 { all[b % all.len()] } else { all_anywhere[b % all_anywhere.len()] }
        })
        .collect();
    let arch = Arch { space: id, layers };
    match network_model(&space, &arch, &mut Flat) {
        Ok(model) => {
            let bytes = encode_model(&model);
            let back = decode_model(&bytes, "built").expect("a built model decodes");
            Graph::from_model(&back, "built").expect("a built model plans");
        }
        Err(_) => assert!(space.validate(&arch).is_err(), "a valid architecture must build"),
    }
});
