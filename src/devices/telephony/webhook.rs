//! Cloud-PBX webhooks mapped to call signals, pure: the form a provider posted, its signature,
//! and the shared secret in; signals out.
//!
//! - **Zadarma** posts `application/x-www-form-urlencoded` with `event` = `NOTIFY_START`
//!   (a call reaches the PBX), `NOTIFY_INTERNAL` (an extension rings), `NOTIFY_ANSWER`,
//!   `NOTIFY_END`, and a `Signature` header: base64 of the *hex* HMAC-SHA1 (their PHP does
//!   `base64_encode(hash_hmac('sha1', …))`, and `hash_hmac` returns hex) of
//!   `caller_id ‖ called_did ‖ call_start` (`caller_id ‖ destination ‖ call_start` for
//!   `NOTIFY_ANSWER`), keyed with the API secret.
//! - **Mango Office** posts the form fields `vpbx_api_key`, `sign`, `json` to
//!   `{url}/events/call` (and `{url}/events/summary` when the call is over);
//!   `sign = hex(sha256(vpbx_api_key ‖ json ‖ vpbx_api_salt))`.

use crate::devices::telephony::calls::{Signal, SignalKind};
use crate::domain::call::Direction;
use base64::Engine;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature does not match (check the secret configured for this provider)")]
    BadSignature,
    #[error("the request has no signature")]
    Unsigned,
    #[error("the API key is not ours")]
    WrongKey,
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("the event is not valid: {0}")]
    Invalid(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Zadarma's signature over `text`.
pub fn zadarma_signature(text: &str, secret: &str) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex(&mac.finalize().into_bytes()))
}

/// Map one Zadarma notification.
pub fn zadarma(form: &HashMap<String, String>, signature: Option<&str>, secret: &str, at: Timestamp) -> Result<Vec<Signal>, WebhookError> {
    let field = |k: &'static str| form.get(k).map(String::as_str).ok_or(WebhookError::Missing(k));
    let event = field("event")?;
    let caller = form.get("caller_id").map(String::as_str).unwrap_or("");
    let start = form.get("call_start").map(String::as_str).unwrap_or("");
    let signed = match event {
        "NOTIFY_ANSWER" => format!("{caller}{}{start}", form.get("destination").map(String::as_str).unwrap_or("")),
        _ => format!("{caller}{}{start}", form.get("called_did").map(String::as_str).unwrap_or("")),
    };
    let signature = signature.ok_or(WebhookError::Unsigned)?;
    if !same(signature.trim(), &zadarma_signature(&signed, secret)) {
        return Err(WebhookError::BadSignature);
    }
    let call = format!("zadarma:{}", field("pbx_call_id")?);
    let signal = |kind| Signal {
        call: call.clone(),
        at,
        kind,
    };
    let internal = || field("internal").map(str::to_string);
    Ok(match event {
        "NOTIFY_START" => vec![signal(SignalKind::Caller {
            number: caller.to_string(),
            name: None,
            direction: Direction::Inbound,
        })],
        "NOTIFY_INTERNAL" => {
            let ext = internal()?;
            vec![signal(SignalKind::Ring {
                device: format!("zadarma/{ext}"),
                extension: ext,
                caller: Some(caller.to_string()),
            })]
        }
        "NOTIFY_ANSWER" => vec![signal(SignalKind::Answer { extension: internal()? })],
        "NOTIFY_END" => vec![signal(SignalKind::Hangup)],
        // NOTIFY_OUT_START, NOTIFY_RECORD, NOTIFY_IVR…: nothing for a caller card.
        _ => Vec::new(),
    })
}

/// Mango's signature.
pub fn mango_sign(key: &str, json: &str, salt: &str) -> String {
    hex(&Sha256::new().chain_update(key).chain_update(json).chain_update(salt).finalize())
}

#[derive(Deserialize)]
struct MangoParty {
    #[serde(default)]
    extension: Option<String>,
    #[serde(default)]
    number: Option<String>,
}

#[derive(Deserialize)]
struct MangoCall {
    entry_id: String,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    call_state: Option<String>,
    #[serde(default)]
    from: Option<MangoParty>,
    #[serde(default)]
    to: Option<MangoParty>,
}

/// Map one Mango Office event; `event` is the path after the webhook URL (`events/call`,
/// `events/summary`).
pub fn mango(form: &HashMap<String, String>, event: &str, api_key: &str, salt: &str, at: Timestamp) -> Result<Vec<Signal>, WebhookError> {
    let key = form.get("vpbx_api_key").ok_or(WebhookError::Missing("vpbx_api_key"))?;
    let sign = form.get("sign").ok_or(WebhookError::Unsigned)?;
    let json = form.get("json").ok_or(WebhookError::Missing("json"))?;
    if !same(sign, &mango_sign(key, json, salt)) {
        return Err(WebhookError::BadSignature);
    }
    if !same(key, api_key) {
        return Err(WebhookError::WrongKey);
    }
    let c: MangoCall = serde_json::from_str(json).map_err(|e| WebhookError::Invalid(e.to_string()))?;
    let call = format!("mango:{}", c.entry_id);
    let signal = |kind| Signal {
        call: call.clone(),
        at,
        kind,
    };
    let caller = c.from.as_ref().and_then(|f| f.number.clone().or_else(|| f.extension.clone()));
    let from_extension = c.from.as_ref().and_then(|f| f.extension.clone());
    let to_ext = c.to.as_ref().and_then(|t| t.extension.clone());
    let leg = c.call_id.clone().unwrap_or_else(|| c.entry_id.clone());
    let mut out = Vec::new();
    match event.trim_matches('/') {
        "events/call" => {
            out.push(signal(SignalKind::Caller {
                number: caller.clone().unwrap_or_default(),
                name: None,
                direction: if from_extension.is_some() {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                },
            }));
            let Some(ext) = to_ext else { return Ok(out) };
            match c.call_state.as_deref() {
                Some("Appeared") => out.push(signal(SignalKind::Ring {
                    device: format!("mango/{leg}"),
                    extension: ext,
                    caller,
                })),
                Some("Connected") => out.push(signal(SignalKind::Answer { extension: ext })),
                Some("Disconnected") => out.push(signal(SignalKind::DeviceGone {
                    device: format!("mango/{leg}"),
                    extension: ext,
                })),
                _ => {}
            }
        }
        "events/summary" => out.push(signal(SignalKind::Hangup)),
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_forms_never_panic(pairs in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8), json in "\\PC{0,80}") {
            let form: HashMap<String, String> = pairs.into_iter().collect();
            let _ = zadarma(&form, Some("x"), "s", Timestamp::UNIX_EPOCH);
            let signed: HashMap<String, String> = [
                ("vpbx_api_key".to_string(), "k".to_string()),
                ("sign".to_string(), mango_sign("k", &json, "salt")),
                ("json".to_string(), json),
            ].into();
            let _ = mango(&signed, "events/call", "k", "salt", Timestamp::UNIX_EPOCH);
        }
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn zadarma_signature_is_base64_of_hex_hmac() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        let sig = zadarma_signature("what do ya want for nothing?", "Jefe");
        let decoded = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
        assert_eq!(decoded, b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn zadarma_events_map_and_bad_signatures_are_refused() {
        let at = Timestamp::UNIX_EPOCH;
        let start = form(&[
            ("event", "NOTIFY_START"),
            ("call_start", "2026-12-01 10:00:00"),
            ("pbx_call_id", "in_abc"),
            ("caller_id", "79161234567"),
            ("called_did", "74951112233"),
        ]);
        let good = zadarma_signature("7916123456774951112233", "s");
        assert!(zadarma(&start, Some(&good), "s", at).is_err(), "a signature over other text fails");
        let good = zadarma_signature("79161234567749511122332026-12-01 10:00:00", "s");
        let signals = zadarma(&start, Some(&good), "s", at).unwrap();
        assert_eq!(signals[0].call, "zadarma:in_abc");
        assert!(matches!(&signals[0].kind, SignalKind::Caller { number, .. } if number == "79161234567"));
        assert_eq!(zadarma(&start, Some(&good), "other", at), Err(WebhookError::BadSignature));
        assert_eq!(zadarma(&start, None, "s", at), Err(WebhookError::Unsigned));
    }

    #[test]
    fn mango_events_map_and_bad_signatures_are_refused() {
        let json = r#"{"entry_id":"E1","call_id":"L1","call_state":"Appeared","location":"abonent",
            "from":{"number":"79161234567"},"to":{"extension":"101","number":"sip:101@x"}}"#;
        let sign = mango_sign("K", json, "SALT");
        let f = form(&[("vpbx_api_key", "K"), ("sign", &sign), ("json", json)]);
        let signals = mango(&f, "events/call", "K", "SALT", Timestamp::UNIX_EPOCH).unwrap();
        assert!(matches!(&signals[1].kind, SignalKind::Ring { extension, .. } if extension == "101"));
        assert_eq!(
            mango(&f, "events/call", "K", "PEPPER", Timestamp::UNIX_EPOCH),
            Err(WebhookError::BadSignature)
        );
        let other = form(&[("vpbx_api_key", "X"), ("sign", &mango_sign("X", json, "SALT")), ("json", json)]);
        assert_eq!(
            mango(&other, "events/call", "K", "SALT", Timestamp::UNIX_EPOCH),
            Err(WebhookError::WrongKey)
        );
    }
}
