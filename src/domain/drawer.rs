//! Cash put into or taken out of the drawer during a shift (внесение / выплата): the change
//! float in the morning, the cash-in-transit pickup at noon. Each is a document for the CRM
//! (`cash_in` / `cash_out`) and a slip for the drawer.

use crate::domain::money::{self, AmountError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which way the cash went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashDirection {
    /// Put into the drawer (внесение).
    In,
    /// Taken out of the drawer (выплата, инкассация).
    Out,
}

/// One cash movement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashMovement {
    pub id: Uuid,
    pub direction: CashDirection,
    pub amount: Decimal,
    /// Why, in the cashier's words ("размен", "инкассация").
    pub reason: String,
    pub lane: String,
    pub shift_id: Uuid,
    pub shift_number: u32,
    /// Who put in or took out the money.
    pub cashier: String,
    pub at: Timestamp,
    /// Cash the drawer should hold afterwards.
    pub drawer_after: Decimal,
    /// On a lane with a fiscal register: the register carried the movement out (`cashIn` /
    /// `cashOut`). ATOL makes no fiscal document (no ФД/ФП) for these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kkt: Option<CashAtRegister>,
}

/// The register's record of a cash movement: a cash operation signs no fiscal document, so
/// what is kept is that the register did it and the cash its own counter shows afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashAtRegister {
    /// The register's device id.
    pub register: String,
    /// The cash in the register's own counter after the movement, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_in_register: Option<Decimal>,
}

/// The longest reason kept: a slip line or two, not an essay.
pub const MAX_REASON_CHARS: usize = 200;

/// Why a cash movement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawerError {
    #[error("укажите причину: например «размен» или «инкассация»")]
    NoReason,
    #[error("причина длиннее {MAX_REASON_CHARS} знаков")]
    LongReason,
    #[error("{0}")]
    Amount(#[from] AmountError),
    #[error("в ящике должно быть только {drawer}: изъять {amount} нельзя")]
    Short { drawer: Decimal, amount: Decimal },
}

impl DrawerError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            DrawerError::NoReason | DrawerError::LongReason => "reason_required",
            DrawerError::Amount(e) => e.code(),
            DrawerError::Short { .. } => "drawer_short",
        }
    }
}

/// The reason as kept: trimmed, control characters made spaces, not empty, not too long.
pub fn check_reason(text: &str) -> Result<String, DrawerError> {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let reason = cleaned.trim();
    if reason.is_empty() {
        return Err(DrawerError::NoReason);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DrawerError::LongReason);
    }
    Ok(reason.to_string())
}

/// Check a movement of `amount` against the cash the drawer should hold (`drawer`): any
/// amount may go in, no more than is there may come out. Returns the amount with two places
/// and the drawer afterwards.
pub fn check_movement(direction: CashDirection, amount: Decimal, drawer: Decimal) -> Result<(Decimal, Decimal), DrawerError> {
    let amount = money::check_amount(amount)?;
    let after = match direction {
        CashDirection::In => drawer.checked_add(amount).ok_or(AmountError::TooLarge(amount.to_string()))?,
        CashDirection::Out => {
            if amount > drawer {
                return Err(DrawerError::Short { drawer, amount });
            }
            drawer - amount
        }
    };
    Ok((amount, money::to_money(after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn movements() {
        assert_eq!(
            check_movement(CashDirection::In, dec!(5000), dec!(0)).unwrap(),
            (dec!(5000.00), dec!(5000.00))
        );
        assert_eq!(
            check_movement(CashDirection::Out, dec!(300), dec!(500)).unwrap(),
            (dec!(300.00), dec!(200.00))
        );
        let err = check_movement(CashDirection::Out, dec!(501), dec!(500)).unwrap_err();
        assert_eq!(err.code(), "drawer_short");
        assert_eq!(
            check_movement(CashDirection::In, dec!(0), dec!(0)).unwrap_err().code(),
            "invalid_amount"
        );
        assert_eq!(
            check_movement(CashDirection::In, dec!(1.005), dec!(0)).unwrap_err().code(),
            "invalid_amount"
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(check_reason("  размен\n").unwrap(), "размен");
        assert_eq!(check_reason(" \t"), Err(DrawerError::NoReason));
        assert_eq!(check_reason(&"я".repeat(201)), Err(DrawerError::LongReason));
        assert_eq!(check_reason("a\u{7}b").unwrap(), "a b");
    }
}
