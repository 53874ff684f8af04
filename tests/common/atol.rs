//! A test ATOL ДТО 10 web server on loopback, written from the public description of its JSON
//! task API: `POST /api/v2/requests` with `{"uuid", "request": [task, …]}` (201, or 409 for a
//! uuid it already has), `GET /api/v2/requests/{uuid}` answering `{"results": [{"status",
//! "errorCode", "errorDescription", "result"}]}` (404 for a uuid it does not know).
//!
//! Behind it sits a small register: a shift (opened at a time on the register's own clock,
//! which the test sets), paper, a fiscal document counter and a journal of every fiscal
//! document it signed, so a test can count the documents of a sale. The register's errors are
//! the driver's real codes (`LIBFPTR_ERROR_*`: 44 «Нет бумаги», 68 «Смена превысила 24 часа»,
//! 73 «Смена закрыта - операция невозможна», 80, 83). The server can be stopped (connection
//! refused), started again on the same port, and restarted forgetting every uuid.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fiscal document the register signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub fd: u64,
    pub fp: String,
    /// `sell`, `sellReturn`, `openShift`, `closeShift`.
    pub kind: String,
    pub total: Option<Decimal>,
    pub shift: u32,
    pub receipt_number: Option<u32>,
    /// The uuid of the request that made it.
    pub uuid: String,
}

/// How the web server misbehaves, when told to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    No,
    /// `200` with an HTML page (something else listens on the port).
    Html,
    /// `503` for every request.
    Unavailable,
}

struct Stored {
    request: Vec<Value>,
    /// `None` while the task is held (accepted, not yet executed).
    results: Option<Vec<Value>>,
    polls_left: u32,
}

struct Register {
    tasks: HashMap<String, Stored>,
    held: Vec<String>,
    journal: Vec<Doc>,
    /// Documents signed before the test began (the ФН is not new).
    first_fd: u64,
    paper: bool,
    shift_number: u32,
    opened_at: Option<Timestamp>,
    receipts_in_shift: u32,
    now: Timestamp,
    in_progress_polls: u32,
    hold: bool,
    /// Hold only requests that make a receipt (`sell`, `sellReturn`); status queries run.
    hold_receipts: bool,
    cash: Decimal,
    broken: Broken,
    posts: usize,
    gets: usize,
    /// `GET`s that found their task held (accepted, not yet run).
    held_polls: usize,
    /// The type of every task accepted, in order.
    types: Vec<String>,
    last_body: Option<Value>,
    marking: Option<String>,
}

impl Register {
    fn last_fd(&self) -> u64 {
        self.journal.last().map(|d| d.fd).unwrap_or(self.first_fd)
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

pub struct TestAtol {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Register>>,
    /// Bumped on every request the server takes, so a test waits for traffic, not for time.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    running: Mutex<Option<Running>>,
}

/// The register's clock at the start of every test.
pub const START: &str = "2026-03-02T06:00:00Z";

impl TestAtol {
    /// A web server with an open shift (opened at [`START`]), paper, and 70 documents already
    /// in the ФН.
    pub async fn start() -> TestAtol {
        let now: Timestamp = START.parse().unwrap();
        let inner = Arc::new(Mutex::new(Register {
            tasks: HashMap::new(),
            held: Vec::new(),
            journal: Vec::new(),
            first_fd: 70,
            paper: true,
            shift_number: 12,
            opened_at: Some(now),
            receipts_in_shift: 0,
            now,
            in_progress_polls: 0,
            hold: false,
            hold_receipts: false,
            cash: Decimal::from(5000),
            broken: Broken::No,
            posts: 0,
            gets: 0,
            held_polls: 0,
            types: Vec::new(),
            last_body: None,
            marking: None,
        }));
        let listener = bind_outside_ephemeral_range().await;
        let addr = listener.local_addr().unwrap();
        let server = TestAtol {
            addr,
            inner,
            changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            running: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/api/v2/requests", post(submit))
            .route("/api/v2/requests/{uuid}", get(result))
            .with_state(Served {
                inner: self.inner.clone(),
                changed: self.changed.clone(),
            });
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        *self.running.lock().unwrap() = Some(Running { stop, handle });
    }

    /// The `address` for storeterm's settings.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Stop listening: connections are refused until [`TestAtol::resume`].
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            running.handle.await.unwrap();
        }
    }

    /// Listen again on the same port, remembering every task.
    pub async fn resume(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// Stop and start again, forgetting every uuid; held (not yet executed) tasks are lost,
    /// as a web server killed before it ran them.
    pub async fn restart_forgetting(&self) {
        self.stop().await;
        {
            let mut r = self.inner.lock().unwrap();
            r.tasks.clear();
            r.held.clear();
        }
        self.resume().await;
    }

    pub fn set_paper(&self, present: bool) {
        self.inner.lock().unwrap().paper = present;
    }

    /// Move the register's clock.
    pub fn advance_clock(&self, by: SignedDuration) {
        let mut r = self.inner.lock().unwrap();
        r.now = r.now.checked_add(by).unwrap();
    }

    /// How many `GET`s of a new task answer `inProgress` before its result shows.
    pub fn set_in_progress_polls(&self, n: u32) {
        self.inner.lock().unwrap().in_progress_polls = n;
    }

    /// Accept tasks but do not run them until [`TestAtol::release`].
    pub fn hold(&self) {
        self.inner.lock().unwrap().hold = true;
    }

    /// Accept receipts (`sell`, `sellReturn`) but do not run them until [`TestAtol::release`];
    /// status queries and shift tasks run as usual.
    pub fn hold_receipts(&self) {
        self.inner.lock().unwrap().hold_receipts = true;
    }

    /// How many accepted requests wait to be run.
    pub fn held(&self) -> usize {
        self.inner.lock().unwrap().held.len()
    }

    /// Wait until `check` holds, re-checking after every request the server takes.
    pub async fn wait_until<T>(&self, what: &str, mut check: impl FnMut(&TestAtol) -> Option<T>) -> T {
        super::wait_changes(what, super::GUARD, &self.changed, || check(self)).await
    }

    /// Run every held task now, in order.
    pub fn release(&self) {
        let mut r = self.inner.lock().unwrap();
        r.hold = false;
        r.hold_receipts = false;
        for uuid in std::mem::take(&mut r.held) {
            let request = r.tasks.get(&uuid).map(|t| t.request.clone()).unwrap_or_default();
            let results = execute(&mut r, &uuid, &request);
            if let Some(task) = r.tasks.get_mut(&uuid) {
                task.results = Some(results);
            }
        }
    }

    pub fn set_broken(&self, broken: Broken) {
        self.inner.lock().unwrap().broken = broken;
    }

    /// Every fiscal document signed since the test began.
    pub fn journal(&self) -> Vec<Doc> {
        self.inner.lock().unwrap().journal.clone()
    }

    /// Receipts whose total is `total` — the documents one sale can have made.
    pub fn receipts_of(&self, total: Decimal) -> Vec<Doc> {
        self.journal()
            .into_iter()
            .filter(|d| d.kind.starts_with("sell") && d.total == Some(total))
            .collect()
    }

    pub fn posts(&self) -> usize {
        self.inner.lock().unwrap().posts
    }

    pub fn gets(&self) -> usize {
        self.inner.lock().unwrap().gets
    }

    /// The cash the register's own counter shows (moved by `cashIn` / `cashOut` only).
    pub fn cash(&self) -> Decimal {
        self.inner.lock().unwrap().cash
    }

    /// The type of every task accepted, in order (`sell`, `getShiftStatus`, …).
    pub fn task_types(&self) -> Vec<String> {
        self.inner.lock().unwrap().types.clone()
    }

    /// How many `GET`s found their task held.
    pub fn held_polls(&self) -> usize {
        self.inner.lock().unwrap().held_polls
    }

    /// The last request body the server accepted, as JSON.
    pub fn last_body(&self) -> Option<Value> {
        self.inner.lock().unwrap().last_body.clone()
    }
}

/// A listener on a port below the kernel's ephemeral range. The server is stopped and started
/// again on its port; a port from the ephemeral range could meanwhile be taken as the local
/// port of any outgoing connection on the machine (storeterm makes a new one per request to
/// the web server), and the restart would fail with "address in use".
async fn bind_outside_ephemeral_range() -> tokio::net::TcpListener {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|n| n.parse::<u32>().ok()))
        .unwrap_or(32768);
    let (first, span) = (10_000u32, low.saturating_sub(10_000).max(1000));
    // Spread test binaries (pid) and the servers of one binary (counter) over the range.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = first + start.wrapping_add(n.wrapping_mul(31)) % span;
        if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port as u16)).await {
            return listener;
        }
    }
    panic!("no free port below the ephemeral range");
}

fn refusal(status: StatusCode, code: u32, description: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "description": description}}))).into_response()
}

fn broken_answer(broken: Broken) -> Option<Response> {
    match broken {
        Broken::No => None,
        Broken::Html => Some(
            (
                StatusCode::OK,
                [("content-type", "text/html")],
                "<html><body>Вход в сеть</body></html>",
            )
                .into_response(),
        ),
        Broken::Unavailable => Some(refusal(StatusCode::SERVICE_UNAVAILABLE, 503, "Service unavailable")),
    }
}

#[derive(Clone)]
struct Served {
    inner: Arc<Mutex<Register>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

async fn submit(State(served): State<Served>, body: Bytes) -> Response {
    let answer = take(&served.inner, body);
    served.changed.send_modify(|n| *n += 1);
    answer
}

fn take(inner: &Mutex<Register>, body: Bytes) -> Response {
    let mut r = inner.lock().unwrap();
    if let Some(answer) = broken_answer(r.broken) {
        return answer;
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, 1, "Некорректный JSON");
    };
    let Some(uuid) = value.get("uuid").and_then(Value::as_str).map(str::to_string) else {
        return refusal(StatusCode::BAD_REQUEST, 2, "Не указан uuid");
    };
    let request = match value.get("request") {
        Some(Value::Array(tasks)) if !tasks.is_empty() => tasks.clone(),
        Some(task @ Value::Object(_)) => vec![task.clone()],
        _ => return refusal(StatusCode::BAD_REQUEST, 3, "Не указано задание"),
    };
    if r.tasks.contains_key(&uuid) {
        return refusal(StatusCode::CONFLICT, 4, "Задание с таким UUID уже существует");
    }
    r.posts += 1;
    let types: Vec<String> = request
        .iter()
        .map(|t| t.get("type").and_then(Value::as_str).unwrap_or("").to_string())
        .collect();
    r.types.extend(types);
    r.last_body = Some(value.clone());
    let polls_left = r.in_progress_polls;
    let makes_receipt = request
        .iter()
        .any(|t| matches!(t.get("type").and_then(Value::as_str), Some("sell" | "sellReturn")));
    let results = if r.hold || (r.hold_receipts && makes_receipt) {
        r.held.push(uuid.clone());
        None
    } else {
        Some(execute(&mut r, &uuid, &request))
    };
    r.tasks.insert(
        uuid,
        Stored {
            request,
            results,
            polls_left,
        },
    );
    StatusCode::CREATED.into_response()
}

async fn result(State(served): State<Served>, Path(uuid): Path<String>) -> Response {
    let answer = answer(&served.inner, uuid);
    served.changed.send_modify(|n| *n += 1);
    answer
}

fn answer(inner: &Mutex<Register>, uuid: String) -> Response {
    let mut r = inner.lock().unwrap();
    if let Some(answer) = broken_answer(r.broken) {
        return answer;
    }
    r.gets += 1;
    let Some(task) = r.tasks.get_mut(&uuid) else {
        return refusal(StatusCode::NOT_FOUND, 5, "Задание не найдено");
    };
    let pending = |status: &str, n: usize| -> Vec<Value> {
        (0..n)
            .map(|_| json!({"status": status, "errorCode": 0, "errorDescription": "", "result": null}))
            .collect()
    };
    let held = task.results.is_none();
    let results = match &task.results {
        None => pending("wait", task.request.len()),
        Some(_) if task.polls_left > 0 => {
            task.polls_left -= 1;
            pending("inProgress", task.request.len())
        }
        Some(results) => results.clone(),
    };
    if held {
        r.held_polls += 1;
    }
    axum::Json(json!({ "results": results })).into_response()
}

fn ready(result: Value) -> Value {
    json!({"status": "ready", "errorCode": 0, "errorDescription": "Ошибок нет", "result": result})
}

fn error(code: u32, description: &str) -> Value {
    json!({"status": "error", "errorCode": code, "errorDescription": description, "result": null})
}

fn number(v: Option<&Value>) -> Option<Decimal> {
    v.and_then(|n| Decimal::from_str(&n.to_string()).ok())
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Run the tasks of one request in order; after a failed task the rest are `interrupted`.
fn execute(r: &mut Register, uuid: &str, tasks: &[Value]) -> Vec<Value> {
    let mut results = Vec::new();
    let mut failed = false;
    for task in tasks {
        if failed {
            results.push(json!({"status": "interrupted", "errorCode": 0, "errorDescription": "", "result": null}));
            continue;
        }
        let outcome = run(r, uuid, task);
        failed = outcome["status"] == "error";
        results.push(outcome);
    }
    results
}

fn shift_state(r: &Register) -> &'static str {
    match r.opened_at {
        None => "closed",
        Some(at) if r.now.duration_since(at) > SignedDuration::from_hours(24) => "expired",
        Some(_) => "opened",
    }
}

fn sign(r: &mut Register, uuid: &str, kind: &str, total: Option<Decimal>) -> Doc {
    let fd = r.last_fd() + 1;
    let receipt_number = kind.starts_with("sell").then(|| {
        r.receipts_in_shift += 1;
        r.receipts_in_shift
    });
    let doc = Doc {
        fd,
        fp: format!("{:010}", 1_000_000_007u64.wrapping_mul(fd) % 10_000_000_000),
        kind: kind.to_string(),
        total,
        shift: r.shift_number,
        receipt_number,
        uuid: uuid.to_string(),
    };
    r.journal.push(doc.clone());
    doc
}

fn fiscal_params(r: &Register, doc: &Doc) -> Value {
    let mut params = json!({
        "fiscalDocumentNumber": doc.fd,
        "fiscalDocumentSign": doc.fp,
        "fiscalDocumentDateTime": iso(r.now),
        "fnNumber": "9999078900000961",
        "registrationNumber": "0000000001002292",
        "shiftNumber": doc.shift,
        "fnsUrl": "www.nalog.gov.ru",
    });
    if let Some(n) = doc.receipt_number {
        params["fiscalReceiptNumber"] = json!(n);
    }
    if let Some(total) = doc.total {
        params["total"] = serde_json::from_str(&total.to_string()).unwrap();
    }
    json!({"fiscalParams": params, "warnings": null})
}

fn run(r: &mut Register, uuid: &str, task: &Value) -> Value {
    let kind = task.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "sell" | "sellReturn" => {
            match shift_state(r) {
                "closed" => return error(73, "Смена закрыта - операция невозможна"),
                "expired" => return error(68, "Смена превысила 24 часа"),
                _ => {}
            }
            if !r.paper {
                return error(44, "Нет бумаги");
            }
            let Some(total) = number(task.get("total")) else {
                return error(8, "Не найден обязательный параметр");
            };
            let doc = sign(r, uuid, kind, Some(total));
            ready(fiscal_params(r, &doc))
        }
        "cashIn" | "cashOut" => {
            if shift_state(r) != "opened" {
                return error(73, "Смена закрыта - операция невозможна");
            }
            let sum = number(task.get("cashSum")).unwrap_or_default();
            if kind == "cashOut" && sum > r.cash {
                return error(80, "В ККТ нет денег для выплаты");
            }
            r.cash = if kind == "cashIn" { r.cash + sum } else { r.cash - sum };
            ready(json!({"counters": {"cashSum": serde_json::from_str::<Value>(&r.cash.to_string()).unwrap()}}))
        }
        "openShift" => {
            if r.opened_at.is_some() {
                return error(83, "Смена открыта - операция невозможна");
            }
            r.shift_number += 1;
            r.opened_at = Some(r.now);
            r.receipts_in_shift = 0;
            let doc = sign(r, uuid, kind, None);
            ready(fiscal_params(r, &doc))
        }
        "closeShift" => {
            if r.opened_at.is_none() {
                return error(73, "Смена закрыта - операция невозможна");
            }
            if !r.paper {
                return error(44, "Нет бумаги");
            }
            let doc = sign(r, uuid, kind, None);
            r.opened_at = None;
            ready(fiscal_params(r, &doc))
        }
        "reportX" => {
            if !r.paper {
                return error(44, "Нет бумаги");
            }
            ready(json!({}))
        }
        "getShiftStatus" => {
            let expires = r.opened_at.map(|at| iso(at.checked_add(SignedDuration::from_hours(24)).unwrap()));
            ready(
                json!({"shiftStatus": {"state": shift_state(r), "number": r.shift_number, "expiredTime": expires, "documentsCount": r.receipts_in_shift}}),
            )
        }
        "getDeviceStatus" => ready(json!({"deviceStatus": {
            "currentDateTime": iso(r.now), "shift": shift_state(r), "blocked": false, "coverOpened": false,
            "paperPresent": r.paper, "fiscal": true, "fnFiscal": true, "fnPresent": true, "cashDrawerOpened": false}})),
        "getFnStatus" => ready(json!({"fnStatus": {
            "fiscalDocumentNumber": r.last_fd(),
            "fiscalReceiptNumber": r.receipts_in_shift,
            "warnings": {"memoryOverflow": false, "needReplacement": false, "ofdTimeout": false, "resourceExhausted": false, "criticalError": false}}})),
        "getFnInfo" => ready(json!({"fnInfo": {
            "serial": "9999078900000961", "version": "fn-2.0", "execution": "fn-2.0", "numberOfRegistrations": 1,
            "registrationsRemaining": 29, "validityDate": "2027-03-01T00:00:00+03:00", "ffdVersion": "1.2", "fnFfdVersion": "1.2",
            "livePhase": "fiscalMode",
            "warnings": {"memoryOverflow": false, "needReplacement": false, "ofdTimeout": false, "resourceExhausted": false, "criticalError": false}}})),
        "ofdExchangeStatus" => {
            let unsent = r.journal.len() as u64;
            ready(json!({"status": {
                "notSentCount": unsent,
                "notSentFirstDocNumber": r.journal.first().map(|d| d.fd).unwrap_or(0),
                "notSentFirstDocDateTime": iso(r.now),
                "lastSuccessKeysUpdate": iso(r.now)}}))
        }
        "getFnDocument" => {
            let n = task.get("fiscalDocumentNumber").and_then(Value::as_u64).unwrap_or(0);
            // Documents from before the test: earlier receipts of other sales.
            let earlier = (1..=r.first_fd).contains(&n).then(|| Doc {
                fd: n,
                fp: format!("{:010}", 3_000_000_000u64 + n),
                kind: "sell".into(),
                total: Some(Decimal::new(12_345 + n as i64, 2)),
                shift: r.shift_number,
                receipt_number: Some(1),
                uuid: String::new(),
            });
            let Some(doc) = r.journal.iter().find(|d| d.fd == n).cloned().or(earlier) else {
                return error(162, "Ошибка чтения документа из ФН");
            };
            let mut tlv = json!({"fiscalDocumentType": if doc.kind.starts_with("sell") { "receipt" } else { doc.kind.as_str() },
                "short": false, "1040": doc.fd, "1077": doc.fp, "1038": doc.shift});
            if let Some(total) = doc.total {
                let operation = if doc.kind == "sell" { 1 } else { 2 };
                tlv["qr"] = json!(format!(
                    "t={}&s={}&fn=9999078900000961&i={}&fp={}&n={}",
                    r.now.strftime("%Y%m%dT%H%M"),
                    total,
                    doc.fd,
                    doc.fp,
                    operation
                ));
                tlv["1042"] = json!(doc.receipt_number);
            }
            ready(json!({"documentTLV": tlv}))
        }
        "beginMarkingCodeValidation" => {
            r.marking = task.pointer("/params/imc").and_then(Value::as_str).map(str::to_string);
            ready(json!({"offlineValidation": {"fmCheck": true, "fmCheckResult": true, "fmCheckErrorReason": ""}}))
        }
        "getMarkingCodeValidationStatus" => match &r.marking {
            None => error(401, "Проверка КМ не начата"),
            Some(_) => ready(json!({"ready": true, "sentImcRequest": true, "onlineValidation": {
                "itemInfoCheckResult": {"imcCheckFlag": true, "imcCheckResult": true, "imcStatusInfo": true, "imcEstimatedStatusCorrect": true, "ecrStandAloneFlag": false},
                "markOperatorItemStatus": "itemEstimatedStatusCorrect", "markOperatorResponse": {"responseStatus": true, "itemStatusCheck": true},
                "markOperatorResponseResult": "correct", "imcType": "auto", "imcBarcode": "", "imcModeProcessing": 0}})),
        },
        "acceptMarkingCode" | "declineMarkingCode" | "cancelMarkingCodeValidation" => {
            r.marking = None;
            ready(json!({}))
        }
        _ => error(13, "Нeкорректное значение параметра"),
    }
}
