//! Lanes, their closed receipts and shifts, committed together with the documents and print
//! jobs a lane operation produced.

use super::{Store, StoreError, decode, encode, outbox, print_jobs};
use crate::domain::lane::{Changes, Lane};
use crate::domain::print_job::PrintJob;
use crate::domain::receipt::ClosedReceipt;
use crate::domain::shift::Shift;
use sled::Transactional;
use uuid::Uuid;

/// One lane operation's effects, written atomically by [`Store::commit_lane`].
pub struct LaneCommit<'a> {
    /// The lane's state after the operation.
    pub lane: &'a Lane,
    pub changes: &'a Changes,
    /// The printer device to queue a print request for; `None` drops it (no printer).
    pub printer: Option<&'a str>,
}

impl Store {
    /// A lane's last committed state.
    pub fn lane(&self, id: &str) -> Result<Option<Lane>, StoreError> {
        self.trees
            .lanes
            .get(id.as_bytes())?
            .map(|v| decode("lanes", id.as_bytes(), &v))
            .transpose()
    }

    /// A closed receipt by id.
    pub fn receipt(&self, id: Uuid) -> Result<Option<ClosedReceipt>, StoreError> {
        self.trees
            .receipts
            .get(id.as_bytes())?
            .map(|v| decode("receipts", id.as_bytes(), &v))
            .transpose()
    }

    /// The closed receipts of one shift, oldest first (for its X and Z reports). Scans the
    /// receipts from the shift's opening on: ids are UUIDv7, ordered by time.
    pub fn shift_receipts(&self, shift: &Shift) -> Result<Vec<ClosedReceipt>, StoreError> {
        // The smallest UUIDv7 of the opening millisecond (its first 48 bits are the time).
        let ms = shift.opened_at.as_millisecond().max(0) as u64;
        let mut start = [0u8; 16];
        start[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        let mut receipts = Vec::new();
        for entry in self.trees.receipts.range(start.to_vec()..) {
            let (key, value) = entry?;
            let receipt: ClosedReceipt = decode("receipts", &key, &value)?;
            if receipt.receipt.shift_id == shift.id {
                receipts.push(receipt);
            }
        }
        Ok(receipts)
    }

    /// A shift from the journal by id.
    pub fn shift(&self, id: Uuid) -> Result<Option<Shift>, StoreError> {
        self.trees
            .shifts
            .get(id.as_bytes())?
            .map(|v| decode("shifts", id.as_bytes(), &v))
            .transpose()
    }

    /// Write a lane's new state with everything it produced in one transaction, and flush.
    /// When this returns `Ok`, the change survives `kill -9`; only then may the cashier be
    /// told. Returns the outbox sequence numbers given to the documents.
    pub async fn commit_lane(&self, commit: LaneCommit<'_>) -> Result<Vec<u64>, StoreError> {
        let t = &self.trees;
        let trees = [&t.meta, &t.lanes, &t.receipts, &t.shifts, &t.outbox, &t.print_jobs, &t.print_queue];
        let job = match (commit.changes.print.as_ref(), commit.printer) {
            (Some(request), Some(printer)) => Some(PrintJob::queued(request, printer)),
            _ => None,
        };
        let seqs = trees.as_slice().transaction(|tx| {
            let (meta, lanes, receipts, shifts, outbox_tree, jobs, queue) = (&tx[0], &tx[1], &tx[2], &tx[3], &tx[4], &tx[5], &tx[6]);
            lanes.insert(commit.lane.id.as_bytes(), encode(commit.lane))?;
            if let Some(closed) = &commit.changes.closed {
                receipts.insert(closed.receipt.id.as_bytes(), encode(closed))?;
            }
            if let Some(shift) = &commit.changes.shift_record {
                shifts.insert(shift.id.as_bytes(), encode(shift))?;
            }
            if let Some(job) = &job {
                print_jobs::put(jobs, queue, job)?;
            }
            outbox::append(meta, outbox_tree, &commit.changes.documents)
        })?;
        self.flush().await?;
        if !seqs.is_empty() {
            Store::signal(&self.outbox_changed);
        }
        if job.is_some() {
            Store::signal(&self.print_queue_changed);
        }
        Ok(seqs)
    }
}
