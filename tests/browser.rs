//! The cashier's screen in a real headless Chromium: scanning with a keyboard wedge, editing,
//! voiding and paying, as a cashier does it.

mod common;

use common::browser::Browser;
use common::crm::TestCrm;
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;
use std::time::Duration;

fn item(id: &str, name: &str, barcode: &str, price: &str) -> serde_json::Value {
    json!({"kind": "item", "op": "upsert", "id": id, "data": {
        "sku": id, "name": name, "unit": "pcs", "vat": "20", "barcodes": [barcode], "prices": {"retail": price}}})
}

#[tokio::test]
#[ignore = "needs chromium"]
async fn a_cashier_sells_on_the_pos_screen() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![
        item("I-1001", "Молоко 3,2% 1 л", "4601234567893", "89.90"),
        item("I-1009", "Кофе растворимый 95 г", "0036000291452", "429.00"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "[[lanes]]\nid = \"1\"\n", &crm.config(30));
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    eventually("catalog", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"] == 2).then_some(())
    })
    .await;

    let browser = Browser::start(1024, 768).await;
    let page = &browser.client;
    page.goto(&format!("{base}/pos#token={CASHIER}")).await.unwrap();
    browser
        .wait_js("the cashier is signed in", "document.getElementById('who').textContent === 'Анна'")
        .await;
    browser
        .wait_js(
            "live updates connected",
            "document.getElementById('link').textContent === 'на связи'",
        )
        .await;
    assert_eq!(browser.wait_js("focus", "document.activeElement.id").await, "scan");

    // A keyboard-wedge scanner types the digits and presses Enter into the focused field.
    let enter = char::from(Key::Enter);
    browser.type_keys(&format!("4601234567893{enter}")).await;
    browser
        .wait_js(
            "milk on the receipt",
            "document.querySelector('#lines').textContent.includes('Молоко')",
        )
        .await;
    browser.type_keys(&format!("4601234567890{enter}")).await;
    let message = browser
        .wait_js(
            "the refusal shown",
            "document.querySelector('#message.error') && document.querySelector('#message').textContent",
        )
        .await;
    assert!(message.as_str().unwrap().contains("expected 3"), "{message}");
    browser.type_keys(&format!("036000291452{enter}")).await;
    browser
        .wait_js("two lines", "document.querySelectorAll('#lines tr').length === 2")
        .await;
    assert_eq!(page.find(Locator::Id("total")).await.unwrap().text().await.unwrap(), "518.90");

    // A scan from another source (the lane's hardware scanner, here the API) shows up live.
    Api::new(&base, CASHIER).scan("1", "4601234567893").await;
    browser
        .wait_js(
            "qty 2 after the live update",
            "document.querySelector('#lines tr td.qty').textContent === '2'",
        )
        .await;

    // Change a quantity by clicking it, void a line, take cash.
    browser.click("#lines tr[data-no='1'] td.qty").await;
    browser
        .wait_js("the qty editor", "document.activeElement.classList.contains('qty-edit')")
        .await;
    // The editor opens with its text selected, so typing replaces it.
    browser.type_keys(&format!("3{enter}")).await;
    browser
        .wait_js("qty 3", "document.querySelector('#lines tr td.qty').textContent === '3'")
        .await;
    browser.click("#lines tr[data-no='2'] button.void").await;
    browser
        .wait_js("one line left", "document.querySelectorAll('#lines tr').length === 1")
        .await;
    assert_eq!(page.find(Locator::Id("total")).await.unwrap().text().await.unwrap(), "269.70");
    assert_eq!(
        browser.wait_js("focus back on the scan field", "document.activeElement.id").await,
        "scan"
    );

    let amount = page.find(Locator::Id("amount")).await.unwrap();
    amount.clear().await.unwrap();
    amount.send_keys("300").await.unwrap();
    page.find(Locator::Id("pay-cash")).await.unwrap().click().await.unwrap();
    let change = browser
        .wait_js(
            "the change shown",
            "!document.getElementById('change').hidden && document.getElementById('change').textContent",
        )
        .await;
    assert_eq!(change, "Сдача: 30.30");
    browser
        .wait_js("the receipt cleared", "document.querySelectorAll('#lines tr').length === 0")
        .await;
    let sales = eventually("the sale at the CRM", Duration::from_secs(10), || async {
        let sales = crm.stored_of("sale");
        (!sales.is_empty()).then_some(sales)
    })
    .await;
    assert_eq!(sales[0].body["data"]["total"], "269.70");
    browser.client.clone().close().await.unwrap();
    running.stop().await;
}
