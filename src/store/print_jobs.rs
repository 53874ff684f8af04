//! Print jobs: the journal of every job and a queue index of those not finished yet.

use super::{Store, StoreError, decode, encode};
use crate::domain::print_job::{JobError, JobState, PrintJob};
use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};
use uuid::Uuid;

fn queue_key(printer: &str, id: Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(printer.len() + 17);
    key.extend_from_slice(printer.as_bytes());
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
}

fn queue_prefix(printer: &str) -> Vec<u8> {
    let mut key = printer.as_bytes().to_vec();
    key.push(0);
    key
}

/// Write a job and keep the queue index in step with its state, inside a caller's transaction.
pub(super) fn put(jobs: &TransactionalTree, queue: &TransactionalTree, job: &PrintJob) -> ConflictableTransactionResult<(), StoreError> {
    jobs.insert(job.id.as_bytes(), encode(job))?;
    let key = queue_key(&job.printer, job.id);
    if job.state.is_open() {
        queue.insert(key, &[])?;
    } else {
        queue.remove(key)?;
    }
    Ok(())
}

impl Store {
    /// Record a job's new state durably.
    pub async fn save_print_job(&self, job: &PrintJob) -> Result<(), StoreError> {
        let t = &self.trees;
        [&t.print_jobs, &t.print_queue]
            .as_slice()
            .transaction(|tx| put(&tx[0], &tx[1], job))?;
        self.flush().await?;
        if job.state == JobState::Queued {
            Store::signal(&self.print_queue_changed);
        }
        Ok(())
    }

    /// Wake the printer workers (a printer became ready).
    pub fn nudge_print_queue(&self) {
        Store::signal(&self.print_queue_changed);
    }

    pub fn print_job(&self, id: Uuid) -> Result<Option<PrintJob>, StoreError> {
        self.trees
            .print_jobs
            .get(id.as_bytes())?
            .map(|v| decode("print_jobs", id.as_bytes(), &v))
            .transpose()
    }

    /// The unfinished jobs of one printer, oldest first.
    pub fn open_print_jobs(&self, printer: &str) -> Result<Vec<PrintJob>, StoreError> {
        let mut jobs = Vec::new();
        for entry in self.trees.print_queue.scan_prefix(queue_prefix(printer)) {
            let (key, _) = entry?;
            let id = key
                .get(key.len().saturating_sub(16)..)
                .and_then(|b| Uuid::from_slice(b).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    tree: "print_queue",
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "key does not end in a job id".into(),
                })?;
            if let Some(job) = self.print_job(id)? {
                jobs.push(job);
            }
        }
        Ok(jobs)
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
        let t = &self.trees;
        let outcome = [&t.print_jobs, &t.print_queue].as_slice().transaction(|tx| {
            let Some(raw) = tx[0].get(id.as_bytes())? else {
                return Ok(None);
            };
            let mut original: PrintJob = decode("print_jobs", id.as_bytes(), &raw).map_err(super::abort)?;
            match original.reprint(copy_id, now) {
                Ok(copy) => {
                    put(&tx[0], &tx[1], &original)?;
                    put(&tx[0], &tx[1], &copy)?;
                    Ok(Some(Ok(copy)))
                }
                Err(e) => Ok(Some(Err(e))),
            }
        })?;
        if let Some(Ok(_)) = &outcome {
            self.flush().await?;
            Store::signal(&self.print_queue_changed);
        }
        Ok(outcome)
    }

    /// A person says the receipt of `unknown` job `id` is on paper. `None`: no such job.
    pub async fn confirm_print_job(&self, id: Uuid) -> Result<Option<Result<PrintJob, JobError>>, StoreError> {
        let Some(mut job) = self.print_job(id)? else {
            return Ok(None);
        };
        if let Err(e) = job.confirm_printed() {
            return Ok(Some(Err(e)));
        }
        self.save_print_job(&job).await?;
        Ok(Some(Ok(job)))
    }

    /// The most recent jobs of all printers, newest first.
    pub fn recent_print_jobs(&self, limit: usize) -> Result<Vec<PrintJob>, StoreError> {
        self.trees
            .print_jobs
            .iter()
            .rev()
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                decode("print_jobs", &k, &v)
            })
            .collect()
    }
}
