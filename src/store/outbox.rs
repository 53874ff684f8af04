//! The outbox: documents waiting for the CRM, in `seq` order, and the parked ones it refused.

use super::engine::Durability;
use super::redo::Txn;
use super::tables::{self, DROPPED, META, OUTBOX, PARKED, meta_key};
use super::{Store, StoreError, decode, encode};
use crate::domain::document::{Document, NewDocument};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

/// A document the CRM rejected with a 4xx: kept for the admin, not retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub document: Document,
    pub reason: String,
    pub parked_at: jiff::Timestamp,
}

/// A parked document an admin dropped: it will never be sent; why, who and when are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub parked: Parked,
    /// The admin's written reason.
    pub reason: String,
    /// Who dropped it (the admin token's name).
    pub by: String,
    pub dropped_at: jiff::Timestamp,
}

/// May this transaction number documents? A new or restored store waits for the CRM's last
/// `seq` first (see `numbering`), so that no number the CRM already holds is given again.
/// Call before writing anything: a refusal must leave no trace in the batch.
pub(super) fn may_number(tx: &Txn<'_>) -> Result<Result<(), StoreError>, StoreError> {
    let meta = tx.open_table(META)?;
    Ok(match meta.get(meta_key::SEQ_BASE_PENDING)? {
        Some(_) => Err(StoreError::AwaitingSeqBase),
        None => Ok(()),
    })
}

/// A document encoded before it has a number, so the heavy part of its encoding (the data)
/// is done by the caller's thread, not inside the writer's batch.
pub(super) struct Prepared(Vec<u8>);

/// Encode documents for [`append`], outside the writer.
pub(super) fn prepare(documents: &[NewDocument]) -> Vec<Prepared> {
    // A `Document` is `{"seq": n, ...the document's own fields}` (`seq` then the flattened
    // `NewDocument`), so the number can be put in front of the encoded fields later.
    documents.iter().map(|doc| Prepared(encode(doc))).collect()
}

/// The row of document `seq`: what `encode(&Document { seq, doc })` gives.
fn numbered_row(seq: u64, prepared: &Prepared) -> Vec<u8> {
    // `prepared` is FORMAT_V1 ‖ `{` ‖ fields ‖ `}`; a document always has fields (its id).
    let fields = prepared.0.get(2..).unwrap_or_default();
    let mut row = Vec::with_capacity(prepared.0.len() + 24);
    row.push(prepared.0[0]);
    row.extend_from_slice(format!("{{\"seq\":{seq},").as_bytes());
    row.extend_from_slice(fields);
    row
}

/// Number documents and append them to the outbox inside a caller's transaction (after
/// [`may_number`] allowed it). `seq` grows by one per document with no gaps: the one writer
/// reads and advances it in the transaction that writes the documents.
pub(super) fn append(tx: &Txn<'_>, documents: &[Prepared]) -> Result<Vec<u64>, StoreError> {
    if documents.is_empty() {
        return Ok(Vec::new());
    }
    let mut meta = tx.open_table(META)?;
    let mut outbox = tx.open_table(OUTBOX)?;
    let mut seq = tables::meta_u64(&meta, meta_key::OUTBOX_SEQ)?;
    let mut seqs = Vec::with_capacity(documents.len());
    for doc in documents {
        seq += 1;
        outbox.insert(seq, numbered_row(seq, doc).as_slice())?;
        seqs.push(seq);
    }
    meta.insert(meta_key::OUTBOX_SEQ, seq.to_be_bytes().as_slice())?;
    Ok(seqs)
}

impl Store {
    /// Append documents that are not tied to other state (e.g. a lead typed by an operator),
    /// durably. Returns their sequence numbers.
    pub async fn append_documents(&self, documents: &[NewDocument]) -> Result<Vec<u64>, StoreError> {
        let documents = prepare(documents);
        let seqs = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                if let Err(refused) = may_number(tx)? {
                    return Ok(Err(refused));
                }
                Ok(Ok(append(tx, &documents)?))
            })
            .await?;
        Store::signal(&self.inner.outbox_changed);
        Ok(seqs)
    }

    /// The oldest document not yet delivered.
    pub fn outbox_front(&self) -> Result<Option<Document>, StoreError> {
        let tx = self.read()?;
        let outbox = tx.open_table(OUTBOX)?;
        let first = outbox.first()?;
        first.map(|(k, v)| decode("outbox", k.value(), v.value())).transpose()
    }

    /// Documents waiting for the CRM.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        self.table_len(OUTBOX)
    }

    /// The waiting documents, oldest first, at most `limit`.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<Document>, StoreError> {
        let tx = self.read()?;
        let outbox = tx.open_table(OUTBOX)?;
        outbox
            .iter()?
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                decode("outbox", k.value(), v.value())
            })
            .collect()
    }

    /// Highest sequence number the CRM confirmed.
    pub fn delivered_seq(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(meta_key::DELIVERED_SEQ)?.unwrap_or(0))
    }

    /// The last sequence number given to a document.
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(meta_key::OUTBOX_SEQ)?.unwrap_or(0))
    }

    /// The CRM stored the document (or already had it): drop it from the outbox, durably.
    pub async fn outbox_delivered(&self, seq: u64) -> Result<(), StoreError> {
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let removed = tx.open_table(OUTBOX)?.remove(seq)?.map(|v| v.value().to_vec());
                // A delivered sale's points and credit are now the CRM's to count.
                if let Some(row) = removed {
                    if let Ok(document) = decode::<Document>("outbox", seq, &row) {
                        if document.doc.kind == crate::domain::document::DocumentKind::Sale {
                            super::ledger::sale_delivered(tx, &document.doc.data)?;
                        }
                    }
                }
                let mut meta = tx.open_table(META)?;
                let delivered = tables::meta_u64(&meta, meta_key::DELIVERED_SEQ)?.max(seq);
                meta.insert(meta_key::DELIVERED_SEQ, delivered.to_be_bytes().as_slice())?;
                Ok(Ok::<_, StoreError>(()))
            })
            .await
    }

    /// The CRM refused the document for good: move it aside with the reason, durably, so the
    /// documents behind it can go.
    pub async fn outbox_park(&self, seq: u64, reason: &str, now: jiff::Timestamp) -> Result<(), StoreError> {
        let reason = reason.to_string();
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut outbox = tx.open_table(OUTBOX)?;
                let Some(value) = outbox.remove(seq)? else {
                    return Ok(Ok(()));
                };
                let document: Document = match decode("outbox", seq, value.value()) {
                    Ok(d) => d,
                    Err(e) => return Ok(Err(e)),
                };
                drop(value);
                let parked = Parked {
                    document,
                    reason,
                    parked_at: now,
                };
                tx.open_table(PARKED)?.insert(seq, encode(&parked).as_slice())?;
                Ok(Ok(()))
            })
            .await
    }

    /// Documents the CRM refused, oldest first.
    pub fn parked(&self) -> Result<Vec<Parked>, StoreError> {
        let tx = self.read()?;
        let parked = tx.open_table(PARKED)?;
        parked
            .iter()?
            .map(|r| {
                let (k, v) = r?;
                decode("outbox_parked", k.value(), v.value())
            })
            .collect()
    }

    /// Send a parked document again (the CRM side was fixed): it goes back to the outbox under
    /// its own `seq` and id, so it leaves next and the CRM can recognise it. Durable.
    /// `false` when no parked document has that `seq`.
    pub async fn parked_resend(&self, seq: u64) -> Result<bool, StoreError> {
        let found = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let record = match take_parked(tx, seq)? {
                    Ok(Some(record)) => record,
                    Ok(None) => return Ok(Ok(false)),
                    Err(e) => return Ok(Err(e)),
                };
                tx.open_table(OUTBOX)?.insert(seq, encode(&record.document).as_slice())?;
                Ok(Ok(true))
            })
            .await?;
        if found {
            Store::signal(&self.inner.outbox_changed);
        }
        Ok(found)
    }

    /// Give up on a parked document, keeping it with the admin's reason. Durable. `false` when
    /// no parked document has that `seq`.
    pub async fn parked_drop(&self, seq: u64, reason: &str, by: &str, now: jiff::Timestamp) -> Result<bool, StoreError> {
        let (reason, by) = (reason.to_string(), by.to_string());
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let record = match take_parked(tx, seq)? {
                    Ok(Some(record)) => record,
                    Ok(None) => return Ok(Ok(false)),
                    Err(e) => return Ok(Err(e)),
                };
                let dropped = Dropped {
                    parked: record,
                    reason,
                    by,
                    dropped_at: now,
                };
                tx.open_table(DROPPED)?.insert(seq, encode(&dropped).as_slice())?;
                Ok(Ok(true))
            })
            .await
    }

    /// Documents an admin dropped, newest first, at most `limit`.
    pub fn dropped(&self, limit: usize) -> Result<Vec<Dropped>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(DROPPED)?;
        table
            .iter()?
            .rev()
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                decode("outbox_dropped", k.value(), v.value())
            })
            .collect()
    }

    /// How many documents the CRM refused.
    pub fn parked_len(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(PARKED)?.len()?)
    }
}

/// Take the parked document `seq` out of the parked table. The outer error aborts the batch;
/// the inner one is a record that cannot be read: answered to the admin, and left in place.
fn take_parked(tx: &Txn<'_>, seq: u64) -> Result<Result<Option<Parked>, StoreError>, StoreError> {
    let mut parked = tx.open_table(PARKED)?;
    let record = match parked.get(seq)? {
        None => return Ok(Ok(None)),
        Some(value) => decode::<Parked>("outbox_parked", seq, value.value()),
    };
    if record.is_ok() {
        parked.remove(seq)?;
    }
    Ok(record.map(Some))
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

    #[test]
    fn a_prepared_document_numbered_is_the_numbered_document_encoded() {
        let mut document = doc(7);
        document.data = serde_json::json!({"lines": [{"name": "Молоко \"Деревенское\"", "qty": "1.250"}], "total": "89.90"});
        for seq in [1, 42, u64::MAX] {
            let row = super::numbered_row(seq, &super::prepare(std::slice::from_ref(&document)).remove(0));
            let numbered = crate::domain::document::Document {
                seq,
                doc: document.clone(),
            };
            assert_eq!(row, crate::store::encode(&numbered));
        }
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
        assert_eq!(store.outbox_len().unwrap(), 1);
        let parked = store.parked().unwrap();
        assert_eq!(parked[0].document.seq, 2);
        assert_eq!(parked[0].reason, "422: no such client");
    }

    #[tokio::test]
    async fn a_parked_document_is_resent_under_its_seq_or_dropped_with_the_reason() {
        let (store, dir) = temp_store();
        store.append_documents(&[doc(1), doc(2), doc(3)]).await.unwrap();
        let now = jiff::Timestamp::UNIX_EPOCH;
        store.outbox_park(1, "422: no such client", now).await.unwrap();
        store.outbox_park(2, "422: bad line", now).await.unwrap();
        assert!(store.parked_resend(1).await.unwrap());
        assert!(!store.parked_resend(1).await.unwrap(), "not parked any more");
        assert_eq!(store.outbox_front().unwrap().unwrap().seq, 1, "it leaves next");
        assert_eq!(store.outbox_front().unwrap().unwrap().doc.id, Uuid::from_u128(1));
        assert!(store.parked_drop(2, "a test sale, not a real one", "Админ", now).await.unwrap());
        assert!(!store.parked_drop(2, "again", "Админ", now).await.unwrap());
        assert_eq!(store.parked_len().unwrap(), 0);
        drop(store);
        let store = crate::store::Store::open(dir.path()).unwrap();
        let dropped = store.dropped(10).unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(
            (dropped[0].reason.as_str(), dropped[0].by.as_str()),
            ("a test sale, not a real one", "Админ")
        );
        assert_eq!(dropped[0].parked.reason, "422: bad line");
        assert_eq!(store.outbox_len().unwrap(), 2);
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
