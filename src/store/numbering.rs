//! Document numbers a new or restored store must not give again.
//!
//! `seq` grows by one per document per site, and the CRM holds every number it received. A
//! store that starts empty — a new box, or one whose store was lost — or that was restored
//! from a backup does not know the numbers given since. Such a store is created with a
//! *pending* mark: it refuses to number documents ([`StoreError::AwaitingSeqBase`]) until the
//! CRM has said which `seq` it holds last (`GET /v1/sites/{site}/documents/last`, protocol
//! v1.1), then:
//! - documents still in the outbox with a `seq` the CRM holds are dropped — the CRM has them
//!   (they left after the backup was taken); they are counted as delivered;
//! - numbering continues after the CRM's last `seq`;
//! - when the CRM holds documents this store does not, shift numbers jump past that `seq`
//!   ([`Store::shift_floor`]): every shift sends a `shift_open` with a `seq` at least its
//!   number, so no shift number the CRM has seen is used again, and receipt numbers (per
//!   shift) cannot repeat either. A shift open in the backup is not continued by the lane.
//!
//! A CRM that does not offer the route (404) leaves the store numbering from its own last
//! `seq`.

use super::engine::Durability;
use super::tables::{self, META, OUTBOX, meta_key};
use super::{Store, StoreError};
use redb::ReadableTable;

/// What the CRM said about the numbers it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBase {
    /// The highest `seq` the CRM stored for this site (0: none).
    Crm { last: u64 },
    /// The CRM does not offer `documents/last`.
    NotOffered,
}

const SHIFT_FLOOR: &str = "shift_floor";

impl Store {
    /// The store waits for the CRM's last `seq` before numbering documents.
    pub fn seq_base_pending(&self) -> Result<bool, StoreError> {
        Ok(self.meta_u64(meta_key::SEQ_BASE_PENDING)?.is_some())
    }

    /// The CRM answered: continue numbering after what it holds. Returns how many outbox
    /// documents were dropped because the CRM already had them.
    pub async fn confirm_seq_base(&self, base: SeqBase) -> Result<u64, StoreError> {
        let dropped = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut meta = tx.open_table(META)?;
                if meta.get(meta_key::SEQ_BASE_PENDING)?.is_none() {
                    return Ok(Ok::<u64, StoreError>(0));
                }
                meta.remove(meta_key::SEQ_BASE_PENDING)?;
                let SeqBase::Crm { last } = base else {
                    return Ok(Ok(0));
                };
                let ours = tables::meta_u64(&meta, meta_key::OUTBOX_SEQ)?;
                let restored_at = tables::meta_u64(&meta, meta_key::RESTORED_AT_SEQ)?;
                let mut outbox = tx.open_table(OUTBOX)?;
                let held: Vec<u64> = outbox
                    .range(..=last)?
                    .map(|r| r.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()?;
                for seq in &held {
                    outbox.remove(*seq)?;
                }
                meta.insert(meta_key::OUTBOX_SEQ, ours.max(last).to_be_bytes().as_slice())?;
                let delivered = tables::meta_u64(&meta, meta_key::DELIVERED_SEQ)?.max(last);
                meta.insert(meta_key::DELIVERED_SEQ, delivered.to_be_bytes().as_slice())?;
                if last > restored_at {
                    meta.insert(SHIFT_FLOOR, last.to_be_bytes().as_slice())?;
                }
                Ok(Ok(held.len() as u64))
            })
            .await?;
        self.load_shift_floor()?;
        Store::signal(&self.inner.outbox_changed);
        Ok(dropped)
    }

    /// Shift numbers at or below this may be held by the CRM already (see the module doc);
    /// 0 when there is no such concern.
    pub fn shift_floor(&self) -> u32 {
        self.inner.shift_floor.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(super) fn load_shift_floor(&self) -> Result<(), StoreError> {
        let floor = self.meta_u64(SHIFT_FLOOR)?.unwrap_or(0);
        let floor = u32::try_from(floor).unwrap_or(u32::MAX);
        self.inner.shift_floor.store(floor, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Mark a store just filled from a backup: it waits for the CRM's last `seq`, and
    /// remembers where its own numbering stood, to tell which documents the CRM got later.
    pub async fn mark_restored(&self) -> Result<(), StoreError> {
        self.inner
            .engine
            .write(Durability::PowerLoss, |tx| {
                let mut meta = tx.open_table(META)?;
                let at = tables::meta_u64(&meta, meta_key::OUTBOX_SEQ)?;
                meta.insert(meta_key::RESTORED_AT_SEQ, at.to_be_bytes().as_slice())?;
                meta.insert(meta_key::SEQ_BASE_PENDING, [1u8].as_slice())?;
                Ok(Ok::<_, StoreError>(()))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{DocumentKind, NewDocument};
    use crate::store::StoreSettings;
    use uuid::Uuid;

    fn doc(n: u128) -> NewDocument {
        NewDocument::new(
            Uuid::from_u128(n),
            DocumentKind::Lead,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        )
    }

    #[tokio::test]
    async fn a_new_store_numbers_after_the_crm_once_it_answered() {
        let dir = tempfile::tempdir().unwrap();
        let settings = StoreSettings {
            numbered_by_crm: true,
            ..StoreSettings::default()
        };
        let store = Store::open_with(dir.path(), &settings).unwrap();
        assert!(store.seq_base_pending().unwrap());
        assert!(matches!(store.append_documents(&[doc(1)]).await, Err(StoreError::AwaitingSeqBase)));
        store.confirm_seq_base(SeqBase::Crm { last: 1042 }).await.unwrap();
        assert_eq!(store.append_documents(&[doc(1)]).await.unwrap(), vec![1043]);
        assert_eq!(store.shift_floor(), 1042);
        // Reopening does not make it pending again.
        drop(store);
        let store = Store::open_with(dir.path(), &settings).unwrap();
        assert!(!store.seq_base_pending().unwrap());
    }

    #[tokio::test]
    async fn a_restored_store_drops_what_the_crm_has_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append_documents(&[doc(1), doc(2), doc(3), doc(4)]).await.unwrap();
        store.mark_restored().await.unwrap();
        assert!(store.seq_base_pending().unwrap());
        // The CRM got 1 and 2 after the backup was taken; 3 and 4 are still ours to send.
        assert_eq!(store.confirm_seq_base(SeqBase::Crm { last: 2 }).await.unwrap(), 2);
        assert_eq!(store.outbox_front().unwrap().unwrap().seq, 3);
        assert_eq!(store.shift_floor(), 0, "the CRM holds nothing newer than the backup");
        assert_eq!(store.append_documents(&[doc(5)]).await.unwrap(), vec![5]);
    }

    #[tokio::test]
    async fn a_crm_without_the_route_leaves_our_own_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append_documents(&[doc(1)]).await.unwrap();
        store.mark_restored().await.unwrap();
        store.confirm_seq_base(SeqBase::NotOffered).await.unwrap();
        assert_eq!(store.append_documents(&[doc(2)]).await.unwrap(), vec![2]);
    }
}
