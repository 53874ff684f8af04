//! An ESC/POS reader for the tests, written from the Epson command reference — not the
//! encoder run backwards: it has its own code-page tables (from the Unicode mapping files) and
//! its own command parser, and turns printer bytes into what a printer would do.

/// One thing the printer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Init,
    CancelChinese,
    SelectPage(u8),
    Align(u8),
    Bold(bool),
    Underline(u8),
    Font(u8),
    /// Width and height multipliers.
    Size(u8, u8),
    /// A printed line (text up to LF), with the attributes in force at its end.
    Line {
        text: String,
        bold: bool,
        align: u8,
        size: (u8, u8),
    },
    Feed(u8),
    Cut {
        partial: bool,
        feed: u8,
    },
    Drawer {
        pin: u8,
        on_ms: u16,
        off_ms: u16,
    },
    Barcode {
        kind: u8,
        data: Vec<u8>,
    },
    /// A QR code stored with `GS ( k` fn 80 and printed with fn 81.
    Qr {
        data: Vec<u8>,
        module: u8,
    },
    /// One `GS v 0` band: bytes per row, rows.
    Raster {
        width_bytes: usize,
        rows: usize,
    },
    /// Bytes the reader does not know (a test can assert there are none).
    Unknown(Vec<u8>),
}

include!("escpos_reader_tables.rs");

/// The table a page name stands for, by our profile names.
fn table(name: &str) -> Option<Vec<char>> {
    let chars = match name {
        "cp866" => CP866,
        "win1251" => WIN1251,
        "cp855" => CP855,
        "cp1125" => CP1125,
        "kz1048" => KZ1048,
        _ => return None,
    };
    Some(chars.chars().collect())
}

/// Read `bytes`; `pages` maps `ESC t n` numbers to page names (as the profile says).
pub fn read(bytes: &[u8], pages: &[(u8, &str)]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut text = String::new();
    let (mut bold, mut align, mut size) = (false, 0u8, (1u8, 1u8));
    let mut page: Option<Vec<char>> = None;
    let mut qr_data = Vec::new();
    let mut qr_module = 3;
    let mut i = 0;
    let at = |i: usize| bytes.get(i).copied();
    while i < bytes.len() {
        let b = bytes[i];
        match (b, at(i + 1)) {
            (0x0A, _) => {
                ops.push(Op::Line {
                    text: std::mem::take(&mut text),
                    bold,
                    align,
                    size,
                });
                i += 1;
            }
            (0x1B, Some(b'@')) => {
                ops.push(Op::Init);
                (bold, align, size, page) = (false, 0, (1, 1), None);
                i += 2;
            }
            (0x1C, Some(b'.')) => {
                ops.push(Op::CancelChinese);
                i += 2;
            }
            (0x1B, Some(b't')) => {
                let n = at(i + 2).unwrap_or(0);
                page = pages.iter().find(|(k, _)| *k == n).and_then(|(_, name)| table(name));
                ops.push(Op::SelectPage(n));
                i += 3;
            }
            (0x1B, Some(b'a')) => {
                align = at(i + 2).unwrap_or(0);
                ops.push(Op::Align(align));
                i += 3;
            }
            (0x1B, Some(b'E')) => {
                bold = at(i + 2) == Some(1);
                ops.push(Op::Bold(bold));
                i += 3;
            }
            (0x1B, Some(b'-')) => {
                ops.push(Op::Underline(at(i + 2).unwrap_or(0)));
                i += 3;
            }
            (0x1B, Some(b'M')) => {
                ops.push(Op::Font(at(i + 2).unwrap_or(0)));
                i += 3;
            }
            (0x1B, Some(b'd')) => {
                ops.push(Op::Feed(at(i + 2).unwrap_or(0)));
                i += 3;
            }
            (0x1B, Some(b'p')) => {
                let pin = if at(i + 2) == Some(0) { 2 } else { 5 };
                let on_ms = u16::from(at(i + 3).unwrap_or(0)) * 2;
                let off_ms = u16::from(at(i + 4).unwrap_or(0)) * 2;
                ops.push(Op::Drawer { pin, on_ms, off_ms });
                i += 5;
            }
            (0x1D, Some(b'!')) => {
                let n = at(i + 2).unwrap_or(0);
                size = ((n >> 4) + 1, (n & 0x0F) + 1);
                ops.push(Op::Size(size.0, size.1));
                i += 3;
            }
            (0x1D, Some(b'V')) => {
                let m = at(i + 2).unwrap_or(0);
                if m == 65 || m == 66 {
                    ops.push(Op::Cut {
                        partial: m == 66,
                        feed: at(i + 3).unwrap_or(0),
                    });
                    i += 4;
                } else {
                    ops.push(Op::Cut {
                        partial: m == 1 || m == 49,
                        feed: 0,
                    });
                    i += 3;
                }
            }
            (0x1D, Some(b'H' | b'h' | b'w')) => i += 3,
            (0x1D, Some(b'k')) => {
                let kind = at(i + 2).unwrap_or(0);
                let n = usize::from(at(i + 3).unwrap_or(0));
                let data = bytes.get(i + 4..i + 4 + n).unwrap_or_default().to_vec();
                ops.push(Op::Barcode { kind, data });
                i += 4 + n;
            }
            (0x1D, Some(b'(')) if at(i + 2) == Some(b'k') => {
                let len = usize::from(at(i + 3).unwrap_or(0)) + 256 * usize::from(at(i + 4).unwrap_or(0));
                let body = bytes.get(i + 5..i + 5 + len).unwrap_or_default();
                match body {
                    [49, 67, m] => qr_module = *m,
                    [49, 80, 48, data @ ..] => qr_data = data.to_vec(),
                    [49, 81, 48] => ops.push(Op::Qr {
                        data: std::mem::take(&mut qr_data),
                        module: qr_module,
                    }),
                    _ => {}
                }
                i += 5 + len;
            }
            (0x1D, Some(b'v')) if at(i + 2) == Some(b'0') => {
                let x = usize::from(at(i + 4).unwrap_or(0)) + 256 * usize::from(at(i + 5).unwrap_or(0));
                let y = usize::from(at(i + 6).unwrap_or(0)) + 256 * usize::from(at(i + 7).unwrap_or(0));
                ops.push(Op::Raster { width_bytes: x, rows: y });
                i += 8 + x * y;
            }
            (0x20..=0x7E, _) => {
                text.push(char::from(b));
                i += 1;
            }
            (0x80..=0xFF, _) => {
                let c = page.as_ref().map(|p| p[usize::from(b - 0x80)]).unwrap_or('\u{fffd}');
                text.push(c);
                i += 1;
            }
            _ => {
                ops.push(Op::Unknown(bytes[i..(i + 2).min(bytes.len())].to_vec()));
                i += 2;
            }
        }
    }
    if !text.is_empty() {
        ops.push(Op::Line { text, bold, align, size });
    }
    ops
}

/// Just the printed lines' text.
pub fn lines(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Line { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}
