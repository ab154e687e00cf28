//! Architecture input in every form (preset, encoding, JSON): parsed or refused, and a
//! parsed architecture round-trips through its encoding and JSON, and validates or
//! fails cleanly against its space.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookup_tables::{Arch, Space};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Arch::from_json(text, "fuzz");
    if let Ok(arch) = Arch::parse(text) {
        let again = Arch::parse(&arch.encode()).expect("an encoding parses");
        assert_eq!(again, arch);
        let json = Arch::from_json(&arch.to_json(), "json").expect("JSON parses");
        assert_eq!(json, arch);
        let space = Space::new(arch.space);
        if space.validate(&arch).is_ok() {
            let _ = space.stats(&arch).expect("a valid architecture has stats");
            let _ = space.units_of(&arch).expect("and units");
        }
    }
});
