//! The device supervisor loop: open → run → (error) → back off → reopen, with the device's
//! state kept current in the [`DeviceRegistry`].

use super::transport::DeviceError;
use super::{DeviceRegistry, DeviceState};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Shortest and longest wait before reopening. The cap is short on purpose: an unplugged USB
/// scanner that comes back should work again within a second, and opening a missing device
/// node costs next to nothing.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_millis(500);

/// Keep a device open until `shutdown`. `open` produces a connection; `run` uses it until it
/// fails. Each failure is recorded with its reason and followed by a short back-off.
pub async fn supervise<T, Open, OpenFut, Run, RunFut>(
    id: &str,
    registry: &DeviceRegistry,
    shutdown: &CancellationToken,
    mut open: Open,
    mut run: Run,
) where
    Open: FnMut() -> OpenFut,
    OpenFut: Future<Output = Result<T, DeviceError>>,
    Run: FnMut(T) -> RunFut,
    RunFut: Future<Output = Result<(), DeviceError>>,
{
    let mut delay = FIRST_RETRY;
    let mut last_error: Option<String> = None;
    loop {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => return,
            opened = open() => opened,
        };
        match opened {
            Ok(connection) => {
                registry.set(id, DeviceState::Connected, None);
                last_error = None;
                delay = FIRST_RETRY;
                let result = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    result = run(connection) => result,
                };
                let reason = match result {
                    Ok(()) => "closed".to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(device = id, %reason, "device lost; reopening");
                registry.set(id, DeviceState::Disconnected, Some(reason));
            }
            Err(e) => {
                let reason = e.to_string();
                if last_error.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(device = id, %reason, "cannot open device; will keep trying");
                }
                registry.set(id, DeviceState::Disconnected, Some(reason.clone()));
                last_error = Some(reason);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceKind;
    use crate::devices::transport::DeviceErrorKind;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    /// An unplugged scanner is tried again and again, never more than half a second apart, and
    /// is back the moment it opens; after it fails while running, it is reopened at once.
    #[tokio::test(start_paused = true)]
    async fn a_missing_device_is_retried_at_most_half_a_second_apart() {
        let registry = DeviceRegistry::default();
        registry.register("scanner-1", DeviceKind::Scanner, "serial /dev/ttyACM0 9600".into());
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (lost_tx, lost) = tokio::sync::mpsc::channel::<()>(1);
        let lost = Arc::new(tokio::sync::Mutex::new(lost));
        let task = tokio::spawn({
            let (registry, shutdown, attempts) = (registry.clone(), shutdown.clone(), attempts.clone());
            async move {
                let open = || {
                    let attempts = attempts.clone();
                    async move {
                        let mut a = attempts.lock().unwrap();
                        a.push(start.elapsed());
                        // Plugged back in at the seventh attempt, and again at the ninth.
                        if a.len() == 7 || a.len() >= 9 {
                            Ok(())
                        } else {
                            Err(DeviceError::new(DeviceErrorKind::NotFound, "no such device"))
                        }
                    }
                };
                let run = |()| {
                    let lost = lost.clone();
                    async move {
                        lost.lock().await.recv().await;
                        Err(DeviceError::new(DeviceErrorKind::Disconnected, "unplugged"))
                    }
                };
                supervise("scanner-1", &registry, &shutdown, open, run).await;
            }
        });
        registry.wait_for("scanner-1", DeviceState::Connected).await;
        let ms: Vec<u128> = attempts.lock().unwrap().iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 100, 300, 700, 1200, 1700, 2200]);
        lost_tx.send(()).await.unwrap();
        registry.wait_for("scanner-1", DeviceState::Disconnected).await;
        registry.wait_for("scanner-1", DeviceState::Connected).await;
        let ms: Vec<u128> = attempts.lock().unwrap().iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms[7..], [2300, 2500], "after a loss the back-off starts again at 100 ms");
        shutdown.cancel();
        task.await.unwrap();
    }
}
