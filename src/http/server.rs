//! The HTTP server's own accept loop, with the limits axum's `serve` does not have.
//!
//! A till PC has one small file-descriptor budget for the API, the CRM link, the store and
//! the devices. Slow or idle clients must not be able to spend it: 300 clients that never
//! finish their headers, or one client holding a thousand idle keep-alive sockets, once made
//! both the API and the CRM link fail. So:
//!
//! - **Connections are counted.** At most [`ServeLimits::max_connections`] are open at once;
//!   the loop takes a slot *before* it accepts, so connection N+1 waits in the kernel's
//!   listen backlog (it costs storeterm no descriptor) and is accepted as soon as a slot frees.
//! - **Headers have a deadline.** hyper's header-read timer runs from the moment a connection
//!   is ready for a request: right after it is accepted, and again every time a response has
//!   been sent on a kept-alive connection. So [`ServeLimits::header_read`] is also the idle
//!   keep-alive timeout: a connection that is not sending a request is closed after it.
//! - **Bodies have a deadline and a size**: enforced where a handler reads one
//!   ([`super::BodyLimit`]); a body no handler reads is dropped with the connection.
//! - **Shutdown is graceful**: the loop stops accepting, every connection finishes the
//!   request in flight (event streams end on the same token) and closes.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The server's limits. [`ServeLimits::default`] is what `storeterm run` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a request's headers, counted from the accept or from the end of the
    /// previous response — the header-read timeout and the idle keep-alive timeout in one.
    pub header_read: Duration,
    /// Most connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl ServeLimits {
    /// 20 s is ages for a browser on a LAN to send a few hundred bytes of headers, and short
    /// enough that idle sockets are returned quickly; browsers reopen them without a sound.
    pub const HEADER_READ: Duration = Duration::from_secs(20);
    /// Every till screen, handheld and operator holds one event stream plus a request or two
    /// at a time: 40 handhelds, a dozen screens and the PBX webhooks fit many times over.
    /// `systemd/storeterm.service` sets `LimitNOFILE=` with room for this many and the rest.
    pub const MAX_CONNECTIONS: usize = 512;
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read: Self::HEADER_READ,
            max_connections: Self::MAX_CONNECTIONS,
        }
    }
}

/// What the accept loop is doing, for `/admin` and for tests that wait on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    /// Connections accepted and not yet closed.
    pub open: usize,
    /// Whether every slot is taken and the loop is waiting for one before it accepts more.
    pub waiting: bool,
}

/// An HTTP/1.1 server on a listener, with [`ServeLimits`].
pub struct Server {
    listener: TcpListener,
    limits: ServeLimits,
    connections: watch::Sender<Connections>,
}

/// hyper keeps at most this much of a request in memory while reading it; headers must fit.
/// hyper's default (about 400 KiB) times the connection limit would be 200 MiB on a till.
const READ_BUFFER: usize = 64 * 1024;

impl Server {
    pub fn new(listener: TcpListener, limits: ServeLimits) -> Server {
        Server {
            listener,
            limits,
            connections: watch::Sender::new(Connections::default()),
        }
    }

    /// Watch the connection count (changes as connections open and close).
    pub fn connections(&self) -> watch::Receiver<Connections> {
        self.connections.subscribe()
    }

    /// Serve `app` until `shutdown`, then let every open connection finish its request.
    pub async fn run(self, app: Router, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.limits.max_connections.max(1)));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read)
            .max_buf_size(READ_BUFFER);
        let builder = Arc::new(builder);
        let mut tasks = JoinSet::new();
        let mut warned: Option<tokio::time::Instant> = None;
        loop {
            if slots.available_permits() == 0 {
                self.connections.send_modify(|c| c.waiting = true);
                // Once a minute at most: under a flood every accept fills the last slot again.
                if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        limit = self.limits.max_connections,
                        "HTTP connection limit reached; new connections wait until one closes"
                    );
                }
            }
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_closed) => break,
                },
            };
            self.connections.send_modify(|c| c.waiting = false);
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors (EMFILE) or a connection reset before accept:
                        // wait a moment instead of spinning, and go on.
                        tracing::warn!(error = %e, "accept failed");
                        drop(slot);
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let (builder, app, shutdown, connections) = (builder.clone(), app.clone(), shutdown.clone(), self.connections.clone());
            connections.send_modify(|c| c.open += 1);
            tasks.spawn(async move {
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
                tokio::pin!(conn);
                let result = tokio::select! {
                    result = conn.as_mut() => result,
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        conn.as_mut().await
                    }
                };
                if let Err(e) = result {
                    // Timeouts and clients that vanish are routine; worth a debug line only.
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                connections.send_modify(|c| c.open -= 1);
                drop(slot);
            });
        }
        // Stop taking new connections at once; the open ones finish what they are doing.
        drop(self.listener);
        while tasks.join_next().await.is_some() {}
    }
}
