//! The cashier's printer panel in a real headless Chromium: paper out in words, then a
//! receipt whose connection dropped mid-job, reprinted as a copy with one tap.

mod common;

use common::browser::Browser;
use common::crm::TestCrm;
use common::printer::{Condition, TestPrinter};
use common::{ADMIN, Api, CASHIER, config_text, cp866, eventually, parse_config};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs chromium"]
async fn the_cashier_sees_paper_out_and_reprints_an_unknown_receipt() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10",
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]);
    let printer = TestPrinter::start().await;
    printer.set_condition(Condition::PaperOut);
    let dir = tempfile::tempdir().unwrap();
    let devices = format!(
        "[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{}\"\n{}",
        printer.addr,
        crm.config(30)
    );
    let text = config_text(
        "127.0.0.1:0",
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\nprinter = \"printer-1\"\n",
        &devices,
    );
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    let cashier = Api::new(&base, CASHIER);
    eventually("catalog", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"] == 1).then_some(())
    })
    .await;

    let browser = Browser::start(1024, 768).await;
    let page = &browser.client;
    page.goto(&format!("{base}/pos#token={CASHIER}")).await.unwrap();
    // The idle printer's status is polled: the cashier learns about the paper before a sale.
    browser
        .wait_js(
            "paper out shown in words",
            "document.getElementById('printer-status').textContent.includes('нет бумаги')",
        )
        .await;
    assert_eq!(
        browser
            .wait_js("shown as a problem", "document.getElementById('printer-status').className")
            .await,
        "printer-status bad"
    );

    // Paper loaded; the next job's connection drops after 40 bytes.
    printer.set_condition(Condition::Ready);
    printer.drop_next_job_after(40);
    cashier.scan("1", "4601234567893").await;
    let (status, body) = cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200, "{body}");
    browser
        .wait_js(
            "the cashier is asked whether to reprint",
            "document.querySelector('#printer-decisions').textContent.includes('Перепечатать?')",
        )
        .await;
    assert_eq!(printer.jobs().len(), 1);
    browser.click("#printer-decisions button.reprint").await;
    let jobs = eventually("the copy printed", Duration::from_secs(10), || async {
        let jobs = printer.jobs();
        (jobs.len() == 2).then_some(jobs)
    })
    .await;
    let mark = cp866("КОПИЯ");
    assert!(jobs[1].windows(mark.len()).any(|w| w == mark.as_slice()));
    browser
        .wait_js(
            "the question is gone",
            "document.querySelectorAll('#printer-decisions li').length === 0",
        )
        .await;
    drop(browser);
    running.stop().await;
}
