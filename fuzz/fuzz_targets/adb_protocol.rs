//! The adb fixture's protocol parsers: transport messages, shell v2 packets and sync
//! requests from arbitrary bytes; every parse consumes what it reports, never more.
#![no_main]

use adbd_fixture::protocol::{parse_message, shell, sync};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((m, used))) = parse_message(rest, 256 * 1024) {
        assert!(used >= 24 && used <= rest.len() && m.data.len() == used - 24);
        rest = &rest[used..];
    }
    if let Ok((packets, used)) = shell::split(data, 1 << 20) {
        assert!(used <= data.len());
        assert!(packets.iter().map(|(_, d)| 5 + d.len()).sum::<usize>() == used);
    }
    let mut rest = data;
    while let Ok(Some((_, used))) = sync::parse(rest) {
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
    }
});
