//! The cashier's path end to end, through real transports: a pseudo-terminal as the scanner's
//! serial port, a loopback TCP printer, a loopback CRM, and storeterm's HTTP API.

mod common;

use common::crm::{Mode, TestCrm};
use common::printer::TestPrinter;
use common::{ADMIN, Api, CASHIER, STOREKEEPER, config_text, cp866, eventually, parse_config, wait_device};
use serde_json::{Value, json};
use std::time::Duration;
use storeterm::devices::pty::Pty;
use tokio::io::AsyncWriteExt;

fn item(id: &str, name: &str, barcode: &str, price: &str, vat: &str) -> Value {
    json!({"kind": "item", "op": "upsert", "id": id, "data": {
        "sku": id, "name": name, "unit": "pcs", "vat": vat, "weighted": false, "marked": false,
        "barcodes": [barcode], "prices": {"retail": price}}})
}

fn catalog() -> Vec<Value> {
    vec![
        item("I-1001", "Молоко 3,2% 1 л", "4601234567893", "89.90", "10"),
        item("I-1009", "Кофе растворимый 95 г", "0036000291452", "429.00", "20"),
        item("I-1002", "Хлеб Бородинский", "4600000000015", "54.50", "10"),
        json!({"kind": "client", "op": "upsert", "id": "C-77", "data": {"name": "ООО Ромашка"}}),
    ]
}

const LANE: &str = "[[lanes]]\nid = \"1\"\n";

struct Till {
    running: storeterm::daemon::Running,
    cashier: Api,
    admin: Api,
    _dir: tempfile::TempDir,
}

async fn start_till(lane: &str, extra: &str) -> Till {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), lane, extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    Till {
        cashier: Api::new(&base, CASHIER),
        admin: Api::new(&base, ADMIN),
        running,
        _dir: dir,
    }
}

async fn wait_catalog(admin: &Api, items: u64) {
    eventually("catalog pulled from the CRM", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == items).then_some(())
    })
    .await;
}

fn two_columns(left: &str, right: &str) -> String {
    let pad = 48 - left.chars().count() - right.chars().count();
    format!("{left}{}{right}", " ".repeat(pad))
}

/// The receipt as the generic 80 mm profile must print it, byte by byte.
fn expected_receipt(closed_at: &str) -> Vec<u8> {
    let when = closed_at
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%d.%m.%Y %H:%M")
        .to_string();
    let rule = "-".repeat(48);
    let text_lines = |lines: &[String]| -> Vec<u8> { lines.iter().flat_map(|l| [cp866(l), vec![0x0A]].concat()).collect() };
    let mut bytes = Vec::new();
    bytes.extend([0x1B, 0x40, 0x1C, 0x2E, 0x1B, 0x74, 17]); // ESC @, FS ., ESC t 17 (PC866)
    bytes.extend([0x1B, 0x70, 0, 25, 250]); // drawer: pin 2, 50 ms
    bytes.extend([0x1B, 0x61, 1, 0x1B, 0x45, 1]); // centred, bold
    bytes.extend(text_lines(&["Магазин у дома".into()]));
    bytes.extend([0x1B, 0x45, 0]);
    bytes.extend(text_lines(&["ул. Ленина, 1".into()]));
    bytes.extend([0x1B, 0x45, 1]);
    bytes.extend(text_lines(&["ТОВАРНЫЙ ЧЕК № 1".into()]));
    bytes.extend([0x1B, 0x45, 0, 0x1B, 0x61, 0]);
    bytes.extend(text_lines(&[
        two_columns("Смена № 1", "Касса 1"),
        two_columns(&when, "Кассир: Анна"),
        rule.clone(),
        "1. Молоко 3,2% 1 л".into(),
        format!("{:>48}", "3 x 89.90 = 269.70"),
        "2. Кофе растворимый 95 г".into(),
        format!("{:>48}", "1 x 429.00 = 429.00"),
        rule.clone(),
    ]));
    bytes.extend([0x1B, 0x45, 1, 0x1D, 0x21, 0x01]); // bold, double height
    bytes.extend(text_lines(&[two_columns("ИТОГО", "=698.70")]));
    bytes.extend([0x1D, 0x21, 0x00, 0x1B, 0x45, 0]);
    bytes.extend(text_lines(&[
        two_columns("Банковской картой", "500.00"),
        two_columns("Наличными", "200.00"),
        two_columns("Сдача", "1.30"),
        two_columns("В т.ч. НДС 10%", "24.52"),
        two_columns("В т.ч. НДС 20%", "71.50"),
        rule,
    ]));
    bytes.extend([0x1B, 0x61, 1]);
    bytes.extend(text_lines(&["Спасибо за покупку!".into()]));
    bytes.extend([0x1B, 0x61, 0]);
    bytes.extend([0x0A, 0x1D, 0x56, 66, 4]); // LF, feed 4 and cut partially
    bytes
}

#[tokio::test]
async fn scan_sell_print_and_report_a_sale() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let printer = TestPrinter::start().await;
    let mut pty = Pty::open().unwrap();
    let lane = "[[lanes]]\nid = \"1\"\nscanner = \"scanner-1\"\nprinter = \"printer-1\"\n";
    let devices = format!(
        "[[devices]]\nid = \"scanner-1\"\nkind = \"scanner\"\ntransport = \"serial\"\npath = \"{}\"\nbaud = 9600\n\
         [[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{}\"\nprofile = \"generic-80mm\"\n{}",
        pty.slave_path.display(),
        printer.addr,
        crm.config(30)
    );
    let till = start_till(lane, &devices).await;
    let (cashier, admin) = (&till.cashier, &till.admin);
    wait_catalog(admin, 3).await;
    wait_device(&till.running, "scanner-1", storeterm::devices::DeviceState::Connected).await;
    let mut events = cashier.events("/api/v1/lanes/1/events").await;
    assert_eq!(events.next_named("receipt").await["lines"], json!([]));

    // A hardware scan, exactly as a USB-COM scanner sends it.
    pty.master.write_all(b"4601234567893\r").await.unwrap();
    let receipt = events.next_named("receipt").await;
    assert_eq!(receipt["lines"][0]["name"], "Молоко 3,2% 1 л");
    assert_eq!(receipt["lines"][0]["qty"], "1");
    assert_eq!(receipt["number"], 1);

    // A wrong check digit from the scanner: refused with the reason, the receipt unchanged.
    pty.master.write_all(b"4601234567890\r\n").await.unwrap();
    let refused = events.next_named("refused").await;
    assert_eq!(refused["code"], "invalid_barcode");
    assert!(refused["message"].as_str().unwrap().contains("expected 3"), "{refused}");
    assert_eq!(cashier.receipt("1").await["lines"].as_array().unwrap().len(), 1);

    // The same refusals through the API.
    let (status, body) = cashier.scan("1", "4601234567890").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_barcode")));
    let (status, body) = cashier.scan("1", "4006381333931").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_item")));
    assert_eq!(cashier.receipt("1").await["total"], "89.90");

    // UPC-A finds the item stored as EAN-13; quantities change; a line is voided.
    let (status, body) = cashier.scan("1", "036000291452").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][1]["item"], "I-1009");
    cashier.scan("1", "4600000000015").await;
    let (status, body) = cashier
        .call(reqwest::Method::PATCH, "/api/v1/lanes/1/receipt/lines/1", Some(json!({"qty": "3"})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][0]["sum"], "269.70");
    let (status, body) = cashier.call(reqwest::Method::DELETE, "/api/v1/lanes/1/receipt/lines/3", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], "698.70");

    // Card for part, cash for the rest, with change.
    let (status, body) = cashier.pay("1", "card", "500.00").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["remaining"].as_str()),
        (Some("partial"), Some("198.70"))
    );
    let (status, body) = cashier.pay("1", "cash", "200").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["change"], "1.30");
    assert_eq!(body["receipt"]["number"], 1);
    let closed_at = body["receipt"]["closed_at"].as_str().unwrap().to_string();
    let receipt_id = body["receipt"]["id"].as_str().unwrap().to_string();
    assert_eq!(cashier.receipt("1").await["id"], Value::Null);

    // The printer gets exactly the receipt, with the drawer kick for the cash.
    let job = eventually("the receipt printed", Duration::from_secs(10), || async {
        printer.jobs().first().cloned()
    })
    .await;
    let expected = expected_receipt(&closed_at);
    assert_eq!(
        job,
        expected,
        "\n got: {:?}\nwant: {:?}",
        String::from_utf8_lossy(&job),
        String::from_utf8_lossy(&expected)
    );

    // The CRM gets the shift opening and the sale, each under its idempotency key, in order.
    let docs = eventually("documents at the CRM", Duration::from_secs(10), || async {
        (crm.stored().len() >= 2).then(|| crm.stored())
    })
    .await;
    assert_eq!(docs[0].body["kind"], "shift_open");
    assert_eq!(docs[0].body["seq"], 1);
    let sale = &docs[1];
    assert_eq!(sale.body["kind"], "sale");
    assert_eq!(sale.body["seq"], 2);
    assert_eq!(sale.body["site"], "shop-1");
    assert_eq!(sale.key, sale.body["id"].as_str().unwrap());
    let data = &sale.body["data"];
    assert_eq!(data["receipt"], receipt_id);
    assert_eq!(data["total"], "698.70");
    assert_eq!(data["change"], "1.30");
    assert_eq!(data["cashier"], "Анна");
    assert_eq!(data["lines"][0]["item"], "I-1001");
    assert_eq!(data["lines"][0]["qty"], "3");
    assert_eq!(
        data["payments"],
        json!([{"method": "card", "amount": "500.00"}, {"method": "cash", "amount": "200.00"}])
    );

    // The shift closes with its totals, reported too.
    let (status, shift) = cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!(status, 200, "{shift}");
    assert_eq!(
        shift["totals"],
        json!({"sales": "698.70", "cash": "198.70", "card": "500.00", "change": "1.30"})
    );
    eventually("shift_close at the CRM", Duration::from_secs(10), || async {
        (crm.stored_of("shift_close").len() == 1).then_some(())
    })
    .await;
    till.running.stop().await;
}

#[tokio::test]
async fn documents_wait_out_a_crm_outage_and_arrive_once_each() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    crm.set_mode(Mode::Unavailable);
    let till = start_till(LANE, &crm.config(30)).await;
    let cashier = &till.cashier;
    wait_catalog(&till.admin, 3).await;

    let mut receipts = Vec::new();
    for _ in 0..2 {
        cashier.scan("1", "4601234567893").await;
        let (status, body) = cashier.pay("1", "cash", "100").await;
        assert_eq!(status, 200, "{body}");
        receipts.push(body["receipt"]["id"].as_str().unwrap().to_string());
    }
    // 503s, then requests that time out, then HTML instead of JSON: nothing counts as delivered.
    eventually("retries against the 503", Duration::from_secs(10), || async {
        (crm.attempts() >= 2).then_some(())
    })
    .await;
    crm.set_mode(Mode::Hang);
    let seen = crm.attempts();
    eventually("retries against the hanging CRM", Duration::from_secs(10), || async {
        (crm.attempts() >= seen + 2).then_some(())
    })
    .await;
    crm.set_mode(Mode::Html);
    let seen = crm.attempts();
    eventually("retries against the HTML answers", Duration::from_secs(10), || async {
        (crm.attempts() >= seen + 2).then_some(())
    })
    .await;
    assert!(crm.stored().is_empty());
    let (_, status) = till.admin.get("/api/v1/admin/status").await;
    assert_eq!(status["outbox"]["waiting"], 3);
    assert_eq!(status["crm"]["online"], false);

    crm.set_mode(Mode::Normal);
    let docs = eventually("delivery after recovery", Duration::from_secs(15), || async {
        (crm.stored().len() == 3).then(|| crm.stored())
    })
    .await;
    let seqs: Vec<u64> = docs.iter().map(|d| d.body["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let sold: Vec<String> = crm
        .stored_of("sale")
        .iter()
        .map(|d| d.body["data"]["receipt"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sold, receipts);
    eventually("outbox drained", Duration::from_secs(5), || async {
        let (_, status) = till.admin.get("/api/v1/admin/status").await;
        (status["outbox"]["waiting"] == 0 && status["outbox"]["delivered_seq"] == 3).then_some(())
    })
    .await;
    till.running.stop().await;
}

#[tokio::test]
async fn a_refused_document_is_parked_and_does_not_block_the_rest() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    crm.reject_kind("shift_open");
    let till = start_till(LANE, &crm.config(30)).await;
    wait_catalog(&till.admin, 3).await;
    till.cashier.scan("1", "4601234567893").await;
    till.cashier.pay("1", "card", "89.90").await;
    eventually("the sale delivered", Duration::from_secs(10), || async {
        (crm.stored_of("sale").len() == 1).then_some(())
    })
    .await;
    let (_, status) = till.admin.get("/api/v1/admin/status").await;
    let parked = &status["outbox"]["parked"][0];
    assert_eq!(parked["kind"], "shift_open");
    assert!(parked["reason"].as_str().unwrap().contains("422"), "{parked}");
    till.running.stop().await;
}

#[tokio::test]
async fn catalog_follows_the_feed_and_the_till_sells_while_the_crm_is_down() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog()[..1].to_vec());
    crm.add_page(catalog()[1..].to_vec());
    let till = start_till(LANE, &crm.config(1)).await;
    let cashier = &till.cashier;
    // Two pages, fetched one after the other because the first said "more".
    wait_catalog(&till.admin, 3).await;

    crm.set_feed_down(true);
    crm.set_mode(Mode::Unavailable);
    let requests = crm.feed_requests();
    eventually("a failed pull", Duration::from_secs(5), || async {
        (crm.feed_requests() > requests).then_some(())
    })
    .await;
    let (status, _) = cashier.scan("1", "4601234567893").await;
    assert_eq!(status, 200, "sells from the local catalog while the CRM is down");
    let (_, admin_status) = till.admin.get("/api/v1/admin/status").await;
    assert!(
        admin_status["crm"]["pull_error"].as_str().unwrap().contains("502"),
        "{admin_status}"
    );

    // Back up: a price change and a deletion arrive with the next pull.
    crm.add_page(vec![
        item("I-1001", "Молоко 3,2% 1 л", "4601234567893", "94.90", "10"),
        json!({"kind": "item", "op": "delete", "id": "I-1002"}),
    ]);
    crm.set_feed_down(false);
    wait_catalog(&till.admin, 2).await;
    let (status, body) = cashier.scan("1", "4600000000015").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_item")));
    // The line already on the receipt keeps the price the customer was shown; a new receipt
    // gets the new price.
    let (_, body) = cashier.scan("1", "4601234567893").await;
    assert_eq!(body["lines"][0]["price"], "89.90");
    let (_, body) = cashier.call(reqwest::Method::POST, "/api/v1/lanes/1/receipt/cancel", None).await;
    assert_eq!(body["lines"], json!([]));
    let (_, body) = cashier.scan("1", "4601234567893").await;
    assert_eq!(body["lines"][0]["price"], "94.90");
    till.running.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let till = start_till(LANE, &crm.config(30)).await;
    wait_catalog(&till.admin, 3).await;
    let cashier = &till.cashier;
    cashier.scan("1", "4601234567893").await;
    let before = cashier.receipt("1").await;

    let anonymous = Api::new(&cashier.base, "");
    let (status, body) = anonymous.get("/api/v1/lanes/1/receipt").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let wrong = Api::new(&cashier.base, "not-a-token-at-all");
    assert_eq!(wrong.get("/api/v1/lanes/1/receipt").await.0, 401);
    let storekeeper = Api::new(&cashier.base, STOREKEEPER);
    let (status, body) = storekeeper.scan("1", "4601234567893").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(cashier.get("/api/v1/admin/status").await.0, 403);

    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/v1/lanes/1/scan", cashier.base))
        .bearer_auth(CASHIER)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = cashier.scan("9", "4601234567893").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_lane")));
    for qty in [json!("abc"), json!("0"), json!("-1"), json!("1.5"), json!(2.5)] {
        let (status, body) = cashier
            .call(
                reqwest::Method::PATCH,
                "/api/v1/lanes/1/receipt/lines/1",
                Some(json!({ "qty": qty })),
            )
            .await;
        assert!(status == 422 || status == 400, "qty {qty}: {status} {body}");
    }
    let (status, body) = cashier
        .call(reqwest::Method::PATCH, "/api/v1/lanes/1/receipt/lines/7", Some(json!({"qty": "2"})))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_line")));
    let (status, body) = cashier.pay("1", "card", "1000.00").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("card_overpay")));
    let (status, body) = cashier.pay("1", "cheque", "10").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    let (status, body) = cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("receipt_open")));
    assert_eq!(cashier.receipt("1").await, before);
    till.running.stop().await;
}

#[tokio::test]
async fn an_open_receipt_survives_a_restart() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), LANE, &crm.config(30));
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let api = Api::new(format!("http://{}", running.addr), CASHIER);
    let admin = Api::new(format!("http://{}", running.addr), ADMIN);
    wait_catalog(&admin, 3).await;
    api.scan("1", "4601234567893").await;
    api.scan("1", "036000291452").await;
    let before = api.receipt("1").await;
    running.stop().await;

    crm.set_feed_down(true);
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let api = Api::new(format!("http://{}", running.addr), CASHIER);
    assert_eq!(api.receipt("1").await, before);
    let (status, body) = api.pay("1", "cash", "1000").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["receipt"]["number"], 1);
    running.stop().await;
}
