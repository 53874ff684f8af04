//! Telephony: where call events come from and what they reduce to.
//!
//! Every source (Asterisk AMI, a Caller-ID modem, a cloud PBX's webhooks) turns its outside
//! bytes into [`calls::Signal`]s with a pure decoder; the call hub (`app::calls`) owns the
//! [`calls::CallBook`] that turns signals into ringing/answered/ended events for the operator
//! screens and `call` documents for the CRM. Source tasks never look anything up.

pub mod ami;
pub mod calls;
pub mod modem;
pub mod webhook;

use calls::Signal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Signals the call hub may be behind by before sources start dropping them: a PBX resync
/// after a reconnect brings one per channel, a busy office a few per second.
pub const SIGNAL_BACKLOG: usize = 4096;

/// Where telephony sources send their signals: a bounded channel to the call hub.
///
/// Sending never waits. A source reading a PBX must keep reading — Asterisk drops a manager
/// session whose socket stops draining, a modem's bytes are lost when nobody reads them — so
/// when the hub is [`SIGNAL_BACKLOG`] signals behind (stuck, not slow), a signal is dropped,
/// logged and counted ([`SignalSink::dropped`], shown on `/admin`) instead. The AMI reader then
/// resyncs its calls with the PBX once the hub catches up; a webhook answers `503` so the
/// provider sends it again.
#[derive(Debug, Clone)]
pub struct SignalSink {
    tx: mpsc::Sender<Signal>,
    dropped: Arc<AtomicU64>,
}

/// What became of a signal handed to [`SignalSink::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// The hub is too far behind; the signal was dropped and counted.
    Dropped,
    /// The hub has stopped (shutdown).
    Closed,
}

impl SignalSink {
    /// A sink and the hub's end of it, holding at most `backlog` signals.
    pub fn channel(backlog: usize) -> (SignalSink, mpsc::Receiver<Signal>) {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        let sink = SignalSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (sink, rx)
    }

    /// Queue `signal` for the hub without waiting.
    pub fn send(&self, signal: Signal) -> Delivery {
        match self.tx.try_send(signal) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
            Err(mpsc::error::TrySendError::Full(signal)) => {
                let before = self.dropped.fetch_add(1, Ordering::Relaxed);
                // The first drop and then every hundredth: a stuck hub must not flood the log.
                if before % 100 == 0 {
                    tracing::warn!(call = %signal.call, dropped = before + 1, "the call hub is behind; call signal dropped");
                }
                Delivery::Dropped
            }
        }
    }

    /// How many more signals fit before sources start dropping them.
    pub fn room(&self) -> usize {
        self.tx.capacity()
    }

    /// Signals dropped since start because the hub was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
