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
use std::sync::{Arc, RwLock};

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
/// handlers (readers); the lock is held only to copy or replace one entry.
#[derive(Debug, Clone, Default)]
pub struct DeviceRegistry {
    inner: Arc<RwLock<BTreeMap<String, DeviceStatus>>>,
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
        self.write().insert(id.to_string(), status);
    }

    /// Record a new state; `since` moves only when the state itself changes.
    pub fn set(&self, id: &str, state: DeviceState, detail: Option<String>) {
        if let Some(status) = self.write().get_mut(id) {
            if status.state != state {
                status.since = Timestamp::now();
                tracing::info!(device = id, ?state, detail = detail.as_deref().unwrap_or(""), "device state");
            }
            status.state = state;
            status.detail = detail;
        }
    }

    pub fn get(&self, id: &str) -> Option<DeviceStatus> {
        self.read().get(id).cloned()
    }

    pub fn all(&self) -> Vec<DeviceStatus> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, DeviceStatus>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, DeviceStatus>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}
