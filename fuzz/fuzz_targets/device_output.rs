//! What devices print back: `getprop`, `dumpsys` text and the runner's JSON lines, all
//! parsed by pure functions that must take any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profiler::{profile, props};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = props::parse_getprop(&text);
    let _ = props::parse_gles(&text);
    let _ = props::parse_thermal_status(&text);
    let _ = props::parse_max_temperature(&text);
    for (_, outcome) in profile::parse_outcomes(&text) {
        if let lookup_tables::Outcome::Ok(s) = outcome {
            assert!(s.check().is_ok(), "only checked statistics become rows");
        }
    }
});
