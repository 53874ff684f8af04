//! Handheld scan-to-answer latency with a mid-size warehouse — 20 000 cells, 50 000 items —
//! under 40 concurrent handhelds: the pick scan and the putaway call over HTTP, against the
//! cashier's scan call driven by 40 concurrent lanes in the same run.
//!
//! Run: `cargo bench --bench wms_latency` (add `-- --ops 100` for more calls per handheld).
//!
//! Every acknowledged call has been committed and flushed (fsync), so the figures are bound
//! by the disk's flush latency and by how many commits share one flush.
//!
//! Every putaway takes from the one receiving cell. With optimistic transactions concurrent
//! putaways conflicted on its balance and were retried (putaway p99 was 5× the pick's); the
//! store's one writer applies them one after another in a group-committed batch, so the goal
//! is putaway p99 ≤ 2× pick-scan p99.

// Wall-clock measurement is the point here; paused tokio time would measure nothing.
#![allow(clippy::disallowed_types)]

mod common;

use common::{Stats, ean13, item, stats};

use rust_decimal::Decimal;
use std::path::Path;
use std::time::Instant;
use storeterm::config::Config;
use storeterm::domain::feed::Change;
use storeterm::domain::wms::pick::{PickLine, PickOrder, PickStatus};
use storeterm::domain::wms::{Cell, Storage};
use storeterm::store::Store;

const CELLS: usize = 20_000;
const ITEMS: usize = 50_000;
/// Concurrent handhelds (and lanes for the baseline): 40, or `--handhelds N`.
fn handhelds() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::args()
            .skip_while(|a| a != "--handhelds")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(40)
    })
}
const KEEPER: &str = "bench-storekeeper-token";
const CASHIER: &str = "bench-cashier-token";

fn address(n: usize) -> String {
    // 4 lines × 50 racks × 10 tiers × 10 positions = 20 000 cells.
    format!(
        "{}-{:02}-{:02}-{}",
        ["A", "B", "C", "D"][n / 5000],
        n / 100 % 50 + 1,
        n / 10 % 10 + 1,
        n % 10 + 1
    )
}

/// Item `n` is stored in cell `n % CELLS` (2–3 items per cell) with 1 000 units.
fn home(n: usize) -> String {
    format!("CELL-{}", address(n % CELLS))
}

async fn load(store: &Store, ops: usize) {
    let mut changes: Vec<Change> = Vec::new();
    for n in 0..CELLS {
        changes.push(Change::CellUpsert(Cell {
            id: format!("CELL-{}", address(n)),
            address: address(n),
            zone: address(n)[..1].to_string(),
            barcode: Some(format!("CELL{n:08}")),
            max_weight: Some(Decimal::from(100_000)),
            max_volume: None,
        }));
    }
    changes.push(Change::CellUpsert(Cell {
        id: "RECEIVING".into(),
        address: "RECEIVING".into(),
        zone: "RECEIVING".into(),
        barcode: None,
        max_weight: None,
        max_volume: None,
    }));
    for n in 0..ITEMS {
        changes.push(Change::ItemUpsert(item(n, Decimal::new(9990, 2))));
        changes.push(Change::ItemStorage {
            item: format!("I-{n}"),
            storage: Storage {
                weight: Some(Decimal::new(5, 1)),
                volume: None,
                zone: None,
            },
        });
        changes.push(Change::StockUpsert {
            item: format!("I-{n}"),
            cell: home(n),
            qty: Decimal::from(1000),
        });
    }
    // Each handheld picks its own order and puts away its own items from receiving.
    for h in 0..handhelds() {
        let lines = (0..ops)
            .map(|i| PickLine {
                item: format!("I-{}", h * ops + i),
                qty: Decimal::from(1),
                picked: Decimal::ZERO,
            })
            .collect();
        changes.push(Change::PickOrderUpsert(PickOrder {
            id: format!("ZK-{h}"),
            number: format!("ЗК-{h}"),
            client: None,
            due: None,
            lines,
            status: PickStatus::Open,
            completed_at: None,
        }));
        for i in 0..ops {
            changes.push(Change::StockUpsert {
                item: format!("I-{}", 25_000 + h * ops + i),
                cell: "RECEIVING".into(),
                qty: Decimal::from(10),
            });
        }
    }
    for (page, chunk) in changes.chunks(2000).enumerate() {
        store.apply_feed(chunk, &format!("bench-{page}")).await.expect("feed page");
    }
}

fn config(store: &Path) -> Config {
    let mut text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[[tokens]]\ntoken = \"{KEEPER}\"\nrole = \"storekeeper\"\nname = \"Бенчмарк\"\n[[tokens]]\ntoken = \"{CASHIER}\"\nrole = \"cashier\"\nname = \"Касса\"\n",
        store.display()
    );
    for lane in 0..handhelds() {
        text.push_str(&format!("[[lanes]]\nid = \"{lane}\"\n"));
    }
    Config::parse(&text, Path::new("bench.toml"), Path::new("/")).expect("bench config")
}

/// Run `handhelds()` clients at once, each making `ops` calls built by `call`; latencies in µs.
async fn concurrent<F>(ops: usize, token: &'static str, call: F) -> Vec<f64>
where
    F: Fn(usize, usize) -> (String, serde_json::Value) + Send + Sync + Clone + 'static,
{
    let mut tasks = Vec::new();
    for h in 0..handhelds() {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut samples = Vec::with_capacity(ops);
            for i in 0..ops {
                let (url, body) = call(h, i);
                let t = Instant::now();
                let response = http.post(url).bearer_auth(token).json(&body).send().await.expect("call");
                let status = response.status();
                let text = response.text().await.expect("answer");
                assert!(status.is_success(), "{status}: {text}");
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    all
}

#[tokio::main]
async fn main() {
    let ops: usize = std::env::args()
        .skip_while(|a| a != "--ops")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("store");
    let store = Store::open(&data).expect("store");
    let started = Instant::now();
    load(&store, ops).await;
    println!(
        "warehouse: {CELLS} cells, {ITEMS} items, {ITEMS} stock rows loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let running = storeterm::daemon::start_with_store(config(&data), store).await.expect("storeterm");
    let base = format!("http://{}", running.addr);

    let b = base.clone();
    let picks = stats(
        concurrent(ops, KEEPER, move |h, i| {
            let n = h * ops + i;
            (
                format!("{b}/api/v1/wms/picks/ZK-{h}/scan"),
                serde_json::json!({"id": format!("pick-{n}"), "cell": home(n), "code": ean13(n), "qty": "1"}),
            )
        })
        .await,
    );
    let b = base.clone();
    let putaways = stats(
        concurrent(ops, KEEPER, move |h, i| {
            let n = 25_000 + h * ops + i;
            (
                format!("{b}/api/v1/wms/putaway"),
                serde_json::json!({"id": format!("put-{n}"), "code": ean13(n), "qty": "10", "cell": home(n)}),
            )
        })
        .await,
    );
    let b = base.clone();
    let cashier = stats(
        concurrent(ops, CASHIER, move |h, i| {
            (
                format!("{b}/api/v1/lanes/{h}/scan"),
                serde_json::json!({"code": ean13(h * ops + i)}),
            )
        })
        .await,
    );
    running.stop().await;

    println!("{} concurrent clients × {ops} calls each; latency in µs", handhelds());
    println!(
        "{:<36} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "", "calls", "p50", "p99", "mean", "p50 ratio"
    );
    let row = |name: &str, s: &Stats| {
        println!(
            "{name:<36} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>9.2}x",
            s.n,
            s.p50,
            s.p99,
            s.mean,
            s.p50 / cashier.p50
        );
    };
    row("cashier scan (baseline, one lane each)", &cashier);
    row("wms pick scan", &picks);
    row("wms putaway", &putaways);
    println!(
        "p99 ratio: pick {:.2}x, putaway {:.2}x of the cashier's scan",
        picks.p99 / cashier.p99,
        putaways.p99 / cashier.p99
    );
    let ratio = putaways.p99 / picks.p99;
    let verdict = if ratio <= 2.0 { "PASS" } else { "FAIL" };
    println!("putaway p99 / pick-scan p99 = {ratio:.2} (goal ≤ 2.00)  {verdict}");
}
