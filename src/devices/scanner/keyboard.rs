//! Keyboard-wedge scanners read through evdev: key codes in, scans out.
//!
//! A wedge scanner "types" the code. Read from `/dev/input/event*` with an exclusive grab,
//! the key presses never reach the desktop, and decoding them here with our own US keymap
//! makes the result independent of whatever layout the desktop has active (the ЙЦУКЕН
//! problem does not arise on this path at all).
//!
//! Understood on top of plain keys: Shift; Ctrl+letter and Ctrl+`[` `\` `]` `^` `_` as the
//! ASCII control characters (Ctrl+] = GS, how many scanners send FNC1); Alt + keypad digits
//! as a character code (Alt+0029 = GS). A scan ends at Enter (or Tab, or a pause, per the
//! configured suffix).
//!
//! Key codes are Linux's (`linux/input-event-codes.h`); the record format of
//! `/dev/input/event*` is `struct input_event` (`linux/input.h`): on 64-bit Linux a
//! `timeval` (two 64-bit fields), then type u16, code u16, value i32 — 24 bytes, native
//! (little-endian on x86-64 and arm64) byte order.

use super::{Frame, FrameError};
use crate::config::Suffix;
use crate::domain::barcode::MAX_CODE_LEN;

/// `EV_KEY` from `linux/input-event-codes.h`.
pub const EV_KEY: u16 = 0x01;

/// One input event: what the kernel reports, with its time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputEvent {
    pub time_us: u64,
    pub kind: u16,
    pub code: u16,
    /// 1 press, 0 release, 2 auto-repeat.
    pub value: i32,
}

/// Size of one `struct input_event` on 64-bit Linux.
pub const INPUT_EVENT_SIZE: usize = 24;

/// Decode `struct input_event` records (64-bit little-endian layout) from a byte stream, as
/// read from an event device or stored in a recording. Returns the events and how many bytes
/// were used; a trailing partial record is left for the next read.
pub fn parse_input_events(bytes: &[u8]) -> (Vec<InputEvent>, usize) {
    let records = bytes.chunks_exact(INPUT_EVENT_SIZE);
    let used = bytes.len() - records.remainder().len();
    let events = records
        .map(|r| {
            let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or([0; 8]));
            let sec = u64_at(0);
            let usec = u64_at(8);
            InputEvent {
                time_us: sec.saturating_mul(1_000_000).saturating_add(usec),
                kind: u16::from_le_bytes([r[16], r[17]]),
                code: u16::from_le_bytes([r[18], r[19]]),
                value: i32::from_le_bytes([r[20], r[21], r[22], r[23]]),
            }
        })
        .collect();
    (events, used)
}

/// Key codes from `linux/input-event-codes.h` that need names here.
mod key {
    pub const TAB: u16 = 15;
    pub const ENTER: u16 = 28;
    pub const LEFTCTRL: u16 = 29;
    pub const LEFTSHIFT: u16 = 42;
    pub const RIGHTSHIFT: u16 = 54;
    pub const LEFTALT: u16 = 56;
    pub const KPENTER: u16 = 96;
    pub const RIGHTCTRL: u16 = 97;
    pub const RIGHTALT: u16 = 100;
}

/// US layout: key code → (unshifted, shifted) character.
fn us_key(code: u16) -> Option<(char, char)> {
    const ROW_DIGITS: &[(char, char)] = &[
        ('1', '!'),
        ('2', '@'),
        ('3', '#'),
        ('4', '$'),
        ('5', '%'),
        ('6', '^'),
        ('7', '&'),
        ('8', '*'),
        ('9', '('),
        ('0', ')'),
        ('-', '_'),
        ('=', '+'),
    ];
    const ROW_Q: &str = "qwertyuiop";
    const ROW_A: &str = "asdfghjkl";
    const ROW_Z: &str = "zxcvbnm";
    let letter = |row: &str, first: u16| {
        let c = row.chars().nth(usize::from(code - first))?;
        Some((c, c.to_ascii_uppercase()))
    };
    match code {
        2..=13 => ROW_DIGITS.get(usize::from(code - 2)).copied(),
        16..=25 => letter(ROW_Q, 16),
        26 => Some(('[', '{')),
        27 => Some((']', '}')),
        30..=38 => letter(ROW_A, 30),
        39 => Some((';', ':')),
        40 => Some(('\'', '"')),
        41 => Some(('`', '~')),
        43 => Some(('\\', '|')),
        44..=50 => letter(ROW_Z, 44),
        51 => Some((',', '<')),
        52 => Some(('.', '>')),
        53 => Some(('/', '?')),
        55 => Some(('*', '*')),
        57 => Some((' ', ' ')),
        74 => Some(('-', '-')),
        78 => Some(('+', '+')),
        83 => Some(('.', '.')),
        98 => Some(('/', '/')),
        _ => keypad_digit(code).map(|d| (d, d)),
    }
}

/// Keypad digits (num lock on, as scanners assume).
fn keypad_digit(code: u16) -> Option<char> {
    match code {
        71 => Some('7'),
        72 => Some('8'),
        73 => Some('9'),
        75 => Some('4'),
        76 => Some('5'),
        77 => Some('6'),
        79 => Some('1'),
        80 => Some('2'),
        81 => Some('3'),
        82 => Some('0'),
        _ => None,
    }
}

/// Ctrl + key as an ASCII control character: letters → 0x01–0x1A, `[` ESC, `\` FS, `]` GS,
/// Shift+6 (`^`) RS, Shift+`-` (`_`) US.
fn control_char(unshifted: char, shifted: char, shift: bool) -> Option<char> {
    let c = if shift { shifted } else { unshifted };
    let byte = match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '[' => 0x1B,
        '\\' => 0x1C,
        ']' => 0x1D,
        '^' => 0x1E,
        '_' => 0x1F,
        _ => return None,
    };
    Some(char::from(byte))
}

/// Turns key events into scans.
#[derive(Debug)]
pub struct KeyboardDecoder {
    end_keys: Vec<u16>,
    /// A pause longer than this (µs) between keys ends a scan.
    gap_us: Option<u64>,
    shift: u8,
    ctrl: u8,
    alt: u8,
    /// Keypad digits typed while Alt is held.
    alt_code: Option<u32>,
    text: String,
    broken: Option<FrameError>,
    last_key_us: Option<u64>,
}

impl KeyboardDecoder {
    /// `suffix`: which key ends a scan (CR/LF/CRLF → Enter, default Enter; Tab; none → only
    /// the gap). `gap_ms`: a pause that ends a scan (also splits scans that lack a suffix).
    pub fn new(suffix: Option<Suffix>, gap_ms: Option<u64>) -> KeyboardDecoder {
        let end_keys = match suffix {
            None | Some(Suffix::Cr | Suffix::Lf | Suffix::Crlf) => vec![key::ENTER, key::KPENTER],
            Some(Suffix::Tab) => vec![key::TAB],
            Some(Suffix::None) => Vec::new(),
        };
        KeyboardDecoder {
            end_keys,
            gap_us: gap_ms.map(|ms| ms * 1000),
            shift: 0,
            ctrl: 0,
            alt: 0,
            alt_code: None,
            text: String::new(),
            broken: None,
            last_key_us: None,
        }
    }

    /// The configured gap, for the reader's idle timer.
    pub fn gap_ms(&self) -> Option<u64> {
        self.gap_us.map(|us| us / 1000)
    }

    /// Feed one event; completed scans are appended to `out`.
    pub fn push(&mut self, ev: InputEvent, out: &mut Vec<Frame>) {
        if ev.kind != EV_KEY {
            return;
        }
        let pressed = match ev.value {
            1 => true,
            0 => false,
            // Auto-repeat: a scanner never holds a key long enough; ignore.
            _ => return,
        };
        let modifier = |count: &mut u8| {
            *count = if pressed {
                count.saturating_add(1)
            } else {
                count.saturating_sub(1)
            };
        };
        match ev.code {
            key::LEFTSHIFT | key::RIGHTSHIFT => return modifier(&mut self.shift),
            key::LEFTCTRL | key::RIGHTCTRL => return modifier(&mut self.ctrl),
            key::LEFTALT | key::RIGHTALT => {
                modifier(&mut self.alt);
                if !pressed && self.alt == 0 {
                    self.finish_alt_code();
                }
                return;
            }
            _ => {}
        }
        if !pressed {
            return;
        }
        if let (Some(gap), Some(last)) = (self.gap_us, self.last_key_us) {
            if ev.time_us.saturating_sub(last) > gap {
                self.end_of_scan(out);
            }
        }
        self.last_key_us = Some(ev.time_us);
        if self.end_keys.contains(&ev.code) {
            self.end_of_scan(out);
            return;
        }
        if self.alt > 0 {
            if let Some(d) = keypad_digit(ev.code) {
                let code = self.alt_code.unwrap_or(0);
                self.alt_code = Some(code.saturating_mul(10).saturating_add(d.to_digit(10).unwrap_or(0)).min(100_000));
            }
            return;
        }
        let Some((plain, shifted)) = us_key(ev.code) else {
            // Enter/Tab not configured as the end, or keys no scanner types (F-keys, arrows).
            match ev.code {
                key::ENTER | key::KPENTER => self.type_char('\r'),
                key::TAB => self.type_char('\t'),
                _ => {}
            }
            return;
        };
        let c = if self.ctrl > 0 {
            match control_char(plain, shifted, self.shift > 0) {
                Some(c) => c,
                None => return,
            }
        } else if self.shift > 0 {
            shifted
        } else {
            plain
        };
        self.type_char(c);
    }

    /// Alt released after keypad digits: the character with that code. Codes above 127 are
    /// code-page dependent on the sending side (Windows ANSI/OEM), so they are refused
    /// rather than guessed.
    fn finish_alt_code(&mut self) {
        if let Some(code) = self.alt_code.take() {
            match u8::try_from(code).ok().filter(u8::is_ascii) {
                Some(b) if b != 0 => self.type_char(char::from(b)),
                _ => self.broken = Some(FrameError::NotText),
            }
        }
    }

    fn type_char(&mut self, c: char) {
        if self.text.len() >= MAX_CODE_LEN {
            self.broken = Some(FrameError::TooLong);
            return;
        }
        self.text.push(c);
    }

    /// End the current scan (an end key, or the reader saw the line idle for the gap).
    pub fn end_of_scan(&mut self, out: &mut Vec<Frame>) {
        let text = std::mem::take(&mut self.text);
        self.alt_code = None;
        if let Some(e) = self.broken.take() {
            out.push(Frame::Garbage(e));
        } else if !text.is_empty() {
            out.push(Frame::Code(text));
        }
    }

    /// Is part of a scan waiting for its end?
    pub fn is_pending(&self) -> bool {
        !self.text.is_empty() || self.broken.is_some()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Key presses a wedge scanner would send for `text` (US layout), 1 ms apart, then Enter.
    /// Written from the key table in `linux/input-event-codes.h`, independently of `us_key`.
    pub(crate) fn type_text(text: &str, start_us: u64) -> Vec<InputEvent> {
        const KEYS: &[(char, u16, bool)] = &[
            ('1', 2, false),
            ('2', 3, false),
            ('3', 4, false),
            ('4', 5, false),
            ('5', 6, false),
            ('6', 7, false),
            ('7', 8, false),
            ('8', 9, false),
            ('9', 10, false),
            ('0', 11, false),
            ('-', 12, false),
            ('=', 13, false),
            ('+', 13, true),
            ('!', 2, true),
            ('%', 6, true),
            ('&', 8, true),
            ('*', 9, true),
            ('(', 10, true),
            (')', 11, true),
            ('_', 12, true),
            ('/', 53, false),
            ('?', 53, true),
            ('.', 52, false),
            (',', 51, false),
            (':', 39, true),
            (';', 39, false),
            ('<', 51, true),
            ('>', 52, true),
            ('"', 40, true),
            ('\'', 40, false),
        ];
        const LETTERS: &[(char, u16)] = &[
            ('q', 16),
            ('w', 17),
            ('e', 18),
            ('r', 19),
            ('t', 20),
            ('y', 21),
            ('u', 22),
            ('i', 23),
            ('o', 24),
            ('p', 25),
            ('a', 30),
            ('s', 31),
            ('d', 32),
            ('f', 33),
            ('g', 34),
            ('h', 35),
            ('j', 36),
            ('k', 37),
            ('l', 38),
            ('z', 44),
            ('x', 45),
            ('c', 46),
            ('v', 47),
            ('b', 48),
            ('n', 49),
            ('m', 50),
        ];
        let mut t = start_us;
        let mut events = Vec::new();
        let mut press = |code: u16, value: i32, events: &mut Vec<InputEvent>| {
            t += 1000;
            events.push(InputEvent {
                time_us: t,
                kind: EV_KEY,
                code,
                value,
            });
        };
        let mut tap = |code: u16, shift: bool, ctrl: bool, events: &mut Vec<InputEvent>| {
            if ctrl {
                press(29, 1, events);
            }
            if shift {
                press(42, 1, events);
            }
            press(code, 1, events);
            press(code, 0, events);
            if shift {
                press(42, 0, events);
            }
            if ctrl {
                press(29, 0, events);
            }
        };
        for c in text.chars() {
            if c == '\u{1d}' {
                tap(27, false, true, &mut events);
            } else if let Some((_, code, shift)) = KEYS.iter().find(|(k, _, _)| *k == c) {
                tap(*code, *shift, false, &mut events);
            } else if let Some((_, code)) = LETTERS.iter().find(|(k, _)| *k == c.to_ascii_lowercase()) {
                tap(*code, c.is_ascii_uppercase(), false, &mut events);
            } else {
                panic!("no key for {c:?} in the test table");
            }
        }
        tap(28, false, false, &mut events);
        events
    }

    fn decode(events: &[InputEvent], suffix: Option<Suffix>, gap: Option<u64>) -> Vec<Frame> {
        let mut d = KeyboardDecoder::new(suffix, gap);
        let mut out = Vec::new();
        for e in events {
            d.push(*e, &mut out);
        }
        d.end_of_scan(&mut out);
        out
    }

    #[test]
    fn a_marking_code_with_ctrl_bracket_as_gs() {
        let code = "0104601234567893215abcDEF+12/=\u{1d}91EE06\u{1d}92MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";
        assert_eq!(decode(&type_text(code, 0), None, None), vec![Frame::Code(code.into())]);
    }

    /// Alt held while the keypad digits of `code` are typed, then "1" and Enter.
    fn alt_code_then_1(code: &[u16]) -> Vec<InputEvent> {
        let mut seq: Vec<(u16, i32)> = vec![(56, 1)];
        for &k in code {
            seq.extend([(k, 1), (k, 0)]);
        }
        seq.extend([(56, 0), (2, 1), (2, 0), (28, 1), (28, 0)]);
        seq.iter()
            .enumerate()
            .map(|(i, &(code, value))| InputEvent {
                time_us: i as u64 * 1000,
                kind: EV_KEY,
                code,
                value,
            })
            .collect()
    }

    #[test]
    fn alt_numpad_codes() {
        // KP0 = 82, KP2 = 80, KP9 = 73: Alt+0029 is GS.
        assert_eq!(
            decode(&alt_code_then_1(&[82, 82, 80, 73]), None, None),
            vec![Frame::Code("\u{1d}1".into())]
        );
        // Alt+0200 depends on the sender's code page: refused, not guessed.
        assert_eq!(
            decode(&alt_code_then_1(&[82, 80, 82, 82]), None, None),
            vec![Frame::Garbage(FrameError::NotText)]
        );
    }

    #[test]
    fn tab_suffix_and_gap() {
        let mut events = type_text("123", 0);
        let n = events.len();
        for e in &mut events[n - 2..] {
            e.code = 15; // Tab instead of Enter
        }
        assert_eq!(decode(&events, Some(Suffix::Tab), None), vec![Frame::Code("123".into())]);
        // No suffix: a 100 ms pause between two bursts splits them at a 50 ms gap.
        // (Each burst without its Enter press and release.)
        let mut a = type_text("111", 0);
        a.truncate(a.len() - 2);
        let mut b = type_text("222", 200_000);
        b.truncate(b.len() - 2);
        a.extend(b);
        assert_eq!(
            decode(&a, Some(Suffix::None), Some(50)),
            vec![Frame::Code("111".into()), Frame::Code("222".into())]
        );
    }

    #[test]
    fn event_records_round_trip() {
        let mut bytes = Vec::new();
        for (sec, usec, kind, code, value) in [(1u64, 5u64, 1u16, 30u16, 1i32), (1, 6, 0, 0, 0)] {
            bytes.extend(sec.to_le_bytes());
            bytes.extend(usec.to_le_bytes());
            bytes.extend(kind.to_le_bytes());
            bytes.extend(code.to_le_bytes());
            bytes.extend(value.to_le_bytes());
        }
        bytes.extend([1, 2, 3]);
        let (events, used) = parse_input_events(&bytes);
        assert_eq!(used, 48);
        assert_eq!(
            events[0],
            InputEvent {
                time_us: 1_000_005,
                kind: 1,
                code: 30,
                value: 1
            }
        );
    }

    proptest! {
        #[test]
        fn typed_text_comes_back(text in "[0-9A-Za-z!%&*()_+=/?.,:;<>\"'\u{1d}-]{1,120}") {
            prop_assert_eq!(decode(&type_text(&text, 0), None, None), vec![Frame::Code(text)]);
        }

        #[test]
        fn arbitrary_events_never_panic(raw in proptest::collection::vec((any::<u64>(), 0u16..3, 0u16..260, -1i32..3), 0..300)) {
            let events: Vec<InputEvent> = raw.into_iter().map(|(time_us, kind, code, value)| InputEvent { time_us, kind, code, value }).collect();
            let _ = decode(&events, Some(Suffix::None), Some(30));
            let _ = decode(&events, None, None);
        }
    }
}
