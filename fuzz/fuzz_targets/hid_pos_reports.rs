//! HID POS reports from a scanner (or a device pretending to be one): reassembly never
//! panics, whatever the report sizes, lengths and continuation flags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::scanner::hid_pos::{HidPosDecoder, HidPosLayout};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the layout (Honeywell's or Newland's) and the report size.
    let Some((&head, rest)) = data.split_first() else { return };
    let layout = if head & 1 == 0 {
        HidPosLayout::default()
    } else {
        HidPosLayout {
            report_id: Some(2),
            length_at: 1,
            aim_at: None,
            data_at: 2,
            data_max: 56,
            more_at: 63,
            more_mask: 1,
        }
    };
    let size = usize::from(head >> 1).max(1);
    let mut decoder = HidPosDecoder::new(layout);
    let mut frames = Vec::new();
    for report in rest.chunks(size) {
        let _ = decoder.push(report, &mut frames);
    }
});
