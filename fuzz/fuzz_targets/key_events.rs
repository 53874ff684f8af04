//! Bytes read from an input event device: record parsing and keyboard decoding never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::config::Suffix;
use storeterm::devices::scanner::keyboard::{KeyboardDecoder, parse_input_events};

fuzz_target!(|data: &[u8]| {
    let (events, used) = parse_input_events(data);
    assert!(used <= data.len());
    for (suffix, gap) in [(None, None), (Some(Suffix::Tab), Some(30)), (Some(Suffix::None), Some(50))] {
        let mut decoder = KeyboardDecoder::new(suffix, gap);
        let mut frames = Vec::new();
        for e in &events {
            decoder.push(*e, &mut frames);
        }
        decoder.end_of_scan(&mut frames);
    }
});
