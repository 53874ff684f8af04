//! An office with two operators for the telephony tests: a loopback CRM whose feed has clients
//! (one number shared by two of them, a St Petersburg number, junk phones) and a live card,
//! and storeterm with Ольга on extension 101 and Иван on 102 and 103.

use super::crm::TestCrm;
use super::{Api, config_text, eventually, parse_config};
use serde_json::{Value, json};
use std::time::Duration;

pub const OLGA: &str = "operator-olga-101";
pub const IVAN: &str = "operator-ivan-102";

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/ami/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn clients() -> Vec<Value> {
    vec![
        json!({"kind": "client", "op": "upsert", "id": "C-77", "data": {
            "name": "ООО Ромашка", "phones": ["8 (916) 123-45-67", "+7 (495) 123-45-67"],
            "debt": "15200.00", "credit_limit": "50000.00", "stop_list": false,
            "segment": "wholesale", "manager": "Иванов И.", "last_activity": "2026-11-30T10:00:00Z"}}),
        json!({"kind": "client", "op": "upsert", "id": "C-90", "data": {
            "name": "Петров П. П.", "phones": ["79161234567"], "last_activity": "2025-01-10T10:00:00Z"}}),
        json!({"kind": "client", "op": "upsert", "id": "C-91", "data": {
            "name": "Без телефона", "phones": ["<unknown>", "нет"]}}),
        json!({"kind": "client", "op": "upsert", "id": "C-12", "data": {
            "name": "АО Нева", "phones": ["+7 812 123-45-67"], "stop_list": true, "debt": "90000", "credit_limit": "10000"}}),
    ]
}

pub struct Office {
    pub running: storeterm::daemon::Running,
    pub olga: Api,
    pub ivan: Api,
    pub crm: TestCrm,
    pub _dir: tempfile::TempDir,
}

pub async fn office(telephony: &str) -> Office {
    let crm = TestCrm::start().await;
    crm.add_page(clients());
    crm.set_card(
        "C-77",
        json!({"id": "C-77", "name": "ООО Ромашка", "debt": "15200.00", "overdue": "3000.00",
               "orders": [{"number": "ЗК-1012", "date": "2026-11-20", "amount": "12000.00", "status": "к отгрузке"}],
               "shipments": [{"number": "РН-881", "date": "2026-11-18", "amount": "8000.00"}],
               "payments": [{"number": "ПКО-19", "date": "2026-11-19", "amount": "5000.00"}]}),
    );
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}\n{telephony}\n[calls]\ndefault_country = \"RU\"\ncard_budget_ms = 1000\n\
[[tokens]]\ntoken = \"{OLGA}\"\nrole = \"operator\"\nname = \"Ольга\"\nextension = \"101\"\n\
[[tokens]]\ntoken = \"{IVAN}\"\nrole = \"operator\"\nname = \"Иван\"\nextension = [\"102\", \"103\"]\n",
        crm.config(1)
    );
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), "", &extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    let office = Office {
        olga: Api::new(&base, OLGA),
        ivan: Api::new(&base, IVAN),
        running,
        crm,
        _dir: dir,
    };
    eventually("clients pulled from the CRM", Duration::from_secs(10), || async {
        let (status, body) = office.olga.get("/api/v1/clients/lookup?phone=%2B74951234567").await;
        (status == 200 && body["matches"].as_array()?.len() == 1).then_some(())
    })
    .await;
    office
}
