//! The storekeeper's API end to end: a real storeterm pulling cells, stock, a pick order and
//! an expected receipt from a test CRM over loopback, handheld calls over HTTP, documents
//! arriving at the CRM.

mod common;

use common::wms::{CELL_A1_BARCODE, CHEESE, COFFEE, MILK, cell, item, pick_order, standard_feed, start, stock};
use common::{ADMIN, Api, CASHIER, eventually};
use serde_json::{Value, json};
use std::time::Duration;

fn stock_of(cell: &Value) -> Vec<(String, String)> {
    cell["stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["item"].as_str().unwrap().to_string(), l["qty"].as_str().unwrap().to_string()))
        .collect()
}

async fn qty_in(api: &Api, cell: &str, item: &str) -> String {
    let (status, body) = api.get(&format!("/api/v1/wms/cells/{cell}")).await;
    assert_eq!(status, 200, "{body}");
    stock_of(&body)
        .into_iter()
        .find(|(i, _)| i == item)
        .map(|(_, q)| q)
        .unwrap_or_else(|| "0".into())
}

#[tokio::test]
async fn every_operation_with_its_document_at_the_crm() {
    let (running, crm, api, _dir) = start(standard_feed(), "").await;

    // Cell lookup by address (any case) and by its label barcode.
    let (status, by_address) = api.get("/api/v1/wms/cells/a-01-02-3").await;
    assert_eq!(status, 200, "{by_address}");
    assert_eq!(by_address["id"], "CELL-A-01-02-3");
    assert_eq!(by_address["zone"], "A");
    assert_eq!(by_address["stock"][0]["name"], "Молоко 3,2% 1 л");
    assert_eq!(by_address["stock"][0]["qty"], "48");
    let (_, by_barcode) = api.get(&format!("/api/v1/wms/cells/{CELL_A1_BARCODE}")).await;
    assert_eq!(by_barcode["address"], "A-01-02-3");
    let (status, unknown) = api.get("/api/v1/wms/cells/Z-99-99-9").await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (404, Some("unknown_cell")));

    // Where an item is, by its barcode (UPC-A form of the EAN-13 finds it too).
    let (_, milk) = api.get(&format!("/api/v1/wms/stock?code={MILK}")).await;
    assert_eq!(milk["total"], "53");
    let cells: Vec<&str> = milk["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(cells, vec!["A-01-02-3", "A-10-01-1"]);
    let (_, coffee) = api.get("/api/v1/wms/stock?code=036000291452").await;
    assert_eq!(coffee["cells"][0]["qty"], "20");

    // Receiving against the expected delivery: 100 of 120 milk, no cheese, 2 coffee not announced.
    let (status, received) = api
        .post(
            "/api/v1/wms/receipts",
            json!({"id": "op-receipt-1", "expected": "PO-501", "lines": [
                {"code": MILK, "qty": "60"}, {"code": MILK, "qty": "40"}, {"code": COFFEE, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, 200, "{received}");
    assert_eq!(received["cell"], "RECEIVING");
    let diffs: Vec<(String, String)> = received["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["item"].as_str().unwrap().to_string(), d["diff"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("I-1001".into(), "-20".into()),
            ("I-2002".into(), "-10".into()),
            ("I-1009".into(), "2".into())
        ]
    );
    assert_eq!(received["differences"][1]["name"], "Сыр Российский");
    assert_eq!(qty_in(&api, "RECEIVING", "I-1001").await, "100");

    // Suggestion: a zone-A cell already holding milk with room (A-01-02-3 has 48 kg of 100).
    let (status, s) = api.get(&format!("/api/v1/wms/putaway/suggest?code={MILK}&qty=30")).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["cell"], "CELL-A-01-02-3");
    assert!(s["reason"].as_str().unwrap().contains("already holds 48"), "{s}");
    // 60 more would not fit there (108 kg > 100): the other holding cell with room.
    let (_, s) = api.get(&format!("/api/v1/wms/putaway/suggest?code={MILK}&qty=60")).await;
    assert_eq!(s["cell"], "CELL-A-10-01-1", "{s}");

    let (status, put) = api
        .post(
            "/api/v1/wms/putaway",
            json!({"id": "op-put-1", "code": MILK, "qty": "30", "cell": CELL_A1_BARCODE}),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["to"]["now"], "78");
    assert_eq!(put["from"]["left"], "70");

    let (status, moved) = api
        .post(
            "/api/v1/wms/moves",
            json!({"id": "op-move-1", "code": MILK, "qty": "8", "from": "A-01-02-3", "to": "A-02-01-1"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(qty_in(&api, "A-02-01-1", "I-1001").await, "8");
    assert_eq!(qty_in(&api, "A-01-02-3", "I-1001").await, "70");

    // Picking: FIFO by placement — the feed's lots (older) before the moved one.
    let (_, open) = api.get("/api/v1/wms/picks").await;
    assert_eq!(open[0]["number"], "ЗК-1012");
    let (status, plan) = api.get("/api/v1/wms/picks/ZK-1012").await;
    assert_eq!(status, 200, "{plan}");
    let route: Vec<(String, String)> = plan["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["address"].as_str().unwrap().to_string(), s["qty"].as_str().unwrap().to_string()))
        .collect();
    // Milk 12: A-10 (5, small remainder of the equally old feed lots) then A-01-02-3 (7);
    // coffee 3 from A-01-01-1. Walked by address.
    assert_eq!(
        route,
        vec![
            ("A-01-01-1".into(), "3".into()),
            ("A-01-02-3".into(), "7".into()),
            ("A-10-01-1".into(), "5".into())
        ]
    );

    let scan = |id: &str, cell: &str, code: &str, qty: &str| json!({"id": id, "cell": cell, "code": code, "qty": qty});
    let (status, wrong) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-0", "A-01-02-3", CHEESE, "1"))
        .await;
    assert_eq!((status, wrong["error"]["code"].as_str()), (422, Some("wrong_item")), "{wrong}");
    let (status, wrong_cell) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-0", "B-01-01-1", MILK, "1"))
        .await;
    assert_eq!(
        (status, wrong_cell["error"]["code"].as_str()),
        (409, Some("not_in_cell")),
        "{wrong_cell}"
    );
    let (status, p1) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-1", "A-10-01-1", MILK, "5"))
        .await;
    assert_eq!(status, 200, "{p1}");
    assert_eq!(p1["line"]["remaining"], "7");
    let (status, over) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-2", "A-01-02-3", MILK, "8"))
        .await;
    assert_eq!((status, over["error"]["code"].as_str()), (409, Some("over_pick")), "{over}");
    let (_, p2) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-2", "A-01-02-3", MILK, "7"))
        .await;
    let (_, p3) = api
        .post("/api/v1/wms/picks/ZK-1012/scan", scan("p-3", "A-01-01-1", COFFEE, "3"))
        .await;
    assert_eq!((p2["done"].as_bool(), p3["done"].as_bool()), (Some(false), Some(true)), "{p2} {p3}");
    let (status, done) = api.post("/api/v1/wms/picks/ZK-1012/complete", json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["complete"], true);
    let (_, again) = api.post("/api/v1/wms/picks/ZK-1012/complete", json!({})).await;
    assert_eq!(again, done, "completing twice answers the same");
    let (_, open) = api.get("/api/v1/wms/picks").await;
    assert_eq!(open, json!([]));

    // Counting: the cell is set to what was found.
    let (status, counted) = api
        .post(
            "/api/v1/wms/counts",
            json!({"id": "c-1", "cell": "A-01-02-3", "lines": [{"code": MILK, "qty": "60"}]}),
        )
        .await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["lines"][0]["system"], "63");
    assert_eq!(counted["lines"][0]["diff"], "-3");
    // A second count of the same result (a new id) changes nothing more.
    let (_, second) = api
        .post(
            "/api/v1/wms/counts",
            json!({"id": "c-2", "cell": "A-01-02-3", "lines": [{"code": MILK, "qty": "60"}]}),
        )
        .await;
    assert_eq!(second["lines"][0]["diff"], "0");
    assert_eq!(qty_in(&api, "A-01-02-3", "I-1001").await, "60");

    // The documents at the CRM, in order, each once, with what the CRM needs.
    let docs = eventually("wms documents at the CRM", Duration::from_secs(10), || async {
        let docs: Vec<_> = crm
            .stored()
            .into_iter()
            .filter(|d| d.body["kind"].as_str().unwrap().starts_with("wms_"))
            .collect();
        (docs.len() == 9).then_some(docs)
    })
    .await;
    let kinds: Vec<&str> = docs.iter().map(|d| d.body["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "wms_receipt",
            "wms_putaway",
            "wms_move",
            "wms_pick",
            "wms_pick",
            "wms_pick",
            "wms_pick",
            "wms_count",
            "wms_count"
        ]
    );
    let seqs: Vec<u64> = docs.iter().map(|d| d.body["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let r = &docs[0].body["data"];
    assert_eq!(r["expected"], "PO-501");
    assert_eq!(r["supplier"], "ООО Поставщик");
    assert_eq!(r["storekeeper"], "Пётр");
    assert_eq!(r["lines"][0]["sku"], "I-1001");
    assert_eq!(r["differences"][0]["diff"], "-20");
    let put = &docs[1].body["data"];
    assert_eq!(
        (put["from"]["id"].as_str(), put["to"]["address"].as_str()),
        (Some("RECEIVING"), Some("A-01-02-3"))
    );
    assert_eq!(put["qty"], "30");
    assert_eq!(docs[2].body["data"]["to"]["address"], "A-02-01-1");
    assert_eq!(docs[3].body["data"]["event"], "scan");
    assert_eq!(docs[3].body["data"]["cell"]["address"], "A-10-01-1");
    assert_eq!(docs[6].body["data"]["event"], "complete");
    assert_eq!(docs[6].body["data"]["lines"][0]["short"], "0");
    assert_eq!(docs[7].body["data"]["lines"][0]["counted"], "60");
    running.stop().await;
}

#[tokio::test]
async fn a_retried_request_is_applied_once() {
    let (running, crm, api, _dir) = start(standard_feed(), "").await;
    let body = json!({"id": "7f1c0b6e-retry", "lines": [{"code": MILK, "qty": "10"}]});
    let (s1, first) = api.post("/api/v1/wms/receipts", body.clone()).await;
    let (s2, second) = api.post("/api/v1/wms/receipts", body.clone()).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first, second, "the retry gets the first answer");
    assert_eq!(qty_in(&api, "RECEIVING", "I-1001").await, "10");

    let put = json!({"id": "put-retry", "code": MILK, "qty": "4", "cell": "A-02-01-1"});
    for _ in 0..3 {
        let (status, body) = api.post("/api/v1/wms/putaway", put.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(qty_in(&api, "A-02-01-1", "I-1001").await, "4");
    assert_eq!(qty_in(&api, "RECEIVING", "I-1001").await, "6");

    // The same id for another request is a client bug: refused, nothing changes.
    let (status, reused) = api
        .post(
            "/api/v1/wms/putaway",
            json!({"id": "put-retry", "code": MILK, "qty": "5", "cell": "A-02-01-1"}),
        )
        .await;
    assert_eq!((status, reused["error"]["code"].as_str()), (409, Some("id_reused")));
    assert_eq!(qty_in(&api, "A-02-01-1", "I-1001").await, "4");

    // A count retried does not apply twice either.
    let count = json!({"id": "count-retry", "cell": "A-01-02-3", "lines": [{"code": MILK, "qty": "40"}]});
    let (_, a) = api.post("/api/v1/wms/counts", count.clone()).await;
    let (_, b) = api.post("/api/v1/wms/counts", count).await;
    assert_eq!(a, b);
    // Every document these calls produced was durable before its answer; once the outbox is
    // empty they have all reached the CRM, so what it holds now is all there will be.
    let admin = Api::new(&api.base, ADMIN);
    eventually("the outbox delivered", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["outbox"]["waiting"] == 0).then_some(())
    })
    .await;
    let docs: Vec<_> = crm
        .stored()
        .into_iter()
        .filter(|d| d.body["kind"].as_str().unwrap().starts_with("wms_"))
        .collect();
    assert_eq!(docs.len(), 3, "one receipt, one putaway, one count");
    assert_eq!(crm.stored_of("wms_putaway").len(), 1);
    running.stop().await;
}

#[tokio::test]
async fn parallel_picks_of_the_last_units_exactly_one_succeeds() {
    let mut feed = standard_feed();
    feed.push(cell("C-01-01-1", "C", None, None));
    feed.push(stock("I-1009", "C-01-01-1", "10"));
    for n in 0..8 {
        feed.push(pick_order(&format!("ZK-{n}"), &format!("ЗК-{n}"), &[("I-1009", "10")]));
    }
    let (running, _crm, api, _dir) = start(feed, "").await;
    // Eight storekeepers, eight orders, one cell holding the last 10.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                &format!("/api/v1/wms/picks/ZK-{n}/scan"),
                json!({"id": format!("race-{n}"), "cell": "C-01-01-1", "code": COFFEE, "qty": "10"}),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            409 => assert_eq!(body["error"]["code"], "not_in_cell", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one pick of the last 10 succeeds");
    let (_, cell) = api.get("/api/v1/wms/cells/C-01-01-1").await;
    assert_eq!(cell["stock"], json!([]));

    // The same race on one order line from two handhelds: no over-pick either.
    let mut tasks = Vec::new();
    for n in 0..6 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                "/api/v1/wms/picks/ZK-1012/scan",
                json!({"id": format!("line-race-{n}"), "cell": "A-01-02-3", "code": MILK, "qty": "12"}),
            )
            .await
            .0
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(qty_in(&api, "A-01-02-3", "I-1001").await, "36");
    running.stop().await;
}

#[tokio::test]
async fn capacity_and_zone_rules() {
    let mut feed = standard_feed();
    feed.push(item("I-3003", "Гиря 16 кг", "4600000000022", json!({"weight": "16", "zone": "A"})));
    let (running, _crm, api, _dir) = start(feed, "[wms]\nreceiving_cell = \"ПРИЁМКА\"\n").await;
    let (status, r) = api
        .post(
            "/api/v1/wms/receipts",
            json!({"id": "r1", "lines": [
            {"code": "4600000000022", "qty": "40"}, {"code": CHEESE, "qty": "5"}, {"code": COFFEE, "qty": "500"}]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["cell"], "ПРИЁМКА");

    // 4 weights of 16 kg = 64 kg in a 60 kg cell: refused, nothing moves.
    let (status, over) = api
        .post(
            "/api/v1/wms/putaway",
            json!({"id": "p1", "code": "4600000000022", "qty": "4", "cell": "A-01-01-1"}),
        )
        .await;
    assert_eq!((status, over["error"]["code"].as_str()), (422, Some("over_capacity")), "{over}");
    assert_eq!(qty_in(&api, "ПРИЁМКА", "I-3003").await, "40");
    let (status, _) = api
        .post(
            "/api/v1/wms/putaway",
            json!({"id": "p2", "code": "4600000000022", "qty": "3", "cell": "A-01-01-1"}),
        )
        .await;
    assert_eq!(status, 200);

    // Cheese belongs in zone B.
    let (status, zone) = api
        .post(
            "/api/v1/wms/putaway",
            json!({"id": "p3", "code": CHEESE, "qty": "1", "cell": "A-02-01-1"}),
        )
        .await;
    assert_eq!((status, zone["error"]["code"].as_str()), (422, Some("wrong_zone")), "{zone}");
    let (_, s) = api.get(&format!("/api/v1/wms/putaway/suggest?code={CHEESE}&qty=5")).await;
    assert_eq!(s["cell"], "CELL-B-01-01-1", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("empty cell in zone B"), "{s}");

    // 40 weights = 640 kg: no cell of zone A can take them.
    let (status, none) = api.get("/api/v1/wms/putaway/suggest?code=4600000000022&qty=40").await;
    assert_eq!((status, none["error"]["code"].as_str()), (422, Some("no_room")), "{none}");
    // 10 fit in an empty 500 kg cell, never the 60 kg one that holds 48 kg already.
    let (_, s) = api.get("/api/v1/wms/putaway/suggest?code=4600000000022&qty=10").await;
    assert_eq!(s["cell"], "CELL-A-02-01-1", "{s}");

    // Coffee has no weight in the catalog: the reason says how capacity was judged.
    let (_, s) = api.get(&format!("/api/v1/wms/putaway/suggest?code={COFFEE}&qty=500")).await;
    assert!(s["reason"].as_str().unwrap().contains("without the item's weight"), "{s}");
    running.stop().await;
}

#[tokio::test]
async fn bad_input_and_roles_are_refused_cleanly() {
    let (running, _crm, api, _dir) = start(standard_feed(), "").await;
    let cashier = Api::new(&api.base, CASHIER);
    let (status, body) = cashier.get("/api/v1/wms/cells/A-01-02-3").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let anonymous = Api::new(&api.base, "nobody-token");
    assert_eq!(anonymous.get("/api/v1/wms/picks").await.0, 401);

    let cases = [
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": MILK, "qty": "1.5", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "invalid_qty",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": MILK, "qty": "-1", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "invalid_qty",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": MILK, "qty": "1", "from": "A-01-02-3", "to": "A-01-02-3"}),
            "same_cell",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": MILK, "qty": "100", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "insufficient_stock",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": "4601234567890", "qty": "1", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "invalid_barcode",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": CELL_A1_BARCODE, "qty": "1", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "not_an_item",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "", "code": MILK, "qty": "1", "from": "A-01-02-3", "to": "A-02-01-1"}),
            "bad_request",
        ),
        (
            "/api/v1/wms/moves",
            json!({"id": "m", "code": MILK, "qty": 0.5, "from": "A-01-02-3", "to": "A-02-01-1"}),
            "bad_request",
        ),
        (
            "/api/v1/wms/receipts",
            json!({"id": "r", "expected": "PO-999", "lines": [{"code": MILK, "qty": "1"}]}),
            "unknown_expected",
        ),
        ("/api/v1/wms/receipts", json!({"id": "r", "lines": []}), "bad_request"),
        (
            "/api/v1/wms/picks/ZK-404/scan",
            json!({"id": "s", "cell": "A-01-02-3", "code": MILK, "qty": "1"}),
            "unknown_order",
        ),
    ];
    for (path, body, code) in cases {
        let (status, answer) = api.post(path, body.clone()).await;
        assert!((400..500).contains(&status), "{body} → {status} {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(qty_in(&api, "A-01-02-3", "I-1001").await, "48", "nothing changed");
    running.stop().await;
}
