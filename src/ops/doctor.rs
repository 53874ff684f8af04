//! `storeterm doctor`: what is wrong with this box, in words, with the fix for each finding.
//!
//! Checks, in order: the config; whether the daemon runs (its `/healthz`, and `/admin`'s status
//! with the config's admin token); the store (schema, damage, outbox depth and the oldest
//! undelivered document, parked documents) — asked of the daemon when it holds the store,
//! opened directly otherwise; free disk; the last backup; each device (node present,
//! permissions, and the daemon's view of it: printer status, scanner state); the CRM link
//! (reachable, token accepted, clock skew); the PBX links; the fiscal register; time sync.
//!
//! Exit 0 only when every finding is ok (see `main`); `--json` prints the findings as
//! `[{check, ok, message, fix}]`.

use crate::config::{Config, DeviceConfig, TelephonyConfig, Transport};
use crate::store::{DB_FILE, Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked: `config`, `store`, `disk`, `backup`, `device:<id>`, `crm`, `outbox`,
    /// `pbx:<id>`, `fiscal`, `time`.
    pub check: String,
    pub ok: bool,
    pub message: String,
    /// What to do, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            ok: true,
            message: message.into(),
            fix: None,
        }
    }

    fn bad(check: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            ok: false,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Where doctor looks and how long it waits.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The file-system root for system facts (`/run/systemd/timesync`, `/sys/bus/usb`): `/`,
    /// or a prepared directory in tests.
    pub root: PathBuf,
    /// Longest wait for one network answer.
    pub timeout: Duration,
    /// Less free disk than this is a finding.
    pub min_free_bytes: u64,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            root: PathBuf::from("/"),
            timeout: Duration::from_secs(3),
            min_free_bytes: 512 << 20,
        }
    }
}

/// Every finding, in the order checked.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    /// For the terminal: one line per finding, the fix under it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!("[{}] {}: {}\n", if f.ok { "ок" } else { "!!" }, f.check, f.message));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("      что сделать: {fix}\n"));
            }
        }
        let bad = self.findings.iter().filter(|f| !f.ok).count();
        if bad == 0 {
            out.push_str("Всё в порядке.\n");
        } else {
            out.push_str(&format!("Проблем: {bad}.\n"));
        }
        out
    }
}

/// Check the box configured by the file at `config_path`.
pub async fn run(config_path: &Path, probe: &Probe) -> Report {
    let mut findings = Vec::new();
    let config = match Config::load(config_path) {
        Ok(config) => {
            findings.push(Finding::ok("config", format!("{}: конфигурация верна", config_path.display())));
            config
        }
        Err(e) => {
            findings.push(Finding::bad(
                "config",
                format!("конфигурация не годится: {e}"),
                format!(
                    "исправьте названный ключ в {} и проверьте: storeterm check-config --config {}",
                    config_path.display(),
                    config_path.display()
                ),
            ));
            return Report { findings };
        }
    };
    let http = reqwest::Client::builder()
        .connect_timeout(probe.timeout)
        .timeout(probe.timeout)
        .build()
        .ok();
    let daemon = match &http {
        Some(http) => ask_daemon(http, &config).await,
        None => Daemon::Absent,
    };
    let outbox = store_findings(&config, &daemon, &mut findings).await;
    findings.push(disk(&config.store.path, probe.min_free_bytes));
    findings.push(backups(&config));
    for device in &config.devices {
        findings.push(device_finding(device, &daemon, probe).await);
    }
    findings.push(crm(&config, http.as_ref()).await);
    if let Some(outbox) = outbox {
        findings.push(outbox_finding(&config, &outbox));
    }
    for source in &config.telephony {
        findings.push(pbx(source, probe).await);
    }
    let registers: Vec<&str> = config
        .devices
        .iter()
        .filter(|d| d.kind == crate::config::DeviceKind::Fiscal)
        .map(|d| d.id.as_str())
        .collect();
    findings.push(if registers.is_empty() {
        Finding::ok("fiscal", "фискальный регистратор в конфигурации не задан: чеки печатаются без него")
    } else {
        // Each register is checked above as a device (reachable, and the daemon's view of it).
        Finding::ok(
            "fiscal",
            format!("ККТ в конфигурации: {} (см. проверки device:…)", registers.join(", ")),
        )
    });
    findings.push(time_sync(&probe.root));
    Report { findings }
}

/// What the running daemon said, if one runs.
enum Daemon {
    Absent,
    /// It answers `/healthz`; `status` is `/api/v1/admin/status` when the config has an admin
    /// token the daemon accepts.
    Running {
        health: Value,
        status: Option<Value>,
    },
}

async fn ask_daemon(http: &reqwest::Client, config: &Config) -> Daemon {
    let base = super::local_api(config);
    let health = match http.get(format!("{base}/healthz")).send().await {
        Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
        Err(_) => return Daemon::Absent,
    };
    let status = match super::admin_token(config) {
        Some(token) => match http.get(format!("{base}/api/v1/admin/status")).bearer_auth(token).send().await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
            _ => None,
        },
        None => None,
    };
    Daemon::Running { health, status }
}

/// The outbox as the store holds it.
struct Outbox {
    waiting: u64,
    oldest: Option<jiff::Timestamp>,
    parked: u64,
    /// A restored or new store still waits for the CRM's last `seq`.
    awaiting_seq_base: bool,
}

async fn store_findings(config: &Config, daemon: &Daemon, findings: &mut Vec<Finding>) -> Option<Outbox> {
    let dir = &config.store.path;
    match daemon {
        Daemon::Running { health, status } => {
            let state = health["status"].as_str().unwrap_or("?");
            if state == "ok" {
                findings.push(Finding::ok(
                    "store",
                    format!("хранилище {} открыто работающим storeterm и пишется", dir.display()),
                ));
            } else {
                findings.push(Finding::bad(
                    "store",
                    format!("работающий storeterm сообщает о хранилище: {}", health["store"]),
                    "если хранилище повреждено — восстановите копию: systemctl stop storeterm; storeterm restore --config … --from <копия> в пустой каталог; если диск полон — освободите место",
                ));
            }
            let Some(status) = status else {
                findings.push(Finding::bad(
                    "daemon",
                    "storeterm запущен, но не отдал состояние (/api/v1/admin/status): в конфигурации нет токена admin или он не принят",
                    "добавьте [[tokens]] с role = \"admin\" в конфигурацию и перезапустите storeterm",
                ));
                return None;
            };
            let pending = status["outbox"]["pending"].as_array();
            Some(Outbox {
                waiting: status["outbox"]["waiting"].as_u64().unwrap_or(0),
                oldest: pending
                    .and_then(|p| p.first())
                    .and_then(|d| d["created_at"].as_str())
                    .and_then(|t| t.parse().ok()),
                parked: status["outbox"]["parked"].as_array().map_or(0, |p| p.len() as u64),
                awaiting_seq_base: false,
            })
        }
        Daemon::Absent => {
            if !dir.join(DB_FILE).exists() {
                findings.push(Finding::ok(
                    "store",
                    format!("хранилища в {} ещё нет: storeterm создаст его при первом запуске", dir.display()),
                ));
                return None;
            }
            let opened = {
                let dir = dir.clone();
                let settings = crate::app::store_settings(config);
                tokio::task::spawn_blocking(move || Store::open_with(&dir, &settings)).await
            };
            let store = match opened {
                Ok(Ok(store)) => store,
                Ok(Err(e @ StoreError::Locked { .. })) => {
                    findings.push(Finding::bad(
                        "store",
                        format!("{e}, но API storeterm на {} не отвечает", super::local_api(config)),
                        "проверьте journalctl -u storeterm; если процесс завис — systemctl restart storeterm",
                    ));
                    return None;
                }
                Ok(Err(e)) => {
                    findings.push(Finding::bad(
                        "store",
                        e.to_string(),
                        "восстановите последнюю копию: storeterm restore --config … --from /var/lib/storeterm/backups/<копия> в пустой каталог хранилища",
                    ));
                    return None;
                }
                Err(e) => {
                    findings.push(Finding::bad("store", e.to_string(), "запустите doctor ещё раз"));
                    return None;
                }
            };
            let outbox = (|| -> Result<Outbox, StoreError> {
                Ok(Outbox {
                    waiting: store.outbox_len()?,
                    oldest: store.outbox_pending(1)?.first().map(|d| d.doc.created_at),
                    parked: store.parked()?.len() as u64,
                    awaiting_seq_base: store.seq_base_pending()?,
                })
            })();
            let size = store.file_size();
            store.close();
            match outbox {
                Ok(outbox) => {
                    findings.push(Finding::ok(
                        "store",
                        format!(
                            "хранилище {} открывается, формат верен, контрольные суммы сошлись ({} МиБ); storeterm сейчас не запущен",
                            dir.display(),
                            size >> 20
                        ),
                    ));
                    Some(outbox)
                }
                Err(e) => {
                    findings.push(Finding::bad(
                        "store",
                        e.to_string(),
                        "восстановите последнюю копию (storeterm restore) в пустой каталог хранилища",
                    ));
                    None
                }
            }
        }
    }
}

/// The nearest existing directory at or above `path`.
fn existing_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors().find(|p| p.exists())
}

fn disk(store: &Path, min_free: u64) -> Finding {
    let Some(dir) = existing_ancestor(store) else {
        return Finding::bad(
            "disk",
            format!("нет ни {} , ни его родителей", store.display()),
            "проверьте [store] path",
        );
    };
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => {
            let free = s.blocks_available() * s.fragment_size();
            let total = s.blocks() * s.fragment_size();
            let mib = |b: u64| b >> 20;
            if free < min_free || (total > 0 && free * 20 < total) {
                Finding::bad(
                    "disk",
                    format!("на диске с {} свободно {} МиБ из {} МиБ", dir.display(), mib(free), mib(total)),
                    "освободите место (журналы: journalctl --vacuum-size=200M; старые копии в каталоге [backup] dir) или уменьшите [store] keep_receipts_days",
                )
            } else {
                Finding::ok(
                    "disk",
                    format!("на диске с {} свободно {} МиБ из {} МиБ", dir.display(), mib(free), mib(total)),
                )
            }
        }
        Err(e) => Finding::bad(
            "disk",
            format!("не узнать свободное место на {}: {e}", dir.display()),
            "проверьте, что каталог хранилища доступен",
        ),
    }
}

fn backups(config: &Config) -> Finding {
    let Some(schedule) = &config.backup else {
        return Finding::bad(
            "backup",
            "резервные копии не настроены: при поломке диска пропадут продажи, не дошедшие до CRM, и открытые смены",
            "добавьте в конфигурацию [backup] с dir = \"/var/lib/storeterm/backups\", every = \"1d\", keep = 7 (или снимайте копии сами: storeterm backup --config … --to <файл>)",
        );
    };
    let state = match crate::app::backup::state(&schedule.dir) {
        Ok(state) => state,
        Err(e) => {
            return Finding::bad(
                "backup",
                format!("каталог копий {} не читается: {e}", schedule.dir.display()),
                "дайте пользователю storeterm доступ к каталогу [backup] dir",
            );
        }
    };
    if let Some(error) = &state.last_error {
        return Finding::bad(
            "backup",
            format!("последняя плановая копия не удалась: {error}"),
            "устраните причину (место на диске, права на каталог); следующая попытка будет сама, или снимите копию сейчас: storeterm backup --config … --to <файл>",
        );
    }
    let Some(newest) = state.newest() else {
        return Finding::bad(
            "backup",
            format!("в {} нет ни одной копии", schedule.dir.display()),
            "запустите storeterm (он снимет первую копию сразу) или снимите её вручную: storeterm backup --config … --to <файл>",
        );
    };
    let age = jiff::Timestamp::now().duration_since(newest.taken_at).unsigned_abs();
    let hours = age.as_secs() / 3600;
    let minutes = age.as_secs() / 60 % 60;
    if age > schedule.every * 2 {
        Finding::bad(
            "backup",
            format!(
                "последняя копия {} снята {hours} ч {minutes} мин назад — больше двух интервалов",
                newest.path.display()
            ),
            "проверьте, что storeterm запущен (systemctl status storeterm) и journalctl -u storeterm | grep backup",
        )
    } else {
        Finding::ok(
            "backup",
            format!(
                "последняя копия {} ({} КиБ) снята {hours} ч {minutes} мин назад; всего копий: {}",
                newest.path.display(),
                newest.bytes >> 10,
                state.files.len()
            ),
        )
    }
}

/// A device node: present, and readable and writable by this user.
fn node(check: &str, path: &Path) -> Option<Finding> {
    if !path.exists() {
        return Some(Finding::bad(
            check,
            format!("узла {} нет: устройство не подключено или называется иначе", path.display()),
            "подключите устройство; `storeterm devices` покажет, под каким именем его видно (лучше /dev/serial/by-id/… или /dev/storeterm/…)",
        ));
    }
    use nix::unistd::{AccessFlags, access};
    if let Err(e) = access(path, AccessFlags::R_OK | AccessFlags::W_OK) {
        return Some(Finding::bad(
            check,
            format!("нет прав на {}: {e}", path.display()),
            "установите udev/99-storeterm.rules (узел получит группу storeterm) и добавьте пользователя в группу storeterm; затем udevadm trigger",
        ));
    }
    None
}

/// A USB device with this vendor and product is plugged in (read from sysfs).
fn usb_present(root: &Path, vid: u16, pid: u16) -> bool {
    let Ok(entries) = std::fs::read_dir(root.join("sys/bus/usb/devices")) else {
        return false;
    };
    let hex = |path: PathBuf| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| u16::from_str_radix(s.trim(), 16).ok())
    };
    entries
        .flatten()
        .any(|e| hex(e.path().join("idVendor")) == Some(vid) && hex(e.path().join("idProduct")) == Some(pid))
}

async fn device_finding(device: &DeviceConfig, daemon: &Daemon, probe: &Probe) -> Finding {
    let check = format!("device:{}", device.id);
    let problem = match &device.transport {
        Transport::Serial { path, .. } | Transport::Evdev { path } | Transport::Usblp { path } => node(&check, path),
        Transport::Hid { vid, pid, .. } | Transport::Usb { vid, pid } => (!usb_present(&probe.root, *vid, *pid)).then(|| {
            Finding::bad(
                &check,
                format!("USB-устройства {vid:04x}:{pid:04x} нет на шине"),
                "подключите устройство (другой порт, другой кабель); lsusb должен его показать",
            )
        }),
        Transport::Tcp { address } => match tokio::time::timeout(probe.timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(Finding::bad(
                &check,
                format!("{address} не принимает соединение: {e}"),
                "проверьте, что устройство включено и адрес в конфигурации верен (IP принтера печатается на его тестовой странице)",
            )),
            Err(_) => Some(Finding::bad(
                &check,
                format!("{address} не ответил за {} с", probe.timeout.as_secs()),
                "проверьте сеть до устройства и его адрес",
            )),
        },
        Transport::Virtual => None,
    };
    if let Some(problem) = problem {
        return problem;
    }
    // The daemon's view: is the device open and working (a printer's paper and cover, a
    // scanner's link)?
    if let Daemon::Running { status: Some(status), .. } = daemon
        && let Some(seen) = status["devices"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["id"] == device.id.as_str()))
    {
        let state = seen["state"].as_str().unwrap_or("?");
        let detail = seen["detail"].as_str().unwrap_or("");
        let blocked = crate::devices::printer::status::BLOCKING_WORDS.iter().any(|w| detail.contains(w));
        return if state == "connected" && !blocked {
            let endpoint = seen["endpoint"].as_str().unwrap_or("");
            Finding::ok(&check, format!("{endpoint}: работает {detail}").trim_end().to_string())
        } else {
            Finding::bad(
                &check,
                format!("storeterm видит устройство в состоянии «{state}»: {detail}"),
                "устраните названное (бумага, крышка, кабель, питание); storeterm переподключится сам",
            )
        };
    }
    Finding::ok(&check, "устройство на месте, права есть")
}

async fn crm(config: &Config, http: Option<&reqwest::Client>) -> Finding {
    let Some(crm) = &config.crm else {
        return Finding::ok("crm", "CRM не настроена: документы копятся в очереди, пока её не добавят в [crm]");
    };
    let Some(http) = http else {
        return Finding::bad("crm", "не создать HTTP-клиент", "запустите doctor ещё раз");
    };
    let url = format!("{}/v1/sites/{}/documents/last", crm.url, crm.site);
    let asked = jiff::Timestamp::now();
    let response = match http.get(&url).bearer_auth(crm.token.expose()).send().await {
        Ok(r) => r,
        Err(e) => {
            return Finding::bad(
                "crm",
                format!("CRM на {} недоступна: {}", crm.url, without_url(&e)),
                "проверьте [crm] url, сеть и прокси (curl -v <url>/v1/ping с этой машины)",
            );
        }
    };
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Finding::bad(
            "crm",
            format!("CRM на {} отвергла токен (HTTP {})", crm.url, status.as_u16()),
            "впишите в [crm] token действующий токен сайта из CRM и перезапустите storeterm",
        );
    }
    if status.is_server_error() {
        return Finding::bad(
            "crm",
            format!("CRM на {} отвечает ошибкой HTTP {}", crm.url, status.as_u16()),
            "CRM неисправна или на обслуживании: документы ждут в очереди; сообщите администратору CRM",
        );
    }
    // The CRM's clock against ours (its `Date` header; a second's resolution).
    let skew = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
        .map(|theirs| theirs.timestamp().duration_since(asked).as_secs());
    match skew {
        Some(s) if s.abs() > 60 => Finding::bad(
            "crm",
            format!("CRM доступна, токен принят, но часы расходятся на {s} с"),
            "включите синхронизацию времени на этой машине (timedatectl set-ntp true) — время документов и смен берётся отсюда",
        ),
        Some(s) => Finding::ok(
            "crm",
            format!("CRM на {} доступна, токен принят, часы расходятся на {s} с", crm.url),
        ),
        None => Finding::ok(
            "crm",
            format!(
                "CRM на {} доступна, токен принят (время CRM неизвестно: нет заголовка Date)",
                crm.url
            ),
        ),
    }
}

/// A reqwest error without its URL (which may carry credentials in a query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "");
    }
    if let Some(source) = std::error::Error::source(e) {
        text = format!("{text}: {source}");
    }
    text
}

/// Documents older than this in the outbox are a finding (the CRM link is stuck).
const OUTBOX_STALE: Duration = Duration::from_secs(3600);

fn outbox_finding(config: &Config, outbox: &Outbox) -> Finding {
    let age = outbox.oldest.map(|t| jiff::Timestamp::now().duration_since(t).unsigned_abs());
    let age_text = age.map_or(String::new(), |a| format!(", старейший создан {} мин назад", a.as_secs() / 60));
    let message = format!(
        "в очереди в CRM документов: {}{age_text}; отложено CRM навсегда: {}",
        outbox.waiting, outbox.parked
    );
    if outbox.parked > 0 {
        return Finding::bad(
            "outbox",
            message,
            "откройте /admin: у каждого отложенного документа есть причина отказа CRM; исправьте данные в CRM и сообщите администратору",
        );
    }
    if outbox.awaiting_seq_base {
        return Finding::bad(
            "outbox",
            format!("{message}; хранилище новое или восстановлено и ждёт от CRM номер её последнего документа"),
            "запустите storeterm с доступной CRM: он спросит номер сам и продолжит нумерацию после него",
        );
    }
    if config.crm.is_some() && age.is_some_and(|a| a > OUTBOX_STALE) {
        return Finding::bad(
            "outbox",
            message,
            "документы не уходят в CRM: смотрите проверку crm выше и push_error на /admin",
        );
    }
    Finding::ok("outbox", message)
}

async fn pbx(source: &TelephonyConfig, probe: &Probe) -> Finding {
    match source {
        TelephonyConfig::Ami { id, address, .. } => {
            let check = format!("pbx:{id}");
            match tokio::time::timeout(probe.timeout, tokio::net::TcpStream::connect(address)).await {
                Ok(Ok(_)) => Finding::ok(check, format!("АТС (AMI) на {address} принимает соединение")),
                Ok(Err(e)) => Finding::bad(
                    check,
                    format!("АТС (AMI) на {address} не принимает соединение: {e}"),
                    "проверьте адрес и порт (обычно 5038), enabled = yes и permit= в manager.conf Asterisk",
                ),
                Err(_) => Finding::bad(
                    check,
                    format!("АТС (AMI) на {address} не ответила за {} с", probe.timeout.as_secs()),
                    "проверьте сеть до АТС и межсетевой экран",
                ),
            }
        }
        TelephonyConfig::Modem { id, path, .. } => {
            let check = format!("pbx:{id}");
            node(&check, path).unwrap_or_else(|| Finding::ok(check, format!("модем Caller ID {} на месте", path.display())))
        }
        TelephonyConfig::Webhook { provider, .. } => Finding::ok(
            format!("pbx:{provider:?}").to_lowercase(),
            "облачная АТС шлёт вебхуки сама: проверьте в её кабинете адрес storeterm, если звонки не видны",
        ),
    }
}

fn time_sync(root: &Path) -> Finding {
    if root.join("run/systemd/timesync/synchronized").exists() {
        return Finding::ok("time", "время синхронизировано (systemd-timesyncd)");
    }
    if root == Path::new("/")
        && let Ok(out) = std::process::Command::new("timedatectl")
            .args(["show", "-p", "NTPSynchronized", "--value"])
            .output()
        && String::from_utf8_lossy(&out.stdout).trim() == "yes"
    {
        return Finding::ok("time", "время синхронизировано (timedatectl: NTPSynchronized=yes)");
    }
    Finding::bad(
        "time",
        "время не синхронизировано: время чеков и смен может уйти, а CRM — отвергать документы",
        "включите синхронизацию: timedatectl set-ntp true (или chrony), проверьте доступ к NTP-серверу",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_free_disk_is_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        assert!(disk(dir.path(), 0).ok);
        let full = disk(&dir.path().join("store/not/yet"), u64::MAX);
        assert!(!full.ok);
        assert!(full.fix.unwrap().contains("освободите место"));
    }

    #[test]
    fn time_sync_is_read_from_timesyncd() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!time_sync(dir.path()).ok);
        std::fs::create_dir_all(dir.path().join("run/systemd/timesync")).unwrap();
        std::fs::write(dir.path().join("run/systemd/timesync/synchronized"), "").unwrap();
        assert!(time_sync(dir.path()).ok);
    }

    #[test]
    fn usb_devices_are_found_in_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("sys/bus/usb/devices/1-1");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("idVendor"), "0c2e\n").unwrap();
        std::fs::write(dev.join("idProduct"), "0b61\n").unwrap();
        assert!(usb_present(dir.path(), 0x0c2e, 0x0b61));
        assert!(!usb_present(dir.path(), 0x0c2e, 0x0b62));
    }
}
