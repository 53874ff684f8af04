//! Whatever a cashier types (or a client of the API sends as text) — an amount, a discount, a
//! quantity before a scan, a search — the parsers never panic, and what they accept is in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use storeterm::domain::money::{self, MAX_MONEY, MAX_QTY};
use storeterm::domain::pricing::DiscountValue;
use storeterm::domain::search::{Query, normalize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(amount) = money::parse_amount(&text) {
        assert!(amount > Decimal::ZERO && amount <= MAX_MONEY && amount.scale() == 2);
    }
    if let Ok(prefix) = money::split_qty_prefix(&text) {
        assert!(prefix.qty.is_none_or(|q| q > Decimal::ZERO && q <= MAX_QTY));
    }
    let _ = DiscountValue::parse(&text);
    if let Some(query) = Query::parse(&text) {
        assert!(!query.words.is_empty());
    }
    // Normalizing twice changes nothing.
    let once = normalize(&text);
    assert_eq!(normalize(&once), once);
});
