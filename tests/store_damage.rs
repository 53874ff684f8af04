//! A damaged store is never opened silently: cut, halved, flipped, emptied or lost, the store
//! refuses to open with [`StoreError::Damaged`] and says what to do, and an intact store with
//! the same history opens with every acknowledged document in it.

mod common;

use common::{ADMIN, Api, config_text, parse_config};
use std::path::Path;
use storeterm::domain::document::{DocumentKind, NewDocument};
use storeterm::store::{DB_FILE, Store, StoreError};
use uuid::Uuid;

/// A store with 200 acknowledged documents, closed cleanly.
async fn store_with_history(dir: &Path) {
    let store = Store::open(dir).expect("open");
    for n in 0..200u128 {
        let doc = NewDocument::new(
            Uuid::from_u128(n + 1),
            DocumentKind::Sale,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"n": n as u64, "padding": "x".repeat(400)}),
        );
        store.append_documents(&[doc]).await.expect("append");
    }
    store.close();
}

fn damage(dir: &Path, how: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&path).expect("read");
    how(&mut bytes);
    std::fs::write(&path, bytes).expect("write");
}

fn assert_refused(dir: &Path, what: &str) {
    match Store::open(dir) {
        Err(e @ StoreError::Damaged { .. }) => {
            let text = e.to_string();
            assert!(text.contains("восстановите"), "{what}: the error says what to do: {text}");
        }
        Err(other) => panic!("{what}: expected Damaged, got {other}"),
        Ok(store) => {
            let left = store.outbox_len().unwrap_or(0);
            panic!("{what}: a damaged store opened silently with {left} of 200 documents");
        }
    }
}

#[tokio::test]
async fn an_intact_store_keeps_every_document() {
    let dir = tempfile::tempdir().unwrap();
    store_with_history(dir.path()).await;
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 200);
    assert_eq!(store.last_seq().unwrap(), 200);
}

#[tokio::test]
async fn a_cut_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    store_with_history(dir.path()).await;
    damage(dir.path(), |b| b.truncate(b.len() - 4096));
    assert_refused(dir.path(), "4 KiB cut off the end");
}

#[tokio::test]
async fn a_halved_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    store_with_history(dir.path()).await;
    damage(dir.path(), |b| b.truncate(b.len() / 2));
    assert_refused(dir.path(), "half the file");
}

#[tokio::test]
async fn flipped_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    store_with_history(dir.path()).await;
    damage(dir.path(), |b| {
        let mut rng = fastrand::Rng::with_seed(7);
        let used = b.len();
        for _ in 0..10 {
            let at = rng.usize(4096..used);
            b[at] ^= 0x5a;
        }
    });
    assert_refused(dir.path(), "10 flipped bytes");
}

#[tokio::test]
async fn an_empty_or_missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    store_with_history(dir.path()).await;
    damage(dir.path(), |b| b.clear());
    assert_refused(dir.path(), "a zero-length file");
    std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
    assert_refused(dir.path(), "a missing file next to its identity");
}

#[tokio::test]
async fn the_daemon_on_a_damaged_store_refuses_to_trade_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    store_with_history(&data).await;
    damage(&data, |b| b.truncate(b.len() / 2));
    let config = parse_config(&config_text("127.0.0.1:0", &data, "[[lanes]]\nid = \"1\"", ""));
    let running = storeterm::daemon::start(config)
        .await
        .expect("the daemon comes up to say what is wrong");
    let api = Api::new(format!("http://{}", running.addr), ADMIN);
    let (status, health) = api.get("/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["store"]["state"], "damaged");
    assert!(health["store"]["reason"].as_str().unwrap().contains("восстановите"), "{health}");
    let (status, body) = api.scan("1", "4601234567893").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_damaged");
    let (status, body) = api.get("/api/v1/admin/status").await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_damaged")));
    running.stop().await;
}
