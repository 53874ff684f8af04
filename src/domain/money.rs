//! Money and quantities as exact decimals.
//!
//! Rubles have two decimal places; a weighed quantity has up to three (grams). Rounding is
//! half away from zero, as cash registers and 1C do, so 0.005 becomes 0.01.
//!
//! Everything a person types goes through a strict parser here: an amount is plain digits with
//! at most two decimal places, never an exponent or a sign, because `1e2` typed by mistake must
//! not become a hundred rubles.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// The largest quantity one receipt line may hold. A scanner stuck on repeat or a typo like
/// "10000000" must not produce an absurd receipt, and the bound keeps sums far from overflow.
pub const MAX_QTY: Decimal = Decimal::from_parts(99_999, 0, 0, false, 0);

/// The largest price or amount of money storeterm accepts anywhere: 99 999 999.99 ₽. Far above
/// any shop's receipt, far below where `Decimal` arithmetic could overflow (a line of
/// `MAX_MONEY × MAX_QTY` is still 15 digits).
pub const MAX_MONEY: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2);

/// Round to kopecks and always show two places ("180" → "180.00").
pub fn to_money(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// Price × quantity, rounded to kopecks. `None` only if the product overflows, which the
/// bounds on prices and quantities make impossible in practice.
pub fn line_sum(price: Decimal, qty: Decimal) -> Option<Decimal> {
    price.checked_mul(qty).map(to_money)
}

/// The sum of `values` in kopecks, or `None` when it overflows. Totals are summed with this,
/// never with `Iterator::sum`, which panics on overflow: one absurd price in a stored receipt
/// must not crash the lane's actor every time it starts.
pub fn checked_sum(values: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    values
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, v| acc.checked_add(v))
        .map(to_money)
}

/// `percent` % of `base`, rounded to kopecks; `None` on overflow.
pub fn percent_of(base: Decimal, percent: Decimal) -> Option<Decimal> {
    base.checked_mul(percent)?.checked_div(Decimal::ONE_HUNDRED).map(to_money)
}

/// Why a quantity typed by a cashier or storekeeper was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QtyError {
    #[error("«{0}» — не число")]
    NotANumber(String),
    #[error("количество должно быть больше нуля")]
    NotPositive,
    #[error("количество {0} больше допустимого {MAX_QTY}")]
    TooLarge(Decimal),
    #[error("этот товар продаётся поштучно: количество {0} должно быть целым")]
    Fractional(Decimal),
    #[error("в количестве {0} больше трёх знаков после запятой (граммы)")]
    TooPrecise(Decimal),
}

impl QtyError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        "invalid_qty"
    }
}

/// Parse a quantity for an item; weighed items allow up to three decimals, pieces none.
/// Accepts a comma as the decimal separator, because Russian keyboards type one.
pub fn parse_qty(text: &str, weighted: bool) -> Result<Decimal, QtyError> {
    let cleaned = text.trim().replace(',', ".");
    let qty = Decimal::from_str(&cleaned).map_err(|_| QtyError::NotANumber(text.to_string()))?;
    check_qty(qty, weighted)
}

/// Validate a quantity that is already a decimal.
pub fn check_qty(qty: Decimal, weighted: bool) -> Result<Decimal, QtyError> {
    let qty = qty.normalize();
    if qty <= Decimal::ZERO {
        return Err(QtyError::NotPositive);
    }
    if qty > MAX_QTY {
        return Err(QtyError::TooLarge(qty));
    }
    if !weighted && qty.fract() != Decimal::ZERO {
        return Err(QtyError::Fractional(qty));
    }
    if qty.scale() > 3 {
        return Err(QtyError::TooPrecise(qty));
    }
    Ok(qty)
}

/// A typed quantity in front of a scan, as 1C's front office takes it: the cashier types `3*`
/// and then scans, and the line gets three. What [`split_qty_prefix`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QtyPrefix<'a> {
    /// The quantity before the `*`, when there was one. Whether it may be fractional depends
    /// on the item, which is not known yet: check it with [`check_qty`] once the item is found.
    pub qty: Option<Decimal>,
    /// The code after the `*` (empty when the cashier typed only `3*` and the scan follows).
    pub code: &'a str,
}

/// Split `3*4601234567893` (or `0,5*`, `2 * 460…`) into the quantity and the code. Text that
/// does not start with a number followed by `*` is all code (a Code 39 `*ABC*` included).
/// A prefix that is a number but not a usable quantity (`0*`, `100000*`, `0,0001*`) is an
/// error, so the cashier does not sell one by accident.
pub fn split_qty_prefix(input: &str) -> Result<QtyPrefix<'_>, QtyError> {
    let whole = QtyPrefix { qty: None, code: input };
    let Some((head, code)) = input.split_once('*') else {
        return Ok(whole);
    };
    let number = head.trim();
    let mut separators = 0;
    let shaped = !number.is_empty()
        && number.chars().next().is_some_and(|c| c.is_ascii_digit())
        && number.chars().all(|c| {
            if c == '.' || c == ',' {
                separators += 1;
                true
            } else {
                c.is_ascii_digit()
            }
        })
        && separators <= 1
        && !number.ends_with(['.', ',']);
    if !shaped {
        return Ok(whole);
    }
    let qty = Decimal::from_str(&number.replace(',', ".")).map_err(|_| QtyError::NotANumber(number.to_string()))?;
    let qty = qty.normalize();
    if qty <= Decimal::ZERO {
        return Err(QtyError::NotPositive);
    }
    if qty > MAX_QTY {
        return Err(QtyError::TooLarge(qty));
    }
    if qty.scale() > 3 {
        return Err(QtyError::TooPrecise(qty));
    }
    Ok(QtyPrefix {
        qty: Some(qty),
        code: code.trim(),
    })
}

/// Why an amount of money typed by a person was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("введите сумму")]
    Empty,
    #[error("сумма пишется без знака: «{0}»")]
    Sign(String),
    #[error("сумма пишется обычной десятичной записью, без степени: «{0}»")]
    Exponent(String),
    #[error("«{0}» — не сумма: только цифры и одна запятая или точка")]
    NotANumber(String),
    #[error("в сумме «{0}» больше двух знаков после запятой (more than two decimal places)")]
    TooPrecise(String),
    #[error("сумма должна быть больше нуля")]
    NotPositive,
    #[error("сумма {0} больше допустимой {MAX_MONEY}")]
    TooLarge(String),
}

impl AmountError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        "invalid_amount"
    }
}

/// Parse an amount of money as the API receives it: `500`, `500.5`, `1104,60`. Strict: plain
/// digits with one optional decimal separator and at most two places; no sign, no exponent, no
/// spaces; greater than zero and at most [`MAX_MONEY`]. The result has two places.
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AmountError::Empty);
    }
    if t.starts_with(['+', '-', '−']) {
        return Err(AmountError::Sign(t.to_string()));
    }
    if t.contains(['e', 'E'])
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | 'e' | 'E' | '+' | '-'))
    {
        return Err(AmountError::Exponent(t.to_string()));
    }
    let (int, frac) = match t.split_once(['.', ',']) {
        Some((int, frac)) => (int, Some(frac)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(AmountError::NotANumber(t.to_string()));
    }
    if frac.is_some_and(|f| f.len() > 2) {
        return Err(AmountError::TooPrecise(t.to_string()));
    }
    // Eleven integer digits are already past MAX_MONEY; stopping here keeps the decimal parse
    // far from its own limits.
    if int.trim_start_matches('0').len() > 9 {
        return Err(AmountError::TooLarge(t.to_string()));
    }
    let plain = match frac {
        Some(f) => format!("{int}.{f}"),
        None => int.to_string(),
    };
    let amount = Decimal::from_str(&plain).map_err(|_| AmountError::NotANumber(t.to_string()))?;
    check_amount(amount).map_err(|e| match e {
        AmountError::TooLarge(_) => AmountError::TooLarge(t.to_string()),
        other => other,
    })
}

/// Validate an amount that is already a decimal (from JSON, or computed): positive, at most two
/// places, at most [`MAX_MONEY`]. The result has two places.
pub fn check_amount(amount: Decimal) -> Result<Decimal, AmountError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(AmountError::Sign(amount.to_string()));
    }
    if amount.is_zero() {
        return Err(AmountError::NotPositive);
    }
    if amount.normalize().scale() > 2 {
        return Err(AmountError::TooPrecise(amount.to_string()));
    }
    if amount > MAX_MONEY {
        return Err(AmountError::TooLarge(amount.to_string()));
    }
    Ok(to_money(amount))
}

/// The thousands separator of [`for_people`]: U+202F NARROW NO-BREAK SPACE, the thin space
/// Russian typography puts between digit groups, and one a line break never splits.
pub const THOUSANDS: char = '\u{202f}';

/// An amount as people read it: `1 104,60 ₽` — digit groups split by [`THOUSANDS`], a decimal
/// comma, two places, a no-break space and the ruble sign (a printer prints the sign as its
/// profile's `ruble`, `руб.` by default). Negative amounts get a leading `-`.
pub fn for_people(amount: Decimal) -> String {
    let money = to_money(amount);
    let text = money.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3 + 8);
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(THOUSANDS);
        }
        grouped.push(digit);
    }
    let sign = if money.is_sign_negative() && !money.is_zero() { "-" } else { "" };
    format!("{sign}{grouped},{frac}\u{a0}₽")
}

/// The VAT contained in a gross sum at `rate` percent: sum × rate / (100 + rate), in kopecks.
pub fn vat_included(sum: Decimal, rate: Decimal) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    sum.checked_mul(rate)
        .and_then(|v| v.checked_div(hundred + rate))
        .map(to_money)
        .unwrap_or(Decimal::ZERO)
}

/// Parse a VAT rate as the CRM sends it: "20", "10", "0"; "none" / "без НДС" mean no VAT.
pub fn vat_rate(text: &str) -> Option<Decimal> {
    let t = text.trim().trim_end_matches('%');
    Decimal::from_str(t)
        .ok()
        .filter(|r| *r >= Decimal::ZERO && *r < Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn money_rounds_half_away_from_zero_and_shows_kopecks() {
        assert_eq!(to_money(dec!(0.005)).to_string(), "0.01");
        assert_eq!(to_money(dec!(180)).to_string(), "180.00");
        assert_eq!(to_money(dec!(-0.005)).to_string(), "-0.01");
        assert_eq!(MAX_MONEY.to_string(), "99999999.99");
    }

    #[test]
    fn line_sum_of_weighed_cheese() {
        // 0.355 kg at 899.00 = 319.145 -> 319.15
        assert_eq!(line_sum(dec!(899.00), dec!(0.355)).unwrap().to_string(), "319.15");
    }

    #[test]
    fn sums_near_the_decimal_limit_do_not_panic() {
        assert_eq!(checked_sum([Decimal::MAX, dec!(1)]), None);
        assert_eq!(checked_sum([dec!(1.10), dec!(2.205)]), Some(dec!(3.31)));
        assert_eq!(percent_of(Decimal::MAX, dec!(50)), None);
        assert_eq!(percent_of(dec!(89.90), dec!(10)), Some(dec!(8.99)));
        assert_eq!(vat_included(Decimal::MAX, dec!(20)), Decimal::ZERO);
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_qty("3", false).unwrap().to_string(), "3");
        assert_eq!(parse_qty("3.000", false).unwrap().to_string(), "3");
        assert_eq!(parse_qty("0,355", true).unwrap().to_string(), "0.355");
        assert_eq!(parse_qty("1.5", false), Err(QtyError::Fractional(dec!(1.5))));
        assert_eq!(parse_qty("0", false), Err(QtyError::NotPositive));
        assert_eq!(parse_qty("-2", false), Err(QtyError::NotPositive));
        assert!(matches!(parse_qty("abc", false), Err(QtyError::NotANumber(_))));
        assert!(matches!(parse_qty("100000", false), Err(QtyError::TooLarge(_))));
        assert!(matches!(parse_qty("0.0001", true), Err(QtyError::TooPrecise(_))));
        assert_eq!(QtyError::NotPositive.to_string(), "количество должно быть больше нуля");
    }

    #[test]
    fn a_quantity_typed_before_the_scan() {
        let p = split_qty_prefix("3*4601234567893").unwrap();
        assert_eq!((p.qty, p.code), (Some(dec!(3)), "4601234567893"));
        let p = split_qty_prefix("3*").unwrap();
        assert_eq!((p.qty, p.code), (Some(dec!(3)), ""));
        let p = split_qty_prefix(" 0,355 * 2000042003557").unwrap();
        assert_eq!((p.qty, p.code), (Some(dec!(0.355)), "2000042003557"));
        // Not a prefix: the whole text is the code.
        for text in ["4601234567893", "*ABC*", "A3*B", "3.*x", "1.2.3*x", ""] {
            assert_eq!(split_qty_prefix(text).unwrap(), QtyPrefix { qty: None, code: text }, "{text}");
        }
        assert_eq!(split_qty_prefix("0*460"), Err(QtyError::NotPositive));
        assert!(matches!(split_qty_prefix("100000*460"), Err(QtyError::TooLarge(_))));
        assert!(matches!(split_qty_prefix("0,0001*460"), Err(QtyError::TooPrecise(_))));
        assert!(matches!(
            split_qty_prefix("99999999999999999999999999999999*1"),
            Err(QtyError::NotANumber(_))
        ));
    }

    #[test]
    fn amounts_are_parsed_strictly() {
        assert_eq!(parse_amount("500").unwrap().to_string(), "500.00");
        assert_eq!(parse_amount(" 1104,6 ").unwrap().to_string(), "1104.60");
        assert_eq!(parse_amount("0.01").unwrap(), dec!(0.01));
        assert_eq!(parse_amount("99999999.99").unwrap(), MAX_MONEY);
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert!(matches!(parse_amount("1e10"), Err(AmountError::Exponent(_))));
        assert!(matches!(parse_amount("1e2"), Err(AmountError::Exponent(_))));
        assert!(matches!(parse_amount("1E-2"), Err(AmountError::Exponent(_))));
        assert!(matches!(parse_amount("-5"), Err(AmountError::Sign(_))));
        assert!(matches!(parse_amount("+5"), Err(AmountError::Sign(_))));
        let err = parse_amount("10.005").unwrap_err();
        assert!(matches!(err, AmountError::TooPrecise(_)));
        assert!(err.to_string().contains("больше двух знаков после запятой"), "{err}");
        assert!(err.to_string().contains("more than two decimal places"), "{err}");
        assert_eq!(parse_amount("0"), Err(AmountError::NotPositive));
        assert_eq!(parse_amount("0.00"), Err(AmountError::NotPositive));
        assert!(matches!(parse_amount("100000000"), Err(AmountError::TooLarge(_))));
        assert!(matches!(
            parse_amount("99999999999999999999999999999999"),
            Err(AmountError::TooLarge(_))
        ));
        for junk in ["1 000", "1.000,00", ".5", "5.", "12a", "0x10", "1_000", "١٢"] {
            assert!(matches!(parse_amount(junk), Err(AmountError::NotANumber(_))), "{junk}");
        }
        assert_eq!(parse_amount("abc").unwrap_err().code(), "invalid_amount");
    }

    #[test]
    fn amounts_already_decimal_are_checked_too() {
        assert_eq!(check_amount(dec!(10.5)).unwrap().to_string(), "10.50");
        assert_eq!(check_amount(dec!(10.500)).unwrap().to_string(), "10.50");
        assert!(matches!(check_amount(dec!(10.005)), Err(AmountError::TooPrecise(_))));
        assert!(matches!(check_amount(dec!(-1)), Err(AmountError::Sign(_))));
        assert!(matches!(check_amount(Decimal::MAX), Err(AmountError::TooLarge(_))));
    }

    #[test]
    fn money_for_people() {
        assert_eq!(for_people(dec!(1104.6)), "1\u{202f}104,60\u{a0}₽");
        assert_eq!(for_people(dec!(0)), "0,00\u{a0}₽");
        assert_eq!(for_people(dec!(999.999)), "1\u{202f}000,00\u{a0}₽");
        assert_eq!(for_people(dec!(12345678.9)), "12\u{202f}345\u{202f}678,90\u{a0}₽");
        assert_eq!(for_people(dec!(-1500)), "-1\u{202f}500,00\u{a0}₽");
        assert_eq!(for_people(dec!(100)), "100,00\u{a0}₽");
    }

    #[test]
    fn vat() {
        assert_eq!(vat_included(dec!(120.00), dec!(20)).to_string(), "20.00");
        assert_eq!(vat_included(dec!(89.90), dec!(10)).to_string(), "8.17");
        assert_eq!(vat_rate("20"), Some(dec!(20)));
        assert_eq!(vat_rate("none"), None);
    }

    proptest! {
        /// Parsers of typed text never panic, and whatever they accept is in range.
        #[test]
        fn typed_text_never_panics(text in "[0-9.,eE+\\- *a-z]{0,40}") {
            if let Ok(amount) = parse_amount(&text) {
                prop_assert!(amount > Decimal::ZERO && amount <= MAX_MONEY && amount.scale() == 2);
            }
            if let Ok(QtyPrefix { qty: Some(qty), .. }) = split_qty_prefix(&text) {
                prop_assert!(qty > Decimal::ZERO && qty <= MAX_QTY);
            }
        }

        /// Reading a formatted amount back (digits only) gives the amount.
        #[test]
        fn for_people_keeps_every_digit(kopecks in 0i64..10_000_000_000) {
            let amount = Decimal::new(kopecks, 2);
            let text = for_people(amount);
            let digits: String = text.chars().filter(|c| c.is_ascii_digit() || *c == ',').collect();
            prop_assert_eq!(Decimal::from_str(&digits.replace(',', ".")).unwrap(), amount);
        }
    }
}
