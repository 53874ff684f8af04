//! Receipt layouts: what goes on paper, laid out for the profile's width.
//!
//! Composition is plain text arithmetic (columns counted in characters, not bytes), then the
//! [`EscPos`] builder turns it into bytes for the model.

use super::escpos::{Align, EscPos};
use super::profile::PrinterProfile;
use crate::config::ShopConfig;
use crate::domain::drawer::{CashDirection, CashMovement};
use crate::domain::money;
use crate::domain::pricing::Discount;
use crate::domain::receipt::{ClosedReceipt, Payment, PaymentMethod};
use crate::domain::returns::ClosedReturn;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Who prints and where: the shop's letterhead and the time zone times are shown in.
pub struct Letterhead<'a> {
    pub shop: &'a ShopConfig,
    pub tz: &'a TimeZone,
}

/// Options of one printout of a sale receipt (and of a return receipt or a cash slip).
#[derive(Debug, Clone, Copy, Default)]
pub struct SaleOptions {
    /// Open the drawer first, so the cashier can count change while the receipt prints.
    pub kick_drawer: bool,
    /// A reprint: marked «КОПИЯ» so it cannot pass for a second purchase.
    pub copy: bool,
}

/// `left` and `right` on one line of `width` characters, with at least one space between;
/// when they do not fit, `left` gets a line of its own.
pub fn two_columns(left: &str, right: &str, width: usize) -> Vec<String> {
    let (l, r) = (left.chars().count(), right.chars().count());
    if l + 1 + r <= width {
        return vec![format!("{left}{}{right}", " ".repeat(width - l - r))];
    }
    let mut lines = wrap(left, width);
    lines.push(format!("{right:>width$}"));
    lines
}

/// Break `text` into lines of at most `width` characters, at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= width {
                if gap == 1 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            // A single word longer than the line: hard-break it.
            let rest = word.split_off(width);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

fn quantity(qty: Decimal, weighted: bool) -> String {
    if weighted {
        format!("{:.3} кг", qty)
    } else {
        qty.normalize().to_string()
    }
}

/// The shop's name (bold), address, ИНН and header lines, centred. Leaves the alignment
/// centred for the title that follows.
pub fn letterhead(p: &mut EscPos<'_>, head: &Letterhead<'_>, width: usize) {
    p.align(Align::Center).bold(true);
    for line in wrap(&head.shop.name, width) {
        p.line(&line);
    }
    p.bold(false);
    let mut details: Vec<String> = Vec::new();
    if !head.shop.address.is_empty() {
        details.push(head.shop.address.clone());
    }
    if !head.shop.inn.is_empty() {
        details.push(format!("ИНН {}", head.shop.inn));
    }
    details.extend(head.shop.header.iter().cloned());
    for line in details.iter().flat_map(|d| wrap(d, width)) {
        p.line(&line);
    }
}

/// The words a payment method prints as.
pub fn method_name(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Cash => "Наличными",
        PaymentMethod::Card => "Банковской картой",
        PaymentMethod::Bonus => "Бонусами",
        PaymentMethod::Credit => "В кредит",
    }
}

/// What a discount prints as under its line: the promotion's name, or what the cashier gave.
fn discount_label(d: &Discount) -> String {
    match (&d.promotion, d.receipt_wide) {
        (Some(p), _) => p.name.clone(),
        (None, true) => "Скидка на чек".to_string(),
        (None, false) => "Скидка".to_string(),
    }
}

/// Payment (or refund) lines: the method and amount, the card's RRN under it when typed.
fn payment_lines(payments: &[Payment], width: usize, amount: impl Fn(Decimal) -> String) -> Vec<String> {
    let mut lines = Vec::new();
    for payment in payments {
        lines.extend(two_columns(method_name(payment.method), &amount(payment.amount), width));
        if let Some(rrn) = &payment.rrn {
            lines.extend(two_columns("  RRN", rrn, width));
        }
    }
    lines
}

/// An amount for people ([`money::for_people`]) with `₽` spelled the profile's way, so the
/// columns are counted on what is actually printed.
pub fn rubles(amount: Decimal, profile: &PrinterProfile) -> String {
    money::for_people(amount).replace('₽', &profile.ruble)
}

fn when(at: jiff::Timestamp, head: &Letterhead<'_>) -> String {
    at.to_zoned(head.tz.clone()).strftime("%d.%m.%Y %H:%M").to_string()
}

/// VAT included in `sum` at the catalog's rate text (`"20"`, `"10"`, `"none"`), as one line.
pub fn vat_line(vat: &str, sum: Decimal, width: usize) -> Vec<String> {
    match money::vat_rate(vat) {
        Some(rate) => two_columns(&format!("В т.ч. НДС {rate}%"), &money::vat_included(sum, rate).to_string(), width),
        None => two_columns("Без НДС", &money::to_money(sum).to_string(), width),
    }
}

/// The sale receipt («товарный чек») for a closed receipt.
pub fn sale_receipt(sale: &ClosedReceipt, head: &Letterhead<'_>, profile: &PrinterProfile, options: SaleOptions) -> Vec<u8> {
    let width = profile.columns;
    let rule = "-".repeat(width);
    let r = &sale.receipt;
    let mut p = EscPos::new(profile.text_setup());
    p.init();
    if options.kick_drawer {
        p.kick_drawer(profile.drawer.pin, profile.drawer.on_ms, profile.drawer.off_ms);
    }

    letterhead(&mut p, head, width);
    if options.copy {
        p.bold(true).line("КОПИЯ").bold(false);
    }
    p.bold(true).line(&format!("ТОВАРНЫЙ ЧЕК № {}", r.number)).bold(false);
    p.align(Align::Left);

    let closed = sale.closed_at.to_zoned(head.tz.clone()).strftime("%d.%m.%Y %H:%M").to_string();
    let mut body = Vec::new();
    body.extend(two_columns(
        &format!("Смена № {}", r.shift_number),
        &format!("Касса {}", r.lane),
        width,
    ));
    body.extend(two_columns(&closed, &format!("Кассир: {}", r.cashier), width));
    if let Some(client) = &r.client {
        body.extend(wrap(&format!("Покупатель: {}", client.name), width));
    }
    body.push(rule.clone());
    for line in &r.lines {
        body.extend(wrap(&format!("{}. {}", line.no, line.name), width));
        let calc = format!("{} x {} = {}", quantity(line.qty, line.weighted), line.price, line.sum);
        body.push(format!("{calc:>width$}"));
        // Each discount under its line, by name, so the customer sees why the price fell.
        for d in &line.discounts {
            body.extend(two_columns(&format!("  {}", discount_label(d)), &format!("-{}", d.amount), width));
        }
    }
    body.push(rule.clone());
    let discount = r.discount_total();
    if discount > Decimal::ZERO {
        body.extend(two_columns("Сумма без скидок", &r.subtotal().to_string(), width));
        body.extend(two_columns("Скидка", &format!("-{}", money::to_money(discount)), width));
    }
    for line in &body {
        p.line(line);
    }

    p.bold(true).size(1, 2);
    for line in two_columns("ИТОГО", &format!("={}", sale.total), width) {
        p.line(&line);
    }
    p.size(1, 1).bold(false);

    let mut totals = payment_lines(&r.payments, width, |a| a.to_string());
    if sale.change > Decimal::ZERO {
        totals.extend(two_columns("Сдача", &sale.change.to_string(), width));
    }
    if r.client.is_some() && sale.bonus_accrued > Decimal::ZERO {
        totals.extend(two_columns("Начислено бонусов", &sale.bonus_accrued.to_string(), width));
    }
    let mut by_vat: BTreeMap<&str, Decimal> = BTreeMap::new();
    for line in &r.lines {
        let sum = by_vat.entry(line.vat.as_str()).or_default();
        *sum = sum.saturating_add(line.to_pay());
    }
    for (vat, sum) in by_vat {
        totals.extend(vat_line(vat, sum, width));
    }
    totals.push(rule);
    for line in &totals {
        p.line(line);
    }

    p.align(Align::Center);
    // The sale's id as a QR code: a return scans it to find the sale (`POST …/returns`). A
    // UUID always fits a QR code, so the encoder cannot refuse it; if it ever did, the receipt
    // still prints without the code, its number and shift are on it.
    let _ = p.qr(&r.id.to_string(), SALE_QR_MODULE, profile.features.qr, profile.features.raster_band);
    for line in head.shop.footer.iter().flat_map(|f| wrap(f, width)) {
        p.line(&line);
    }
    p.align(Align::Left);
    end_of_paper(&mut p, profile);
    p.finish()
}

/// Dots per QR module on a sale receipt: 4 keeps a 36-character id about 2 cm wide, easy for
/// a till's scanner.
const SALE_QR_MODULE: u8 = 4;

/// The return receipt («чек возврата»): what came back, what was refunded and how. Totals are
/// written for people ([`rubles`]).
pub fn return_receipt(ret: &ClosedReturn, head: &Letterhead<'_>, profile: &PrinterProfile, options: SaleOptions) -> Vec<u8> {
    let width = profile.columns;
    let rule = "-".repeat(width);
    let mut p = EscPos::new(profile.text_setup());
    p.init();
    if options.kick_drawer {
        p.kick_drawer(profile.drawer.pin, profile.drawer.on_ms, profile.drawer.off_ms);
    }
    letterhead(&mut p, head, width);
    if options.copy {
        p.bold(true).line("КОПИЯ").bold(false);
    }
    p.bold(true).line(&format!("ЧЕК ВОЗВРАТА № {}", ret.number)).bold(false);
    p.align(Align::Left);
    let mut body = Vec::new();
    body.extend(two_columns(
        &format!("Смена № {}", ret.shift_number),
        &format!("Касса {}", ret.lane),
        width,
    ));
    body.extend(two_columns(&when(ret.at, head), &format!("Кассир: {}", ret.cashier), width));
    match &ret.sale {
        Some(sale) => {
            body.extend(two_columns(
                &format!("К чеку продажи № {}", sale.number),
                &format!("смена № {}", sale.shift_number),
                width,
            ));
            body.extend(two_columns("от", &when(sale.closed_at, head), width));
        }
        None => body.push("Без чека продажи".to_string()),
    }
    body.push(rule.clone());
    for line in &ret.lines {
        body.extend(wrap(&format!("{}. {}", line.no, line.name), width));
        let gross = money::to_money(line.sum + line.discount);
        let calc = format!("{} x {} = {}", quantity(line.qty, line.weighted), line.price, gross);
        body.push(format!("{calc:>width$}"));
        if line.discount > Decimal::ZERO {
            body.extend(two_columns("  Скидка при продаже", &format!("-{}", line.discount), width));
        }
    }
    body.push(rule.clone());
    for line in &body {
        p.line(line);
    }
    p.bold(true);
    for line in two_columns("К ВОЗВРАТУ", &rubles(ret.total, profile), width) {
        p.line(&line);
    }
    p.bold(false);
    let mut totals = payment_lines(&ret.refunds, width, |a| rubles(a, profile));
    let mut by_vat: BTreeMap<&str, Decimal> = BTreeMap::new();
    for line in &ret.lines {
        let sum = by_vat.entry(line.vat.as_str()).or_default();
        *sum = sum.saturating_add(line.sum);
    }
    for (vat, sum) in by_vat {
        totals.extend(vat_line(vat, sum, width));
    }
    totals.push(rule);
    totals.push(String::new());
    totals.extend(two_columns("Подпись покупателя", "__________", width));
    for line in &totals {
        p.line(line);
    }
    end_of_paper(&mut p, profile);
    p.finish()
}

/// The slip of a cash movement (внесение / выплата), to keep in the drawer: amount, reason,
/// who, and what the drawer should hold afterwards.
pub fn cash_slip(movement: &CashMovement, head: &Letterhead<'_>, profile: &PrinterProfile, options: SaleOptions) -> Vec<u8> {
    let width = profile.columns;
    let rule = "-".repeat(width);
    let mut p = EscPos::new(profile.text_setup());
    p.init();
    if options.kick_drawer {
        p.kick_drawer(profile.drawer.pin, profile.drawer.on_ms, profile.drawer.off_ms);
    }
    letterhead(&mut p, head, width);
    if options.copy {
        p.bold(true).line("КОПИЯ").bold(false);
    }
    let title = match movement.direction {
        CashDirection::In => "ВНЕСЕНИЕ НАЛИЧНЫХ",
        CashDirection::Out => "ВЫПЛАТА НАЛИЧНЫХ",
    };
    p.bold(true).line(title).bold(false).align(Align::Left);
    let mut body = Vec::new();
    body.extend(two_columns(
        &format!("Смена № {}", movement.shift_number),
        &format!("Касса {}", movement.lane),
        width,
    ));
    body.extend(two_columns(
        &when(movement.at, head),
        &format!("Кассир: {}", movement.cashier),
        width,
    ));
    body.push(rule.clone());
    for line in &body {
        p.line(line);
    }
    p.bold(true);
    for line in two_columns("СУММА", &rubles(movement.amount, profile), width) {
        p.line(&line);
    }
    p.bold(false);
    let mut rest = wrap(&format!("Основание: {}", movement.reason), width);
    rest.extend(two_columns("В ящике после", &rubles(movement.drawer_after, profile), width));
    rest.push(rule);
    rest.push(String::new());
    rest.extend(two_columns("Подпись", "__________", width));
    for line in &rest {
        p.line(line);
    }
    end_of_paper(&mut p, profile);
    p.finish()
}

/// Feed past the cutter and cut; a model without a cutter only feeds, to tear off by hand.
pub fn end_of_paper(p: &mut EscPos<'_>, profile: &PrinterProfile) {
    if profile.cut.cutter {
        p.cut(profile.cut.partial, profile.cut.feed_lines);
    } else {
        p.line("").feed(profile.cut.feed_lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fill_the_width() {
        assert_eq!(two_columns("ИТОГО", "=179.80", 20), vec!["ИТОГО        =179.80"]);
        assert_eq!(
            two_columns("Очень длинное название", "1.00", 12),
            vec!["Очень", "длинное", "название", "        1.00"]
        );
    }

    #[test]
    fn wrapping_counts_characters_not_bytes() {
        assert_eq!(wrap("Молоко 3,2% 1 л", 10), vec!["Молоко", "3,2% 1 л"]);
        assert_eq!(wrap("Сверхдлинноеслово", 8), vec!["Сверхдли", "нноеслов", "о"]);
        assert_eq!(wrap("", 8), vec![""]);
    }
}
