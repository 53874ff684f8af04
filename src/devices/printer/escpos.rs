//! An ESC/POS byte builder: the commands receipts need, each documented with its bytes.
//!
//! Pure: it only appends bytes to a buffer. Text goes through the printer's code table; the
//! builder remembers which table it selected so [`EscPos::init`] can re-select it, because
//! `ESC @` resets the printer to its power-on page (often a Chinese or PC437 one).

use super::codepage::{self, CodeTable};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const LF: u8 = 0x0A;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left = 0,
    Center = 1,
    Right = 2,
}

/// Cash drawer connector pin: ESC/POS `m` = 0 drives pin 2, 1 drives pin 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum DrawerPin {
    #[serde(rename = "2")]
    Pin2,
    #[serde(rename = "5")]
    Pin5,
}

/// How the printer selects and encodes text.
#[derive(Debug, Clone, Copy)]
pub struct TextSetup<'a> {
    pub table: &'static CodeTable,
    /// The `n` of `ESC t n` for `table` on this printer model.
    pub select: u8,
    /// Send `FS .` first: clones that boot in Chinese (double-byte) mode otherwise print
    /// Cyrillic bytes as hieroglyphs.
    pub cancel_chinese: bool,
    /// What `₽` prints as.
    pub ruble: &'a str,
}

pub struct EscPos<'a> {
    out: Vec<u8>,
    text: TextSetup<'a>,
}

impl<'a> EscPos<'a> {
    pub fn new(text: TextSetup<'a>) -> EscPos<'a> {
        EscPos {
            out: Vec::with_capacity(2048),
            text,
        }
    }

    /// `ESC @` (initialize), then `FS .` if needed and `ESC t n` (select the code table).
    pub fn init(&mut self) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'@']);
        if self.text.cancel_chinese {
            self.out.extend_from_slice(&[FS, b'.']);
        }
        self.out.extend_from_slice(&[ESC, b't', self.text.select]);
        self
    }

    /// `ESC a n`: justification for the following lines.
    pub fn align(&mut self, align: Align) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'a', align as u8]);
        self
    }

    /// `ESC E n`: emphasized (bold) on or off.
    pub fn bold(&mut self, on: bool) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'E', u8::from(on)]);
        self
    }

    /// `GS ! n`: character size, width and height multipliers 1..=8.
    pub fn size(&mut self, width: u8, height: u8) -> &mut Self {
        let w = width.clamp(1, 8) - 1;
        let h = height.clamp(1, 8) - 1;
        self.out.extend_from_slice(&[GS, b'!', (w << 4) | h]);
        self
    }

    /// Text in the selected code table, no line feed.
    pub fn text(&mut self, text: &str) -> &mut Self {
        codepage::encode_into(text, self.text.table, self.text.ruble, &mut self.out);
        self
    }

    /// Text followed by `LF`.
    pub fn line(&mut self, text: &str) -> &mut Self {
        self.text(text);
        self.out.push(LF);
        self
    }

    /// `ESC d n`: print and feed `n` lines.
    pub fn feed(&mut self, lines: u8) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'd', lines]);
        self
    }

    /// `GS V 66 n` / `GS V 65 n`: feed `n` lines past the cutter, then cut partially or fully.
    /// A `LF` goes first so the last text line is printed, not left in the line buffer.
    pub fn cut(&mut self, partial: bool, feed: u8) -> &mut Self {
        self.out.push(LF);
        self.out.extend_from_slice(&[GS, b'V', if partial { 66 } else { 65 }, feed]);
        self
    }

    /// `ESC p m t1 t2`: pulse the drawer kick-out connector; t1/t2 are on/off times in 2 ms units.
    pub fn kick_drawer(&mut self, pin: DrawerPin, on_ms: u16, off_ms: u16) -> &mut Self {
        let m = match pin {
            DrawerPin::Pin2 => 0,
            DrawerPin::Pin5 => 1,
        };
        let units = |ms: u16| (ms / 2).clamp(1, 255) as u8;
        self.out.extend_from_slice(&[ESC, b'p', m, units(on_ms), units(off_ms)]);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::printer::codepage::CP866;

    fn setup(cancel_chinese: bool) -> TextSetup<'static> {
        TextSetup {
            table: &CP866,
            select: 17,
            cancel_chinese,
            ruble: "руб.",
        }
    }

    #[test]
    fn commands_are_byte_exact() {
        let mut p = EscPos::new(setup(false));
        p.init()
            .align(Align::Center)
            .bold(true)
            .size(1, 2)
            .line("Чек")
            .bold(false)
            .size(1, 1);
        p.kick_drawer(DrawerPin::Pin2, 50, 500).feed(3).cut(true, 0);
        assert_eq!(
            p.finish(),
            vec![
                0x1B, 0x40, 0x1B, 0x74, 17, // init, ESC t 17
                0x1B, 0x61, 1, 0x1B, 0x45, 1, 0x1D, 0x21, 0x01, // center, bold, double height
                0x97, 0xA5, 0xAA, 0x0A, // "Чек" LF in CP866
                0x1B, 0x45, 0, 0x1D, 0x21, 0x00, // bold off, normal size
                0x1B, 0x70, 0, 25, 250, // drawer pin 2, 50 ms on, 500 ms off
                0x1B, 0x64, 3, // feed 3
                0x0A, 0x1D, 0x56, 66, 0, // LF, partial cut
            ]
        );
    }

    #[test]
    fn chinese_mode_is_cancelled_before_the_table_is_selected() {
        let mut p = EscPos::new(setup(true));
        p.init();
        assert_eq!(p.finish(), vec![0x1B, 0x40, 0x1C, 0x2E, 0x1B, 0x74, 17]);
    }
}
