//! The store against the numbers of issue 10, with the real daemon binary and a loopback CRM:
//!
//! - a first sync of 1 000 000 items and 1 000 000 clients from the change feed: the time until
//!   the last item is scannable, against the time serde_json takes to parse the same pages in
//!   this process (bound: 3×);
//! - the store's size against the raw feed JSON (bound: 1.3×);
//! - the daemon's resident memory idle after the sync and under 20 lanes of scanning (bound:
//!   150 MiB);
//! - cold start to `/healthz` 200 with that store (bound: 1 s), also the first start after a
//!   `kill -9` in the middle of an ingest.
//!
//! Run: `cargo bench --bench store_ingest` (`-- --items N --clients N` for a smaller run).

// Wall-clock measurement is the point here; paused tokio time would measure nothing.
#![allow(clippy::disallowed_types)]

mod common;

use axum::extract::{Query, State};
use axum::routing::get;
use bytes::Bytes;
use common::{arg, ean13, rss_mib, verdict};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const PAGE: usize = 500;
const TOKEN: &str = "bench-crm-token";
const ADMIN: &str = "bench-admin-token";
const CASHIER: &str = "bench-cashier-token";

fn item_change(n: usize, price: u32) -> String {
    format!(
        r#"{{"kind":"item","op":"upsert","id":"I-{n:07}","data":{{"sku":"A-{n}","name":"Товар №{n} молочный 3,2% 1 л","unit":"pcs","vat":"20","weighted":false,"marked":false,"barcodes":["{}"],"prices":{{"retail":"{}.{:02}"}}}}}}"#,
        ean13(n),
        price / 100,
        price % 100
    )
}

fn client_change(n: usize) -> String {
    format!(
        r#"{{"kind":"client","op":"upsert","id":"C-{n:07}","data":{{"name":"ООО Клиент №{n}","phones":["+7 (9{:02}) {:03}-{:02}-{:02}"],"debt":"{}.00","credit_limit":"50000.00","stop_list":false,"segment":"retail","manager":"Иванов И."}}}}"#,
        n % 100,
        n / 10000 % 1000,
        n / 100 % 100,
        n % 100,
        n % 9000
    )
}

/// The feed as pages of JSON, cursor `p{n}` → page n; the first page is page `first`.
fn pages(first: usize, items: usize, clients: usize, price_base: u32) -> Vec<Bytes> {
    let changes: Vec<String> = (0..items)
        .map(|n| item_change(n, price_base + (n % 1000) as u32))
        .chain((0..clients).map(client_change))
        .collect();
    let total = changes.len().div_ceil(PAGE);
    changes
        .chunks(PAGE)
        .enumerate()
        .map(|(i, chunk)| {
            let more = i + 1 < total;
            Bytes::from(format!(
                r#"{{"cursor":"p{}","more":{more},"changes":[{}]}}"#,
                first + i + 1,
                chunk.join(",")
            ))
        })
        .collect()
}

/// A page as the baseline parses it: the protocol's envelope typed, each change's `data` as a
/// JSON tree. This is the shape the daemon itself parsed pages into until it learnt to leave
/// `data` unread until its kind is known, so the baseline stays the one every earlier
/// measurement used.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct ParsedPage {
    cursor: String,
    more: bool,
    changes: Vec<ParsedChange>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct ParsedChange {
    kind: String,
    op: String,
    id: String,
    data: Option<serde_json::Value>,
}

type Feed = Arc<std::sync::RwLock<Vec<Bytes>>>;

/// When the daemon asked for the first page: the ingest is timed from there.
static FIRST_REQUEST: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

async fn changes(State(feed): State<Feed>, Query(q): Query<HashMap<String, String>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    FIRST_REQUEST.get_or_init(Instant::now);
    let next: usize = q
        .get("since")
        .and_then(|c| c.strip_prefix('p'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let feed = feed.read().unwrap();
    match feed.get(next) {
        Some(page) => ([("content-type", "application/json")], page.clone()).into_response(),
        None => (
            [("content-type", "application/json")],
            format!(r#"{{"cursor":"p{next}","more":false,"changes":[]}}"#),
        )
            .into_response(),
    }
}

async fn start_crm(feed: Feed) -> String {
    let app = axum::Router::new()
        .route("/v1/sites/{site}/changes", get(changes))
        .route(
            "/v1/sites/{site}/documents",
            axum::routing::post(|| async { (axum::http::StatusCode::CREATED, axum::Json(serde_json::json!({"status": "stored"}))) }),
        )
        .route(
            "/v1/sites/{site}/documents/last",
            get(|| async { axum::Json(serde_json::json!({"seq": 0})) }),
        )
        .with_state(feed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn write_config(dir: &Path, port: u16, crm: &str) -> std::path::PathBuf {
    let lanes: String = (1..=20).map(|l| format!("[[lanes]]\nid = \"{l}\"\n")).collect();
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = \"{}\"\n[crm]\nurl = \"{crm}\"\nsite = \"bench\"\ntoken = \"{TOKEN}\"\npull_interval = 3600\npage_limit = {PAGE}\n\
         [[tokens]]\ntoken = \"{ADMIN}\"\nrole = \"admin\"\nname = \"Админ\"\n[[tokens]]\ntoken = \"{CASHIER}\"\nrole = \"cashier\"\nname = \"Кассир\"\n{lanes}",
        dir.join("store").display()
    );
    let path = dir.join("storeterm.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("storeterm binary")
}

/// From spawn to `/healthz` 200.
async fn wait_healthy(http: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn catalog_counts(http: &reqwest::Client, base: &str) -> (u64, u64) {
    let Ok(r) = http.get(format!("{base}/api/v1/admin/status")).bearer_auth(ADMIN).send().await else {
        return (0, 0);
    };
    let s: serde_json::Value = r.json().await.unwrap_or_default();
    (
        s["catalog"]["items"].as_u64().unwrap_or(0),
        s["catalog"]["clients"].as_u64().unwrap_or(0),
    )
}

async fn scan(http: &reqwest::Client, base: &str, lane: usize, code: &str) -> u16 {
    http.post(format!("{base}/api/v1/lanes/{lane}/scan"))
        .bearer_auth(CASHIER)
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn kill9(child: &mut Child) {
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::main]
async fn main() {
    let items = arg("--items", 1_000_000);
    let clients = arg("--clients", 1_000_000);
    println!("generating the feed: {items} items, {clients} clients in pages of {PAGE}");
    let feed_pages = pages(0, items, clients, 5000);
    let raw_bytes: usize = feed_pages.iter().map(|p| p.len()).sum();
    let item_pages = items.div_ceil(PAGE);

    // Baseline: serde_json parsing the item pages, in this process, every value read (see
    // `ParsedPage`).
    let t = Instant::now();
    for page in &feed_pages[..item_pages] {
        std::hint::black_box(serde_json::from_slice::<ParsedPage>(page).expect("page parses"));
    }
    let parse = t.elapsed();

    let feed: Feed = Arc::new(std::sync::RwLock::new(feed_pages));
    let crm = start_crm(feed.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let config = write_config(dir.path(), port, &crm);
    let http = reqwest::Client::new();

    let mut daemon = spawn(&config);
    wait_healthy(&http, &base).await;
    let last = ean13(items - 1);
    let mut items_at = None;
    loop {
        let (have_items, have_clients) = catalog_counts(&http, &base).await;
        if items_at.is_none() && have_items as usize == items && scan(&http, &base, 1, &last).await == 200 {
            items_at = FIRST_REQUEST.get().map(|t| t.elapsed());
        }
        if items_at.is_some() && have_clients as usize == clients {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let items_at = items_at.unwrap_or_default();
    let all_at = FIRST_REQUEST.get().map(|t| t.elapsed()).unwrap_or_default();
    // Let the last lazy commits reach the disk before the size is taken.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = daemon.id().unwrap();
    let rss_idle = rss_mib(pid);
    let size = std::fs::metadata(dir.path().join("store").join("storeterm.redb"))
        .map(|m| m.len())
        .unwrap_or(0);

    // 20 lanes scanning at once, random items.
    let mut lanes = Vec::new();
    for lane in 1..=20usize {
        let (http, base) = (http.clone(), base.clone());
        lanes.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(lane as u64);
            for _ in 0..100 {
                let code = ean13(rng.usize(0..items));
                assert_eq!(scan(&http, &base, lane, &code).await, 200);
            }
        }));
    }
    let mut rss_busy: f64 = 0.0;
    while lanes.iter().any(|l| !l.is_finished()) {
        rss_busy = rss_busy.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for l in lanes {
        l.await.unwrap();
    }
    rss_busy = rss_busy.max(rss_mib(pid));

    // Cold start with the full store, after a kill -9.
    kill9(&mut daemon).await;
    let mut daemon = spawn(&config);
    let cold = wait_healthy(&http, &base).await;

    // A kill -9 in the middle of an ingest (new prices for every item), then a cold start.
    {
        let mut feed = feed.write().unwrap();
        let first = feed.len();
        feed.extend(pages(first, items, 0, 7000));
    }
    kill9(&mut daemon).await;
    let mut daemon = spawn(&config);
    wait_healthy(&http, &base).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill9(&mut daemon).await;
    let mut daemon = spawn(&config);
    let cold_after_crash = wait_healthy(&http, &base).await;
    kill9(&mut daemon).await;

    let ratio = items_at.as_secs_f64() / parse.as_secs_f64();
    let size_ratio = size as f64 / raw_bytes as f64;
    println!();
    println!("{:<58} {:>12} {:>12} {:>8} {:>7}", "", "measured", "baseline", "ratio", "verdict");
    println!(
        "{:<58} {:>10.2} s {:>10.2} s {:>7.2}x {:>7}",
        format!("{items} items: first page asked → last item scannable (vs serde_json)"),
        items_at.as_secs_f64(),
        parse.as_secs_f64(),
        ratio,
        verdict(ratio <= 3.0)
    );
    println!("{:<58} {:>10.2} s", format!("… and {clients} clients too"), all_at.as_secs_f64());
    println!(
        "{:<58} {:>9.0} MB {:>9.0} MB {:>7.2}x {:>7}",
        "store file vs raw feed JSON",
        size as f64 / 1e6,
        raw_bytes as f64 / 1e6,
        size_ratio,
        verdict(size_ratio <= 1.3)
    );
    println!(
        "{:<58} {:>8.0} MiB {:>9.0} MiB {:>8} {:>7}",
        "RSS idle after the sync",
        rss_idle,
        150.0,
        "",
        verdict(rss_idle <= 150.0)
    );
    println!(
        "{:<58} {:>8.0} MiB {:>9.0} MiB {:>8} {:>7}",
        "RSS under 20 lanes scanning",
        rss_busy,
        150.0,
        "",
        verdict(rss_busy <= 150.0)
    );
    println!(
        "{:<58} {:>10.3} s {:>10.3} s {:>8} {:>7}",
        "cold start to /healthz 200",
        cold.as_secs_f64(),
        1.0,
        "",
        verdict(cold.as_secs_f64() <= 1.0)
    );
    println!(
        "{:<58} {:>10.3} s {:>10.3} s {:>8} {:>7}",
        "cold start after kill -9 mid-ingest",
        cold_after_crash.as_secs_f64(),
        1.0,
        "",
        verdict(cold_after_crash.as_secs_f64() <= 1.0)
    );
}
