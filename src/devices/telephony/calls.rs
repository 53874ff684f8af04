//! The call book: what every telephony source (AMI, a Caller-ID modem, a cloud PBX's webhooks)
//! reduces to, and the call-level events the operator screens and the CRM need. Pure.
//!
//! Sources report low-level [`Signal`]s ("device X of extension 101 rings for call C", "call C
//! hung up"); the book turns them into [`CallEvent`]s with the rules the screens rely on:
//! one `Ringing` per extension per call however many devices of that extension ring (a desk
//! phone and a softphone on 101), one `Answered` per call, `StoppedRinging` only when the last
//! device of an extension stopped, and one [`CallRecord`] when the call ends.

use crate::domain::call::{CallRecord, Direction};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a source saw, for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The call's id, unique across sources (`{source}:{pbx id}`).
    pub call: String,
    pub at: Timestamp,
    pub kind: SignalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalKind {
    /// The call exists and this is its caller (the first known caller wins).
    Caller {
        number: String,
        name: Option<String>,
        direction: Direction,
    },
    /// A device of `extension` rings; `caller` when the ringing leg knows better (ConnectedLineNum).
    Ring {
        device: String,
        extension: String,
        caller: Option<String>,
    },
    /// `extension` picked up.
    Answer { extension: String },
    /// A device stopped ringing without answering (declined, cancelled, cause 26, timeout).
    DeviceGone { device: String, extension: String },
    /// The call is over.
    Hangup,
    /// What looked like a call was a leg of another one (Asterisk ≤ 11 without `Linkedid`):
    /// forget it without a record.
    Discard,
}

/// What the screens and the CRM hear.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    Ringing {
        call: String,
        extension: String,
        caller: Option<String>,
        caller_name: Option<String>,
        direction: Direction,
        at: Timestamp,
    },
    Answered {
        call: String,
        extension: String,
        at: Timestamp,
    },
    StoppedRinging {
        call: String,
        extension: String,
    },
    Ended(CallRecord),
}

impl CallEvent {
    pub fn call(&self) -> &str {
        match self {
            CallEvent::Ringing { call, .. } | CallEvent::Answered { call, .. } | CallEvent::StoppedRinging { call, .. } => call,
            CallEvent::Ended(r) => &r.call,
        }
    }
}

#[derive(Debug, Clone)]
struct CallState {
    caller: Option<String>,
    caller_name: Option<String>,
    direction: Direction,
    started_at: Timestamp,
    first_ring: Option<Timestamp>,
    /// Extension → devices ringing now.
    ringing: BTreeMap<String, BTreeSet<String>>,
    rang: Vec<String>,
    answered_by: Option<String>,
    answered_at: Option<Timestamp>,
}

/// A call still going on, for screens that connect mid-call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCall {
    pub call: String,
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    pub direction: Direction,
    pub ringing: Vec<String>,
    pub answered_by: Option<String>,
}

/// Every call in progress.
#[derive(Debug, Default)]
pub struct CallBook {
    calls: HashMap<String, CallState>,
}

/// Placeholders PBXes put where a number is hidden.
pub fn is_hidden(number: &str) -> bool {
    let n = number.trim();
    n.is_empty() || crate::domain::phone::normalize(n, Default::default()) == Err(crate::domain::phone::PhoneError::Anonymous)
}

fn known(number: Option<String>) -> Option<String> {
    number.filter(|n| !is_hidden(n))
}

impl CallBook {
    pub fn new() -> CallBook {
        CallBook::default()
    }

    /// Apply one signal; returns what changed for the screens.
    pub fn apply(&mut self, signal: Signal) -> Vec<CallEvent> {
        let Signal { call, at, kind } = signal;
        let mut out = Vec::new();
        if matches!(kind, SignalKind::Discard) {
            self.calls.remove(&call);
            return out;
        }
        if matches!(kind, SignalKind::Hangup) {
            if let Some(state) = self.calls.remove(&call) {
                out.push(CallEvent::Ended(record(call, state, at)));
            }
            return out;
        }
        let state = self.calls.entry(call.clone()).or_insert_with(|| CallState {
            caller: None,
            caller_name: None,
            direction: Direction::Inbound,
            started_at: at,
            first_ring: None,
            ringing: BTreeMap::new(),
            rang: Vec::new(),
            answered_by: None,
            answered_at: None,
        });
        match kind {
            SignalKind::Caller { number, name, direction } => {
                if state.caller.is_none() {
                    state.caller = known(Some(number));
                    state.caller_name = name.filter(|n| !is_hidden(n));
                    state.direction = direction;
                }
            }
            SignalKind::Ring { device, extension, caller } => {
                if state.answered_by.is_some() {
                    return out;
                }
                if state.caller.is_none() {
                    state.caller = known(caller);
                }
                let devices = state.ringing.entry(extension.clone()).or_default();
                let first_device = devices.is_empty();
                devices.insert(device);
                if first_device {
                    state.first_ring.get_or_insert(at);
                    if !state.rang.contains(&extension) {
                        state.rang.push(extension.clone());
                    }
                    out.push(CallEvent::Ringing {
                        call,
                        extension,
                        caller: state.caller.clone(),
                        caller_name: state.caller_name.clone(),
                        direction: state.direction,
                        at,
                    });
                }
            }
            SignalKind::Answer { extension } => {
                if state.answered_by.is_none() {
                    if !state.rang.contains(&extension) {
                        state.rang.push(extension.clone());
                    }
                    state.answered_by = Some(extension.clone());
                    state.answered_at = Some(at);
                    state.ringing.clear();
                    out.push(CallEvent::Answered { call, extension, at });
                }
            }
            SignalKind::DeviceGone { device, extension } => {
                if let Some(devices) = state.ringing.get_mut(&extension) {
                    devices.remove(&device);
                    if devices.is_empty() {
                        state.ringing.remove(&extension);
                        out.push(CallEvent::StoppedRinging { call, extension });
                    }
                }
            }
            SignalKind::Hangup | SignalKind::Discard => unreachable!("handled above"),
        }
        out
    }

    /// Calls in progress, for a screen that connects now.
    pub fn live(&self) -> Vec<LiveCall> {
        let mut calls: Vec<LiveCall> = self
            .calls
            .iter()
            .map(|(id, s)| LiveCall {
                call: id.clone(),
                caller: s.caller.clone(),
                caller_name: s.caller_name.clone(),
                direction: s.direction,
                ringing: s.ringing.keys().cloned().collect(),
                answered_by: s.answered_by.clone(),
            })
            .collect();
        calls.sort_by(|a, b| a.call.cmp(&b.call));
        calls
    }
}

fn record(call: String, s: CallState, ended_at: Timestamp) -> CallRecord {
    let secs = |from: Timestamp, to: Timestamp| (to.as_second() - from.as_second()).max(0);
    let ring_from = s.first_ring.unwrap_or(s.started_at);
    let ring_seconds = secs(ring_from, s.answered_at.unwrap_or(ended_at));
    let talk_seconds = s.answered_at.map_or(0, |a| secs(a, ended_at));
    CallRecord {
        missed: s.answered_by.is_none() && s.direction == Direction::Inbound,
        call,
        direction: s.direction,
        caller: s.caller,
        caller_name: s.caller_name,
        rang: s.rang,
        answered_by: s.answered_by,
        started_at: s.started_at,
        answered_at: s.answered_at,
        ended_at,
        ring_seconds,
        talk_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_770_000_000 + s).unwrap()
    }

    fn sig(s: i64, kind: SignalKind) -> Signal {
        Signal {
            call: "ami:1.1".into(),
            at: at(s),
            kind,
        }
    }

    fn ring(s: i64, device: &str, ext: &str) -> Signal {
        sig(
            s,
            SignalKind::Ring {
                device: device.into(),
                extension: ext.into(),
                caller: None,
            },
        )
    }

    #[test]
    fn ring_group_one_card_per_extension_then_answer_and_record() {
        let mut book = CallBook::new();
        let caller = SignalKind::Caller {
            number: "+79161234567".into(),
            name: Some("<unknown>".into()),
            direction: Direction::Inbound,
        };
        assert!(book.apply(sig(0, caller)).is_empty());
        let first = book.apply(ring(1, "PJSIP/101-01", "101"));
        assert!(
            matches!(&first[..], [CallEvent::Ringing { extension, caller: Some(c), caller_name: None, .. }] if extension == "101" && c == "+79161234567")
        );
        // The second device of 101 rings: no second card.
        assert!(book.apply(ring(1, "PJSIP/101-02", "101")).is_empty());
        assert_eq!(book.apply(ring(1, "PJSIP/102-03", "102")).len(), 1);
        // One device of 101 declines; the other still rings, so 101's card stays.
        let gone = |d: &str, e: &str| {
            sig(
                2,
                SignalKind::DeviceGone {
                    device: d.into(),
                    extension: e.into(),
                },
            )
        };
        assert!(book.apply(gone("PJSIP/101-01", "101")).is_empty());
        assert_eq!(book.live()[0].ringing, ["101", "102"]);
        let answered = book.apply(sig(5, SignalKind::Answer { extension: "102".into() }));
        assert!(matches!(&answered[..], [CallEvent::Answered { extension, .. }] if extension == "102"));
        assert!(book.apply(sig(6, SignalKind::Answer { extension: "101".into() })).is_empty());
        // Losers hung up with cause 26 after the answer: nothing more for the screens.
        assert!(book.apply(gone("PJSIP/101-02", "101")).is_empty());
        let ended = book.apply(sig(65, SignalKind::Hangup));
        let [CallEvent::Ended(r)] = &ended[..] else { panic!("{ended:?}") };
        assert_eq!(r.rang, ["101", "102"]);
        assert_eq!(r.answered_by.as_deref(), Some("102"));
        assert_eq!((r.ring_seconds, r.talk_seconds, r.missed), (4, 60, false));
        assert!(book.live().is_empty());
        assert!(book.apply(sig(66, SignalKind::Hangup)).is_empty(), "a second hangup is ignored");
    }

    #[test]
    fn hidden_caller_and_missed_call() {
        let mut book = CallBook::new();
        let hidden = SignalKind::Caller {
            number: "<unknown>".into(),
            name: None,
            direction: Direction::Inbound,
        };
        book.apply(sig(0, hidden));
        let rang = book.apply(ring(0, "SIP/101-1", "101"));
        assert!(matches!(&rang[..], [CallEvent::Ringing { caller: None, .. }]));
        let ended = book.apply(sig(12, SignalKind::Hangup));
        let [CallEvent::Ended(r)] = &ended[..] else { panic!() };
        assert!(r.missed && r.caller.is_none() && r.answered_by.is_none());
        assert_eq!(r.ring_seconds, 12);
    }
}
