//! Whatever a Caller-ID modem sends, its lines parse and the ring state machine never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::telephony::modem::{MAX_LINE, ModemLineState, ModemLines, parse_line};

fuzz_target!(|data: &[u8]| {
    let mut splitter = ModemLines::new();
    let mut lines = Vec::new();
    // Fed in uneven pieces, as reads from a serial port come.
    for piece in data.chunks(7) {
        let _ = splitter.push(piece, &mut lines);
    }
    let mut line = ModemLineState::new("fuzz", "101");
    for (i, part) in lines.iter().enumerate() {
        assert!(part.len() <= 3 * MAX_LINE, "a line longer than the cap came out");
        let at = jiff::Timestamp::from_second(1_770_000_000 + i as i64).unwrap();
        let _ = line.line(parse_line(part), at);
        let _ = line.tick(at);
    }
});
