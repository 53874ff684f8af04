//! Money and quantities as exact decimals.
//!
//! Rubles have two decimal places; a weighed quantity has up to three (grams). Rounding is
//! half away from zero, as cash registers and 1C do, so 0.005 becomes 0.01.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// The largest quantity one receipt line may hold. A scanner stuck on repeat or a typo like
/// "10000000" must not produce an absurd receipt, and the bound keeps sums far from overflow.
pub const MAX_QTY: Decimal = Decimal::from_parts(99_999, 0, 0, false, 0);

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

/// Why a quantity typed by a cashier or storekeeper was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QtyError {
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
    #[error("quantity must be greater than zero")]
    NotPositive,
    #[error("quantity {0} is more than the allowed {MAX_QTY}")]
    TooLarge(Decimal),
    #[error("this item is sold by the piece: quantity {0} must be a whole number")]
    Fractional(Decimal),
    #[error("quantity {0} has more than 3 decimal places (grams)")]
    TooPrecise(Decimal),
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

/// The VAT contained in a gross sum at `rate` percent: sum × rate / (100 + rate), in kopecks.
pub fn vat_included(sum: Decimal, rate: Decimal) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    to_money(sum * rate / (hundred + rate))
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
    use rust_decimal_macros::dec;

    #[test]
    fn money_rounds_half_away_from_zero_and_shows_kopecks() {
        assert_eq!(to_money(dec!(0.005)).to_string(), "0.01");
        assert_eq!(to_money(dec!(180)).to_string(), "180.00");
        assert_eq!(to_money(dec!(-0.005)).to_string(), "-0.01");
    }

    #[test]
    fn line_sum_of_weighed_cheese() {
        // 0.355 kg at 899.00 = 319.145 -> 319.15
        assert_eq!(line_sum(dec!(899.00), dec!(0.355)).unwrap().to_string(), "319.15");
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
    }

    #[test]
    fn vat() {
        assert_eq!(vat_included(dec!(120.00), dec!(20)).to_string(), "20.00");
        assert_eq!(vat_included(dec!(89.90), dec!(10)).to_string(), "8.17");
        assert_eq!(vat_rate("20"), Some(dec!(20)));
        assert_eq!(vat_rate("none"), None);
    }
}
