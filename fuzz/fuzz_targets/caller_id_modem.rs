//! Whatever a Caller-ID modem sends, its lines parse and the ring state machine never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::telephony::modem::{ModemLineState, parse_line};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut line = ModemLineState::new("fuzz", "101");
    for (i, part) in text.split(['\r', '\n']).enumerate() {
        let at = jiff::Timestamp::from_second(1_770_000_000 + i as i64).unwrap();
        let _ = line.line(parse_line(part), at);
        let _ = line.tick(at);
    }
});
