//! A raw-TCP receipt printer on loopback: it keeps every byte of every connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

#[derive(Clone)]
pub struct TestPrinter {
    pub addr: SocketAddr,
    jobs: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl TestPrinter {
    pub async fn start() -> TestPrinter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let jobs = Arc::new(Mutex::new(Vec::new()));
        let kept = jobs.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let _ = socket.read_to_end(&mut bytes).await;
                    kept.lock().unwrap().push(bytes);
                });
            }
        });
        TestPrinter { addr, jobs }
    }

    /// Every connection's bytes, one entry per job.
    pub fn jobs(&self) -> Vec<Vec<u8>> {
        self.jobs.lock().unwrap().clone()
    }
}
