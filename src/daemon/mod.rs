//! The composition root: from a [`Config`] to running tasks — the store, one actor per lane,
//! one task per device, the CRM link, the call hub and the HTTP server — built once, and a
//! clean way to stop them all. Every floor below is wired here and only here.

pub mod demo;

use crate::app::lane::{self, LaneHandle};
use crate::app::spooler::Spooler;
use crate::app::supervisor::{Importance, Parts, Supervisor};
use crate::app::{calls, prune_regularly, retention, store_settings, wms};
use crate::config::{Config, DeviceConfig, DeviceKind, Transport};
use crate::devices::printer::VirtualPaper;
use crate::devices::profiles::{ProfileError, Profiles};
use crate::devices::scanner::{self, ScanEvent, ScannerSetup};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::http::{self, AppState};
use crate::store::{Store, StoreError};
use crate::sync::{self, CrmClient, CrmError, Link};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
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
    supervisor: Supervisor,
    /// Absent when the store is damaged and the daemon only explains so.
    store: Option<Store>,
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

    /// Feed systemd's watchdog every half `interval` while no critical part is dead. When one
    /// stays dead longer than the interval, the pings stop and systemd restarts the daemon,
    /// which is what a person would do.
    pub fn feed_watchdog(&self, interval: Duration, mut ping: impl FnMut() + Send + 'static) {
        let parts = self.supervisor.parts();
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let down = critical_down(&parts, store.as_ref(), interval);
                if down.is_empty() {
                    ping();
                } else {
                    tracing::error!(?down, "critical parts are dead; no longer feeding the systemd watchdog");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(interval / 2) => {}
                }
            }
        });
    }

    /// Stop every task and wait (briefly) for them to finish their current step.
    pub async fn stop(self) {
        self.supervisor.stop().await;
    }

    /// Run until the shutdown token is cancelled, then stop.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}

/// The critical parts that are dead: the store's writer, and the parts the supervisor has seen
/// down for longer than `grace` (a lane actor restarts within a second or two).
fn critical_down(parts: &Parts, store: Option<&Store>, grace: Duration) -> Vec<String> {
    let mut down = parts.critical_down_longer_than(grace);
    if store.is_some_and(|s| !s.writer_alive()) {
        down.push("store writer".into());
    }
    down
}

fn endpoint(device: &DeviceConfig) -> String {
    if device.kind == DeviceKind::Fiscal {
        return lane::fiscal::Register::endpoint(device);
    }
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
    let mut supervisor = Supervisor::new(shutdown.clone());
    supervisor.spawn_once(
        "http",
        Importance::Critical,
        http::serve_router(listener, http::refusing_router(damaged.to_string()), shutdown.clone()),
    );
    Ok(Running {
        addr,
        lanes: BTreeMap::new(),
        registry: DeviceRegistry::default(),
        shutdown,
        supervisor,
        store: None,
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
    let mut supervisor = Supervisor::new(shutdown.clone());
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
        let register = match lane.fiscal.as_deref().and_then(|id| config.device(id)) {
            Some(device) => Some(
                lane::fiscal::Register::from_config(device, &registry).map_err(|message| StartError::Device {
                    id: device.id.clone(),
                    message,
                })?,
            ),
            None => None,
        };
        let setup = lane::LaneSetup {
            printer: lane.printer.clone(),
            register,
            rules: config.scanning.clone(),
            settings: lane::TillSettings::from_config(&config),
        };
        let handle = lane::spawn(&lane.id, setup, store.clone(), &mut supervisor)?;
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
                let (sink, registry, shutdown) = (sink.clone(), registry.clone(), shutdown.clone());
                supervisor.spawn(format!("scanner {}", device.id), Importance::Degrades, move || {
                    scanner::run(setup.clone(), sink.clone(), registry.clone(), shutdown.clone())
                });
            }
            // A register is driven by its lane's actor (see `app::lane::fiscal`).
            DeviceKind::Fiscal => {}
            DeviceKind::Printer => {
                let profile_id = device.profile.as_deref().unwrap_or(crate::config::DEFAULT_PRINTER_PROFILE);
                let profile = profiles.printer(profile_id).map_err(|e| StartError::Device {
                    id: device.id.clone(),
                    message: e.to_string(),
                })?;
                let spooler = Spooler {
                    device: device.clone(),
                    profile: profile.clone(),
                    store: store.clone(),
                    shop: shop.clone(),
                    tz: tz.clone(),
                    registry: registry.clone(),
                    paper: paper.clone(),
                };
                let shutdown = shutdown.clone();
                supervisor.spawn(format!("printer {}", device.id), Importance::Degrades, move || {
                    spooler.clone().run(shutdown.clone())
                });
            }
        }
    }

    let link = Arc::new(Link::new(config.crm.is_some()));
    if let Some(crm) = &config.crm {
        let client = CrmClient::new(crm)?;
        let (pull_every, page_limit, retry_cap) = (
            Duration::from_secs(crm.pull_interval),
            crm.page_limit,
            Duration::from_secs(crm.retry_cap),
        );
        let (c, st, l, sd) = (client.clone(), store.clone(), link.clone(), shutdown.clone());
        supervisor.spawn("crm feed", Importance::Degrades, move || {
            sync::run_puller(c.clone(), st.clone(), l.clone(), pull_every, page_limit, sd.clone())
        });
        let (st, l, sd) = (store.clone(), link.clone(), shutdown.clone());
        supervisor.spawn("crm outbox", Importance::Degrades, move || {
            sync::run_pusher(client.clone(), st.clone(), l.clone(), retry_cap, sd.clone())
        });
    } else {
        tracing::warn!("no [crm] configured: documents stay in the outbox until one is");
    }

    let (st, policy, sd) = (store.clone(), retention(&config), shutdown.clone());
    supervisor.spawn("store retention", Importance::Degrades, move || {
        prune_regularly(st.clone(), policy.clone(), sd.clone())
    });
    let (st, sd) = (store.clone(), shutdown.clone());
    supervisor.spawn("store compaction", Importance::Degrades, move || {
        crate::app::compaction::compact_when_quiet(st.clone(), sd.clone())
    });
    if let Some(schedule) = config.backup.clone() {
        let (st, sd) = (store.clone(), shutdown.clone());
        supervisor.spawn("backups", Importance::Degrades, move || {
            crate::app::backup::run_schedule(st.clone(), schedule.clone(), sd.clone())
        });
    }
    let calls = start_telephony(&config, &store, &mut supervisor, &shutdown)?;
    let warehouse = wms::Warehouse::new(store.clone(), config.scanning.clone(), &config.wms);
    warehouse.ensure_receiving().await?;
    let handle = store.clone();
    let onec = config.onec.as_ref().map(|onec| {
        let settings = sync::onec::OnecSettings::from_config(onec);
        Arc::new(sync::onec::OnecExchange::new(settings, store.clone(), tz.clone()))
    });
    let services = crate::app::Services {
        lanes: lanes.clone(),
        store,
        registry: registry.clone(),
        link,
        paper,
        warehouse,
        parts: supervisor.parts(),
    };
    let mut state = AppState::new(&config, services, shutdown.clone()).with_calls(calls);
    if let Some(onec) = onec {
        state = state.with_onec(onec);
    }
    let listener = bind(config.http.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.http.listen,
        source,
    })?;
    supervisor.spawn_once("http", Importance::Critical, http::serve(listener, state, shutdown.clone()));
    tracing::info!(%addr, lanes = lanes.len(), devices = config.devices.len(), "storeterm is up");
    Ok(Running {
        addr,
        lanes,
        registry,
        shutdown,
        supervisor,
        store: Some(handle),
    })
}

/// Start the call hub and every `[[telephony]]` source; returns what the HTTP routes need.
fn start_telephony(
    config: &Config,
    store: &Store,
    supervisor: &mut Supervisor,
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
    let hub = calls::spawn(setup, supervisor);
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
                let (sink, shutdown) = (hub.signal_sink(), shutdown.clone());
                supervisor.spawn(format!("pbx {id}"), Importance::Degrades, move || {
                    crate::devices::telephony::ami::connection::run(settings.clone(), sink.clone(), shutdown.clone())
                });
            }
            TelephonyConfig::Modem { id, path, baud, extension } => {
                let modem = crate::devices::telephony::modem::ModemSetup {
                    id: id.clone(),
                    path: path.clone(),
                    baud: *baud,
                    extension: extension.clone(),
                };
                let (sink, shutdown) = (hub.signal_sink(), shutdown.clone());
                supervisor.spawn(format!("modem {id}"), Importance::Degrades, move || {
                    crate::devices::telephony::modem::run(modem.clone(), sink.clone(), shutdown.clone())
                });
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
