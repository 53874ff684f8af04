//! The TOML configuration: types, defaults, and validation whose errors name the key to fix.
//!
//! Parsing happens in two steps. `serde` reads the file into `Raw*` structs that mirror its
//! text (so unknown keys and wrong types are caught with line numbers), then [`Config::validate`]
//! turns them into typed values and checks cross-references (a lane's scanner must be a
//! scanner device, …). Relative paths are resolved against the config file's directory.

use crate::domain::barcode::{CodeMatch, EmbeddedLayout, EmbeddedValue, ScanRules};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret from the config (an API token, the CRM token). Its `Debug` and `Display` never
/// show the value, so it cannot leak into a log line by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Who a token belongs to decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Cashier,
    Storekeeper,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cashier => "cashier",
            Role::Storekeeper => "storekeeper",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub crm: Option<CrmConfig>,
    pub shop: ShopConfig,
    pub tokens: Vec<TokenConfig>,
    pub lanes: Vec<LaneConfig>,
    pub devices: Vec<DeviceConfig>,
    /// Extra device profiles (`*.toml`) that add to or override the built-in ones.
    pub profiles_dir: Option<PathBuf>,
    /// The shop's barcode conventions (`[scanning]`): scale labels, GS substitute, cell and
    /// loyalty-card prefixes.
    pub scanning: ScanRules,
    /// Caller cards (`[calls]`): how numbers are read and how long the CRM may take.
    pub calls: CallsConfig,
    /// Where call events come from (`[[telephony]]`): AMI, Caller-ID modems, cloud-PBX webhooks.
    pub telephony: Vec<TelephonyConfig>,
    /// The warehouse (`[wms]`): where received goods land.
    pub wms: WmsConfig,
    /// 1C's «Обмен с сайтом» (`[onec]`): storeterm as the site; `None` turns `/1c/exchange` off.
    pub onec: Option<OnecConfig>,
    /// The till's money rules (`[discounts]`, `[loyalty]`, `[payments]`).
    pub retail: RetailConfig,
    /// Scheduled backups (`[backup]`); none without the section.
    pub backup: Option<BackupConfig>,
    /// `/metrics` (`[metrics]`): a token for the scraper besides the admin tokens.
    pub metrics: MetricsConfig,
}

/// `[backup]`: where the daemon writes its snapshots, how often, how many it keeps.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    pub dir: PathBuf,
    /// `every = "24h"` (s, m, h, d).
    pub every: std::time::Duration,
    /// Newest backups kept; older ones are deleted after each new one.
    pub keep: usize,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    /// A bearer token that may read `/metrics` and nothing else.
    pub token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    dir: PathBuf,
    every: Option<String>,
    keep: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    token: Option<Secret>,
}

/// `"90s"`, `"15m"`, `"6h"`, `"1d"`.
pub fn parse_interval(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(n.checked_mul(seconds)?))
}

/// `[onec]`: what 1C logs in with and what the shop takes from its CommerceML files.
#[derive(Debug, Clone)]
pub struct OnecConfig {
    /// HTTP Basic login 1C sends (`login`).
    pub login: String,
    /// HTTP Basic password (`password`); never logged.
    pub password: Secret,
    /// The 1C price type sold at the till as `retail`: its name or its `Ид` (`price_type`).
    pub price_type: String,
    /// Whose stock is the shop's: a warehouse's name or `Ид`; the total when absent.
    pub warehouse: Option<String>,
    /// Largest chunk 1C sends per `mode=file` request, in bytes (`file_limit`).
    pub file_limit: u64,
    /// Whether 1C may zip its files (`zip`).
    pub zip: bool,
    /// VAT of goods 1C sends without `СтавкиНалогов` (`default_vat`: `none`, `0`, `10`, `20`, `22`).
    pub default_vat: String,
}

impl OnecConfig {
    /// `file_limit` unless set: 8 MiB, what most 1C releases propose themselves.
    pub const FILE_LIMIT: u64 = 8 * 1024 * 1024;
}

/// `[discounts]`, `[loyalty]` and `[payments]`: what a till may do with money.
#[derive(Debug, Clone, PartialEq)]
pub struct RetailConfig {
    /// The largest manual discount a cashier's token may give, in percent; an admin's token
    /// may give any (`[discounts] cashier_max_percent`, default 10).
    pub cashier_max_percent: rust_decimal::Decimal,
    /// The loyalty program (`[loyalty] accrual_percent`, `max_redeem_percent`); none by default.
    pub loyalty: crate::domain::loyalty::LoyaltyRules,
    /// Cash tendered above this asks the cashier to confirm (`[payments] confirm_cash_above`,
    /// default 100 000): a 50 000 typed for 500 is caught before the drawer opens.
    pub confirm_cash_above: rust_decimal::Decimal,
}

impl Default for RetailConfig {
    fn default() -> Self {
        RetailConfig {
            cashier_max_percent: rust_decimal::Decimal::TEN,
            loyalty: crate::domain::loyalty::LoyaltyRules::NONE,
            confirm_cash_above: rust_decimal::Decimal::from(100_000),
        }
    }
}

/// `[calls]`: settings of the operator's path.
#[derive(Debug, Clone)]
pub struct CallsConfig {
    /// How numbers written without `+` are read (`default_country`, `RU` unless set).
    pub default_country: crate::domain::phone::Country,
    /// How long a caller card waits for the CRM's live card before the update is dropped
    /// (`card_budget_ms`, default 300). The local card is shown before this wait starts.
    pub card_budget: std::time::Duration,
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            default_country: Default::default(),
            card_budget: std::time::Duration::from_millis(300),
        }
    }
}

/// `[wms]`: address storage on the storekeepers' handhelds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WmsConfig {
    /// The cell id received goods land in before putaway. Created as a cell of its own zone
    /// when the CRM does not send one with this id.
    #[serde(default = "default_receiving_cell")]
    pub receiving_cell: String,
}

impl Default for WmsConfig {
    fn default() -> Self {
        WmsConfig {
            receiving_cell: default_receiving_cell(),
        }
    }
}

/// A cloud PBX that posts call events to `/api/v1/telephony/webhook/{provider}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookProvider {
    Zadarma,
    Mango,
}

impl WebhookProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookProvider::Zadarma => "zadarma",
            WebhookProvider::Mango => "mango",
        }
    }
}

/// One `[[telephony]]` entry.
#[derive(Debug, Clone)]
pub enum TelephonyConfig {
    /// Asterisk Manager Interface over TCP.
    Ami {
        id: String,
        address: String,
        username: String,
        secret: Secret,
        /// Log in with the MD5 challenge instead of the plain secret (`auth = "md5"`).
        md5: bool,
        /// Seconds between keep-alive `Ping`s.
        ping_interval: u64,
    },
    /// A Caller-ID modem on a serial port, bound to one extension.
    Modem {
        id: String,
        path: PathBuf,
        baud: u32,
        extension: String,
    },
    /// A cloud PBX's webhooks.
    Webhook {
        provider: WebhookProvider,
        /// Zadarma: the API secret key; Mango: the API salt.
        secret: Secret,
        /// Mango: the VPBX API key (`vpbx_api_key`).
        key: Option<String>,
    },
}

fn default_receiving_cell() -> String {
    "RECEIVING".to_string()
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// The database's page cache in MiB (`cache_mb`): the main part of storeterm's memory.
    pub cache_mb: usize,
    /// Days closed receipts and shifts are kept (`keep_receipts_days`).
    pub keep_receipts_days: u32,
    /// Days finished print jobs are kept (`keep_print_jobs_days`).
    pub keep_print_jobs_days: u32,
    /// Days the answers to handheld operations are kept for their retries (`keep_wms_answers_days`).
    pub keep_wms_answers_days: u32,
    /// Days the warehouse movement log is kept (`keep_wms_log_days`).
    pub keep_wms_log_days: u32,
}

impl StoreConfig {
    /// A store at `path` with every other setting at its default.
    pub fn at(path: PathBuf) -> StoreConfig {
        StoreConfig {
            path,
            cache_mb: 64,
            keep_receipts_days: 180,
            keep_print_jobs_days: 30,
            keep_wms_answers_days: 7,
            keep_wms_log_days: 365,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CrmConfig {
    /// Base URL without a trailing slash.
    pub url: String,
    pub site: String,
    pub token: Secret,
    /// Seconds between change-feed pulls.
    pub pull_interval: u64,
    /// Changes asked for per page.
    pub page_limit: u32,
    /// Seconds before a CRM request counts as timed out.
    pub timeout: u64,
    /// Longest wait, in seconds, between retries of a document the CRM did not take.
    pub retry_cap: u64,
}

/// Shop details printed on receipts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    #[serde(default = "default_shop_name")]
    pub name: String,
    #[serde(default)]
    pub address: String,
    /// Taxpayer number (ИНН), printed when set.
    #[serde(default)]
    pub inn: String,
    /// Lines printed under the shop details.
    #[serde(default)]
    pub header: Vec<String>,
    /// Lines printed at the end of a receipt.
    #[serde(default = "default_footer")]
    pub footer: Vec<String>,
    /// IANA time zone for times on receipts; the system's zone when absent.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: default_shop_name(),
            address: String::new(),
            inn: String::new(),
            header: Vec::new(),
            footer: default_footer(),
            timezone: None,
        }
    }
}

fn default_shop_name() -> String {
    "Магазин".to_string()
}

fn default_footer() -> Vec<String> {
    vec!["Спасибо за покупку!".to_string()]
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub token: Secret,
    pub role: Role,
    pub name: String,
    /// An operator's phone extensions (`extension = "101"` or `["101", "102"]`): whose ringing
    /// this token's operator screen shows.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LaneConfig {
    pub id: String,
    pub scanner: Option<String>,
    pub printer: Option<String>,
    /// The fiscal register (ККТ) that registers this lane's sales (`fiscal = "kkt-1"`); without
    /// one the lane prints non-fiscal receipts.
    pub fiscal: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Scanner,
    Printer,
    /// A fiscal register (ККТ), reached through its driver (`driver = "atol-web"`).
    Fiscal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A serial port: RS-232, USB-COM (`/dev/ttyACM*`, `/dev/ttyUSB*`).
    Serial { path: PathBuf, baud: u32 },
    /// A raw TCP socket, e.g. a network printer on port 9100.
    Tcp { address: String },
    /// A device simulated inside storeterm (the demo's printer), shown on `/admin`.
    Virtual,
    /// A USB HID POS scanner (usage page 0x8C), found by USB ids and, when several of one
    /// model are plugged in, its serial number — never by enumeration order.
    Hid { vid: u16, pid: u16, serial: Option<String> },
    /// A keyboard-wedge scanner read through evdev with an exclusive grab, by its stable
    /// path (`/dev/input/by-id/usb-…-event-kbd`).
    Evdev { path: PathBuf },
    /// A USB printer through the kernel's printer-class driver: `/dev/usb/lpN` (or the stable
    /// udev symlink). Write-only here: status comes back on serial, TCP and `usb` links.
    Usblp { path: PathBuf },
    /// A USB printer through libusb: its printer-class interface claimed by VID:PID, bytes on
    /// bulk OUT, status replies on bulk IN when the printer is bidirectional.
    Usb { vid: u16, pid: u16 },
}

/// Serial flow control: how a slow printer tells storeterm to pause while its buffer is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    #[default]
    None,
    /// Hardware handshake on the RTS/CTS lines (most RS-232 receipt printers).
    RtsCts,
    /// Software handshake: the printer sends XOFF (0x13) and XON (0x11).
    XonXoff,
}

/// What ends one scan in a scanner's output (a setting of the scanner, "suffix").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suffix {
    /// Carriage return (Enter on a keyboard wedge).
    Cr,
    Lf,
    /// CR LF; either byte ends a scan and the empty scan between them is dropped.
    Crlf,
    Tab,
    /// Nothing: a pause of `gap_ms` ends a scan.
    None,
}

/// How a scanner frames its scans. Unset keys come from the device's profile, then from the
/// defaults (CR or LF ends a scan, no prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framing {
    /// Text the scanner sends before every scan (e.g. STX), removed.
    pub prefix: Option<String>,
    pub suffix: Option<Suffix>,
    /// A pause longer than this (milliseconds) ends a scan; needed with `suffix = "none"`.
    pub gap_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub id: String,
    pub kind: DeviceKind,
    pub transport: Transport,
    /// Device profile id: a file name in `devices/` without `.toml`.
    pub profile: Option<String>,
    /// Scanners: how scans are framed.
    pub framing: Framing,
    /// Serial printers: flow control (`flow_control = "rts_cts" | "xon_xoff" | "none"`).
    pub flow_control: FlowControl,
    /// Fiscal registers: the driver and the shop's taxation system.
    pub fiscal: Option<FiscalDeviceConfig>,
}

/// How storeterm reaches a fiscal register and what it tells it about the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalDeviceConfig {
    pub driver: FiscalDriver,
    /// The shop's taxation system (`taxation = "osn" | "usn_income" | "usn_income_outcome" |
    /// "esn" | "patent"`, default `osn`): it goes on every receipt and must match the
    /// register's registration.
    pub taxation: Taxation,
    /// The cashiers' ИНН printed on receipts (`operator_inn`, 12 digits), when the shop wants it.
    pub operator_inn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiscalDriver {
    /// ATOL's driver 10 web server (ДТО 10 «веб-сервер»), `host:port`.
    AtolWeb { address: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taxation {
    #[default]
    Osn,
    UsnIncome,
    UsnIncomeOutcome,
    Esn,
    Patent,
}

/// The default printer profile when a printer device names none.
pub const DEFAULT_PRINTER_PROFILE: &str = "generic-80mm";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    http: RawHttp,
    store: RawStore,
    crm: Option<RawCrm>,
    #[serde(default)]
    shop: ShopConfig,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    lanes: Vec<RawLane>,
    #[serde(default)]
    devices: Vec<RawDevice>,
    profiles_dir: Option<PathBuf>,
    #[serde(default)]
    scanning: RawScanning,
    #[serde(default)]
    calls: RawCalls,
    #[serde(default)]
    telephony: Vec<RawTelephony>,
    #[serde(default)]
    wms: WmsConfig,
    onec: Option<RawOnec>,
    #[serde(default)]
    discounts: RawDiscounts,
    #[serde(default)]
    loyalty: RawLoyalty,
    #[serde(default)]
    payments: RawPayments,
    backup: Option<RawBackup>,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOnec {
    login: String,
    password: Secret,
    price_type: Option<String>,
    warehouse: Option<String>,
    file_limit: Option<u64>,
    zip: Option<bool>,
    default_vat: Option<String>,
}

/// Percents and amounts are TOML strings (`"10"`, `"2.5"`) or whole numbers, never floats.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDecimal {
    Text(String),
    Whole(u64),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDiscounts {
    cashier_max_percent: Option<RawDecimal>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLoyalty {
    accrual_percent: Option<RawDecimal>,
    max_redeem_percent: Option<RawDecimal>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPayments {
    confirm_cash_above: Option<RawDecimal>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCalls {
    default_country: Option<String>,
    card_budget_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelephony {
    kind: String,
    id: Option<String>,
    address: Option<String>,
    username: Option<String>,
    secret: Option<Secret>,
    auth: Option<String>,
    ping_interval: Option<u64>,
    path: Option<PathBuf>,
    baud: Option<u32>,
    extension: Option<String>,
    provider: Option<WebhookProvider>,
    key: Option<String>,
}

/// `extension = "101"` or `extension = ["101", "102"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawExtensions {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScanning {
    gs_substitute: Option<String>,
    layout_recovery: Option<bool>,
    labels: Option<Vec<RawLabel>>,
    #[serde(default)]
    cell_prefixes: Vec<String>,
    #[serde(default)]
    cell_ranges: Vec<RawRange>,
    #[serde(default)]
    loyalty_prefixes: Vec<String>,
    #[serde(default)]
    loyalty_ranges: Vec<RawRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabel {
    prefixes: Vec<String>,
    #[serde(default = "default_plu_digits")]
    plu_digits: usize,
    #[serde(default = "default_label_value")]
    value: EmbeddedValue,
}

fn default_plu_digits() -> usize {
    5
}

fn default_label_value() -> EmbeddedValue {
    EmbeddedValue::Weight
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    from: String,
    to: String,
}

/// A USB id written as a number (`0x0c2e`) or as hex text (`"0c2e"`, as lsusb shows it).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawUsbId {
    Number(u16),
    Text(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: PathBuf,
    cache_mb: Option<usize>,
    keep_receipts_days: Option<u32>,
    keep_print_jobs_days: Option<u32>,
    keep_wms_answers_days: Option<u32>,
    keep_wms_log_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrm {
    url: String,
    site: String,
    token: Secret,
    pull_interval: Option<u64>,
    page_limit: Option<u32>,
    timeout: Option<u64>,
    retry_cap: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    token: Secret,
    role: Role,
    name: String,
    extension: Option<RawExtensions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLane {
    id: String,
    scanner: Option<String>,
    printer: Option<String>,
    fiscal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: String,
    kind: DeviceKind,
    /// Every kind but `fiscal` (which names a `driver` instead).
    transport: Option<String>,
    driver: Option<String>,
    taxation: Option<Taxation>,
    operator_inn: Option<String>,
    path: Option<PathBuf>,
    baud: Option<u32>,
    address: Option<String>,
    profile: Option<String>,
    vid: Option<RawUsbId>,
    pid: Option<RawUsbId>,
    serial: Option<String>,
    prefix: Option<String>,
    suffix: Option<Suffix>,
    gap_ms: Option<u64>,
    flow_control: Option<FlowControl>,
}

/// Baud rate of USB-COM scanners out of the box (Honeywell, Zebra, Mertech default to 9600;
/// CDC-ACM ignores it anyway).
const DEFAULT_BAUD: u32 = 9600;

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, path, base)
    }

    /// Parse config text. `origin` names it in errors; relative paths are resolved from `base`.
    pub fn parse(text: &str, origin: &Path, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        Validator { origin, base }.config(raw)
    }

    pub fn device(&self, id: &str) -> Option<&DeviceConfig> {
        self.devices.iter().find(|d| d.id == id)
    }
}

struct Validator<'a> {
    origin: &'a Path,
    base: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.origin.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn resolve(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() { path } else { self.base.join(path) }
    }

    /// A number that must lie within `min..=max`.
    fn bounded<T: PartialOrd + std::fmt::Display + Copy>(&self, key: &str, value: T, min: T, max: T) -> Result<T, ConfigError> {
        if value < min || value > max {
            return Err(self.invalid(key, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = raw.http.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| self.invalid("http.listen", format!("\"{listen}\" is not an address like 127.0.0.1:8080")))?;
        let crm = raw.crm.map(|c| self.crm(c)).transpose()?;
        if let Some(tz) = &raw.shop.timezone {
            jiff::tz::TimeZone::get(tz).map_err(|_| self.invalid("shop.timezone", format!("unknown time zone \"{tz}\"")))?;
        }
        let tokens = self.tokens(raw.tokens)?;
        let scanning = self.scanning(raw.scanning)?;
        let devices = self.devices(raw.devices)?;
        let lanes = self.lanes(raw.lanes, &devices)?;
        let calls = self.calls(raw.calls)?;
        let telephony = self.telephony(raw.telephony)?;
        let onec = raw.onec.map(|o| self.onec(o)).transpose()?;
        Ok(Config {
            http: HttpConfig { listen },
            store: StoreConfig {
                path: self.resolve(raw.store.path),
                cache_mb: self.bounded("store.cache_mb", raw.store.cache_mb.unwrap_or(64), 8, 8192)?,
                keep_receipts_days: self.bounded("store.keep_receipts_days", raw.store.keep_receipts_days.unwrap_or(180), 1, 3650)?,
                keep_print_jobs_days: self.bounded("store.keep_print_jobs_days", raw.store.keep_print_jobs_days.unwrap_or(30), 1, 3650)?,
                keep_wms_answers_days: self.bounded("store.keep_wms_answers_days", raw.store.keep_wms_answers_days.unwrap_or(7), 1, 365)?,
                keep_wms_log_days: self.bounded("store.keep_wms_log_days", raw.store.keep_wms_log_days.unwrap_or(365), 1, 36500)?,
            },
            crm,
            shop: raw.shop,
            tokens,
            lanes,
            devices,
            profiles_dir: raw.profiles_dir.map(|p| self.resolve(p)),
            scanning,
            calls,
            telephony,
            wms: self.wms(raw.wms)?,
            onec,
            retail: self.retail(raw.discounts, raw.loyalty, raw.payments)?,
            backup: raw.backup.map(|b| self.backup(b)).transpose()?,
            metrics: self.metrics(raw.metrics)?,
        })
    }

    fn backup(&self, raw: RawBackup) -> Result<BackupConfig, ConfigError> {
        let every = match raw.every.as_deref() {
            None => std::time::Duration::from_secs(86400),
            Some(text) => parse_interval(text).ok_or_else(|| {
                self.invalid(
                    "backup.every",
                    format!("\"{text}\" is not an interval like \"30m\", \"6h\" or \"1d\""),
                )
            })?,
        };
        if every < std::time::Duration::from_secs(60) || every > std::time::Duration::from_secs(30 * 86400) {
            return Err(self.invalid("backup.every", "must lie between 1m and 30d"));
        }
        Ok(BackupConfig {
            dir: self.resolve(raw.dir),
            every,
            keep: self.bounded("backup.keep", raw.keep.unwrap_or(7), 1, 1000)?,
        })
    }

    fn metrics(&self, raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        if let Some(token) = &raw.token
            && token.expose().chars().count() < 8
        {
            return Err(self.invalid("metrics.token", "a token must be at least 8 characters"));
        }
        Ok(MetricsConfig { token: raw.token })
    }

    fn onec(&self, raw: RawOnec) -> Result<OnecConfig, ConfigError> {
        let login = raw.login.trim().to_string();
        if login.is_empty() || login.contains(':') || login.chars().any(char::is_control) {
            return Err(self.invalid("onec.login", "give the login 1C uses (no ':' and no control characters)"));
        }
        if raw.password.expose().len() < 8 {
            return Err(self.invalid("onec.password", "use at least 8 characters (the box is reachable from the LAN)"));
        }
        let price_type = raw.price_type.unwrap_or_else(|| "Розничная".to_string()).trim().to_string();
        if price_type.is_empty() {
            return Err(self.invalid("onec.price_type", "give the 1C price type's name or Ид"));
        }
        let warehouse = raw.warehouse.map(|w| w.trim().to_string()).filter(|w| !w.is_empty());
        let file_limit = self.bounded(
            "onec.file_limit",
            raw.file_limit.unwrap_or(OnecConfig::FILE_LIMIT),
            64 * 1024,
            256 * 1024 * 1024,
        )?;
        let default_vat = raw.default_vat.unwrap_or_else(|| "none".to_string());
        if !["none", "0", "5", "7", "10", "20", "22"].contains(&default_vat.as_str()) {
            return Err(self.invalid(
                "onec.default_vat",
                format!("\"{default_vat}\" is not one of none, 0, 5, 7, 10, 20, 22"),
            ));
        }
        Ok(OnecConfig {
            login,
            password: raw.password,
            price_type,
            warehouse,
            file_limit,
            zip: raw.zip.unwrap_or(true),
            default_vat,
        })
    }

    fn decimal(
        &self,
        key: &str,
        raw: Option<RawDecimal>,
        default: rust_decimal::Decimal,
        max: rust_decimal::Decimal,
    ) -> Result<rust_decimal::Decimal, ConfigError> {
        let value = match raw {
            None => return Ok(default),
            Some(RawDecimal::Whole(n)) => rust_decimal::Decimal::from(n),
            // `parse_amount` refuses zero (no payment is zero); a setting may be.
            Some(RawDecimal::Text(text)) if !text.is_empty() && text.trim().chars().all(|c| matches!(c, '0' | '.' | ',')) => {
                rust_decimal::Decimal::ZERO
            }
            Some(RawDecimal::Text(text)) => crate::domain::money::parse_amount(&text)
                .map_err(|_| self.invalid(key, format!("\"{text}\" is not an amount like \"10\" or \"2.50\"")))?,
        };
        self.bounded(key, value, rust_decimal::Decimal::ZERO, max)
    }

    fn retail(&self, discounts: RawDiscounts, loyalty: RawLoyalty, payments: RawPayments) -> Result<RetailConfig, ConfigError> {
        let hundred = rust_decimal::Decimal::ONE_HUNDRED;
        let zero = rust_decimal::Decimal::ZERO;
        let defaults = RetailConfig::default();
        let accrual = self.decimal("loyalty.accrual_percent", loyalty.accrual_percent, zero, hundred)?;
        let redeem = self.decimal("loyalty.max_redeem_percent", loyalty.max_redeem_percent, zero, hundred)?;
        Ok(RetailConfig {
            cashier_max_percent: self.decimal(
                "discounts.cashier_max_percent",
                discounts.cashier_max_percent,
                defaults.cashier_max_percent,
                hundred,
            )?,
            loyalty: crate::domain::loyalty::LoyaltyRules::new(accrual, redeem).map_err(|e| self.invalid("loyalty", e.to_string()))?,
            confirm_cash_above: self.decimal(
                "payments.confirm_cash_above",
                payments.confirm_cash_above,
                defaults.confirm_cash_above,
                crate::domain::money::MAX_MONEY,
            )?,
        })
    }

    fn wms(&self, raw: WmsConfig) -> Result<WmsConfig, ConfigError> {
        let cell = raw.receiving_cell.trim();
        if cell.is_empty() || cell.len() > 64 || cell.chars().any(char::is_control) {
            return Err(self.invalid("wms.receiving_cell", "give a cell id of 1 to 64 printable characters"));
        }
        Ok(WmsConfig {
            receiving_cell: cell.to_string(),
        })
    }

    fn calls(&self, raw: RawCalls) -> Result<CallsConfig, ConfigError> {
        let mut calls = CallsConfig::default();
        if let Some(c) = raw.default_country {
            calls.default_country = crate::domain::phone::Country::parse(&c).ok_or_else(|| {
                self.invalid(
                    "calls.default_country",
                    format!("\"{c}\" is not a country (RU, BY, KZ, UA) or a calling code (49, +49)"),
                )
            })?;
        }
        match raw.card_budget_ms {
            Some(0) => return Err(self.invalid("calls.card_budget_ms", "must be at least 1")),
            Some(ms) => calls.card_budget = std::time::Duration::from_millis(ms),
            None => {}
        }
        Ok(calls)
    }

    fn telephony(&self, raw: Vec<RawTelephony>) -> Result<Vec<TelephonyConfig>, ConfigError> {
        let mut ids = HashSet::new();
        let mut providers = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, t)| {
                let key = |field: &str| format!("telephony[{i}].{field}");
                let need = |field: &str, what: &str| self.invalid(key(field), format!("a {} entry needs `{field}` ({what})", t.kind));
                let mut id = |default: &str| -> Result<String, ConfigError> {
                    let id = t.id.clone().unwrap_or_else(|| default.to_string());
                    if id.is_empty() || !id.chars().all(is_id_char) {
                        return Err(self.invalid(key("id"), "use letters, digits, '-' and '_' only"));
                    }
                    if !ids.insert(id.clone()) {
                        return Err(self.invalid(key("id"), format!("\"{id}\" is used twice; give each entry its own `id`")));
                    }
                    Ok(id)
                };
                match t.kind.as_str() {
                    "ami" => {
                        let id = id(&format!("ami-{i}"))?;
                        let address = t
                            .address
                            .clone()
                            .ok_or_else(|| need("address", "host:port, e.g. 192.168.1.10:5038"))?;
                        if !address.contains(':') {
                            return Err(self.invalid(key("address"), format!("\"{address}\" needs a port, e.g. {address}:5038")));
                        }
                        let username = t.username.clone().ok_or_else(|| need("username", "the [user] in manager.conf"))?;
                        let secret = t
                            .secret
                            .clone()
                            .ok_or_else(|| need("secret", "the user's secret in manager.conf"))?;
                        let md5 = match t.auth.as_deref() {
                            None | Some("plain") => false,
                            Some("md5") => true,
                            Some(other) => return Err(self.invalid(key("auth"), format!("\"{other}\" is not plain or md5"))),
                        };
                        if t.ping_interval == Some(0) {
                            return Err(self.invalid(key("ping_interval"), "must be at least 1"));
                        }
                        Ok(TelephonyConfig::Ami {
                            id,
                            address,
                            username,
                            secret,
                            md5,
                            ping_interval: t.ping_interval.unwrap_or(20),
                        })
                    }
                    "modem" => {
                        let id = id(&format!("modem-{i}"))?;
                        let path = t.path.clone().ok_or_else(|| need("path", "the serial port, e.g. /dev/ttyACM0"))?;
                        let extension = t
                            .extension
                            .clone()
                            .ok_or_else(|| need("extension", "the phone line's extension, e.g. \"101\""))?;
                        if extension.is_empty() {
                            return Err(self.invalid(key("extension"), "must not be empty"));
                        }
                        Ok(TelephonyConfig::Modem {
                            id,
                            path: self.resolve(path),
                            baud: t.baud.unwrap_or(DEFAULT_BAUD),
                            extension,
                        })
                    }
                    "webhook" => {
                        let provider = t.provider.ok_or_else(|| need("provider", "zadarma or mango"))?;
                        if !providers.insert(provider) {
                            return Err(self.invalid(key("provider"), format!("{} is configured twice", provider.as_str())));
                        }
                        let secret = t.secret.clone().ok_or_else(|| need("secret", "the provider's API secret / salt"))?;
                        if secret.expose().is_empty() {
                            return Err(self.invalid(key("secret"), "must not be empty"));
                        }
                        if provider == WebhookProvider::Mango && t.key.is_none() {
                            return Err(need("key", "Mango Office's vpbx_api_key"));
                        }
                        Ok(TelephonyConfig::Webhook {
                            provider,
                            secret,
                            key: t.key.clone(),
                        })
                    }
                    other => Err(self.invalid(key("kind"), format!("unknown kind \"{other}\" (ami, modem, webhook)"))),
                }
            })
            .collect()
    }

    fn scanning(&self, raw: RawScanning) -> Result<ScanRules, ConfigError> {
        let defaults = ScanRules::default();
        let gs_substitute = match raw.gs_substitute.as_deref() {
            None => None,
            Some(text) => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_ascii_alphanumeric() => Some(c),
                    _ => {
                        return Err(self.invalid(
                            "scanning.gs_substitute",
                            format!("\"{text}\" must be one character that is not a letter or digit (e.g. \"~\")"),
                        ));
                    }
                }
            }
        };
        let embedded = match raw.labels {
            None => defaults.embedded,
            Some(labels) => labels
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let layout = EmbeddedLayout {
                        prefixes: l.prefixes,
                        plu_digits: l.plu_digits,
                        value: l.value,
                    };
                    layout.validate().map_err(|m| self.invalid(format!("scanning.labels[{i}]"), m))?;
                    Ok(layout)
                })
                .collect::<Result<_, _>>()?,
        };
        let matches = |key: &str, prefixes: Vec<String>, ranges: Vec<RawRange>| -> Result<Vec<CodeMatch>, ConfigError> {
            let mut out: Vec<CodeMatch> = Vec::new();
            for (i, p) in prefixes.into_iter().enumerate() {
                if p.is_empty() {
                    return Err(self.invalid(format!("scanning.{key}_prefixes[{i}]"), "must not be empty"));
                }
                out.push(CodeMatch::Prefix(p));
            }
            for (i, r) in ranges.into_iter().enumerate() {
                if r.from.is_empty() || r.from.len() != r.to.len() || r.from > r.to {
                    return Err(self.invalid(
                        format!("scanning.{key}_ranges[{i}]"),
                        "`from` and `to` must have the same length and from ≤ to",
                    ));
                }
                out.push(CodeMatch::Range { from: r.from, to: r.to });
            }
            Ok(out)
        };
        Ok(ScanRules {
            gs_substitute,
            layout_recovery: raw.layout_recovery.unwrap_or(defaults.layout_recovery),
            embedded,
            cells: matches("cell", raw.cell_prefixes, raw.cell_ranges)?,
            loyalty: matches("loyalty", raw.loyalty_prefixes, raw.loyalty_ranges)?,
        })
    }

    fn usb_id(&self, key: String, raw: Option<RawUsbId>) -> Result<u16, ConfigError> {
        match raw {
            None => Err(self.invalid(
                key,
                "a hid or usb device needs `vid` and `pid` (as lsusb shows them, e.g. \"0c2e\")",
            )),
            Some(RawUsbId::Number(n)) => Ok(n),
            Some(RawUsbId::Text(t)) => {
                let digits = t.trim_start_matches("0x");
                u16::from_str_radix(digits, 16)
                    .ok()
                    .filter(|_| !digits.is_empty() && digits.len() <= 4)
                    .ok_or_else(|| self.invalid(key, format!("\"{t}\" is not a USB id (four hex digits, e.g. \"0c2e\")")))
            }
        }
    }

    fn crm(&self, raw: RawCrm) -> Result<CrmConfig, ConfigError> {
        let url = raw.url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
            return Err(self.invalid("crm.url", format!("\"{}\" is not an http:// or https:// URL", raw.url)));
        }
        if raw.site.is_empty() || !raw.site.chars().all(is_id_char) {
            return Err(self.invalid("crm.site", "use letters, digits, '-' and '_' only"));
        }
        if raw.token.expose().is_empty() {
            return Err(self.invalid("crm.token", "must not be empty"));
        }
        let positive = |key: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(self.invalid(key, "must be at least 1")),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        Ok(CrmConfig {
            url,
            site: raw.site,
            token: raw.token,
            pull_interval: positive("crm.pull_interval", raw.pull_interval, 30)?,
            page_limit: positive("crm.page_limit", raw.page_limit.map(u64::from), 500)? as u32,
            timeout: positive("crm.timeout", raw.timeout, 10)?,
            retry_cap: positive("crm.retry_cap", raw.retry_cap, 60)?,
        })
    }

    fn tokens(&self, raw: Vec<RawToken>) -> Result<Vec<TokenConfig>, ConfigError> {
        let mut seen = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, t)| {
                let key = format!("tokens[{i}].token");
                if t.token.expose().chars().count() < 8 {
                    return Err(self.invalid(key, "a token must be at least 8 characters"));
                }
                if !seen.insert(t.token.expose().to_string()) {
                    return Err(self.invalid(key, "the same token is given twice"));
                }
                let extensions = match t.extension {
                    None => Vec::new(),
                    Some(RawExtensions::One(e)) => vec![e],
                    Some(RawExtensions::Many(list)) => list,
                };
                if extensions.iter().any(|e| e.is_empty()) {
                    return Err(self.invalid(format!("tokens[{i}].extension"), "an extension must not be empty"));
                }
                Ok(TokenConfig {
                    token: t.token,
                    role: t.role,
                    name: t.name,
                    extensions,
                })
            })
            .collect()
    }

    fn devices(&self, raw: Vec<RawDevice>) -> Result<Vec<DeviceConfig>, ConfigError> {
        let mut seen = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, d)| {
                let key = |field: &str| format!("devices[{i}].{field}");
                if d.id.is_empty() || !d.id.chars().all(is_id_char) {
                    return Err(self.invalid(key("id"), "use letters, digits, '-' and '_' only"));
                }
                if !seen.insert(d.id.clone()) {
                    return Err(self.invalid(key("id"), format!("device \"{}\" is defined twice", d.id)));
                }
                if d.kind == DeviceKind::Fiscal {
                    return self.fiscal_device(i, d);
                }
                for (field, given) in [
                    ("driver", d.driver.is_some()),
                    ("taxation", d.taxation.is_some()),
                    ("operator_inn", d.operator_inn.is_some()),
                ] {
                    if given {
                        return Err(self.invalid(key(field), "only a fiscal register (kind = \"fiscal\") has this setting"));
                    }
                }
                let Some(transport_name) = d.transport.clone() else {
                    return Err(self.invalid(
                        key("transport"),
                        "a scanner or printer needs `transport` (serial, tcp, virtual, hid, evdev, usblp, usb)",
                    ));
                };
                let transport = match transport_name.as_str() {
                    "serial" => Transport::Serial {
                        path: d
                            .path
                            .ok_or_else(|| self.invalid(key("path"), "a serial device needs `path` (e.g. /dev/ttyACM0)"))?,
                        baud: d.baud.unwrap_or(DEFAULT_BAUD),
                    },
                    "tcp" => Transport::Tcp {
                        address: d
                            .address
                            .ok_or_else(|| self.invalid(key("address"), "a tcp device needs `address` (e.g. 192.168.1.50:9100)"))?,
                    },
                    "virtual" => Transport::Virtual,
                    "hid" => Transport::Hid {
                        vid: self.usb_id(key("vid"), d.vid)?,
                        pid: self.usb_id(key("pid"), d.pid)?,
                        serial: d.serial,
                    },
                    "evdev" => Transport::Evdev {
                        path: d.path.ok_or_else(|| {
                            self.invalid(key("path"), "an evdev device needs `path` (e.g. /dev/input/by-id/usb-…-event-kbd)")
                        })?,
                    },
                    "usb" => Transport::Usb {
                        vid: self.usb_id(key("vid"), d.vid)?,
                        pid: self.usb_id(key("pid"), d.pid)?,
                    },
                    "usblp" => Transport::Usblp {
                        path: d
                            .path
                            .ok_or_else(|| self.invalid(key("path"), "a usblp printer needs `path` (e.g. /dev/usb/lp0)"))?,
                    },
                    other => {
                        return Err(self.invalid(
                            key("transport"),
                            format!("unknown transport \"{other}\" (serial, tcp, virtual, hid, evdev, usblp, usb)"),
                        ));
                    }
                };
                if d.kind != DeviceKind::Printer && matches!(transport, Transport::Usblp { .. } | Transport::Usb { .. }) {
                    return Err(self.invalid(key("transport"), format!("\"{transport_name}\" is for printers only")));
                }
                if d.flow_control.is_some() && !matches!(transport, Transport::Serial { .. }) {
                    return Err(self.invalid(key("flow_control"), "only a serial device has flow control"));
                }
                if d.kind != DeviceKind::Scanner && matches!(transport, Transport::Hid { .. } | Transport::Evdev { .. }) {
                    return Err(self.invalid(key("transport"), format!("\"{transport_name}\" is for scanners only")));
                }
                if d.gap_ms == Some(0) {
                    return Err(self.invalid(key("gap_ms"), "must be at least 1"));
                }
                let framing = Framing {
                    prefix: d.prefix,
                    suffix: d.suffix,
                    gap_ms: d.gap_ms,
                };
                let profile = match (d.kind, d.profile) {
                    (DeviceKind::Printer, None) => Some(DEFAULT_PRINTER_PROFILE.to_string()),
                    (_, p) => p,
                };
                Ok(DeviceConfig {
                    id: d.id,
                    kind: d.kind,
                    transport,
                    profile,
                    framing,
                    flow_control: d.flow_control.unwrap_or_default(),
                    fiscal: None,
                })
            })
            .collect()
    }

    /// A `kind = "fiscal"` entry: a driver and its address instead of a transport.
    fn fiscal_device(&self, i: usize, d: RawDevice) -> Result<DeviceConfig, ConfigError> {
        let key = |field: &str| format!("devices[{i}].{field}");
        for (field, given) in [
            ("transport", d.transport.is_some()),
            ("path", d.path.is_some()),
            ("baud", d.baud.is_some()),
            ("profile", d.profile.is_some()),
            ("vid", d.vid.is_some()),
            ("pid", d.pid.is_some()),
            ("serial", d.serial.is_some()),
            ("prefix", d.prefix.is_some()),
            ("suffix", d.suffix.is_some()),
            ("gap_ms", d.gap_ms.is_some()),
            ("flow_control", d.flow_control.is_some()),
        ] {
            if given {
                return Err(self.invalid(
                    key(field),
                    "a fiscal register is reached through its driver: give `driver` and `address`, not this",
                ));
            }
        }
        let driver = match d.driver.as_deref() {
            Some("atol-web") => {
                let address = d.address.unwrap_or_else(|| "127.0.0.1:16732".to_string());
                let port_ok = address
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
                if !port_ok || address.contains('/') {
                    return Err(self.invalid(
                        key("address"),
                        format!("\"{address}\" is not host:port of the ATOL web server (e.g. 127.0.0.1:16732)"),
                    ));
                }
                FiscalDriver::AtolWeb { address }
            }
            Some(other) => return Err(self.invalid(key("driver"), format!("unknown fiscal driver \"{other}\" (atol-web)"))),
            None => return Err(self.invalid(key("driver"), "a fiscal register needs `driver` (atol-web)")),
        };
        if let Some(inn) = &d.operator_inn {
            if inn.len() != 12 || !inn.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.invalid(key("operator_inn"), "a person's ИНН is 12 digits"));
            }
        }
        Ok(DeviceConfig {
            id: d.id,
            kind: DeviceKind::Fiscal,
            transport: Transport::Virtual,
            profile: None,
            framing: Framing::default(),
            flow_control: FlowControl::None,
            fiscal: Some(FiscalDeviceConfig {
                driver,
                taxation: d.taxation.unwrap_or_default(),
                operator_inn: d.operator_inn,
            }),
        })
    }

    fn lanes(&self, raw: Vec<RawLane>, devices: &[DeviceConfig]) -> Result<Vec<LaneConfig>, ConfigError> {
        let mut seen = HashSet::new();
        let mut bound = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, l)| {
                let key = |field: &str| format!("lanes[{i}].{field}");
                if l.id.is_empty() || !l.id.chars().all(is_id_char) {
                    return Err(self.invalid(key("id"), "use letters, digits, '-' and '_' only"));
                }
                if !seen.insert(l.id.clone()) {
                    return Err(self.invalid(key("id"), format!("lane \"{}\" is defined twice", l.id)));
                }
                for (field, id, kind) in [
                    ("scanner", &l.scanner, DeviceKind::Scanner),
                    ("printer", &l.printer, DeviceKind::Printer),
                    ("fiscal", &l.fiscal, DeviceKind::Fiscal),
                ] {
                    let Some(id) = id else { continue };
                    let device = devices
                        .iter()
                        .find(|d| &d.id == id)
                        .ok_or_else(|| self.invalid(key(field), format!("no device with id \"{id}\"")))?;
                    if device.kind != kind {
                        let what = match kind {
                            DeviceKind::Fiscal => "fiscal register (kind = \"fiscal\")",
                            _ => field,
                        };
                        return Err(self.invalid(key(field), format!("device \"{id}\" is not a {what}")));
                    }
                    // A register numbers its documents in one sequence and recovery after a
                    // crash reads its last document: two lanes on one register would take each
                    // other's documents for their own.
                    if kind == DeviceKind::Fiscal && !bound.insert(format!("fiscal:{id}")) {
                        return Err(self.invalid(
                            key(field),
                            format!("fiscal register \"{id}\" is already bound to another lane; a register serves exactly one lane"),
                        ));
                    }
                    if kind == DeviceKind::Scanner && !bound.insert(id.clone()) {
                        return Err(self.invalid(
                            key(field),
                            format!("scanner \"{id}\" is already bound to another lane; a scan must go to exactly one place"),
                        ));
                    }
                }
                Ok(LaneConfig {
                    id: l.id,
                    scanner: l.scanner,
                    printer: l.printer,
                    fiscal: l.fiscal,
                })
            })
            .collect()
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"
[http]
listen = "127.0.0.1:8080"
[store]
path = "data"
[crm]
url = "http://127.0.0.1:9000"
site = "shop-1"
token = "secret"
pull_interval = 30
[[tokens]]
token = "cashier-token-1"
role = "cashier"
name = "Анна"
[[lanes]]
id = "1"
scanner = "scanner-1"
printer = "printer-1"
[[devices]]
id = "scanner-1"
kind = "scanner"
transport = "serial"
path = "/dev/ttyACM0"
baud = 9600
[[devices]]
id = "printer-1"
kind = "printer"
transport = "tcp"
address = "127.0.0.1:9100"
profile = "generic-80mm"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("storeterm.toml"), Path::new("/etc/storeterm"))
    }

    #[test]
    fn a_fiscal_register_bound_to_a_lane() {
        let kkt = "[[devices]]\nid = \"kkt-1\"\nkind = \"fiscal\"\ndriver = \"atol-web\"\naddress = \"127.0.0.1:16732\"\n";
        let text = format!(
            "{}{kkt}",
            CONTRACT.replace("printer = \"printer-1\"", "printer = \"printer-1\"\nfiscal = \"kkt-1\"")
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.lanes[0].fiscal.as_deref(), Some("kkt-1"));
        let device = config.device("kkt-1").unwrap();
        assert_eq!(device.kind, DeviceKind::Fiscal);
        assert_eq!(
            device.fiscal,
            Some(FiscalDeviceConfig {
                driver: FiscalDriver::AtolWeb {
                    address: "127.0.0.1:16732".into()
                },
                taxation: Taxation::Osn,
                operator_inn: None,
            })
        );
        // The address defaults to the web server's own default; the taxation can be set.
        let text = format!("{CONTRACT}[[devices]]\nid = \"kkt-2\"\nkind = \"fiscal\"\ndriver = \"atol-web\"\ntaxation = \"usn_income\"\n");
        let device = parse(&text).unwrap().device("kkt-2").unwrap().fiscal.clone().unwrap();
        assert_eq!(
            device.driver,
            FiscalDriver::AtolWeb {
                address: "127.0.0.1:16732".into()
            }
        );
        assert_eq!(device.taxation, Taxation::UsnIncome);

        let err = |text: &str| parse(text).unwrap_err().to_string();
        let lane = |fiscal: &str| {
            CONTRACT.replace(
                "printer = \"printer-1\"",
                &format!("printer = \"printer-1\"\nfiscal = \"{fiscal}\""),
            )
        };
        assert_eq!(err(&lane("kkt-9")), "storeterm.toml: lanes[0].fiscal: no device with id \"kkt-9\"");
        assert_eq!(
            err(&lane("printer-1")),
            "storeterm.toml: lanes[0].fiscal: device \"printer-1\" is not a fiscal register (kind = \"fiscal\")"
        );
        let two_lanes = format!("{}{kkt}[[lanes]]\nid = \"2\"\nfiscal = \"kkt-1\"\n", lane("kkt-1"));
        assert!(err(&two_lanes).contains("lanes[1].fiscal: fiscal register \"kkt-1\" is already bound to another lane"));
        let device = |body: &str| format!("{CONTRACT}[[devices]]\nid = \"kkt-1\"\nkind = \"fiscal\"\n{body}");
        assert!(err(&device("")).contains("devices[2].driver: a fiscal register needs `driver` (atol-web)"));
        assert!(err(&device("driver = \"shtrih\"\n")).contains("devices[2].driver: unknown fiscal driver \"shtrih\""));
        assert!(
            err(&device("driver = \"atol-web\"\naddress = \"localhost\"\n")).contains("devices[2].address: \"localhost\" is not host:port")
        );
        assert!(
            err(&device("driver = \"atol-web\"\ntransport = \"tcp\"\n"))
                .contains("devices[2].transport: a fiscal register is reached through its driver")
        );
        assert!(
            err(&device("driver = \"atol-web\"\noperator_inn = \"123\"\n"))
                .contains("devices[2].operator_inn: a person's ИНН is 12 digits")
        );
        assert!(err(&device("driver = \"atol-web\"\ntaxation = \"vat\"\n")).contains("taxation"));
        let printer_with_driver = CONTRACT.replace("profile = \"generic-80mm\"", "profile = \"generic-80mm\"\ndriver = \"atol-web\"");
        assert!(err(&printer_with_driver).contains("devices[1].driver: only a fiscal register"));
        let printer_without_transport = CONTRACT.replace("transport = \"tcp\"\n", "");
        assert!(err(&printer_without_transport).contains("devices[1].transport: a scanner or printer needs `transport`"));
    }

    #[test]
    fn the_contract_example_parses() {
        let config = parse(CONTRACT).unwrap();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.store.path, PathBuf::from("/etc/storeterm/data"));
        let crm = config.crm.unwrap();
        assert_eq!(crm.pull_interval, 30);
        assert_eq!(crm.retry_cap, 60);
        assert_eq!(config.tokens[0].role, Role::Cashier);
        assert_eq!(
            config.devices[0].transport,
            Transport::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600
            }
        );
        assert_eq!(config.lanes[0].printer.as_deref(), Some("printer-1"));
    }

    #[test]
    fn onec_section_defaults_and_errors_name_the_key() {
        assert!(parse(CONTRACT).unwrap().onec.is_none());
        let with = |section: &str| parse(&format!("{CONTRACT}\n[onec]\n{section}"));
        let onec = with("login = \"1c\"\npassword = \"long-secret\"").unwrap().onec.unwrap();
        assert_eq!((onec.login.as_str(), onec.price_type.as_str()), ("1c", "Розничная"));
        assert_eq!(
            (onec.file_limit, onec.zip, onec.default_vat.as_str()),
            (OnecConfig::FILE_LIMIT, true, "none")
        );
        assert_eq!(onec.warehouse, None);
        assert!(!format!("{onec:?}").contains("long-secret"));
        let onec = with("login = \"1c\"\npassword = \"long-secret\"\nwarehouse = \"Магазин №1\"\nfile_limit = 1048576\nzip = false")
            .unwrap()
            .onec
            .unwrap();
        assert_eq!(
            (onec.warehouse.as_deref(), onec.file_limit, onec.zip),
            (Some("Магазин №1"), 1_048_576, false)
        );
        for (section, key) in [
            ("login = \"1c\"\npassword = \"short\"", "onec.password"),
            ("login = \"\"\npassword = \"long-secret\"", "onec.login"),
            ("login = \"a:b\"\npassword = \"long-secret\"", "onec.login"),
            ("login = \"1c\"\npassword = \"long-secret\"\nfile_limit = 10", "onec.file_limit"),
            (
                "login = \"1c\"\npassword = \"long-secret\"\ndefault_vat = \"18\"",
                "onec.default_vat",
            ),
        ] {
            let err = with(section).unwrap_err().to_string();
            assert!(err.contains(key), "{section}: {err}");
            assert!(!err.contains("long-secret"), "{err}");
        }
        assert!(
            with("login = \"1c\"\npassword = \"long-secret\"\nsecret = 1").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let config = parse(CONTRACT).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("cashier-token-1"), "{debug}");
        assert!(!debug.contains("\"secret\""), "{debug}");
    }

    #[test]
    fn errors_name_the_key() {
        let bad = CONTRACT.replace("scanner = \"scanner-1\"", "scanner = \"scanner-9\"");
        let err = parse(&bad).unwrap_err().to_string();
        assert_eq!(err, "storeterm.toml: lanes[0].scanner: no device with id \"scanner-9\"");

        let bad = CONTRACT.replace("printer = \"printer-1\"", "printer = \"scanner-1\"");
        assert!(
            parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("lanes[0].printer: device \"scanner-1\" is not a printer")
        );

        let bad = CONTRACT.replace("address = \"127.0.0.1:9100\"\n", "");
        assert!(parse(&bad).unwrap_err().to_string().contains("devices[1].address"));

        let bad = CONTRACT.replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("http.listen"));

        let bad = CONTRACT.replace("role = \"cashier\"", "role = \"boss\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("boss"));

        let bad = CONTRACT.replace("pull_interval = 30", "pull_interval = 30\npul_interval = 5");
        assert!(parse(&bad).unwrap_err().to_string().contains("pul_interval"));
    }

    #[test]
    fn scanners_of_every_transport_and_the_scanning_section() {
        let text = r#"
[store]
path = "data"
[scanning]
gs_substitute = "~"
cell_prefixes = ["C-"]
loyalty_ranges = [{ from = "2770000000000", to = "2779999999999" }]
[[scanning.labels]]
prefixes = ["21", "22"]
[[scanning.labels]]
prefixes = ["27"]
plu_digits = 4
value = "price"
[[devices]]
id = "hid-1"
kind = "scanner"
transport = "hid"
vid = "0c2e"
pid = 0x0b87
serial = "17123B4567"
profile = "honeywell-1900"
[[devices]]
id = "kbd-1"
kind = "scanner"
transport = "evdev"
path = "/dev/input/by-id/usb-Honeywell-event-kbd"
suffix = "tab"
[[devices]]
id = "com-1"
kind = "scanner"
transport = "serial"
path = "/dev/ttyACM0"
prefix = "\u0002"
suffix = "none"
gap_ms = 30
"#;
        let config = parse(text).unwrap();
        assert_eq!(
            config.devices[0].transport,
            Transport::Hid {
                vid: 0x0c2e,
                pid: 0x0b87,
                serial: Some("17123B4567".into())
            }
        );
        assert_eq!(config.devices[1].framing.suffix, Some(Suffix::Tab));
        assert_eq!(
            config.devices[2].framing,
            Framing {
                prefix: Some("\u{2}".into()),
                suffix: Some(Suffix::None),
                gap_ms: Some(30)
            }
        );
        let rules = &config.scanning;
        assert_eq!(rules.gs_substitute, Some('~'));
        assert_eq!(rules.embedded.len(), 2);
        assert_eq!(rules.embedded[1].value, EmbeddedValue::Price);
        assert_eq!(rules.cells, vec![CodeMatch::Prefix("C-".into())]);

        let bad = text.replace("vid = \"0c2e\"", "vid = \"xyz\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("devices[0].vid"));
        let bad = text.replace("gs_substitute = \"~\"", "gs_substitute = \"ab\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("scanning.gs_substitute"));
        let bad = text.replace("plu_digits = 4", "plu_digits = 12");
        assert!(parse(&bad).unwrap_err().to_string().contains("scanning.labels[1]"));
        let bad = text.replace("kind = \"scanner\"\ntransport = \"hid\"", "kind = \"printer\"\ntransport = \"hid\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("for scanners only"));
    }

    #[test]
    fn printer_transports() {
        let base = "[store]\npath = \"d\"\n[[devices]]\nid = \"p\"\nkind = \"printer\"\n";
        let config = parse(&format!("{base}transport = \"usb\"\nvid = \"04b8\"\npid = \"0e28\"\n")).unwrap();
        assert_eq!(config.devices[0].transport, Transport::Usb { vid: 0x04b8, pid: 0x0e28 });
        let config = parse(&format!("{base}transport = \"usblp\"\npath = \"/dev/usb/lp0\"\n")).unwrap();
        assert_eq!(
            config.devices[0].transport,
            Transport::Usblp {
                path: "/dev/usb/lp0".into()
            }
        );
        let config = parse(&format!(
            "{base}transport = \"serial\"\npath = \"/dev/ttyS0\"\nflow_control = \"rts_cts\"\n"
        ))
        .unwrap();
        assert_eq!(config.devices[0].flow_control, FlowControl::RtsCts);
        let err = parse(&format!("{base}transport = \"usb\"\nvid = \"04b8\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("devices[0].pid"), "{err}");
        let err = parse(&format!(
            "{base}transport = \"tcp\"\naddress = \"h:9100\"\nflow_control = \"xon_xoff\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("devices[0].flow_control"), "{err}");
        let scanner = base.replace("printer", "scanner");
        let err = parse(&format!("{scanner}transport = \"usblp\"\npath = \"/dev/usb/lp0\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("for printers only"), "{err}");
    }

    #[test]
    fn backup_and_metrics_sections() {
        let config = parse("[store]\npath = \"/var/lib/storeterm\"\n[backup]\ndir = \"backups\"\nevery = \"6h\"\nkeep = 3\n[metrics]\ntoken = \"scrape-token-1\"\n").unwrap();
        let backup = config.backup.unwrap();
        assert_eq!(backup.every, std::time::Duration::from_secs(6 * 3600));
        assert_eq!(backup.keep, 3);
        assert!(backup.dir.is_absolute());
        assert_eq!(config.metrics.token.unwrap().expose(), "scrape-token-1");
        let err = parse("[store]\npath = \"/x\"\n[backup]\ndir = \"/b\"\nevery = \"often\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("backup.every"), "{err}");
        let err = parse("[store]\npath = \"/x\"\n[backup]\ndir = \"/b\"\nevery = \"10s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 1m and 30d"), "{err}");
        let err = parse("[store]\npath = \"/x\"\n[backup]\ndir = \"/b\"\nkeep = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("backup.keep"), "{err}");
        assert_eq!(parse_interval("1d"), Some(std::time::Duration::from_secs(86400)));
        assert_eq!(parse_interval("15m"), Some(std::time::Duration::from_secs(900)));
        assert_eq!(parse_interval("h"), None);
    }

    #[test]
    fn defaults() {
        let config = parse("[store]\npath = \"/var/lib/storeterm\"\n").unwrap();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8080");
        assert!(config.crm.is_none());
        assert_eq!(config.shop.footer, vec!["Спасибо за покупку!"]);
        assert_eq!(config.scanning, ScanRules::default());
    }

    #[test]
    fn telephony_calls_and_operator_extensions() {
        let text = format!(
            "{CONTRACT}\n[calls]\ndefault_country = \"BY\"\ncard_budget_ms = 150\n\
[[tokens]]\ntoken = \"operator-token-1\"\nrole = \"operator\"\nname = \"Ольга\"\nextension = \"101\"\n\
[[tokens]]\ntoken = \"operator-token-2\"\nrole = \"operator\"\nname = \"Иван\"\nextension = [\"102\", \"103\"]\n\
[[telephony]]\nkind = \"ami\"\naddress = \"10.0.0.5:5038\"\nusername = \"storeterm\"\nsecret = \"ami-pass\"\nauth = \"md5\"\n\
[[telephony]]\nkind = \"modem\"\npath = \"/dev/ttyACM1\"\nextension = \"201\"\n\
[[telephony]]\nkind = \"webhook\"\nprovider = \"mango\"\nkey = \"vpbx-key\"\nsecret = \"mango-salt\"\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.calls.default_country, crate::domain::phone::Country::By);
        assert_eq!(config.calls.card_budget, std::time::Duration::from_millis(150));
        assert_eq!(config.tokens[1].extensions, ["101"]);
        assert_eq!(config.tokens[2].extensions, ["102", "103"]);
        assert!(matches!(&config.telephony[0], TelephonyConfig::Ami { id, md5: true, ping_interval: 20, .. } if id == "ami-0"));
        assert!(matches!(&config.telephony[1], TelephonyConfig::Modem { baud: 9600, extension, .. } if extension == "201"));
        assert!(matches!(
            &config.telephony[2],
            TelephonyConfig::Webhook {
                provider: WebhookProvider::Mango,
                key: Some(_),
                ..
            }
        ));
        let debug = format!("{config:?}");
        assert!(!debug.contains("ami-pass") && !debug.contains("mango-salt"), "{debug}");
        assert_eq!(parse(CONTRACT).unwrap().calls.default_country, crate::domain::phone::Country::Ru);

        let err = |text: String| parse(&text).unwrap_err().to_string();
        let with = |extra: &str| format!("{CONTRACT}\n{extra}");
        assert!(err(with("[calls]\ndefault_country = \"Russia\"")).contains("calls.default_country"));
        assert!(err(with("[[telephony]]\nkind = \"ami\"\nusername = \"u\"\nsecret = \"s\"")).contains("telephony[0].address"));
        assert!(
            err(with(
                "[[telephony]]\nkind = \"ami\"\naddress = \"pbx\"\nusername = \"u\"\nsecret = \"s\""
            ))
            .contains("needs a port")
        );
        assert!(err(with("[[telephony]]\nkind = \"modem\"\npath = \"/dev/ttyS0\"")).contains("telephony[0].extension"));
        assert!(err(with("[[telephony]]\nkind = \"webhook\"\nprovider = \"mango\"\nsecret = \"s\"")).contains("telephony[0].key"));
        assert!(err(with("[[telephony]]\nkind = \"sip\"")).contains("telephony[0].kind"));
        assert!(err(with("[[telephony]]\nkind = \"webhook\"\nprovider = \"zadarma\"\nsecret = \"s\"\n[[telephony]]\nkind = \"webhook\"\nprovider = \"zadarma\"\nsecret = \"t\"")).contains("telephony[1].provider"));
    }
}
