//! A checkout lane: its shift, its open receipt, and the rules that tie them together.
//!
//! Every operation either fails and leaves the lane untouched, or succeeds and returns the
//! [`Changes`] it caused — documents for the CRM, a closed receipt, a shift record, a print
//! request — which the lane's actor writes to the store in one transaction.

use crate::domain::Ctx;
use crate::domain::catalog::Item;
use crate::domain::document::{self, NewDocument};
use crate::domain::receipt::{ClosedReceipt, PaymentMethod, PaymentOutcome, Receipt, ReceiptError, ReceiptHeader, Scanned};
use crate::domain::shift::Shift;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The durable state of one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    pub id: String,
    pub shift: Option<Shift>,
    pub receipt: Option<Receipt>,
    /// Number of the last shift opened here, so numbers keep growing across shifts.
    pub last_shift_number: u32,
}

/// What a print request prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintDocument {
    /// The sale receipt of a closed receipt.
    #[default]
    Sale,
    /// The Z report of a closed shift.
    ZReport,
}

/// Something to print, decided by the domain and rendered by the printer's profile later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintRequest {
    pub id: Uuid,
    /// The closed receipt (or, for a Z report, the shift) to print.
    pub receipt: Uuid,
    /// Open the cash drawer with this job (a cash payment was taken).
    pub kick_drawer: bool,
    pub requested_at: Timestamp,
    #[serde(default)]
    pub document: PrintDocument,
}

/// Everything an operation changed besides the lane itself.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    pub documents: Vec<NewDocument>,
    pub closed: Option<ClosedReceipt>,
    /// A shift that was opened or closed, to keep in the shift journal.
    pub shift_record: Option<Shift>,
    pub print: Option<PrintRequest>,
}

/// The result of a payment.
#[derive(Debug, Clone, PartialEq)]
pub enum Paid {
    Partial { remaining: Decimal },
    Closed { receipt: Box<ClosedReceipt> },
}

/// Why a lane refused an operation. The lane is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    #[error("no shift is open on this lane")]
    NoShift,
    #[error("receipt {number} is still open: finish or cancel it before closing the shift")]
    ReceiptOpen { number: u32 },
    #[error("there is no open receipt")]
    NoReceipt,
    #[error("«{item}» is a marked item: scan its marking code (DataMatrix), not the plain barcode")]
    MarkRequired { item: String },
    #[error("a card payment was taken; the receipt can only be completed, not cancelled")]
    CardPaid,
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
}

impl LaneError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            LaneError::NoShift => "shift_closed",
            LaneError::ReceiptOpen { .. } => "receipt_open",
            LaneError::NoReceipt => "no_receipt",
            LaneError::MarkRequired { .. } => "mark_required",
            LaneError::CardPaid => "card_paid",
            LaneError::Receipt(e) => e.code(),
        }
    }
}

impl Lane {
    pub fn new(id: &str) -> Lane {
        Lane {
            id: id.to_string(),
            shift: None,
            receipt: None,
            last_shift_number: 0,
        }
    }

    /// Continue shift numbering after `floor`: the store was new or restored and the CRM may
    /// hold shifts up to that number (see `store::numbering`). A shift still open from the
    /// restored state at or below the floor is not continued — the CRM may hold receipts of it
    /// made after the backup — and its open receipt goes with it. Idempotent; returns whether
    /// the lane changed.
    pub fn continue_after(&mut self, floor: u32) -> bool {
        let mut changed = false;
        if self.shift.as_ref().is_some_and(|s| s.number <= floor) {
            self.shift = None;
            self.receipt = None;
            changed = true;
        }
        if self.last_shift_number < floor {
            self.last_shift_number = floor;
            changed = true;
        }
        changed
    }

    /// Open a shift. Opening an already open shift returns it unchanged: a cashier pressing
    /// the button twice is not an error.
    pub fn open_shift(&mut self, ctx: &mut Ctx<'_>) -> (Shift, Changes) {
        if let Some(shift) = &self.shift {
            return (shift.clone(), Changes::default());
        }
        let mut changes = Changes::default();
        let shift = self.start_shift(ctx, &mut changes);
        (shift, changes)
    }

    fn start_shift(&mut self, ctx: &mut Ctx<'_>, changes: &mut Changes) -> Shift {
        let number = self.last_shift_number + 1;
        let shift = Shift::new(ctx.new_id(), number, &self.id, ctx.cashier, ctx.now);
        changes.documents.push(document::shift_open(ctx.new_id(), &shift));
        changes.shift_record = Some(shift.clone());
        self.last_shift_number = number;
        self.shift = Some(shift.clone());
        shift
    }

    /// Add `qty` of `item` to the open receipt, opening the shift (on the first scan of the
    /// day) and the receipt as needed. Returns the line number.
    pub fn sell(&mut self, ctx: &mut Ctx<'_>, item: &Item, code: &str, qty: Decimal) -> Result<(u32, Changes), LaneError> {
        self.sell_scanned(ctx, item, Scanned::plain(code, qty))
    }

    /// Add what a scan found: a marked item only with its marking code (its plain EAN is
    /// refused with `mark_required`), a weighed item with the weight from its label.
    pub fn sell_scanned(&mut self, ctx: &mut Ctx<'_>, item: &Item, scanned: Scanned) -> Result<(u32, Changes), LaneError> {
        if item.marked && scanned.mark.is_none() {
            return Err(LaneError::MarkRequired { item: item.name.clone() });
        }
        self.on_receipt(ctx, |receipt| Ok(receipt.add_scanned(item, scanned)?))
    }

    /// Attach a loyalty card to the open receipt, opening one (and the shift) when the
    /// customer shows the card before the first item.
    pub fn attach_card(&mut self, ctx: &mut Ctx<'_>, card: &str) -> Result<Changes, LaneError> {
        self.on_receipt(ctx, |receipt| Ok(receipt.attach_card(card)?))
            .map(|(_, changes)| changes)
    }

    /// Apply `change` to the open receipt, opening the shift and the receipt first if needed.
    /// Validated against a scratch copy, so a refused change opens nothing.
    fn on_receipt<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        change: impl FnOnce(&mut Receipt) -> Result<T, LaneError>,
    ) -> Result<(T, Changes), LaneError> {
        let mut changes = Changes::default();
        let mut next = self.clone();
        if next.shift.is_none() {
            next.start_shift(ctx, &mut changes);
        }
        let receipt = next.receipt_or_open(ctx);
        let result = change(receipt)?;
        *self = next;
        Ok((result, changes))
    }

    fn receipt_or_open(&mut self, ctx: &mut Ctx<'_>) -> &mut Receipt {
        let Some(shift) = &self.shift else {
            unreachable!("sell opens the shift before the receipt")
        };
        self.receipt.get_or_insert_with(|| {
            Receipt::new(ReceiptHeader {
                id: ctx.new_id(),
                number: shift.next_receipt_number(),
                lane: &self.id,
                shift_id: shift.id,
                shift_number: shift.number,
                cashier: ctx.cashier,
                opened_at: ctx.now,
            })
        })
    }

    fn open_receipt(&mut self) -> Result<&mut Receipt, LaneError> {
        self.receipt.as_mut().ok_or(LaneError::NoReceipt)
    }

    pub fn set_qty(&mut self, no: u32, qty: Decimal) -> Result<(), LaneError> {
        Ok(self.open_receipt()?.set_qty(no, qty)?)
    }

    pub fn void_line(&mut self, no: u32) -> Result<(), LaneError> {
        Ok(self.open_receipt()?.void(no)?)
    }

    /// Cancel the open receipt before it is paid. Cash already taken is handed back by the
    /// cashier; a card charge cannot be undone here, so a card-paid receipt cannot be cancelled.
    pub fn cancel_receipt(&mut self) -> Result<(), LaneError> {
        let receipt = self.open_receipt()?;
        if receipt.paid_by(PaymentMethod::Card) > Decimal::ZERO {
            return Err(LaneError::CardPaid);
        }
        self.receipt = None;
        Ok(())
    }

    /// Take a payment; when the total is covered the receipt closes, the shift counts it, a
    /// `sale` document is produced and the receipt is queued for printing.
    pub fn pay(&mut self, ctx: &mut Ctx<'_>, method: PaymentMethod, amount: Decimal) -> Result<(Paid, Changes), LaneError> {
        let receipt = self.open_receipt()?;
        let mut next = receipt.clone();
        match next.pay(method, amount)? {
            PaymentOutcome::Partial { remaining } => {
                *receipt = next;
                Ok((Paid::Partial { remaining }, Changes::default()))
            }
            PaymentOutcome::Covered { change } => {
                let closed = next.close(change, ctx.now);
                self.receipt = None;
                let Some(shift) = self.shift.as_mut() else {
                    unreachable!("a receipt exists only inside an open shift")
                };
                shift.record_sale(&closed);
                let changes = Changes {
                    documents: vec![document::sale(ctx.new_id(), &closed)],
                    print: Some(PrintRequest {
                        id: ctx.new_id(),
                        receipt: closed.receipt.id,
                        kick_drawer: closed.took_cash(),
                        requested_at: ctx.now,
                        document: PrintDocument::Sale,
                    }),
                    closed: Some(closed.clone()),
                    shift_record: None,
                };
                Ok((Paid::Closed { receipt: Box::new(closed) }, changes))
            }
        }
    }

    /// Close the shift with its totals. An open receipt with lines blocks it; an empty one is
    /// simply discarded.
    pub fn close_shift(&mut self, ctx: &mut Ctx<'_>) -> Result<(Shift, Changes), LaneError> {
        if let Some(receipt) = &self.receipt {
            if !receipt.lines.is_empty() {
                return Err(LaneError::ReceiptOpen { number: receipt.number });
            }
        }
        let mut shift = self.shift.take().ok_or(LaneError::NoShift)?;
        self.receipt = None;
        shift.closed_at = Some(ctx.now);
        let changes = Changes {
            documents: vec![document::shift_close(ctx.new_id(), &shift, ctx.now)],
            shift_record: Some(shift.clone()),
            // The Z report comes out of the lane's printer with the closing.
            print: Some(PrintRequest {
                id: ctx.new_id(),
                receipt: shift.id,
                kick_drawer: false,
                requested_at: ctx.now,
                document: PrintDocument::ZReport,
            }),
            ..Changes::default()
        };
        Ok((shift, changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::DocumentKind;
    use rust_decimal_macros::dec;

    fn item(id: &str, price: Decimal) -> Item {
        Item {
            id: id.into(),
            sku: id.into(),
            name: format!("Товар {id}"),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: [("retail".to_string(), price)].into(),
        }
    }

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn first_scan_opens_shift_and_receipt_then_sale_closes_with_documents() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        let (no, changes) = lane.sell(&mut ctx, &item("I-1", dec!(89.90)), "4601234567893", dec!(1)).unwrap();
        assert_eq!(no, 1);
        assert_eq!(changes.documents.len(), 1);
        assert_eq!(changes.documents[0].kind, DocumentKind::ShiftOpen);
        assert_eq!(lane.shift.as_ref().unwrap().number, 1);
        assert_eq!(lane.receipt.as_ref().unwrap().number, 1);

        let (paid, changes) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(100)).unwrap();
        let Paid::Closed { receipt } = paid else { panic!("not closed") };
        assert_eq!(receipt.change, dec!(10.10));
        assert_eq!(changes.documents[0].kind, DocumentKind::Sale);
        assert_eq!(changes.documents[0].data["total"], "89.90");
        assert_eq!(changes.documents[0].data["change"], "10.10");
        assert!(changes.print.as_ref().unwrap().kick_drawer);
        assert!(lane.receipt.is_none());
        assert_eq!(lane.shift.as_ref().unwrap().receipts, 1);

        // The next receipt of the shift gets number 2.
        lane.sell(&mut ctx, &item("I-1", dec!(89.90)), "x", dec!(1)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().number, 2);
    }

    #[test]
    fn refused_sale_opens_nothing() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        let mut no_price = item("I-9", dec!(1));
        no_price.prices.clear();
        assert!(lane.sell(&mut ctx, &no_price, "x", dec!(1)).is_err());
        assert_eq!(lane, Lane::new("1"));
        let mut marked = item("I-3", dec!(4990));
        marked.marked = true;
        assert_eq!(lane.sell(&mut ctx, &marked, "x", dec!(1)).unwrap_err().code(), "mark_required");
        assert_eq!(lane, Lane::new("1"));
    }

    #[test]
    fn a_marked_item_sells_by_its_mark_and_the_sale_carries_it() {
        use crate::domain::receipt::LineMark;
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        let mut shoes = item("I-3", dec!(4990));
        shoes.marked = true;
        let mark = LineMark {
            gtin: "04601234567893".into(),
            serial: "5abc".into(),
            code: "01046012345678932150abc\u{1d}93abcd".into(),
        };
        let scanned = Scanned {
            mark: Some(mark.clone()),
            ..Scanned::plain("4601234567893", dec!(1))
        };
        lane.attach_card(&mut ctx, "2770000001236").unwrap();
        lane.sell_scanned(&mut ctx, &shoes, scanned.clone()).unwrap();
        let before = lane.clone();
        assert_eq!(lane.sell_scanned(&mut ctx, &shoes, scanned).unwrap_err().code(), "duplicate_mark");
        assert_eq!(lane, before);
        let (_, changes) = lane.pay(&mut ctx, PaymentMethod::Card, dec!(4990)).unwrap();
        let data = &changes.documents[0].data;
        assert_eq!(data["lines"][0]["mark"]["serial"], "5abc");
        assert_eq!(data["lines"][0]["mark"]["code"], mark.code);
        assert_eq!(data["loyalty_card"], "2770000001236");
    }

    #[test]
    fn shift_close_needs_an_empty_lane_and_reports_totals() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        assert_eq!(lane.close_shift(&mut ctx).unwrap_err(), LaneError::NoShift);
        lane.sell(&mut ctx, &item("A", dec!(100)), "a", dec!(2)).unwrap();
        assert_eq!(lane.close_shift(&mut ctx).unwrap_err().code(), "receipt_open");
        lane.pay(&mut ctx, PaymentMethod::Card, dec!(150)).unwrap();
        lane.pay(&mut ctx, PaymentMethod::Cash, dec!(100)).unwrap();
        let (shift, changes) = lane.close_shift(&mut ctx).unwrap();
        assert_eq!(shift.totals.sales, dec!(200.00));
        assert_eq!(shift.totals.card, dec!(150.00));
        assert_eq!(shift.totals.cash, dec!(50.00));
        assert_eq!(shift.totals.change, dec!(50.00));
        assert_eq!(changes.documents[0].kind, DocumentKind::ShiftClose);
        assert!(lane.shift.is_none());
        let (next, _) = lane.open_shift(&mut ctx);
        assert_eq!(next.number, 2);
    }

    #[test]
    fn numbering_continues_after_the_floor_and_a_restored_shift_is_not_continued() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &item("A", dec!(100)), "a", dec!(1)).unwrap();
        assert!(lane.continue_after(1042));
        assert!(lane.shift.is_none() && lane.receipt.is_none());
        let (shift, _) = lane.open_shift(&mut ctx);
        assert_eq!(shift.number, 1043);
        assert!(!lane.continue_after(1042), "the new shift is above the floor and stays");
        assert_eq!(lane.shift.as_ref().unwrap().number, 1043);
    }

    #[test]
    fn a_card_paid_receipt_cannot_be_cancelled() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &item("A", dec!(100)), "a", dec!(1)).unwrap();
        lane.pay(&mut ctx, PaymentMethod::Card, dec!(50)).unwrap();
        assert_eq!(lane.cancel_receipt(), Err(LaneError::CardPaid));
        assert!(lane.receipt.is_some());
    }
}
