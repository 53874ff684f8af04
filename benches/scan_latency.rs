//! Scan and payment latency on the HTTP path at a busy shop's load — 20 lanes, each its own
//! cashier and connection, scanning 10 times a second and paying every tenth scan — with a
//! 100 000-item catalog. Measured in the same run: `/healthz` (the HTTP path with no store
//! work) and a bare 500-byte append + `fdatasync` on the same disk (the physical limit of one
//! durable write). The goal: scan and payment p99 ≤ healthz p99 + 1.5 × fdatasync p99 — one
//! fsync away from the limit, which only group commit reaches when 20 lanes pay at once.
//!
//! Each cashier keeps their own rhythm, as independent cashiers do: a random phase within the
//! scan period and a payment on their own tenth scan. `--lock-step` puts every lane on the same
//! tick instead — all twenty scans land in the same millisecond and all twenty pay at once — a
//! stress case for the store's one writer and for two CPU cores that no shop produces, whose
//! figures are worth watching but are not the goal's load.
//!
//! A minute by default: 1 200 payments, so their p99 rests on a dozen samples, not on four.
//!
//! Run: `cargo bench --bench scan_latency` (`-- --seconds 60 --lanes 20 --rate 10 --lock-step`).

// Wall-clock measurement is the point here; paused tokio time would measure nothing.
#![allow(clippy::disallowed_types)]

mod common;

use common::{Stats, ean13, item, stats};

use rust_decimal::Decimal;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use storeterm::config::Config;
use storeterm::domain::feed::Change;
use storeterm::store::Store;

const ITEMS: usize = 100_000;

async fn load_catalog(store: &Store) {
    let items: Vec<Change> = (0..ITEMS)
        .map(|n| Change::ItemUpsert(item(n, Decimal::new(9990 + n as i64 % 1000, 2))))
        .collect();
    for (page, chunk) in items.chunks(1000).enumerate() {
        store.apply_feed(chunk, &format!("bench-{page}")).await.expect("catalog page");
    }
}

fn token(lane: usize) -> String {
    format!("bench-cashier-{lane}")
}

fn config(store: &Path, lanes: usize) -> Config {
    let mut text = format!("[http]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n", store.display());
    for lane in 1..=lanes {
        text += &format!(
            "[[tokens]]\ntoken = \"{}\"\nrole = \"cashier\"\nname = \"Кассир {lane}\"\n[[lanes]]\nid = \"{lane}\"\n",
            token(lane)
        );
    }
    Config::parse(&text, Path::new("bench.toml"), Path::new("/")).expect("bench config")
}

/// The physical limit: a 500-byte append and `fdatasync` of a file on the store's disk, every
/// `every` (back to back when zero), `samples` times.
fn bare_fdatasync(dir: &Path, samples: usize, every: Duration) -> Vec<f64> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("bare-append-{}", every.as_millis())))
        .expect("bare file");
    let record = [b'x'; 500];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        file.write_all(&record).expect("append");
        file.sync_data().expect("fdatasync");
        times.push(t.elapsed().as_secs_f64() * 1e6);
        std::thread::sleep(every.saturating_sub(t.elapsed()));
    }
    times
}

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// One cashier at one lane: a scan every `1/rate` s on its own connection, the receipt paid in
/// cash every tenth scan. Returns (scan, payment) latencies in µs.
async fn cashier(base: String, lane: usize, rate: u64, lock_step: bool, until: Instant) -> (Vec<f64>, Vec<f64>) {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
    let url = format!("{base}/api/v1/lanes/{lane}");
    let mut rng = fastrand::Rng::with_seed(lane as u64);
    let period = Duration::from_micros(1_000_000 / rate.max(1));
    let (mut tick, mut n) = if lock_step {
        (tokio::time::interval(period), 0)
    } else {
        let phase = period.mul_f64(rng.f64());
        (tokio::time::interval_at(tokio::time::Instant::now() + phase, period), lane as u64)
    };
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut scans, mut payments) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let t = Instant::now();
        let answer = http
            .post(format!("{url}/scan"))
            .bearer_auth(token(lane))
            .json(&serde_json::json!({ "code": ean13(rng.usize(0..ITEMS)) }))
            .send()
            .await
            .expect("scan");
        assert_eq!(answer.status(), 200, "scan refused");
        let receipt: serde_json::Value = answer.json().await.expect("receipt");
        scans.push(t.elapsed().as_secs_f64() * 1e6);
        if n % 10 == 0 {
            let total = receipt["total"].as_str().expect("receipt total").to_string();
            let t = Instant::now();
            let paid = http
                .post(format!("{url}/payments"))
                .bearer_auth(token(lane))
                .json(&serde_json::json!({"method": "cash", "amount": total}))
                .send()
                .await
                .expect("pay");
            let status = paid.status();
            let body = paid.text().await.expect("payment answer");
            assert_eq!(status, 200, "payment refused: {body}");
            payments.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    (scans, payments)
}

/// `/healthz` on its own connection while the lanes work, 20 times a second on average, each
/// time at a random moment: a fixed beat would keep one phase against the lanes' ticks for
/// the whole run and so measure either always or never what a request meets amid their scans.
async fn health_probe(base: String, until: Instant) -> Vec<f64> {
    let http = reqwest::Client::new();
    let mut rng = fastrand::Rng::with_seed(0x6865616c);
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_micros(rng.u64(0..100_000))).await;
        let t = Instant::now();
        let answer = http.get(format!("{base}/healthz")).send().await.expect("healthz");
        let _ = answer.bytes().await;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 60);
    let lanes = arg("--lanes", 20) as usize;
    let rate = arg("--rate", 10);
    let lock_step = std::env::args().any(|a| a == "--lock-step");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("store");
    let store = Store::open(&data).expect("store");
    let started = Instant::now();
    load_catalog(&store).await;
    println!("catalog: {ITEMS} items loaded in {:.1} s", started.elapsed().as_secs_f64());

    let idle = stats(bare_fdatasync(dir.path(), 300, Duration::ZERO));

    let running = storeterm::daemon::start_with_store(config(&data, lanes), store)
        .await
        .expect("storeterm");
    let base = format!("http://{}", running.addr);
    let until = Instant::now() + Duration::from_secs(seconds);
    let probe = tokio::spawn(health_probe(base.clone(), until));
    // The same bare write while the lanes work: the disk as the store's commits meet it.
    let bare_dir = dir.path().to_path_buf();
    let samples = (seconds * 20) as usize;
    let loaded = tokio::task::spawn_blocking(move || bare_fdatasync(&bare_dir, samples, Duration::from_millis(50)));
    let workers: Vec<_> = (1..=lanes)
        .map(|lane| tokio::spawn(cashier(base.clone(), lane, rate, lock_step, until)))
        .collect();
    let (mut scans, mut payments) = (Vec::new(), Vec::new());
    for worker in workers {
        let (s, p) = worker.await.expect("lane worker");
        scans.extend(s);
        payments.extend(p);
    }
    let health = stats(probe.await.expect("probe"));
    let loaded = stats(loaded.await.expect("bare probe"));
    running.stop().await;
    let (scans, payments) = (stats(scans), stats(payments));

    let phase = if lock_step {
        "lanes in lock-step: a stress case, not the goal's load"
    } else {
        "each cashier their own rhythm"
    };
    println!("{lanes} lanes × {rate} scans/s for {seconds} s ({phase}), a cash payment every 10th scan (µs)");
    println!("{:<40} {:>8} {:>10} {:>10}", "", "n", "p50", "p99");
    let row = |name: &str, s: &Stats| println!("{name:<40} {:>8} {:>10.0} {:>10.0}", s.n, s.p50, s.p99);
    row("bare 500-byte append + fdatasync, idle", &idle);
    row("  the same, during the run", &loaded);
    row("GET /healthz", &health);
    row("scan -> receipt", &scans);
    row("payment (closes the receipt, durable)", &payments);
    for (disk, bare) in [("during the run", &loaded), ("idle", &idle)] {
        let limit = health.p99 + 1.5 * bare.p99;
        println!("limit with the fdatasync {disk} = healthz p99 + 1.5 × fdatasync p99 = {limit:.0} µs");
        for (name, s) in [("scan", &scans), ("payment", &payments)] {
            let verdict = if s.p99 <= limit { "PASS" } else { "FAIL" };
            println!("  {name:<8} p99 {:>8.0} µs = {:.2}× the limit  {verdict}", s.p99, s.p99 / limit);
        }
    }
}
