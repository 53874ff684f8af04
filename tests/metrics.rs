//! `/metrics` scraped like Prometheus does, and read back by a Prometheus text-format parser.

mod common;

use common::crm::{Mode, TestCrm};
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use std::time::Duration;

const SCRAPER: &str = "scraper-token-1";

async fn scrape(base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_count_scans_sales_requests_and_the_outbox() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко", "unit": "pcs", "vat": "10", "weighted": false, "marked": false,
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let extra = format!(
        "{}[metrics]\ntoken = \"{SCRAPER}\"\n[backup]\ndir = \"{}\"\nevery = \"1d\"\n",
        crm.config(30),
        backups.display()
    );
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", &extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let (cashier, admin) = (Api::new(&base, CASHIER), Api::new(&base, ADMIN));
    eventually("catalog pulled", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == 1).then_some(())
    })
    .await;

    // The CRM is down: the shift_open and the sale stay in the outbox.
    crm.set_mode(Mode::Unavailable);
    assert_eq!(cashier.scan("1", "4601234567893").await.0, 200);
    assert_ne!(cashier.scan("1", "4600000000992").await.0, 200, "an unknown item is refused");
    assert_eq!(cashier.pay("1", "cash", "100").await.0, 200);
    // The first scheduled backup is taken at start (no backup yet).
    eventually("the first scheduled backup", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["backups"]["count"] == 1).then_some(())
    })
    .await;

    assert_eq!(scrape(&base, None).await.0, 401);
    assert_eq!(scrape(&base, Some(CASHIER)).await.0, 403);
    assert_eq!(scrape(&base, Some("not-a-token-at-all")).await.0, 401);
    assert_eq!(scrape(&base, Some(ADMIN)).await.0, 200);
    let (status, body) = scrape(&base, Some(SCRAPER)).await;
    assert_eq!(status, 200, "{body}");
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();

    assert_eq!(value(&parsed, "storeterm_scans_total", &[("lane", "1")]), Some(2.0), "{body}");
    assert_eq!(value(&parsed, "storeterm_sales_total", &[("lane", "1")]), Some(1.0), "{body}");
    let scans = value(
        &parsed,
        "storeterm_http_request_duration_seconds",
        &[("route", "/api/v1/lanes/:lane/scan"), ("method", "POST"), ("status", "200")],
    );
    assert_eq!(scans, Some(1.0), "{body}");
    assert_eq!(value(&parsed, "storeterm_outbox_documents", &[]), Some(2.0), "{body}");
    assert!(value(&parsed, "storeterm_outbox_oldest_age_seconds", &[]).is_some_and(|v| v > 0.0 && v < 60.0));
    assert_eq!(value(&parsed, "storeterm_outbox_parked_documents", &[]), Some(0.0));
    assert_eq!(value(&parsed, "storeterm_crm_configured", &[]), Some(1.0));
    assert!(value(&parsed, "storeterm_feed_lag_seconds", &[]).is_some_and(|v| v >= 0.0));
    assert!(value(&parsed, "storeterm_store_file_bytes", &[]).is_some_and(|v| v > 0.0));
    assert!(value(&parsed, "storeterm_resident_memory_bytes", &[]).is_some_and(|v| v > 1e6));
    assert_eq!(value(&parsed, "storeterm_backups", &[]), Some(1.0));
    assert_eq!(value(&parsed, "storeterm_backup_failing", &[]), Some(0.0));
    assert!(body.trim_end().ends_with("# EOF"));

    // Every answer names its request (the id in the logs' `request` span); a caller's id is kept.
    let answer = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "till-1-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "till-1-req-42");
    let answer = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    let id = answer.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    running.stop().await;
}
