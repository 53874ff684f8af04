//! What a receipt would look like on paper, as text: an ESC/POS interpreter for the virtual
//! printer, whose output the admin page shows.
//!
//! It reads the bytes exactly as a printer would receive them (commands, code table switches,
//! alignment), so the demo shows the real job, not a re-rendering of the receipt.

use super::codepage::{CP866, CodeTable};
use super::profile::PrinterProfile;

const ESC: u8 = 0x1B;
const FS: u8 = 0x1C;
const GS: u8 = 0x1D;

/// A marker line for a cut.
pub const CUT: &str = "✂ - - - - - - - - - - - - - - - -";
/// A marker line for a barcode.
pub const BARCODE: &str = "[штрихкод]";
/// A marker line for a QR code printed by the printer itself.
pub const QR: &str = "[QR-код]";
/// A marker line for a raster image (a logo, a QR code sent as an image).
pub const IMAGE: &str = "[изображение]";
/// A marker line for a drawer pulse.
pub const DRAWER: &str = "[денежный ящик открыт]";

/// Render ESC/POS bytes as lines of text, `profile.columns` wide.
pub fn render(bytes: &[u8], profile: &PrinterProfile) -> Vec<String> {
    let mut r = Renderer {
        lines: Vec::new(),
        current: String::new(),
        align: 0,
        width: profile.columns,
        table: profile.table_for(profile.codepage.select).unwrap_or(&CP866),
    };
    let mut i = 0;
    // Arguments of a command that runs past the end are simply absent: a truncated job
    // renders as far as it goes.
    let arg = |i: usize| bytes.get(i).copied().unwrap_or(0);
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'\n' => r.flush(),
            ESC => {
                let cmd = arg(i);
                i += 1;
                match cmd {
                    b'@' => r.align = 0,
                    b't' => {
                        r.table = profile.table_for(arg(i)).unwrap_or(r.table);
                        i += 1;
                    }
                    b'a' => {
                        r.align = arg(i) % 48;
                        i += 1;
                    }
                    b'd' => {
                        r.flush_if_pending();
                        for _ in 0..arg(i) {
                            r.lines.push(String::new());
                        }
                        i += 1;
                    }
                    b'p' => {
                        r.flush_if_pending();
                        r.lines.push(DRAWER.to_string());
                        i += 3;
                    }
                    b'E' | b'-' | b'M' | b'G' | b'J' | b'!' | b'3' => i += 1,
                    _ => {}
                }
            }
            FS => i += usize::from(arg(i) != b'.' && arg(i) != b'&') + 1,
            GS => {
                let cmd = arg(i);
                i += 1;
                match cmd {
                    b'V' => {
                        r.flush_if_pending();
                        r.lines.push(CUT.to_string());
                        // GS V m, or GS V m n for m = 65/66.
                        i += if arg(i) >= 65 { 2 } else { 1 };
                    }
                    b'(' => {
                        // GS ( fn pL pH data: skip the data; a QR print (fn 81) shows as a mark.
                        let len = usize::from(arg(i + 1)) + 256 * usize::from(arg(i + 2));
                        if arg(i) == b'k' && arg(i + 4) == 81 {
                            r.flush_if_pending();
                            r.lines.push(QR.to_string());
                        }
                        i += 3 + len;
                    }
                    b'k' => {
                        // GS k m n d1…dn (m ≥ 65) or GS k m d… NUL (m < 65).
                        r.flush_if_pending();
                        r.lines.push(BARCODE.to_string());
                        if arg(i) >= 65 {
                            i += 2 + usize::from(arg(i + 1));
                        } else {
                            i += 1;
                            while i < bytes.len() && bytes[i] != 0 {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    b'v' => {
                        // GS v 0 m xL xH yL yH data: one raster band.
                        let x = usize::from(arg(i + 2)) + 256 * usize::from(arg(i + 3));
                        let y = usize::from(arg(i + 4)) + 256 * usize::from(arg(i + 5));
                        r.flush_if_pending();
                        if r.lines.last().map(String::as_str) != Some(IMAGE) {
                            r.lines.push(IMAGE.to_string());
                        }
                        i += 6 + x * y;
                    }
                    _ => i += 1,
                }
            }
            0x20.. => r.current.push(r.table.decode(b)),
            _ => {}
        }
    }
    r.flush_if_pending();
    r.lines
}

struct Renderer {
    lines: Vec<String>,
    current: String,
    align: u8,
    width: usize,
    table: &'static CodeTable,
}

impl Renderer {
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.current);
        let len = text.chars().count();
        let pad = self.width.saturating_sub(len);
        let line = match self.align {
            1 | 49 => format!("{}{text}", " ".repeat(pad / 2)),
            2 | 50 => format!("{}{text}", " ".repeat(pad)),
            _ => text,
        };
        self.lines.push(line.trim_end().to_string());
    }

    fn flush_if_pending(&mut self) {
        if !self.current.is_empty() {
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::printer::escpos::{Align, DrawerPin, EscPos};
    use crate::devices::profiles::Profiles;

    #[test]
    fn renders_text_alignment_cut_and_drawer() {
        let profiles = Profiles::load(None).unwrap();
        let profile = profiles.printer("generic-58mm").unwrap();
        let mut p = EscPos::new(profile.text_setup());
        p.init()
            .kick_drawer(DrawerPin::Pin2, 50, 500)
            .align(Align::Center)
            .line("Чек")
            .align(Align::Left)
            .line("Молоко")
            .cut(true, 0);
        let lines = render(&p.finish(), profile);
        assert_eq!(
            lines,
            vec![
                DRAWER.to_string(),
                format!("{}Чек", " ".repeat(14)),
                "Молоко".into(),
                String::new(),
                CUT.into()
            ]
        );
    }

    #[test]
    fn truncated_or_random_bytes_do_not_panic() {
        let profiles = Profiles::load(None).unwrap();
        let profile = profiles.printer("generic-80mm").unwrap();
        for bytes in [&b"\x1b"[..], b"\x1d(", b"\x1dV", b"\x1c", b"\x1d(k\xff\xff"] {
            let _ = render(bytes, profile);
        }
    }
}
