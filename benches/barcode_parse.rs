//! Barcode parser throughput: codes per second for the full grammar, against a plain
//! `str::parse::<u64>` of the same digits, measured in the same run (so the ratio holds on any
//! machine). Run with `cargo bench --bench barcode_parse`.
//!
//! What is compared: `barcode::parse` trims, checks the characters, strips an AIM id, tries the
//! layout, classifies by shape and verifies the check digit; `parse::<u64>` only converts
//! digits. The ratio is the price of all that per scan — scans come a few per second, so even
//! a large ratio is far below anything a cashier could notice.

use std::hint::black_box;
use storeterm::domain::barcode::{self, Code, check_digit};
use tokio::time::Instant;

const CODES: usize = 100_000;
const ROUNDS: usize = 5;

fn ean13s() -> Vec<String> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    (0..CODES)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut body: Vec<u8> = format!("46{:010}", seed % 10_000_000_000).bytes().map(|b| b - b'0').collect();
            body.push(check_digit(&body));
            body.iter().map(|d| char::from(b'0' + d)).collect()
        })
        .collect()
}

/// Best of `ROUNDS` runs of `f` over all codes, in codes per second.
fn codes_per_second(codes: &[String], mut f: impl FnMut(&str) -> bool) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut ok = 0usize;
        for c in codes {
            ok += usize::from(f(black_box(c)));
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(ok, codes.len(), "every code must parse");
        best = best.min(secs);
    }
    codes.len() as f64 / best
}

fn main() {
    let codes = ean13s();
    let plain = codes_per_second(&codes, |c| c.parse::<u64>().is_ok());
    let ean = codes_per_second(&codes, |c| matches!(barcode::parse(c), Ok(Code::Gtin(_))));
    let marks: Vec<String> = codes
        .iter()
        .map(|c| format!("010{c}215abcDEF+12/=\u{1d}91EE06\u{1d}92MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk="))
        .collect();
    let mark = codes_per_second(&marks, |c| matches!(barcode::parse(c), Ok(Code::Mark(_))));
    println!("barcode_parse: {CODES} codes, best of {ROUNDS} rounds");
    println!("  str::parse::<u64> (13 digits):       {:>12.0} codes/s", plain);
    println!(
        "  barcode::parse EAN-13:               {:>12.0} codes/s  ({:.1}x slower than parse::<u64>)",
        ean,
        plain / ean
    );
    println!(
        "  barcode::parse marking code (~90 ch): {:>11.0} codes/s  ({:.1}x slower than parse::<u64>)",
        mark,
        plain / mark
    );
}
