//! A lane with a fiscal register, end to end over loopback: storeterm's API, the test ATOL web
//! server (`tests/common/atol.rs`) and the test CRM. A sale is paid only with its ФД/ФП and
//! the `sale` document carries them; a register out of paper refuses in Russian, closes no
//! sale, and the retry works; storeterm killed with `kill -9` between sending the task and its
//! answer finds, after a restart, the one document — by the task's uuid, or by comparing the
//! register's last document when the web server forgot the uuid — and never makes a second.

mod common;

use common::atol::TestAtol;
use common::crm::TestCrm;
use common::daemon::{free_port, start, try_post};
use common::{ADMIN, Api, CASHIER, GUARD, config_text, eventually, parse_config};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::Duration;

const MILK: &str = "4601234567893";

fn catalog(crm: &TestCrm) {
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "A-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10",
        "barcodes": [MILK], "prices": {"retail": "89.90"}}})]);
}

fn register_config(atol: &TestAtol) -> String {
    format!(
        "[[devices]]\nid = \"kkt-1\"\nkind = \"fiscal\"\ndriver = \"atol-web\"\naddress = \"{}\"\n",
        atol.address()
    )
}

const FISCAL_LANE: &str = "[[lanes]]\nid = \"1\"\nfiscal = \"kkt-1\"\n";

struct Till {
    _running: storeterm::daemon::Running,
    cashier: Api,
    admin: Api,
    _dir: tempfile::TempDir,
}

async fn start_till(crm: &TestCrm, atol: &TestAtol, lanes: &str) -> Till {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("{}{}", crm.config(30), register_config(atol));
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), lanes, &extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    let till = Till {
        cashier: Api::new(&base, CASHIER),
        admin: Api::new(&base, ADMIN),
        _running: running,
        _dir: dir,
    };
    wait_catalog(&till.admin).await;
    till
}

async fn wait_catalog(admin: &Api) {
    eventually("catalog pulled from the CRM", GUARD, || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == 1).then_some(())
    })
    .await;
}

/// The `sale` documents the CRM received for `receipt`.
async fn sale_at_crm(crm: &TestCrm, receipt: &str) -> Value {
    document_at_crm(crm, "sale", "receipt", receipt).await
}

/// The document of `kind` the CRM received whose `data[key]` is `id`.
async fn document_at_crm(crm: &TestCrm, kind: &str, key: &str, id: &str) -> Value {
    eventually(&format!("the {kind} document reached the CRM"), GUARD, || async {
        crm.stored_of(kind).into_iter().find(|d| d.body["data"][key] == id).map(|d| d.body)
    })
    .await
}

#[tokio::test]
async fn a_fiscalised_sale_answers_with_fd_fp_and_shift_and_the_sale_document_carries_them() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;

    let (status, _) = till.cashier.scan("1", MILK).await;
    assert_eq!(status, 200);
    let (status, paid) = till.cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "closed");
    let journal = atol.journal();
    assert_eq!(journal.len(), 1, "one fiscal document: {journal:?}");
    let doc = &journal[0];
    assert_eq!((doc.kind.as_str(), doc.total), ("sell", Some(dec!(89.90))));
    assert_eq!(paid["fiscal"]["fd"], doc.fd);
    assert_eq!(paid["fiscal"]["fp"], doc.fp.as_str());
    assert_eq!(paid["fiscal"]["shift"], doc.shift);
    assert_eq!(paid["receipt"]["fiscal"]["fd"], doc.fd);
    // The receipt went to the register as the cashier rang it up: cash 100 against 89.90.
    sent_as(&atol, "sell");

    let receipt = paid["receipt"]["id"].as_str().unwrap();
    let sale = sale_at_crm(&crm, receipt).await;
    assert_eq!(sale["data"]["fiscal"]["fd"], doc.fd);
    assert_eq!(sale["data"]["fiscal"]["fp"], doc.fp.as_str());
    assert_eq!(sale["data"]["fiscal"]["shift"], doc.shift);

    let (_, admin) = till.admin.get("/api/v1/admin/status").await;
    let lane = &admin["lanes"][0];
    assert_eq!(lane["register"], "kkt-1");
    let words = lane["register_state"].as_str().unwrap();
    assert!(
        words.starts_with("ККТ kkt-1: на связи; смена ККТ № 12 открыта; последний ФД 71"),
        "{lane}"
    );
    // The ФН's life from the start-up probe stays beside the later notes.
    assert!(words.contains("; ФН 9999078900000961 до "), "{lane}");
    assert!(lane["fiscal"]["pending"].is_null());
}

#[tokio::test]
async fn a_marked_pack_is_checked_and_accepted_at_the_register_before_its_sale() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-3001", "data": {
        "sku": "I-3001", "name": "Кроссовки беговые", "unit": "pcs", "vat": "22", "marked": true,
        "mark_group": "shoes", "barcodes": ["4607000000014"], "prices": {"retail": "4990.00"}}})]);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;
    let mark = "010460700000001421sh0e5eR1aL\u{1d}91EE06\u{1d}92MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";
    let (status, body) = till.cashier.scan("1", mark).await;
    assert_eq!(status, 200, "{body}");
    let (status, paid) = till.cashier.pay("1", "card", "4990.00").await;
    assert_eq!(status, 200, "{paid}");
    let types = atol.task_types();
    let at = |t: &str| {
        types
            .iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("{t} never sent: {types:?}"))
    };
    assert!(at("beginMarkingCodeValidation") < at("getMarkingCodeValidationStatus"));
    assert!(at("getMarkingCodeValidationStatus") < at("acceptMarkingCode"));
    assert!(at("acceptMarkingCode") < at("sell"), "{types:?}");
    let body = atol.last_body().unwrap();
    let item = &body["request"][0]["items"][0];
    assert_eq!(item["paymentObject"], "commodityWithMarking");
    assert!(item["imcParams"].is_object(), "{item}");
    assert_eq!(item["tax"]["type"], "vat22");
    assert_eq!(atol.receipts_of(dec!(4990.00)).len(), 1);
}

#[tokio::test]
async fn the_z_report_closes_the_register_shift_and_the_next_sale_opens_it() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;

    till.cashier.scan("1", MILK).await;
    let (status, _) = till.cashier.pay("1", "card", "89.90").await;
    assert_eq!(status, 200);
    let (status, shift) = till.cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!(status, 200, "{shift}");
    let kinds: Vec<String> = atol.journal().into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, ["sell", "closeShift"]);
    // Closing again changes nothing at the register (storeterm's shift is closed: refused).
    let (status, _) = till.cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(atol.journal().len(), 2);

    // The first sale of the next shift opens the register's shift first.
    till.cashier.scan("1", MILK).await;
    let (status, paid) = till.cashier.pay("1", "cash", "89.90").await;
    assert_eq!(status, 200, "{paid}");
    let journal = atol.journal();
    let kinds: Vec<&str> = journal.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["sell", "closeShift", "openShift", "sell"]);
    assert_eq!(paid["fiscal"]["shift"], journal[3].shift);
    assert_eq!(journal[3].shift, journal[0].shift + 1);
}

#[tokio::test]
async fn paper_out_is_said_in_russian_closes_no_sale_and_the_retry_registers_it_once() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;

    till.cashier.scan("1", MILK).await;
    atol.set_paper(false);
    let (status, refused) = till.cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "kkt_paper_out");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("закончилась бумага"), "{message}");
    assert!(atol.journal().is_empty(), "no document was made");

    // The sale is held, not closed: the lane says why and refuses a new receipt meanwhile.
    let (_, fiscal) = till.cashier.get("/api/v1/lanes/1/fiscal").await;
    assert_eq!(fiscal["pending"]["code"], "kkt_paper_out");
    assert_eq!(fiscal["pending"]["stage"]["state"], "refused");
    let (status, blocked) = till.cashier.scan("1", MILK).await;
    assert_eq!(status, 409, "{blocked}");
    assert_eq!(blocked["error"]["code"], "fiscal_pending");
    let (_, admin) = till.admin.get("/api/v1/admin/status").await;
    assert_eq!(admin["lanes"][0]["fiscal"]["pending"]["code"], "kkt_paper_out");
    assert_eq!(
        admin["outbox"]["pending"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "sale")
            .count(),
        0
    );

    // A retry with the paper still out is refused again and makes nothing.
    let (status, again) = till.cashier.post("/api/v1/lanes/1/fiscal/retry", json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (422, Some("kkt_paper_out")), "{again}");
    assert!(atol.journal().is_empty());

    atol.set_paper(true);
    let (status, paid) = till.cashier.post("/api/v1/lanes/1/fiscal/retry", json!({})).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "closed");
    let receipts = atol.receipts_of(dec!(89.90));
    assert_eq!(receipts.len(), 1, "exactly one document: {receipts:?}");
    assert_eq!(paid["fiscal"]["fd"], receipts[0].fd);
    let sale = sale_at_crm(&crm, paid["receipt"]["id"].as_str().unwrap()).await;
    assert_eq!(sale["data"]["fiscal"]["fp"], receipts[0].fp.as_str());

    // The lane sells again.
    let (status, _) = till.cashier.scan("1", MILK).await;
    assert_eq!(status, 200);
    // A retry with nothing held says so.
    let (status, nothing) = till.cashier.post("/api/v1/lanes/1/fiscal/retry", json!({})).await;
    assert_eq!((status, nothing["error"]["code"].as_str()), (422, Some("fiscal_nothing_pending")));
}

#[tokio::test]
async fn the_web_server_down_refuses_the_payment_before_anything_is_held() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;
    till.cashier.scan("1", MILK).await;
    atol.stop().await;
    let (status, refused) = till.cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "atol_unreachable");
    // Nothing changed: the receipt is still open and unpaid.
    let receipt = till.cashier.receipt("1").await;
    assert_eq!(receipt["payments"], json!([]));
    assert_eq!(receipt["lines"].as_array().unwrap().len(), 1);
    atol.resume().await;
    let (status, paid) = till.cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(atol.journal().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_server_gone_after_the_sale_was_sent_holds_it_and_storeterm_finds_it_when_back() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;
    till.cashier.scan("1", MILK).await;
    atol.hold_receipts();
    let cashier = till.cashier.clone();
    let paying = tokio::spawn(async move { cashier.pay("1", "cash", "100").await });
    // Stop between two polls of the held task (not in the middle of one's connection).
    atol.wait_until("storeterm polls the held sale", |a| {
        (a.held() == 1 && a.held_polls() >= 1).then_some(())
    })
    .await;
    atol.stop().await;
    let (status, waiting) = paying.await.unwrap();
    assert_eq!(status, 503, "{waiting}");
    let code = waiting["error"]["code"].as_str().unwrap();
    assert!(matches!(code, "atol_unreachable" | "atol_dropped"), "{waiting}");
    assert!(
        waiting["error"]["message"].as_str().unwrap().contains("ждёт ответа кассы"),
        "{waiting}"
    );
    let (status, blocked) = till.cashier.scan("1", MILK).await;
    assert_eq!((status, blocked["error"]["code"].as_str()), (409, Some("fiscal_pending")));
    let (_, fiscal) = till.cashier.get("/api/v1/lanes/1/fiscal").await;
    assert_eq!(fiscal["pending"]["stage"]["state"], "waiting");

    // The register signs the held task; the web server comes back; storeterm asks again by
    // itself and closes the sale with that document — nothing is sent twice.
    atol.release();
    atol.resume().await;
    eventually("the held sale closed by the background recovery", GUARD, || async {
        let (_, fiscal) = till.cashier.get("/api/v1/lanes/1/fiscal").await;
        fiscal["pending"].is_null().then_some(())
    })
    .await;
    let receipts = atol.receipts_of(dec!(89.90));
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let sale = eventually("the sale document", GUARD, || async { crm.stored_of("sale").pop().map(|d| d.body) }).await;
    assert_eq!(sale["data"]["fiscal"]["fd"], receipts[0].fd);
}

#[tokio::test]
async fn a_lane_without_a_register_prints_non_fiscal_receipts_and_admin_says_so() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, "[[lanes]]\nid = \"1\"\n[[lanes]]\nid = \"2\"\nfiscal = \"kkt-1\"\n").await;
    till.cashier.scan("1", MILK).await;
    let (status, paid) = till.cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200);
    assert!(paid.get("fiscal").is_none(), "{paid}");
    assert!(atol.journal().is_empty());
    let (_, admin) = till.admin.get("/api/v1/admin/status").await;
    assert_eq!(admin["lanes"][0]["register_state"], "без ККТ — нефискальные чеки");
    assert_eq!(admin["lanes"][1]["register"], "kkt-1");
    let kkt = admin["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "kkt-1")
        .unwrap()
        .clone();
    assert_eq!(kkt["kind"], "fiscal");
}

/// The test CRM with its catalog, the test register, and a config file for a storeterm run
/// as its own process (to be killed), with its port.
async fn killable() -> (TestCrm, TestAtol, tempfile::TempDir, std::path::PathBuf, u16) {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("storeterm.toml");
    let extra = format!("{}{}", crm.config(30), register_config(&atol));
    std::fs::write(
        &config,
        config_text(&format!("127.0.0.1:{port}"), &dir.path().join("data"), FISCAL_LANE, &extra),
    )
    .unwrap();
    (crm, atol, dir, config, port)
}

/// storeterm is killed after the register took the sale and before its answer arrived; the
/// register then signs it. `forget`: the web server also restarts and forgets the uuid, so
/// the recovery must compare the register's last document with the sale.
async fn killed_between_sending_and_answer(forget: bool) {
    let (crm, atol, _dir, config, port) = killable().await;
    let mut daemon = start(&config, port).await;
    wait_catalog(&daemon.admin).await;
    let (status, _) = daemon.api.scan("1", MILK).await;
    assert_eq!(status, 200);
    atol.hold_receipts();
    let api = daemon.api.clone();
    let paying = tokio::spawn(async move { try_post(&api, "/api/v1/lanes/1/payments", json!({"method": "cash", "amount": "100"})).await });
    atol.wait_until("the sale reached the web server", |a| (a.held() == 1).then_some(()))
        .await;
    daemon.kill9().await;
    assert!(paying.await.unwrap().is_err(), "the killed daemon answered nothing");
    // The register works on the task after storeterm died.
    atol.release();
    assert_eq!(atol.receipts_of(dec!(89.90)).len(), 1);
    if forget {
        atol.restart_forgetting().await;
    }

    let daemon = start(&config, port).await;
    // The held sale is recovered before the lane takes its first command.
    let (_, fiscal) = daemon.api.get("/api/v1/lanes/1/fiscal").await;
    assert!(fiscal["pending"].is_null(), "recovered: {fiscal}");
    let receipts = atol.receipts_of(dec!(89.90));
    assert_eq!(receipts.len(), 1, "exactly one fiscal document for the sale: {receipts:?}");
    assert_eq!(atol.journal().len(), 1, "nothing else was registered");
    let stored = eventually("the sale document reached the CRM", GUARD, || async {
        let sales = crm.stored_of("sale");
        (!sales.is_empty()).then_some(sales)
    })
    .await;
    assert_eq!(stored.len(), 1);
    let sale = &stored[0].body["data"];
    assert_eq!(sale["fiscal"]["fd"], receipts[0].fd);
    assert_eq!(sale["fiscal"]["fp"], receipts[0].fp.as_str());
    assert_eq!(sale["fiscal"]["shift"], receipts[0].shift);
    assert_eq!(sale["total"], "89.90");

    // The lane sells on, and the next sale is the register's next document.
    daemon.api.scan("1", MILK).await;
    let (status, paid) = daemon.api.pay("1", "cash", "89.90").await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["fiscal"]["fd"], receipts[0].fd + 1);
    assert_eq!(atol.receipts_of(dec!(89.90)).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_sending_and_answer_finds_the_one_document_by_its_uuid() {
    killed_between_sending_and_answer(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_a_forgetful_web_server_find_the_document_by_the_registers_last_one() {
    killed_between_sending_and_answer(true).await;
}

/// What a register costs the cashier: the time of a closing payment on a fiscal lane and on a
/// lane without a register, side by side over loopback (the test register answers at once, so
/// the difference is storeterm's own: the status query, the second power-loss commit and the
/// task's round trips). Printed, and bounded loosely so a pathological slowdown fails.
#[tokio::test]
async fn a_fiscalised_payment_costs_a_few_round_trips_more() {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, "[[lanes]]\nid = \"1\"\n[[lanes]]\nid = \"2\"\nfiscal = \"kkt-1\"\n").await;
    const SALES: u32 = 10;
    let mut took = Vec::new();
    for lane in ["1", "2"] {
        let mut total = Duration::ZERO;
        for _ in 0..SALES {
            till.cashier.scan(lane, MILK).await;
            let started = tokio::time::Instant::now();
            let (status, paid) = till.cashier.pay(lane, "cash", "100").await;
            total += started.elapsed();
            assert_eq!(status, 200, "{paid}");
        }
        took.push(total / SALES);
    }
    assert_eq!(atol.receipts_of(dec!(89.90)).len(), SALES as usize);
    eprintln!(
        "closing payment, mean of {SALES}: without a register {:?}, with one {:?}",
        took[0], took[1]
    );
    assert!(took[1] < Duration::from_secs(2), "a fiscalised payment took {:?}", took[1]);
}

/// The test CRM with its catalog, the test register and a till whose lane 1 has it.
async fn fiscal_till() -> (TestCrm, TestAtol, Till) {
    let crm = TestCrm::start().await;
    catalog(&crm);
    let atol = TestAtol::start().await;
    let till = start_till(&crm, &atol, FISCAL_LANE).await;
    (crm, atol, till)
}

/// A fiscalised sale of one milk, paid in cash; its id.
async fn fiscal_sale(cashier: &Api) -> String {
    let (status, _) = cashier.scan("1", MILK).await;
    assert_eq!(status, 200);
    let (status, paid) = cashier.pay("1", "cash", "100").await;
    assert_eq!(status, 200, "{paid}");
    paid["receipt"]["id"].as_str().unwrap().to_string()
}

async fn return_milk(cashier: &Api, sale: &str) -> (u16, Value) {
    cashier
        .post(
            "/api/v1/lanes/1/returns",
            json!({"receipt": sale, "lines": [{"no": 1, "qty": "1"}], "method": "cash"}),
        )
        .await
}

/// The `return` document the CRM received for the return `id`.
async fn return_at_crm(crm: &TestCrm, id: &str) -> Value {
    document_at_crm(crm, "return", "return", id).await
}

/// The last task went to the register as rung up: one milk at 10% VAT, money in cash.
fn sent_as(atol: &TestAtol, kind: &str) {
    let body = atol.last_body().unwrap();
    let task = &body["request"][0];
    assert_eq!(task["type"], kind);
    assert_eq!(task["items"][0]["tax"]["type"], "vat10");
    assert_eq!(task["payments"][0]["type"], "cash");
}

/// `fiscal` carries the register's document's ФД, ФП and shift.
fn carries(fiscal: &Value, doc: &common::atol::Doc) {
    assert_eq!(fiscal["fd"], doc.fd, "{fiscal}");
    assert_eq!(fiscal["fp"], doc.fp.as_str());
    assert_eq!(fiscal["shift"], doc.shift);
}

/// The register's "paper out" reached the cashier as a refusal in Russian words.
fn said_paper_out((status, refused): (u16, Value)) {
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("kkt_paper_out")),
        "{refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("закончилась бумага"), "{message}");
}

fn count(types: &[String], kind: &str) -> usize {
    types.iter().filter(|t| *t == kind).count()
}

#[tokio::test]
async fn a_return_registers_one_sell_return_and_its_answer_and_document_carry_fd_fp() {
    let (crm, atol, till) = fiscal_till().await;
    let sale = fiscal_sale(&till.cashier).await;

    let (status, ret) = return_milk(&till.cashier, &sale).await;
    assert_eq!((status, ret["status"].as_str()), (200, Some("closed")), "{ret}");
    let journal = atol.journal();
    let [_, doc] = journal.as_slice() else {
        panic!("the sale and its return: {journal:?}")
    };
    assert_eq!((doc.kind.as_str(), doc.total), ("sellReturn", Some(dec!(89.90))));
    assert_eq!(count(&atol.task_types(), "sellReturn"), 1);
    for fiscal in [&ret["fiscal"], &ret["return"]["fiscal"]] {
        carries(fiscal, doc);
    }
    // The register was told what goes back and how the money is handed back.
    sent_as(&atol, "sellReturn");

    let id = ret["return"]["id"].as_str().unwrap();
    let document = return_at_crm(&crm, id).await;
    carries(&document["data"]["fiscal"], doc);
    assert_eq!(document["data"]["total"], "89.90");
    // The return was made once: the milk is all back.
    let (status, again) = return_milk(&till.cashier, &sale).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("return_exceeds_sale")),
        "{again}"
    );
    assert_eq!(atol.journal().len(), 2);
}

#[tokio::test]
async fn cash_in_and_out_each_run_once_at_the_register_and_their_documents_say_so() {
    let (crm, atol, till) = fiscal_till().await;
    fiscal_sale(&till.cashier).await;
    let before = atol.cash();

    let in_register = |v: &Value| v.as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    let mut answers = Vec::new();
    for (direction, amount, reason, after) in [("in", "500", "размен", dec!(500)), ("out", "300", "инкассация", dec!(200))]
    {
        let body = json!({"direction": direction, "amount": amount, "reason": reason});
        let (status, answer) = till.cashier.post("/api/v1/lanes/1/cash", body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["kkt"]["register"], "kkt-1");
        assert_eq!(in_register(&answer["kkt"]["cash_in_register"]), before + after);
        assert_eq!(answer["movement"]["kkt"], answer["kkt"]);
        answers.push(answer);
    }

    let types = atol.task_types();
    assert_eq!((count(&types, "cashIn"), count(&types, "cashOut")), (1, 1), "{types:?}");
    assert_eq!(atol.cash(), before + dec!(200));
    // Cash operations sign no fiscal document: the register's journal has the sale only.
    assert_eq!(atol.journal().len(), 1);
    let body = atol.last_body().unwrap();
    assert_eq!(body["request"][0]["type"], "cashOut");
    assert_eq!(body["request"][0]["cashSum"], 300.0);

    for (kind, movement) in ["cash_in", "cash_out"].into_iter().zip(&answers) {
        let id = movement["movement"]["id"].as_str().unwrap();
        let document = document_at_crm(&crm, kind, "movement", id).await;
        assert_eq!(document["data"]["kkt"], movement["kkt"], "{document}");
    }
}

#[tokio::test]
async fn the_x_report_prints_at_the_register_and_paper_out_is_said_in_russian() {
    let (_crm, atol, till) = fiscal_till().await;
    fiscal_sale(&till.cashier).await;

    let (status, report) = till.cashier.post("/api/v1/lanes/1/x-report", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(count(&atol.task_types(), "reportX"), 1);
    atol.set_paper(false);
    said_paper_out(till.cashier.post("/api/v1/lanes/1/x-report", json!({})).await);
    // Not a fiscal document, nothing is held: the lane goes on.
    let (_, fiscal) = till.cashier.get("/api/v1/lanes/1/fiscal").await;
    assert!(fiscal["pending"].is_null(), "{fiscal}");
    assert_eq!(atol.journal().len(), 1);
}

#[tokio::test]
async fn paper_out_on_a_return_is_said_in_russian_records_no_return_and_the_retry_registers_it_once() {
    let (crm, atol, till) = fiscal_till().await;
    let sale = fiscal_sale(&till.cashier).await;

    atol.set_paper(false);
    said_paper_out(return_milk(&till.cashier, &sale).await);
    assert_eq!(atol.journal().len(), 1, "no return document was made");

    // The return is held, not made: no `return` document, the lane says why and takes
    // nothing new meanwhile.
    let (_, fiscal) = till.cashier.get("/api/v1/lanes/1/fiscal").await;
    assert_eq!(fiscal["pending"]["kind"], "return", "{fiscal}");
    assert_eq!(fiscal["pending"]["code"], "kkt_paper_out");
    assert_eq!(fiscal["pending"]["stage"]["state"], "refused");
    let (status, blocked) = return_milk(&till.cashier, &sale).await;
    assert_eq!(
        (status, blocked["error"]["code"].as_str()),
        (409, Some("fiscal_pending")),
        "{blocked}"
    );
    assert!(
        blocked["error"]["message"].as_str().unwrap().starts_with("возврат № 1 "),
        "{blocked}"
    );
    let (_, admin) = till.admin.get("/api/v1/admin/status").await;
    let pending = admin["outbox"]["pending"].as_array().unwrap();
    assert_eq!(pending.iter().filter(|d| d["kind"] == "return").count(), 0, "{pending:?}");
    assert!(crm.stored_of("return").is_empty());

    atol.set_paper(true);
    let (status, done) = till.cashier.post("/api/v1/lanes/1/fiscal/retry", json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "closed");
    let journal = atol.journal();
    let returns: Vec<_> = journal.iter().filter(|d| d.kind == "sellReturn").collect();
    assert_eq!(returns.len(), 1, "exactly one return document: {journal:?}");
    assert_eq!(returns[0].total, Some(dec!(89.90)));
    assert_eq!(done["fiscal"]["fd"], returns[0].fd);
    let document = return_at_crm(&crm, done["return"]["id"].as_str().unwrap()).await;
    assert_eq!(document["data"]["fiscal"]["fp"], returns[0].fp.as_str());
    // The lane takes new work again.
    let (status, _) = till.cashier.scan("1", MILK).await;
    assert_eq!(status, 200);
}

/// storeterm is killed after the register took a return and before its answer arrived; after
/// the restart the return is found by its uuid and made once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_sending_a_return_and_its_answer_makes_one_sell_return() {
    let (crm, atol, _dir, config, port) = killable().await;
    let mut daemon = start(&config, port).await;
    wait_catalog(&daemon.admin).await;
    let sale = fiscal_sale(&daemon.api).await;
    atol.hold_receipts();
    let api = daemon.api.clone();
    let returning = tokio::spawn(async move {
        try_post(
            &api,
            "/api/v1/lanes/1/returns",
            json!({"receipt": sale, "lines": [{"no": 1, "qty": "1"}], "method": "cash"}),
        )
        .await
    });
    atol.wait_until("the return reached the web server", |a| (a.held() == 1).then_some(()))
        .await;
    daemon.kill9().await;
    assert!(returning.await.unwrap().is_err(), "the killed daemon answered nothing");
    atol.release();
    let signed = |a: &TestAtol| a.journal().into_iter().filter(|d| d.kind == "sellReturn").collect::<Vec<_>>();
    assert_eq!(signed(&atol).len(), 1);

    let daemon = start(&config, port).await;
    let (_, fiscal) = daemon.api.get("/api/v1/lanes/1/fiscal").await;
    assert!(fiscal["pending"].is_null(), "recovered: {fiscal}");
    let returns = signed(&atol);
    assert_eq!(returns.len(), 1, "exactly one return document: {returns:?}");
    assert_eq!(count(&atol.task_types(), "sellReturn"), 1, "the return was never sent again");
    let stored = eventually("the return document reached the CRM", GUARD, || async {
        let docs = crm.stored_of("return");
        (!docs.is_empty()).then_some(docs)
    })
    .await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body["data"]["fiscal"]["fd"], returns[0].fd);
    assert_eq!(stored[0].body["data"]["fiscal"]["fp"], returns[0].fp.as_str());
}
