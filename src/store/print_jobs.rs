//! Print jobs: the journal of every job and a queue index of those not finished yet.
//!
//! A job's state is power-loss durable before the spooler acts on it: a job marked `sending`
//! before its first byte leaves is never sent again by itself after a crash (it becomes
//! `unknown`), so no receipt is printed twice.

use super::engine::Durability;
use super::redo::Txn;
use super::tables::{PRINT_JOBS, PRINT_QUEUE, joined, prefix_range};
use super::{Store, StoreError, decode, encode};
use crate::domain::print_job::{JobError, JobState, PrintJob};
use jiff::Timestamp;
use redb::ReadableTable;
use uuid::Uuid;

fn queue_key(printer: &str, id: Uuid) -> Vec<u8> {
    joined(printer.as_bytes(), id.as_bytes())
}

/// Write a job and keep the queue index in step with its state, inside a caller's transaction.
pub(super) fn put(tx: &Txn<'_>, job: &PrintJob) -> Result<(), StoreError> {
    tx.open_table(PRINT_JOBS)?.insert(job.id.as_u128(), encode(job).as_slice())?;
    let key = queue_key(&job.printer, job.id);
    let mut queue = tx.open_table(PRINT_QUEUE)?;
    if job.state.is_open() {
        queue.insert(key.as_slice(), ())?;
    } else {
        queue.remove(key.as_slice())?;
    }
    Ok(())
}

fn get(tx: &Txn<'_>, id: Uuid) -> Result<Option<Result<PrintJob, StoreError>>, StoreError> {
    let jobs = tx.open_table(PRINT_JOBS)?;
    let row = jobs.get(id.as_u128())?;
    Ok(row.map(|v| decode("print_jobs", id, v.value())))
}

impl Store {
    /// Record a job's new state, power-loss durably.
    pub async fn save_print_job(&self, job: &PrintJob) -> Result<(), StoreError> {
        let saved = job.clone();
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                put(tx, &saved)?;
                Ok(Ok::<_, StoreError>(()))
            })
            .await?;
        if job.state == JobState::Queued {
            Store::signal(&self.inner.print_queue_changed);
        }
        Ok(())
    }

    /// Wake the printer workers (a printer became ready).
    pub fn nudge_print_queue(&self) {
        Store::signal(&self.inner.print_queue_changed);
    }

    pub fn print_job(&self, id: Uuid) -> Result<Option<PrintJob>, StoreError> {
        let tx = self.read()?;
        let jobs = tx.open_table(PRINT_JOBS)?;
        let row = jobs.get(id.as_u128())?;
        row.map(|v| decode("print_jobs", id, v.value())).transpose()
    }

    /// The unfinished jobs of one printer, oldest first.
    pub fn open_print_jobs(&self, printer: &str) -> Result<Vec<PrintJob>, StoreError> {
        let (start, end) = prefix_range(printer.as_bytes());
        let tx = self.read()?;
        let queue = tx.open_table(PRINT_QUEUE)?;
        let jobs = tx.open_table(PRINT_JOBS)?;
        let mut open = Vec::new();
        for entry in queue.range(start.as_slice()..end.as_slice())? {
            let (key, _) = entry?;
            let key = key.value();
            let id = key
                .get(key.len().saturating_sub(16)..)
                .and_then(|b| Uuid::from_slice(b).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    table: "print_queue",
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason: "key does not end in a job id".into(),
                })?;
            if let Some(row) = jobs.get(id.as_u128())? {
                open.push(decode("print_jobs", id, row.value())?);
            }
        }
        Ok(open)
    }

    /// A person's reprint of job `id`: the original remembers its copy and the copy is queued,
    /// in one transaction, so a double tap or a retried request never makes two copies.
    /// `None` when there is no such job.
    pub async fn reprint_print_job(
        &self,
        id: Uuid,
        copy_id: Uuid,
        now: Timestamp,
    ) -> Result<Option<Result<PrintJob, JobError>>, StoreError> {
        let outcome = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut original = match get(tx, id)? {
                    None => return Ok(Ok(None)),
                    Some(Err(e)) => return Ok(Err(e)),
                    Some(Ok(job)) => job,
                };
                match original.reprint(copy_id, now) {
                    Ok(copy) => {
                        put(tx, &original)?;
                        put(tx, &copy)?;
                        Ok(Ok(Some(Ok(copy))))
                    }
                    Err(e) => Ok(Ok(Some(Err(e)))),
                }
            })
            .await?;
        if let Some(Ok(_)) = &outcome {
            Store::signal(&self.inner.print_queue_changed);
        }
        Ok(outcome)
    }

    /// A person says the receipt of `unknown` job `id` is on paper. `None`: no such job.
    pub async fn confirm_print_job(&self, id: Uuid) -> Result<Option<Result<PrintJob, JobError>>, StoreError> {
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut job = match get(tx, id)? {
                    None => return Ok(Ok(None)),
                    Some(Err(e)) => return Ok(Err(e)),
                    Some(Ok(job)) => job,
                };
                if let Err(e) = job.confirm_printed() {
                    return Ok(Ok(Some(Err(e))));
                }
                put(tx, &job)?;
                Ok(Ok(Some(Ok(job))))
            })
            .await
    }

    /// The most recent jobs of all printers, newest first.
    pub fn recent_print_jobs(&self, limit: usize) -> Result<Vec<PrintJob>, StoreError> {
        let tx = self.read()?;
        let jobs = tx.open_table(PRINT_JOBS)?;
        jobs.iter()?
            .rev()
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                decode("print_jobs", Uuid::from_u128(k.value()), v.value())
            })
            .collect()
    }
}
