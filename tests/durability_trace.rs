//! The power-loss class, shown from the daemon's own system calls: for every kind of request
//! that must survive a power cut, the store's redo log (`storeterm.redo`) — or, at a
//! checkpoint, the database file itself (`storeterm.redb`) — is `fdatasync`ed after the
//! request was read and before the response is written. Open-receipt edits (a second scan) are written to the
//! lane journal before their response instead — the kill -9 class.
//!
//! The real binary runs under `strace -f` (Debian package `strace`; CI installs it). Every
//! request goes on its own connection, so the trace tells requests apart by their socket.

#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The demo under strace, and what it printed.
struct Traced {
    strace: Child,
    addr: SocketAddr,
    tokens: HashMap<String, String>,
    trace: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Traced {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let mut strace = Command::new("strace")
        .args(["-f", "-tt", "-yy", "-s", "64", "-e"])
        .arg("trace=read,recvfrom,write,writev,sendto,fdatasync,fsync")
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_storeterm"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("store"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace is installed (Debian package strace)");
    let stdout = BufReader::new(strace.stdout.take().unwrap());
    let mut addr = None;
    let mut tokens = HashMap::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(url) = line.split("running at http://").nth(1) {
            addr = Some(url.trim().parse().unwrap());
        }
        if let Some(list) = line.trim().strip_prefix("tokens:") {
            let words: Vec<&str> = list.split_whitespace().collect();
            for pair in words.chunks(2) {
                tokens.insert(pair[0].to_string(), pair[1].to_string());
            }
        }
        if line.contains("Press Ctrl+C") {
            break;
        }
    }
    Traced {
        strace,
        addr: addr.expect("the demo printed its address"),
        tokens,
        trace,
        _dir: dir,
    }
}

impl Traced {
    /// One request on its own connection; returns the client's port and the status line.
    fn request(&self, method: &str, path: &str, role: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let port = stream.local_addr().unwrap().port();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.tokens[role],
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.lines().next().unwrap_or_default().to_string();
        (port, status)
    }

    /// Stop the daemon (SIGTERM reaches it through strace's process group) and read the trace.
    fn finish(mut self) -> Vec<String> {
        let _ = Command::new("pkill")
            .arg("-TERM")
            .arg("-P")
            .arg(self.strace.id().to_string())
            .status();
        let _ = self.strace.wait();
        std::fs::read_to_string(&self.trace).unwrap().lines().map(str::to_string).collect()
    }
}

/// What happened on one connection, by trace line number.
struct Exchange {
    request_read: usize,
    response_written: usize,
}

fn exchange(trace: &[String], port: u16) -> Exchange {
    let socket = format!("->127.0.0.1:{port}]");
    let on_socket = |l: &&String| l.contains(&socket);
    let request_read = trace
        .iter()
        .position(|l| on_socket(&l) && (l.contains("recvfrom(") || l.contains("read(")))
        .unwrap_or_else(|| panic!("no read of the request from port {port}"));
    let response_written = trace
        .iter()
        .position(|l| on_socket(&l) && l.contains("HTTP/1.1 "))
        .unwrap_or_else(|| panic!("no response to port {port}"));
    Exchange {
        request_read,
        response_written,
    }
}

/// Lines where an fdatasync/fsync of the redo log or the database file completed successfully.
fn store_syncs(trace: &[String]) -> Vec<usize> {
    let mut unfinished: HashMap<String, bool> = HashMap::new();
    let mut done = Vec::new();
    for (n, line) in trace.iter().enumerate() {
        let pid = line.split_whitespace().next().unwrap_or_default().to_string();
        let sync_call = line.contains("fdatasync(") || line.contains("fsync(");
        if sync_call && (line.contains("storeterm.redo") || line.contains("storeterm.redb")) {
            if line.contains("<unfinished ...>") {
                unfinished.insert(pid, true);
            } else if line.trim_end().ends_with("= 0") {
                done.push(n);
            }
        } else if line.contains("sync resumed>") && unfinished.remove(&pid).is_some() && line.trim_end().ends_with("= 0") {
            done.push(n);
        }
    }
    done
}

fn journal_writes(trace: &[String]) -> Vec<usize> {
    trace
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("write(") && l.contains("/journal/lane-"))
        .map(|(n, _)| n)
        .collect()
}

fn between(points: &[usize], e: &Exchange) -> bool {
    points.iter().any(|&n| n > e.request_read && n < e.response_written)
}

#[test]
#[ignore = "needs strace (Debian package strace)"]
fn every_power_loss_kind_is_fdatasynced_before_its_answer() {
    let daemon = start();
    let mut durable = Vec::new();
    let mut journaled = Vec::new();
    let ok = |(port, status): (u16, String), what: &str| {
        assert!(status.starts_with("HTTP/1.1 2"), "{what}: {status}");
        (port, what.to_string())
    };
    // The first scan of the day opens the shift: a shift_open document.
    durable.push(ok(
        daemon.request("POST", "/api/v1/lanes/1/scan", "cashier", r#"{"code":"4601234567893"}"#),
        "scan that opens the shift",
    ));
    journaled.push(ok(
        daemon.request("POST", "/api/v1/lanes/1/scan", "cashier", r#"{"code":"4601234567893"}"#),
        "a second scan",
    ));
    durable.push(ok(
        daemon.request(
            "POST",
            "/api/v1/lanes/1/payments",
            "cashier",
            r#"{"method":"card","amount":"10.00"}"#,
        ),
        "a partial card payment",
    ));
    durable.push(ok(
        daemon.request(
            "POST",
            "/api/v1/lanes/1/payments",
            "cashier",
            r#"{"method":"cash","amount":"500.00"}"#,
        ),
        "the payment that closes the sale",
    ));
    durable.push(ok(
        daemon.request("POST", "/api/v1/lanes/1/shift/close", "cashier", "{}"),
        "shift close",
    ));
    durable.push(ok(
        daemon.request(
            "POST",
            "/api/v1/wms/receipts",
            "storekeeper",
            r#"{"id":"trace-op-1","lines":[{"code":"4601234567893","qty":"3"}]}"#,
        ),
        "a warehouse receipt",
    ));
    durable.push(ok(
        daemon.request(
            "POST",
            "/api/v1/operator/leads",
            "operator",
            r#"{"phone":"+7 916 555-44-33","name":"Новый клиент","comment":"из теста"}"#,
        ),
        "a lead",
    ));
    let trace = daemon.finish();
    let syncs = store_syncs(&trace);
    let journal = journal_writes(&trace);
    assert!(!syncs.is_empty(), "the trace shows no fdatasync of the store at all");
    assert!(
        trace.iter().any(|l| l.contains("fdatasync(") && l.contains("storeterm.redo")),
        "power-loss writes must go through the redo log"
    );
    for (port, what) in &durable {
        let e = exchange(&trace, *port);
        assert!(
            between(&syncs, &e),
            "{what}: no fdatasync of the store between reading the request (line {}) and answering (line {}):\n{}",
            e.request_read + 1,
            e.response_written + 1,
            trace[e.request_read..=e.response_written].join("\n")
        );
    }
    for (port, what) in &journaled {
        let e = exchange(&trace, *port);
        assert!(
            between(&journal, &e),
            "{what}: the open receipt was not written to the lane journal before the answer"
        );
    }
}
