//! The Asterisk Manager Interface wire format, pure: bytes in, messages out.
//!
//! A message is `Key: Value` lines ended by an empty line. Asterisk sends CRLF, but proxies,
//! `socat` captures and some Asterisk 1.x builds send bare LF, and a mix happens; both end a
//! line here. Keys repeat (`ChanVariable`, `Variable` in `VarSet`/`AgentCalled`), values
//! contain colons (`Uniqueid: host-1529939196.518`, `Application: Dial` data, URLs), and
//! caller names arrive in whatever encoding the phone sent, so text is decoded lossily
//! rather than refused. The parser never panics and tells "need more bytes" from "bad bytes",
//! as mini-redis does: the connection reads more on [`FrameError::Incomplete`] and drops the
//! reported bytes on [`FrameError::Invalid`].

use std::fmt;

/// Longest message accepted; a peer that sends more without an empty line is not speaking AMI.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// One AMI message (a response or an event), fields in the order they came.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Message {
    fields: Vec<(String, String)>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.fields {
            // Never log a login secret or an MD5 key.
            if k.eq_ignore_ascii_case("secret") || k.eq_ignore_ascii_case("key") {
                map.entry(k, &"***");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

impl Message {
    /// A message from fields (an action to send, a test event).
    pub fn new<K: Into<String>, V: Into<String>>(fields: impl IntoIterator<Item = (K, V)>) -> Message {
        Message {
            fields: fields.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// The first value of `key` (AMI keys are case-insensitive in practice: `Uniqueid` in 12+,
    /// `UniqueID` in 1.4).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The event name, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// `Response: Success` / `Error` / `Goodbye`, for responses.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The message on the wire, CRLF-framed as Asterisk expects.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.fields {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            // A value must not break the framing.
            out.extend(v.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Why no message came out of the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The message is not complete yet; read more bytes.
    #[error("incomplete message")]
    Incomplete,
    /// These bytes are not an AMI message; drop `skip` bytes and go on.
    #[error("not an AMI message ({reason}); {skip} bytes dropped")]
    Invalid { skip: usize, reason: &'static str },
}

/// The first line Asterisk sends: `Asterisk Call Manager/5.0.1`. Returns the version text and
/// the bytes used.
pub fn parse_banner(buf: &[u8]) -> Result<(String, usize), FrameError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > 256 {
            return Err(FrameError::Invalid {
                skip: buf.len(),
                reason: "no banner line",
            });
        }
        return Err(FrameError::Incomplete);
    };
    let line = String::from_utf8_lossy(trim_cr(&buf[..end]));
    match line.strip_prefix("Asterisk Call Manager/") {
        Some(version) => Ok((version.trim().to_string(), end + 1)),
        None => Err(FrameError::Invalid {
            skip: end + 1,
            reason: "the peer is not an Asterisk manager (no \"Asterisk Call Manager/\" banner)",
        }),
    }
}

/// Parse one message from the front of `buf`; returns it and the number of bytes it used
/// (including any empty lines before it).
pub fn parse(buf: &[u8]) -> Result<(Message, usize), FrameError> {
    let mut pos = 0;
    // Empty lines between messages (keep-alive CRLFs, a stray LF after a CRLF CRLF) are skipped.
    loop {
        match next_line(buf, pos) {
            None => return Err(incomplete_or_too_long(buf)),
            Some(([], next)) => pos = next,
            Some(_) => break,
        }
    }
    let start = pos;
    let mut fields = Vec::new();
    loop {
        let Some((line, next)) = next_line(buf, pos) else {
            return Err(incomplete_or_too_long(&buf[start..]).with_skip(buf.len()));
        };
        pos = next;
        if line.is_empty() {
            return Ok((Message { fields }, pos));
        }
        if pos - start > MAX_MESSAGE {
            return Err(FrameError::Invalid {
                skip: pos,
                reason: "message longer than 64 KiB",
            });
        }
        let text = String::from_utf8_lossy(line);
        match text.split_once(':') {
            Some((key, value)) => fields.push((key.trim().to_string(), value.trim_start().to_string())),
            // A line without a colon (`--END COMMAND--` of an old `Command` action's output):
            // kept under an empty key rather than refusing the whole message.
            None => fields.push((String::new(), text.into_owned())),
        }
    }
}

impl FrameError {
    fn with_skip(self, skip: usize) -> FrameError {
        match self {
            FrameError::Invalid { reason, .. } => FrameError::Invalid { skip, reason },
            e => e,
        }
    }
}

fn incomplete_or_too_long(buf: &[u8]) -> FrameError {
    if buf.len() > MAX_MESSAGE {
        FrameError::Invalid {
            skip: buf.len(),
            reason: "message longer than 64 KiB",
        }
    } else {
        FrameError::Incomplete
    }
}

/// The line starting at `pos` without its terminator (LF, CRLF), and where the next starts.
fn next_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    Some((trim_cr(&rest[..end]), pos + end + 1))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crlf_and_bare_lf_messages() {
        let crlf = b"Event: Newchannel\r\nChannel: PJSIP/101-0000001c\r\nUniqueid: 1770888635.49\r\n\r\nEvent: Hangup\r\n";
        let (m, used) = parse(crlf).unwrap();
        assert_eq!(m.event(), Some("Newchannel"));
        assert_eq!(m.get("uniqueid"), Some("1770888635.49"));
        assert_eq!(parse(&crlf[used..]), Err(FrameError::Incomplete));

        let lf = b"\n\nEvent: Hangup\nCause: 26\n\n";
        let (m, used) = parse(lf).unwrap();
        assert_eq!((m.get("Cause"), used), (Some("26"), lf.len()));
        let mixed = b"Response: Success\r\nMessage: Authentication accepted\n\r\n";
        assert_eq!(parse(mixed).unwrap().0.get("Message"), Some("Authentication accepted"));
    }

    #[test]
    fn repeated_keys_colons_placeholders_and_bad_utf8() {
        let bytes = b"Event: AgentCalled\r\nUniqueid: host-1529939196.518\r\nVariable: A=1\r\nVariable: B=x:y\r\n\
ConnectedLineNum: <unknown>\r\nCallerIDName: \xcf\xe5\xf2\xf0\xee\xe2\r\nAppData: SIP/101,30,tT\r\nEmpty:\r\n\r\n";
        let (m, _) = parse(bytes).unwrap();
        assert_eq!(m.get("Uniqueid"), Some("host-1529939196.518"));
        assert_eq!(m.all("Variable").collect::<Vec<_>>(), ["A=1", "B=x:y"]);
        assert_eq!(m.get("ConnectedLineNum"), Some("<unknown>"));
        assert!(m.get("CallerIDName").unwrap().contains('\u{fffd}'));
        assert_eq!(m.get("Empty"), Some(""));
    }

    #[test]
    fn banner_and_garbage() {
        assert_eq!(
            parse_banner(b"Asterisk Call Manager/5.0.1\r\nResp").unwrap(),
            ("5.0.1".to_string(), 29)
        );
        assert_eq!(parse_banner(b"Asterisk Call"), Err(FrameError::Incomplete));
        assert!(matches!(
            parse_banner(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(FrameError::Invalid { skip: 26, .. })
        ));
        let huge = vec![b'a'; MAX_MESSAGE + 10];
        assert!(matches!(parse(&huge), Err(FrameError::Invalid { .. })));
    }

    #[test]
    fn encode_round_trips_and_keeps_framing() {
        let m = Message::new([("Action", "Login"), ("Username", "storeterm"), ("Secret", "s\r\nEvil: 1")]);
        let bytes = m.encode();
        assert_eq!(bytes, b"Action: Login\r\nUsername: storeterm\r\nSecret: sEvil: 1\r\n\r\n");
        assert_eq!(parse(&bytes).unwrap().0.get("Action"), Some("Login"));
        assert!(!format!("{m:?}").contains("Evil"), "secrets stay out of logs");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_progress(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut rest: &[u8] = &bytes;
            loop {
                match parse(rest) {
                    Ok((_, used)) => { prop_assert!(used > 0 && used <= rest.len()); rest = &rest[used..]; }
                    Err(FrameError::Invalid { skip, .. }) => { prop_assert!(skip > 0 && skip <= rest.len()); rest = &rest[skip..]; }
                    Err(FrameError::Incomplete) => break,
                }
            }
            let _ = parse_banner(&bytes);
        }

        #[test]
        fn split_anywhere_gives_the_same_messages(cut in 0usize..120) {
            let stream = b"Event: Newstate\r\nChannelState: 5\r\n\r\nEvent: Hangup\nCause: 16\n\n";
            let cut = cut.min(stream.len());
            let mut buf = stream[..cut].to_vec();
            let mut got = Vec::new();
            while let Ok((m, used)) = parse(&buf) { got.push(m); buf.drain(..used); }
            buf.extend_from_slice(&stream[cut..]);
            while let Ok((m, used)) = parse(&buf) { got.push(m); buf.drain(..used); }
            prop_assert_eq!(got.len(), 2);
            prop_assert_eq!(got[1].get("Cause"), Some("16"));
        }
    }
}
