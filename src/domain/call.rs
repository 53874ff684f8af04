//! A phone call as the shop's records keep it: its direction and, once it ended, the record
//! the `call` document reports. Every telephony source (AMI, a Caller-ID modem, a cloud PBX)
//! reduces to these.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Who called whom, as far as the PBX tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From outside to the office.
    Inbound,
    /// From an office extension to outside.
    Outbound,
    /// Between two office extensions.
    Internal,
}

/// A finished call, as the `call` document reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call: String,
    pub direction: Direction,
    /// The caller's number as the PBX sent it (`None`: hidden).
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    /// Extensions that rang, in the order they started.
    pub rang: Vec<String>,
    pub answered_by: Option<String>,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Timestamp,
    /// From the first ring (or the start) to the answer, or to the end when nobody answered.
    pub ring_seconds: i64,
    pub talk_seconds: i64,
    /// An inbound call nobody answered.
    pub missed: bool,
}
