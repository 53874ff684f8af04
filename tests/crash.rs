//! `kill -9` at arbitrary moments: the real `storeterm` binary is killed again and again while
//! a cashier sells and while the CRM is still answering. Afterwards the CRM must hold every
//! acknowledged sale exactly once, with `seq` complete, and an open receipt must still be open.

mod common;

use common::crm::{Mode, TestCrm};
use common::daemon::{free_port, start, try_post};
use common::{Api, GUARD, config_text, eventually};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;

/// Sell until the daemon dies under us; returns the receipts it acknowledged as paid. After
/// each one the CRM's held answers go out and `sold` hears of it.
async fn sell_until_killed(api: &Api, crm: &TestCrm, sold: mpsc::UnboundedSender<()>) -> Vec<String> {
    let mut acknowledged = Vec::new();
    loop {
        // A kill may have left a receipt open (even part-paid); paying 1000 in cash closes
        // whatever is there.
        if try_post(api, "/api/v1/lanes/1/scan", json!({"code": "4601234567893"}))
            .await
            .is_err()
        {
            return acknowledged;
        }
        match try_post(api, "/api/v1/lanes/1/payments", json!({"method": "cash", "amount": "1000"})).await {
            Ok((200, body)) if body["status"] == "closed" => {
                acknowledged.push(body["receipt"]["id"].as_str().unwrap().to_string());
                crm.release_answers();
                let _ = sold.send(());
            }
            Ok(_) => {}
            Err(()) => return acknowledged,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_doubles_nothing() {
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "A-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10",
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]);
    // The CRM stores each document, then holds its answer until the next sale is paid: kills
    // land between the CRM storing a document and storeterm hearing about it.
    crm.set_mode(Mode::HoldAfterStore);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("storeterm.toml");
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\n",
        &crm.config(30),
    );
    std::fs::write(&config, text).unwrap();

    let mut acknowledged = Vec::new();
    for round in 0..8u64 {
        let mut daemon = start(&config, port).await;
        if round == 0 {
            eventually("catalog pulled", Duration::from_secs(10), || async {
                let (_, s) = daemon.admin.get("/api/v1/admin/status").await;
                (s["catalog"]["items"] == 1).then_some(())
            })
            .await;
        }
        // Kill at a different point each round (after one, two or three paid receipts), while
        // the next sale and a delivery are under way.
        let (api, crm2) = (daemon.api.clone(), crm.clone());
        let (sold_tx, mut sold) = mpsc::unbounded_channel();
        let selling = tokio::spawn(async move { sell_until_killed(&api, &crm2, sold_tx).await });
        for _ in 0..=round % 3 {
            tokio::time::timeout(GUARD, sold.recv())
                .await
                .expect("a sale within the guard")
                .expect("still selling");
        }
        daemon.kill9().await;
        acknowledged.extend(selling.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 8,
        "the test should have sold something: {}",
        acknowledged.len()
    );

    // An open receipt survives too.
    let mut daemon = start(&config, port).await;
    let (_, paid) = daemon.api.pay("1", "cash", "1000").await;
    if paid["status"] == "closed" {
        acknowledged.push(paid["receipt"]["id"].as_str().unwrap().to_string());
    }
    let (status, _) = daemon.api.scan("1", "4601234567893").await;
    assert_eq!(status, 200);
    let open = daemon.api.receipt("1").await;
    daemon.kill9().await;

    crm.set_mode(Mode::Normal);
    crm.release_answers();
    let daemon = start(&config, port).await;
    assert_eq!(daemon.api.receipt("1").await, open, "the open receipt is still open after kill -9");
    eventually("the outbox drained", Duration::from_secs(30), || async {
        let (_, s) = daemon.admin.get("/api/v1/admin/status").await;
        (s["outbox"]["waiting"] == 0).then_some(())
    })
    .await;

    let stored = crm.stored();
    let seqs: Vec<u64> = stored.iter().map(|d| d.body["seq"].as_u64().unwrap()).collect();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "no seq twice");
    assert_eq!(unique, (1..=seqs.len() as u64).collect(), "seq without gaps");
    let mut sales: HashMap<String, usize> = HashMap::new();
    for doc in crm.stored_of("sale") {
        *sales.entry(doc.body["data"]["receipt"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for (receipt, count) in &sales {
        assert_eq!(*count, 1, "receipt {receipt} reached the CRM {count} times");
    }
    let distinct: BTreeSet<&String> = acknowledged.iter().collect();
    assert_eq!(distinct.len(), acknowledged.len(), "a receipt was acknowledged as paid twice");
    for receipt in &acknowledged {
        assert!(sales.contains_key(receipt), "acknowledged receipt {receipt} never reached the CRM");
    }
    eprintln!(
        "{} sales acknowledged, {} at the CRM, {} duplicate deliveries answered 409",
        acknowledged.len(),
        sales.len(),
        crm.duplicates()
    );
}
