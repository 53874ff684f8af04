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
    /// Commands that ring the demo operator's extension through the Zadarma webhook (see
    /// [`call`]).
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
    #[error("demo call: {0}")]
    Call(String),
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
        onec: None,
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
            fiscal: None,
        }],
        devices: vec![
            DeviceConfig {
                id: SCANNER.into(),
                kind: DeviceKind::Scanner,
                transport: Transport::Virtual,
                profile: None,
                framing: Default::default(),
                flow_control: Default::default(),
                fiscal: None,
            },
            DeviceConfig {
                id: PRINTER.into(),
                kind: DeviceKind::Printer,
                transport: Transport::Virtual,
                profile: Some("generic-80mm".into()),
                framing: Default::default(),
                flow_control: Default::default(),
                fiscal: None,
            },
        ],
        profiles_dir: None,
        scanning: Default::default(),
        retail: Default::default(),
        calls: Default::default(),
        telephony: demo_telephony(),
        wms: Default::default(),
        backup: None,
        metrics: Default::default(),
    }
}

/// The file under the demo's data directory that keeps its tokens, one `role=token` a line.
const TOKENS_FILE: &str = "demo-tokens.txt";

/// The demo's tokens: the ones it made last time (kept in the data directory, so the links a
/// person bookmarked keep working after a restart), or new ones, written down for next time.
fn demo_tokens(data: &std::path::Path) -> Result<DemoTokens, DemoError> {
    let path = data.join(TOKENS_FILE);
    let io = |source| DemoError::Data {
        path: path.clone(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let get = |role: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(role)?.strip_prefix('='))
                .map(str::trim)
                .filter(|t| t.len() >= 16 && t.chars().all(|c| c.is_ascii_alphanumeric()))
                .map(str::to_string)
        };
        if let (Some(cashier), Some(admin), Some(storekeeper), Some(operator)) =
            (get("cashier"), get("admin"), get("storekeeper"), get("operator"))
        {
            return Ok(DemoTokens {
                cashier,
                admin,
                storekeeper,
                operator,
            });
        }
    }
    let tokens = DemoTokens {
        cashier: random_token(),
        admin: random_token(),
        storekeeper: random_token(),
        operator: random_token(),
    };
    std::fs::create_dir_all(data).map_err(io)?;
    let text = format!(
        "cashier={}\nadmin={}\nstorekeeper={}\noperator={}\n",
        tokens.cashier, tokens.admin, tokens.storekeeper, tokens.operator
    );
    // Only the user who runs the demo reads its tokens.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    Ok(tokens)
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
    let tokens = demo_tokens(&data)?;
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

/// The steps of a demo call, in the order a PBX sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallStep {
    /// The call arrives at the shop's number.
    Start,
    /// It rings extension 101 (the demo operator): the caller card opens.
    Ring,
    /// The caller hangs up.
    End,
}

impl CallStep {
    fn event(self) -> &'static str {
        match self {
            CallStep::Start => "NOTIFY_START",
            CallStep::Ring => "NOTIFY_INTERNAL",
            CallStep::End => "NOTIFY_END",
        }
    }
}

/// The commands that ring the demo operator: a call from ООО Ромашка's number to extension
/// 101 — start, ring, end.
fn ring_commands(base: &str) -> Vec<String> {
    let call = format!("demo-{}", fastrand::u32(..));
    [CallStep::Start, CallStep::Ring, CallStep::End]
        .iter()
        .map(|step| {
            let step = clap::ValueEnum::to_possible_value(step)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            format!("cargo run --release -- demo-call {step} --call {call} --url {base}")
        })
        .collect()
}

/// Send one step of a demo call to the demo's Zadarma webhook, as Zadarma would: signed, and
/// stamped with the current time (the webhook refuses stale events, so a command printed at
/// start-up must not carry the start-up time). Returns the daemon's answer.
pub async fn call(base: &str, call: &str, step: CallStep) -> Result<String, DemoError> {
    use crate::devices::telephony::webhook::zadarma_signature;
    let call_start = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S").to_string();
    let (caller, did) = ("74951234567", "74950000000");
    let signature = zadarma_signature(&format!("{caller}{did}{call_start}"), DEMO_ZADARMA_SECRET);
    let mut form = vec![
        ("event", step.event()),
        ("call_start", call_start.as_str()),
        ("pbx_call_id", call),
        ("caller_id", caller),
        ("called_did", did),
    ];
    if step != CallStep::Start {
        form.push(("internal", DEMO_EXTENSION));
    }
    let url = format!("{}/api/v1/telephony/webhook/zadarma", base.trim_end_matches('/'));
    let failed = |e: reqwest::Error| DemoError::Call(format!("{url}: {e}"));
    let answer = reqwest::Client::new()
        .post(&url)
        .header("Signature", signature)
        .form(&form)
        .send()
        .await
        .map_err(failed)?;
    let status = answer.status();
    let body = answer.text().await.map_err(failed)?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(DemoError::Call(format!("{url} answered {status}: {body}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tokens_survive_a_restart_and_a_fresh_start_makes_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("demo");
        let first = demo_tokens(&data).unwrap();
        let again = demo_tokens(&data).unwrap();
        assert_eq!(
            (&first.cashier, &first.admin, &first.storekeeper, &first.operator),
            (&again.cashier, &again.admin, &again.storekeeper, &again.operator)
        );
        assert_ne!(first.cashier, first.admin);
        std::fs::remove_dir_all(&data).unwrap();
        assert_ne!(demo_tokens(&data).unwrap().cashier, first.cashier);
    }
}
