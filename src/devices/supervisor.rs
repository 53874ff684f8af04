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
