//! Any text a scanner might send must parse or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(code) = storeterm::domain::barcode::parse(&text) {
        let _ = code.catalog_key();
    }
    let _ = storeterm::domain::barcode::catalog_key(&text);
});
