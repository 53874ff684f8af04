//! Receipt printers on real transports for the tests: a raw-TCP printer on loopback and a
//! serial printer behind a pseudo-terminal. Like a real ESC/POS printer they answer the
//! real-time status requests (`DLE EOT n`) at once, from their current condition, and keep
//! everything else as the job — one job per connection (TCP) or per `ESC @` … cut (serial).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storeterm::devices::pty::Pty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the printer would say about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Ready,
    /// Roll empty: offline, "printing stopped by paper end", both paper sensors set.
    PaperOut,
}

impl Condition {
    /// The four-byte automatic status back block.
    fn asb(self) -> [u8; 4] {
        match self {
            Condition::Ready => [0x10, 0x00, 0x00, 0x00],
            Condition::PaperOut => [0x18, 0x00, 0x0C, 0x00],
        }
    }

    /// The one-byte reply to `DLE EOT n` (Epson ESC/POS reference, fixed bits 0x12).
    fn reply(self, n: u8) -> u8 {
        match (self, n) {
            (Condition::Ready, _) => 0x12,
            (Condition::PaperOut, 1) => 0x1A,
            (Condition::PaperOut, 2) => 0x32,
            (Condition::PaperOut, 4) => 0x7E,
            (Condition::PaperOut, _) => 0x12,
        }
    }
}

/// Splits the byte stream into status requests (answered) and job bytes (kept), also when a
/// request arrives split over two reads.
#[derive(Default)]
struct Intake {
    carry: Vec<u8>,
    /// The last job byte, to see a cut (`GS V`) split over two reads.
    last: Option<u8>,
}

/// What one read brought: job bytes, replies to send, status requests seen, and for each cut
/// among the job bytes how many of those requests came before it.
struct Taken {
    job: Vec<u8>,
    replies: Vec<u8>,
    asked: usize,
    cuts: Vec<usize>,
}

impl Intake {
    fn take(&mut self, bytes: &[u8], condition: Condition) -> Taken {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let (mut job, mut replies, mut asked, mut cuts) = (Vec::new(), Vec::new(), 0, Vec::new());
        let mut i = 0;
        while i < data.len() {
            // DLE EOT n (real-time status), GS a n (automatic status back), GS I n (printer
            // information): answered, not printed.
            let heads: [[u8; 2]; 3] = [[0x10, 0x04], [0x1D, b'a'], [0x1D, b'I']];
            let rest = &data[i..];
            if rest.len() < 3 && heads.iter().any(|h| rest.iter().zip(h).all(|(a, b)| a == b)) {
                self.carry = rest.to_vec();
                break;
            }
            if rest.len() >= 3 {
                let (cmd, n) = ([data[i], data[i + 1]], data[i + 2]);
                if cmd == heads[0] && (1..=4).contains(&n) {
                    replies.push(condition.reply(n));
                    asked += 1;
                    i += 3;
                    continue;
                }
                if cmd == heads[1] {
                    replies.extend_from_slice(&condition.asb());
                    i += 3;
                    continue;
                }
                if cmd == heads[2] {
                    if n == 65 {
                        replies.extend_from_slice(b"_1.02 TEST\0");
                    }
                    i += 3;
                    continue;
                }
            }
            if self.last == Some(0x1D) && data[i] == 0x56 {
                cuts.push(asked);
            }
            self.last = Some(data[i]);
            job.push(data[i]);
            i += 1;
        }
        Taken { job, replies, asked, cuts }
    }
}

struct Shared {
    condition: Mutex<Option<Condition>>,
    jobs: Mutex<Vec<Vec<u8>>>,
    status_requests: Mutex<usize>,
    /// Connections (TCP) that ended, their job recorded.
    closed: Mutex<usize>,
    /// Connections (TCP) accepted so far.
    accepted: Mutex<usize>,
    /// The accept number (from 1) of each connection that carried job bytes.
    job_connections: Mutex<Vec<usize>>,
    /// For each cut (serial), how many status requests had come before it.
    cut_after_requests: Mutex<Vec<usize>>,
    /// Drop the connection after this many job bytes of the next job (then clear it).
    drop_after: Mutex<Option<usize>>,
    /// Bumped after every change above, so tests wait for the printer instead of polling it.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            condition: Mutex::default(),
            jobs: Mutex::default(),
            status_requests: Mutex::default(),
            closed: Mutex::default(),
            accepted: Mutex::default(),
            job_connections: Mutex::default(),
            cut_after_requests: Mutex::default(),
            drop_after: Mutex::default(),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Shared {
    fn condition(&self) -> Condition {
        self.condition.lock().unwrap().unwrap_or(Condition::Ready)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A raw-TCP receipt printer on loopback.
#[derive(Clone)]
pub struct TestPrinter {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestPrinter {
    pub async fn start() -> TestPrinter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let kept = shared.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let shared = kept.clone();
                let number = {
                    let mut accepted = shared.accepted.lock().unwrap();
                    *accepted += 1;
                    *accepted
                };
                shared.bump();
                tokio::spawn(async move {
                    let mut intake = Intake::default();
                    let mut job = Vec::new();
                    let mut buf = [0u8; 4096];
                    let drop_after = *shared.drop_after.lock().unwrap();
                    loop {
                        let n = match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let Taken {
                            job: bytes,
                            replies,
                            asked,
                            ..
                        } = intake.take(&buf[..n], shared.condition());
                        *shared.status_requests.lock().unwrap() += asked;
                        if job.is_empty() && !bytes.is_empty() {
                            shared.job_connections.lock().unwrap().push(number);
                        }
                        job.extend_from_slice(&bytes);
                        shared.bump();
                        if let Some(limit) = drop_after
                            && job.len() >= limit
                        {
                            job.truncate(limit);
                            shared.drop_after.lock().unwrap().take();
                            // Closed with unread data: the kernel answers with a reset, like a
                            // printer whose network card rebooted mid-job.
                            break;
                        }
                        if !replies.is_empty() && socket.write_all(&replies).await.is_err() {
                            break;
                        }
                    }
                    if !job.is_empty() {
                        shared.jobs.lock().unwrap().push(job);
                    }
                    *shared.closed.lock().unwrap() += 1;
                    shared.bump();
                });
            }
        });
        TestPrinter { addr, shared }
    }

    /// Every connection's job bytes (status requests taken out), one entry per job.
    pub fn jobs(&self) -> Vec<Vec<u8>> {
        self.shared.jobs.lock().unwrap().clone()
    }

    pub fn set_condition(&self, condition: Condition) {
        *self.shared.condition.lock().unwrap() = Some(condition);
    }

    /// The next job's connection is cut after `bytes` bytes of it.
    pub fn drop_next_job_after(&self, bytes: usize) {
        *self.shared.drop_after.lock().unwrap() = Some(bytes);
    }

    pub fn status_requests(&self) -> usize {
        *self.shared.status_requests.lock().unwrap()
    }

    /// Connections that have ended (their job, if any, is in [`TestPrinter::jobs`]).
    pub fn closed_connections(&self) -> usize {
        *self.shared.closed.lock().unwrap()
    }

    /// Connections accepted so far.
    pub fn accepted_connections(&self) -> usize {
        *self.shared.accepted.lock().unwrap()
    }

    /// The accept number (from 1) of each connection that carried job bytes, in order.
    pub fn job_connections(&self) -> Vec<usize> {
        self.shared.job_connections.lock().unwrap().clone()
    }

    /// Wait until `check` holds, re-checking whenever the printer receives or closes anything.
    pub async fn wait_until<T>(&self, what: &str, check: impl FnMut(&TestPrinter) -> Option<T>) -> T {
        self.wait_until_within(what, super::GUARD, check).await
    }

    /// [`TestPrinter::wait_until`] with a guard of its own, for waits that take a while.
    pub async fn wait_until_within<T>(&self, what: &str, guard: Duration, mut check: impl FnMut(&TestPrinter) -> Option<T>) -> T {
        super::wait_changes(what, guard, &self.shared.changed, || check(self)).await
    }
}

/// A serial receipt printer behind a real pseudo-terminal: storeterm opens `path` as its
/// serial port. Everything it receives besides status requests is kept as one stream of
/// paper; [`PtyPrinter::receipts`] splits it at the cuts.
pub struct PtyPrinter {
    pub path: std::path::PathBuf,
    shared: Arc<Shared>,
    paper: Arc<Mutex<Vec<u8>>>,
}

impl PtyPrinter {
    pub fn start() -> PtyPrinter {
        let pty = Pty::open().unwrap();
        let path = pty.slave_path.clone();
        let shared = Arc::new(Shared::default());
        let paper = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (shared.clone(), paper.clone());
        tokio::spawn(async move {
            // The slave end stays open in `pty`, so reads never fail while storeterm has the
            // port closed between jobs.
            let mut pty = pty;
            let mut intake = Intake::default();
            let mut buf = [0u8; 4096];
            loop {
                let n = match pty.master.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let Taken {
                    job: bytes,
                    replies,
                    asked,
                    cuts,
                } = intake.take(&buf[..n], s.condition());
                let before = {
                    let mut requests = s.status_requests.lock().unwrap();
                    let before = *requests;
                    *requests += asked;
                    before
                };
                s.cut_after_requests.lock().unwrap().extend(cuts.iter().map(|c| before + c));
                p.lock().unwrap().extend_from_slice(&bytes);
                if !replies.is_empty() {
                    let _ = pty.master.write_all(&replies).await;
                }
                s.bump();
            }
        });
        PtyPrinter { path, shared, paper }
    }

    pub fn set_condition(&self, condition: Condition) {
        *self.shared.condition.lock().unwrap() = Some(condition);
    }

    pub fn status_requests(&self) -> usize {
        *self.shared.status_requests.lock().unwrap()
    }

    /// Everything printed so far.
    pub fn paper(&self) -> Vec<u8> {
        self.paper.lock().unwrap().clone()
    }

    /// How many receipts came out: each ends in a cut (`GS V`).
    pub fn cuts(&self) -> usize {
        self.paper().windows(2).filter(|w| w == &[0x1D, 0x56]).count()
    }

    /// For each cut so far, how many status requests the printer had answered before it.
    pub fn requests_before_cuts(&self) -> Vec<usize> {
        self.shared.cut_after_requests.lock().unwrap().clone()
    }

    /// Wait until `check` holds, re-checking whenever the printer receives anything.
    pub async fn wait_until<T>(&self, what: &str, check: impl FnMut(&PtyPrinter) -> Option<T>) -> T {
        self.wait_until_within(what, super::GUARD, check).await
    }

    /// [`PtyPrinter::wait_until`] with a guard of its own, for waits that take a while.
    pub async fn wait_until_within<T>(&self, what: &str, guard: Duration, mut check: impl FnMut(&PtyPrinter) -> Option<T>) -> T {
        super::wait_changes(what, guard, &self.shared.changed, || check(self)).await
    }
}
