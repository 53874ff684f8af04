//! What the benchmarks share: synthetic catalog items with valid EAN-13s, and latency
//! statistics over wall-clock samples.
#![allow(dead_code)]

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use storeterm::domain::barcode;
use storeterm::domain::catalog::Item;

/// The `n`-th synthetic EAN-13 (prefix 46, Russia), with its check digit.
pub fn ean13(n: usize) -> String {
    let body = format!("46{n:010}");
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    format!("{body}{}", barcode::check_digit(&digits))
}

/// The `n`-th synthetic piece item, with a Cyrillic name, barcode [`ean13`]`(n)` and `price`.
pub fn item(n: usize, price: Decimal) -> Item {
    Item {
        id: format!("I-{n}"),
        sku: format!("SKU-{n}"),
        name: format!("Товар №{n} — тестовый, 1 шт."),
        unit: "pcs".into(),
        vat: "20".into(),
        weighted: false,
        marked: false,
        mark_group: None,
        plu: None,
        barcodes: vec![ean13(n)],
        prices: BTreeMap::from([("retail".to_string(), price)]),
    }
}

/// Median, 99th percentile and mean of a run's samples (in whatever unit they were taken).
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
    pub mean: f64,
    pub n: usize,
}

pub fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
        n: samples.len(),
    }
}
