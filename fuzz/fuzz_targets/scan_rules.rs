//! The full barcode grammar with a shop's rules (GS substitute, scale labels, cells, loyalty):
//! any scanned text is classified or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::domain::barcode::{self, CodeMatch, EmbeddedLayout, EmbeddedValue, ScanRules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rules = ScanRules {
        gs_substitute: Some('~'),
        layout_recovery: true,
        embedded: vec![
            EmbeddedLayout::default_weight(),
            EmbeddedLayout {
                prefixes: vec!["27".into()],
                plu_digits: 4,
                value: EmbeddedValue::Price,
            },
        ],
        cells: vec![CodeMatch::Prefix("C-".into())],
        loyalty: vec![CodeMatch::Range {
            from: "2770000000000".into(),
            to: "2779999999999".into(),
        }],
    };
    if let Ok(code) = barcode::parse_with(&text, &rules) {
        let _ = code.catalog_key();
        let _ = code.display();
    }
    let _ = barcode::gs1::parse(&text);
});
