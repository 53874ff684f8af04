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

/// The X or Z report of `shift`, printed at `now`, from the shift's totals: receipts, sales
/// and discounts, money by payment method (cash as tendered, then the change handed out),
/// returns and refunds by method, cash put in and taken out, the cash the drawer should hold,
/// and VAT by rate on sales less returns. `receipts` (the shift's closed receipts) are read
/// only for a shift opened before VAT totals were kept, to count its VAT.
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
    let t = &shift.totals;
    let amount = |d: Decimal| money::to_money(d).to_string();
    let mut body = Vec::new();
    body.extend(two_columns(
        &format!("Смена № {}", shift.number),
        &format!("Касса {}", shift.lane),
        width,
    ));
    body.extend(two_columns("Кассир", shift.responsible(), width));
    body.extend(two_columns("Открыта", &when(shift.opened_at, head), width));
    if let Some(closed) = shift.closed_at {
        body.extend(two_columns("Закрыта", &when(closed, head), width));
    }
    body.extend(two_columns("Напечатан", &when(now, head), width));
    body.push(rule.clone());
    body.extend(two_columns("Чеков продажи", &shift.receipts.to_string(), width));
    body.extend(two_columns("Продажи", &amount(t.sales), width));
    body.extend(two_columns("  в т.ч. скидки", &amount(t.discounts), width));
    for method in PaymentMethod::ALL {
        // Cash as the customers handed it over; the change follows on its own line.
        let sum = match method {
            PaymentMethod::Cash => t.cash.checked_add(t.change).unwrap_or(t.cash),
            other => t.sales_by(other),
        };
        if matches!(method, PaymentMethod::Cash | PaymentMethod::Card) || sum != Decimal::ZERO {
            body.extend(two_columns(&format!("  {}", method_name(method)), &amount(sum), width));
        }
    }
    body.extend(two_columns("Сдача выдана", &amount(t.change), width));
    body.push(rule.clone());
    body.extend(two_columns("Чеков возврата", &shift.returns.to_string(), width));
    body.extend(two_columns("Возвраты", &amount(t.refunds), width));
    for method in PaymentMethod::ALL {
        let sum = t.refunds_by(method);
        if sum != Decimal::ZERO {
            body.extend(two_columns(
                &format!("  возврат: {}", method_name(method).to_lowercase()),
                &amount(sum),
                width,
            ));
        }
    }
    body.extend(two_columns("Внесено", &amount(t.cash_in), width));
    body.extend(two_columns("Изъято", &amount(t.cash_out), width));
    body.extend(two_columns("Наличных в кассе", &amount(t.drawer()), width));
    body.push(rule.clone());
    let by_vat: BTreeMap<String, Decimal> = match &shift.by_vat {
        Some(by_vat) => by_vat.clone(),
        None => {
            let mut by_vat: BTreeMap<String, Decimal> = BTreeMap::new();
            for line in receipts.iter().flat_map(|r| &r.receipt.lines) {
                let sum = by_vat.entry(line.vat.clone()).or_default();
                *sum = sum.saturating_add(line.to_pay());
            }
            by_vat
        }
    };
    for (vat, sum) in by_vat {
        body.extend(vat_line(&vat, sum, width));
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
    for (table, select) in profile.code_pages() {
        chart(&mut p, table, select);
    }
    // Back on the first page for the samples.
    p.raw(&[0x1B, b't', profile.codepage.select]);
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
    let mut lines = Vec::new();
    lines.extend(two_columns("Устройство", device, width));
    lines.extend(two_columns("Профиль", &profile.id, width));
    lines.extend(super::layout::wrap(&profile.model, width));
    lines.extend(two_columns("Символов в строке", &profile.columns.to_string(), width));
    let pages = profile
        .code_pages()
        .iter()
        .map(|(table, select)| format!("{} (ESC t {select})", table.name))
        .collect::<Vec<_>>()
        .join(", ");
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
        // Every chart is selected by number, and the samples are back on the first page.
        let selects: Vec<u8> = page.windows(3).filter(|w| w[..2] == [0x1B, b't']).map(|w| w[2]).collect();
        assert_eq!(&selects[..5], &[17, 17, 53, 46, 17]);
    }
}
