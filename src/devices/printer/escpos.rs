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
    /// Further tables and their `ESC t` numbers, tried in order for characters `table`
    /// lacks (a profile's `second` page first, then its `fallback` pages).
    pub fallbacks: &'a [(&'static CodeTable, u8)],
}

/// The two ESC/POS fonts: A (12×24 dots on 80 mm heads) and the narrower B (9×17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    A = 0,
    B = 1,
}

/// The barcode symbologies receipts use (`GS k m n d…`, format 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbology {
    /// 12 or 13 digits; the printer adds or checks the check digit.
    Ean13 = 67,
    /// Any ASCII; sent in code set B.
    Code128 = 73,
}

/// Why a barcode or image cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("EAN-13 needs 12 or 13 digits, got {0:?}")]
    Ean13(String),
    #[error("Code 128 takes 1..=253 printable ASCII characters, got {0:?}")]
    Code128(String),
    #[error("QR data of {0} bytes does not fit in a QR code")]
    QrTooLong(usize),
    #[error("image of {width}×{height} dots: width must be 1..=65535 dots and the rows must be given")]
    Image { width: usize, height: usize },
}

/// A one-bit image: `rows` of `width` dots, each row packed MSB-first into `(width+7)/8`
/// bytes, 1 = black.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Bitmap {
    /// An image from a function of (x, y) → black.
    pub fn from_fn(width: usize, height: usize, black: impl Fn(usize, usize) -> bool) -> Bitmap {
        let row = width.div_ceil(8);
        let mut data = vec![0u8; row * height];
        for y in 0..height {
            for x in 0..width {
                if black(x, y) {
                    data[y * row + x / 8] |= 0x80 >> (x % 8);
                }
            }
        }
        Bitmap { width, height, data }
    }

    /// A QR code of `text`, each module `module` dots square, with the 4-module quiet zone.
    pub fn qr(text: &str, module: usize) -> Result<Bitmap, EncodeError> {
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .map_err(|_| EncodeError::QrTooLong(text.len()))?;
        let n = code.width();
        let colors = code.to_colors();
        let module = module.max(1);
        let side = (n + 8) * module;
        Ok(Bitmap::from_fn(side, side, |x, y| {
            let (mx, my) = (x / module, y / module);
            (4..n + 4).contains(&mx) && (4..n + 4).contains(&my) && colors[(my - 4) * n + (mx - 4)] == qrcode::Color::Dark
        }))
    }
}

pub struct EscPos<'a> {
    out: Vec<u8>,
    text: TextSetup<'a>,
    /// The `ESC t` number in force on the printer right now.
    active: u8,
}

impl<'a> EscPos<'a> {
    pub fn new(text: TextSetup<'a>) -> EscPos<'a> {
        EscPos {
            out: Vec::with_capacity(2048),
            active: text.select,
            text,
        }
    }

    /// `ESC @` (initialize), then `FS .` if needed and `ESC t n` (select the code table).
    /// `ESC @` puts the printer back on its power-on page, so every `init` re-selects ours.
    pub fn init(&mut self) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'@']);
        if self.text.cancel_chinese {
            self.out.extend_from_slice(&[FS, b'.']);
        }
        self.out.extend_from_slice(&[ESC, b't', self.text.select]);
        self.active = self.text.select;
        self
    }

    /// Raw bytes, for commands the builder does not know (status requests, `GS a`).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// `ESC - n`: underline off, one dot or two dots thick.
    pub fn underline(&mut self, dots: u8) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'-', dots.min(2)]);
        self
    }

    /// `ESC M n`: select font A or B.
    pub fn font(&mut self, font: Font) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'M', font as u8]);
        self
    }

    /// A barcode with its digits printed below (`GS H 2`), `height` dots tall, module width
    /// `module` dots (`GS w`), then `GS k m n d…`.
    pub fn barcode(&mut self, symbology: Symbology, data: &str, height: u8, module: u8) -> Result<&mut Self, EncodeError> {
        let payload: Vec<u8> = match symbology {
            Symbology::Ean13 => {
                if !(data.len() == 12 || data.len() == 13) || !data.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(EncodeError::Ean13(data.to_string()));
                }
                data.as_bytes().to_vec()
            }
            Symbology::Code128 => {
                if data.is_empty() || data.len() > 253 || !data.bytes().all(|b| (0x20..0x7F).contains(&b)) {
                    return Err(EncodeError::Code128(data.to_string()));
                }
                // `{B` selects code set B; a literal `{` is sent as `{{`.
                let mut p = b"{B".to_vec();
                for b in data.bytes() {
                    p.push(b);
                    if b == b'{' {
                        p.push(b'{');
                    }
                }
                if p.len() > 255 {
                    return Err(EncodeError::Code128(data.to_string()));
                }
                p
            }
        };
        self.out
            .extend_from_slice(&[GS, b'H', 2, GS, b'h', height.max(1), GS, b'w', module.clamp(2, 6)]);
        self.out.extend_from_slice(&[GS, b'k', symbology as u8, payload.len() as u8]);
        self.out.extend_from_slice(&payload);
        self.out.push(LF);
        Ok(self)
    }

    /// A QR code: the printer's own (`GS ( k`: model 2, module size, error level M, store,
    /// print) when `native`, else a raster image in bands of `band` rows.
    pub fn qr(&mut self, data: &str, module: u8, native: bool, band: u16) -> Result<&mut Self, EncodeError> {
        let module = module.clamp(1, 16);
        if !native {
            let image = Bitmap::qr(data, usize::from(module))?;
            return self.raster(&image, band);
        }
        // Refuse what the printer would refuse too (same capacity, level M), so the
        // fallback and the native code accept the same data.
        qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M).map_err(|_| EncodeError::QrTooLong(data.len()))?;
        let k = |out: &mut Vec<u8>, body: &[u8]| {
            let len = body.len();
            out.extend_from_slice(&[GS, b'(', b'k', (len & 0xFF) as u8, (len >> 8) as u8]);
            out.extend_from_slice(body);
        };
        k(&mut self.out, &[49, 65, 50, 0]); // fn 165: model 2
        k(&mut self.out, &[49, 67, module]); // fn 167: module size
        k(&mut self.out, &[49, 69, 49]); // fn 169: error correction M
        let mut store = vec![49, 80, 48];
        store.extend_from_slice(data.as_bytes());
        k(&mut self.out, &store); // fn 180: store the data
        k(&mut self.out, &[49, 81, 48]); // fn 181: print it
        self.out.push(LF);
        Ok(self)
    }

    /// A one-bit image as `GS v 0` raster bands of at most `band` rows each: cheap printers
    /// have small receive buffers and garble one tall image.
    pub fn raster(&mut self, image: &Bitmap, band: u16) -> Result<&mut Self, EncodeError> {
        let row = image.width.div_ceil(8);
        if image.width == 0 || row > 0xFFFF || image.data.len() != row * image.height {
            return Err(EncodeError::Image {
                width: image.width,
                height: image.height,
            });
        }
        let band = usize::from(band.max(1));
        for chunk in image.data.chunks(row * band) {
            let rows = chunk.len() / row;
            self.out.extend_from_slice(&[GS, b'v', b'0', 0]);
            self.out
                .extend_from_slice(&[(row & 0xFF) as u8, (row >> 8) as u8, (rows & 0xFF) as u8, (rows >> 8) as u8]);
            self.out.extend_from_slice(chunk);
        }
        Ok(self)
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

    /// Text in the profile's code table, no line feed. A character the table lacks is taken
    /// from the first fallback table that has it (with `ESC t` around it), else it degrades
    /// to a close ASCII substitute or `?`. The first table is in force afterwards.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.encode(text, true);
        if self.active != self.text.select {
            self.select(self.text.select);
        }
        self
    }

    fn select(&mut self, n: u8) {
        self.out.extend_from_slice(&[ESC, b't', n]);
        self.active = n;
    }

    fn encode(&mut self, text: &str, ruble_allowed: bool) {
        let primary = (self.text.table, self.text.select);
        let fallbacks = self.text.fallbacks;
        for c in text.chars() {
            let active = if self.active == primary.1 {
                Some(primary)
            } else {
                fallbacks.iter().copied().find(|(_, n)| *n == self.active)
            };
            if let Some((table, _)) = active
                && let Some(b) = table.encode_char(c)
            {
                self.out.push(b);
                continue;
            }
            let other = std::iter::once(primary)
                .chain(fallbacks.iter().copied())
                .find(|(table, n)| *n != self.active && table.encode_char(c).is_some());
            if let Some((table, n)) = other {
                self.select(n);
                self.out.extend(table.encode_char(c));
            } else if c == '₽' && ruble_allowed {
                let ruble = self.text.ruble;
                self.encode(ruble, false);
            } else if c.is_control() {
                self.out.push(b' ');
            } else if let Some(s) = codepage::substitute(c) {
                self.out.extend_from_slice(s.as_bytes());
            } else {
                self.out.push(b'?');
            }
        }
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
            fallbacks: &[],
        }
    }

    #[test]
    fn a_character_the_page_lacks_comes_from_the_second_page() {
        use crate::devices::printer::codepage::{KZ1048, WIN1251};
        let mut s = setup(false);
        let pages = [(&WIN1251, 46)];
        s.fallbacks = &pages;
        let mut p = EscPos::new(s);
        // і is not in CP866: ESC t 46, 0xB3; ў is in WIN1251 too (0xA2), so no switch back until
        // the text ends.
        p.text("Бі ў").text("ә");
        assert_eq!(p.finish(), vec![0x81, 0x1B, 0x74, 46, 0xB3, b' ', 0xA2, 0x1B, 0x74, 17, b'?']);
        // Kazakh on a KZ-1048 page; ₽ as the profile says, through the same fallback.
        let mut s = setup(false);
        s.table = &KZ1048;
        s.select = 53;
        s.ruble = "₽";
        let mut p = EscPos::new(s);
        p.text("Қ₽");
        assert_eq!(p.finish(), vec![0x8D, b'?']);
    }

    #[test]
    fn several_fallback_pages_are_tried_in_order() {
        use crate::devices::printer::codepage::{KZ1048, WIN1251};
        let mut s = setup(false);
        let pages = [(&KZ1048, 53), (&WIN1251, 46)];
        s.fallbacks = &pages;
        let mut p = EscPos::new(s);
        // і from KZ-1048 (the first that has it), ґ only from WIN1251, ә back on KZ-1048.
        p.text("іґә");
        assert_eq!(
            p.finish(),
            vec![0x1B, 0x74, 53, 0xB3, 0x1B, 0x74, 46, 0xB4, 0x1B, 0x74, 53, 0xBC, 0x1B, 0x74, 17]
        );
    }

    #[test]
    fn barcodes_qr_and_raster_are_byte_exact() {
        let mut p = EscPos::new(setup(false));
        p.barcode(Symbology::Ean13, "4601234567893", 80, 3).unwrap();
        p.barcode(Symbology::Code128, "R{1", 50, 2).unwrap();
        assert_eq!(
            p.finish(),
            [
                &[0x1D, b'H', 2, 0x1D, b'h', 80, 0x1D, b'w', 3, 0x1D, b'k', 67, 13][..],
                b"4601234567893\n",
                &[0x1D, b'H', 2, 0x1D, b'h', 50, 0x1D, b'w', 2, 0x1D, b'k', 73, 6],
                b"{BR{{1\n",
            ]
            .concat()
        );
        let mut p = EscPos::new(setup(false));
        assert!(p.barcode(Symbology::Ean13, "46012345", 80, 3).is_err());
        assert!(p.barcode(Symbology::Code128, "Молоко", 80, 3).is_err());
        assert!(p.finish().is_empty(), "a refused barcode writes nothing");

        let mut p = EscPos::new(setup(false));
        p.qr("AB", 4, true, 24).unwrap();
        assert_eq!(
            p.finish(),
            vec![
                0x1D, 0x28, 0x6B, 4, 0, 49, 65, 50, 0, // model 2
                0x1D, 0x28, 0x6B, 3, 0, 49, 67, 4, // module 4 dots
                0x1D, 0x28, 0x6B, 3, 0, 49, 69, 49, // level M
                0x1D, 0x28, 0x6B, 5, 0, 49, 80, 48, b'A', b'B', // store
                0x1D, 0x28, 0x6B, 3, 0, 49, 81, 48, // print
                0x0A,
            ]
        );

        // A 10×5 image in bands of 2 rows: 2 + 2 + 1 rows, 2 bytes a row.
        let image = Bitmap::from_fn(10, 5, |x, y| x == y);
        let mut p = EscPos::new(setup(false));
        p.raster(&image, 2).unwrap();
        let out = p.finish();
        assert_eq!(&out[..8], &[0x1D, b'v', b'0', 0, 2, 0, 2, 0]);
        assert_eq!(&out[8..12], &[0x80, 0x00, 0x40, 0x00]);
        assert_eq!(&out[24..32], &[0x1D, b'v', b'0', 0, 2, 0, 1, 0]);
        assert_eq!(out.len(), 3 * 8 + 10);
        assert!(
            EscPos::new(setup(false))
                .raster(
                    &Bitmap {
                        width: 0,
                        height: 1,
                        data: vec![]
                    },
                    2
                )
                .is_err()
        );
    }

    #[test]
    fn qr_without_native_support_is_a_raster_image() {
        let mut p = EscPos::new(setup(false));
        p.qr("https://example.org/r/1", 2, false, 24).unwrap();
        let out = p.finish();
        assert_eq!(&out[..4], &[0x1D, b'v', b'0', 0]);
        assert!(!out.windows(3).any(|w| w == [0x1D, 0x28, 0x6B]));
        // Version 2 (25 modules) + quiet zone = 33 modules × 2 dots = 66 dots → 9 bytes a row.
        assert_eq!(out[4], 9);
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
