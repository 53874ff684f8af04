//! Wiring: from a [`Config`] to running tasks — the store, one actor per lane, one task per
//! device, the CRM link and the HTTP server — and a clean way to stop them all.

pub mod backup;
pub mod calls;
pub mod demo;
pub mod lane;
pub mod wms;

use crate::config::{Config, DeviceConfig, DeviceKind, Transport};
use crate::devices::printer::{PrinterWorker, VirtualPaper};
use crate::devices::profiles::{ProfileError, Profiles};
use crate::devices::scanner::{self, ScanEvent, ScannerSetup};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::http::{self, AppState};
use crate::store::{Retention, Store, StoreError, StoreSettings};
use crate::sync::{self, CrmClient, CrmError, Link};
use lane::LaneHandle;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why storeterm could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("CRM client: {0}")]
    Crm(#[from] CrmError),
    #[error("time zone: {0}")]
    TimeZone(String),
    #[error("device {id}: {message}")]
    Device { id: String, message: String },
}

/// A running storeterm.
pub struct Running {
    /// Where the HTTP server listens (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    lanes: BTreeMap<String, LaneHandle>,
    registry: DeviceRegistry,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Running {
    pub fn lane(&self, id: &str) -> Option<&LaneHandle> {
        self.lanes.get(id)
    }

    pub fn devices(&self) -> &DeviceRegistry {
        &self.registry
    }

    /// A token that stops everything when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stop every task and wait (briefly) for them to finish their current step.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(Duration::from_secs(5), async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("some tasks did not stop in time");
            self.tasks.abort_all();
        }
    }

    /// Run until the shutdown token is cancelled, then stop.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}

fn endpoint(device: &DeviceConfig) -> String {
    match &device.transport {
        Transport::Serial { path, baud } => format!("serial {} {baud}", path.display()),
        Transport::Tcp { address } => format!("tcp {address}"),
        Transport::Virtual => "virtual".to_string(),
        Transport::Hid { vid, pid, serial } => match serial {
            Some(serial) => format!("hid {vid:04x}:{pid:04x} serial {serial}"),
            None => format!("hid {vid:04x}:{pid:04x}"),
        },
        Transport::Evdev { path } => format!("evdev {}", path.display()),
        Transport::Usblp { path } => format!("usblp {}", path.display()),
        Transport::Usb { vid, pid } => format!("usb {vid:04x}:{pid:04x}"),
    }
}

/// How the store is opened for `config`.
pub fn store_settings(config: &Config) -> StoreSettings {
    StoreSettings {
        cache_mb: config.store.cache_mb,
        numbered_by_crm: config.crm.is_some(),
    }
}

/// How long the store keeps what, for `config`.
fn retention(config: &Config) -> Retention {
    let s = &config.store;
    Retention {
        receipts_days: s.keep_receipts_days,
        print_jobs_days: s.keep_print_jobs_days,
        wms_answers_days: s.keep_wms_answers_days,
        wms_log_days: s.keep_wms_log_days,
    }
}

/// Start storeterm with `config`. A damaged store does not stop the daemon: it serves its
/// screens and answers every call with what happened and what to do (see [`start_refusing`]).
pub async fn start(config: Config) -> Result<Running, StartError> {
    match Store::open_with(&config.store.path, &store_settings(&config)) {
        Ok(store) => start_with_store(config, store).await,
        Err(damaged @ StoreError::Damaged { .. }) => start_refusing(&config, &damaged).await,
        Err(e) => Err(e.into()),
    }
}

/// Run without trading: the store is damaged. Restarting would not mend it, so the daemon stays
/// up and says so on `/healthz` (503), on `/admin` and in every API answer, until the admin
/// restores a backup.
pub async fn start_refusing(config: &Config, damaged: &StoreError) -> Result<Running, StartError> {
    tracing::error!(error = %damaged, "the store is damaged; storeterm refuses to trade until a backup is restored");
    let shutdown = CancellationToken::new();
    let listener = bind(config.http.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.http.listen,
        source,
    })?;
    let mut tasks = JoinSet::new();
    tasks.spawn(http::serve_router(
        listener,
        http::refusing_router(damaged.to_string()),
        shutdown.clone(),
    ));
    Ok(Running {
        addr,
        lanes: BTreeMap::new(),
        registry: DeviceRegistry::default(),
        shutdown,
        tasks,
    })
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Start storeterm on an already open store (the demo seeds its catalog first).
pub async fn start_with_store(config: Config, store: Store) -> Result<Running, StartError> {
    store.set_phone_country(config.calls.default_country);
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let profiles = Profiles::load(config.profiles_dir.as_deref())?;
    let tz = match &config.shop.timezone {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| StartError::TimeZone(e.to_string()))?,
        None => jiff::tz::TimeZone::system(),
    };
    let registry = DeviceRegistry::default();
    for device in &config.devices {
        registry.register(&device.id, device.kind, endpoint(device));
    }

    let mut lanes = BTreeMap::new();
    for lane in &config.lanes {
        let handle = lane::spawn(
            &lane.id,
            lane.printer.clone(),
            config.scanning.clone(),
            store.clone(),
            shutdown.clone(),
        )?;
        lanes.insert(lane.id.clone(), handle);
    }

    // Claim model: a scanner's scans go to the one lane it is bound to, nowhere else.
    let bound: BTreeMap<&str, mpsc::Sender<ScanEvent>> = config
        .lanes
        .iter()
        .filter_map(|l| Some((l.scanner.as_deref()?, lanes[&l.id].scan_sink())))
        .collect();
    let paper = VirtualPaper::default();
    let shop = Arc::new(config.shop.clone());
    for device in &config.devices {
        match device.kind {
            DeviceKind::Scanner => {
                let Some(sink) = bound.get(device.id.as_str()) else {
                    registry.set(
                        &device.id,
                        DeviceState::Disconnected,
                        Some("not bound to a lane; not opened".into()),
                    );
                    continue;
                };
                let profile = match device.profile.as_deref() {
                    Some(id) => Some(profiles.scanner(id).map_err(|e| StartError::Device {
                        id: device.id.clone(),
                        message: e.to_string(),
                    })?),
                    None => None,
                };
                let setup = ScannerSetup::new(device, profile);
                tasks.spawn(scanner::run(setup, sink.clone(), registry.clone(), shutdown.clone()));
            }
            DeviceKind::Printer => {
                let profile_id = device.profile.as_deref().unwrap_or(crate::config::DEFAULT_PRINTER_PROFILE);
                let profile = profiles.printer(profile_id).map_err(|e| StartError::Device {
                    id: device.id.clone(),
                    message: e.to_string(),
                })?;
                let worker = PrinterWorker {
                    device: device.clone(),
                    profile: profile.clone(),
                    store: store.clone(),
                    shop: shop.clone(),
                    tz: tz.clone(),
                    registry: registry.clone(),
                    paper: paper.clone(),
                };
                tasks.spawn(worker.run(shutdown.clone()));
            }
        }
    }

    let link = Arc::new(Link::new(config.crm.is_some()));
    if let Some(crm) = &config.crm {
        let client = CrmClient::new(crm)?;
        tasks.spawn(sync::run_puller(
            client.clone(),
            store.clone(),
            link.clone(),
            Duration::from_secs(crm.pull_interval),
            crm.page_limit,
            shutdown.clone(),
        ));
        tasks.spawn(sync::run_pusher(
            client,
            store.clone(),
            link.clone(),
            Duration::from_secs(crm.retry_cap),
            shutdown.clone(),
        ));
    } else {
        tracing::warn!("no [crm] configured: documents stay in the outbox until one is");
    }

    tasks.spawn(prune_regularly(store.clone(), retention(&config), shutdown.clone()));
    if let Some(schedule) = &config.backup {
        tasks.spawn(backup::run_schedule(store.clone(), schedule.clone(), shutdown.clone()));
    }
    let calls = start_telephony(&config, &store, &mut tasks, &shutdown)?;
    wms::Warehouse::new(store.clone(), config.scanning.clone(), &config.wms)
        .ensure_receiving()
        .await?;
    let state = AppState::new(&config, lanes.clone(), store, registry.clone(), link, paper, shutdown.clone()).with_calls(calls);
    let listener = bind(config.http.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.http.listen,
        source,
    })?;
    tasks.spawn(http::serve(listener, state, shutdown.clone()));
    tracing::info!(%addr, lanes = lanes.len(), devices = config.devices.len(), "storeterm is up");
    Ok(Running {
        addr,
        lanes,
        registry,
        shutdown,
        tasks,
    })
}

/// How often the store's old records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Remove what the retention policy says is old, now and then every [`PRUNE_EVERY`], a chunk at
/// a time so sales never wait behind it for long.
async fn prune_regularly(store: Store, policy: Retention, shutdown: CancellationToken) {
    loop {
        loop {
            match store.prune(jiff::Timestamp::now(), &policy).await {
                Ok(pruned) if pruned.total() == 0 => break,
                Ok(pruned) => tracing::info!(?pruned, "old records removed from the store"),
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the store failed; trying again later");
                    break;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Start the call hub and every `[[telephony]]` source; returns what the HTTP routes need.
fn start_telephony(
    config: &Config,
    store: &Store,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Result<http::CallsState, StartError> {
    use crate::config::TelephonyConfig;
    let operators = config
        .tokens
        .iter()
        .flat_map(|t| t.extensions.iter().map(move |e| (e.clone(), t.name.clone())))
        .collect();
    let crm = config.crm.as_ref().map(CrmClient::new).transpose()?;
    let setup = calls::HubSetup {
        store: store.clone(),
        crm,
        country: config.calls.default_country,
        card_budget: config.calls.card_budget,
        operators,
    };
    let (hub, task) = calls::spawn(setup, shutdown.clone());
    tasks.spawn(async move {
        let _ = task.await;
    });
    let mut webhooks = std::collections::HashMap::new();
    for source in &config.telephony {
        match source {
            TelephonyConfig::Ami {
                id,
                address,
                username,
                secret,
                md5,
                ping_interval,
            } => {
                let settings = crate::devices::telephony::ami::connection::AmiSettings {
                    id: id.clone(),
                    address: address.clone(),
                    username: username.clone(),
                    secret: secret.clone(),
                    md5: *md5,
                    ping_interval: Duration::from_secs(*ping_interval),
                };
                tasks.spawn(crate::devices::telephony::ami::connection::run(
                    settings,
                    hub.signal_sink(),
                    shutdown.clone(),
                ));
            }
            TelephonyConfig::Modem { id, path, baud, extension } => {
                let modem = crate::devices::telephony::modem::ModemSetup {
                    id: id.clone(),
                    path: path.clone(),
                    baud: *baud,
                    extension: extension.clone(),
                };
                tasks.spawn(crate::devices::telephony::modem::run(modem, hub.signal_sink(), shutdown.clone()));
            }
            TelephonyConfig::Webhook { provider, secret, key } => {
                webhooks.insert(*provider, (secret.clone(), key.clone()));
            }
        }
    }
    Ok(http::CallsState {
        hub,
        country: config.calls.default_country,
        webhooks,
    })
}
