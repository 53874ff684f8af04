//! Backups end to end: `storeterm backup` asks the running daemon for its snapshot,
//! `storeterm restore` fills an empty store directory, and the restored till never sends the
//! CRM a document it already has.

mod common;

use common::crm::{Mode, TestCrm};
use common::daemon::free_port;
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const LANE: &str = "[[lanes]]\nid = \"1\"\n";

fn catalog() -> Vec<Value> {
    vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10", "weighted": false, "marked": false,
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]
}

async fn storeterm(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("storeterm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn sell(cashier: &Api) -> String {
    let (status, body) = cashier.scan("1", "4601234567893").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200, "{body}");
    body["receipt"]["id"].as_str().unwrap().to_string()
}

async fn wait_stored(crm: &TestCrm, n: usize) {
    eventually(&format!("{n} documents at the CRM"), Duration::from_secs(15), || async {
        (crm.stored().len() == n).then_some(())
    })
    .await;
}

fn write_config(dir: &Path, name: &str, port: u16, store: &str, crm: &TestCrm) -> (String, std::path::PathBuf) {
    let text = config_text(&format!("127.0.0.1:{port}"), &dir.join(store), LANE, &crm.config(30));
    let path = dir.join(name);
    std::fs::write(&path, &text).unwrap();
    (text, path)
}

#[tokio::test]
async fn a_restored_backup_never_resends_what_the_crm_has() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (text, config) = write_config(dir.path(), "storeterm.toml", port, "data", &crm);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("starts");
    let base = format!("http://{}", running.addr);
    let (cashier, admin) = (Api::new(&base, CASHIER), Api::new(&base, ADMIN));
    eventually("catalog pulled", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == 1).then_some(())
    })
    .await;

    // Sale 1 reaches the CRM (shift_open + sale); sale 2 waits in the outbox during an outage.
    sell(&cashier).await;
    wait_stored(&crm, 2).await;
    crm.set_mode(Mode::Unavailable);
    sell(&cashier).await;

    // The backup, taken from the running daemon: its outbox holds sale 2 (seq 3).
    let backup = dir.path().join("shop.stbak");
    let (code, out, err) = storeterm(&["backup", "--config", config.to_str().unwrap(), "--to", backup.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("снята у работающего storeterm"), "{out}");
    assert!(out.contains("документов выдано до № 3, CRM получила до № 2"), "{out}");

    // After the backup: sale 2 is delivered and sale 3 too. Then the box dies.
    crm.set_mode(Mode::Normal);
    wait_stored(&crm, 3).await;
    sell(&cashier).await;
    wait_stored(&crm, 4).await;
    running.stop().await;
    let attempts = crm.attempts();

    // A new box: the backup restored into an empty directory.
    let (text, restored_config) = write_config(dir.path(), "restored.toml", port, "restored", &crm);
    let (code, out, err) = storeterm(&[
        "restore",
        "--config",
        restored_config.to_str().unwrap(),
        "--from",
        backup.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    // Not over a store that exists.
    let (code, _, err) = storeterm(&["restore", "--config", config.to_str().unwrap(), "--from", backup.to_str().unwrap()]).await;
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("не пуст"), "{err}");

    let running = storeterm::daemon::start(parse_config(&text)).await.expect("restored store starts");
    let base = format!("http://{}", running.addr);
    let (cashier, admin) = (Api::new(&base, CASHIER), Api::new(&base, ADMIN));
    // The restored outbox held sale 2 (seq 3); the CRM says it holds up to seq 4: dropped.
    eventually("the restored outbox settles against the CRM", Duration::from_secs(15), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["outbox"]["waiting"] == 0 && status["outbox"]["delivered_seq"] == 4).then_some(())
    })
    .await;
    assert_eq!(crm.attempts(), attempts, "the restored till pushed a document again");
    assert_eq!(crm.duplicates(), 0);

    // It sells on, numbering after what the CRM holds.
    let receipt = sell(&cashier).await;
    eventually("the new sale at the CRM", Duration::from_secs(15), || async {
        crm.stored_of("sale")
            .iter()
            .any(|d| d.body["data"]["receipt"] == receipt.as_str())
            .then_some(())
    })
    .await;
    let seqs: Vec<u64> = crm.stored().iter().map(|d| d.body["seq"].as_u64().unwrap()).collect();
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "a seq was given twice: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(crm.duplicates(), 0);
    running.stop().await;
}

#[tokio::test]
async fn verify_refuses_a_damaged_backup_and_backup_works_without_a_daemon() {
    let crm = TestCrm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (text, config) = write_config(dir.path(), "storeterm.toml", free_port(), "data", &crm);
    // No store yet: a clear error, nothing written.
    let file = dir.path().join("a.stbak");
    let (code, _, err) = storeterm(&["backup", "--config", config.to_str().unwrap(), "--to", file.to_str().unwrap()]).await;
    assert_eq!(code, 69);
    assert!(err.contains("нет хранилища"), "{err}");
    assert!(!file.exists());

    let store = storeterm::store::Store::open(&parse_config(&text).store.path).unwrap();
    store.close();
    let (code, out, err) = storeterm(&["backup", "--config", config.to_str().unwrap(), "--to", file.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("storeterm не запущен"), "{out}");
    let (code, out, _) = storeterm(&["verify", file.to_str().unwrap()]).await;
    assert_eq!(code, 0);
    assert!(out.contains("копия цела"));

    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.stbak");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let (code, _, err) = storeterm(&["verify", cut.to_str().unwrap()]).await;
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("повреждена"), "{err}");
    let (code, _, err) = storeterm(&["verify", config.to_str().unwrap()]).await;
    assert_eq!(code, 65);
    assert!(err.contains("не резервная копия"), "{err}");
}
