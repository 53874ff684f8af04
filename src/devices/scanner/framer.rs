//! Serial framing: a serial (or USB-COM, or TCP) scanner sends each code wrapped in an
//! optional prefix and a suffix — CR by default on most models, CR LF, LF or TAB on others, or
//! nothing at all, in which case only a pause tells where one scan ends.
//!
//! [`Framer`] is pure: feed it whatever the port delivered, in any chunking, and it yields
//! complete scans; the reader calls [`Framer::end_of_scan`] when the line has been quiet for
//! the configured gap.

use super::{Frame, FrameError};
use crate::config::Suffix;
use crate::domain::barcode::MAX_CODE_LEN;

/// How scans are delimited on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialFraming {
    /// Bytes removed from the start of a scan when present (e.g. STX).
    pub prefix: Vec<u8>,
    /// Bytes that end a scan. Empty: only a pause does.
    pub terminators: Vec<u8>,
}

impl Default for SerialFraming {
    /// Backward-compatible default: CR or LF ends a scan (covers CR, LF and CR LF suffixes).
    fn default() -> Self {
        SerialFraming {
            prefix: Vec::new(),
            terminators: vec![b'\r', b'\n'],
        }
    }
}

impl SerialFraming {
    /// The framing for a configured prefix and suffix (`None`: the default CR-or-LF).
    pub fn new(prefix: Option<&str>, suffix: Option<Suffix>) -> SerialFraming {
        let terminators = match suffix {
            None | Some(Suffix::Crlf) => vec![b'\r', b'\n'],
            Some(Suffix::Cr) => vec![b'\r'],
            Some(Suffix::Lf) => vec![b'\n'],
            Some(Suffix::Tab) => vec![b'\t'],
            Some(Suffix::None) => Vec::new(),
        };
        SerialFraming {
            prefix: prefix.map(|p| p.as_bytes().to_vec()).unwrap_or_default(),
            terminators,
        }
    }
}

/// Splits a scanner's byte stream into scans. Empty frames are dropped, so a CR LF suffix
/// yields one scan, not a scan and an empty one.
#[derive(Debug, Default)]
pub struct Framer {
    framing: SerialFraming,
    buf: Vec<u8>,
    /// Discarding the rest of an over-long frame until the next terminator.
    skipping: bool,
}

impl Framer {
    /// The default framing: CR or LF ends a scan.
    pub fn new() -> Framer {
        Framer::default()
    }

    pub fn with(framing: SerialFraming) -> Framer {
        Framer {
            framing,
            ..Framer::default()
        }
    }

    /// Feed bytes; complete frames are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Frame>) {
        for &b in bytes {
            if self.framing.terminators.contains(&b) {
                if self.skipping {
                    self.skipping = false;
                } else {
                    self.emit(out);
                }
                continue;
            }
            if self.skipping {
                continue;
            }
            if self.buf.len() == MAX_CODE_LEN + self.framing.prefix.len() {
                self.buf.clear();
                self.skipping = true;
                out.push(Frame::Garbage(FrameError::TooLong));
                continue;
            }
            self.buf.push(b);
        }
    }

    /// The line has been quiet for the gap: whatever is buffered is one scan. With no
    /// terminator configured this is the only way a scan ends; a skipped over-long frame
    /// ends here too.
    pub fn end_of_scan(&mut self, out: &mut Vec<Frame>) {
        self.skipping = false;
        self.emit(out);
    }

    /// Is part of a scan waiting for its end?
    pub fn is_pending(&self) -> bool {
        !self.buf.is_empty() || self.skipping
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        let mut bytes = std::mem::take(&mut self.buf);
        if !self.framing.prefix.is_empty() && bytes.starts_with(&self.framing.prefix) {
            bytes.drain(..self.framing.prefix.len());
        }
        if bytes.is_empty() {
            return;
        }
        out.push(match String::from_utf8(bytes) {
            Ok(text) => Frame::Code(text),
            Err(_) => Frame::Garbage(FrameError::NotText),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames_with(framing: SerialFraming, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut framer = Framer::with(framing);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
        }
        out
    }

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        frames_with(SerialFraming::default(), chunks)
    }

    fn code(s: &str) -> Frame {
        Frame::Code(s.into())
    }

    #[test]
    fn suffixes_cr_lf_crlf() {
        assert_eq!(frames(&[b"4601234567893\r"]), vec![code("4601234567893")]);
        assert_eq!(frames(&[b"1\n2\r\n3\r"]), vec![code("1"), code("2"), code("3")]);
        assert_eq!(frames(&[b"46012", b"34567893", b"\r"]), vec![code("4601234567893")]);
        assert_eq!(frames(&[b"no suffix yet"]), vec![]);
    }

    #[test]
    fn tab_suffix_and_stx_prefix() {
        let framing = SerialFraming::new(Some("\u{2}"), Some(Suffix::Tab));
        assert_eq!(
            frames_with(framing, &[b"\x024601234567893\t\x02", b"96385074\t"]),
            vec![code("4601234567893"), code("96385074")]
        );
        // With a TAB suffix, CR is data (a scanner set to send CR inside a code is rare, but
        // the bytes are the scanner's, not ours to drop).
        let framing = SerialFraming::new(None, Some(Suffix::Tab));
        assert_eq!(frames_with(framing, &[b"A\rB\t"]), vec![code("A\rB")]);
    }

    #[test]
    fn no_suffix_ends_at_the_gap() {
        let mut framer = Framer::with(SerialFraming::new(None, Some(Suffix::None)));
        let mut out = Vec::new();
        framer.push(b"4601234567893", &mut out);
        framer.push(b"\r\n", &mut out);
        assert!(out.is_empty() && framer.is_pending());
        framer.end_of_scan(&mut out);
        assert_eq!(out, vec![code("4601234567893\r\n")]);
        framer.end_of_scan(&mut out);
        assert_eq!(out.len(), 1, "an idle line yields nothing more");
    }

    #[test]
    fn gs_inside_a_code_is_kept() {
        assert_eq!(
            frames(&[b"0104601234567893215abc\x1d91EE06\r"]),
            vec![code("0104601234567893215abc\u{1d}91EE06")]
        );
    }

    #[test]
    fn garbage_is_reported_and_the_stream_recovers() {
        assert_eq!(
            frames(&[b"\xff\xfe\r4601234567893\r"]),
            vec![Frame::Garbage(FrameError::NotText), code("4601234567893")]
        );
        let long = vec![b'7'; MAX_CODE_LEN + 10];
        assert_eq!(frames(&[&long, b"\r1\r"]), vec![Frame::Garbage(FrameError::TooLong), code("1")]);
    }

    proptest! {
        /// However the port chunks the bytes, the same scans come out, for every suffix.
        #[test]
        fn chunking_does_not_matter(
            codes in proptest::collection::vec("[0-9A-Za-z]{1,40}", 1..10),
            cuts in proptest::collection::vec(0usize..400, 0..10),
            suffix in prop_oneof![Just(Suffix::Cr), Just(Suffix::Lf), Just(Suffix::Crlf), Just(Suffix::Tab)],
            prefix in prop_oneof![Just(None), Just(Some("\u{2}"))],
        ) {
            let end: &[u8] = match suffix {
                Suffix::Cr => b"\r",
                Suffix::Lf => b"\n",
                Suffix::Tab => b"\t",
                _ => b"\r\n",
            };
            let stream: Vec<u8> = codes
                .iter()
                .flat_map(|c| prefix.unwrap_or("").bytes().chain(c.bytes()).chain(end.iter().copied()))
                .collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&stream[start..cut]);
                start = cut;
            }
            chunks.push(&stream[start..]);
            let expected: Vec<Frame> = codes.iter().map(|c| code(c)).collect();
            prop_assert_eq!(frames_with(SerialFraming::new(prefix, Some(suffix)), &chunks), expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut framer = Framer::with(SerialFraming::new(Some("\u{2}"), Some(Suffix::None)));
            let mut out = Vec::new();
            framer.push(&bytes, &mut out);
            framer.end_of_scan(&mut out);
            let _ = frames(&[&bytes]);
        }
    }
}
