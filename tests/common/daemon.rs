//! The real `storeterm` binary as a child process, for tests that kill it with `kill -9`.

use super::{ADMIN, Api, CASHIER, GUARD};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Daemon {
    child: Child,
    pub api: Api,
    pub admin: Api,
    /// What `/healthz` said once the daemon was up.
    pub health: Value,
}

/// Start `storeterm run --config …` and wait for the systemd readiness notification it sends
/// once the store is open and the API listens (`READY=1` on `$NOTIFY_SOCKET`, as under
/// `Type=notify`); then read `/healthz` once.
pub async fn start(config: &Path, port: u16) -> Daemon {
    let sockets = tempfile::tempdir().unwrap();
    let notify_path = sockets.path().join("notify");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("storeterm binary starts");
    let mut message = [0u8; 512];
    loop {
        let n = tokio::time::timeout(GUARD, notify.recv(&mut message))
            .await
            .expect("storeterm reports READY=1")
            .unwrap();
        if String::from_utf8_lossy(&message[..n]).lines().any(|l| l == "READY=1") {
            break;
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::new(&base, CASHIER);
    let admin = Api::new(&base, ADMIN);
    let (_, health) = api.get("/healthz").await;
    Daemon { child, api, admin, health }
}

impl Daemon {
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaped");
    }
}

/// A POST that may find the daemon dead: `Err` when no answer came.
pub async fn try_post(api: &Api, path: &str, body: Value) -> Result<(u16, Value), ()> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", api.base))
        .bearer_auth(&api.token)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|_| ())?;
    let status = response.status().as_u16();
    let body = response.json().await.map_err(|_| ())?;
    Ok((status, body))
}
