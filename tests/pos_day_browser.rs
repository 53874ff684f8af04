//! A whole day at the till in a real headless Chromium at 1024×768: open the shift, sell with a
//! promotion and a manual discount to a loyalty-card client, pay with points, card and cash,
//! put a receipt aside and take it back, return goods against the first sale, put cash in and
//! take it out, print the X and Z reports — and read every printout back from the printer.

mod common;

use common::browser::Browser;
use common::crm::TestCrm;
use common::escpos_reader;
use common::printer::TestPrinter;
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use std::time::Duration;

fn item(id: &str, name: &str, barcode: &str, price: &str) -> Value {
    json!({"kind": "item", "op": "upsert", "id": id, "data": {
        "sku": id, "name": name, "unit": "pcs", "vat": "20", "barcodes": [barcode], "prices": {"retail": price}}})
}

/// Set the value of an input the way a person does: clear it and type.
async fn fill(browser: &Browser, css: &str, text: &str) {
    let input = browser.client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn message(browser: &Browser, what: &str, contains: &str) -> String {
    let script = format!(
        "document.getElementById('message').textContent.includes({}) && document.getElementById('message').textContent",
        serde_json::to_string(contains).unwrap()
    );
    browser.wait_js(what, &script).await.as_str().unwrap_or_default().to_string()
}

async fn dialog_open(browser: &Browser, title: &str) {
    let script = format!(
        "document.getElementById('dialog').open && document.getElementById('dialog-title').textContent.includes({})",
        serde_json::to_string(title).unwrap()
    );
    browser.wait_js(title, &script).await;
}

#[tokio::test]
#[ignore = "needs chromium"]
async fn a_whole_day_at_the_till() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![
        item("I-1001", "Молоко 3,2% 1 л", "4601234567893", "89.90"),
        item("I-1009", "Кофе растворимый 95 г", "0036000291452", "429.00"),
        item("I-1002", "Хлеб Бородинский", "4600000000015", "54.50"),
        json!({"kind": "client", "op": "upsert", "id": "C-77", "data": {
            "name": "Иван Петров", "loyalty_cards": ["2775000000017"], "bonus_balance": "350"}}),
        json!({"kind": "promotion", "op": "upsert", "id": "PR-7", "data": {
            "name": "Молочная неделя", "rule": "percent", "percent": "10",
            "items": ["I-1001"], "groups": [], "min_qty": "1"}}),
    ]);
    let printer = TestPrinter::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{}\"\nprofile = \"generic-80mm\"\n{}\
         [loyalty]\naccrual_percent = \"5\"\nmax_redeem_percent = \"50\"\n",
        printer.addr,
        crm.config(30)
    );
    let text = config_text(
        "127.0.0.1:0",
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\nprinter = \"printer-1\"\n",
        &extra,
    );
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    eventually("catalog", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"] == 3).then_some(())
    })
    .await;

    let browser = Browser::start(1024, 768).await;
    let page = &browser.client;
    page.goto(&format!("{base}/pos#token={CASHIER}")).await.unwrap();
    browser
        .wait_js(
            "live updates connected",
            "document.getElementById('link').textContent === 'на связи'",
        )
        .await;
    // Every function key is on screen, within 1024×768.
    let fkeys = browser
        .wait_js(
            "function keys visible",
            "[...document.querySelectorAll('.fkeys button')].every(b => { const r = b.getBoundingClientRect(); return r.bottom <= 768 && r.right <= 1024 && r.width > 0; }) && document.querySelector('.fkeys').textContent",
        )
        .await;
    for key in ["F2 Поиск", "F3 Количество", "F4 Скидка", "F6 Оплата", "F7 Отложить", "F9 Возврат"]
    {
        assert!(fkeys.as_str().unwrap().contains(key), "{key} in {fkeys}");
    }

    // Open the shift.
    browser.click("#open-shift").await;
    browser
        .wait_js("shift open", "document.getElementById('shift').textContent === 'Смена № 1 открыта'")
        .await;

    // A sale: milk (a promotion applies) twice by quantity, coffee found by name.
    let enter = char::from(Key::Enter);
    browser.click("#fk-qty").await;
    dialog_open(&browser, "Количество").await;
    browser.type_keys(&format!("2{enter}")).await;
    browser
        .wait_js("the quantity prefix", "document.getElementById('scan').value === '2*'")
        .await;
    browser.type_keys(&format!("4601234567893{enter}")).await;
    browser
        .wait_js(
            "milk with its promotion",
            "document.querySelector('#lines').textContent.includes('Молочная неделя') && document.querySelector('#lines tr td.qty').textContent === '2'",
        )
        .await;
    browser.click("#fk-search").await;
    dialog_open(&browser, "Поиск").await;
    browser.type_keys("КОФЕ раств").await;
    browser
        .wait_js(
            "coffee found with its price",
            "document.getElementById('search-results').textContent.includes('429,00')",
        )
        .await;
    browser.click("#search-results button.add").await;
    browser
        .wait_js("two lines", "document.querySelectorAll('#lines tr').length === 2")
        .await;
    // 2 × 89.90 − 10 % = 161.82, and 429.00: money as people write it.
    assert_eq!(
        browser.wait_js("total", "document.getElementById('total').textContent").await,
        "590,82\u{a0}₽"
    );

    // A manual 5 % discount on the receipt.
    browser.click("#fk-discount").await;
    dialog_open(&browser, "Скидка").await;
    browser.type_keys(&format!("5{enter}")).await;
    message(&browser, "discount applied", "Скидка применена").await;
    browser
        .wait_js(
            "discount shown",
            "document.getElementById('discount-info').textContent.includes('Скидка по чеку')",
        )
        .await;

    // The loyalty card.
    browser.click("#fk-client").await;
    dialog_open(&browser, "Клиент").await;
    browser.type_keys(&format!("2775000000017{enter}")).await;
    browser
        .wait_js(
            "the client",
            "document.getElementById('client').textContent.includes('Иван Петров')",
        )
        .await;
    let receipt = Api::new(&base, CASHIER).receipt("1").await;
    let total: rust_decimal::Decimal = receipt["total"].as_str().unwrap().parse().unwrap();

    // A mixed payment: 100 in points, 200 by card (with its RRN), the rest in cash.
    fill(&browser, "#amount", "100").await;
    browser.click("#pay-bonus").await;
    message(&browser, "points taken", "Принято 100,00").await;
    fill(&browser, "#amount", "200").await;
    browser.click("#pay-card").await;
    dialog_open(&browser, "терминал одобрил").await;
    browser.type_keys(&format!("123456789012{enter}")).await;
    message(&browser, "card taken", "Принято 200,00").await;
    fill(&browser, "#amount", "1000").await;
    browser.click("#pay-cash").await;
    let change = browser
        .wait_js(
            "the change due",
            "!document.getElementById('change').hidden && document.getElementById('change').textContent",
        )
        .await;
    let due = rust_decimal::Decimal::from(1300) - total;
    assert_eq!(
        change.as_str().unwrap(),
        format!("Сдача: {}\u{a0}₽", due.to_string().replace('.', ","))
    );
    // The closed receipt stays on screen with its change until the next scan.
    browser
        .wait_js(
            "the closed receipt stays",
            "document.getElementById('title').textContent === 'Чек № 1 закрыт' && document.querySelectorAll('#lines tr').length === 2",
        )
        .await;
    let sale_id = eventually("the sale at the CRM", Duration::from_secs(10), || async {
        crm.stored_of("sale")
            .first()
            .map(|s| s.body["data"]["receipt"].as_str().unwrap().to_string())
    })
    .await;
    assert_eq!(crm.stored_of("sale")[0].body["data"]["client"], "C-77");

    // A deferred receipt: bread, put aside, taken back, paid.
    browser.type_keys(&format!("4600000000015{enter}")).await;
    browser
        .wait_js("receipt 2", "document.getElementById('title').textContent.startsWith('Чек № 2')")
        .await;
    browser.click("#fk-park").await;
    message(&browser, "parked", "отложен").await;
    browser.click("#fk-parked").await;
    dialog_open(&browser, "Отложенные").await;
    browser.click("#dialog-ok").await;
    message(&browser, "resumed", "снова в работе").await;
    fill(&browser, "#amount", "54,50").await;
    browser.click("#pay-cash").await;
    browser
        .wait_js(
            "receipt 2 closed",
            "document.getElementById('title').textContent === 'Чек № 2 закрыт'",
        )
        .await;

    // A return against the first sale: the QR code on its printed receipt, scanned into the
    // till's scan field, opens the return with the sale filled in; the cashier confirms.
    let sale_code = eventually("the first receipt printed", Duration::from_secs(10), || async {
        printer.jobs().iter().find_map(|job| {
            escpos_reader::read(job, &[(17, "cp866")]).into_iter().find_map(|op| match op {
                escpos_reader::Op::Qr { data, .. } => Some(String::from_utf8(data).unwrap()),
                _ => None,
            })
        })
    })
    .await;
    assert_eq!(sale_code, sale_id, "the receipt's code is the sale's id");
    browser.type_keys(&format!("{sale_code}{enter}")).await;
    dialog_open(&browser, "Возврат").await;
    browser.click("#dialog-ok").await;
    dialog_open(&browser, "Оформить возврат").await;
    browser.click("#dialog-ok").await;
    message(&browser, "return done", "Возврат № 1 оформлен").await;

    // Cash in and out.
    browser.click("#fk-cash").await;
    dialog_open(&browser, "Внесение").await;
    fill(&browser, "#dialog-body input[name=amount]", "500").await;
    fill(&browser, "#dialog-body input[name=reason]", "размен").await;
    browser.click("#dialog-ok").await;
    message(&browser, "cash in", "Внесено 500,00").await;
    browser.click("#fk-cash").await;
    dialog_open(&browser, "Внесение").await;
    page.execute(
        "document.querySelector('#dialog-body select[name=direction]').value = 'out'",
        vec![],
    )
    .await
    .unwrap();
    fill(&browser, "#dialog-body input[name=amount]", "300").await;
    fill(&browser, "#dialog-body input[name=reason]", "инкассация").await;
    browser.click("#dialog-ok").await;
    message(&browser, "cash out", "Выплачено 300,00").await;

    // X report, then the Z report after a confirmation.
    browser.click("#fk-x").await;
    message(&browser, "X printed", "X-отчёт напечатан").await;
    browser.click("#close-shift").await;
    dialog_open(&browser, "Закрыть смену").await;
    browser.click("#dialog-ok").await;
    message(&browser, "Z", "Смена № 1 закрыта").await;

    // Read every printout back from the printer: 2 sales, 1 return, 2 slips, X and Z.
    let printed = eventually("seven printouts", Duration::from_secs(15), || async {
        let jobs = printer.jobs();
        (jobs.len() >= 7).then_some(jobs)
    })
    .await;
    let texts: Vec<String> = printed
        .iter()
        .map(|job| escpos_reader::lines(&escpos_reader::read(job, &[(17, "cp866")])).join("\n"))
        .collect();
    let find = |title: &str| -> &String {
        texts
            .iter()
            .find(|t| t.contains(title))
            .unwrap_or_else(|| panic!("no printout with «{title}» in {texts:#?}"))
    };
    let sale = find("ТОВАРНЫЙ ЧЕК № 1");
    assert!(sale.contains("Кассир: Анна") && sale.contains("Молочная неделя"), "{sale}");
    let ret = find("ЧЕК ВОЗВРАТА № 1");
    assert!(ret.contains("К чеку продажи № 1") && ret.contains("Кассир: Анна"), "{ret}");
    assert!(find("ВНЕСЕНИЕ НАЛИЧНЫХ").contains("размен"));
    assert!(find("ВЫПЛАТА НАЛИЧНЫХ").contains("инкассация"));
    let x = find("ОТЧЁТ БЕЗ ГАШЕНИЯ (X)");
    assert!(x.contains("Чеков возврата") && x.contains("Внесено"), "{x}");
    let z = find("ОТЧЁТ О ЗАКРЫТИИ СМЕНЫ (Z)");
    let line = |name: &str| {
        z.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {z}"))
            .to_string()
    };
    assert!(line("Чеков продажи").ends_with(" 2"), "{z}");
    assert!(line("Чеков возврата").ends_with(" 1"), "{z}");
    assert!(line("Внесено").ends_with(" 500.00"), "{z}");
    assert!(line("Изъято").ends_with(" 300.00"), "{z}");
    assert!(!line("  в т.ч. скидки").ends_with(" 0.00"), "discounts counted: {z}");
    assert!(z.contains("Наличных в кассе") && z.contains("Кассир"), "{z}");
    browser.client.clone().close().await.unwrap();
    running.stop().await;
}
