//! Scan → receipt-updated latency on the HTTP path with a 100 000-item catalog, against a bare
//! sled `get` of the same barcodes measured in the same run.
//!
//! Run: `cargo bench --bench scan_latency` (add `-- --scans 5000` for a longer run).
//!
//! Every scan the API acknowledges has been written to sled and fsynced, so the HTTP figure is
//! dominated by the disk's flush latency; the "commit + flush" row shows that share on its own.

// Wall-clock measurement is the point here; paused tokio time would measure nothing.
#![allow(clippy::disallowed_types)]

mod common;

use common::{Stats, ean13, item, stats};

use rust_decimal::Decimal;
use std::path::Path;
use std::time::Instant;
use storeterm::config::Config;
use storeterm::domain::barcode;
use storeterm::domain::feed::Change;
use storeterm::store::{ItemLookup, Store};

const ITEMS: usize = 100_000;
const TOKEN: &str = "bench-cashier-token";

fn picks(count: usize) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..count).map(|_| rng.usize(0..ITEMS)).collect()
}

async fn load_catalog(store: &Store) {
    let items: Vec<Change> = (0..ITEMS)
        .map(|n| Change::ItemUpsert(item(n, Decimal::new(9990 + n as i64 % 1000, 2))))
        .collect();
    for (page, chunk) in items.chunks(1000).enumerate() {
        store.apply_feed(chunk, &format!("bench-{page}")).await.expect("catalog page");
    }
}

fn config(store: &Path) -> Config {
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[[tokens]]\ntoken = \"{TOKEN}\"\nrole = \"cashier\"\nname = \"Бенчмарк\"\n[[lanes]]\nid = \"1\"\n",
        store.display()
    );
    Config::parse(&text, Path::new("bench.toml"), Path::new("/")).expect("bench config")
}

#[tokio::main]
async fn main() {
    let scans: usize = std::env::args()
        .skip_while(|a| a != "--scans")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("store");
    let store = Store::open(&data).expect("store");
    let started = Instant::now();
    load_catalog(&store).await;
    println!("catalog: {ITEMS} items loaded in {:.1} s", started.elapsed().as_secs_f64());
    let keys: Vec<String> = picks(scans).into_iter().map(|n| barcode::catalog_key(&ean13(n))).collect();

    // Baseline 1: a bare redb get of the same barcodes, in a table holding the same keys.
    let raw_dir = tempfile::tempdir().expect("temp dir");
    let raw = common::BareTable::fill(
        raw_dir.path(),
        (0..ITEMS).map(|n| (barcode::catalog_key(&ean13(n)), format!("I-{n}"))),
    );
    let mut bare = Vec::with_capacity(scans);
    for key in &keys {
        let t = Instant::now();
        std::hint::black_box(raw.get(key));
        bare.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let bare = stats(bare);

    // The catalog lookup a scan does (barcode index + item record, decoded).
    let mut lookup = Vec::with_capacity(scans);
    for key in &keys {
        let t = Instant::now();
        std::hint::black_box(store.item_by_code(key).expect("lookup").expect("item"));
        lookup.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let lookup = stats(lookup);

    // A durable write of comparable size: what every acknowledged scan pays.
    let mut flushes = Vec::with_capacity(200);
    for i in 0..200u32 {
        let docs = [storeterm::domain::document::NewDocument::new(
            uuid::Uuid::now_v7(),
            storeterm::domain::document::DocumentKind::Lead,
            jiff::Timestamp::now(),
            serde_json::json!({ "n": i }),
        )];
        let t = Instant::now();
        store.append_documents(&docs).await.expect("append");
        flushes.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let flush = stats(flushes);

    // The HTTP path: POST /scan until the receipt comes back, over a kept-alive connection.
    let running = storeterm::daemon::start_with_store(config(&data), store).await.expect("storeterm");
    let base = format!("http://{}/api/v1/lanes/1", running.addr);
    let http = reqwest::Client::new();
    let mut http_samples = Vec::with_capacity(scans);
    for (i, n) in picks(scans).into_iter().enumerate() {
        let body = serde_json::json!({ "code": ean13(n) });
        let t = Instant::now();
        let response = http
            .post(format!("{base}/scan"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("scan");
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.expect("receipt");
        http_samples.push(t.elapsed().as_secs_f64() * 1e6);
        // A realistic receipt: close it every 20 scans (not timed).
        if i % 20 == 19 {
            let pay = http
                .post(format!("{base}/payments"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"method": "card", "amount": "1.00"}))
                .send()
                .await
                .expect("pay");
            let paid: serde_json::Value = pay.json().await.expect("json");
            let remaining = paid["remaining"].as_str().unwrap_or("0").to_string();
            if paid["status"] == "partial" {
                http.post(format!("{base}/payments"))
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({"method": "card", "amount": remaining}))
                    .send()
                    .await
                    .expect("pay rest");
            }
        }
    }
    let http_stats = stats(http_samples);
    running.stop().await;

    println!("{scans} scans of random barcodes from {ITEMS} items (µs)");
    println!("{:<34} {:>10} {:>10} {:>10} {:>12}", "", "p50", "p99", "mean", "p50 ratio");
    let row = |name: &str, s: &Stats| {
        println!(
            "{name:<34} {:>10.1} {:>10.1} {:>10.1} {:>11.0}x",
            s.p50,
            s.p99,
            s.mean,
            s.p50 / bare.p50
        );
    };
    row("bare redb get (baseline)", &bare);
    row("catalog lookup (index + item)", &lookup);
    row("commit + flush (fsync)", &flush);
    row("HTTP scan -> receipt", &http_stats);
}
