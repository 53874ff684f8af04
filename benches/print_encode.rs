//! Receipt encoding: 40-line sale receipts encoded per second (layout + ESC/POS + code pages),
//! against copying the same bytes (measured in the same run), and the ratio of encoding time
//! to the time those bytes take on a 115 200 baud serial line (8N1: 10 bits a byte).
//! Run with `cargo bench --bench print_encode`.

use std::hint::black_box;
use storeterm::config::ShopConfig;
use storeterm::devices::printer::layout::{self, Letterhead, SaleOptions};
use storeterm::devices::printer::sample;
use storeterm::devices::profiles::Profiles;
use tokio::time::Instant;

const RECEIPTS: usize = 2_000;
const ROUNDS: usize = 5;
const LINES: usize = 40;
const BAUD: f64 = 115_200.0;

/// Best of `ROUNDS` runs of `f` over `RECEIPTS` receipts, in seconds per receipt.
fn seconds_each(mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..RECEIPTS {
            bytes += f();
        }
        black_box(bytes);
        best = best.min(start.elapsed().as_secs_f64());
    }
    best / RECEIPTS as f64
}

fn main() {
    let profiles = Profiles::load(None).unwrap();
    let shop = ShopConfig::default();
    let tz = jiff::tz::TimeZone::UTC;
    let head = Letterhead { shop: &shop, tz: &tz };
    let at: jiff::Timestamp = "2026-03-02T09:15:00Z".parse().unwrap();
    let sale = sample::sale(LINES, at);
    println!("print_encode: {LINES}-line receipt, {RECEIPTS} receipts, best of {ROUNDS} rounds");
    for id in ["generic-80mm", "epson-tm-t20iii", "xprinter-xp-58"] {
        let profile = profiles.printer(id).unwrap();
        let options = SaleOptions {
            kick_drawer: true,
            copy: false,
        };
        let bytes = layout::sale_receipt(&sale, &head, profile, options);
        let encode = seconds_each(|| layout::sale_receipt(black_box(&sale), &head, profile, options).len());
        let copy = seconds_each(|| black_box(bytes.clone()).len());
        let wire = bytes.len() as f64 * 10.0 / BAUD;
        println!(
            "  {id:<16} {:>6} bytes  {:>9.0} receipts/s  encode {:>7.1} µs  copy {:>5.2} µs ({:>5.0}x)  wire at 115200 baud {:>6.1} ms  encode/wire = {:.5}",
            bytes.len(),
            1.0 / encode,
            encode * 1e6,
            copy * 1e6,
            encode / copy,
            wire * 1e3,
            encode / wire,
        );
    }
}
