//! A cashier's shift on a lane: opened before the first sale, closed with totals (the Z
//! report). The totals are kept up to date with every sale, return and cash movement, so the X
//! report (the shift so far) and the Z report are read straight from them.
//!
//! All arithmetic is checked: a total that would overflow is refused with an error, never a
//! panic in the lane's actor.

use crate::domain::drawer::{CashDirection, CashMovement};
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod};
use crate::domain::returns::ClosedReturn;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub id: Uuid,
    /// Number on this lane, starting at 1; never reused.
    pub number: u32,
    pub lane: String,
    /// Who opened it.
    pub cashier: String,
    pub opened_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Who closed it (the Z report is theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// Receipts closed in this shift.
    pub receipts: u32,
    /// Returns made in this shift.
    #[serde(default)]
    pub returns: u32,
    /// The last receipt number given out (to an open, parked, paid or cancelled receipt), so a
    /// parked receipt's number is never given to another.
    #[serde(default)]
    pub last_receipt_number: u32,
    pub totals: ShiftTotals,
    /// Sales less returns by VAT rate (as the catalog writes it). `None` for a shift opened
    /// before these totals were kept: its report counts VAT from its receipts instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_vat: Option<BTreeMap<String, Decimal>>,
}

/// Money that moved during a shift. The totals added with returns, discounts, points,
/// credit and cash movements are left out of the JSON while zero, so a shift with none of
/// them reads as it always did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShiftTotals {
    /// Sum of closed receipts (what customers paid, after discounts).
    pub sales: Decimal,
    /// Cash kept in the drawer from sales (tendered minus change).
    pub cash: Decimal,
    pub card: Decimal,
    /// Change handed back, for reconciling the drawer.
    pub change: Decimal,
    /// Sales paid with loyalty points.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub bonus: Decimal,
    /// Sales on credit.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub credit: Decimal,
    /// Everything promotions and manual discounts took off the sales.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub discounts: Decimal,
    /// Sum of returns.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub refunds: Decimal,
    /// Returns by refund method.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub refund_cash: Decimal,
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub refund_card: Decimal,
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub refund_bonus: Decimal,
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub refund_credit: Decimal,
    /// Cash put into the drawer.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub cash_in: Decimal,
    /// Cash taken out of the drawer.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub cash_out: Decimal,
}

impl ShiftTotals {
    /// Cash the drawer should hold: cash kept from sales − cash refunds + cash in − cash out.
    pub fn drawer(&self) -> Decimal {
        let d = self
            .cash
            .checked_sub(self.refund_cash)
            .and_then(|d| d.checked_add(self.cash_in))
            .and_then(|d| d.checked_sub(self.cash_out));
        money::to_money(d.unwrap_or(Decimal::ZERO))
    }

    /// Sales by method: what each method paid, net of change for cash.
    pub fn sales_by(&self, method: PaymentMethod) -> Decimal {
        match method {
            PaymentMethod::Cash => self.cash,
            PaymentMethod::Card => self.card,
            PaymentMethod::Bonus => self.bonus,
            PaymentMethod::Credit => self.credit,
        }
    }

    /// Refunds by method.
    pub fn refunds_by(&self, method: PaymentMethod) -> Decimal {
        match method {
            PaymentMethod::Cash => self.refund_cash,
            PaymentMethod::Card => self.refund_card,
            PaymentMethod::Bonus => self.refund_bonus,
            PaymentMethod::Credit => self.refund_credit,
        }
    }
}

/// Why a shift could not count something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    #[error("суммы смены переполнились: такую операцию провести нельзя")]
    Overflow,
}

impl ShiftError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        "invalid_amount"
    }
}

fn plus(a: &mut Decimal, b: Decimal) -> Result<(), ShiftError> {
    *a = money::to_money(a.checked_add(b).ok_or(ShiftError::Overflow)?);
    Ok(())
}

impl Shift {
    pub fn new(id: Uuid, number: u32, lane: &str, cashier: &str, opened_at: Timestamp) -> Shift {
        Shift {
            id,
            number,
            lane: lane.to_string(),
            cashier: cashier.to_string(),
            opened_at,
            closed_at: None,
            closed_by: None,
            receipts: 0,
            returns: 0,
            last_receipt_number: 0,
            totals: ShiftTotals::default(),
            by_vat: Some(BTreeMap::new()),
        }
    }

    /// The number the next receipt of this shift gets.
    pub fn next_receipt_number(&self) -> u32 {
        self.last_receipt_number.max(self.receipts) + 1
    }

    /// Give out the next receipt number.
    pub fn take_receipt_number(&mut self) -> u32 {
        let n = self.next_receipt_number();
        self.last_receipt_number = n;
        n
    }

    /// The number the next return of this shift gets.
    pub fn next_return_number(&self) -> u32 {
        self.returns + 1
    }

    /// The person the shift's report is for: who closed it, else who opened it.
    pub fn responsible(&self) -> &str {
        self.closed_by.as_deref().unwrap_or(&self.cashier)
    }

    /// Count a closed sale. On error the shift is unchanged.
    pub fn record_sale(&mut self, sale: &ClosedReceipt) -> Result<(), ShiftError> {
        let mut next = self.clone();
        next.receipts += 1;
        let t = &mut next.totals;
        plus(&mut t.sales, sale.total)?;
        plus(&mut t.cash, sale.cash_kept())?;
        plus(&mut t.card, sale.kept_by(PaymentMethod::Card))?;
        plus(&mut t.bonus, sale.kept_by(PaymentMethod::Bonus))?;
        plus(&mut t.credit, sale.kept_by(PaymentMethod::Credit))?;
        plus(&mut t.change, sale.change)?;
        plus(&mut t.discounts, sale.receipt.discount_total())?;
        if let Some(by_vat) = &mut next.by_vat {
            for line in &sale.receipt.lines {
                plus(by_vat.entry(line.vat.clone()).or_default(), line.to_pay())?;
            }
        }
        *self = next;
        Ok(())
    }

    /// Count a return. On error the shift is unchanged.
    pub fn record_return(&mut self, ret: &ClosedReturn) -> Result<(), ShiftError> {
        let mut next = self.clone();
        next.returns += 1;
        let t = &mut next.totals;
        plus(&mut t.refunds, ret.total)?;
        plus(&mut t.refund_cash, ret.refunded_by(PaymentMethod::Cash))?;
        plus(&mut t.refund_card, ret.refunded_by(PaymentMethod::Card))?;
        plus(&mut t.refund_bonus, ret.refunded_by(PaymentMethod::Bonus))?;
        plus(&mut t.refund_credit, ret.refunded_by(PaymentMethod::Credit))?;
        if let Some(by_vat) = &mut next.by_vat {
            for line in &ret.lines {
                plus(by_vat.entry(line.vat.clone()).or_default(), -line.sum)?;
            }
        }
        *self = next;
        Ok(())
    }

    /// Count a cash movement. On error the shift is unchanged.
    pub fn record_cash(&mut self, movement: &CashMovement) -> Result<(), ShiftError> {
        let mut next = self.clone();
        match movement.direction {
            CashDirection::In => plus(&mut next.totals.cash_in, movement.amount)?,
            CashDirection::Out => plus(&mut next.totals.cash_out, movement.amount)?,
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn old_shifts_without_the_new_totals_still_load() {
        let json = r#"{"id":"00000000-0000-0000-0000-000000000002","number":3,"lane":"1","cashier":"Анна",
            "opened_at":"2026-03-02T09:15:00Z","receipts":2,
            "totals":{"sales":"100.00","cash":"60.00","card":"40.00","change":"5.00"}}"#;
        let shift: Shift = serde_json::from_str(json).unwrap();
        assert_eq!(shift.by_vat, None);
        assert_eq!(
            serde_json::to_value(&shift.totals).unwrap(),
            serde_json::json!({"sales": "100.00", "cash": "60.00", "card": "40.00", "change": "5.00"})
        );
        assert_eq!(shift.totals.drawer(), dec!(60.00));
        assert_eq!(shift.next_receipt_number(), 3);
        assert_eq!(shift.responsible(), "Анна");
    }

    #[test]
    fn overflowing_totals_are_refused_and_change_nothing() {
        let mut shift = Shift::new(Uuid::nil(), 1, "1", "Анна", Timestamp::UNIX_EPOCH);
        shift.totals.cash_in = Decimal::MAX;
        let before = shift.clone();
        let movement = CashMovement {
            id: Uuid::nil(),
            direction: CashDirection::In,
            amount: dec!(1),
            reason: "размен".into(),
            lane: "1".into(),
            shift_id: Uuid::nil(),
            shift_number: 1,
            cashier: "Анна".into(),
            at: Timestamp::UNIX_EPOCH,
            drawer_after: dec!(1),
            kkt: None,
        };
        assert_eq!(shift.record_cash(&movement), Err(ShiftError::Overflow));
        assert_eq!(shift, before);
    }
}
