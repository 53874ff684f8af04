//! A print job's life: `queued → sending → printed | failed | unknown`.
//!
//! The rule that matters most: a job whose bytes may have reached the printer is never sent
//! again on its own. If the connection drops mid-job (or storeterm is killed while sending),
//! the job becomes `unknown` and waits for a person to decide whether to reprint.

use crate::domain::lane::PrintRequest;
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
    /// The closed receipt to print.
    pub receipt: Uuid,
    pub kick_drawer: bool,
    /// A reprint, marked «КОПИЯ».
    pub copy: bool,
    pub requested_at: Timestamp,
    pub state: JobState,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PrintJob {
    pub fn queued(request: &PrintRequest, printer: &str) -> PrintJob {
        PrintJob {
            id: request.id,
            printer: printer.to_string(),
            receipt: request.receipt,
            kick_drawer: request.kick_drawer,
            copy: false,
            requested_at: request.requested_at,
            state: JobState::Queued,
            attempts: 0,
            error: None,
        }
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
