//! The JSON shapes of the API. Decimals travel as strings (`"89.90"`).

use crate::domain::fiscal::FiscalNumbers;
use crate::domain::lane::Paid;
use crate::domain::receipt::{ClosedReceipt, LineMark, Payment, Receipt};
use crate::domain::shift::Shift;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct LineView<'a> {
    pub no: u32,
    pub item: &'a str,
    pub name: &'a str,
    pub code: &'a str,
    pub unit: &'a str,
    pub weighted: bool,
    pub qty: Decimal,
    pub price: Decimal,
    pub sum: Decimal,
    /// The pack's marking code, for marked items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<&'a LineMark>,
}

/// A receipt as screens show it. With no receipt open, `id` and `number` are `null` and there
/// are no lines.
#[derive(Debug, Serialize)]
pub struct ReceiptView<'a> {
    pub id: Option<Uuid>,
    pub number: Option<u32>,
    pub lane: &'a str,
    pub shift: Option<u32>,
    pub cashier: Option<&'a str>,
    pub lines: Vec<LineView<'a>>,
    pub total: Decimal,
    pub paid: Decimal,
    pub remaining: Decimal,
    pub payments: &'a [Payment],
    /// The customer's loyalty card, when one was scanned.
    pub loyalty_card: Option<&'a str>,
}

impl<'a> ReceiptView<'a> {
    pub fn new(lane: &'a str, receipt: Option<&'a Receipt>) -> ReceiptView<'a> {
        let zero = crate::domain::money::to_money(Decimal::ZERO);
        let Some(r) = receipt else {
            return ReceiptView {
                id: None,
                number: None,
                lane,
                shift: None,
                cashier: None,
                lines: Vec::new(),
                total: zero,
                paid: zero,
                remaining: zero,
                payments: &[],
                loyalty_card: None,
            };
        };
        ReceiptView {
            id: Some(r.id),
            number: Some(r.number),
            lane,
            shift: Some(r.shift_number),
            cashier: Some(&r.cashier),
            lines: r
                .lines
                .iter()
                .map(|l| LineView {
                    no: l.no,
                    item: &l.item,
                    name: &l.name,
                    code: &l.code,
                    unit: &l.unit,
                    weighted: l.weighted,
                    qty: l.qty,
                    price: l.price,
                    sum: l.sum,
                    mark: l.mark.as_ref(),
                })
                .collect(),
            total: r.total(),
            paid: r.paid(),
            remaining: r.remaining(),
            payments: &r.payments,
            loyalty_card: r.loyalty_card.as_deref(),
        }
    }
}

/// A receipt paid in full.
#[derive(Debug, Serialize)]
pub struct ClosedView<'a> {
    #[serde(flatten)]
    pub receipt: ReceiptView<'a>,
    pub change: Decimal,
    pub closed_at: Timestamp,
    /// The fiscal register's document (ФД, ФП, shift) on a lane with a register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fiscal: Option<&'a FiscalNumbers>,
}

impl<'a> ClosedView<'a> {
    pub fn new(closed: &'a ClosedReceipt) -> ClosedView<'a> {
        let mut receipt = ReceiptView::new(&closed.receipt.lane, Some(&closed.receipt));
        receipt.total = closed.total;
        ClosedView {
            receipt,
            change: closed.change,
            closed_at: closed.closed_at,
            fiscal: closed.fiscal.as_ref(),
        }
    }
}

/// The answer to a payment.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PaymentView<'a> {
    Partial {
        receipt: ReceiptView<'a>,
        remaining: Decimal,
    },
    Closed {
        receipt: ClosedView<'a>,
        change: Decimal,
        /// `{"fd", "fp", "shift", …}` of a fiscalised sale.
        #[serde(skip_serializing_if = "Option::is_none")]
        fiscal: Option<&'a FiscalNumbers>,
    },
}

impl<'a> PaymentView<'a> {
    pub fn new(lane: &'a str, paid: &'a Paid, open: Option<&'a Receipt>) -> PaymentView<'a> {
        match paid {
            Paid::Partial { remaining } => PaymentView::Partial {
                receipt: ReceiptView::new(lane, open),
                remaining: *remaining,
            },
            Paid::Closed { receipt } => PaymentView::Closed {
                fiscal: receipt.fiscal.as_ref(),
                change: receipt.change,
                receipt: ClosedView::new(receipt),
            },
        }
    }
}

/// A shift with its state spelled out.
#[derive(Debug, Serialize)]
pub struct ShiftView<'a> {
    pub status: &'static str,
    #[serde(flatten)]
    pub shift: &'a Shift,
}

impl<'a> ShiftView<'a> {
    pub fn new(shift: &'a Shift) -> ShiftView<'a> {
        ShiftView {
            status: if shift.closed_at.is_some() { "closed" } else { "open" },
            shift,
        }
    }
}
