//! The `call` and `lead` documents (protocol section 3) the operator's path reports.

use crate::domain::call::{CallRecord, Direction};
use crate::domain::document::{DocumentKind, NewDocument};
use crate::domain::phone::PhoneNumber;
use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

#[derive(Serialize)]
struct PhoneData<'a> {
    /// As the PBX / the operator wrote it.
    raw: Option<&'a str>,
    /// Normalized; `None` for hidden or unusable numbers.
    e164: Option<&'a str>,
    country: Option<&'a str>,
}

#[derive(Serialize)]
struct CallData<'a> {
    call: &'a str,
    direction: Direction,
    caller: PhoneData<'a>,
    caller_name: Option<&'a str>,
    clients: &'a [String],
    rang: &'a [String],
    answered_by: Option<&'a str>,
    /// Operators (token names) whose extension answered.
    operator: Option<&'a str>,
    started_at: Timestamp,
    answered_at: Option<Timestamp>,
    ended_at: Timestamp,
    ring_seconds: i64,
    talk_seconds: i64,
    missed: bool,
}

/// The `call` document for a finished call.
pub fn call(id: Uuid, record: &CallRecord, number: Option<&PhoneNumber>, clients: &[String], operator: Option<&str>) -> NewDocument {
    let data = CallData {
        call: &record.call,
        direction: record.direction,
        caller: PhoneData {
            raw: record.caller.as_deref(),
            e164: number.map(|n| n.e164.as_str()),
            country: number.and_then(|n| n.country),
        },
        caller_name: record.caller_name.as_deref(),
        clients,
        rang: &record.rang,
        answered_by: record.answered_by.as_deref(),
        operator,
        started_at: record.started_at,
        answered_at: record.answered_at,
        ended_at: record.ended_at,
        ring_seconds: record.ring_seconds,
        talk_seconds: record.talk_seconds,
        missed: record.missed,
    };
    NewDocument::new(id, DocumentKind::Call, record.ended_at, data)
}

/// What an operator typed into the new-lead form.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadForm {
    pub phone_raw: String,
    pub phone: PhoneNumber,
    pub name: String,
    pub comment: String,
    pub operator: String,
    /// The call the lead came from, when it came from a ringing card.
    pub call: Option<String>,
}

#[derive(Serialize)]
struct LeadData<'a> {
    lead: Uuid,
    phone: PhoneData<'a>,
    name: &'a str,
    comment: &'a str,
    operator: &'a str,
    call: Option<&'a str>,
    created_at: Timestamp,
}

/// The `lead` document.
pub fn lead(id: Uuid, form: &LeadForm, now: Timestamp) -> NewDocument {
    let data = LeadData {
        lead: id,
        phone: PhoneData {
            raw: Some(&form.phone_raw),
            e164: Some(&form.phone.e164),
            country: form.phone.country,
        },
        name: &form.name,
        comment: &form.comment,
        operator: &form.operator,
        call: form.call.as_deref(),
        created_at: now,
    };
    NewDocument::new(id, DocumentKind::Lead, now, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::{Country, normalize};
    use serde_json::json;

    #[test]
    fn call_document_carries_everything() {
        let t = |s: i64| Timestamp::from_second(1_770_000_000 + s).unwrap();
        let record = CallRecord {
            call: "pbx:1.1".into(),
            direction: Direction::Inbound,
            caller: Some("89161234567".into()),
            caller_name: None,
            rang: vec!["101".into(), "102".into()],
            answered_by: Some("102".into()),
            started_at: t(0),
            answered_at: Some(t(4)),
            ended_at: t(64),
            ring_seconds: 4,
            talk_seconds: 60,
            missed: false,
        };
        let n = normalize("89161234567", Country::Ru).unwrap();
        let doc = call(Uuid::from_u128(1), &record, Some(&n), &["C-77".into()], Some("Ольга"));
        assert_eq!(doc.kind, DocumentKind::Call);
        assert_eq!(
            doc.data["caller"],
            json!({"raw": "89161234567", "e164": "+79161234567", "country": "RU"})
        );
        assert_eq!(doc.data["clients"], json!(["C-77"]));
        assert_eq!(doc.data["rang"], json!(["101", "102"]));
        assert_eq!(doc.data["operator"], json!("Ольга"));
        assert_eq!(
            (doc.data["ring_seconds"].as_i64(), doc.data["talk_seconds"].as_i64()),
            (Some(4), Some(60))
        );
        assert_eq!(doc.data["missed"], json!(false));
        assert_eq!(doc.created_at, t(64));
    }
}
