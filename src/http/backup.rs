//! `GET /api/v1/admin/backup` (role admin): a consistent snapshot of the running store, streamed.
//!
//! This is how `storeterm backup` reaches a running daemon: redb lets one process open the
//! file, and the daemon holds it, so the command asks the daemon over its loopback API with
//! an admin token from the same config. The snapshot is one read transaction on a blocking
//! thread; chunks go out as they are compressed, so a large store never sits in memory and the
//! writer (every till) keeps committing meanwhile. A failure mid-way ends the body with an
//! error: the client's copy then fails `verify` and is discarded.

use super::{ApiError, AppState, Principal};
use crate::config::Role;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::io::Write;
use tokio::sync::mpsc;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/admin/backup", get(backup))
}

/// Chunks of the backup as they are written.
struct Chunks {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

async fn backup(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(&[Role::Admin])?;
    let store = state.inner.store.clone();
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let started = tokio::time::Instant::now();
        match store.backup_to(&mut chunks) {
            Ok(summary) => tracing::info!(
                entries = summary.entries,
                took_ms = started.elapsed().as_millis() as u64,
                "backup streamed to an admin"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "backup stream failed");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}
