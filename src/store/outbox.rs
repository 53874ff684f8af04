//! The outbox: documents waiting for the CRM, in `seq` order, and the parked ones it refused.

use super::{Store, StoreError, abort, decode, encode, meta_key, read_u64};
use crate::domain::document::{Document, NewDocument};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

/// A document the CRM rejected with a 4xx: kept for the admin, not retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub document: Document,
    pub reason: String,
    pub parked_at: jiff::Timestamp,
}

/// Number documents and append them to the outbox inside a caller's transaction. `seq` grows
/// by one per document with no gaps: it is read and advanced in the same transaction that
/// writes the documents, so concurrent lanes cannot take the same number or skip one.
pub(super) fn append(
    meta: &TransactionalTree,
    outbox: &TransactionalTree,
    documents: &[NewDocument],
) -> ConflictableTransactionResult<Vec<u64>, StoreError> {
    if documents.is_empty() {
        return Ok(Vec::new());
    }
    let mut seq = meta.get(meta_key::OUTBOX_SEQ)?.map(|v| read_u64(&v)).unwrap_or(0);
    let mut seqs = Vec::with_capacity(documents.len());
    for doc in documents {
        seq += 1;
        let numbered = Document { seq, doc: doc.clone() };
        outbox.insert(&seq.to_be_bytes(), encode(&numbered))?;
        seqs.push(seq);
    }
    meta.insert(meta_key::OUTBOX_SEQ, &seq.to_be_bytes())?;
    Ok(seqs)
}

impl Store {
    /// Append documents that are not tied to other state (e.g. a lead typed by an operator),
    /// then flush. Returns their sequence numbers.
    pub async fn append_documents(&self, documents: &[NewDocument]) -> Result<Vec<u64>, StoreError> {
        let t = &self.trees;
        let seqs = [&t.meta, &t.outbox]
            .as_slice()
            .transaction(|tx| append(&tx[0], &tx[1], documents))?;
        self.flush().await?;
        Store::signal(&self.outbox_changed);
        Ok(seqs)
    }

    /// The oldest document not yet delivered.
    pub fn outbox_front(&self) -> Result<Option<Document>, StoreError> {
        self.trees.outbox.first()?.map(|(k, v)| decode("outbox", &k, &v)).transpose()
    }

    /// Documents waiting for the CRM.
    pub fn outbox_len(&self) -> usize {
        self.trees.outbox.len()
    }

    /// The waiting documents, oldest first, at most `limit`.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<Document>, StoreError> {
        self.trees
            .outbox
            .iter()
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                decode("outbox", &k, &v)
            })
            .collect()
    }

    /// Highest sequence number the CRM confirmed.
    pub fn delivered_seq(&self) -> Result<u64, StoreError> {
        Ok(self.trees.meta.get(meta_key::DELIVERED_SEQ)?.map(|v| read_u64(&v)).unwrap_or(0))
    }

    /// The CRM stored the document (or already had it): drop it from the outbox, durably.
    pub async fn outbox_delivered(&self, seq: u64) -> Result<(), StoreError> {
        let t = &self.trees;
        [&t.meta, &t.outbox].as_slice().transaction(|tx| {
            tx[1].remove(&seq.to_be_bytes())?;
            tx[0].insert(meta_key::DELIVERED_SEQ, &seq.to_be_bytes())?;
            Ok(())
        })?;
        self.flush().await
    }

    /// The CRM refused the document for good: move it aside with the reason, durably, so the
    /// documents behind it can go.
    pub async fn outbox_park(&self, seq: u64, reason: &str, now: jiff::Timestamp) -> Result<(), StoreError> {
        let t = &self.trees;
        [&t.outbox, &t.parked].as_slice().transaction(|tx| {
            let key = seq.to_be_bytes();
            let Some(value) = tx[0].remove(&key[..])? else {
                return Ok(());
            };
            let document: Document = decode("outbox", &key, &value).map_err(abort)?;
            let parked = Parked {
                document,
                reason: reason.to_string(),
                parked_at: now,
            };
            tx[1].insert(&key, encode(&parked))?;
            Ok(())
        })?;
        self.flush().await
    }

    /// Documents the CRM refused, oldest first.
    pub fn parked(&self) -> Result<Vec<Parked>, StoreError> {
        self.trees
            .parked
            .iter()
            .map(|r| {
                let (k, v) = r?;
                decode("outbox_parked", &k, &v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::document::{DocumentKind, NewDocument};
    use crate::store::test_support::temp_store;
    use uuid::Uuid;

    fn doc(n: u128) -> NewDocument {
        NewDocument::new(
            Uuid::from_u128(n),
            DocumentKind::Lead,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"n": n as u64}),
        )
    }

    #[tokio::test]
    async fn seq_has_no_gaps_and_survives_reopen() {
        let (store, dir) = temp_store();
        assert_eq!(store.append_documents(&[doc(1), doc(2)]).await.unwrap(), vec![1, 2]);
        store.outbox_delivered(1).await.unwrap();
        store
            .outbox_park(2, "422: no such client", jiff::Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        drop(store);
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.append_documents(&[doc(3)]).await.unwrap(), vec![3]);
        assert_eq!(store.outbox_front().unwrap().unwrap().seq, 3);
        assert_eq!(store.delivered_seq().unwrap(), 1);
        let parked = store.parked().unwrap();
        assert_eq!(parked[0].document.seq, 2);
        assert_eq!(parked[0].reason, "422: no such client");
    }

    #[tokio::test]
    async fn concurrent_appends_take_distinct_consecutive_numbers() {
        let (store, _dir) = temp_store();
        let mut tasks = Vec::new();
        for i in 0..8u128 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.append_documents(&[doc(i * 2), doc(i * 2 + 1)]).await.unwrap()
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            let seqs = t.await.unwrap();
            assert_eq!(seqs[1], seqs[0] + 1, "one commit's documents are consecutive");
            all.extend(seqs);
        }
        all.sort();
        assert_eq!(all, (1..=16).collect::<Vec<u64>>());
    }
}
