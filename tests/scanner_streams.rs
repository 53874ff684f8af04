//! HID POS and keyboard-wedge decoding on byte streams from files (see
//! `tests/fixtures/scanners/README.md` for where each comes from).

use storeterm::devices::scanner::hid_pos::{HidPosDecoder, HidPosLayout};
use storeterm::devices::scanner::keyboard::{INPUT_EVENT_SIZE, KeyboardDecoder, parse_input_events};
use storeterm::devices::scanner::{Frame, FrameError};
use storeterm::domain::barcode::{self, Code};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/scanners/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hex_reports(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect())
        .collect()
}

#[test]
fn a_recorded_honeywell_multi_report_answer_is_reassembled() {
    let reports = hex_reports(&String::from_utf8(fixture("honeywell-1602g-revinf.hex")).unwrap());
    assert_eq!(reports.len(), 7);
    let mut decoder = HidPosDecoder::new(HidPosLayout::default());
    let mut frames = Vec::new();
    for report in &reports {
        decoder.push(report, &mut frames).unwrap();
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    let Frame::Code(first) = &frames[0] else { panic!("{frames:?}") };
    // Five full reports of 56 bytes and a last one of 9, behind the AIM id the scanner sent.
    assert_eq!(first.len(), 3 + 5 * 56 + 9);
    assert!(first.starts_with("]X0Product Name: Voyager 1602g\r\nBoot Revision"), "{first}");
    assert!(first.contains("Software Part Number: CW000082BBA"), "{first}");
    assert!(first.ends_with("Checksum: N/A\r\n"), "{first}");
    assert_eq!(frames[1], Frame::Code("]Z6REVINF\u{6}.".into()));
}

#[test]
fn the_same_reports_cut_short_are_refused_and_the_next_scan_still_decodes() {
    let reports = hex_reports(&String::from_utf8(fixture("honeywell-1602g-revinf.hex")).unwrap());
    let mut decoder = HidPosDecoder::new(HidPosLayout::default());
    let mut frames = Vec::new();
    // A report truncated in the middle of its data (a short read).
    decoder.push(&reports[0][..30], &mut frames).unwrap();
    assert_eq!(frames, vec![Frame::Garbage(FrameError::BadReport)]);
    decoder.push(&reports[6], &mut frames).unwrap();
    assert_eq!(frames[1], Frame::Code("]Z6REVINF\u{6}.".into()));
}

#[test]
fn a_wedge_event_stream_yields_three_scans_with_gs() {
    let bytes = fixture("wedge-three-scans.evdev");
    assert_eq!(bytes.len() % INPUT_EVENT_SIZE, 0);
    // Fed in odd-sized reads, as a device read may return.
    let mut decoder = KeyboardDecoder::new(None, None);
    let mut frames = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for chunk in bytes.chunks(1000) {
        pending.extend_from_slice(chunk);
        let (events, used) = parse_input_events(&pending);
        pending.drain(..used);
        for e in events {
            decoder.push(e, &mut frames);
        }
    }
    assert!(pending.is_empty());
    let texts: Vec<&str> = frames
        .iter()
        .map(|f| match f {
            Frame::Code(t) => t.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts.len(), 3);
    assert_eq!(texts[0], "4601234567893");
    let Code::Mark(mark) = barcode::parse(texts[1]).unwrap() else {
        panic!("{}", texts[1])
    };
    assert_eq!(mark.serial, "5abcDEF+12/=");
    let Code::Mark(mark) = barcode::parse(texts[2]).unwrap() else {
        panic!("{}", texts[2])
    };
    assert_eq!(
        (mark.gtin.key().as_str(), mark.serial.as_str()),
        ("04607000000021", "aB3cDe5fGh7iJ")
    );
    assert_eq!(texts[2], "010460700000002121aB3cDe5fGh7iJ\u{1d}93Zx9+");
}
