//! The LUT reader: any bytes give a table or an error, never a panic; a table read
//! back from its own writing is the same table.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lookup_tables::Lut;

fuzz_target!(|data: &[u8]| {
    if let Ok(lut) = Lut::parse(Path::new("fuzz.csv"), data) {
        let text = lut.to_file_string();
        let again = Lut::parse(Path::new("again.csv"), text.as_bytes())
            .expect("a table moga wrote reads back");
        assert_eq!(again.rows().len(), lut.rows().len());
        assert_eq!(again.meta, lut.meta);
    }
});
