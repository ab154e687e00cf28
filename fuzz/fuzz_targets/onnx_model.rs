//! The runner's model reader and planner: any bytes are decoded and planned into a
//! graph, or refused with an error, never a panic or an unbounded allocation.
#![no_main]

use device_runner::graph::Graph;
use device_runner::onnx::decode_model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = decode_model(data, "fuzz") {
        if let Ok(graph) = Graph::from_model(&model, "fuzz") {
            // Planned graphs also bind random inputs of their declared shapes.
            let specs = device_runner::session::specs_of(&graph);
            if let Ok(inputs) = device_runner::session::random_inputs(&specs, 1) {
                let _ = device_runner::cpu::bind(&graph, &inputs);
            }
        }
    }
});
