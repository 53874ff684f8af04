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

/// A bare redb table of text keys, as a baseline for the store's own lookups: what a single
/// `get` costs with nothing of storeterm around it.
pub struct BareTable {
    db: redb::Database,
}

const BARE: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("bare");

impl BareTable {
    /// A table at `dir` holding `entries`, written in one transaction.
    pub fn fill(dir: &std::path::Path, entries: impl IntoIterator<Item = (String, String)>) -> BareTable {
        let db = redb::Database::create(dir.join("bare.redb")).expect("bare redb");
        let tx = db.begin_write().expect("write");
        {
            let mut table = tx.open_table(BARE).expect("table");
            for (key, value) in entries {
                table.insert(key.as_str(), value.as_str()).expect("insert");
            }
        }
        tx.commit().expect("commit");
        BareTable { db }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read().expect("read");
        let table = tx.open_table(BARE).expect("table");
        table.get(key).expect("get").map(|v| v.value().to_string())
    }
}

/// A numeric command-line option (`--name N`) of a benchmark, or its default.
pub fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A process's resident memory in MiB, from `/proc/{pid}/status`.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// `PASS`/`FAIL` against a bound, for the verdict column.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}
