//! Whatever a PBX, a modem or the CRM sends as a phone number, normalizing it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::domain::phone::{Country, normalize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for country in [Country::Ru, Country::By, Country::Ua, Country::Other(49)] {
        if let Ok(n) = normalize(&text, country) {
            assert_eq!(normalize(&n.e164, country).map(|m| m.e164), Ok(n.e164));
        }
    }
});
