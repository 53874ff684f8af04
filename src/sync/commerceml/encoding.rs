//! Turning a CommerceML file into a UTF-8 byte stream for quick-xml.
//!
//! 1C writes CommerceML in UTF-8 (with a byte-order mark, as every 1C `ЗаписьXML` does) and,
//! in 7.7-era and Bitrix-style files, in windows-1251 with `encoding="windows-1251"` in the
//! declaration. quick-xml reads bytes as UTF-8 and does not switch encodings on the
//! declaration, so the encoding is sniffed here from the first bytes and a windows-1251 file is
//! decoded to UTF-8 as it streams: nothing is held in memory beyond one buffer.
//!
//! The declaration keeps saying `windows-1251` after decoding; quick-xml ignores it.

use super::CmlError;
use encoding_rs::{Decoder, WINDOWS_1251};
use std::io::{self, BufRead, Read};

/// How many bytes are looked at for the BOM and the XML declaration. A declaration is one
/// short line; 1C writes it first.
const SNIFF: usize = 512;

/// The encodings a CommerceML file may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEncoding {
    Utf8,
    Windows1251,
}

/// Find the encoding from the first bytes: a UTF-8 BOM, else the declaration's `encoding`,
/// else UTF-8 (the XML default). UTF-16 (a BOM of FF FE / FE FF) is refused: no 1C writes it
/// for this exchange, and a silent misreading would import garbage.
pub fn sniff(head: &[u8]) -> Result<SourceEncoding, CmlError> {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(SourceEncoding::Utf8);
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(CmlError::Encoding("UTF-16".into()));
    }
    let Some(rest) = head.strip_prefix(b"<?xml") else {
        return Ok(SourceEncoding::Utf8);
    };
    let decl = match rest.windows(2).position(|w| w == b"?>") {
        Some(end) => rest.get(..end).unwrap_or(rest),
        None => rest,
    };
    let Some(at) = find(decl, b"encoding") else {
        return Ok(SourceEncoding::Utf8);
    };
    let after = decl.get(at + b"encoding".len()..).unwrap_or_default();
    let after = trim_start(after);
    let Some(after) = after.strip_prefix(b"=") else {
        return Ok(SourceEncoding::Utf8);
    };
    let after = trim_start(after);
    let (quote, value) = match after.split_first() {
        Some((q @ (b'"' | b'\''), v)) => (*q, v),
        _ => return Ok(SourceEncoding::Utf8),
    };
    let name = match value.iter().position(|b| *b == quote) {
        Some(end) => value.get(..end).unwrap_or_default(),
        None => value,
    };
    let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
    match name.as_str() {
        "utf-8" | "utf8" => Ok(SourceEncoding::Utf8),
        "windows-1251" | "cp1251" | "cp-1251" | "win-1251" | "x-cp1251" => Ok(SourceEncoding::Windows1251),
        _ => Err(CmlError::Encoding(name)),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(skip..).unwrap_or_default()
}

/// A CommerceML file as UTF-8 without a BOM, whatever it came in.
pub struct Utf8Source<R> {
    inner: Inner<R>,
    encoding: SourceEncoding,
}

enum Inner<R> {
    /// UTF-8 sniffed from the input's own buffer without consuming it: quick-xml reads the
    /// input directly (and drops the BOM itself). The usual case, and the fastest.
    Direct(R),
    /// UTF-8 whose head had to be read ahead (the input hands out small pieces).
    Plain(Prefixed<R>),
    Decoded(Decoding<R>),
}

impl<R: BufRead> Utf8Source<R> {
    /// Sniff the encoding of `input` and wrap it. Reads at most [`SNIFF`] bytes ahead.
    pub fn new(mut input: R) -> Result<Utf8Source<R>, CmlError> {
        // Most inputs (a BufReader over a file, a byte slice) already hold the whole
        // declaration in their buffer: look at it there.
        let peeked = input.fill_buf().map_err(CmlError::Read)?;
        let whole_head = peeked.len() >= SNIFF || peeked.windows(2).any(|w| w == b"?>") || !peeked.starts_with(b"<?") && peeked.len() >= 3;
        if whole_head && sniff(peeked)? == SourceEncoding::Utf8 {
            if peeked.starts_with(&[0xEF, 0xBB, 0xBF]) {
                input.consume(3);
            }
            return Ok(Utf8Source {
                inner: Inner::Direct(input),
                encoding: SourceEncoding::Utf8,
            });
        }
        let mut head = Vec::with_capacity(SNIFF);
        while head.len() < SNIFF {
            let buf = input.fill_buf().map_err(CmlError::Read)?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(SNIFF - head.len());
            head.extend_from_slice(buf.get(..take).unwrap_or_default());
            input.consume(take);
        }
        let encoding = sniff(&head)?;
        if encoding == SourceEncoding::Utf8 && head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            head.drain(..3);
        }
        let prefixed = Prefixed {
            head,
            pos: 0,
            inner: input,
        };
        let inner = match encoding {
            SourceEncoding::Utf8 => Inner::Plain(prefixed),
            SourceEncoding::Windows1251 => Inner::Decoded(Decoding {
                source: prefixed,
                decoder: WINDOWS_1251.new_decoder_without_bom_handling(),
                out: Vec::new(),
                pos: 0,
                done: false,
            }),
        };
        Ok(Utf8Source { inner, encoding })
    }

    /// The encoding the file came in.
    pub fn encoding(&self) -> SourceEncoding {
        self.encoding
    }
}

impl<R: BufRead> Read for Utf8Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), buf.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Utf8Source<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.inner {
            Inner::Direct(r) => r.fill_buf(),
            Inner::Plain(p) => p.fill_buf(),
            Inner::Decoded(d) => d.fill_buf(),
        }
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        match &mut self.inner {
            Inner::Direct(r) => r.consume(amt),
            Inner::Plain(p) => p.consume(amt),
            Inner::Decoded(d) => d.consume(amt),
        }
    }
}

/// The sniffed head served again before the rest of the input.
struct Prefixed<R> {
    head: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: BufRead> Prefixed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.head.len() {
            return Ok(self.head.get(self.pos..).unwrap_or_default());
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if self.pos < self.head.len() {
            self.pos = (self.pos + amt).min(self.head.len());
        } else {
            self.inner.consume(amt);
        }
    }
}

/// windows-1251 → UTF-8, one input buffer at a time.
struct Decoding<R> {
    source: Prefixed<R>,
    decoder: Decoder,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: BufRead> Decoding<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.out.len() && !self.done {
            let src = self.source.fill_buf()?;
            let last = src.is_empty();
            // A windows-1251 byte becomes at most 3 UTF-8 bytes.
            self.out.clear();
            self.out.resize(src.len() * 3 + 16, 0);
            let (_, read, written, _) = self.decoder.decode_to_utf8(src, &mut self.out, last);
            self.out.truncate(written);
            self.pos = 0;
            self.source.consume(read);
            self.done = last;
        }
        Ok(self.out.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8]) -> Result<(SourceEncoding, String), CmlError> {
        let mut src = Utf8Source::new(bytes)?;
        let mut out = String::new();
        src.read_to_string(&mut out).map_err(CmlError::Read)?;
        Ok((src.encoding(), out))
    }

    #[test]
    fn utf8_with_bom_loses_the_bom() {
        let (enc, text) = read_all("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>Ид</a>".as_bytes()).unwrap();
        assert_eq!(enc, SourceEncoding::Utf8);
        assert_eq!(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>Ид</a>");
    }

    #[test]
    fn windows_1251_is_decoded_from_the_declaration() {
        // "<a>Ид</a>" with И = 0xC8, д = 0xE4 in windows-1251.
        let mut bytes = b"<?xml version='1.0' encoding = 'Windows-1251' ?>\r\n<a>".to_vec();
        bytes.extend_from_slice(&[0xC8, 0xE4]);
        bytes.extend_from_slice(b"</a>");
        let (enc, text) = read_all(&bytes).unwrap();
        assert_eq!(enc, SourceEncoding::Windows1251);
        assert!(text.ends_with("<a>Ид</a>"), "{text}");
    }

    #[test]
    fn no_declaration_means_utf8_and_unknown_encodings_are_refused() {
        assert_eq!(sniff(b"<a/>").unwrap(), SourceEncoding::Utf8);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><a/>").unwrap(), SourceEncoding::Utf8);
        assert!(matches!(sniff(b"<?xml version=\"1.0\" encoding=\"koi8-r\"?>"), Err(CmlError::Encoding(e)) if e == "koi8-r"));
        assert!(matches!(sniff(&[0xFF, 0xFE, b'<', 0]), Err(CmlError::Encoding(_))));
    }

    #[test]
    fn a_long_windows_1251_file_decodes_across_buffer_boundaries() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"windows-1251\"?>".to_vec();
        // 0xC0..=0xFF are А..я in windows-1251.
        let body: Vec<u8> = (0..100_000u32).map(|i| 0xC0 + (i % 64) as u8).collect();
        bytes.extend_from_slice(&body);
        let reader = std::io::BufReader::with_capacity(7, bytes.as_slice());
        let mut src = Utf8Source::new(reader).unwrap();
        let mut out = String::new();
        src.read_to_string(&mut out).unwrap();
        let expected: String = (0..100_000u32).map(|i| char::from_u32(0x410 + i % 64).unwrap()).collect();
        assert!(out.ends_with(&expected));
    }

    proptest! {
        #[test]
        fn any_bytes_either_stream_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = read_all(&bytes);
        }

        #[test]
        fn utf8_text_passes_through_unchanged(text in "\\PC{0,300}") {
            let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{text}");
            let (_, out) = read_all(doc.as_bytes()).unwrap();
            prop_assert_eq!(out, doc);
        }
    }
}
