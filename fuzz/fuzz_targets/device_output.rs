//! What devices print back: `getprop`, `dumpsys` text and the runner's JSON lines, all
//! parsed by pure functions that must take any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use device_runner::protocol::BenchLine;
use profiler::{measure, props};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = props::parse_getprop(&text);
    let _ = props::parse_gles(&text);
    let _ = props::parse_thermal_status(&text);
    let _ = props::parse_max_temperature(&text);
    for line in BenchLine::parse_all(&text) {
        if let BenchLine::Record(r) = line {
            for unit in [None, Some(3.0)] {
                if let Ok(s) = measure::latency(&r, unit) {
                    assert!(s.check().is_ok(), "only checked statistics become rows");
                }
                let _ = measure::passes(&r);
            }
        }
    }
});
