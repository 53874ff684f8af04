//! A test CRM: serves a change feed and stores documents by idempotency key, like the real
//! one must; it can be told to fail in the ways real CRMs fail.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "crm-secret-token";

/// How the CRM answers document pushes right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// `503` with a JSON error.
    Unavailable,
    /// Accept the request, never answer (storeterm's client timeout ends the wait).
    Hang,
    /// `200` with an HTML page (a captive portal or a misconfigured proxy).
    Html,
    /// Store the document, then hold the answer until [`TestCrm::release_answers`] (so a
    /// client can die in between).
    HoldAfterStore,
    /// `401` with a JSON error on documents: the CRM no longer takes the till's token.
    TokenExpired,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub key: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    pages: Vec<Vec<Value>>,
    mode: Option<Mode>,
    feed_down: bool,
    /// Kinds answered with 422.
    reject_kinds: Vec<String>,
    stored: Vec<Received>,
    by_key: HashMap<String, usize>,
    attempts: usize,
    duplicates: usize,
    feed_requests: usize,
    /// Live client cards (protocol section 2).
    cards: HashMap<String, Value>,
    /// Answer `documents/last` with 404, as a CRM without protocol v1.1 does.
    no_last_route: bool,
}

/// What the handlers share: the state, and the gates that hold answers back.
#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    /// Answers held by [`Mode::HoldAfterStore`] go out when this moves past their number.
    released: tokio::sync::watch::Sender<u64>,
    /// While true, live cards are not answered.
    cards_held: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone)]
pub struct TestCrm {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    shared: Shared,
}

impl TestCrm {
    pub async fn start() -> TestCrm {
        TestCrm::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> TestCrm {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = Shared {
            inner: inner.clone(),
            released: tokio::sync::watch::Sender::new(0),
            cards_held: tokio::sync::watch::Sender::new(false),
        };
        let app = axum::Router::new()
            .route("/v1/sites/{site}/changes", get(changes))
            .route("/v1/sites/{site}/documents", post(documents))
            .route("/v1/sites/{site}/documents/last", get(last_document))
            .route("/v1/ping", get(|| async { Json(json!({"ok": true})) }))
            .route("/v1/clients/{id}/card", get(card))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestCrm { addr, inner, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `[crm]` config section pointing at this CRM.
    pub fn config(&self, pull_interval: u64) -> String {
        format!(
            "[crm]\nurl = \"{}\"\nsite = \"shop-1\"\ntoken = \"{TOKEN}\"\npull_interval = {pull_interval}\ntimeout = 1\nretry_cap = 1\n",
            self.url()
        )
    }

    /// Add a page of changes to the feed.
    pub fn add_page(&self, changes: Vec<Value>) {
        self.inner.lock().unwrap().pages.push(changes);
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    pub fn set_feed_down(&self, down: bool) {
        self.inner.lock().unwrap().feed_down = down;
    }

    pub fn reject_kind(&self, kind: &str) {
        self.inner.lock().unwrap().reject_kinds.push(kind.to_string());
    }

    /// Take documents of `kind` again (the CRM side was fixed).
    pub fn accept_kind(&self, kind: &str) {
        self.inner.lock().unwrap().reject_kinds.retain(|k| k != kind);
    }

    /// Documents stored, in arrival order (each idempotency key once).
    pub fn stored(&self) -> Vec<Received> {
        self.inner.lock().unwrap().stored.clone()
    }

    pub fn stored_of(&self, kind: &str) -> Vec<Received> {
        self.stored().into_iter().filter(|d| d.body["kind"] == kind).collect()
    }

    pub fn attempts(&self) -> usize {
        self.inner.lock().unwrap().attempts
    }

    pub fn duplicates(&self) -> usize {
        self.inner.lock().unwrap().duplicates
    }

    /// Serve this live card for a client.
    pub fn set_card(&self, id: &str, card: Value) {
        self.inner.lock().unwrap().cards.insert(id.to_string(), card);
    }

    /// Hold every live-card answer (or let them go) — a CRM slower than any budget.
    pub fn hold_cards(&self, held: bool) {
        self.shared.cards_held.send_replace(held);
    }

    /// Send the answers [`Mode::HoldAfterStore`] is holding now.
    pub fn release_answers(&self) {
        self.shared.released.send_modify(|n| *n += 1);
    }

    /// Stop offering `documents/last` (a CRM that speaks protocol 1.0 only).
    pub fn without_last_route(&self) {
        self.inner.lock().unwrap().no_last_route = true;
    }

    pub fn feed_requests(&self) -> usize {
        self.inner.lock().unwrap().feed_requests
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn changes(
    State(Shared { inner, .. }): State<Shared>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(site, "shop-1");
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad token"}))).into_response();
    }
    let mut inner = inner.lock().unwrap();
    inner.feed_requests += 1;
    if inner.feed_down {
        return (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>").into_response();
    }
    // Cursor "p{n}": the next page to serve is n.
    let next: usize = q
        .get("since")
        .and_then(|c| c.strip_prefix('p'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let changes = inner.pages.get(next).cloned().unwrap_or_default();
    let served = if next < inner.pages.len() { next + 1 } else { next };
    Json(json!({
        "cursor": format!("p{served}"),
        "more": served < inner.pages.len(),
        "changes": changes,
    }))
    .into_response()
}

async fn documents(State(shared): State<Shared>, Path(site): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    assert_eq!(site, "shop-1");
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad token"}))).into_response();
    }
    let inner = &shared.inner;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mode = {
        let mut inner = inner.lock().unwrap();
        inner.attempts += 1;
        inner.mode.clone().unwrap_or(Mode::Normal)
    };
    match mode {
        Mode::Unavailable => return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "maintenance"}))).into_response(),
        Mode::Hang => return std::future::pending().await,
        Mode::Html => return (StatusCode::OK, [("content-type", "text/html")], "<html>Вход в сеть</html>").into_response(),
        Mode::TokenExpired => return (StatusCode::UNAUTHORIZED, Json(json!({"error": "token expired"}))).into_response(),
        Mode::Normal | Mode::HoldAfterStore => {}
    }
    let held_since = *shared.released.borrow();
    let answer = {
        let mut inner = inner.lock().unwrap();
        assert_eq!(
            key,
            body["id"].as_str().unwrap_or_default(),
            "Idempotency-Key must be the document id"
        );
        let kind = body["kind"].as_str().unwrap_or_default().to_string();
        if inner.reject_kinds.contains(&kind) {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": format!("{kind} is not accepted")})),
            )
        } else if inner.by_key.contains_key(&key) {
            inner.duplicates += 1;
            (StatusCode::CONFLICT, Json(json!({"status": "duplicate"})))
        } else {
            let index = inner.stored.len();
            inner.by_key.insert(key.clone(), index);
            inner.stored.push(super::crm::Received { key, body });
            (StatusCode::CREATED, Json(json!({"status": "stored"})))
        }
    };
    if mode == Mode::HoldAfterStore {
        let mut released = shared.released.subscribe();
        let _ = released.wait_for(|n| *n > held_since).await;
    }
    answer.into_response()
}

/// `GET …/documents/last` (protocol v1.1): the highest `seq` stored.
async fn last_document(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad token"}))).into_response();
    }
    let inner = shared.inner.lock().unwrap();
    if inner.no_last_route {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such route"}))).into_response();
    }
    let last = inner
        .stored
        .iter()
        .filter_map(|d| Some((d.body["seq"].as_u64()?, d.key.clone())))
        .max();
    match last {
        Some((seq, id)) => Json(json!({"seq": seq, "id": id})).into_response(),
        None => Json(json!({"seq": 0})).into_response(),
    }
}

async fn card(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let card = shared.inner.lock().unwrap().cards.get(&id).cloned();
    let mut held = shared.cards_held.subscribe();
    let _ = held.wait_for(|held| !held).await;
    match card {
        Some(card) => Json(card).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such client"}))).into_response(),
    }
}
