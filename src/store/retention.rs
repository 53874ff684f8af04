//! Retention: what the store forgets, so it does not grow for ever.
//!
//! Delivered outbox documents leave the outbox at delivery already. What is kept for a while
//! and then removed: closed receipts and shifts (returns and reprints need them for some
//! months), finished print jobs, the answers given to handheld operations (a handheld retries
//! within minutes; a week is a generous window) and the warehouse movement log. Parked
//! documents stay until the admin resends or drops them.
//!
//! Each call removes at most [`CHUNK`] entries per table in one lazy commit, so pruning never
//! holds the writer for long; the caller repeats until nothing is left to remove.

use super::engine::Durability;
use super::redo::Txn;
use super::tables::{PRINT_JOBS, RECEIPTS, SHIFTS, WMS_LOG, WMS_OPS, WMS_OPS_BY_TIME};
use super::{Store, StoreError, decode};
use crate::domain::print_job::PrintJob;
use crate::domain::wms::Movement;
use jiff::{SignedDuration, Timestamp};
use redb::ReadableTable;

/// Entries removed per table per call.
pub const CHUNK: usize = 2000;

/// How long each kind of record is kept (`[store]` in the config), in days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub receipts_days: u32,
    pub print_jobs_days: u32,
    pub wms_answers_days: u32,
    pub wms_log_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            receipts_days: 180,
            print_jobs_days: 30,
            wms_answers_days: 7,
            wms_log_days: 365,
        }
    }
}

/// What one pruning pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub receipts: usize,
    pub shifts: usize,
    pub print_jobs: usize,
    pub wms_answers: usize,
    pub wms_log: usize,
}

impl Pruned {
    pub fn total(&self) -> usize {
        self.receipts + self.shifts + self.print_jobs + self.wms_answers + self.wms_log
    }
}

fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(Timestamp::MIN)
}

/// The smallest UUIDv7 of a millisecond: ids below it are older.
fn uuid7_floor(at: Timestamp) -> u128 {
    (at.as_millisecond().max(0) as u128) << 80
}

/// Remove the keys of a UUIDv7-keyed table older than `before` (at most a chunk).
fn prune_by_uuid7(
    tx: &Txn<'_>,
    table: redb::TableDefinition<'static, u128, &'static [u8]>,
    before: Timestamp,
) -> Result<usize, StoreError> {
    let mut t = tx.open_table(table)?;
    let old: Vec<u128> = t
        .range(..uuid7_floor(before))?
        .take(CHUNK)
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for key in &old {
        t.remove(*key)?;
    }
    Ok(old.len())
}

fn prune(tx: &Txn<'_>, now: Timestamp, policy: &Retention) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned {
        receipts: prune_by_uuid7(tx, RECEIPTS, cutoff(now, policy.receipts_days))?,
        shifts: prune_by_uuid7(tx, SHIFTS, cutoff(now, policy.receipts_days))?,
        ..Pruned::default()
    };

    // Finished print jobs only: a job still queued or sending stays whatever its age.
    {
        let before = uuid7_floor(cutoff(now, policy.print_jobs_days));
        let mut jobs = tx.open_table(PRINT_JOBS)?;
        let mut finished = Vec::new();
        for entry in jobs.range(..before)?.take(CHUNK) {
            let (key, value) = entry?;
            let job: PrintJob = decode("print_jobs", key.value(), value.value())?;
            if !job.state.is_open() {
                finished.push(key.value());
            }
        }
        for key in &finished {
            jobs.remove(*key)?;
        }
        // The queue index holds open jobs only: nothing of it goes.
        pruned.print_jobs = finished.len();
    }

    {
        let before = cutoff(now, policy.wms_answers_days).as_millisecond();
        let mut by_time = tx.open_table(WMS_OPS_BY_TIME)?;
        let old: Vec<(i64, String)> = by_time
            .range(..(before, ""))?
            .take(CHUNK)
            .map(|r| r.map(|(k, _)| (k.value().0, k.value().1.to_string())))
            .collect::<Result<_, _>>()?;
        let mut ops = tx.open_table(WMS_OPS)?;
        for (at, id) in &old {
            by_time.remove((*at, id.as_str()))?;
            ops.remove(id.as_str())?;
        }
        pruned.wms_answers = old.len();
    }

    {
        let before = cutoff(now, policy.wms_log_days);
        let mut log = tx.open_table(WMS_LOG)?;
        let mut old = Vec::new();
        for entry in log.iter()?.take(CHUNK) {
            let (seq, value) = entry?;
            let movement: Movement = decode("wms_log", seq.value(), value.value())?;
            if movement.at >= before {
                break;
            }
            old.push(seq.value());
        }
        for seq in &old {
            log.remove(*seq)?;
        }
        pruned.wms_log = old.len();
    }
    Ok(pruned)
}

impl Store {
    /// Remove one chunk of what `policy` says is old at `now`. Repeat while it removes
    /// anything.
    pub async fn prune(&self, now: Timestamp, policy: &Retention) -> Result<Pruned, StoreError> {
        let policy = policy.clone();
        self.inner
            .engine
            .write(Durability::Lazy, move |tx| {
                let pruned = prune(tx, now, &policy)?;
                super::count_churn(tx, pruned.total())?;
                Ok(Ok::<_, StoreError>(pruned))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn old_finished_jobs_go_and_open_ones_stay() {
        use crate::domain::lane::{PrintDocument, PrintRequest};
        use crate::domain::print_job::JobState;
        let (store, _dir) = temp_store();
        let long_ago: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let job = |ms: u64, state: JobState| {
            let id = uuid::Uuid::from_u128(((ms as u128) << 80) | 0x7000_0000_0000_0000_8000_0000_0000u128 | ms as u128);
            let mut job = PrintJob::queued(
                &PrintRequest {
                    id,
                    receipt: id,
                    kick_drawer: false,
                    requested_at: long_ago,
                    document: PrintDocument::Sale,
                    content: Default::default(),
                },
                "p1",
            );
            job.state = state;
            job
        };
        let old_ms = long_ago.as_millisecond() as u64;
        store.save_print_job(&job(old_ms, JobState::Printed)).await.unwrap();
        store.save_print_job(&job(old_ms + 1, JobState::Queued)).await.unwrap();
        let pruned = store.prune(Timestamp::now(), &Retention::default()).await.unwrap();
        assert_eq!(pruned.print_jobs, 1);
        assert_eq!(store.recent_print_jobs(10).unwrap().len(), 1);
        assert_eq!(store.open_print_jobs("p1").unwrap().len(), 1);
        assert_eq!(store.prune(Timestamp::now(), &Retention::default()).await.unwrap().total(), 0);
    }
}
