//! `storeterm demo`: a complete till with no config and no hardware — a demo catalog with
//! Cyrillic names, lane 1 with a virtual scanner (a pseudo-terminal you can `echo` codes into)
//! and a virtual printer whose receipts appear on `/admin`.

use super::{Running, StartError};
use crate::config::{
    Config, DeviceConfig, DeviceKind, HttpConfig, LaneConfig, Role, Secret, ShopConfig, StoreConfig, TokenConfig, Transport,
};
use crate::devices::DeviceState;
use crate::devices::pty::Pty;
use crate::devices::scanner;
use crate::store::Store;
use crate::sync::feed;
use std::net::SocketAddr;
use std::path::PathBuf;

const CATALOG: &str = include_str!("demo_catalog.json");
/// Demo clients for caller cards, applied through the same feed path as a CRM's.
const CLIENTS: &str = include_str!("demo_clients.json");
/// Cells, starting stock, a pick order and an expected delivery for the handheld screen.
const WAREHOUSE: &str = include_str!("demo_warehouse.json");
const SCANNER: &str = "demo-scanner";
const PRINTER: &str = "demo-printer";
/// The demo operator's extension.
pub const DEMO_EXTENSION: &str = "101";
/// The demo's Zadarma webhook secret, so a call can be rung with a signed `curl` (see README).
pub const DEMO_ZADARMA_SECRET: &str = "demo-zadarma-secret";

fn demo_telephony() -> Vec<crate::config::TelephonyConfig> {
    vec![crate::config::TelephonyConfig::Webhook {
        provider: crate::config::WebhookProvider::Zadarma,
        secret: Secret::new(DEMO_ZADARMA_SECRET),
        key: None,
    }]
}

pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Where the demo keeps its store; a fixed temp directory by default, so a restarted demo
    /// shows that nothing was lost.
    pub data: Option<PathBuf>,
    /// Start from an empty store.
    pub fresh: bool,
}

/// Tokens generated for this demo run, one per role.
pub struct DemoTokens {
    pub cashier: String,
    pub admin: String,
    pub storekeeper: String,
    pub operator: String,
}

/// A running demo and what to tell the person who started it.
pub struct Demo {
    pub running: Running,
    pub tokens: DemoTokens,
    pub data: PathBuf,
    pub scanner_path: PathBuf,
    /// `curl` commands that ring the demo operator's extension through the Zadarma webhook,
    /// signed as Zadarma signs them.
    pub ring_commands: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo store at {path}: {source}")]
    Data { path: PathBuf, source: std::io::Error },
    #[error("cannot create the virtual scanner's pseudo-terminal: {0}")]
    Pty(std::io::Error),
    #[error("the demo catalog is broken: {0}")]
    Catalog(String),
    #[error(transparent)]
    Start(#[from] StartError),
}

fn random_token() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(24).collect()
}

fn config(options: &DemoOptions, data: PathBuf, tokens: &DemoTokens) -> Config {
    let token = |token: &str, role, name: &str| TokenConfig {
        token: Secret::new(token),
        role,
        name: name.to_string(),
        extensions: if role == Role::Operator {
            vec![DEMO_EXTENSION.to_string()]
        } else {
            Vec::new()
        },
    };
    Config {
        http: HttpConfig { listen: options.listen },
        store: StoreConfig::at(data),
        crm: None,
        shop: ShopConfig {
            name: "Магазин «Демо»".into(),
            address: "г. Москва, ул. Примерная, д. 1".into(),
            inn: "7700000000".into(),
            ..ShopConfig::default()
        },
        tokens: vec![
            token(&tokens.cashier, Role::Cashier, "Анна (демо)"),
            token(&tokens.admin, Role::Admin, "Администратор"),
            token(&tokens.storekeeper, Role::Storekeeper, "Кладовщик"),
            token(&tokens.operator, Role::Operator, "Оператор"),
        ],
        lanes: vec![LaneConfig {
            id: "1".into(),
            scanner: Some(SCANNER.into()),
            printer: Some(PRINTER.into()),
        }],
        devices: vec![
            DeviceConfig {
                id: SCANNER.into(),
                kind: DeviceKind::Scanner,
                transport: Transport::Virtual,
                profile: None,
                framing: Default::default(),
                flow_control: Default::default(),
            },
            DeviceConfig {
                id: PRINTER.into(),
                kind: DeviceKind::Printer,
                transport: Transport::Virtual,
                profile: Some("generic-80mm".into()),
                framing: Default::default(),
                flow_control: Default::default(),
            },
        ],
        profiles_dir: None,
        scanning: Default::default(),
        calls: Default::default(),
        telephony: demo_telephony(),
        wms: Default::default(),
        backup: None,
        metrics: Default::default(),
    }
}

/// Start the demo.
pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
    let data = options.data.clone().unwrap_or_else(|| std::env::temp_dir().join("storeterm-demo"));
    if options.fresh && data.exists() {
        std::fs::remove_dir_all(&data).map_err(|source| DemoError::Data {
            path: data.clone(),
            source,
        })?;
    }
    let tokens = DemoTokens {
        cashier: random_token(),
        admin: random_token(),
        storekeeper: random_token(),
        operator: random_token(),
    };
    let config = config(&options, data.clone(), &tokens);

    // The catalog, clients and warehouse arrive through the same feed decoding and store path
    // as a CRM's.
    let store = Store::open(&data).map_err(StartError::from)?;
    for text in [CATALOG, CLIENTS, WAREHOUSE] {
        let page = feed::parse_page(text.as_bytes())
            .map_err(|e| DemoError::Catalog(e.to_string()))?
            .decode();
        if let Some(rejected) = page.rejected.first() {
            return Err(DemoError::Catalog(rejected.to_string()));
        }
        store.apply_feed(&page.changes, &page.cursor).await.map_err(StartError::from)?;
    }

    let running = super::start_with_store(config, store).await?;

    let pty = Pty::open().map_err(DemoError::Pty)?;
    let scanner_path = pty.slave_path.clone();
    running.devices().set(
        SCANNER,
        DeviceState::Connected,
        Some(format!("virtual: echo КОД > {}", scanner_path.display())),
    );
    let sink = running.lane("1").map(|l| l.scan_sink());
    if let Some(sink) = sink {
        let shutdown = running.shutdown_token();
        tokio::spawn(async move {
            let Pty { master, slave, .. } = pty;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = scanner::read_frames(SCANNER, master, &sink) => {}
            }
            drop(slave);
        });
    }
    let ring_commands = ring_commands(&format!("http://{}", running.addr));
    Ok(Demo {
        running,
        tokens,
        data,
        scanner_path,
        ring_commands,
    })
}

/// A demo call from ООО Ромашка's number to extension 101: start, ring, end — the requests a
/// Zadarma PBX would send, with its signature.
fn ring_commands(base: &str) -> Vec<String> {
    use crate::devices::telephony::webhook::zadarma_signature;
    let call_start = "2026-12-01 10:00:00";
    let (caller, did) = ("74951234567", "74950000000");
    let signature = zadarma_signature(&format!("{caller}{did}{call_start}"), DEMO_ZADARMA_SECRET);
    let call_id = format!("demo-{}", fastrand::u32(..));
    ["NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_END"]
        .iter()
        .map(|event| {
            let internal = if *event == "NOTIFY_START" { "" } else { "&internal=101" };
            format!(
                "curl -s -H 'Signature: {signature}' --data 'event={event}&call_start=2026-12-01+10%3A00%3A00&pbx_call_id={call_id}&caller_id={caller}&called_did={did}{internal}' {base}/api/v1/telephony/webhook/zadarma"
            )
        })
        .collect()
}
