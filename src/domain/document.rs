//! Documents storeterm reports to the CRM (protocol section 3), built from domain records.
//!
//! Each document carries everything the CRM needs to post it without asking back. The field
//! reference for every kind is `docs/crm-protocol.md`.

use crate::domain::drawer::{CashDirection, CashMovement};
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, LineMark, Payment};
use crate::domain::returns::{ClosedReturn, ReturnLine, SaleRef};
use crate::domain::shift::{Shift, ShiftTotals};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The kinds the protocol defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Sale,
    Return,
    ShiftOpen,
    ShiftClose,
    CashIn,
    CashOut,
    WmsReceipt,
    WmsPutaway,
    WmsPick,
    WmsMove,
    WmsCount,
    Call,
    Lead,
}

/// A document produced by a state change, not yet numbered. The store gives it its `seq` in
/// the same transaction that records the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDocument {
    /// Also the idempotency key the CRM deduplicates by.
    pub id: Uuid,
    pub kind: DocumentKind,
    pub created_at: Timestamp,
    pub data: serde_json::Value,
}

impl NewDocument {
    /// Wrap typed document data. Serialising our own plain structs cannot fail; a failure here
    /// would be a programming error in a `Serialize` impl, so it is reported as `null` data and
    /// the CRM would reject the document visibly rather than the till crashing.
    pub fn new(id: Uuid, kind: DocumentKind, created_at: Timestamp, data: impl Serialize) -> NewDocument {
        NewDocument {
            id,
            kind,
            created_at,
            data: serde_json::to_value(data).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A numbered document in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub seq: u64,
    #[serde(flatten)]
    pub doc: NewDocument,
}

#[derive(Serialize)]
struct SaleLine<'a> {
    no: u32,
    item: &'a str,
    sku: &'a str,
    name: &'a str,
    unit: &'a str,
    code: &'a str,
    qty: Decimal,
    price: Decimal,
    /// Everything taken off the line (promotions and manual discounts).
    discount: Decimal,
    /// What the customer paid for the line: price × qty rounded, less `discount`.
    sum: Decimal,
    vat: &'a str,
    /// Ids of the promotions that discounted the line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    promotions: Vec<&'a str>,
    /// The pack's marking code (Честный ЗНАК), for marked items.
    #[serde(skip_serializing_if = "Option::is_none")]
    mark: Option<&'a LineMark>,
}

#[derive(Serialize)]
struct SaleData<'a> {
    receipt: Uuid,
    number: u32,
    lane: &'a str,
    shift: Uuid,
    shift_number: u32,
    /// Who took the payment.
    cashier: &'a str,
    opened_at: Timestamp,
    closed_at: Timestamp,
    lines: Vec<SaleLine<'a>>,
    total: Decimal,
    /// Sum of `lines[].discount`.
    discount: Decimal,
    payments: &'a [Payment],
    change: Decimal,
    /// The loyalty card shown by the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    loyalty_card: Option<&'a str>,
    /// The client the receipt was sold to.
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    /// Points the sale earned, by this site's reckoning.
    #[serde(skip_serializing_if = "Option::is_none")]
    bonus_accrued: Option<Decimal>,
    /// The fiscal register's document (ФД, ФП, shift) on a lane with a register.
    #[serde(skip_serializing_if = "Option::is_none")]
    fiscal: Option<&'a crate::domain::fiscal::FiscalNumbers>,
}

/// The `sale` document for a closed receipt.
pub fn sale(id: Uuid, sale: &ClosedReceipt) -> NewDocument {
    let r = &sale.receipt;
    let data = SaleData {
        receipt: r.id,
        number: r.number,
        lane: &r.lane,
        shift: r.shift_id,
        shift_number: r.shift_number,
        cashier: &r.cashier,
        opened_at: r.opened_at,
        closed_at: sale.closed_at,
        lines: r
            .lines
            .iter()
            .map(|l| SaleLine {
                no: l.no,
                item: &l.item,
                sku: &l.sku,
                name: &l.name,
                unit: &l.unit,
                code: &l.code,
                qty: l.qty,
                price: l.price,
                discount: money::to_money(l.discount),
                sum: money::to_money(l.to_pay()),
                vat: &l.vat,
                promotions: l.promotions(),
                mark: l.mark.as_ref(),
            })
            .collect(),
        total: sale.total,
        discount: money::to_money(r.discount_total()),
        payments: &r.payments,
        change: sale.change,
        loyalty_card: r.loyalty_card.as_deref(),
        client: r.client.as_ref().map(|c| c.id.as_str()),
        bonus_accrued: r.client.as_ref().map(|_| sale.bonus_accrued),
        fiscal: sale.fiscal.as_ref(),
    };
    NewDocument::new(id, DocumentKind::Sale, sale.closed_at, data)
}

#[derive(Serialize)]
struct ReturnData<'a> {
    #[serde(rename = "return")]
    id: Uuid,
    number: u32,
    lane: &'a str,
    shift: Uuid,
    shift_number: u32,
    cashier: &'a str,
    at: Timestamp,
    /// The sale's receipt id; `null` for a return without a receipt.
    sale: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sale_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sale_closed_at: Option<Timestamp>,
    lines: &'a [ReturnLine],
    total: Decimal,
    refunds: &'a [Payment],
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    /// The fiscal register's return document (ФД, ФП, shift) on a lane with a register.
    #[serde(skip_serializing_if = "Option::is_none")]
    fiscal: Option<&'a crate::domain::fiscal::FiscalNumbers>,
}

/// The `return` document.
pub fn return_doc(id: Uuid, ret: &ClosedReturn) -> NewDocument {
    let sale: Option<&SaleRef> = ret.sale.as_ref();
    let data = ReturnData {
        id: ret.id,
        number: ret.number,
        lane: &ret.lane,
        shift: ret.shift_id,
        shift_number: ret.shift_number,
        cashier: &ret.cashier,
        at: ret.at,
        sale: sale.map(|s| s.receipt),
        sale_number: sale.map(|s| s.number),
        sale_closed_at: sale.map(|s| s.closed_at),
        lines: &ret.lines,
        total: ret.total,
        refunds: &ret.refunds,
        client: ret.client.as_deref(),
        fiscal: ret.fiscal.as_ref(),
    };
    NewDocument::new(id, DocumentKind::Return, ret.at, data)
}

#[derive(Serialize)]
struct CashData<'a> {
    movement: Uuid,
    lane: &'a str,
    shift: Uuid,
    shift_number: u32,
    cashier: &'a str,
    at: Timestamp,
    amount: Decimal,
    reason: &'a str,
    /// Cash the drawer should hold afterwards.
    drawer: Decimal,
    /// The fiscal register's record of the movement on a lane with a register.
    #[serde(skip_serializing_if = "Option::is_none")]
    kkt: Option<&'a crate::domain::drawer::CashAtRegister>,
}

/// The `cash_in` or `cash_out` document of a cash movement.
pub fn cash_movement(id: Uuid, m: &CashMovement) -> NewDocument {
    let kind = match m.direction {
        CashDirection::In => DocumentKind::CashIn,
        CashDirection::Out => DocumentKind::CashOut,
    };
    let data = CashData {
        movement: m.id,
        lane: &m.lane,
        shift: m.shift_id,
        shift_number: m.shift_number,
        cashier: &m.cashier,
        at: m.at,
        amount: m.amount,
        reason: &m.reason,
        drawer: m.drawer_after,
        kkt: m.kkt.as_ref(),
    };
    NewDocument::new(id, kind, m.at, data)
}

#[derive(Serialize)]
struct ShiftOpenData<'a> {
    shift: Uuid,
    number: u32,
    lane: &'a str,
    cashier: &'a str,
    opened_at: Timestamp,
}

/// The `shift_open` document.
pub fn shift_open(id: Uuid, shift: &Shift) -> NewDocument {
    let data = ShiftOpenData {
        shift: shift.id,
        number: shift.number,
        lane: &shift.lane,
        cashier: &shift.cashier,
        opened_at: shift.opened_at,
    };
    NewDocument::new(id, DocumentKind::ShiftOpen, shift.opened_at, data)
}

/// Every total of a closed shift, zeros included: the CRM posts from it without guessing.
#[derive(Serialize)]
struct CloseTotals<'a> {
    sales: Decimal,
    cash: Decimal,
    card: Decimal,
    bonus: Decimal,
    credit: Decimal,
    change: Decimal,
    discounts: Decimal,
    refunds: Decimal,
    refund_cash: Decimal,
    refund_card: Decimal,
    refund_bonus: Decimal,
    refund_credit: Decimal,
    cash_in: Decimal,
    cash_out: Decimal,
    /// Cash the drawer should hold at the close.
    drawer: Decimal,
    /// Sales less returns by VAT rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_vat: Option<&'a BTreeMap<String, Decimal>>,
}

impl<'a> CloseTotals<'a> {
    fn of(shift: &'a Shift) -> CloseTotals<'a> {
        let t: &ShiftTotals = &shift.totals;
        let m = money::to_money;
        CloseTotals {
            sales: m(t.sales),
            cash: m(t.cash),
            card: m(t.card),
            bonus: m(t.bonus),
            credit: m(t.credit),
            change: m(t.change),
            discounts: m(t.discounts),
            refunds: m(t.refunds),
            refund_cash: m(t.refund_cash),
            refund_card: m(t.refund_card),
            refund_bonus: m(t.refund_bonus),
            refund_credit: m(t.refund_credit),
            cash_in: m(t.cash_in),
            cash_out: m(t.cash_out),
            drawer: t.drawer(),
            by_vat: shift.by_vat.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct ShiftCloseData<'a> {
    shift: Uuid,
    number: u32,
    lane: &'a str,
    /// Who closed the shift.
    cashier: &'a str,
    /// Who opened it.
    opened_by: &'a str,
    opened_at: Timestamp,
    closed_at: Timestamp,
    receipts: u32,
    returns: u32,
    totals: CloseTotals<'a>,
}

/// The `shift_close` document for a shift that has its `closed_at` set.
pub fn shift_close(id: Uuid, shift: &Shift, closed_at: Timestamp) -> NewDocument {
    let data = ShiftCloseData {
        shift: shift.id,
        number: shift.number,
        lane: &shift.lane,
        cashier: shift.responsible(),
        opened_by: &shift.cashier,
        opened_at: shift.opened_at,
        closed_at,
        receipts: shift.receipts,
        returns: shift.returns,
        totals: CloseTotals::of(shift),
    };
    NewDocument::new(id, DocumentKind::ShiftClose, closed_at, data)
}
