//! A cashier's shift on a lane: opened before the first sale, closed with totals (the Z report).

use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub id: Uuid,
    /// Number on this lane, starting at 1; never reused.
    pub number: u32,
    pub lane: String,
    pub cashier: String,
    pub opened_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Receipts closed in this shift.
    pub receipts: u32,
    pub totals: ShiftTotals,
}

/// Money that moved during a shift.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShiftTotals {
    /// Sum of closed receipts.
    pub sales: Decimal,
    /// Cash kept in the drawer from sales (tendered minus change).
    pub cash: Decimal,
    pub card: Decimal,
    /// Change handed back, for reconciling the drawer.
    pub change: Decimal,
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
            receipts: 0,
            totals: ShiftTotals::default(),
        }
    }

    /// The number the next receipt of this shift gets.
    pub fn next_receipt_number(&self) -> u32 {
        self.receipts + 1
    }

    pub fn record_sale(&mut self, sale: &ClosedReceipt) {
        self.receipts += 1;
        let t = &mut self.totals;
        t.sales = money::to_money(t.sales + sale.total);
        t.cash = money::to_money(t.cash + sale.cash_kept());
        t.card = money::to_money(t.card + sale.receipt.paid_by(PaymentMethod::Card));
        t.change = money::to_money(t.change + sale.change);
    }
}
