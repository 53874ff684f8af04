//! Whatever is uploaded as a zip, unpacking it under limits never panics and never hands out
//! more bytes than the limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Read};
use storeterm::sync::commerceml::archive::{ZipLimits, unpack};

fuzz_target!(|data: &[u8]| {
    let limits = ZipLimits {
        max_entries: 64,
        max_entry: 1 << 20,
        max_total: 2 << 20,
        max_ratio: 100,
    };
    let mut total = 0u64;
    let _ = unpack(Cursor::new(data), &limits, &mut |_, r: &mut dyn Read| {
        let n = std::io::copy(r, &mut std::io::sink())?;
        total += n;
        Ok(n)
    });
    assert!(total <= limits.max_total);
});
