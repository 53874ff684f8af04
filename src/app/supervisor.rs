//! Every long-lived task of the daemon has an owner. A lane actor, a scanner reader, a printer
//! spooler, a PBX link or the CRM pusher that panics or ends on its own is logged with its
//! cause and started again after a back-off, and while it is down it is named on `/healthz`
//! and `/admin`. A detached `tokio::spawn` would instead leave a dead lane behind a green
//! health check and a systemd watchdog that keeps being fed.
//!
//! A part is started from a factory (`FnMut() -> Future`), so each restart gets fresh state;
//! what must outlive a crash (a lane's open receipt, queued print jobs, the outbox) is in the
//! store, and what callers hold (a lane's command channel) is kept by the factory.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The first wait before a failed part is started again; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A part that ran this long before failing starts again after [`BACKOFF_MIN`]: it was not a
/// crash loop.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Whether the shop can trade without the part. A dead lane actor stops a till, a dead PBX
/// link only the caller cards: the first also stops the systemd watchdog (see
/// [`Parts::critical_down_longer_than`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    Critical,
    Degrades,
}

/// What a part is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    Running,
    /// Failed; waiting for its back-off to end.
    Restarting,
    /// Ended and cannot be started again (a one-shot part); or the daemon is stopping.
    Stopped,
}

/// One part as `/admin` and `/healthz` show it.
#[derive(Debug, Clone, Serialize)]
pub struct PartReport {
    pub name: String,
    pub importance: Importance,
    pub state: PartState,
    /// How many times the part was started again since the daemon started.
    pub restarts: u32,
    /// Why it failed last (the panic message, or "ended unexpectedly").
    pub last_error: Option<String>,
    /// How long it has been down, in whole seconds; absent while running.
    pub down_for_secs: Option<u64>,
}

#[derive(Debug)]
struct Entry {
    importance: Importance,
    state: PartState,
    restarts: u32,
    last_error: Option<String>,
    down_since: Option<Instant>,
}

/// The parts' states; cheap to clone, shared with the HTTP layer and the watchdog.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
}

impl Parts {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Entry>) -> R) -> R {
        f(&mut self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn started(&self, name: &str, importance: Importance) {
        self.with(|parts| {
            let entry = parts.entry(name.to_string()).or_insert(Entry {
                importance,
                state: PartState::Running,
                restarts: 0,
                last_error: None,
                down_since: None,
            });
            entry.state = PartState::Running;
            entry.down_since = None;
        });
    }

    fn failed(&self, name: &str, state: PartState, cause: String) {
        self.with(|parts| {
            if let Some(entry) = parts.get_mut(name) {
                entry.state = state;
                entry.last_error = Some(cause);
                entry.down_since.get_or_insert_with(Instant::now);
            }
        });
    }

    fn restarting(&self, name: &str) {
        self.with(|parts| {
            if let Some(entry) = parts.get_mut(name) {
                entry.restarts += 1;
            }
        });
    }

    /// Every part, by name.
    pub fn report(&self) -> Vec<PartReport> {
        let now = Instant::now();
        self.with(|parts| {
            parts
                .iter()
                .map(|(name, e)| PartReport {
                    name: name.clone(),
                    importance: e.importance,
                    state: e.state,
                    restarts: e.restarts,
                    last_error: e.last_error.clone(),
                    down_for_secs: e.down_since.map(|since| now.saturating_duration_since(since).as_secs()),
                })
                .collect()
        })
    }

    /// The parts that are not running now, as `/healthz` names them.
    pub fn down(&self) -> Vec<PartReport> {
        self.report().into_iter().filter(|p| p.state != PartState::Running).collect()
    }

    /// The critical parts down for longer than `grace`: while there is one, the watchdog is
    /// not fed and systemd restarts the daemon.
    pub fn critical_down_longer_than(&self, grace: Duration) -> Vec<String> {
        let now = Instant::now();
        self.with(|parts| {
            parts
                .iter()
                .filter(|(_, e)| e.importance == Importance::Critical && e.state != PartState::Running)
                .filter(|(_, e)| e.down_since.is_some_and(|since| now.saturating_duration_since(since) > grace))
                .map(|(name, _)| name.clone())
                .collect()
        })
    }
}

/// Owns the daemon's tasks.
pub struct Supervisor {
    parts: Parts,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Supervisor {
    pub fn new(shutdown: CancellationToken) -> Supervisor {
        Supervisor {
            parts: Parts::default(),
            tasks: JoinSet::new(),
            shutdown,
        }
    }

    pub fn parts(&self) -> Parts {
        self.parts.clone()
    }

    /// The token that stops every part.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Run the part `make` builds, and build and run it again whenever it panics or ends
    /// before shutdown, after a back-off.
    pub fn spawn<F, Fut>(&mut self, name: impl Into<String>, importance: Importance, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let parts = self.parts.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let mut backoff = BACKOFF_MIN;
            loop {
                parts.started(&name, importance);
                let began = Instant::now();
                let cause = match tokio::spawn(make()).await {
                    _ if shutdown.is_cancelled() => break,
                    Ok(()) => "ended unexpectedly".to_string(),
                    Err(e) => panic_cause(e),
                };
                if began.elapsed() >= STABLE_AFTER {
                    backoff = BACKOFF_MIN;
                }
                tracing::error!(part = %name, cause = %cause, retry_in = ?backoff, "a part of storeterm failed; starting it again");
                parts.failed(&name, PartState::Restarting, cause);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                parts.restarting(&name);
            }
            parts.failed(&name, PartState::Stopped, "storeterm is stopping".into());
        });
    }

    /// Run a part that cannot be built twice (it owns a listening socket). If it ends before
    /// shutdown, it stays down and is named as such.
    pub fn spawn_once<Fut>(&mut self, name: impl Into<String>, importance: Importance, part: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let parts = self.parts.clone();
        let shutdown = self.shutdown.clone();
        parts.started(&name, importance);
        self.tasks.spawn(async move {
            let cause = match tokio::spawn(part).await {
                _ if shutdown.is_cancelled() => "storeterm is stopping".to_string(),
                Ok(()) => "ended unexpectedly".to_string(),
                Err(e) => panic_cause(e),
            };
            if !shutdown.is_cancelled() {
                tracing::error!(part = %name, cause = %cause, "a part of storeterm failed and cannot be started again");
            }
            parts.failed(&name, PartState::Stopped, cause);
        });
    }

    /// Stop every part and wait (briefly) for them to finish their current step.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(Duration::from_secs(5), async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("some tasks did not stop in time");
            self.tasks.abort_all();
        }
    }
}

fn panic_cause(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "cancelled".into();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Let the spawned tasks run until they wait on something.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_part_is_started_again_with_growing_backoff() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let starts = Arc::new(AtomicU32::new(0));
        let counter = starts.clone();
        supervisor.spawn("lane 1", Importance::Critical, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("receipt {n} broke");
                }
                std::future::pending::<()>().await
            }
        });
        let parts = supervisor.parts();
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        let down = parts.down();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].state, PartState::Restarting);
        assert_eq!(down[0].last_error.as_deref(), Some("panicked: receipt 0 broke"));

        // First back-off: one second.
        tokio::time::advance(Duration::from_millis(999)).await;
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(2)).await;
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);

        // Second back-off: two seconds; meanwhile the critical part counts as down.
        assert_eq!(parts.critical_down_longer_than(Duration::from_millis(1500)), Vec::<String>::new());
        tokio::time::advance(Duration::from_millis(1600)).await;
        settle().await;
        assert_eq!(
            parts.critical_down_longer_than(Duration::from_millis(1500)),
            vec!["lane 1".to_string()]
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert!(parts.down().is_empty());
        let report = parts.report();
        assert_eq!(report[0].restarts, 2);
        assert_eq!(report[0].state, PartState::Running);
        supervisor.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_part_that_ends_on_its_own_is_a_failure_but_shutdown_is_not() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let token = shutdown.clone();
        supervisor.spawn("crm outbox", Importance::Degrades, move || {
            let token = token.clone();
            async move { token.cancelled().await }
        });
        supervisor.spawn("pbx ami-1", Importance::Degrades, || async {});
        let parts = supervisor.parts();
        settle().await;
        let down = parts.down();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].name, "pbx ami-1");
        assert_eq!(down[0].last_error.as_deref(), Some("ended unexpectedly"));
        // Not critical: the watchdog keeps being fed however long it is down.
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(parts.critical_down_longer_than(Duration::ZERO).is_empty());
        supervisor.stop().await;
        assert!(parts.report().iter().all(|p| p.state == PartState::Stopped));
    }

    #[tokio::test(start_paused = true)]
    async fn a_one_shot_part_that_dies_stays_down_with_its_cause() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn_once("http", Importance::Critical, async { panic!("port gone") });
        let parts = supervisor.parts();
        settle().await;
        let down = parts.down();
        assert_eq!(down[0].state, PartState::Stopped);
        assert_eq!(down[0].last_error.as_deref(), Some("panicked: port gone"));
        supervisor.stop().await;
    }
}
