//! A print job's life: `queued → sending → printed | failed | unknown`.
//!
//! The rule that matters most: a job whose bytes may have reached the printer is never sent
//! again on its own. If the connection drops mid-job (or storeterm is killed while sending),
//! the job becomes `unknown` and waits for a person to decide whether to reprint.

use crate::domain::lane::{PrintContent, PrintDocument, PrintRequest};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the printer; nothing has been sent.
    Queued,
    /// Bytes are going out right now.
    Sending,
    /// Every byte was accepted by the printer.
    Printed,
    /// Could not be rendered or sent at all; nothing reached the printer.
    Failed,
    /// The transfer broke off: the receipt may or may not be on paper.
    Unknown,
}

impl JobState {
    /// Still the printer worker's business.
    pub fn is_open(self) -> bool {
        matches!(self, JobState::Queued | JobState::Sending)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Sending => "sending",
            JobState::Printed => "printed",
            JobState::Failed => "failed",
            JobState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintJob {
    pub id: Uuid,
    /// Device id of the printer.
    pub printer: String,
    /// The closed receipt (or, for a Z report, the shift) to print.
    pub receipt: Uuid,
    /// What is printed.
    #[serde(default)]
    pub document: PrintDocument,
    pub kick_drawer: bool,
    /// A reprint, marked «КОПИЯ».
    pub copy: bool,
    pub requested_at: Timestamp,
    pub state: JobState,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The copy a person asked for after this job ended `unknown` or `failed` (or to give the
    /// customer a second receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprinted_as: Option<Uuid>,
    /// A person looked at the paper and said the receipt did come out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// What it prints, for documents the store keeps no record of (a return, a cash slip,
    /// the shift as it stood for an X report); a copy prints the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<PrintContent>,
}

/// How long a drawer kick stays worth doing. A job that waited longer (printer out of paper,
/// offline) prints without opening the drawer: a drawer that springs open minutes after the
/// sale, in front of whoever stands at the till then, is worse than none.
pub const DRAWER_FRESH_SECS: i64 = 5;

/// Why a person's decision about a job cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("задание печати {0} ещё не завершено ({1}): дождитесь печати или ответа принтера")]
    StillOpen(Uuid, &'static str),
    #[error("задание печати {0} уже перепечатано как {1}")]
    AlreadyReprinted(Uuid, Uuid),
    #[error("задание печати {0} в состоянии {1}: подтвердить печать можно только у задания с неизвестной судьбой")]
    NotUnknown(Uuid, &'static str),
}

impl PrintJob {
    pub fn queued(request: &PrintRequest, printer: &str) -> PrintJob {
        PrintJob {
            id: request.id,
            printer: printer.to_string(),
            receipt: request.receipt,
            document: request.document,
            kick_drawer: request.kick_drawer,
            copy: false,
            requested_at: request.requested_at,
            state: JobState::Queued,
            attempts: 0,
            error: None,
            reprinted_as: None,
            confirmed: false,
            content: request.content.clone(),
        }
    }

    /// Whether the drawer should still open with this job, sent at `now`.
    pub fn drawer_due(&self, now: Timestamp) -> bool {
        self.kick_drawer && now.duration_since(self.requested_at).as_secs() <= DRAWER_FRESH_SECS
    }

    /// Waiting for a person: the receipt may or may not be on paper, nobody said yet.
    pub fn needs_decision(&self) -> bool {
        matches!(self.state, JobState::Unknown | JobState::Failed) && self.reprinted_as.is_none() && !self.confirmed
    }

    /// A person asks for a copy: a new queued job `id` for the same receipt, marked «КОПИЯ»,
    /// never opening the drawer. This job remembers it, so a second tap makes no third print.
    pub fn reprint(&mut self, id: Uuid, now: Timestamp) -> Result<PrintJob, JobError> {
        if self.state.is_open() {
            return Err(JobError::StillOpen(self.id, self.state.as_str()));
        }
        if let Some(copy) = self.reprinted_as {
            return Err(JobError::AlreadyReprinted(self.id, copy));
        }
        self.reprinted_as = Some(id);
        Ok(PrintJob {
            id,
            printer: self.printer.clone(),
            receipt: self.receipt,
            document: self.document,
            kick_drawer: false,
            copy: true,
            requested_at: now,
            state: JobState::Queued,
            attempts: 0,
            error: None,
            reprinted_as: None,
            confirmed: false,
            content: self.content.clone(),
        })
    }

    /// A person says the receipt of an `unknown` job did come out: no reprint wanted.
    pub fn confirm_printed(&mut self) -> Result<(), JobError> {
        if self.state != JobState::Unknown {
            return Err(JobError::NotUnknown(self.id, self.state.as_str()));
        }
        self.confirmed = true;
        Ok(())
    }

    /// The transfer starts.
    pub fn sending(&mut self) {
        self.state = JobState::Sending;
        self.attempts += 1;
    }

    /// The printer could not be reached; nothing was sent, so the job stays queued.
    pub fn not_reached(&mut self, reason: String) {
        self.state = JobState::Queued;
        self.error = Some(reason);
    }

    pub fn printed(&mut self) {
        self.state = JobState::Printed;
        self.error = None;
    }

    /// The transfer broke off after it started.
    pub fn interrupted(&mut self, reason: String) {
        self.state = JobState::Unknown;
        self.error = Some(reason);
    }

    pub fn failed(&mut self, reason: String) {
        self.state = JobState::Failed;
        self.error = Some(reason);
    }

    /// After a restart: a job found `sending` was cut off by the crash.
    pub fn recover(&mut self) -> bool {
        if self.state == JobState::Sending {
            self.interrupted("storeterm stopped while this job was being sent".into());
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(at: &str) -> PrintJob {
        let request = PrintRequest {
            id: Uuid::from_u128(1),
            receipt: Uuid::from_u128(2),
            kick_drawer: true,
            requested_at: at.parse().unwrap(),
            document: PrintDocument::Sale,
            content: None,
        };
        PrintJob::queued(&request, "printer-1")
    }

    #[test]
    fn a_late_drawer_kick_is_dropped() {
        let j = job("2026-03-02T10:00:00Z");
        assert!(j.drawer_due("2026-03-02T10:00:05Z".parse().unwrap()));
        assert!(!j.drawer_due("2026-03-02T10:00:06Z".parse().unwrap()));
    }

    #[test]
    fn an_unknown_job_is_reprinted_once_as_a_copy() {
        let mut j = job("2026-03-02T10:00:00Z");
        let now: Timestamp = "2026-03-02T10:01:00Z".parse().unwrap();
        assert_eq!(j.reprint(Uuid::from_u128(3), now), Err(JobError::StillOpen(j.id, "queued")));
        j.sending();
        j.interrupted("connection reset".into());
        assert!(j.needs_decision());
        let copy = j.reprint(Uuid::from_u128(3), now).unwrap();
        assert!(copy.copy && !copy.kick_drawer && copy.state == JobState::Queued);
        assert_eq!((copy.receipt, copy.requested_at), (j.receipt, now));
        assert!(!j.needs_decision());
        assert_eq!(
            j.reprint(Uuid::from_u128(4), now),
            Err(JobError::AlreadyReprinted(j.id, Uuid::from_u128(3)))
        );
    }

    #[test]
    fn confirming_is_only_for_unknown_jobs() {
        let mut j = job("2026-03-02T10:00:00Z");
        assert!(j.confirm_printed().is_err());
        j.sending();
        j.interrupted("cut".into());
        j.confirm_printed().unwrap();
        assert!(!j.needs_decision() && j.state == JobState::Unknown);
    }
}
