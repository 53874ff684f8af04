//! The CRM link's faults are not the documents' faults: a CRM that rejects the till's token
//! parks nothing, raises an alarm on `/admin` and gets every document once the token works
//! again; a document the CRM really refused can be sent again or dropped with a reason.

mod common;

use common::crm::{Mode, TestCrm};
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::{Value, json};
use std::time::Duration;

fn catalog() -> Vec<Value> {
    vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10", "weighted": false, "marked": false,
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]
}

async fn start(crm: &TestCrm) -> (storeterm::daemon::Running, Api, Api, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", &crm.config(30));
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    let (cashier, admin) = (Api::new(&base, CASHIER), Api::new(&base, ADMIN));
    eventually("catalog pulled", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"] == 1).then_some(())
    })
    .await;
    (running, cashier, admin, dir)
}

async fn sell(cashier: &Api) {
    let (code, body) = cashier.scan("1", "4601234567893").await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = cashier.pay("1", "card", "89.90").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("closed")), "{body}");
}

#[tokio::test]
async fn an_expired_token_parks_nothing_and_raises_an_alarm() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    crm.set_mode(Mode::TokenExpired);
    let (running, cashier, admin, _dir) = start(&crm).await;
    sell(&cashier).await;
    let attempts = crm.attempts();
    let status = eventually("the alarm", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["crm"]["alarm"].is_string() && crm.attempts() > attempts + 1).then_some(s)
    })
    .await;
    assert!(status["crm"]["alarm"].as_str().unwrap().contains("отклоняет токен"), "{status}");
    assert_eq!(status["outbox"]["parked"], json!([]), "a 401 parks nothing: {status}");
    assert_eq!(status["outbox"]["waiting"], 2, "shift_open and the sale wait: {status}");

    // The token works again: everything goes, in order, and the alarm is gone.
    crm.set_mode(Mode::Normal);
    eventually("documents delivered", Duration::from_secs(10), || async {
        (crm.stored().len() == 2).then_some(())
    })
    .await;
    let stored = crm.stored();
    assert_eq!(
        (stored[0].body["kind"].as_str(), stored[1].body["kind"].as_str()),
        (Some("shift_open"), Some("sale"))
    );
    // The CRM stores a document before the till records the delivery: wait for both marks,
    // not only for the alarm (which the first good pull or push clears).
    eventually("the alarm cleared and the outbox empty", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["crm"]["alarm"].is_null() && s["outbox"]["waiting"] == 0).then_some(s)
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn a_parked_document_is_resent_or_dropped_by_the_admin() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    crm.reject_kind("shift_open");
    crm.reject_kind("sale");
    let (running, cashier, admin, _dir) = start(&crm).await;
    sell(&cashier).await;
    let parked = eventually("both parked", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        let parked = s["outbox"]["parked"].as_array().cloned().unwrap_or_default();
        (parked.len() == 2).then_some(parked)
    })
    .await;
    let seq = |kind: &str| parked.iter().find(|p| p["kind"] == kind).unwrap()["seq"].as_u64().unwrap();
    let (shift_seq, sale_seq) = (seq("shift_open"), seq("sale"));

    // Only the admin may; a drop needs a written reason.
    assert_eq!(
        cashier.post(&format!("/api/v1/admin/parked/{sale_seq}/resend"), json!({})).await.0,
        403
    );
    let (code, body) = admin
        .post(&format!("/api/v1/admin/parked/{shift_seq}/drop"), json!({"reason": " "}))
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(admin.post("/api/v1/admin/parked/999/resend", json!({})).await.0, 404);

    // The CRM takes sales again: the sale is resent under its own id.
    crm.accept_kind("sale");
    let (code, body) = admin.post(&format!("/api/v1/admin/parked/{sale_seq}/resend"), json!({})).await;
    assert_eq!(code, 200, "{body}");
    let stored = eventually("the sale delivered", Duration::from_secs(10), || async {
        let sales = crm.stored_of("sale");
        (sales.len() == 1).then_some(sales)
    })
    .await;
    assert_eq!(stored[0].body["seq"], sale_seq);
    let (code, body) = admin
        .post(
            &format!("/api/v1/admin/parked/{shift_seq}/drop"),
            json!({"reason": "смена открыта по ошибке"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, status) = admin.get("/api/v1/admin/status").await;
    assert_eq!(status["outbox"]["parked"], json!([]), "{status}");
    let dropped = &status["outbox"]["dropped"][0];
    assert_eq!(
        (dropped["seq"].as_u64(), dropped["reason"].as_str(), dropped["by"].as_str()),
        (Some(shift_seq), Some("смена открыта по ошибке"), Some("Админ"))
    );
    assert!(dropped["crm_reason"].as_str().unwrap().contains("422"), "{dropped}");
    running.stop().await;
}
