//! Lanes, their closed receipts and shifts, committed together with the documents and print
//! jobs a lane operation produced.
//!
//! Two durability classes meet here. A lane operation that produced anything for the outside
//! world — a document, a closed receipt, a shift record, a print job — is one fsync'd
//! transaction before the cashier hears "done". An edit of the open receipt alone (a scan, a
//! quantity, a void) goes to the lane's journal, which survives `kill -9` without an fsync
//! (see [`super::journal`]). Every state carries a version, so the newer of the durable row
//! and the journal wins when the lane is loaded.

use super::engine::Durability;
use super::journal::FOLD_AT;
use super::ledger::{self, LedgerChanges, LedgerUpdate};
use super::tables::{LANES, RECEIPTS, SHIFTS};
use super::{Store, StoreError, decode, encode, outbox, print_jobs};
use crate::domain::lane::{Changes, Lane};
use crate::domain::print_job::PrintJob;
use crate::domain::receipt::ClosedReceipt;
use crate::domain::shift::Shift;
use redb::ReadableTable;
use uuid::Uuid;

/// One lane operation's effects, written by [`Store::commit_lane`].
pub struct LaneCommit<'a> {
    /// The lane's state after the operation.
    pub lane: &'a Lane,
    pub changes: &'a Changes,
    /// The printer device to queue a print request for; `None` drops it (no printer).
    pub printer: Option<&'a str>,
    /// Money changed hands (a payment, even one that leaves the receipt open): power-loss
    /// durable, documents or not. A card charged and then forgotten by the till after a power
    /// cut would be charged again.
    pub money: bool,
}

/// A lane row: `version (u64 BE) ‖ encoded Lane`.
fn lane_row(version: u64, lane: &Lane) -> Vec<u8> {
    let mut row = version.to_be_bytes().to_vec();
    row.extend(encode(lane));
    row
}

fn read_lane_row(id: &str, row: &[u8]) -> Result<(u64, Lane), StoreError> {
    let (version, lane) = row.split_at_checked(8).ok_or_else(|| StoreError::Corrupt {
        table: "lanes",
        key: id.to_string(),
        reason: "row shorter than its version".into(),
    })?;
    let version = u64::from_be_bytes(version.try_into().unwrap_or_default());
    Ok((version, decode("lanes", id, lane)?))
}

impl Store {
    /// A lane's last state: its durable row, or the open-receipt edits in its journal when
    /// those are newer (the till was killed mid-receipt).
    pub fn lane(&self, id: &str) -> Result<Option<Lane>, StoreError> {
        let durable = {
            let tx = self.read()?;
            let lanes = tx.open_table(LANES)?;
            let row = lanes.get(id)?;
            row.map(|row| read_lane_row(id, row.value())).transpose()?
        };
        let journal = self
            .inner
            .journals
            .latest(id)
            .map_err(|e| StoreError::Storage(format!("журнал кассы {id}: {e}")))?;
        let (version, lane) = match (durable, journal) {
            (Some((dv, _)), Some((jv, payload))) if jv > dv => (jv, Some(decode("lane journal", id, &payload)?)),
            (None, Some((jv, payload))) => (jv, Some(decode("lane journal", id, &payload)?)),
            (Some((dv, lane)), _) => (dv, Some(lane)),
            (None, None) => (0, None),
        };
        self.lane_versions().insert(id.to_string(), version);
        Ok(lane)
    }

    fn lane_versions(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u64>> {
        self.inner.lane_versions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_lane_version(&self, id: &str) -> u64 {
        let mut versions = self.lane_versions();
        let version = versions.entry(id.to_string()).or_insert(0);
        *version += 1;
        *version
    }

    /// A closed receipt by id.
    pub fn receipt(&self, id: Uuid) -> Result<Option<ClosedReceipt>, StoreError> {
        let tx = self.read()?;
        let receipts = tx.open_table(RECEIPTS)?;
        let row = receipts.get(id.as_u128())?;
        row.map(|v| decode("receipts", id, v.value())).transpose()
    }

    /// The closed receipts of one shift, oldest first (for its X and Z reports). Scans the
    /// receipts from the shift's opening on: ids are UUIDv7, ordered by time.
    pub fn shift_receipts(&self, shift: &Shift) -> Result<Vec<ClosedReceipt>, StoreError> {
        // The smallest UUIDv7 of the opening millisecond (its first 48 bits are the time).
        let ms = shift.opened_at.as_millisecond().max(0) as u128;
        let start = ms << 80;
        let tx = self.read()?;
        let table = tx.open_table(RECEIPTS)?;
        let mut receipts = Vec::new();
        for entry in table.range(start..)? {
            let (key, value) = entry?;
            let receipt: ClosedReceipt = decode("receipts", Uuid::from_u128(key.value()), value.value())?;
            if receipt.receipt.shift_id == shift.id {
                receipts.push(receipt);
            }
        }
        Ok(receipts)
    }

    /// Shift `number` of lane `lane`, from the journal (newest first: it is usually recent).
    pub fn lane_shift(&self, lane: &str, number: u32) -> Result<Option<Shift>, StoreError> {
        let tx = self.read()?;
        let shifts = tx.open_table(SHIFTS)?;
        for entry in shifts.iter()?.rev() {
            let (key, value) = entry?;
            let shift: Shift = decode("shifts", Uuid::from_u128(key.value()), value.value())?;
            if shift.lane == lane && shift.number == number {
                return Ok(Some(shift));
            }
        }
        Ok(None)
    }

    /// A shift from the journal by id.
    pub fn shift(&self, id: Uuid) -> Result<Option<Shift>, StoreError> {
        let tx = self.read()?;
        let shifts = tx.open_table(SHIFTS)?;
        let row = shifts.get(id.as_u128())?;
        row.map(|v| decode("shifts", id, v.value())).transpose()
    }

    /// Make a lane's new state stick. With money taken or anything for the outside world in
    /// `changes`, the lane, closed receipt, shift, outbox documents and print job are written
    /// in one power-loss-durable transaction; an open-receipt edit alone goes to the lane
    /// journal (kill -9-durable). Only when this returns `Ok` may the cashier be told. Returns the
    /// outbox sequence numbers given to the documents.
    pub async fn commit_lane(&self, commit: LaneCommit<'_>) -> Result<Vec<u64>, StoreError> {
        let id = commit.lane.id.clone();
        let version = self.next_lane_version(&id);
        let changes = commit.changes;
        let edit_only = !commit.money
            && changes.documents.is_empty()
            && changes.closed.is_none()
            && changes.shift_record.is_none()
            && changes.print.is_none()
            && changes.returned.is_none()
            && changes.ledger.is_empty();
        self.inner.engine.note_activity();
        if edit_only {
            let size = self
                .inner
                .journals
                .append(&id, version, &encode(commit.lane))
                .await
                .map_err(|e| self.journal_failed(&id, e))?;
            if size < FOLD_AT {
                return Ok(Vec::new());
            }
        }
        let job = match (changes.print.as_ref(), commit.printer) {
            (Some(request), Some(printer)) => Some(PrintJob::queued(request, printer)),
            _ => None,
        };
        let queued = job.is_some();
        let has_documents = !changes.documents.is_empty();
        // Everything that can be encoded is encoded here, on the caller's thread: the writer's
        // batch is the queue every other lane waits in. The job takes only what the writer
        // reads, not copies of the lane and its documents for the writer to drop.
        let row = lane_row(version, commit.lane);
        let closed_row = changes.closed.as_ref().map(|c| (c.receipt.id.as_u128(), encode(c)));
        let shift_row = changes.shift_record.as_ref().map(|s| (s.id.as_u128(), encode(s)));
        let documents = outbox::prepare(&changes.documents);
        let ledger_changes = LedgerChanges::of(commit.lane, changes);
        let returned = changes.returned.clone();
        let seqs = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                if has_documents {
                    if let Err(refused) = outbox::may_number(tx)? {
                        return Ok(Err(refused));
                    }
                }
                // Checked before anything is written: a refused hold or return leaves the
                // batch clean.
                if let Some(ret) = &returned {
                    if let Err(refused) = ledger::check_return(tx, ret)? {
                        return Ok(Err(refused));
                    }
                }
                let ledgers = match LedgerUpdate::compute(tx, &ledger_changes)? {
                    Ok(ledgers) => ledgers,
                    Err(refused) => return Ok(Err(refused)),
                };
                ledgers.write(tx)?;
                if let Some(ret) = &returned {
                    ledger::put_return(tx, ret)?;
                }
                tx.open_table(LANES)?.insert(id.as_str(), row.as_slice())?;
                if let Some((id, closed)) = &closed_row {
                    tx.open_table(RECEIPTS)?.insert(id, closed.as_slice())?;
                }
                if let Some((id, shift)) = &shift_row {
                    tx.open_table(SHIFTS)?.insert(id, shift.as_slice())?;
                }
                if let Some(job) = &job {
                    print_jobs::put(tx, job)?;
                }
                Ok(Ok(outbox::append(tx, &documents)?))
            })
            .await?;
        // The durable row is newer than anything in the journal now.
        self.inner
            .journals
            .reset(&commit.lane.id)
            .map_err(|e| self.journal_failed(&commit.lane.id, e))?;
        if !seqs.is_empty() {
            Store::signal(&self.inner.outbox_changed);
        }
        if queued {
            Store::signal(&self.inner.print_queue_changed);
        }
        Ok(seqs)
    }
}

impl Store {
    fn journal_failed(&self, lane: &str, e: std::io::Error) -> StoreError {
        let e = if super::is_disk_full(&e) {
            StoreError::DiskFull
        } else {
            StoreError::Storage(format!("журнал кассы {lane}: {e}"))
        };
        self.inner.engine.write_failed(&e);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ctx;
    use crate::domain::catalog::Item;
    use crate::domain::receipt::PaymentMethod;
    use crate::store::test_support::temp_store;
    use rust_decimal_macros::dec;

    fn milk() -> Item {
        Item {
            id: "I-1".into(),
            sku: "A-1".into(),
            name: "Молоко".into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: [("retail".to_string(), dec!(89.90))].into(),
        }
    }

    #[tokio::test]
    async fn edits_go_to_the_journal_and_the_newer_state_wins_on_reload() {
        let (store, dir) = temp_store();
        let mut ids = || Uuid::now_v7();
        let mut ctx = Ctx::new(jiff::Timestamp::now(), "Анна", &mut ids);
        let mut lane = store.lane("1").unwrap().unwrap_or_else(|| Lane::new("1"));
        // The first scan opens the shift: durable, with its document.
        let (_, changes) = lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap();
        let seqs = store
            .commit_lane(LaneCommit {
                lane: &lane,
                changes: &changes,
                printer: None,
                money: false,
            })
            .await
            .unwrap();
        assert_eq!(seqs, vec![1]);
        // The second scan is an edit: journal only.
        let (_, changes) = lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap();
        assert_eq!(changes, Changes::default());
        store
            .commit_lane(LaneCommit {
                lane: &lane,
                changes: &changes,
                printer: None,
                money: false,
            })
            .await
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let reloaded = store.lane("1").unwrap().unwrap();
        assert_eq!(reloaded, lane, "the journal's newer state wins");

        // Paying is durable and empties the journal.
        let mut lane = reloaded;
        let (_, changes) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(200)).unwrap();
        let seqs = store
            .commit_lane(LaneCommit {
                lane: &lane,
                changes: &changes,
                printer: Some("p1"),
                money: false,
            })
            .await
            .unwrap();
        assert_eq!(seqs, vec![2]);
        assert_eq!(store.open_print_jobs("p1").unwrap().len(), 1);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.lane("1").unwrap().unwrap(), lane);
        let closed = changes.closed.unwrap();
        assert_eq!(store.receipt(closed.receipt.id).unwrap().unwrap(), closed);
    }

    /// A copy of a live store's database and log, taken while it runs: what `kill -9` leaves.
    fn files_as_a_crash_leaves_them(live: &std::path::Path) -> tempfile::TempDir {
        let copy = tempfile::tempdir().unwrap();
        for file in [crate::store::DB_FILE, crate::store::REDO_LOG_FILE] {
            std::fs::copy(live.join(file), copy.path().join(file)).unwrap();
        }
        copy
    }

    /// What `kill -9` leaves between checkpoints: the database file as of the last durable
    /// commit, and the log. Opening that gives back the store row for row.
    #[tokio::test]
    async fn a_crash_between_checkpoints_loses_no_row_the_log_holds() {
        let (store, dir) = temp_store();
        let mut ids = || Uuid::now_v7();
        let mut ctx = Ctx::new(jiff::Timestamp::now(), "Анна", &mut ids);
        let mut lane = Lane::new("1");
        for _ in 0..3 {
            let (_, changes) = lane.sell(&mut ctx, &milk(), "x", dec!(2)).unwrap();
            let commit = LaneCommit {
                lane: &lane,
                changes: &changes,
                printer: None,
                money: false,
            };
            store.commit_lane(commit).await.unwrap();
            let (_, changes) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(500)).unwrap();
            let commit = LaneCommit {
                lane: &lane,
                changes: &changes,
                printer: Some("p1"),
                money: true,
            };
            store.commit_lane(commit).await.unwrap();
        }
        store.outbox_delivered(1).await.unwrap();
        store.outbox_park(2, "отказ CRM", jiff::Timestamp::now()).await.unwrap();

        let crashed = files_as_a_crash_leaves_them(dir.path());
        let expected = crate::store::backup::contents(&store);
        let reopened = Store::open(crashed.path()).unwrap();
        assert!(
            reopened.replayed_at_open() >= 6,
            "the copy must need the log: {}",
            reopened.replayed_at_open()
        );
        assert_eq!(crate::store::backup::contents(&reopened), expected);
        assert_eq!(reopened.last_seq().unwrap(), store.last_seq().unwrap());
        drop(reopened);

        // The same crash with the log's first record damaged while later ones are whole: the
        // store refuses to open rather than lose the payments after it.
        let damaged = files_as_a_crash_leaves_them(dir.path());
        let log = damaged.path().join(crate::store::REDO_LOG_FILE);
        let mut bytes = std::fs::read(&log).unwrap();
        bytes[40] ^= 0xFF;
        std::fs::write(&log, &bytes).unwrap();
        match Store::open(damaged.path()) {
            Err(StoreError::Damaged { detail, .. }) => assert!(detail.contains("журнал"), "{detail}"),
            Err(other) => panic!("a damaged log must be reported as damage: {other}"),
            Ok(_) => panic!("a damaged log must not open"),
        }
    }
}
