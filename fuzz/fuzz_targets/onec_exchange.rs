//! Whatever arrives in `/1c/exchange`'s query string or `filename=`, parsing it never panics,
//! and a name it accepts never leads out of the session's directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::sync::commerceml::exchange::{SafeName, parse_query};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_query(&text);
    if let Ok(name) = SafeName::parse(&text) {
        let s = name.as_str();
        assert!(!s.starts_with('/') && !s.split('/').any(|p| p == ".." || p.is_empty()) && !s.contains('\\'));
    }
});
