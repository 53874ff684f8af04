//! Whatever the CRM (or a proxy in front of it) answers, decoding a feed page never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = storeterm::sync::feed::parse_page(data) {
        let _ = page.decode();
    }
});
