//! What 1C's «Обмен с сайтом» needs kept: which closed sales and returns 1C has acknowledged
//! (both by their UUIDv7, so one pair of tables serves both), which ones the last
//! `type=sale&mode=query` handed out, the exchange's directory between exchanges, and
//! catalog changes applied without touching the CRM feed's cursor.
//!
//! The acknowledgement is two-step, as 1C's dialogue is: `query` records the handed-out set
//! (replacing the previous one) and marks nothing; `success` moves exactly that set to "sent"
//! in one power-loss-durable commit. A lost `success` leaves the set unmarked, so the next
//! `query` hands the same sales out again (1C recognises them by `Ид`).

use super::catalog::{FeedApplied, apply_page, prepare};
use super::engine::Durability;
use super::tables::{ITEMS, ONEC_HANDED, ONEC_SENT, ONEC_STATE, RECEIPTS, RETURNS};
use super::{Store, StoreError, count_churn, decode};
use crate::domain::feed::Change;
use crate::domain::receipt::ClosedReceipt;
use crate::domain::returns::ClosedReturn;
use redb::ReadableTable;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The rows of `table` (keyed by UUIDv7, so oldest first) whose id is not in `sent`.
fn unsent<T: serde::de::DeserializeOwned>(
    table: &redb::ReadOnlyTable<u128, &[u8]>,
    sent: &redb::ReadOnlyTable<u128, ()>,
    name: &'static str,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        if out.len() >= limit {
            break;
        }
        let (key, value) = entry?;
        let id = key.value();
        if sent.get(id)?.is_none() {
            out.push(decode(name, Uuid::from_u128(id), value.value())?);
        }
    }
    Ok(out)
}

impl Store {
    /// Closed receipts 1C has not acknowledged, oldest first, at most `limit`.
    pub fn onec_unsent_sales(&self, limit: usize) -> Result<Vec<ClosedReceipt>, StoreError> {
        let tx = self.read()?;
        let receipts = tx.open_table(RECEIPTS)?;
        let sent = tx.open_table(ONEC_SENT)?;
        unsent(&receipts, &sent, "receipts", limit)
    }

    /// Returns 1C has not acknowledged, oldest first, at most `limit`.
    pub fn onec_unsent_returns(&self, limit: usize) -> Result<Vec<ClosedReturn>, StoreError> {
        let tx = self.read()?;
        let returns = tx.open_table(RETURNS)?;
        let sent = tx.open_table(ONEC_SENT)?;
        unsent(&returns, &sent, "returns", limit)
    }

    /// Record what a `query` handed out (replacing what the previous one did), durably.
    /// Nothing is marked sent here.
    pub async fn onec_handed_out(&self, receipts: Vec<Uuid>) -> Result<(), StoreError> {
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut handed = tx.open_table(ONEC_HANDED)?;
                handed.retain(|_, _| false)?;
                for id in &receipts {
                    handed.insert(id.as_u128(), ())?;
                }
                Ok(Ok::<_, StoreError>(()))
            })
            .await
    }

    /// What the last `query` handed out and 1C has not acknowledged yet.
    pub fn onec_handed(&self) -> Result<Vec<Uuid>, StoreError> {
        let tx = self.read()?;
        let handed = tx.open_table(ONEC_HANDED)?;
        handed.iter()?.map(|e| Ok(Uuid::from_u128(e?.0.value()))).collect()
    }

    /// 1C acknowledged the last `query`: mark exactly what it handed out as sent, durably
    /// (power-loss) before returning. Returns how many sales were marked.
    pub async fn onec_acknowledge(&self) -> Result<usize, StoreError> {
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut handed = tx.open_table(ONEC_HANDED)?;
                let mut sent = tx.open_table(ONEC_SENT)?;
                let mut ids = Vec::new();
                for entry in handed.iter()? {
                    ids.push(entry?.0.value());
                }
                for id in &ids {
                    sent.insert(*id, ())?;
                }
                handed.retain(|_, _| false)?;
                Ok(Ok::<_, StoreError>(ids.len()))
            })
            .await
    }

    /// A value the 1C exchange keeps between exchanges.
    pub fn onec_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(ONEC_STATE)?;
        let row = table.get(name)?;
        Ok(row.map(|v| v.value().to_vec()))
    }

    /// Keep a value for the next exchanges (lazily durable: losing it costs a re-read of 1C's
    /// classifier, which every full exchange sends).
    pub async fn set_onec_state(&self, name: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let name = name.to_string();
        self.inner
            .engine
            .write(Durability::Lazy, move |tx| {
                tx.open_table(ONEC_STATE)?.insert(name.as_str(), value.as_slice())?;
                Ok(Ok::<_, StoreError>(()))
            })
            .await
    }

    /// Apply catalog changes that came from 1C, in one transaction, without moving the CRM
    /// feed's cursor. Lazy: call [`Store::sync`] when the import is done.
    pub fn submit_onec_changes(&self, changes: Vec<Change>) -> impl Future<Output = Result<FeedApplied, StoreError>> + Send + 'static {
        let country = self.phone_country();
        let now = jiff::Timestamp::now();
        let rows = prepare(changes, country);
        let written = self.inner.engine.submit(Durability::Lazy, move |tx| {
            let applied = apply_page(tx, &rows, country, now)?;
            count_churn(tx, applied.upserted + applied.deleted)?;
            Ok(Ok::<_, StoreError>((applied, rows)))
        });
        // The rows are freed here, not on the writer (see `Store::submit_feed_page`).
        async move { written.await.map(|(applied, _rows)| applied) }
    }

    /// The ids of every item in the catalog that neither is in `keep` nor is a characteristic
    /// (`товар#характеристика`) of a product in `keep`: what a full unload from 1C left out.
    pub fn onec_items_missing_from(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, StoreError> {
        let tx = self.read()?;
        let items = tx.open_table(ITEMS)?;
        let mut missing = Vec::new();
        for entry in items.iter()? {
            let (key, _) = entry?;
            let id = key.value();
            let product = id.split_once('#').map_or(id, |(product, _)| product);
            if !keep.contains(id) && !keep.contains(product) {
                missing.push(id.to_string());
            }
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn acknowledge_marks_exactly_what_was_handed_out() {
        let (store, _dir) = temp_store();
        let a = uuid::Uuid::from_u128(1);
        assert!(store.onec_handed().unwrap().is_empty());
        store.onec_handed_out(vec![a]).await.unwrap();
        assert_eq!(store.onec_handed().unwrap(), vec![a]);
        // A second query replaces the set.
        store.onec_handed_out(vec![]).await.unwrap();
        assert_eq!(store.onec_acknowledge().await.unwrap(), 0);
        store.onec_handed_out(vec![a]).await.unwrap();
        assert_eq!(store.onec_acknowledge().await.unwrap(), 1);
        assert!(store.onec_handed().unwrap().is_empty());
        assert_eq!(store.onec_acknowledge().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn state_survives_reopen() {
        let (store, dir) = temp_store();
        store.set_onec_state("directory", b"{}".to_vec()).await.unwrap();
        store.sync().await.unwrap();
        drop(store);
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.onec_state("directory").unwrap(), Some(b"{}".to_vec()));
        assert_eq!(store.onec_state("other").unwrap(), None);
    }
}
