//! Warehouse fixtures: feed changes for items with storage data, cells, stock, pick orders
//! and expected receipts, and a running storeterm with them pulled from a test CRM.

use super::crm::TestCrm;
use super::{ADMIN, Api, STOREKEEPER, config_text, eventually, parse_config};
use serde_json::{Value, json};
use std::time::Duration;

pub const MILK: &str = "4601234567893";
pub const COFFEE: &str = "0036000291452";
pub const CHEESE: &str = "4600000000015";
pub const CELL_A1_BARCODE: &str = "2990000012342";

pub fn item(id: &str, name: &str, barcode: &str, storage: Value) -> Value {
    let mut data = json!({"sku": id, "name": name, "unit": "pcs", "vat": "20", "barcodes": [barcode], "prices": {"retail": "10.00"}});
    if let (Value::Object(d), Value::Object(s)) = (&mut data, storage) {
        d.extend(s);
    }
    json!({"kind": "item", "op": "upsert", "id": id, "data": data})
}

pub fn cell(address: &str, zone: &str, barcode: Option<&str>, max_weight: Option<&str>) -> Value {
    json!({"kind": "cell", "op": "upsert", "id": format!("CELL-{address}"), "data": {
        "address": address, "zone": zone, "barcode": barcode, "max_weight": max_weight}})
}

pub fn stock(item: &str, address: &str, qty: &str) -> Value {
    json!({"kind": "stock", "op": "upsert", "id": format!("{item}@CELL-{address}"),
        "data": {"item": item, "cell": format!("CELL-{address}"), "qty": qty}})
}

pub fn pick_order(id: &str, number: &str, lines: &[(&str, &str)]) -> Value {
    json!({"kind": "pick_order", "op": "upsert", "id": id, "data": {
        "number": number, "client": "C-77", "due": "2026-11-23T12:00:00Z",
        "lines": lines.iter().map(|(i, q)| json!({"item": i, "qty": q})).collect::<Vec<_>>()}})
}

pub fn expected(id: &str, number: &str, lines: &[(&str, &str)]) -> Value {
    json!({"kind": "expected_receipt", "op": "upsert", "id": id, "data": {
        "number": number, "supplier": "ООО Поставщик",
        "lines": lines.iter().map(|(i, q)| json!({"item": i, "qty": q})).collect::<Vec<_>>()}})
}

/// The standard small warehouse: zone A racks and a zone B rack, milk (1 kg, zone A),
/// coffee (no weight, no zone), cheese (zone B); some stock; one order; one delivery.
pub fn standard_feed() -> Vec<Value> {
    vec![
        item(
            "I-1001",
            "Молоко 3,2% 1 л",
            MILK,
            json!({"weight": "1", "volume": "0.001", "zone": "A"}),
        ),
        item("I-1009", "Кофе растворимый 95 г", COFFEE, json!({})),
        item("I-2002", "Сыр Российский", CHEESE, json!({"weight": "5", "zone": "B"})),
        cell("A-01-02-3", "A", Some(CELL_A1_BARCODE), Some("100")),
        cell("A-01-01-1", "A", None, Some("60")),
        cell("A-02-01-1", "A", None, Some("500")),
        cell("A-10-01-1", "A", None, Some("500")),
        cell("B-01-01-1", "B", None, Some("500")),
        stock("I-1001", "A-01-02-3", "48"),
        stock("I-1001", "A-10-01-1", "5"),
        stock("I-1009", "A-01-01-1", "20"),
        pick_order("ZK-1012", "ЗК-1012", &[("I-1001", "12"), ("I-1009", "3")]),
        expected("PO-501", "ЗП-501", &[("I-1001", "120"), ("I-2002", "10")]),
    ]
}

/// storeterm with `feed` pulled from a fresh test CRM; returns it, the CRM and a
/// storekeeper's API client.
pub async fn start(feed: Vec<Value>, extra: &str) -> (storeterm::daemon::Running, TestCrm, Api, tempfile::TempDir) {
    let crm = TestCrm::start().await;
    crm.add_page(feed);
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        "127.0.0.1:0",
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\n",
        &format!("{}\n{extra}", crm.config(1)),
    );
    let running = storeterm::daemon::start(parse_config(&text)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    eventually("the feed pulled", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["catalog"]["items"].as_u64() > Some(0)).then_some(())
    })
    .await;
    // The page is applied atomically: items present means the cells are too.
    let api = Api::new(&base, STOREKEEPER);
    (running, crm, api, dir)
}
