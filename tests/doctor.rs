//! `storeterm doctor`: a good box says so and exits 0; each broken part is named with its fix
//! and the exit status is non-zero. The JSON is the contract scripts use.

mod common;

use common::crm::TestCrm;
use common::daemon::free_port;
use common::printer::{Condition, PtyPrinter};
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

async fn doctor(config: &Path, root: &Path) -> (i32, Vec<Value>) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .arg("--root")
        .arg(root)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("storeterm runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<Value> = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("JSON findings ({e}): {stdout}"));
    for f in &findings {
        assert!(f["check"].is_string() && f["ok"].is_boolean() && f["message"].is_string(), "{f}");
        if f["ok"] == false {
            assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()), "a finding without a fix: {f}");
        }
    }
    (out.status.code().unwrap_or(-1), findings)
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {findings:#?}"))
}

/// A root where systemd-timesyncd says the clock is synchronized.
fn synced_root(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("run/systemd/timesync")).unwrap();
    std::fs::write(root.join("run/systemd/timesync/synchronized"), "").unwrap();
    root
}

fn scanner(path: &Path) -> String {
    format!(
        "[[devices]]\nid = \"scanner-1\"\nkind = \"scanner\"\ntransport = \"serial\"\npath = \"{}\"\n[[lanes]]\nid = \"1\"\nscanner = \"scanner-1\"\n",
        path.display()
    )
}

#[tokio::test]
async fn a_good_box_is_all_ok() {
    let crm = TestCrm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("ttyACM0");
    std::fs::write(&node, "").unwrap();
    let backups = dir.path().join("backups");
    let extra = format!(
        "{}{}[backup]\ndir = \"{}\"\nevery = \"1d\"\nkeep = 3\n",
        scanner(&node),
        crm.config(30),
        backups.display()
    );
    let text = config_text(&format!("127.0.0.1:{}", free_port()), &dir.path().join("data"), "", &extra);
    let config = dir.path().join("storeterm.toml");
    std::fs::write(&config, &text).unwrap();
    let parsed = parse_config(&text);
    let store = storeterm::store::Store::open_with(&parsed.store.path, &storeterm::app::store_settings(&parsed)).unwrap();
    storeterm::app::backup::take(&store, &backups, 3, jiff::Timestamp::now()).unwrap();
    // A store that already knows the CRM's numbering (as after the daemon's first contact).
    store.confirm_seq_base(storeterm::store::SeqBase::Crm { last: 0 }).await.unwrap();
    store.close();

    let (code, findings) = doctor(&config, &synced_root(dir.path())).await;
    let bad: Vec<&Value> = findings.iter().filter(|f| f["ok"] == false).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(code, 0);
    for check in [
        "config",
        "store",
        "disk",
        "backup",
        "device:scanner-1",
        "crm",
        "outbox",
        "fiscal",
        "time",
    ] {
        assert_eq!(finding(&findings, check)["ok"], true, "{check}");
    }
    assert!(finding(&findings, "crm")["message"].as_str().unwrap().contains("токен принят"));
}

#[tokio::test]
async fn a_broken_box_names_each_fault_and_its_fix() {
    let crm = TestCrm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let crm_section = crm.config(30).replace("crm-secret-token", "an-old-revoked-token");
    let extra = format!("{}{crm_section}", scanner(&dir.path().join("ttyACM7")));
    let text = config_text(&format!("127.0.0.1:{}", free_port()), &dir.path().join("data"), "", &extra);
    let config = dir.path().join("storeterm.toml");
    std::fs::write(&config, &text).unwrap();
    // The clock is not synchronized in this root.
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();

    let (code, findings) = doctor(&config, &root).await;
    assert_eq!(code, 1);
    let device = finding(&findings, "device:scanner-1");
    assert_eq!(device["ok"], false);
    assert!(device["message"].as_str().unwrap().contains("ttyACM7"), "{device}");
    let link = finding(&findings, "crm");
    assert_eq!(link["ok"], false);
    assert!(link["message"].as_str().unwrap().contains("401"), "{link}");
    assert!(link["fix"].as_str().unwrap().contains("[crm] token"), "{link}");
    assert_eq!(finding(&findings, "backup")["ok"], false);
    assert_eq!(finding(&findings, "time")["ok"], false);
    // No store yet is fine: the daemon creates it.
    assert_eq!(finding(&findings, "store")["ok"], true);
    assert_eq!(finding(&findings, "config")["ok"], true);

    // A config that does not parse stops at the config, with the key named.
    std::fs::write(&config, "[store]\npath = \"/x\"\n[http]\nlisten = \"nowhere\"\n").unwrap();
    let (code, findings) = doctor(&config, &root).await;
    assert_eq!(code, 1);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["check"], "config");
    assert!(findings[0]["message"].as_str().unwrap().contains("http.listen"), "{}", findings[0]);
}

#[tokio::test]
async fn doctor_asks_the_running_daemon_and_sees_the_printer_out_of_paper() {
    let crm = TestCrm::start().await;
    let printer = PtyPrinter::start();
    printer.set_condition(Condition::PaperOut);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"serial\"\npath = \"{}\"\nbaud = 115200\nflow_control = \"none\"\nprofile = \"generic-80mm\"\n[[lanes]]\nid = \"1\"\nprinter = \"printer-1\"\n{}",
        printer.path.display(),
        crm.config(30)
    );
    let text = config_text(&format!("127.0.0.1:{}", free_port()), &dir.path().join("data"), "", &extra);
    let config = dir.path().join("storeterm.toml");
    std::fs::write(&config, &text).unwrap();
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("starts");
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    let _cashier = Api::new(&base, CASHIER);
    // The daemon finds out on its own status poll; wait until it shows.
    eventually("the daemon sees the paper is out", Duration::from_secs(15), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        status["devices"]
            .as_array()?
            .iter()
            .any(|d| d["id"] == "printer-1" && d["detail"].as_str().is_some_and(|s| s.contains("нет бумаги")))
            .then_some(())
    })
    .await;

    let (code, findings) = doctor(&config, &synced_root(dir.path())).await;
    assert_eq!(code, 1);
    let store = finding(&findings, "store");
    assert!(store["message"].as_str().unwrap().contains("работающим storeterm"), "{store}");
    let paper = finding(&findings, "device:printer-1");
    assert_eq!(paper["ok"], false);
    assert!(paper["message"].as_str().unwrap().contains("нет бумаги"), "{paper}");
    assert_eq!(finding(&findings, "crm")["ok"], true);
    running.stop().await;
}
