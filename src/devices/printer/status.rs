//! What the printer says about itself: replies to real-time status requests (`DLE EOT n`) and
//! automatic status back (`GS a n`), decoded from the raw byte stream.
//!
//! Pure: feed it the bytes that came back from the printer, in whatever pieces they arrived,
//! and read the [`PrinterStatus`] it has put together. It never panics on any input.
//!
//! The replies carry no header; they are told apart by their fixed bits (Epson "ESC/POS Command
//! Reference", `DLE EOT` and `GS a`):
//! - a `DLE EOT` reply is one byte with bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0
//!   (`b & 0x93 == 0x12`). Which of the four requests it answers is known only from the order
//!   of the requests, so the decoder is told what was asked ([`StatusDecoder::asked`]);
//! - an automatic status back is four bytes; the first has bits 0, 1 = 0, bit 4 = 1, bit 7 = 0
//!   (`0x10` under the same mask), the other three have bit 4 = 0 and bit 7 = 0.
//!
//! Anything else (XON/XOFF, a `GS I` answer, line noise) is skipped.

use serde::Serialize;

/// `DLE EOT n`: the request byte sequence for status `n` (1..=4).
pub fn request(n: StatusKind) -> [u8; 3] {
    [0x10, 0x04, n as u8]
}

/// `GS a n`: enable automatic status back for drawer (bit 0), online/offline (bit 1),
/// errors (bit 2) and the roll paper sensor (bit 3).
pub const ENABLE_ASB: [u8; 3] = [0x1D, 0x61, 0x0F];

/// Which real-time status a `DLE EOT n` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// n = 1: online/offline, drawer connector pin 3.
    Printer = 1,
    /// n = 2: why the printer is offline (cover, paper end, error).
    Offline = 2,
    /// n = 3: which error (cutter, unrecoverable, auto-recoverable).
    Error = 3,
    /// n = 4: the roll paper sensors (near end, end).
    Paper = 4,
}

/// The state of the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    #[default]
    Ok,
    NearEnd,
    End,
}

/// Everything the printer has reported so far; fields it never reported stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    pub online: Option<bool>,
    pub paper: Option<Paper>,
    pub cover_open: Option<bool>,
    pub cutter_error: Option<bool>,
    /// A mechanical or unrecoverable error: the printer needs a person (and often a power cycle).
    pub unrecoverable_error: Option<bool>,
    /// An error the printer clears by itself (head too hot, …).
    pub recoverable_error: Option<bool>,
    /// Level of the drawer connector's pin 3 (the drawer's open/closed switch).
    pub drawer_pin3_high: Option<bool>,
}

/// The words of [`PrinterStatus::words`] that mean "cannot print now" (for a reader that has
/// only the words, like `storeterm doctor` asking the daemon).
pub const BLOCKING_WORDS: &[&str] = &[
    "нет бумаги",
    "открыта крышка",
    "ошибка отрезчика",
    "неисправность принтера",
    "временная ошибка принтера",
    "принтер не в сети",
];

impl PrinterStatus {
    /// The printer cannot print now: a job sent now would sit in its buffer (and come out
    /// later, unasked) or be lost.
    pub fn blocks_printing(&self) -> bool {
        self.online == Some(false)
            || self.paper == Some(Paper::End)
            || self.cover_open == Some(true)
            || self.cutter_error == Some(true)
            || self.unrecoverable_error == Some(true)
            || self.recoverable_error == Some(true)
    }

    /// Whether anything was reported at all.
    pub fn is_known(&self) -> bool {
        *self != PrinterStatus::default()
    }

    /// The status in the cashier's words, most urgent first. `drawer_open_when_high` says how
    /// the drawer's switch is wired (a profile fact); `None`: unknown, the drawer is not named.
    pub fn words(&self, drawer_open_when_high: Option<bool>) -> Vec<&'static str> {
        let mut words = Vec::new();
        if self.paper == Some(Paper::End) {
            words.push("нет бумаги");
        }
        if self.cover_open == Some(true) {
            words.push("открыта крышка");
        }
        if self.cutter_error == Some(true) {
            words.push("ошибка отрезчика");
        }
        if self.unrecoverable_error == Some(true) {
            words.push("неисправность принтера");
        }
        if self.recoverable_error == Some(true) {
            words.push("временная ошибка принтера");
        }
        if self.online == Some(false) && words.is_empty() {
            words.push("принтер не в сети");
        }
        if self.paper == Some(Paper::NearEnd) {
            words.push("бумага заканчивается");
        }
        if let (Some(high), Some(drawer_open_when_high)) = (self.drawer_pin3_high, drawer_open_when_high) {
            words.push(if high == drawer_open_when_high {
                "ящик открыт"
            } else {
                "ящик закрыт"
            });
        }
        if words.is_empty() || words.iter().all(|w| w.starts_with("ящик")) {
            words.insert(0, "готов");
        }
        words
    }

    fn printer_byte(&mut self, b: u8) {
        self.drawer_pin3_high = Some(b & 0x04 != 0);
        self.online = Some(b & 0x08 == 0);
    }

    fn offline_byte(&mut self, b: u8) {
        self.cover_open = Some(b & 0x04 != 0);
        if b & 0x20 != 0 {
            self.paper = Some(Paper::End);
        } else if self.paper == Some(Paper::End) {
            self.paper = None;
        }
    }

    fn error_byte(&mut self, b: u8) {
        self.cutter_error = Some(b & 0x08 != 0);
        self.unrecoverable_error = Some(b & 0x24 != 0);
        self.recoverable_error = Some(b & 0x40 != 0);
    }

    fn paper_byte(&mut self, b: u8) {
        self.paper = Some(if b & 0x60 != 0 {
            Paper::End
        } else if b & 0x0C != 0 {
            Paper::NearEnd
        } else {
            Paper::Ok
        });
    }

    /// Automatic status back, four bytes (Epson `GS a`): byte 1 drawer/online/cover, byte 2
    /// errors, byte 3 paper sensors, byte 4 reserved.
    fn asb(&mut self, b: [u8; 4]) {
        self.drawer_pin3_high = Some(b[0] & 0x04 != 0);
        self.online = Some(b[0] & 0x08 == 0);
        self.cover_open = Some(b[0] & 0x20 != 0);
        self.unrecoverable_error = Some(b[1] & 0x24 != 0);
        self.cutter_error = Some(b[1] & 0x08 != 0);
        self.recoverable_error = Some(b[1] & 0x40 != 0);
        self.paper = Some(if b[2] & 0x0C != 0 {
            Paper::End
        } else if b[2] & 0x03 != 0 {
            Paper::NearEnd
        } else {
            Paper::Ok
        });
    }
}

/// The byte-stream state machine.
#[derive(Debug, Clone, Default)]
pub struct StatusDecoder {
    /// Requests sent and not answered yet, oldest first.
    pending: std::collections::VecDeque<StatusKind>,
    /// Bytes of an automatic status back collected so far.
    asb: Vec<u8>,
    status: PrinterStatus,
    replies: u32,
}

/// Longest queue of unanswered requests kept: a printer that never answers must not grow it.
const MAX_PENDING: usize = 16;

impl StatusDecoder {
    pub fn new() -> StatusDecoder {
        StatusDecoder::default()
    }

    /// A `DLE EOT n` request went out; its one-byte reply is expected in order.
    pub fn asked(&mut self, kind: StatusKind) {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(kind);
    }

    /// Feed bytes read from the printer.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if !self.asb.is_empty() {
            if b & 0x90 == 0 {
                self.asb.push(b);
                if self.asb.len() == 4 {
                    let block = [self.asb[0], self.asb[1], self.asb[2], self.asb[3]];
                    self.asb.clear();
                    self.status.asb(block);
                    self.replies += 1;
                }
                return;
            }
            // Not a continuation: the block was broken off; start over with this byte.
            self.asb.clear();
        }
        match b & 0x93 {
            0x12 => {
                let Some(kind) = self.pending.pop_front() else {
                    // An answer to nothing we asked (a stale reply): ignore it.
                    return;
                };
                match kind {
                    StatusKind::Printer => self.status.printer_byte(b),
                    StatusKind::Offline => self.status.offline_byte(b),
                    StatusKind::Error => self.status.error_byte(b),
                    StatusKind::Paper => self.status.paper_byte(b),
                }
                self.replies += 1;
            }
            0x10 => self.asb.push(b),
            _ => {}
        }
    }

    /// Requests still waiting for their reply.
    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }

    /// How many complete replies were decoded.
    pub fn replies(&self) -> u32 {
        self.replies
    }

    pub fn status(&self) -> &PrinterStatus {
        &self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn asked_all() -> StatusDecoder {
        let mut d = StatusDecoder::new();
        for k in [StatusKind::Printer, StatusKind::Offline, StatusKind::Error, StatusKind::Paper] {
            d.asked(k);
        }
        d
    }

    #[test]
    fn a_healthy_printer() {
        let mut d = asked_all();
        d.feed(&[0x16, 0x12, 0x12, 0x12]);
        let s = d.status();
        assert!(!s.blocks_printing());
        assert_eq!(s.paper, Some(Paper::Ok));
        assert_eq!(s.words(Some(false)), vec!["готов", "ящик закрыт"]);
        assert_eq!(d.unanswered(), 0);
    }

    #[test]
    fn paper_end_is_offline_with_the_cause() {
        let mut d = asked_all();
        // Offline; paper-end stop; no error; both paper sensors.
        d.feed(&[0x1A, 0x32, 0x12, 0x7E]);
        let s = d.status().clone();
        assert!(s.blocks_printing());
        assert_eq!((s.online, s.paper), (Some(false), Some(Paper::End)));
        assert_eq!(s.words(Some(true)), vec!["нет бумаги", "ящик закрыт"]);
    }

    #[test]
    fn cover_and_cutter_and_near_end() {
        let mut d = asked_all();
        d.feed(&[0x1A, 0x16, 0x1A, 0x1E]);
        let s = d.status();
        assert_eq!(s.cover_open, Some(true));
        assert_eq!(s.cutter_error, Some(true));
        assert_eq!(s.paper, Some(Paper::NearEnd));
        assert_eq!(
            s.words(Some(false)),
            vec!["открыта крышка", "ошибка отрезчика", "бумага заканчивается", "ящик открыт"]
        );
    }

    #[test]
    fn replies_arriving_in_pieces_and_noise_between_them() {
        let mut d = StatusDecoder::new();
        d.asked(StatusKind::Paper);
        d.feed(&[0x11, 0x00, 0xFF]); // XON, NUL, noise
        assert_eq!(d.replies(), 0);
        d.feed(&[0x12]);
        assert_eq!(d.status().paper, Some(Paper::Ok));
        // A reply nobody asked for changes nothing.
        d.feed(&[0x72]);
        assert_eq!(d.status().paper, Some(Paper::Ok));
    }

    #[test]
    fn automatic_status_back_is_told_apart_from_dle_eot() {
        let mut d = StatusDecoder::new();
        d.asked(StatusKind::Printer);
        // ASB: cover open, offline; no errors; paper end; reserved — then the DLE EOT 1 reply.
        d.feed(&[0x38, 0x00, 0x0C, 0x00, 0x12]);
        let s = d.status();
        assert_eq!(s.cover_open, Some(true));
        assert_eq!(s.paper, Some(Paper::End));
        // The DLE EOT 1 reply (online) came after the block.
        assert_eq!(s.online, Some(true));
        assert_eq!(d.replies(), 2);
        // A block broken off by a DLE EOT-looking byte is dropped, not misread.
        let mut d = StatusDecoder::new();
        d.feed(&[0x10, 0x00, 0x92, 0x00, 0x00, 0x00]);
        assert_eq!(d.replies(), 0);
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), asks in 0usize..40) {
            let mut d = StatusDecoder::new();
            for i in 0..asks {
                d.asked([StatusKind::Printer, StatusKind::Offline, StatusKind::Error, StatusKind::Paper][i % 4]);
            }
            d.feed(&bytes);
            prop_assert!(d.unanswered() <= MAX_PENDING);
            let _ = d.status().words(None);
        }

        #[test]
        fn split_anywhere_gives_the_same_status(bytes in proptest::collection::vec(any::<u8>(), 0..64), cut in 0usize..64) {
            let cut = cut.min(bytes.len());
            let mut whole = asked_all();
            whole.feed(&bytes);
            let mut split = asked_all();
            split.feed(&bytes[..cut]);
            split.feed(&bytes[cut..]);
            prop_assert_eq!(whole.status(), split.status());
        }
    }
}
