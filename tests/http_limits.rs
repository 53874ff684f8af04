//! The HTTP server's limits, proven with real sockets: a client that never finishes its
//! headers, an unfinished body, an idle keep-alive connection, one connection too many, an
//! oversized body, and the API's error shape on every 404, 405 and rejection.
//!
//! The timeouts are set short here (hundreds of milliseconds) so the cut-offs come quickly;
//! each test waits for an *event* (the server closing, a slot freeing), and the only real-time
//! bounds are generous guards that turn a hang into a failure.

mod common;

use axum::Router;
use axum::routing::{get, post};
use common::{ADMIN, CASHIER, config_text, parse_config};
use serde_json::{Value, json};
use std::time::Duration;
use storeterm::http::{ApiJson, BodyLimit, ServeLimits, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Turns a hang into a failure; never reached when the server does its job.
const GUARD: Duration = Duration::from_secs(20);

/// A small API for the connection-level tests: `/hello`, and `/echo`, whose body limit is
/// the route's own (64 bytes, 300 ms) instead of the router's default.
fn api() -> Router {
    Router::new()
        .route("/hello", get(|| async { axum::Json(json!({"hello": "мир"})) }))
        .route(
            "/echo",
            post(|ApiJson(v): ApiJson<Value>| async move { axum::Json(v) }).layer(
                BodyLimit {
                    bytes: 64,
                    time: Duration::from_millis(300),
                }
                .layer(),
            ),
        )
        .layer(BodyLimit::API.layer())
}

struct TestServer {
    addr: std::net::SocketAddr,
    server: Option<Server>,
    shutdown: CancellationToken,
}

impl TestServer {
    async fn start(limits: ServeLimits) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer {
            addr: listener.local_addr().unwrap(),
            server: Some(Server::new(listener, limits)),
            shutdown: CancellationToken::new(),
        }
    }

    fn connections(&self) -> tokio::sync::watch::Receiver<storeterm::http::Connections> {
        self.server.as_ref().expect("not running yet").connections()
    }

    fn run(&mut self, app: Router) -> tokio::task::JoinHandle<()> {
        let server = self.server.take().expect("runs once");
        tokio::spawn(server.run(app, self.shutdown.clone()))
    }
}

fn limits(header_read: Duration, max_connections: usize) -> ServeLimits {
    ServeLimits {
        header_read,
        max_connections,
    }
}

/// Read until the server closes the connection; what it sent before closing.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read one response with a `Content-Length` body: (status, headers in lower case, body).
async fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let status = head[9..12].parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + length {
                return (status, head, got[end + 4..end + 4 + length].to_vec());
            }
        }
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("a response within the guard")
            .expect("readable");
        assert!(n > 0, "closed before a whole response: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

async fn get_hello(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    stream.write_all(b"GET /hello HTTP/1.1\r\nHost: till\r\n\r\n").await.unwrap();
    read_response(stream).await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let mut server = TestServer::start(limits(Duration::from_millis(300), 16)).await;
    server.run(api());
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: till\r\nX-Slow: ").await.unwrap();
    // Cut off: the connection ends without an answer to the unfinished request.
    let sent = read_until_closed(&mut slow).await;
    assert!(!sent.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&sent));
    // A client that sends its request at once is served as usual.
    let mut quick = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(get_hello(&mut quick).await.0, 200);
}

#[tokio::test]
async fn an_unfinished_body_is_cut_off_with_408() {
    let mut server = TestServer::start(limits(Duration::from_secs(60), 16)).await;
    server.run(api());
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"a\":")
        .await
        .unwrap();
    let (status, head, body) = read_response(&mut slow).await;
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    read_until_closed(&mut slow).await;
    // The same route takes a body that arrives in time.
    let mut quick = TcpStream::connect(server.addr).await.unwrap();
    quick
        .write_all(b"POST /echo HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        .await
        .unwrap();
    let (status, _, body) = read_response(&mut quick).await;
    assert_eq!((status, body.as_slice()), (200, br#"{"a":1}"#.as_slice()));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let mut server = TestServer::start(limits(Duration::from_millis(300), 16)).await;
    let mut connections = server.connections();
    server.run(api());
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let (status, head, _) = get_hello(&mut idle).await;
    assert_eq!(status, 200);
    assert!(!head.contains("connection: close"), "kept alive after the answer: {head}");
    // Nothing more is sent: the server closes the connection and frees its slot.
    assert_eq!(read_until_closed(&mut idle).await, b"");
    tokio::time::timeout(GUARD, connections.wait_for(|c| c.open == 0))
        .await
        .expect("the slot is freed")
        .unwrap();
}

#[tokio::test]
async fn connection_n_plus_one_waits_for_a_free_slot_and_the_api_answers_then() {
    let mut server = TestServer::start(limits(Duration::from_secs(60), 3)).await;
    let mut connections = server.connections();
    server.run(api());
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(get_hello(&mut c).await.0, 200);
        held.push(c);
    }
    // Every slot is taken and the server says it waits for one before accepting more.
    tokio::time::timeout(GUARD, connections.wait_for(|c| c.open == 3 && c.waiting))
        .await
        .expect("the server reports it is full")
        .unwrap();
    // The kernel takes the fourth connection into the listen backlog; storeterm has not
    // accepted it, so its request stays unread and unanswered.
    let mut fourth = TcpStream::connect(server.addr).await.unwrap();
    fourth.write_all(b"GET /hello HTTP/1.1\r\nHost: till\r\n\r\n").await.unwrap();
    let mut probe = [0u8; 1];
    assert!(
        matches!(fourth.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing can be answered on a connection that was not accepted"
    );
    assert_eq!(connections.borrow().open, 3);
    // One client leaves: the fourth is accepted and answered.
    drop(held.remove(0));
    let (status, _, body) = read_response(&mut fourth).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["hello"], "мир");
    assert!(connections.borrow().open <= 3);
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_then_stops() {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = std::sync::Arc::new(std::sync::Mutex::new(Some(released)));
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let started_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let app = Router::new().route(
        "/slow",
        get(move || {
            let rx = released.lock().unwrap().take();
            if let Some(tx) = started_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            async move {
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                "done"
            }
        }),
    );
    let mut server = TestServer::start(ServeLimits::default()).await;
    let addr = server.addr;
    let running = server.run(app);
    let client = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /slow HTTP/1.1\r\nHost: till\r\n\r\n").await.unwrap();
        read_response(&mut c).await
    });
    tokio::time::timeout(GUARD, started).await.expect("the request arrived").unwrap();
    server.shutdown.cancel();
    // Not accepting any more: the listener is closed.
    tokio::time::timeout(GUARD, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener closes on shutdown");
    release.send(()).unwrap();
    let (status, _, body) = tokio::time::timeout(GUARD, client).await.expect("answered").unwrap();
    assert_eq!((status, body.as_slice()), (200, b"done".as_slice()));
    tokio::time::timeout(GUARD, running).await.expect("the server stops").unwrap();
}

/// storeterm itself, with the router and limits `storeterm run` uses.
async fn storeterm() -> (storeterm::daemon::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", "");
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    (running, dir)
}

async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("storeterm answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, headers, body)
}

/// Send `request` in one write on a new connection and read the answer.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let (status, head, body) = read_response(&mut stream).await;
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {:?}", String::from_utf8_lossy(&body)));
    (status, head, body)
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_api_shape() {
    let (running, _dir) = storeterm().await;
    // A body announced larger than the API's 1 MiB is refused before a byte of it is sent
    // (the client here sends none: it waits for the answer, as with `Expect: 100-continue`).
    let announced = format!(
        "POST /api/v1/lanes/1/scan HTTP/1.1\r\nHost: till\r\nAuthorization: Bearer {CASHIER}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    let (status, head, body) = exchange(running.addr, announced.as_bytes()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    // The webhooks have a smaller limit of their own (64 KiB).
    let webhook = format!(
        "POST /api/v1/telephony/webhook/zadarma HTTP/1.1\r\nHost: till\r\nContent-Length: {}\r\n\r\n",
        100 * 1024
    );
    let (status, _, body) = exchange(running.addr, webhook.as_bytes()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    // Within the limit, the same call is read and answered by the lane.
    let scan = r#"{"code": "4601234567893"}"#;
    let fits = format!(
        "POST /api/v1/lanes/1/scan HTTP/1.1\r\nHost: till\r\nAuthorization: Bearer {CASHIER}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{scan}",
        scan.len()
    );
    let (status, _, body) = exchange(running.addr, fits.as_bytes()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_item")), "{body}");
    running.stop().await;
}

#[tokio::test]
async fn a_streamed_body_over_the_routes_limit_gets_413() {
    let mut server = TestServer::start(limits(Duration::from_secs(60), 16)).await;
    server.run(api());
    // Chunked, so no length is announced: refused once past `/echo`'s own 64 bytes.
    let body = format!("{{\"a\": \"{}\"}}", "x".repeat(200));
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        40,
        &body[..40],
        body.len() - 40,
        &body[40..]
    );
    let (status, _, answer) = exchange(server.addr, request.as_bytes()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{answer}"
    );
    assert!(answer["error"]["message"].as_str().unwrap().contains("64 байт"), "{answer}");
    // The router's default (1 MiB) would have taken it: the route's own limit replaced it.
    let fits = r#"{"a": 1}"#;
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{fits}",
        fits.len()
    );
    assert_eq!(exchange(server.addr, request.as_bytes()).await.0, 200);
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_bad_parameters_answer_in_the_api_shape() {
    let (running, _dir) = storeterm().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let (status, _, body) = send(http.get(format!("{base}/no/such/page"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, headers, body) = send(http.delete(format!("{base}/api/v1/whoami")).bearer_auth(ADMIN)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    assert!(headers["allow"].to_str().unwrap().contains("GET"), "{headers:?}");
    let (status, _, body) = send(http.put(format!("{base}/api/v1/lanes/1/scan")).bearer_auth(CASHIER)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    // axum's own rejections (a line number that is not a number) come in the same shape.
    let (status, _, body) = send(
        http.delete(format!("{base}/api/v1/lanes/1/receipt/lines/%E2%80%AEabc"))
            .bearer_auth(CASHIER),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    // An unknown lane named with a right-to-left override is echoed escaped.
    let (status, _, body) = send(
        http.get(format!("{base}/api/v1/lanes/%E2%80%AE1-enal/receipt"))
            .bearer_auth(CASHIER),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("\\u{202e}1-enal") && !message.contains('\u{202e}'), "{message}");
    // So is outside text that a parser quotes in its own message (an unknown field here).
    let (status, _, body) = send(
        http.post(format!("{base}/api/v1/lanes/1/scan"))
            .bearer_auth(CASHIER)
            .json(&json!({"code": "4601234567893", "\u{202e}\u{1b}[2Jevil": 1})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("\\u{202e}\\u{1b}[2Jevil"), "{message}");
    assert!(!message.chars().any(|c| c.is_control() || c == '\u{202e}'), "{message:?}");
    running.stop().await;
}
