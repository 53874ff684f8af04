//! Outside text shown back to a person, safely.
//!
//! A scan, a phone number, a path segment or a PBX field lands in error messages and logs
//! ("unknown item …"). Shown raw, a control character breaks the line or the terminal, and a
//! right-to-left override (U+202E) makes the rest of the message read backwards, so that
//! `4601234567893` can be made to *look* like something else on the cashier's screen. A
//! megabyte-long "barcode" would also fill the screen. [`shown`] escapes what must not reach
//! a screen raw and shortens the rest:
//!
//! - `\n`, `\r`, `\t` and `\\` as those two-character escapes; GS (the GS1 separator, common in
//!   marking codes) as `<GS>`; any other control character, bidirectional control and invisible
//!   format character (zero-width space, BOM, line/paragraph separator) as `\u{…}`;
//! - at most [`SHOWN_CHARS`] characters, an escape never cut in half, then `…`.
//!
//! ```
//! use storeterm::domain::text::shown;
//! assert_eq!(shown("4601234567893").to_string(), "4601234567893");
//! assert_eq!(shown("abc\u{202e}def\r\n").to_string(), "abc\\u{202e}def\\r\\n");
//! assert_eq!(shown(&"9".repeat(100)).to_string(), format!("{}…", "9".repeat(40)));
//! ```

use std::fmt::{self, Write};

/// The longest outside text shown, in characters (escapes counted as written), before `…`.
/// Long enough for a GTIN with its GS1 data or a full phone number, short enough for a line.
pub const SHOWN_CHARS: usize = 40;

/// `text`, escaped and shortened for a message; see the module documentation.
pub fn shown(text: &str) -> Shown<'_> {
    Shown(text, SHOWN_CHARS)
}

/// `text` escaped like [`shown`] and shortened to `limit` characters: for a whole message that
/// may carry outside text somewhere inside it (a parser's error quoting its input).
pub fn shown_max(text: &str, limit: usize) -> Shown<'_> {
    Shown(text, limit)
}

/// Outside bytes (a device's raw output) shown like [`shown`] shows text; bytes that are not
/// UTF-8 become `\u{fffd}`.
pub fn shown_bytes(bytes: &[u8]) -> String {
    shown(&String::from_utf8_lossy(bytes)).to_string()
}

/// Outside text as it is safe to display: `format!("{}", shown(raw))`.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(&'a str, usize);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut used = 0;
        let mut piece = String::new();
        for c in self.0.chars() {
            piece.clear();
            escape(c, &mut piece);
            let len = piece.chars().count();
            if used + len > self.1 {
                return f.write_char('…');
            }
            used += len;
            f.write_str(&piece)?;
        }
        Ok(())
    }
}

/// Whether `c` changes how the text around it is laid out or is invisible: the bidirectional
/// embeddings, overrides, isolates and marks (Unicode UAX #9), zero-width characters, the BOM
/// and the line and paragraph separators.
fn is_layout_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

fn escape(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        '\u{1D}' => out.push_str("<GS>"),
        c if c.is_control() || is_layout_control(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> String {
        shown(text).to_string()
    }

    /// Undo [`escape`] (up to a trailing `…`), to check nothing was lost or invented.
    fn unescape(text: &str) -> (String, bool) {
        let (body, cut) = match text.strip_suffix('…') {
            Some(body) => (body, true),
            None => (text, false),
        };
        let mut out = String::new();
        let mut rest = body;
        while let Some(c) = rest.chars().next() {
            if let Some(tail) = rest.strip_prefix("<GS>") {
                out.push('\u{1D}');
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix("\\u{") {
                let end = tail.find('}').expect("closed escape");
                out.push(char::from_u32(u32::from_str_radix(&tail[..end], 16).unwrap()).unwrap());
                rest = &tail[end + 1..];
            } else if let Some(tail) = rest.strip_prefix('\\') {
                let (c, tail) = tail.split_at(1);
                out.push(match c {
                    "n" => '\n',
                    "r" => '\r',
                    "t" => '\t',
                    "\\" => '\\',
                    other => panic!("unknown escape \\{other}"),
                });
                rest = tail;
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        (out, cut)
    }

    #[test]
    fn plain_text_is_shown_as_is() {
        assert_eq!(s("4601234567893"), "4601234567893");
        assert_eq!(s("Молоко 3,2% 1 л"), "Молоко 3,2% 1 л");
        assert_eq!(s(""), "");
        let forty = "й".repeat(SHOWN_CHARS);
        assert_eq!(s(&forty), forty, "exactly the limit is not shortened");
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(s("01046\u{1D}21abc"), "01046<GS>21abc");
        assert_eq!(s("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(s("\u{202e}3987654321064"), "\\u{202e}3987654321064");
        assert_eq!(s("x\u{2066}y\u{2069}\u{200b}\u{feff}"), "x\\u{2066}y\\u{2069}\\u{200b}\\u{feff}");
        assert_eq!(s("a\\u{41}"), "a\\\\u{41}", "a literal backslash cannot fake an escape");
        assert_eq!(s("\u{85}\u{7f}\0"), "\\u{85}\\u{7f}\\u{0}");
    }

    #[test]
    fn long_text_is_shortened_without_cutting_an_escape() {
        assert_eq!(s(&"7".repeat(41)), format!("{}…", "7".repeat(40)));
        let text = format!("{}\u{202e}tail", "7".repeat(35));
        assert_eq!(s(&text), format!("{}…", "7".repeat(35)), "the 8-character escape does not fit");
        assert_eq!(shown_bytes(b"46\xff\r"), "46\u{fffd}\\r");
        assert_eq!(
            shown_max("unknown field `a\u{202e}b`", 100).to_string(),
            "unknown field `a\\u{202e}b`"
        );
        assert_eq!(shown_max("abcdef", 3).to_string(), "abc…");
    }

    proptest! {
        #[test]
        fn nothing_unsafe_gets_through_and_the_rest_is_a_faithful_prefix(text in "\\PC{0,30}|.{0,80}|[\\x00-\\x20\u{200b}-\u{202e}\u{2066}-\u{2069}a\\\\]{0,60}") {
            let out = s(&text);
            prop_assert!(out.chars().all(|c| !c.is_control() && !is_layout_control(c)), "{:?}", out);
            prop_assert!(out.chars().count() <= SHOWN_CHARS + 1);
            let (back, cut) = unescape(&out);
            prop_assert!(text.starts_with(&back), "{:?} → {:?} → {:?}", text, out, back);
            prop_assert_eq!(cut, back.len() < text.len());
        }
    }
}
