//! Printouts besides the sale receipt: the X and Z shift reports, the code-page test page and
//! the status page. Pure, like the receipt layout: data and `now` in, bytes out.

use super::codepage::CodeTable;
use super::escpos::{Align, EscPos};
use super::layout::{Letterhead, end_of_paper, letterhead, method_name, two_columns, vat_line};
use super::profile::PrinterProfile;
use super::status::PrinterStatus;
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod};
use crate::domain::shift::Shift;
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Which shift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftReport {
    /// Totals so far; the shift stays open.
    X,
    /// Totals of a closed shift.
    Z,
}

fn when(at: Timestamp, head: &Letterhead<'_>) -> String {
    at.to_zoned(head.tz.clone()).strftime("%d.%m.%Y %H:%M").to_string()
}

/// The X or Z report of `shift`: receipts, sales, money by payment method and VAT by rate
/// (from the shift's closed `receipts`), change handed out, printed at `now`.
pub fn shift_report(
    kind: ShiftReport,
    shift: &Shift,
    receipts: &[ClosedReceipt],
    head: &Letterhead<'_>,
    profile: &PrinterProfile,
    now: Timestamp,
) -> Vec<u8> {
    let width = profile.columns;
    let rule = "-".repeat(width);
    let mut p = EscPos::new(profile.text_setup());
    p.init();
    letterhead(&mut p, head, width);
    let title = match kind {
        ShiftReport::X => "ОТЧЁТ БЕЗ ГАШЕНИЯ (X)",
        ShiftReport::Z => "ОТЧЁТ О ЗАКРЫТИИ СМЕНЫ (Z)",
    };
    p.bold(true).line(title).bold(false).align(Align::Left);
    let mut body = Vec::new();
    body.extend(two_columns(
        &format!("Смена № {}", shift.number),
        &format!("Касса {}", shift.lane),
        width,
    ));
    body.extend(two_columns("Кассир", &shift.cashier, width));
    body.extend(two_columns("Открыта", &when(shift.opened_at, head), width));
    if let Some(closed) = shift.closed_at {
        body.extend(two_columns("Закрыта", &when(closed, head), width));
    }
    body.extend(two_columns("Напечатан", &when(now, head), width));
    body.push(rule.clone());
    body.extend(two_columns("Чеков продажи", &shift.receipts.to_string(), width));
    body.extend(two_columns("Продажи", &shift.totals.sales.to_string(), width));
    let mut by_method: BTreeMap<&str, Decimal> = BTreeMap::new();
    for method in [PaymentMethod::Cash, PaymentMethod::Card] {
        by_method.insert(method_name(method), Decimal::ZERO);
    }
    for r in receipts {
        for payment in &r.receipt.payments {
            *by_method.entry(method_name(payment.method)).or_default() += payment.amount;
        }
    }
    for (method, sum) in &by_method {
        body.extend(two_columns(&format!("  {method}"), &money::to_money(*sum).to_string(), width));
    }
    body.extend(two_columns("Сдача выдана", &shift.totals.change.to_string(), width));
    body.extend(two_columns("Наличных в кассе", &shift.totals.cash.to_string(), width));
    body.push(rule.clone());
    let mut by_vat: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in receipts {
        for line in &r.receipt.lines {
            *by_vat.entry(line.vat.as_str()).or_default() += line.sum;
        }
    }
    for (vat, sum) in by_vat {
        body.extend(vat_line(vat, sum, width));
    }
    body.push(rule);
    for line in &body {
        p.line(line);
    }
    end_of_paper(&mut p, profile);
    p.finish()
}

/// Sample lines in the languages the tables are for.
const SAMPLES: &[&str] = &[
    "Русский: Съешь же ещё этих мягких французских булок",
    "Беларуская: і ў І Ў",
    "Українська: ґ є ї Ґ Є Ї",
    "Қазақша: ә ғ қ ң ө ұ ү һ",
    "Знаки: № « » — ₽",
];

fn chart(p: &mut EscPos<'_>, table: &CodeTable, select: u8) {
    p.bold(true).line(&format!("ESC t {select} = {}", table.name)).bold(false);
    // The bytes themselves, 16 a line, so a wrong page on the printer shows at a glance.
    p.raw(&[0x1B, b't', select]);
    for row in 0..8u8 {
        let start = 0x80 + row * 16;
        p.raw(format!("{start:02X} ").as_bytes());
        let bytes: Vec<u8> = (0..16u8)
            .map(|i| start + i)
            .map(|b| if table.decode(b) == '\u{fffd}' { b'.' } else { b })
            .collect();
        p.raw(&bytes).raw(b"\n");
    }
}

/// The code-page test page: the chart of each of the profile's pages, then sample text in
/// Russian, Belarusian, Ukrainian and Kazakh through the normal encoder (with its fallback).
pub fn codepage_test_page(profile: &PrinterProfile) -> Vec<u8> {
    let mut p = EscPos::new(profile.text_setup());
    p.init()
        .align(Align::Center)
        .bold(true)
        .line("ПРОВЕРКА КОДОВЫХ СТРАНИЦ")
        .bold(false);
    p.line(&profile.model).align(Align::Left);
    let setup = profile.text_setup();
    chart(&mut p, setup.table, setup.select);
    if let Some((table, select)) = setup.second {
        chart(&mut p, table, select);
    }
    // Back on the first page for the samples.
    p.raw(&[0x1B, b't', setup.select]);
    for sample in SAMPLES {
        for line in super::layout::wrap(sample, profile.columns) {
            p.line(&line);
        }
    }
    end_of_paper(&mut p, profile);
    p.finish()
}

/// The status page: profile facts and what the printer reported.
pub fn status_page(
    profile: &PrinterProfile,
    device: &str,
    status: &PrinterStatus,
    firmware: Option<&str>,
    head: &Letterhead<'_>,
    now: Timestamp,
) -> Vec<u8> {
    let width = profile.columns;
    let mut p = EscPos::new(profile.text_setup());
    p.init()
        .align(Align::Center)
        .bold(true)
        .line("СОСТОЯНИЕ ПРИНТЕРА")
        .bold(false)
        .align(Align::Left);
    let setup = profile.text_setup();
    let mut lines = Vec::new();
    lines.extend(two_columns("Устройство", device, width));
    lines.extend(two_columns("Профиль", &profile.id, width));
    lines.extend(super::layout::wrap(&profile.model, width));
    lines.extend(two_columns("Символов в строке", &profile.columns.to_string(), width));
    let mut pages = format!("{} (ESC t {})", setup.table.name, setup.select);
    if let Some((table, select)) = setup.second {
        pages.push_str(&format!(", {} (ESC t {select})", table.name));
    }
    lines.extend(two_columns("Кодовые страницы", &pages, width));
    lines.extend(two_columns("Прошивка", firmware.unwrap_or("не сообщила"), width));
    lines.extend(two_columns("Проверено", &when(now, head), width));
    lines.push("-".repeat(width));
    if status.is_known() {
        for word in status.words(profile.status.drawer_open_when_high()) {
            lines.push(word.to_string());
        }
    } else {
        lines.push("принтер не ответил на запрос состояния".to_string());
    }
    for line in &lines {
        p.line(line);
    }
    end_of_paper(&mut p, profile);
    p.finish()
}

/// The printer's answer to `GS I n` for n ≥ 65 ("printer information B"): `_` (0x5F), the text,
/// NUL. Returns the text once the block is complete.
pub fn printer_info_block(bytes: &[u8]) -> Option<String> {
    let start = bytes.iter().position(|&b| b == 0x5F)?;
    let len = bytes[start + 1..].iter().position(|&b| b == 0)?;
    let text = &bytes[start + 1..start + 1 + len];
    text.iter()
        .all(|b| (0x20..0x7F).contains(b))
        .then(|| String::from_utf8_lossy(text).into_owned())
}

/// `GS I 65`: ask for the firmware version.
pub const ASK_FIRMWARE: [u8; 3] = [0x1D, b'I', 65];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_info_blocks() {
        assert_eq!(printer_info_block(b"\x12_1.01 ESC/POS\x00").as_deref(), Some("1.01 ESC/POS"));
        assert_eq!(printer_info_block(b"_1.01"), None);
        assert_eq!(printer_info_block(b"_\xff\x00"), None);
        assert_eq!(printer_info_block(b""), None);
    }

    #[test]
    fn the_charts_hold_every_upper_byte_once() {
        let profiles = crate::devices::profiles::Profiles::load(None).unwrap();
        let profile = profiles.printer("epson-tm-t20iii").unwrap();
        let page = codepage_test_page(profile);
        for b in 0x80..=0xFFu8 {
            let cp866 = crate::devices::printer::codepage::CP866.decode(b) != '\u{fffd}';
            assert!(!cp866 || page.contains(&b), "{b:#x}");
        }
        // Both charts are selected by number, and the samples are back on the first page.
        let selects: Vec<u8> = page.windows(3).filter(|w| w[..2] == [0x1B, b't']).map(|w| w[2]).collect();
        assert_eq!(&selects[..4], &[17, 17, 53, 17]);
    }
}
