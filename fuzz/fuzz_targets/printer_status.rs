//! The printer status decoder (DLE EOT replies, automatic status back) survives any byte
//! stream, fed in any pieces, with any number of requests outstanding, and gives the same
//! status however the stream is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::printer::status::{StatusDecoder, StatusKind};

const KINDS: [StatusKind; 4] = [StatusKind::Printer, StatusKind::Offline, StatusKind::Error, StatusKind::Paper];

fuzz_target!(|data: &[u8]| {
    let Some((&head, bytes)) = data.split_first() else { return };
    let asks = usize::from(head % 32);
    let cut = usize::from(head).min(bytes.len());
    let mut whole = StatusDecoder::new();
    let mut split = StatusDecoder::new();
    for i in 0..asks {
        whole.asked(KINDS[i % 4]);
        split.asked(KINDS[i % 4]);
    }
    whole.feed(bytes);
    split.feed(&bytes[..cut]);
    split.feed(&bytes[cut..]);
    assert_eq!(whole.status(), split.status());
    let _ = whole.status().words(Some(true));
    let _ = whole.status().blocks_printing();
});
