//! Serial scanner bytes in arbitrary chunks: framing never panics and never loses a suffix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::scanner::Framer;

fuzz_target!(|data: &[u8]| {
    let mut framer = Framer::new();
    let mut frames = Vec::new();
    // Split the input at its first byte's value to exercise chunk boundaries.
    let cut = data.first().map(|b| usize::from(*b) % (data.len() + 1)).unwrap_or(0);
    framer.push(&data[..cut], &mut frames);
    framer.push(&data[cut..], &mut frames);
});
