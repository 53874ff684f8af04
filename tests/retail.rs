//! A day's retail operations over real HTTP: promotions and manual discounts within the role's
//! limit, a loyalty card, strict amounts, a mixed payment, returns against the sale, cash in
//! and out, the X report, parked receipts across a restart, the last closed receipt after a
//! reconnect, and the item search.

mod common;

use common::crm::TestCrm;
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::{Value, json};
use std::time::Duration;

fn item(id: &str, name: &str, barcode: &str, price: &str) -> Value {
    json!({"kind": "item", "op": "upsert", "id": id, "data": {
        "sku": id, "name": name, "unit": "pcs", "vat": "20", "weighted": false, "marked": false,
        "barcodes": [barcode], "prices": {"retail": price}}})
}

fn catalog() -> Vec<Value> {
    vec![
        item("I-1001", "Молоко 3,2% 1 л", "4601234567893", "89.90"),
        item("I-1009", "Кофе растворимый 95 г", "0036000291452", "429.00"),
        item("I-1002", "Хлеб Бородинский", "4600000000015", "54.50"),
        item("I-1003", "Ёжик в тумане, мармелад", "4600000000022", "120.00"),
        json!({"kind": "client", "op": "upsert", "id": "C-77", "data": {
            "name": "Иван Петров", "phones": ["+7 912 345-67-89"], "loyalty_cards": ["2775000000017"],
            "bonus_balance": "350", "allow_credit": false}}),
        json!({"kind": "promotion", "op": "upsert", "id": "PR-7", "data": {
            "name": "Молочная неделя −10 %", "rule": "percent", "percent": "10",
            "items": ["I-1001"], "groups": [], "min_qty": "1"}}),
    ]
}

const LANE: &str = "[[lanes]]\nid = \"1\"\n";
const RULES: &str = "[discounts]\ncashier_max_percent = \"10\"\n[loyalty]\naccrual_percent = \"5\"\nmax_redeem_percent = \"50\"\n[payments]\nconfirm_cash_above = \"50000\"\n";

struct Till {
    running: storeterm::daemon::Running,
    cashier: Api,
    admin: Api,
}

async fn start(text: &str) -> Till {
    let running = storeterm::daemon::start(parse_config(text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    Till {
        cashier: Api::new(&base, CASHIER),
        admin: Api::new(&base, ADMIN),
        running,
    }
}

async fn wait_catalog(admin: &Api, items: u64) {
    eventually("catalog pulled from the CRM", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == items).then_some(())
    })
    .await;
}

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn a_day_of_discounts_payments_returns_and_cash() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), LANE, &format!("{}{RULES}", crm.config(30)));
    let till = start(&text).await;
    let (cashier, admin) = (&till.cashier, &till.admin);
    wait_catalog(admin, 4).await;
    let (status, shift) = cashier.post("/api/v1/lanes/1/shift/open", json!({})).await;
    assert_eq!(status, 200, "{shift}");

    // Quantity before the scan, as 1C's till takes it; the promotion applies by itself.
    let (status, receipt) = cashier.scan("1", "3*4601234567893").await;
    assert_eq!(status, 200, "{receipt}");
    let milk = &receipt["lines"][0];
    assert_eq!((milk["qty"].as_str(), milk["sum"].as_str()), (Some("3"), Some("269.70")));
    assert_eq!(milk["discount"], "26.97");
    assert_eq!(milk["promotions"], json!(["Молочная неделя −10 %"]));
    let (_, receipt) = cashier.scan("1", "0036000291452").await;
    assert_eq!(receipt["total"], "671.73");

    // A cashier may give 10 %, not 15 %; an admin may.
    let (status, body) = cashier
        .post("/api/v1/lanes/1/receipt/discount", json!({"percent": "15", "line": 2}))
        .await;
    assert_eq!((status, code(&body)), (403, Some("discount_limit")), "{body}");
    assert_eq!(cashier.receipt("1").await, receipt, "a refused discount changes nothing");
    let (status, body) = admin
        .post("/api/v1/lanes/1/receipt/discount", json!({"percent": "15", "line": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][1]["discount"], "64.35");
    assert_eq!(body["total"], "607.38");
    let (status, body) = cashier.post("/api/v1/lanes/1/receipt/discount", json!({"percent": "abc"})).await;
    assert_eq!((status, code(&body)), (422, Some("invalid_discount")), "{body}");

    // The loyalty card attaches the client.
    let (status, body) = cashier
        .post("/api/v1/lanes/1/receipt/client", json!({"card": "2775000000017"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client"]["name"], "Иван Петров");
    let (status, body) = cashier
        .post("/api/v1/lanes/1/receipt/client", json!({"card": "2779999999999"}))
        .await;
    assert_eq!((status, code(&body)), (404, Some("unknown_client")), "{body}");

    // Strict amounts: no exponents, no fractions of a kopeck, no JSON floats.
    let before = cashier.receipt("1").await;
    for bad in [
        json!("1e10"),
        json!("1e2"),
        json!("10.005"),
        json!(1e2),
        json!(10.5),
        json!("-5"),
        json!("0"),
    ] {
        let (status, body) = cashier
            .post("/api/v1/lanes/1/payments", json!({"method": "cash", "amount": bad}))
            .await;
        assert_eq!((status, code(&body)), (422, Some("invalid_amount")), "amount {bad}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_ascii(), "Russian: {body}");
    }
    let (_, body) = cashier.pay("1", "cash", "10.005").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("двух знаков"), "{body}");
    // An amount above the configured bound needs a confirmation.
    let (status, body) = cashier.pay("1", "cash", "60000").await;
    assert_eq!((status, code(&body)), (409, Some("confirm_amount")), "{body}");
    // Points pay at most the program's share of the receipt.
    let (status, body) = cashier.pay("1", "bonus", "400").await;
    assert_eq!((status, code(&body)), (422, Some("bonus_limit")), "{body}");
    assert_eq!(cashier.receipt("1").await, before, "refused payments change nothing");

    // A mixed payment: points, card with its RRN, cash with change.
    let (status, body) = cashier.pay("1", "bonus", "100").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("partial")), "{body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/payments",
            json!({"method": "card", "amount": "300.00", "rrn": "123456789012"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["remaining"], "207.38");
    let (status, paid) = cashier.pay("1", "cash", "500").await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("closed")), "{paid}");
    assert_eq!(paid["change"], "292.62");
    assert_eq!(paid["receipt"]["bonus_accrued"], "25.37");
    let sale_id = paid["receipt"]["id"].as_str().unwrap().to_string();
    // The points are held in the client's ledger: only 250 are left for another receipt.
    cashier.scan("1", "2*0036000291452").await;
    let (status, body) = cashier
        .post("/api/v1/lanes/1/receipt/client", json!({"phone": "89123456789"}))
        .await;
    assert_eq!((status, body["client"]["id"].as_str()), (200, Some("C-77")), "by phone: {body}");
    let (status, body) = cashier.pay("1", "bonus", "251").await;
    assert_eq!((status, code(&body)), (409, Some("insufficient_bonus")), "{body}");
    // 200 of them pay part of this receipt; cancelling it gives them back.
    let (status, body) = cashier.pay("1", "bonus", "200").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("partial")), "{body}");
    let (status, body) = cashier.pay("1", "bonus", "51").await;
    assert_eq!((status, code(&body)), (409, Some("insufficient_bonus")), "{body}");
    let (status, body) = cashier.post("/api/v1/lanes/1/receipt/cancel", json!({})).await;
    assert_eq!(status, 200, "{body}");
    cashier.scan("1", "2*0036000291452").await;
    cashier
        .post("/api/v1/lanes/1/receipt/client", json!({"card": "2775000000017"}))
        .await;
    let (status, body) = cashier.pay("1", "bonus", "250").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("partial")),
        "released points spendable: {body}"
    );
    let (status, body) = cashier.post("/api/v1/lanes/1/receipt/cancel", json!({})).await;
    assert_eq!(status, 200, "{body}");

    // Returns: by the sale's id, partial, never more than sold minus returned.
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": sale_id, "lines": [{"no": 1, "qty": "1"}], "method": "cash"}),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("closed")), "{body}");
    // What was paid for one of three discounted litres: (269.70 − 26.97) / 3.
    assert_eq!(body["return"]["total"], "80.91");
    assert_eq!(body["return"]["sale"]["receipt"], sale_id.as_str());
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": "1", "lines": [{"no": 1, "qty": "3"}], "method": "cash"}),
        )
        .await;
    assert_eq!((status, code(&body)), (409, Some("return_exceeds_sale")), "{body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": "1", "lines": [{"no": 1, "qty": "2"}], "method": "card"}),
        )
        .await;
    assert_eq!(status, 200, "by number in the shift: {body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": "1/1", "lines": [{"no": 1, "qty": "1"}], "method": "card"}),
        )
        .await;
    // Found by shift and number; its milk is all back already.
    assert_eq!(
        (status, code(&body)),
        (409, Some("return_exceeds_sale")),
        "by shift and number: {body}"
    );
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": "2/1", "lines": [{"no": 2, "qty": "1"}], "method": "card"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, Some("unknown_sale")), "no shift 2: {body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": "00000000-0000-7000-8000-000000000000", "lines": [{"no": 1, "qty": "1"}], "method": "cash"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, Some("unknown_sale")), "{body}");
    // Without a receipt: only an admin.
    let no_receipt = json!({"items": [{"code": "4600000000015", "qty": "1"}], "method": "cash"});
    let (status, body) = cashier.post("/api/v1/lanes/1/returns", no_receipt.clone()).await;
    assert_eq!((status, code(&body)), (403, Some("return_not_allowed")), "{body}");
    let (status, body) = admin.post("/api/v1/lanes/1/returns", no_receipt).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["return"]["total"], "54.50");

    // Cash in and out; never more out than the drawer holds.
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/cash",
            json!({"direction": "in", "amount": "1000", "reason": "размен"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let drawer: rust_decimal::Decimal = body["movement"]["drawer_after"].as_str().unwrap().parse().unwrap();
    // 500 − 292.62 change + 1000, less the cash refunds: the part of 80.91 not paid in points,
    // and the 54.50 without a receipt.
    assert!(
        drawer > rust_decimal::Decimal::from(1000) && drawer < rust_decimal::Decimal::new(115329, 2),
        "{body}"
    );
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/cash",
            json!({"direction": "out", "amount": "5000", "reason": "инкассация"}),
        )
        .await;
    assert_eq!((status, code(&body)), (409, Some("drawer_short")), "{body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/cash",
            json!({"direction": "out", "amount": "1e3", "reason": "инкассация"}),
        )
        .await;
    assert_eq!((status, code(&body)), (422, Some("invalid_amount")), "{body}");
    let (status, body) = cashier
        .post(
            "/api/v1/lanes/1/cash",
            json!({"direction": "out", "amount": "1000", "reason": "инкассация"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The X report counts it all without closing the shift.
    let (status, x) = cashier.post("/api/v1/lanes/1/x-report", json!({})).await;
    assert_eq!(status, 200, "{x}");
    assert_eq!((x["status"].as_str(), x["returns"].as_u64()), (Some("open"), Some(3)));
    assert_eq!(x["totals"]["cash_in"], "1000.00");
    assert_eq!(x["totals"]["cash_out"], "1000.00");
    assert_eq!(
        x["drawer"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap(),
        drawer - rust_decimal::Decimal::from(1000)
    );
    assert_eq!(x["totals"]["discounts"], "91.32");

    // Every document reached the CRM: it was in the outbox before the answer.
    eventually("retail documents delivered", Duration::from_secs(10), || async {
        let count = |k: &str| crm.stored_of(k).len();
        (count("sale") == 1 && count("return") == 3 && count("cash_in") == 1 && count("cash_out") == 1).then_some(())
    })
    .await;
    let sale = &crm.stored_of("sale")[0].body["data"];
    assert_eq!(sale["cashier"], "Анна");
    assert_eq!(sale["lines"][0]["promotions"], json!(["PR-7"]));
    assert_eq!(crm.stored_of("return")[0].body["data"]["sale"], sale_id.as_str());
    till.running.stop().await;
}

#[tokio::test]
async fn parked_receipts_and_the_last_change_due_survive_a_restart() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), LANE, &crm.config(30));
    let till = start(&text).await;
    wait_catalog(&till.admin, 4).await;
    let cashier = &till.cashier;
    cashier.scan("1", "4601234567893").await;
    cashier.scan("1", "4601234567893").await;
    let (status, body) = cashier.post("/api/v1/lanes/1/receipt/park", json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("parked")), "{body}");
    let parked_id = body["parked"]["id"].as_str().unwrap().to_string();
    assert_eq!(cashier.receipt("1").await["lines"], json!([]));
    // The next customer: paid in cash with change.
    cashier.scan("1", "4600000000015").await;
    let (status, paid) = cashier.pay("1", "cash", "100").await;
    assert_eq!((status, paid["change"].as_str()), (200, Some("45.50")), "{paid}");
    till.running.stop().await;

    // After a restart: the parked receipt is still there, and the last receipt with its
    // change due is shown to a screen that never got the answer.
    let till = start(&text).await;
    let cashier = &till.cashier;
    let (status, last) = cashier.get("/api/v1/lanes/1/last-closed").await;
    assert_eq!(status, 200, "{last}");
    assert_eq!((last["number"].as_u64(), last["change"].as_str()), (Some(2), Some("45.50")));
    let mut events = cashier.events("/api/v1/lanes/1/events").await;
    assert_eq!(events.next_named("closed").await["change"], "45.50");
    let (status, list) = cashier.get("/api/v1/lanes/1/parked").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!((list[0]["number"].as_u64(), list[0]["total"].as_str()), (Some(1), Some("161.82")));
    let (status, body) = cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!((status, code(&body)), (409, Some("parked_receipts")), "{body}");
    let (status, body) = cashier.post(&format!("/api/v1/lanes/1/parked/{parked_id}/resume"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["number"].as_u64(), body["lines"].as_array().unwrap().len()), (Some(1), 1));
    let (_, last) = cashier.get("/api/v1/lanes/1/last-closed").await;
    assert_eq!(last, Value::Null, "a new receipt replaces the last change due");
    let (status, body) = cashier.post(&format!("/api/v1/lanes/1/parked/{parked_id}/resume"), json!({})).await;
    assert_eq!((status, code(&body)), (409, Some("receipt_open")), "{body}");
    let (status, paid) = cashier.pay("1", "card", "161.82").await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("closed")), "{paid}");
    let (status, z) = cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!((status, z["receipts"].as_u64()), (200, Some(2)), "{z}");
    till.running.stop().await;
}

#[tokio::test]
async fn items_are_found_by_name_sku_and_plu() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), LANE, &crm.config(1));
    let till = start(&text).await;
    wait_catalog(&till.admin, 4).await;
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The index is built from the catalog after each pulled page: wait until it has this one.
    let body = eventually("the catalog in the search index", Duration::from_secs(10), || async {
        let (status, body) = till.cashier.get("/api/v1/items/search?q=%D0%9C%D0%9E%D0%9B").await; // «МОЛ»
        assert_eq!(status, 200, "{body}");
        (!names(&body).is_empty()).then_some(body)
    })
    .await;
    assert_eq!(names(&body), ["Молоко 3,2% 1 л"]);
    assert_eq!(body["items"][0]["price"], "89.90");
    let (_, body) = till.cashier.get("/api/v1/items/search?q=ежик%20мар").await;
    assert_eq!(names(&body), ["Ёжик в тумане, мармелад"]);
    let (_, body) = till.cashier.get("/api/v1/items/search?q=i1009").await;
    assert_eq!(names(&body), ["Кофе растворимый 95 г"]);
    let (_, body) = till.cashier.get("/api/v1/items/search?q=сыр").await;
    assert_eq!(names(&body), Vec::<String>::new());
    // The index follows the catalog: it is rebuilt after the page is applied, and searches
    // answer from the previous index meanwhile.
    crm.add_page(vec![item("I-2000", "Сыр Российский", "4600000000039", "650.00")]);
    wait_catalog(&till.admin, 5).await;
    let found = eventually("the new item in the search index", Duration::from_secs(10), || async {
        let (_, body) = till.cashier.get("/api/v1/items/search?q=сыр").await;
        let found = names(&body);
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(found, ["Сыр Российский"]);
    till.running.stop().await;
}
