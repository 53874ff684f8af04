//! Test fixtures that run real peers on loopback: a CRM speaking the storeterm protocol, a
//! raw-TCP receipt printer, a pseudo-terminal scanner, and storeterm itself.
#![allow(dead_code)]

pub mod ami;
pub mod atol;
pub mod browser;
pub mod crm;
pub mod daemon;
pub mod escpos_reader;
pub mod office;
pub mod printer;
pub mod wms;

use serde_json::Value;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use storeterm::config::Config;

pub const CASHIER: &str = "cashier-token-1";
pub const ADMIN: &str = "admin-token-1";
pub const STOREKEEPER: &str = "storekeeper-token-1";

/// Turns a wait that would hang into a failure; never reached when storeterm does its job.
pub const GUARD: Duration = Duration::from_secs(20);

/// Poll `check` — state storeterm shows through its API — until it returns `Some`, or fail
/// after `timeout` with `what`. Nothing is asserted after a fixed wait: `timeout` is only a
/// guard that turns a hang into a failure. Where something signals the change itself (a
/// device's state: [`wait_device`]; a fixture's traffic: its `wait_until`), wait on that.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
    }
}

/// Wait for `changed` to signal, re-checking `check` after each signal; `what` names the wait
/// in the failure after `guard`. For fixtures that bump a watch on every change they see.
pub async fn wait_changes<T>(
    what: &str,
    guard: Duration,
    changed: &tokio::sync::watch::Sender<u64>,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let mut rx = changed.subscribe();
    let deadline = tokio::time::Instant::now() + guard;
    loop {
        rx.borrow_and_update();
        if let Some(value) = check() {
            return value;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => panic!("timed out waiting for: {what}"),
        }
    }
}

/// The config text shared by the tests: tokens for every role and a lane; `extra` adds
/// devices, `[crm]` and so on.
pub fn config_text(http: &str, store: &Path, lane: &str, extra: &str) -> String {
    format!(
        r#"
[http]
listen = "{http}"
[store]
path = "{store}"
[shop]
name = "Магазин у дома"
address = "ул. Ленина, 1"
timezone = "UTC"
[[tokens]]
token = "{CASHIER}"
role = "cashier"
name = "Анна"
[[tokens]]
token = "{ADMIN}"
role = "admin"
name = "Админ"
[[tokens]]
token = "{STOREKEEPER}"
role = "storekeeper"
name = "Пётр"
{lane}
{extra}
"#,
        store = store.display()
    )
}

pub fn parse_config(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml"), Path::new("/")).expect("test config")
}

/// A small HTTP client for storeterm's API with one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>, token: &str) -> Api {
        Api {
            base: base.into(),
            token: token.to_string(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("storeterm answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn scan(&self, lane: &str, code: &str) -> (u16, Value) {
        self.post(&format!("/api/v1/lanes/{lane}/scan"), serde_json::json!({ "code": code }))
            .await
    }

    pub async fn receipt(&self, lane: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/lanes/{lane}/receipt")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn pay(&self, lane: &str, method: &str, amount: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/lanes/{lane}/payments"),
            serde_json::json!({ "method": method, "amount": amount }),
        )
        .await
    }

    /// Open a server-sent event stream and return a reader for it.
    pub async fn events(&self, path: &str) -> EventReader {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("event stream");
        assert_eq!(response.status(), 200);
        EventReader {
            response,
            buffer: String::new(),
        }
    }
}

/// Reads `event:`/`data:` blocks from an SSE response.
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

impl EventReader {
    /// The next event as (name, JSON data).
    pub async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).expect("event data is JSON"));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("event stream readable")
                .expect("event stream still open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skip events until one named `name`.
    pub async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let (n, data) = self.next().await;
            if n == name {
                return data;
            }
        }
    }
}

/// Wait until storeterm's device registry shows `device` in `state` (it signals every change).
pub async fn wait_device(running: &storeterm::daemon::Running, device: &str, state: storeterm::devices::DeviceState) {
    tokio::time::timeout(GUARD, running.devices().wait_for(device, state))
        .await
        .unwrap_or_else(|_| panic!("device {device} never became {state:?}"));
}

/// Encode text the way a CP866 printer expects it, written independently of storeterm's own
/// tables: Cyrillic letters are contiguous ranges in CP866.
pub fn cp866(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() => c as u8,
            'А'..='п' => 0x80 + (c as u32 - 'А' as u32) as u8,
            'р'..='я' => 0xE0 + (c as u32 - 'р' as u32) as u8,
            'Ё' => 0xF0,
            'ё' => 0xF1,
            '№' => 0xFC,
            other => panic!("no CP866 byte for {other:?} in the test table"),
        })
        .collect()
}
