//! The admin page in a real headless Chromium: the links, the outbox, the backups and the last
//! errors, in Russian.

mod common;

use common::browser::Browser;
use common::crm::{Mode, TestCrm};
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs chromium"]
async fn the_admin_sees_links_outbox_backups_and_errors() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко", "unit": "pcs", "vat": "10", "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}[backup]\ndir = \"{}\"\nevery = \"1d\"\n",
        crm.config(30),
        dir.path().join("backups").display()
    );
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", &extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    eventually("catalog and the first backup", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"] == 1 && s["backups"]["count"] == 1).then_some(())
    })
    .await;
    // The CRM goes down with a sale in the outbox: the push error is one of the last errors.
    crm.set_mode(Mode::Unavailable);
    let cashier = Api::new(&base, CASHIER);
    cashier.scan("1", "4601234567893").await;
    assert_eq!(cashier.pay("1", "cash", "100").await.0, 200);
    eventually("the push fails", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        s["crm"]["push_error"].is_string().then_some(())
    })
    .await;

    let browser = Browser::start(1024, 768).await;
    browser.client.goto(&format!("{base}/admin#token={ADMIN}")).await.unwrap();
    browser
        .wait_js("the links", "document.getElementById('links').textContent.includes('CRM / 1С')")
        .await;
    let links = browser.wait_js("links text", "document.getElementById('links').textContent").await;
    assert!(links.as_str().unwrap().contains("АТС"), "{links}");
    assert!(links.as_str().unwrap().contains("ККТ"), "{links}");
    let backups = browser
        .wait_js(
            "the backups",
            "(t => t.includes('копий 1') && t)(document.getElementById('backups').textContent)",
        )
        .await;
    assert!(backups.as_str().unwrap().contains("последняя"), "{backups}");
    browser
        .wait_js(
            "the outbox",
            "document.getElementById('outbox').textContent.includes('Очередь: 2 док.')",
        )
        .await;
    browser
        .wait_js(
            "the push error among the last errors",
            "document.getElementById('errors').textContent.includes('Отправка в CRM')",
        )
        .await;
    running.stop().await;
}
