//! A Caller-ID modem on a serial port, bound to one extension (the analogue line it sits on).
//!
//! After `AT+VCID=1` the modem reports the caller between the first and second ring, as
//! text lines (Bellcore/ETSI formatted output):
//!
//! ```text
//! RING
//! DATE = 1201
//! TIME = 1030
//! NMBR = 89161234567        (P: private, O: out of area)
//! NAME = IVANOV I
//! RING
//! ```
//!
//! A line modem says nothing when the call is answered or ends, so the call is over when the
//! rings stop for [`RING_SILENCE`]. The line splitter ([`ModemLines`]), the line parser and the
//! ring state machine are pure; the reader at the bottom only moves bytes.

use crate::devices::telephony::SignalSink;
use crate::devices::telephony::calls::{Signal, SignalKind};
use crate::domain::call::Direction;
use crate::domain::text::shown_bytes;
use jiff::Timestamp;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Rings come every 5–6 s (4–5 s in RU/EU cadences); silence longer than this ends the call.
pub const RING_SILENCE: Duration = Duration::from_secs(8);

/// Longest line kept. A Caller-ID line is `NAME = ` and 15 characters, `NMBR = ` and 20 digits;
/// a modem at the wrong speed or a line with noise sends garbage without line ends, which must
/// not grow in memory.
pub const MAX_LINE: usize = 256;

/// Splits the modem's byte stream into lines. CR, LF and CR LF each end a line (modems differ);
/// a line longer than [`MAX_LINE`] is dropped whole, up to its end.
#[derive(Debug, Default)]
pub struct ModemLines {
    line: Vec<u8>,
    /// The line being read is too long: drop its bytes until it ends.
    overlong: bool,
    /// The last byte was a CR, so an LF right after it ends nothing.
    after_cr: bool,
}

impl ModemLines {
    pub fn new() -> ModemLines {
        ModemLines::default()
    }

    /// Take `bytes`; every line they complete goes to `lines` (without its end). Returns the
    /// start of each overlong line dropped, for the log.
    pub fn push(&mut self, bytes: &[u8], lines: &mut Vec<String>) -> Vec<String> {
        let mut dropped = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    if std::mem::take(&mut self.overlong) {
                        self.line.clear();
                    } else {
                        lines.push(String::from_utf8_lossy(&self.line).into_owned());
                        self.line.clear();
                    }
                }
                _ if self.overlong => {}
                _ if self.line.len() == MAX_LINE => {
                    dropped.push(shown_bytes(&self.line));
                    self.overlong = true;
                    self.line.clear();
                }
                _ => self.line.push(b),
            }
        }
        dropped
    }
}

/// One meaningful line from the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModemLine {
    Ring,
    Date(String),
    Time(String),
    /// `None`: the number is withheld (`P`) or unavailable (`O`).
    Number(Option<String>),
    Name(String),
    /// The empty line that ends a Caller-ID block.
    Blank,
    /// `OK`, `ERROR`, an echo of our command: nothing for a call.
    Other,
}

/// Parse one line (without its CR/LF).
pub fn parse_line(line: &str) -> ModemLine {
    let line = line.trim();
    if line.is_empty() {
        return ModemLine::Blank;
    }
    if line.eq_ignore_ascii_case("RING") {
        return ModemLine::Ring;
    }
    let Some((key, value)) = line.split_once('=') else {
        return ModemLine::Other;
    };
    let value = value.trim().to_string();
    match key.trim().to_ascii_uppercase().as_str() {
        "DATE" => ModemLine::Date(value),
        "TIME" => ModemLine::Time(value),
        "NMBR" | "DDN_NMBR" => ModemLine::Number(match value.as_str() {
            "P" | "O" | "" => None,
            _ => Some(value),
        }),
        "NAME" => ModemLine::Name(value),
        _ => ModemLine::Other,
    }
}

/// The ringing line's state.
#[derive(Debug)]
pub struct ModemLineState {
    source: String,
    extension: String,
    call: Option<(String, Timestamp)>,
    caller_sent: bool,
    /// `Some(number)` once an `NMBR` line came (`Some(None)`: withheld).
    number: Option<Option<String>>,
    name: Option<String>,
}

impl ModemLineState {
    pub fn new(source: impl Into<String>, extension: impl Into<String>) -> Self {
        ModemLineState {
            source: source.into(),
            extension: extension.into(),
            call: None,
            caller_sent: false,
            number: None,
            name: None,
        }
    }

    fn signal(&self, call: &str, at: Timestamp, kind: SignalKind) -> Signal {
        Signal {
            call: call.to_string(),
            at,
            kind,
        }
    }

    fn ring_signal(&self, call: &str, at: Timestamp, caller: Option<String>) -> Signal {
        self.signal(
            call,
            at,
            SignalKind::Ring {
                device: format!("{}/line", self.source),
                extension: self.extension.clone(),
                caller,
            },
        )
    }

    /// A line arrived at `at`.
    pub fn line(&mut self, line: ModemLine, at: Timestamp) -> Vec<Signal> {
        let mut out = Vec::new();
        if matches!(line, ModemLine::Other) || (matches!(line, ModemLine::Blank) && self.call.is_none()) {
            return out;
        }
        let started = self.call.is_none();
        let call = match &self.call {
            Some((call, _)) => call.clone(),
            None => format!("{}:{}", self.source, at.as_millisecond()),
        };
        self.call = Some((call.clone(), at));
        match line {
            // The caller ID comes between the first and the second ring: wait for it, and show
            // an unknown-number card only if the second ring comes without one.
            // The block's NAME line or its closing empty line completes the caller ID.
            ModemLine::Ring if !started && !self.caller_sent => {
                let number = self.number.clone().flatten();
                out.extend(self.caller(&call, at, number));
            }
            ModemLine::Number(number) => self.number = Some(number),
            ModemLine::Name(name) => {
                self.name = Some(name).filter(|n| !n.is_empty() && n != "O" && n != "P");
                if let (Some(number), false) = (self.number.clone(), self.caller_sent) {
                    out.extend(self.caller(&call, at, number));
                }
            }
            ModemLine::Blank => {
                if let (Some(number), false) = (self.number.clone(), self.caller_sent) {
                    out.extend(self.caller(&call, at, number));
                }
            }
            _ => {}
        }
        out
    }

    fn caller(&mut self, call: &str, at: Timestamp, number: Option<String>) -> [Signal; 2] {
        self.caller_sent = true;
        let caller = SignalKind::Caller {
            number: number.clone().unwrap_or_else(|| "<unknown>".into()),
            name: self.name.clone(),
            direction: Direction::Inbound,
        };
        [self.signal(call, at, caller), self.ring_signal(call, at, number)]
    }

    /// Time passed; ends the call after [`RING_SILENCE`] without a line.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Signal> {
        let Some((call, last)) = &self.call else { return Vec::new() };
        if now.duration_since(*last).unsigned_abs() < RING_SILENCE {
            return Vec::new();
        }
        let call = call.clone();
        self.call = None;
        self.caller_sent = false;
        self.number = None;
        self.name = None;
        vec![self.signal(&call, now, SignalKind::Hangup)]
    }
}

/// Where the modem is.
#[derive(Debug, Clone)]
pub struct ModemSetup {
    pub id: String,
    pub path: PathBuf,
    pub baud: u32,
    pub extension: String,
}

/// Keep the modem open and read it until `shutdown`, reopening after errors.
#[tracing::instrument(name = "pbx", skip_all, fields(pbx = %setup.id))]
pub async fn run(setup: ModemSetup, signals: SignalSink, shutdown: CancellationToken) {
    let mut state = ModemLineState::new(setup.id.clone(), setup.extension.clone());
    loop {
        match crate::devices::transport::open_serial(&setup.path, setup.baud).await {
            Ok(port) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = read(port, &mut state, &signals) => {
                        if let Err(e) = r { tracing::warn!(modem = %setup.id, error = %e, "Caller-ID modem lost; reopening"); }
                    }
                }
            }
            Err(e) => tracing::warn!(modem = %setup.id, error = %e, "cannot open the Caller-ID modem"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Initialise the modem and read lines, with a one-second tick for the end of a call.
pub async fn read<P: AsyncRead + AsyncWrite + Unpin>(port: P, state: &mut ModemLineState, signals: &SignalSink) -> std::io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(port);
    // ATZ resets, E0 stops the echo, +VCID=1 turns formatted Caller ID on.
    writer.write_all(b"ATZ\r").await?;
    writer.write_all(b"ATE0\r").await?;
    writer.write_all(b"AT+VCID=1\r").await?;
    writer.flush().await?;
    let mut splitter = ModemLines::new();
    let mut lines = Vec::new();
    let mut buf = [0u8; 256];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                for start in splitter.push(&buf[..n], &mut lines) {
                    tracing::warn!(line = %start, "the Caller-ID modem sent a line longer than {MAX_LINE} bytes; dropped (wrong baud rate?)");
                }
                for line in lines.drain(..) {
                    for s in state.line(parse_line(&line), Timestamp::now()) {
                        signals.send(s);
                    }
                }
            }
            _ = tick.tick() => {
                for s in state.tick(Timestamp::now()) {
                    signals.send(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line("RING\r"), ModemLine::Ring);
        assert_eq!(parse_line("NMBR = 89161234567"), ModemLine::Number(Some("89161234567".into())));
        assert_eq!(parse_line("NMBR=P"), ModemLine::Number(None));
        assert_eq!(parse_line("NAME = IVANOV I"), ModemLine::Name("IVANOV I".into()));
        assert_eq!(parse_line("DATE = 1201"), ModemLine::Date("1201".into()));
        assert_eq!(parse_line("OK"), ModemLine::Other);
        assert_eq!(parse_line("\r"), ModemLine::Blank);
    }

    #[test]
    fn a_call_rings_then_ends_after_silence() {
        let t = |s: i64| Timestamp::from_second(1_770_000_000 + s).unwrap();
        let mut line = ModemLineState::new("modem", "201");
        let kinds = |v: Vec<Signal>| v.into_iter().map(|s| s.kind).collect::<Vec<_>>();
        assert!(line.line(ModemLine::Ring, t(0)).is_empty(), "wait for the caller ID");
        assert!(line.line(ModemLine::Date("1201".into()), t(1)).is_empty());
        assert!(line.line(ModemLine::Number(Some("89161234567".into())), t(1)).is_empty());
        let caller = kinds(line.line(ModemLine::Blank, t(1)));
        assert!(
            matches!(&caller[..], [SignalKind::Caller { number, .. }, SignalKind::Ring { caller: Some(_), .. }] if number == "89161234567")
        );
        assert!(line.line(ModemLine::Ring, t(5)).is_empty());
        assert!(line.tick(t(10)).is_empty());
        assert_eq!(kinds(line.tick(t(14))), [SignalKind::Hangup]);
        assert!(line.tick(t(30)).is_empty());
        // No Caller-ID service on the line: the second ring shows an unknown-number card.
        assert!(line.line(ModemLine::Ring, t(40)).is_empty());
        assert!(matches!(
            &kinds(line.line(ModemLine::Ring, t(45)))[..],
            [SignalKind::Caller { .. }, SignalKind::Ring { caller: None, .. }]
        ));
    }

    fn split(chunks: &[&[u8]]) -> (Vec<String>, usize) {
        let mut lines = ModemLines::new();
        let (mut out, mut dropped) = (Vec::new(), 0);
        for chunk in chunks {
            dropped += lines.push(chunk, &mut out).len();
        }
        (out, dropped)
    }

    #[test]
    fn lines_end_at_cr_lf_or_both() {
        let (lines, _) = split(&[b"OK\r\n\r\nRING\r", b"\nNMBR = 8916\nNAME = X\r\rRING\r"]);
        assert_eq!(lines, ["OK", "", "RING", "NMBR = 8916", "NAME = X", "", "RING"]);
        // A CR LF split across two reads is still one line end.
        let (lines, _) = split(&[b"RING\r", b"\n", b"\r", b"\n"]);
        assert_eq!(lines, ["RING", ""]);
    }

    #[test]
    fn garbage_without_line_ends_does_not_grow() {
        let mut lines = ModemLines::new();
        let mut out = Vec::new();
        let mut dropped = Vec::new();
        for _ in 0..1000 {
            dropped.extend(lines.push(&[0xAA; 1024], &mut out));
            assert!(lines.line.len() <= MAX_LINE);
        }
        assert!(out.is_empty());
        assert_eq!(dropped.len(), 1, "one overlong line, reported once");
        // The overlong line is dropped whole; the next one is read as usual.
        lines.push(b"tail of it\r\nRING\r\n", &mut out);
        assert_eq!(out, ["RING"]);
        assert!(lines.line.capacity() <= 2 * MAX_LINE);
    }

    proptest! {
        #[test]
        fn any_line_parses(text in "\\PC{0,60}") {
            let _ = parse_line(&text);
        }

        #[test]
        fn any_bytes_split_into_bounded_lines(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in 0usize..2048) {
            let cut = cut.min(bytes.len());
            let (whole, _) = split(&[&bytes]);
            let (parts, _) = split(&[&bytes[..cut], &bytes[cut..]]);
            prop_assert_eq!(&whole, &parts, "where reads split the stream does not matter");
            prop_assert!(whole.iter().all(|l| l.len() <= 3 * MAX_LINE && !l.contains(['\r', '\n'])));
        }
    }
}
