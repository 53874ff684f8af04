//! From AMI events to call signals, pure.
//!
//! Asterisk reports channels, not calls. A call is every channel sharing a `Linkedid` (12+;
//! on 11 and older the dialling channel's `Uniqueid`, reached from the dialled leg through
//! `Dial`'s `DestUniqueID`). The tracker keeps the channels it has seen and reports:
//!
//! - the caller, from the call's first channel (`Uniqueid == Linkedid`);
//! - a ring when a *device* channel goes to state 5 (Ringing), a `DialBegin`/`Dial` targets one,
//!   or a queue's `AgentCalled` does. The device is read from the channel name
//!   (`PJSIP/101-0000001c` → `101`): in a ring group or behind `Local/` channels the ringing
//!   channel's `CallerIDNum` is often the extension itself or the group number, and the real
//!   caller is the channel's `ConnectedLineNum`;
//! - an answer when a ringing device goes Up, enters a bridge, or `AgentConnect`/`Link`/`Bridge`
//!   say so; a device gone when a ringing device hangs up (cause 26 for ring-group losers) or
//!   `DialEnd` says it did not answer;
//! - the call's end when its last channel hung up.
//!
//! Events may come out of order (a `Newstate` before its `Newchannel`, a `Hangup` for a
//! channel never seen): a channel is created from whichever event names it first, and events
//! about unknown channels that carry nothing usable are ignored.

use super::frame::Message;
use crate::devices::telephony::calls::{Signal, SignalKind};
use crate::domain::call::Direction;
use jiff::Timestamp;
use std::collections::{HashMap, HashSet, VecDeque};

/// Hung-up channels remembered so a late event about one (a `DialEnd` after its `Hangup`)
/// does not bring it back as a phantom that would keep its call open forever.
const REMEMBER_HANGUPS: usize = 1024;

#[derive(Debug, Clone)]
struct Channel {
    name: String,
    /// The call key (without the source prefix).
    call: String,
    /// The device's extension for PJSIP/SIP/IAX2 channels with a numeric resource.
    extension: Option<String>,
    ringing: bool,
    answered: bool,
}

/// Channel and call state of one AMI connection.
#[derive(Debug)]
pub struct AmiTracker {
    source: String,
    channels: HashMap<String, Channel>,
    /// Calls we have reported a caller for.
    announced: HashSet<String>,
    /// During a `CoreShowChannels` resync: the channels Asterisk still has.
    resync: Option<HashSet<String>>,
    hung_up: VecDeque<String>,
}

/// The extension a device channel belongs to: `PJSIP/101-0000001c` → `101`,
/// `SIP/102-0a1b2c3d` → `102`, `IAX2/103-4711` → `103`. Local channels, trunks (`SIP/mts-…`)
/// and anything else give `None`.
pub fn device_extension(channel: &str) -> Option<String> {
    let (tech, rest) = channel.split_once('/')?;
    if !matches!(tech.to_ascii_uppercase().as_str(), "PJSIP" | "SIP" | "IAX2") {
        return None;
    }
    // The resource is everything before the last '-' (the channel's sequence number); a
    // channel name given without a sequence (a queue member interface `PJSIP/101`) is all resource.
    let resource = match rest.rsplit_once('-') {
        Some((resource, _)) => resource,
        None => rest,
    };
    let resource = resource.split('@').next().unwrap_or(resource);
    (!resource.is_empty() && resource.len() <= 15 && resource.bytes().all(|b| b.is_ascii_digit())).then(|| resource.to_string())
}

fn channel_state(m: &Message) -> Option<u8> {
    if let Some(n) = m.get("ChannelState").and_then(|s| s.trim().parse().ok()) {
        return Some(n);
    }
    // Asterisk 1.4–1.6 give only words.
    let desc = m.get("ChannelStateDesc").or_else(|| m.get("State"))?;
    match desc.trim().to_ascii_lowercase().as_str() {
        "down" => Some(0),
        "ring" => Some(4),
        "ringing" => Some(5),
        "up" => Some(6),
        "busy" => Some(7),
        _ => None,
    }
}

fn value(m: &Message, key: &str) -> Option<String> {
    m.get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "<unknown>")
        .map(String::from)
}

impl AmiTracker {
    /// `source` prefixes the call ids (`{source}:{linkedid}`), so calls from two PBXes never collide.
    pub fn new(source: impl Into<String>) -> AmiTracker {
        AmiTracker {
            source: source.into(),
            channels: HashMap::new(),
            announced: HashSet::new(),
            resync: None,
            hung_up: VecDeque::new(),
        }
    }

    fn signal(&self, call: &str, at: Timestamp, kind: SignalKind) -> Signal {
        Signal {
            call: format!("{}:{call}", self.source),
            at,
            kind,
        }
    }

    /// Forget nothing, but expect Asterisk's `CoreShowChannels` list next (after a reconnect).
    pub fn begin_resync(&mut self) {
        self.resync = Some(HashSet::new());
    }

    /// Read one event; returns the signals it implies.
    pub fn event(&mut self, m: &Message, at: Timestamp) -> Vec<Signal> {
        let Some(event) = m.event() else { return Vec::new() };
        let mut out = Vec::new();
        match event {
            "Newchannel" | "Newstate" | "NewConnectedLine" | "NewCallerid" => {
                if let Some(id) = self.touch(m, "", &mut out, at) {
                    self.state_change(&id, m, "", &mut out, at);
                }
            }
            "CoreShowChannel" => {
                if let Some(id) = self.touch(m, "", &mut out, at) {
                    if let Some(seen) = &mut self.resync {
                        seen.insert(id.clone());
                    }
                    self.state_change(&id, m, "", &mut out, at);
                }
            }
            "CoreShowChannelsComplete" => self.end_resync(&mut out, at),
            "DialBegin" | "AgentCalled" => {
                if let Some(id) = self.touch(m, "Dest", &mut out, at) {
                    let caller = value(m, "CallerIDNum").or_else(|| value(m, "DestConnectedLineNum"));
                    self.ring(&id, caller, &mut out, at);
                }
            }
            "DialEnd" | "AgentRingNoAnswer" => {
                if let Some(id) = self.touch(m, "Dest", &mut out, at) {
                    let status = m.get("DialStatus").unwrap_or("");
                    if event == "DialEnd" && status.eq_ignore_ascii_case("ANSWER") {
                        self.answer(&id, &mut out, at);
                    } else {
                        self.stop_ringing(&id, &mut out, at);
                    }
                }
            }
            "AgentConnect" => {
                if let Some(id) = self.touch(m, "Dest", &mut out, at) {
                    self.answer(&id, &mut out, at);
                }
            }
            "BridgeEnter" => {
                if let Some(id) = self.touch(m, "", &mut out, at) {
                    if self.channels.get(&id).is_some_and(|c| c.ringing) {
                        self.answer(&id, &mut out, at);
                    }
                }
            }
            "Hangup" => self.hangup(m, &mut out, at),
            // Asterisk ≤ 11.
            "Dial" => self.legacy_dial(m, &mut out, at),
            "Link" => self.legacy_link(m, &mut out, at),
            "Bridge" if m.get("Bridgestate").is_none_or(|s| s.eq_ignore_ascii_case("Link")) => self.legacy_link(m, &mut out, at),
            _ => {}
        }
        out
    }

    /// Find or create the channel an event names (`{prefix}Uniqueid`, `{prefix}Channel`,
    /// `{prefix}Linkedid`); returns its uniqueid.
    fn touch(&mut self, m: &Message, prefix: &str, out: &mut Vec<Signal>, at: Timestamp) -> Option<String> {
        let key = |k: &str| format!("{prefix}{k}");
        let id = value(m, &key("Uniqueid")).or_else(|| value(m, &key("UniqueID")));
        // AgentCalled on Asterisk 11 names the member only by interface (`AgentCalled: SIP/101`).
        let name = value(m, &key("Channel")).or_else(|| {
            (prefix == "Dest")
                .then(|| value(m, "AgentCalled").or_else(|| value(m, "Interface")))
                .flatten()
        });
        let id = match (id, &name) {
            (Some(id), _) => id,
            (None, Some(name)) => format!("{}@{name}", value(m, "Uniqueid").unwrap_or_default()),
            (None, None) => return None,
        };
        if self.hung_up.contains(&id) {
            return None;
        }
        if !self.channels.contains_key(&id) {
            let name = name.unwrap_or_default();
            let call = value(m, &key("Linkedid"))
                .or_else(|| value(m, "Linkedid"))
                .or_else(|| if prefix == "Dest" { value(m, "Uniqueid") } else { None })
                .unwrap_or_else(|| id.clone());
            let first = call == id;
            self.channels.insert(
                id.clone(),
                Channel {
                    extension: device_extension(&name),
                    name,
                    call: call.clone(),
                    ringing: false,
                    answered: false,
                },
            );
            if first && prefix.is_empty() && self.announced.insert(call.clone()) {
                let number = value(m, "CallerIDNum").unwrap_or_default();
                // An extension's own channel started the call: internal when it dialled a
                // short number (another extension, a ring group), outbound otherwise.
                let direction = match (&self.channels[&id].extension, value(m, "Exten")) {
                    (None, _) => Direction::Inbound,
                    (Some(_), Some(exten)) if exten.len() > 6 => Direction::Outbound,
                    (Some(_), _) => Direction::Internal,
                };
                out.push(self.signal(
                    &call,
                    at,
                    SignalKind::Caller {
                        number,
                        name: value(m, "CallerIDName"),
                        direction,
                    },
                ));
            }
        }
        Some(id)
    }

    fn state_change(&mut self, id: &str, m: &Message, _prefix: &str, out: &mut Vec<Signal>, at: Timestamp) {
        match channel_state(m) {
            Some(5) => {
                let caller = value(m, "ConnectedLineNum");
                self.ring(id, caller, out, at);
            }
            Some(6) => {
                let c = &self.channels[id];
                // A device that was ringing picked up; after a reconnect, an Up device that is
                // not the call's first channel is the one talking.
                let resynced_up = self.resync.is_some() && c.call != id && c.extension.is_some();
                if c.ringing || resynced_up {
                    self.answer(id, out, at);
                }
            }
            _ => {}
        }
    }

    fn ring(&mut self, id: &str, caller: Option<String>, out: &mut Vec<Signal>, at: Timestamp) {
        let Some(c) = self.channels.get_mut(id) else { return };
        let Some(extension) = c.extension.clone() else { return };
        if c.answered || c.call == id {
            return;
        }
        c.ringing = true;
        let (call, device) = (c.call.clone(), c.name.clone());
        out.push(self.signal(
            &call,
            at,
            SignalKind::Ring {
                device: if device.is_empty() { id.to_string() } else { device },
                extension,
                caller,
            },
        ));
    }

    fn answer(&mut self, id: &str, out: &mut Vec<Signal>, at: Timestamp) {
        let Some(c) = self.channels.get_mut(id) else { return };
        let Some(extension) = c.extension.clone() else { return };
        if c.answered || c.call == id {
            return;
        }
        c.answered = true;
        c.ringing = false;
        let call = c.call.clone();
        out.push(self.signal(&call, at, SignalKind::Answer { extension }));
    }

    fn stop_ringing(&mut self, id: &str, out: &mut Vec<Signal>, at: Timestamp) {
        let Some(c) = self.channels.get_mut(id) else { return };
        if !c.ringing {
            return;
        }
        c.ringing = false;
        let (call, device, extension) = (c.call.clone(), c.name.clone(), c.extension.clone().unwrap_or_default());
        let device = if device.is_empty() { id.to_string() } else { device };
        out.push(self.signal(&call, at, SignalKind::DeviceGone { device, extension }));
    }

    fn hangup(&mut self, m: &Message, out: &mut Vec<Signal>, at: Timestamp) {
        let Some(id) = value(m, "Uniqueid") else { return };
        self.remove_channel(&id, out, at);
    }

    fn remove_channel(&mut self, id: &str, out: &mut Vec<Signal>, at: Timestamp) {
        self.stop_ringing(id, out, at);
        let Some(c) = self.channels.remove(id) else { return };
        if self.hung_up.len() == REMEMBER_HANGUPS {
            self.hung_up.pop_front();
        }
        self.hung_up.push_back(id.to_string());
        if !self.channels.values().any(|o| o.call == c.call) {
            self.announced.remove(&c.call);
            out.push(self.signal(&c.call, at, SignalKind::Hangup));
        }
    }

    fn end_resync(&mut self, out: &mut Vec<Signal>, at: Timestamp) {
        let Some(seen) = self.resync.take() else { return };
        let gone: Vec<String> = self.channels.keys().filter(|id| !seen.contains(*id)).cloned().collect();
        for id in gone {
            self.remove_channel(&id, out, at);
        }
    }

    /// Calls (without the source prefix) the tracker knows, for a reconnect that finds none.
    pub fn known_calls(&self) -> HashSet<String> {
        self.channels.values().map(|c| c.call.clone()).collect()
    }

    /// Asterisk 1.4–11 `Dial`: `Channel`/`Source` dials `Destination`, `UniqueID`/`SrcUniqueID`
    /// → `DestUniqueID`. 1.8+ sends `SubEvent: Begin`/`End`.
    fn legacy_dial(&mut self, m: &Message, out: &mut Vec<Signal>, at: Timestamp) {
        let sub = m.get("SubEvent").unwrap_or("Begin");
        let src_id = value(m, "SrcUniqueID").or_else(|| value(m, "UniqueID"));
        let src_name = value(m, "Channel").or_else(|| value(m, "Source"));
        if sub.eq_ignore_ascii_case("End") {
            // `DialStatus` on the source channel: the destination legs that did not answer hang up.
            return;
        }
        let (Some(src_id), Some(dest_id), Some(dest_name)) = (src_id, value(m, "DestUniqueID"), value(m, "Destination")) else {
            return;
        };
        if !self.channels.contains_key(&src_id) {
            let number = value(m, "CallerIDNum").or_else(|| value(m, "CallerID")).unwrap_or_default();
            let name = src_name.unwrap_or_default();
            let extension = device_extension(&name);
            self.channels.insert(
                src_id.clone(),
                Channel {
                    extension: extension.clone(),
                    name,
                    call: src_id.clone(),
                    ringing: false,
                    answered: false,
                },
            );
            if self.announced.insert(src_id.clone()) {
                let direction = if extension.is_some() {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                };
                let caller_name = value(m, "CallerIDName");
                out.push(self.signal(
                    &src_id,
                    at,
                    SignalKind::Caller {
                        number,
                        name: caller_name,
                        direction,
                    },
                ));
            }
        }
        let call = self.channels[&src_id].call.clone();
        match self.channels.get_mut(&dest_id) {
            // Without Linkedid the dialled leg's own Newchannel looked like a call of its own;
            // it is a leg of the dialling channel's call: move it there and drop the stand-in
            // call without a record. A leg already in another call stays there.
            Some(dest) if dest.call == dest_id && call != dest_id => {
                dest.call = call;
                if !self.channels.values().any(|c| c.call == dest_id) {
                    self.announced.remove(&dest_id);
                    out.push(self.signal(&dest_id, at, SignalKind::Discard));
                }
            }
            Some(_) => {}
            None => {
                self.channels.insert(
                    dest_id.clone(),
                    Channel {
                        extension: device_extension(&dest_name),
                        name: dest_name.clone(),
                        call,
                        ringing: false,
                        answered: false,
                    },
                );
            }
        }
        let caller = value(m, "CallerIDNum").or_else(|| value(m, "CallerID"));
        self.ring(&dest_id, caller, out, at);
    }

    /// `Link` (1.4) / `Bridge` with `Bridgestate: Link` (1.6–11): two channels talk.
    fn legacy_link(&mut self, m: &Message, out: &mut Vec<Signal>, at: Timestamp) {
        for key in ["Uniqueid2", "Uniqueid1"] {
            if let Some(id) = value(m, key) {
                if self.channels.get(&id).is_some_and(|c| c.ringing) {
                    self.answer(&id, out, at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame;
    use super::*;

    #[test]
    fn device_from_channel_name() {
        assert_eq!(device_extension("PJSIP/101-0000001c").as_deref(), Some("101"));
        assert_eq!(device_extension("SIP/102-0a1b2c3d").as_deref(), Some("102"));
        assert_eq!(device_extension("IAX2/103-4711").as_deref(), Some("103"));
        assert_eq!(device_extension("PJSIP/104").as_deref(), Some("104"));
        assert_eq!(device_extension("SIP/voipgrid-siproute-docker-00000025"), None);
        assert_eq!(device_extension("Local/101@from-queue-00000012;1"), None);
        assert_eq!(device_extension("DAHDI/1-1"), None);
        assert_eq!(device_extension("garbage"), None);
    }

    fn events(text: &str) -> Vec<Message> {
        let mut buf = text.as_bytes();
        let mut out = Vec::new();
        while let Ok((m, used)) = frame::parse(buf) {
            out.push(m);
            buf = &buf[used..];
        }
        out
    }

    fn arbitrary_event() -> impl proptest::strategy::Strategy<Value = Message> {
        use proptest::prelude::*;
        let events = prop_oneof![
            Just("Newchannel"),
            Just("Newstate"),
            Just("DialBegin"),
            Just("DialEnd"),
            Just("Hangup"),
            Just("BridgeEnter"),
            Just("AgentCalled"),
            Just("AgentConnect"),
            Just("Dial"),
            Just("Link"),
            Just("CoreShowChannel"),
            Just("CoreShowChannelsComplete"),
            Just("Bridge"),
        ];
        let channels = prop_oneof![
            Just("PJSIP/101-1"),
            Just("PJSIP/101-2"),
            Just("SIP/102-3"),
            Just("Local/101@q-1;1"),
            Just("SIP/trunk-9")
        ];
        (
            events,
            channels,
            channels_state(),
            0u8..4,
            0u8..4,
            0u8..4,
            prop_oneof![Just("ANSWER"), Just("CANCEL"), Just("BUSY")],
        )
            .prop_map(|(event, channel, state, uid, lid, dest, status)| {
                Message::new([
                    ("Event", event.to_string()),
                    ("Channel", channel.to_string()),
                    ("ChannelState", state.to_string()),
                    ("Uniqueid", format!("1.{uid}")),
                    ("Linkedid", format!("1.{lid}")),
                    ("DestChannel", "PJSIP/103-7".to_string()),
                    ("DestUniqueid", format!("1.{dest}")),
                    ("DestLinkedid", format!("1.{lid}")),
                    ("DestUniqueID", format!("1.{dest}")),
                    ("Destination", "SIP/104-8".to_string()),
                    ("Uniqueid2", format!("1.{dest}")),
                    ("DialStatus", status.to_string()),
                    ("ConnectedLineNum", "89161234567".to_string()),
                ])
            })
    }

    fn channels_state() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::prop_oneof![
            proptest::strategy::Just(0u8),
            proptest::strategy::Just(4),
            proptest::strategy::Just(5),
            proptest::strategy::Just(6)
        ]
    }

    proptest::proptest! {
        /// Any order of events (out of order, repeated, about unknown channels) never panics,
        /// and once every channel has hung up no call is left open.
        #[test]
        fn any_event_order_ends_with_no_calls_after_all_hang_up(events in proptest::collection::vec(arbitrary_event(), 0..40)) {
            let mut t = AmiTracker::new("pbx");
            let mut book = crate::devices::telephony::calls::CallBook::new();
            let at = Timestamp::UNIX_EPOCH;
            for m in &events {
                for s in t.event(m, at) { book.apply(s); }
            }
            let ids: Vec<String> = t.channels.keys().cloned().collect();
            for id in ids {
                let m = Message::new([("Event", "Hangup".to_string()), ("Uniqueid", id)]);
                for s in t.event(&m, at) { book.apply(s); }
            }
            proptest::prop_assert!(t.known_calls().is_empty());
            proptest::prop_assert!(book.live().is_empty(), "{:?}", book.live());
        }
    }

    #[test]
    fn a_call_that_ended_while_we_were_away_ends_at_resync() {
        let mut t = AmiTracker::new("pbx");
        let at = Timestamp::UNIX_EPOCH;
        let ring = "Event: Newchannel\nChannel: SIP/trunk-1\nUniqueid: 5.1\nLinkedid: 5.1\nCallerIDNum: 89161234567\nExten: 74950000000\n\n\
Event: Newstate\nChannel: PJSIP/101-2\nChannelState: 5\nUniqueid: 5.2\nLinkedid: 5.1\n\n";
        let signals: Vec<Signal> = events(ring).iter().flat_map(|m| t.event(m, at)).collect();
        assert!(matches!(signals[1].kind, SignalKind::Ring { .. }));
        // Reconnected: Asterisk lists no channels any more.
        t.begin_resync();
        let done = events("Event: CoreShowChannelsComplete\nListItems: 0\n\n");
        let kinds: Vec<SignalKind> = t.event(&done[0], at).into_iter().map(|s| s.kind).collect();
        assert!(
            matches!(&kinds[..], [SignalKind::DeviceGone { .. }, SignalKind::Hangup]),
            "{kinds:?}"
        );
        assert!(t.known_calls().is_empty());
    }

    #[test]
    fn out_of_order_newstate_before_newchannel() {
        let mut t = AmiTracker::new("pbx");
        let at = Timestamp::UNIX_EPOCH;
        let stream = "Event: Newstate\nChannel: PJSIP/101-00000002\nChannelState: 5\nConnectedLineNum: 89161234567\nUniqueid: 1.2\nLinkedid: 1.1\n\n\
Event: Newchannel\nChannel: PJSIP/101-00000002\nChannelState: 0\nUniqueid: 1.2\nLinkedid: 1.1\n\n\
Event: Hangup\nChannel: SIP/unknown-1\nUniqueid: 9.9\nCause: 16\n\n\
Event: Hangup\nChannel: PJSIP/101-00000002\nUniqueid: 1.2\nCause: 26\n\n";
        let signals: Vec<SignalKind> = events(stream).iter().flat_map(|m| t.event(m, at)).map(|s| s.kind).collect();
        assert_eq!(
            signals,
            [
                SignalKind::Ring {
                    device: "PJSIP/101-00000002".into(),
                    extension: "101".into(),
                    caller: Some("89161234567".into())
                },
                SignalKind::DeviceGone {
                    device: "PJSIP/101-00000002".into(),
                    extension: "101".into()
                },
                SignalKind::Hangup,
            ]
        );
    }
}
