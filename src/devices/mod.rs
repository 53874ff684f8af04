//! Devices: how bytes get in and out of scanners and printers, and what state each device is
//! in right now.
//!
//! Each device is a pure codec (bytes ⇄ events, in `scanner`, `printer`), a transport
//! (`transport`: serial, TCP, …) and a supervisor loop that opens it, runs it, and reopens it
//! after it fails (`supervisor`). Device tasks decode and forward; they never touch business
//! state.

pub mod fiscal;
pub mod inventory;
pub mod printer;
pub mod profiles;
pub mod pty;
pub mod scanner;
pub mod supervisor;
pub mod telephony;
pub mod transport;

use crate::config::DeviceKind;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// What a device is doing, in words for `/admin` and the screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Being opened.
    Connecting,
    /// Open and working.
    Connected,
    /// Not reachable now; storeterm keeps trying.
    Disconnected,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceStatus {
    pub id: String,
    pub kind: DeviceKind,
    /// Where it is attached, e.g. `serial /dev/ttyACM0 9600` or `tcp 192.168.1.50:9100`.
    pub endpoint: String,
    pub state: DeviceState,
    /// The last error or a note, e.g. "connection refused".
    pub detail: Option<String>,
    pub since: Timestamp,
}

/// The live status of every configured device. Shared by device tasks (writers) and HTTP
/// handlers (readers), and observable: [`DeviceRegistry::watch`] wakes on every change (a
/// screen, a supervisor or a test waiting for a scanner to come back needs no polling).
#[derive(Debug, Clone)]
pub struct DeviceRegistry {
    inner: Arc<watch::Sender<BTreeMap<String, DeviceStatus>>>,
}

impl Default for DeviceRegistry {
    fn default() -> Self {
        DeviceRegistry {
            inner: Arc::new(watch::Sender::new(BTreeMap::new())),
        }
    }
}

impl DeviceRegistry {
    pub fn register(&self, id: &str, kind: DeviceKind, endpoint: String) {
        let status = DeviceStatus {
            id: id.to_string(),
            kind,
            endpoint,
            state: DeviceState::Connecting,
            detail: None,
            since: Timestamp::now(),
        };
        self.inner.send_modify(|devices| {
            devices.insert(id.to_string(), status);
        });
    }

    /// Record a new state; `since` moves only when the state itself changes. Watchers wake
    /// only when something changed.
    pub fn set(&self, id: &str, state: DeviceState, detail: Option<String>) {
        self.inner.send_if_modified(|devices| {
            let Some(status) = devices.get_mut(id) else { return false };
            if status.state == state && status.detail == detail {
                return false;
            }
            if status.state != state {
                status.since = Timestamp::now();
                tracing::info!(device = id, ?state, detail = detail.as_deref().unwrap_or(""), "device state");
            }
            status.state = state;
            status.detail = detail;
            true
        });
    }

    pub fn get(&self, id: &str) -> Option<DeviceStatus> {
        self.inner.borrow().get(id).cloned()
    }

    pub fn all(&self) -> Vec<DeviceStatus> {
        self.inner.borrow().values().cloned().collect()
    }

    /// Every device's status, marked changed whenever one changes.
    pub fn watch(&self) -> watch::Receiver<BTreeMap<String, DeviceStatus>> {
        self.inner.subscribe()
    }

    /// Wait until device `id` is in `state` (at once if it is).
    pub async fn wait_for(&self, id: &str, state: DeviceState) {
        let mut devices = self.watch();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = devices.wait_for(|d| d.get(id).is_some_and(|s| s.state == state)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_wake_on_changes_only() {
        let registry = DeviceRegistry::default();
        registry.register("scanner-1", DeviceKind::Scanner, "serial /dev/ttyACM0 9600".into());
        let mut watch = registry.watch();
        watch.borrow_and_update();
        registry.set("scanner-1", DeviceState::Disconnected, Some("gone".into()));
        assert!(watch.has_changed().unwrap());
        watch.borrow_and_update();
        registry.set("scanner-1", DeviceState::Disconnected, Some("gone".into()));
        assert!(!watch.has_changed().unwrap(), "the same state again wakes nobody");
        registry.set("no-such-device", DeviceState::Connected, None);
        assert!(!watch.has_changed().unwrap());
        let waiting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_for("scanner-1", DeviceState::Connected).await }
        });
        registry.set("scanner-1", DeviceState::Connected, None);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the waiter wakes")
            .unwrap();
    }
}
