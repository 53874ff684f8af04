//! The HTTP face of storeterm: the JSON API (per role, token-authenticated), server-sent
//! events for live screens, and the web screens themselves, embedded in the binary.

mod admin;
mod auth;
mod backup;
mod body;
mod calls;
mod error;
mod lanes;
mod metrics;
mod onec;
mod printing;
mod retail;
mod screens;
mod server;
pub mod views;
mod wms;

pub use auth::{Principal, Tokens};
pub use body::{ApiBytes, ApiJson, BodyLimit};
pub use calls::CallsState;
pub use error::ApiError;
pub use server::{Connections, ServeLimits, Server};

use crate::app::lane::LaneHandle;
use crate::config::{Config, LaneConfig};
use crate::devices::DeviceRegistry;
use crate::devices::printer::VirtualPaper;
use crate::store::Store;
use crate::sync::Link;
use axum::Router;
use axum::routing::get;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: Tokens,
    lanes: BTreeMap<String, LaneHandle>,
    lane_config: Vec<LaneConfig>,
    store: Store,
    registry: DeviceRegistry,
    link: Arc<Link>,
    paper: VirtualPaper,
    warehouse: crate::app::wms::Warehouse,
    /// The supervised tasks' states, for `/healthz` and `/admin`.
    parts: crate::app::supervisor::Parts,
    /// Ends live event streams on shutdown, so the server can drain.
    shutdown: CancellationToken,
    /// The operator's path (caller cards, lookups, webhooks); set by [`AppState::with_calls`].
    calls: Option<calls::CallsState>,
    /// The zone a cloud PBX writes its local times in: the shop's (`[shop] timezone`).
    webhook_zone: jiff::tz::TimeZone,
    /// Webhook requests seen lately, so a replay changes nothing.
    replays: std::sync::Mutex<crate::devices::telephony::webhook::ReplayGuard>,
    /// 1C's «Обмен с сайтом» (`[onec]`); set by [`AppState::with_onec`].
    onec: Option<Arc<crate::sync::onec::OnecExchange>>,
    /// The till's money rules (discount limits by role).
    retail: crate::config::RetailConfig,
    /// The item search index over the catalog.
    search: crate::app::search::ItemSearch,
    /// Where scheduled backups go (`[backup] dir`), for `/admin`.
    backup_dir: Option<std::path::PathBuf>,
    /// Request latencies, for `/metrics`.
    metrics: metrics::HttpMetrics,
    /// The scraper's token (`[metrics] token`): `/metrics` and nothing else.
    metrics_token: Option<crate::config::Secret>,
}

impl AppState {
    pub fn new(config: &Config, services: crate::app::Services, shutdown: CancellationToken) -> AppState {
        let crate::app::Services {
            lanes,
            store,
            registry,
            link,
            paper,
            warehouse,
            parts,
        } = services;
        AppState {
            inner: Arc::new(Inner {
                tokens: Tokens::new(&config.tokens),
                warehouse,
                parts,
                lanes,
                lane_config: config.lanes.clone(),
                retail: config.retail.clone(),
                search: crate::app::search::ItemSearch::new(store.clone()),
                store,
                registry,
                link,
                paper,
                shutdown,
                calls: None,
                webhook_zone: config
                    .shop
                    .timezone
                    .as_deref()
                    .and_then(|name| jiff::tz::TimeZone::get(name).ok())
                    .unwrap_or_else(jiff::tz::TimeZone::system),
                replays: Default::default(),
                backup_dir: config.backup.as_ref().map(|b| b.dir.clone()),
                metrics: Default::default(),
                metrics_token: config.metrics.token.clone(),
                onec: None,
            }),
        }
    }

    /// The webhook replay guard; held only for one check, never across an await.
    fn replays(&self) -> std::sync::MutexGuard<'_, crate::devices::telephony::webhook::ReplayGuard> {
        self.inner.replays.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attach the call hub, right after [`AppState::new`] (before the state is shared).
    pub fn with_calls(mut self, calls: calls::CallsState) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.calls = Some(calls);
        }
        self
    }

    /// Attach 1C's exchange, right after [`AppState::new`] (before the state is shared).
    pub fn with_onec(mut self, onec: Arc<crate::sync::onec::OnecExchange>) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.onec = Some(onec);
        }
        self
    }

    fn lane(&self, id: &str) -> Result<&LaneHandle, ApiError> {
        self.inner
            .lanes
            .get(id)
            .ok_or_else(|| ApiError::not_found("unknown_lane", format!("кассы «{}» нет", crate::domain::text::shown(id))))
    }
}

/// `/healthz`: 200 while every part works, 503 with what is down otherwise.
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let store = state.inner.store.health().borrow().clone();
    // A part is down when its task died and waits for its restart (or cannot restart): a
    // lane actor, a scanner reader, a printer spooler, a PBX link, the CRM feed or outbox. A
    // CRM that does not answer is not a dead part: the shop trades offline by design, and
    // `/admin` shows the link.
    let down: Vec<serde_json::Value> = state
        .inner
        .parts
        .down()
        .into_iter()
        .map(|p| serde_json::json!({"name": p.name, "state": p.state, "cause": p.last_error, "down_for_secs": p.down_for_secs}))
        .collect();
    let mut down = down;
    if !state.inner.store.writer_alive() {
        down.push(serde_json::json!({"name": "store writer", "state": "stopped", "cause": "the store's writer thread ended"}));
    }
    let ok = store == crate::store::StoreHealth::Ok && down.is_empty();
    let status = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let opened_ms = state.inner.store.opened_in().as_millis() as u64;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "store": store,
        "store_opened_ms": opened_ms,
        "down": down,
    });
    (status, axum::Json(body)).into_response()
}

/// The routes of a storeterm that refuses to trade because its store is damaged: the screens
/// load, `/healthz` and every API call answer 503 with what happened and what to do.
pub fn refusing_router(reason: String) -> Router {
    let reason = std::sync::Arc::new(reason);
    let health = reason.clone();
    Router::new()
        .route(
            "/healthz",
            get(move || async move {
                let body = serde_json::json!({"status": "refusing", "store": {"state": "damaged", "reason": *health}});
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
            }),
        )
        .merge(screens::routes())
        .fallback(move || async move { ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "store_damaged", reason.as_str()) })
}

/// All routes, with the JSON API's body limit ([`BodyLimit::API`]; a route may set its own)
/// and the API's error shape on every 404, 405 and rejection.
pub fn router(state: AppState) -> Router {
    let file_limit = state.inner.onec.as_ref().map(|o| o.file_limit());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/whoami", get(auth::whoami))
        .merge(screens::routes())
        .merge(lanes::routes())
        .merge(retail::routes())
        .merge(admin::routes())
        .merge(printing::routes())
        .merge(calls::routes())
        .merge(wms::routes())
        .merge(onec::routes(file_limit))
        .merge(backup::routes())
        .merge(metrics::routes())
        // Times every matched route (so after all of them), by its pattern.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        // After every route: it replaces axum's empty 405 on the routes that exist now.
        .method_not_allowed_fallback(body::method_not_allowed)
        .fallback(|| async { ApiError::not_found("not_found", "такой страницы или вызова API нет") })
        .layer(BodyLimit::API.layer())
        .layer(axum::middleware::map_response(body::json_errors))
        .with_state(state)
}

/// Serve until `shutdown` with the default [`ServeLimits`], then finish in-flight requests.
/// [`Server`] takes other limits.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState, shutdown: CancellationToken) {
    serve_router(listener, router(state), shutdown).await
}

/// Serve `app` until `shutdown` with the default [`ServeLimits`], then finish in-flight requests.
pub async fn serve_router(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) {
    Server::new(listener, ServeLimits::default()).run(app, shutdown).await;
}
