//! Serial scanner bytes in arbitrary chunks: framing never panics and never loses a suffix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::config::Suffix;
use storeterm::devices::scanner::{Framer, SerialFraming};

fuzz_target!(|data: &[u8]| {
    let mut framer = Framer::new();
    let mut frames = Vec::new();
    // Split the input at its first byte's value to exercise chunk boundaries.
    let cut = data.first().map(|b| usize::from(*b) % (data.len() + 1)).unwrap_or(0);
    framer.push(&data[..cut], &mut frames);
    framer.push(&data[cut..], &mut frames);
    // With a prefix and no suffix, scans end only at a pause.
    let mut framer = Framer::with(SerialFraming::new(Some("\u{2}"), Some(Suffix::None)));
    framer.push(&data[..cut], &mut frames);
    framer.end_of_scan(&mut frames);
    framer.push(&data[cut..], &mut frames);
    framer.end_of_scan(&mut frames);
});
