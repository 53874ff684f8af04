//! Cloud-PBX webhooks mapped to call signals, pure: the form a provider posted, its signature,
//! the shared secret and the time now in; signals out.
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
//!
//! ## Replays
//!
//! Zadarma's signature covers neither the event nor the call id, and neither signature covers
//! the moment of sending: a notification captured once (from a proxy log, say) could be sent
//! again, or altered into other events of other calls, for ever. Three rules close that:
//!
//! - **Freshness.** The time a notification carries must be recent: the event time of a Mango
//!   event, Zadarma's `call_start` (read in the PBX account's time zone) within [`FRESH`] for
//!   a ring or an answer, within [`LONGEST_CALL`] for the end of a call.
//! - **One call per signature.** A Zadarma signature belongs to the first call id it came with
//!   ([`ReplayGuard`]); the same signed caller, number and start with another call id is refused.
//! - **Once only.** An identical request seen before is answered as the provider expects (`200`)
//!   and changes nothing ([`Admission::Replay`]).
//!
//! The guard remembers [`REMEMBERED`] requests for at most [`LONGEST_CALL`], so its memory is
//! bounded whatever is posted; anything older is refused as stale anyway.

use crate::devices::telephony::calls::{Signal, SignalKind};
use crate::domain::call::Direction;
use crate::domain::text::{shown, shown_max};
use base64::Engine;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How old the time in a ring, answer or Mango event may be: the PBX sends at once, and a
/// caller waits in a queue for minutes, not for a quarter of an hour.
pub const FRESH: Duration = Duration::from_secs(15 * 60);
/// Zadarma's `NOTIFY_END` carries the call's *start*: a call may go on this long.
pub const LONGEST_CALL: Duration = Duration::from_secs(4 * 3600);
/// Clocks differ: a time this far ahead of ours still counts as now.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Most requests (and Zadarma signatures) the [`ReplayGuard`] remembers; the oldest go first.
/// A shop's PBX sends a few per call; this is days of calls, in about a megabyte.
pub const REMEMBERED: usize = 10_000;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("подпись не совпадает (проверьте секрет, заданный для этого провайдера)")]
    BadSignature,
    #[error("в запросе нет подписи")]
    Unsigned,
    #[error("ключ API не наш")]
    WrongKey,
    #[error("нет поля `{0}`")]
    Missing(&'static str),
    #[error("событие неверно: {0}")]
    Invalid(String),
    #[error(
        "время в уведомлении ({at}) старше {limit_min} мин (прошло {age_min} мин): повтор старого запроса или \
         часовой пояс АТС не совпадает с [shop] timezone"
    )]
    Stale { at: Timestamp, age_min: i64, limit_min: u64 },
    #[error(
        "время в уведомлении ({at}) на {ahead_min} мин впереди наших часов: часовой пояс АТС не совпадает с \
         [shop] timezone или часы сбиты"
    )]
    Future { at: Timestamp, ahead_min: i64 },
    #[error("эта подпись уже пришла с другим звонком: идентификатор звонка подделан")]
    OtherCall,
}

/// A checked notification: what it means, and what the [`ReplayGuard`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub signals: Vec<Signal>,
    /// The call the notification is about.
    pub call: String,
    /// Zadarma: the digest of the signed text, which belongs to one call only.
    signed: Option<[u8; 32]>,
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

/// Refuse `at` unless it lies within `window` before `now` (or [`CLOCK_SKEW`] after it).
fn fresh(at: Timestamp, now: Timestamp, window: Duration) -> Result<(), WebhookError> {
    let age = now.as_second().saturating_sub(at.as_second());
    if age > window.as_secs() as i64 {
        return Err(WebhookError::Stale {
            at,
            age_min: age / 60,
            limit_min: window.as_secs() / 60,
        });
    }
    if -age > CLOCK_SKEW.as_secs() as i64 {
        return Err(WebhookError::Future { at, ahead_min: -age / 60 });
    }
    Ok(())
}

/// Zadarma's `call_start` (`2026-12-01 10:00:00`, the account's local time) as an instant.
fn zadarma_time(text: &str, zone: &TimeZone) -> Result<Timestamp, WebhookError> {
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text.trim())
        .map_err(|_| WebhookError::Invalid(format!("call_start «{}» не время вида 2026-12-01 10:00:00", shown(text))))?;
    zone.to_ambiguous_timestamp(civil)
        .compatible()
        .map_err(|e| WebhookError::Invalid(format!("call_start «{}»: {e}", shown(text))))
}

fn sha256(text: &[u8]) -> [u8; 32] {
    Sha256::digest(text).into()
}

/// Map one Zadarma notification that arrived at `now`; `zone` is the time zone of the Zadarma
/// account (its `call_start` is local time there).
pub fn zadarma(
    form: &HashMap<String, String>,
    signature: Option<&str>,
    secret: &str,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Notification, WebhookError> {
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
    let window = match event {
        "NOTIFY_END" | "NOTIFY_OUT_END" | "NOTIFY_RECORD" => LONGEST_CALL,
        _ => FRESH,
    };
    fresh(zadarma_time(field("call_start")?, zone)?, now, window)?;
    let call = format!("zadarma:{}", field("pbx_call_id")?);
    let signal = |kind| Signal {
        call: call.clone(),
        at: now,
        kind,
    };
    let internal = || field("internal").map(str::to_string);
    let signals = match event {
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
    };
    // The event name is part of the key: `NOTIFY_ANSWER` signs other text than the rest, and
    // a call's START, INTERNAL and END share theirs.
    let signed = sha256(format!("{}\0{signed}", event == "NOTIFY_ANSWER").as_bytes());
    Ok(Notification {
        signals,
        call,
        signed: Some(signed),
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
    /// When the event happened (`events/call`), Unix seconds.
    #[serde(default)]
    timestamp: Option<f64>,
    /// When the call ended (`events/summary`), Unix seconds.
    #[serde(default)]
    end_time: Option<f64>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    call_state: Option<String>,
    #[serde(default)]
    from: Option<MangoParty>,
    #[serde(default)]
    to: Option<MangoParty>,
}

/// Map one Mango Office event that arrived at `now`; `event` is the path after the webhook URL
/// (`events/call`, `events/summary`).
pub fn mango(form: &HashMap<String, String>, event: &str, api_key: &str, salt: &str, now: Timestamp) -> Result<Notification, WebhookError> {
    let key = form.get("vpbx_api_key").ok_or(WebhookError::Missing("vpbx_api_key"))?;
    let sign = form.get("sign").ok_or(WebhookError::Unsigned)?;
    let json = form.get("json").ok_or(WebhookError::Missing("json"))?;
    if !same(sign, &mango_sign(key, json, salt)) {
        return Err(WebhookError::BadSignature);
    }
    if !same(key, api_key) {
        return Err(WebhookError::WrongKey);
    }
    let c: MangoCall = serde_json::from_str(json).map_err(|e| WebhookError::Invalid(shown_max(&e.to_string(), 200).to_string()))?;
    let event = event.trim_matches('/');
    let (name, sent) = match event {
        "events/summary" => ("end_time", c.end_time),
        _ => ("timestamp", c.timestamp),
    };
    let sent = sent.ok_or(WebhookError::Missing(name))?;
    // Whole seconds (`as` saturates); a number beyond the representable range is no time.
    let sent = Timestamp::from_second(sent as i64).map_err(|_| WebhookError::Invalid(format!("{name} {sent}: не время")))?;
    fresh(sent, now, FRESH)?;
    let call = format!("mango:{}", c.entry_id);
    let signal = |kind| Signal {
        call: call.clone(),
        at: now,
        kind,
    };
    let caller = c.from.as_ref().and_then(|f| f.number.clone().or_else(|| f.extension.clone()));
    let from_extension = c.from.as_ref().and_then(|f| f.extension.clone());
    let to_ext = c.to.as_ref().and_then(|t| t.extension.clone());
    let leg = c.call_id.clone().unwrap_or_else(|| c.entry_id.clone());
    let mut out = Vec::new();
    match event {
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
            let Some(ext) = to_ext else {
                return Ok(Notification {
                    signals: out,
                    call,
                    signed: None,
                });
            };
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
    Ok(Notification {
        signals: out,
        call,
        signed: None,
    })
}

/// A request's identity for the [`ReplayGuard`]: the digest of its parts (provider, path,
/// body), each length-prefixed so that no two different lists of parts collide by design.
pub fn request_digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// What to do with a checked notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// First time seen: act on it.
    New,
    /// Seen before: answer as for the first time, change nothing.
    Replay,
}

/// Entries kept in the order they came, dropped when older than `keep` or beyond `cap`.
#[derive(Debug)]
struct Remembered<V> {
    order: VecDeque<(Timestamp, [u8; 32])>,
    values: HashMap<[u8; 32], V>,
}

impl<V> Remembered<V> {
    fn new() -> Self {
        Remembered {
            order: VecDeque::new(),
            values: HashMap::new(),
        }
    }

    fn forget_older_than(&mut self, oldest: Timestamp) {
        while let Some((at, key)) = self.order.front().copied() {
            if at >= oldest && self.order.len() < REMEMBERED {
                break;
            }
            self.order.pop_front();
            self.values.remove(&key);
        }
    }

    fn insert(&mut self, key: [u8; 32], value: V, now: Timestamp) {
        if self.values.insert(key, value).is_none() {
            self.order.push_back((now, key));
        }
    }
}

/// The webhook requests seen lately and the call each Zadarma signature belongs to; see the
/// module's "Replays". Bounded: at most [`REMEMBERED`] of each, none older than
/// [`LONGEST_CALL`].
#[derive(Debug)]
pub struct ReplayGuard {
    requests: Remembered<()>,
    /// Signed-text digest → call-id digest.
    calls: Remembered<[u8; 32]>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::new()
    }
}

impl ReplayGuard {
    pub fn new() -> ReplayGuard {
        ReplayGuard {
            requests: Remembered::new(),
            calls: Remembered::new(),
        }
    }

    /// Decide about `notification`, which came as the request `request` (its
    /// [`request_digest`]) at `now`, and remember it.
    pub fn admit(&mut self, request: [u8; 32], notification: &Notification, now: Timestamp) -> Result<Admission, WebhookError> {
        let oldest = now
            .checked_sub(jiff::SignedDuration::from_secs(LONGEST_CALL.as_secs() as i64))
            .unwrap_or(Timestamp::MIN);
        self.requests.forget_older_than(oldest);
        self.calls.forget_older_than(oldest);
        if self.requests.values.contains_key(&request) {
            return Ok(Admission::Replay);
        }
        if let Some(signed) = notification.signed {
            let call = sha256(notification.call.as_bytes());
            match self.calls.values.get(&signed) {
                Some(known) if *known != call => return Err(WebhookError::OtherCall),
                Some(_) => {}
                None => self.calls.insert(signed, call, now),
            }
        }
        self.requests.insert(request, (), now);
        Ok(Admission::New)
    }

    /// Forget `request`, which was admitted but could not be acted on, so that the provider's
    /// retry of it counts as new.
    pub fn forget(&mut self, request: [u8; 32]) {
        if self.requests.values.remove(&request).is_some() {
            self.requests.order.retain(|(_, key)| *key != request);
        }
    }

    /// How many requests are remembered now.
    pub fn len(&self) -> usize {
        self.requests.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-12-01 10:00:00 in Moscow.
    fn moscow_ten() -> Timestamp {
        "2026-12-01T07:00:00Z".parse().unwrap()
    }

    fn moscow() -> TimeZone {
        TimeZone::get("Europe/Moscow").unwrap()
    }

    fn minutes(m: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(m)
    }

    proptest! {
        #[test]
        fn arbitrary_forms_never_panic(pairs in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8), json in "\\PC{0,80}") {
            let form: HashMap<String, String> = pairs.into_iter().collect();
            let _ = zadarma(&form, Some("x"), "s", Timestamp::UNIX_EPOCH, &TimeZone::UTC);
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

    fn zadarma_start(call: &str) -> HashMap<String, String> {
        form(&[
            ("event", "NOTIFY_START"),
            ("call_start", "2026-12-01 10:00:00"),
            ("pbx_call_id", call),
            ("caller_id", "79161234567"),
            ("called_did", "74951112233"),
        ])
    }

    const START_SIGNED: &str = "79161234567749511122332026-12-01 10:00:00";

    #[test]
    fn zadarma_signature_is_base64_of_hex_hmac() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        let sig = zadarma_signature("what do ya want for nothing?", "Jefe");
        let decoded = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
        assert_eq!(decoded, b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn zadarma_events_map_and_bad_signatures_are_refused() {
        let now = moscow_ten() + minutes(1);
        let start = zadarma_start("in_abc");
        let good = zadarma_signature("7916123456774951112233", "s");
        assert!(
            zadarma(&start, Some(&good), "s", now, &moscow()).is_err(),
            "a signature over other text fails"
        );
        let good = zadarma_signature(START_SIGNED, "s");
        let n = zadarma(&start, Some(&good), "s", now, &moscow()).unwrap();
        assert_eq!((n.call.as_str(), n.signals[0].call.as_str()), ("zadarma:in_abc", "zadarma:in_abc"));
        assert!(matches!(&n.signals[0].kind, SignalKind::Caller { number, .. } if number == "79161234567"));
        assert_eq!(n.signals[0].at, now);
        assert_eq!(
            zadarma(&start, Some(&good), "other", now, &moscow()),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(zadarma(&start, None, "s", now, &moscow()), Err(WebhookError::Unsigned));
    }

    #[test]
    fn zadarma_call_times_must_be_recent_in_the_accounts_zone() {
        let good = zadarma_signature(START_SIGNED, "s");
        let at = |now: Timestamp, zone: &TimeZone| zadarma(&zadarma_start("in_abc"), Some(&good), "s", now, zone);
        assert!(at(moscow_ten() + minutes(15), &moscow()).is_ok(), "the window's edge still counts");
        assert!(matches!(
            at(moscow_ten() + minutes(16), &moscow()),
            Err(WebhookError::Stale {
                age_min: 16,
                limit_min: 15,
                ..
            })
        ));
        assert!(at(moscow_ten() - minutes(5), &moscow()).is_ok(), "clocks differ a little");
        assert!(matches!(
            at(moscow_ten() - minutes(6), &moscow()),
            Err(WebhookError::Future { ahead_min: 6, .. })
        ));
        // The same local time read in UTC is three hours later: a zone mismatch shows as such.
        let err = at(moscow_ten() + minutes(1), &TimeZone::UTC).unwrap_err();
        assert!(err.to_string().contains("часовой пояс"), "{err}");
        // The end of a call carries its start: a long call still ends.
        let mut end = zadarma_start("in_abc");
        end.insert("event".into(), "NOTIFY_END".into());
        assert!(zadarma(&end, Some(&good), "s", moscow_ten() + minutes(3 * 60), &moscow()).is_ok());
        assert!(matches!(
            zadarma(&end, Some(&good), "s", moscow_ten() + minutes(5 * 60), &moscow()),
            Err(WebhookError::Stale { .. })
        ));
        let mut garbled = zadarma_start("in_abc");
        garbled.insert("call_start".into(), "вчера\u{202e}".into());
        let good = zadarma_signature("7916123456774951112233вчера\u{202e}", "s");
        let err = zadarma(&garbled, Some(&good), "s", moscow_ten(), &moscow()).unwrap_err();
        assert!(
            matches!(err, WebhookError::Invalid(_)) && err.to_string().contains("\\u{202e}"),
            "{err}"
        );
    }

    #[test]
    fn a_replay_changes_nothing_and_a_signature_serves_one_call() {
        let now = moscow_ten() + minutes(1);
        let good = zadarma_signature(START_SIGNED, "s");
        let first = zadarma(&zadarma_start("in_abc"), Some(&good), "s", now, &moscow()).unwrap();
        let mut guard = ReplayGuard::new();
        let request = |body: &str| request_digest(&[b"zadarma", b"", body.as_bytes()]);
        assert_eq!(guard.admit(request("a"), &first, now), Ok(Admission::New));
        assert_eq!(guard.admit(request("a"), &first, now + minutes(1)), Ok(Admission::Replay));
        // The same signed caller, number and start with another call id is a forgery.
        let forged = zadarma(&zadarma_start("in_evil"), Some(&good), "s", now, &moscow()).unwrap();
        assert_eq!(guard.admit(request("b"), &forged, now), Err(WebhookError::OtherCall));
        // Other events of the same call share the signature, and are new requests.
        let mut ring = zadarma_start("in_abc");
        ring.insert("event".into(), "NOTIFY_INTERNAL".into());
        ring.insert("internal".into(), "101".into());
        let ring = zadarma(&ring, Some(&good), "s", now, &moscow()).unwrap();
        assert_eq!(guard.admit(request("c"), &ring, now), Ok(Admission::New));
        assert_eq!(guard.len(), 2);
        // Forgotten after the longest call; by then a replay is refused as stale anyway.
        let later = now + minutes(4 * 60 + 1);
        assert_eq!(guard.admit(request("d"), &ring, later), Ok(Admission::New));
        assert_eq!(guard.len(), 1);
        assert!(zadarma(&zadarma_start("in_abc"), Some(&good), "s", later, &moscow()).is_err());
    }

    #[test]
    fn the_guard_is_bounded_in_count() {
        let now = moscow_ten();
        let n = Notification {
            signals: Vec::new(),
            call: "mango:x".into(),
            signed: None,
        };
        let mut guard = ReplayGuard::new();
        for i in 0..REMEMBERED + 50 {
            assert_eq!(guard.admit(request_digest(&[&i.to_be_bytes()]), &n, now), Ok(Admission::New));
        }
        assert_eq!(guard.len(), REMEMBERED);
        assert_eq!(
            guard.admit(request_digest(&[&0usize.to_be_bytes()]), &n, now),
            Ok(Admission::New),
            "the oldest went first"
        );
        assert_eq!(
            guard.admit(request_digest(&[&(REMEMBERED + 49).to_be_bytes()]), &n, now),
            Ok(Admission::Replay)
        );
    }

    #[test]
    fn request_digests_do_not_run_parts_together() {
        assert_ne!(request_digest(&[b"ab", b"c"]), request_digest(&[b"a", b"bc"]));
    }

    #[test]
    fn mango_events_map_and_bad_signatures_are_refused() {
        let json = r#"{"entry_id":"E1","call_id":"L1","call_state":"Appeared","location":"abonent","timestamp":1764572400,
            "from":{"number":"79161234567"},"to":{"extension":"101","number":"sip:101@x"}}"#;
        let sent = Timestamp::from_second(1_764_572_400).unwrap();
        let sign = mango_sign("K", json, "SALT");
        let f = form(&[("vpbx_api_key", "K"), ("sign", &sign), ("json", json)]);
        let n = mango(&f, "events/call", "K", "SALT", sent).unwrap();
        assert!(matches!(&n.signals[1].kind, SignalKind::Ring { extension, .. } if extension == "101"));
        assert_eq!(mango(&f, "events/call", "K", "PEPPER", sent), Err(WebhookError::BadSignature));
        let other = form(&[("vpbx_api_key", "X"), ("sign", &mango_sign("X", json, "SALT")), ("json", json)]);
        assert_eq!(mango(&other, "events/call", "K", "SALT", sent), Err(WebhookError::WrongKey));
        assert!(matches!(
            mango(&f, "events/call", "K", "SALT", sent + minutes(16)),
            Err(WebhookError::Stale { .. })
        ));
        // The summary is judged by the end of the call.
        let summary = r#"{"entry_id":"E1","create_time":1764560000,"end_time":1764572400}"#;
        let f = form(&[
            ("vpbx_api_key", "K"),
            ("sign", &mango_sign("K", summary, "SALT")),
            ("json", summary),
        ]);
        assert!(mango(&f, "events/summary", "K", "SALT", sent + minutes(2)).is_ok());
        let untimed = r#"{"entry_id":"E1"}"#;
        let f = form(&[
            ("vpbx_api_key", "K"),
            ("sign", &mango_sign("K", untimed, "SALT")),
            ("json", untimed),
        ]);
        assert_eq!(mango(&f, "events/call", "K", "SALT", sent), Err(WebhookError::Missing("timestamp")));
    }
}
