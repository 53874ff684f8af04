//! `GET /metrics`: Prometheus (OpenMetrics text) for the admin or the scraper's own token
//! (`[metrics] token`), encoded by `prometheus-client`.
//!
//! Request latencies are observed as requests happen (a route layer, labelled by the route
//! *pattern*, never the path, so ids do not blow up the series). Everything else is read at
//! scrape time from where it already lives — the lanes' counters, the store, the CRM link, the
//! device registry, the backup directory, `/proc/self/status` — so nothing here can drift from
//! what `/admin` shows.

use super::{ApiError, AppState};
use crate::config::Role;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", get(metrics))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~4 s: a scan answers in milliseconds, a backup stream's headers too.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// What the HTTP layer measures as it goes.
pub struct HttpMetrics {
    latency: LatencyFamily,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// The caller's `X-Request-Id` when it is a sane token, else a new UUIDv7.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string)
}

/// Route layer: every matched request runs in a `request` span (id, method, route) whose id
/// is echoed in `X-Request-Id`, and is timed by method, route pattern and status.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use tracing::Instrument;
    // `/api/v1/lanes/{lane}/scan` is shown as `/api/v1/lanes/:lane/scan`: braces in a label
    // value are legal but trip simple text-format parsers.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .replace('{', ":")
        .replace('}', "");
    let method = request.method().as_str().to_string();
    let id = request_id(request.headers());
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let started = tokio::time::Instant::now();
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16().to_string(),
    };
    state
        .inner
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The admin's tokens, or the scraper's `[metrics] token`.
fn allowed(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.as_bytes().strip_prefix(b"Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <admin or [metrics] token>"))?;
    if let Some(token) = &state.inner.metrics_token
        && super::auth::constant_time_eq(token.expose().as_bytes(), presented)
    {
        return Ok(());
    }
    match state.inner.tokens.authenticate(presented) {
        Some(p) if p.role == Role::Admin => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "/metrics needs an admin token or the [metrics] token",
        )),
        None => Err(unauthorized("unknown token")),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabel {
    lane: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabels {
    device: String,
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    device: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    printer: String,
    state: String,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauge_f(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g: Gauge<f64, AtomicU64> = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

/// Resident memory of this process, from `/proc/self/status` (`VmRSS`, in kB).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    allowed(&state, &headers)?;
    let s = &state.inner;
    let now = jiff::Timestamp::now();
    let age = |t: jiff::Timestamp| now.duration_since(t).as_secs_f64().max(0.0);
    let mut registry = Registry::with_prefix("storeterm");

    registry.register(
        "http_request_duration_seconds",
        "Time to answer an API or screen request, by route pattern",
        s.metrics.latency.clone(),
    );

    let scans = Family::<LaneLabel, Counter>::default();
    let sales = Family::<LaneLabel, Counter>::default();
    for (id, lane) in &s.lanes {
        let label = LaneLabel { lane: id.clone() };
        scans.get_or_create(&label).inc_by(lane.counters().scans.load(Ordering::Relaxed));
        sales.get_or_create(&label).inc_by(lane.counters().sales.load(Ordering::Relaxed));
    }
    registry.register("scans", "Scans taken per lane since start (refused ones included)", scans);
    registry.register("sales", "Receipts paid per lane since start", sales);

    gauge(
        &mut registry,
        "outbox_documents",
        "Documents waiting for the CRM",
        s.store.outbox_len()? as i64,
    );
    gauge(
        &mut registry,
        "outbox_parked_documents",
        "Documents the CRM refused for good (see /admin)",
        s.store.parked_len()? as i64,
    );
    let oldest = s.store.outbox_pending(1)?.first().map(|d| age(d.doc.created_at)).unwrap_or(0.0);
    gauge_f(
        &mut registry,
        "outbox_oldest_age_seconds",
        "Age of the oldest document waiting for the CRM (0: none waiting)",
        oldest,
    );
    let link = s.link.snapshot();
    gauge(&mut registry, "crm_configured", "A CRM is configured", link.configured as i64);
    gauge(
        &mut registry,
        "crm_online",
        "The last CRM exchange succeeded",
        (link.online == Some(true)) as i64,
    );
    if let Some(pulled) = link.last_pull {
        gauge_f(
            &mut registry,
            "feed_lag_seconds",
            "Time since the change feed was last pulled successfully",
            age(pulled),
        );
    }

    let states = Family::<DeviceLabels, Gauge>::default();
    let ready = Family::<DeviceLabel, Gauge>::default();
    let jobs = Family::<JobLabels, Gauge>::default();
    for device in s.registry.all() {
        let kind = serde_json::to_value(device.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let state_name = serde_json::to_value(device.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let detail = device.detail.as_deref().unwrap_or("");
        let blocked = crate::devices::printer::status::BLOCKING_WORDS.iter().any(|w| detail.contains(w));
        let is_ready = device.state == crate::devices::DeviceState::Connected && !blocked;
        states
            .get_or_create(&DeviceLabels {
                device: device.id.clone(),
                kind: kind.clone(),
                state: state_name,
            })
            .set(1);
        ready
            .get_or_create(&DeviceLabel {
                device: device.id.clone(),
                kind: kind.clone(),
            })
            .set(is_ready as i64);
        if device.kind == crate::config::DeviceKind::Printer {
            for job in s.store.open_print_jobs(&device.id)? {
                let state = serde_json::to_value(job.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                jobs.get_or_create(&JobLabels {
                    printer: device.id.clone(),
                    state,
                })
                .inc();
            }
        }
    }
    registry.register("device_state", "Each device's current state (1 on the current one)", states);
    registry.register(
        "device_ready",
        "The device is connected and can work (a printer with paper, cover closed)",
        ready,
    );
    registry.register("print_jobs_open", "Unfinished print jobs per printer and state", jobs);

    if let Some(calls) = &s.calls {
        let dropped: Counter = Counter::default();
        dropped.inc_by(calls.hub.dropped_signals());
        registry.register(
            "pbx_dropped_signals",
            "Call signals from the PBX dropped while the call hub was busy",
            dropped,
        );
        let late: Counter = Counter::default();
        late.inc_by(calls.hub.late_cards());
        registry.register("caller_cards_late", "Caller cards the CRM did not deliver within the budget", late);
    }

    gauge(
        &mut registry,
        "store_file_bytes",
        "Size of the store's database file",
        s.store.file_size() as i64,
    );
    if let Some(dir) = &s.backup_dir {
        let dir = dir.clone();
        if let Ok(Ok(backups)) = tokio::task::spawn_blocking(move || crate::app::backup::state(&dir)).await {
            gauge(&mut registry, "backups", "Backup files kept", backups.files.len() as i64);
            gauge(
                &mut registry,
                "backup_failing",
                "The last scheduled backup failed",
                backups.last_error.is_some() as i64,
            );
            if let Some(newest) = backups.newest() {
                gauge_f(
                    &mut registry,
                    "backup_age_seconds",
                    "Age of the newest backup",
                    age(newest.taken_at),
                );
            }
        }
    }
    if let Some(rss) = rss_bytes() {
        gauge(
            &mut registry,
            "resident_memory_bytes",
            "Resident memory of the storeterm process",
            rss as i64,
        );
    }

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "metrics", "encoding the metrics failed"))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
