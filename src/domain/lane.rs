//! A checkout lane: its shift, its open receipt, the receipts parked on it, and the rules that
//! tie them together.
//!
//! Every operation either fails and leaves the lane untouched, or succeeds and returns the
//! [`Changes`] it caused — documents for the CRM, a closed receipt or return, a shift record,
//! ledger changes for a client, a print request — which the lane's actor writes to the store in
//! one transaction.

use crate::domain::Ctx;
use crate::domain::catalog::Item;
use crate::domain::client::{Client, ClientAccount, ReceiptClient};
use crate::domain::document::{self, NewDocument};
use crate::domain::drawer::{self, CashDirection, CashMovement, DrawerError};
use crate::domain::loyalty::LedgerOp;
use crate::domain::pricing::DiscountValue;
use crate::domain::receipt::{
    ClosedReceipt, PayTerms, PaymentMethod, PaymentOutcome, Receipt, ReceiptError, ReceiptHeader, Scanned, Tender,
};
use crate::domain::returns::{self, ClosedReturn, RefundTo, ReturnError, ReturnHeader, ReturnRequest};
use crate::domain::shift::{Shift, ShiftError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most receipts one lane keeps parked: a queue of forgotten baskets helps nobody.
pub const MAX_PARKED: usize = 20;

/// The durable state of one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    pub id: String,
    pub shift: Option<Shift>,
    pub receipt: Option<Receipt>,
    /// Number of the last shift opened here, so numbers keep growing across shifts.
    pub last_shift_number: u32,
    /// Receipts put aside (отложенные чеки), oldest first; they survive restarts with the lane.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parked: Vec<Parked>,
    /// A sale waiting for the fiscal register's document (see [`crate::domain::fiscal`]): while
    /// it is here the lane takes no new operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal: Option<crate::domain::fiscal::FiscalPending>,
}

/// A receipt put aside while the customer fetches something they forgot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub receipt: Receipt,
    pub parked_at: Timestamp,
    /// Who put it aside.
    pub by: String,
}

/// What the cashier's list of parked receipts shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedSummary {
    pub id: Uuid,
    pub number: u32,
    pub opened_at: Timestamp,
    pub parked_at: Timestamp,
    pub total: Decimal,
    pub lines: usize,
    pub by: String,
}

impl Parked {
    pub fn summary(&self) -> ParkedSummary {
        ParkedSummary {
            id: self.receipt.id,
            number: self.receipt.number,
            opened_at: self.receipt.opened_at,
            parked_at: self.parked_at,
            total: self.receipt.total(),
            lines: self.receipt.lines.len(),
            by: self.by.clone(),
        }
    }
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
    /// The return receipt (чек возврата); its content travels with the request.
    Return,
    /// The slip of a cash in / cash out; its content travels with the request.
    CashSlip,
    /// The X report: the shift so far, as it was when asked for.
    XReport,
}

/// What a print request prints when the store keeps no record of its own to look up: the
/// return, the cash movement, the shift as it stood for an X report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrintContent {
    Return(Box<ClosedReturn>),
    CashSlip(CashMovement),
    XReport(Box<Shift>),
}

/// Something to print, decided by the domain and rendered by the printer's profile later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintRequest {
    pub id: Uuid,
    /// The closed receipt (for a Z or X report the shift, for a return the return, for a
    /// slip the cash movement) it prints.
    pub receipt: Uuid,
    /// Open the cash drawer with this job (cash changed hands).
    pub kick_drawer: bool,
    pub requested_at: Timestamp,
    #[serde(default)]
    pub document: PrintDocument,
    /// The printout's data, for documents the store does not keep a record of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<PrintContent>,
}

/// Everything an operation changed besides the lane itself.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    pub documents: Vec<NewDocument>,
    pub closed: Option<ClosedReceipt>,
    /// A shift that was opened or closed, to keep in the shift journal.
    pub shift_record: Option<Shift>,
    pub print: Option<PrintRequest>,
    /// A return made, to keep in the returns journal (the next return of the same sale is
    /// judged against it).
    pub returned: Option<ClosedReturn>,
    /// A cash movement made (внесение / выплата); its document is among `documents`.
    pub cash: Option<CashMovement>,
    /// Changes to clients' ledgers, to apply with [`crate::domain::loyalty::ClientLedger::apply`]
    /// in the same transaction; an error there must abort the whole commit.
    pub ledger: Vec<LedgerOp>,
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
    #[error("смена на этой кассе не открыта")]
    NoShift,
    #[error("чек № {number} ещё открыт: завершите или отмените его")]
    ReceiptOpen { number: u32 },
    #[error("открытого чека нет")]
    NoReceipt,
    #[error("«{item}» — маркированный товар: сканируйте код маркировки (DataMatrix), а не обычный штрихкод")]
    MarkRequired { item: String },
    #[error("по чеку прошла оплата картой: его можно только завершить, не отменить")]
    CardPaid,
    #[error("по чеку уже приняты бонусы или кредит: отмените его так, чтобы они вернулись клиенту")]
    HeldPayments,
    #[error("отложено чеков: {count}; верните их в работу и завершите или отмените перед закрытием смены")]
    ParkedReceipts { count: usize },
    #[error("отложенного чека {0} нет")]
    UnknownParked(Uuid),
    #[error("отложено уже {MAX_PARKED} чеков: сначала завершите какой-нибудь из них")]
    TooManyParked,
    #[error("{what} ещё пробивается на кассе (ККТ): дождитесь ответа кассы или устраните ошибку и нажмите «Повторить»")]
    Fiscalising { what: String },
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    #[error(transparent)]
    Return(#[from] ReturnError),
    #[error(transparent)]
    Drawer(#[from] DrawerError),
    #[error(transparent)]
    Shift(#[from] ShiftError),
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
            LaneError::HeldPayments => "held_payments",
            LaneError::ParkedReceipts { .. } => "parked_receipts",
            LaneError::UnknownParked(_) => "unknown_parked",
            LaneError::TooManyParked => "too_many_parked",
            LaneError::Fiscalising { .. } => "fiscal_pending",
            LaneError::Receipt(e) => e.code(),
            LaneError::Return(e) => e.code(),
            LaneError::Drawer(e) => e.code(),
            LaneError::Shift(e) => e.code(),
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
            parked: Vec::new(),
            fiscal: None,
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
    /// refused with `mark_required`), a weighed item with the weight from its label. The
    /// receipt is re-priced with the context's promotions.
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

    /// Sell the open receipt to `client` (the caller found it by loyalty card or phone),
    /// opening the receipt and the shift when needed. Refused once a payment is taken.
    pub fn attach_client(&mut self, ctx: &mut Ctx<'_>, client: &Client, account: &ClientAccount) -> Result<Changes, LaneError> {
        let snapshot = ReceiptClient::new(client, account);
        self.on_receipt(ctx, |receipt| Ok(receipt.attach_client(snapshot)?))
            .map(|(_, changes)| changes)
    }

    /// Sell the open receipt to nobody in particular again.
    pub fn detach_client(&mut self, ctx: &mut Ctx<'_>) -> Result<(), LaneError> {
        self.edit_open(ctx, |r| Ok(r.detach_client()?))
    }

    /// Apply `change` to the open receipt, opening the shift and the receipt first if needed.
    /// Validated against a scratch copy, so a refused change opens nothing.
    fn on_receipt<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        change: impl FnOnce(&mut Receipt) -> Result<T, LaneError>,
    ) -> Result<(T, Changes), LaneError> {
        self.not_fiscalising()?;
        let mut changes = Changes::default();
        let mut next = self.clone();
        if next.shift.is_none() {
            next.start_shift(ctx, &mut changes);
        }
        let offer = ctx.offer();
        let receipt = next.receipt_or_open(ctx);
        if let Some(offer) = offer {
            receipt.set_offer(offer)?;
        }
        let result = change(receipt)?;
        *self = next;
        Ok((result, changes))
    }

    /// Apply `change` to the existing open receipt (re-priced with the context's promotions).
    fn edit_open(&mut self, ctx: &Ctx<'_>, change: impl FnOnce(&mut Receipt) -> Result<(), LaneError>) -> Result<(), LaneError> {
        let mut next = self.open_receipt()?.clone();
        if let Some(offer) = ctx.offer() {
            next.set_offer(offer)?;
        }
        change(&mut next)?;
        *self.open_receipt()? = next;
        Ok(())
    }

    fn receipt_or_open(&mut self, ctx: &mut Ctx<'_>) -> &mut Receipt {
        let Some(shift) = self.shift.as_mut() else {
            unreachable!("sell opens the shift before the receipt")
        };
        self.receipt.get_or_insert_with(|| {
            Receipt::new(ReceiptHeader {
                id: ctx.new_id(),
                number: shift.take_receipt_number(),
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

    /// Change the quantity of line `no`; the receipt is re-priced with the promotions it was
    /// last priced with.
    pub fn set_qty(&mut self, no: u32, qty: Decimal) -> Result<(), LaneError> {
        Ok(self.open_receipt()?.set_qty(no, qty)?)
    }

    /// Void line `no`; the receipt is re-priced with the promotions it was last priced with.
    pub fn void_line(&mut self, no: u32) -> Result<(), LaneError> {
        Ok(self.open_receipt()?.void(no)?)
    }

    /// Re-price the open receipt with the context's promotions and time (a promotion's hours
    /// began or ended, the feed changed a promotion). Frozen once a payment is taken.
    pub fn reprice(&mut self, ctx: &Ctx<'_>) -> Result<(), LaneError> {
        self.edit_open(ctx, |_| Ok(()))
    }

    /// Set (or with `None` remove) a manual discount on line `no`, given by `ctx.cashier`
    /// whose role may give at most `max_percent` (`discount_limit` beyond it).
    pub fn discount_line(&mut self, ctx: &Ctx<'_>, no: u32, value: Option<DiscountValue>, max_percent: Decimal) -> Result<(), LaneError> {
        let by = ctx.cashier;
        self.edit_open(ctx, |r| Ok(r.discount_line(no, value, max_percent, by)?))
    }

    /// Set (or with `None` remove) a manual discount on the whole receipt, spread over the
    /// lines without a manual line discount; `max_percent` as for [`Lane::discount_line`].
    pub fn discount_receipt(&mut self, ctx: &Ctx<'_>, value: Option<DiscountValue>, max_percent: Decimal) -> Result<(), LaneError> {
        let by = ctx.cashier;
        self.edit_open(ctx, |r| Ok(r.discount_receipt(value, max_percent, by)?))
    }

    /// Cancel the open receipt before it is paid. Cash already taken is handed back by the
    /// cashier; a card charge cannot be undone here, so a card-paid receipt cannot be
    /// cancelled. A receipt with points or credit taken must go through [`Lane::cancel`],
    /// which gives them back.
    pub fn cancel_receipt(&mut self) -> Result<(), LaneError> {
        let receipt = self.open_receipt()?;
        if receipt.paid_by(PaymentMethod::Card) > Decimal::ZERO {
            return Err(LaneError::CardPaid);
        }
        if receipt.paid_by(PaymentMethod::Bonus) > Decimal::ZERO || receipt.paid_by(PaymentMethod::Credit) > Decimal::ZERO {
            return Err(LaneError::HeldPayments);
        }
        self.cancel().map(|_| ())
    }

    /// Cancel the open receipt (not once a card was charged), releasing the points and credit
    /// it held in the client's ledger.
    pub fn cancel(&mut self) -> Result<Changes, LaneError> {
        let receipt = self.open_receipt()?;
        if receipt.paid_by(PaymentMethod::Card) > Decimal::ZERO {
            return Err(LaneError::CardPaid);
        }
        let mut changes = Changes::default();
        if let Some(client) = &receipt.client {
            let held = receipt
                .paid_by(PaymentMethod::Bonus)
                .saturating_add(receipt.paid_by(PaymentMethod::Credit));
            if held > Decimal::ZERO {
                changes.ledger.push(LedgerOp::Release {
                    client: client.id.clone(),
                    receipt: receipt.id,
                });
            }
        }
        self.receipt = None;
        Ok(changes)
    }

    /// Take a payment; when the total is covered the receipt closes, the shift counts it, a
    /// `sale` document is produced and the receipt is queued for printing.
    pub fn pay(&mut self, ctx: &mut Ctx<'_>, method: PaymentMethod, amount: Decimal) -> Result<(Paid, Changes), LaneError> {
        self.pay_tender(ctx, &Tender::new(method, amount), &PayTerms::default())
    }

    /// Take a payment under `terms` (loyalty program, the client's ledger, the cash amount
    /// that needs confirming). A bonus or credit payment holds its amount in the client's
    /// ledger (`Changes::ledger`). When the total is covered the receipt closes under
    /// `ctx.cashier` (who took the payment), earns points, the shift counts it, and a `sale`
    /// document and a print request are produced.
    pub fn pay_tender(&mut self, ctx: &mut Ctx<'_>, tender: &Tender, terms: &PayTerms<'_>) -> Result<(Paid, Changes), LaneError> {
        self.not_fiscalising()?;
        let mut next = self.clone();
        let receipt = next.open_receipt()?;
        let outcome = receipt.take(tender, terms)?;
        let mut changes = Changes::default();
        if let Some(client) = &receipt.client {
            let (bonus, credit) = match tender.method {
                PaymentMethod::Bonus => (receipt.payments.last().map_or(Decimal::ZERO, |p| p.amount), Decimal::ZERO),
                PaymentMethod::Credit => (Decimal::ZERO, receipt.payments.last().map_or(Decimal::ZERO, |p| p.amount)),
                _ => (Decimal::ZERO, Decimal::ZERO),
            };
            if bonus > Decimal::ZERO || credit > Decimal::ZERO {
                changes.ledger.push(LedgerOp::Hold {
                    client: client.id.clone(),
                    receipt: receipt.id,
                    bonus,
                    credit,
                });
            }
        }
        let change = match outcome {
            PaymentOutcome::Partial { remaining } => {
                *self = next;
                return Ok((Paid::Partial { remaining }, changes));
            }
            PaymentOutcome::Covered { change } => change,
        };
        let mut open = next.receipt.take().ok_or(LaneError::NoReceipt)?;
        open.cashier = ctx.cashier.to_string();
        let mut closed = open.close(change, ctx.now);
        if let Some(client) = &closed.receipt.client {
            closed.bonus_accrued = terms.loyalty.accrual(closed.total - closed.receipt.paid_by(PaymentMethod::Bonus));
            let held = closed
                .receipt
                .paid_by(PaymentMethod::Bonus)
                .saturating_add(closed.receipt.paid_by(PaymentMethod::Credit));
            if closed.bonus_accrued > Decimal::ZERO || held > Decimal::ZERO {
                changes.ledger.push(LedgerOp::Close {
                    client: client.id.clone(),
                    receipt: closed.receipt.id,
                    accrued: closed.bonus_accrued,
                });
            }
        }
        // A receipt exists only inside an open shift.
        let shift = next.shift.as_mut().ok_or(LaneError::NoShift)?;
        shift.record_sale(&closed)?;
        changes.documents.push(document::sale(ctx.new_id(), &closed));
        changes.print = Some(PrintRequest {
            id: ctx.new_id(),
            receipt: closed.receipt.id,
            kick_drawer: closed.took_cash(),
            requested_at: ctx.now,
            document: PrintDocument::Sale,
            content: None,
        });
        changes.closed = Some(closed.clone());
        *self = next;
        Ok((Paid::Closed { receipt: Box::new(closed) }, changes))
    }

    /// Put the open receipt aside (отложить чек) so the next customer can be served. Only a
    /// receipt with lines and without payments; its number stays its own.
    pub fn park(&mut self, ctx: &Ctx<'_>) -> Result<ParkedSummary, LaneError> {
        let receipt = self.receipt.as_ref().ok_or(LaneError::NoReceipt)?;
        if receipt.lines.is_empty() {
            return Err(ReceiptError::Empty.into());
        }
        if !receipt.is_editable() {
            return Err(ReceiptError::PaymentStarted.into());
        }
        if self.parked.len() >= MAX_PARKED {
            return Err(LaneError::TooManyParked);
        }
        let receipt = self.receipt.take().ok_or(LaneError::NoReceipt)?;
        let parked = Parked {
            receipt,
            parked_at: ctx.now,
            by: ctx.cashier.to_string(),
        };
        let summary = parked.summary();
        self.parked.push(parked);
        Ok(summary)
    }

    /// The parked receipts, oldest first.
    pub fn parked(&self) -> Vec<ParkedSummary> {
        self.parked.iter().map(Parked::summary).collect()
    }

    /// Bring parked receipt `id` back as the open receipt, re-priced with the context's
    /// promotions. Only when no receipt with lines is open (an empty one is dropped).
    pub fn resume(&mut self, ctx: &Ctx<'_>, id: Uuid) -> Result<(), LaneError> {
        self.not_fiscalising()?;
        if let Some(open) = &self.receipt {
            if !open.lines.is_empty() {
                return Err(LaneError::ReceiptOpen { number: open.number });
            }
        }
        let index = self
            .parked
            .iter()
            .position(|p| p.receipt.id == id)
            .ok_or(LaneError::UnknownParked(id))?;
        let mut receipt = self.parked[index].receipt.clone();
        if let Some(offer) = ctx.offer() {
            receipt.set_offer(offer)?;
        }
        self.parked.remove(index);
        self.receipt = Some(receipt);
        Ok(())
    }

    /// Return lines of a closed `sale` (see [`crate::domain::returns`]): `earlier` are the
    /// returns already made against it. Opens the shift if none is open; a cash refund cannot
    /// exceed the cash the drawer should hold (`drawer_short`). Produces the `return` document,
    /// the return for the journal and the return receipt's print request.
    pub fn return_sale(
        &mut self,
        ctx: &mut Ctx<'_>,
        sale: &ClosedReceipt,
        earlier: &[ClosedReturn],
        lines: &[ReturnRequest],
        refund: &RefundTo,
    ) -> Result<(ClosedReturn, Changes), LaneError> {
        self.make_return(ctx, |header| returns::against_sale(header, sale, earlier, lines, refund))
    }

    /// Return goods without their receipt, at the retail price; only when the caller says the
    /// acting role may (`return_not_allowed` otherwise).
    pub fn return_without_receipt(
        &mut self,
        ctx: &mut Ctx<'_>,
        items: &[(Item, Decimal)],
        refund: &RefundTo,
        allowed: bool,
    ) -> Result<(ClosedReturn, Changes), LaneError> {
        if !allowed {
            return Err(ReturnError::NotAllowed.into());
        }
        self.make_return(ctx, |header| returns::without_receipt(header, items, refund, allowed))
    }

    fn make_return(
        &mut self,
        ctx: &mut Ctx<'_>,
        build: impl FnOnce(ReturnHeader<'_>) -> Result<ClosedReturn, ReturnError>,
    ) -> Result<(ClosedReturn, Changes), LaneError> {
        self.not_fiscalising()?;
        let mut next = self.clone();
        let mut changes = Changes::default();
        if next.shift.is_none() {
            next.start_shift(ctx, &mut changes);
        }
        let shift = next.shift.as_mut().ok_or(LaneError::NoShift)?;
        let header = ReturnHeader {
            id: ctx.new_id(),
            number: shift.next_return_number(),
            lane: &next.id,
            shift_id: shift.id,
            shift_number: shift.number,
            cashier: ctx.cashier,
            at: ctx.now,
        };
        let ret = build(header)?;
        let drawer = shift.totals.drawer();
        let cash = ret.refunded_by(PaymentMethod::Cash);
        if cash > drawer {
            return Err(DrawerError::Short { drawer, amount: cash }.into());
        }
        shift.record_return(&ret)?;
        changes.documents.push(document::return_doc(ctx.new_id(), &ret));
        changes.print = Some(PrintRequest {
            id: ctx.new_id(),
            receipt: ret.id,
            kick_drawer: ret.pays_cash(),
            requested_at: ctx.now,
            document: PrintDocument::Return,
            content: Some(PrintContent::Return(Box::new(ret.clone()))),
        });
        changes.returned = Some(ret.clone());
        *self = next;
        Ok((ret, changes))
    }

    /// Put cash into the drawer (внесение), with a reason; a `cash_in` document and a slip.
    pub fn cash_in(&mut self, ctx: &mut Ctx<'_>, amount: Decimal, reason: &str) -> Result<(CashMovement, Changes), LaneError> {
        self.move_cash(ctx, CashDirection::In, amount, reason)
    }

    /// Take cash out of the drawer (выплата, инкассация), never more than it should hold; a
    /// `cash_out` document and a slip.
    pub fn cash_out(&mut self, ctx: &mut Ctx<'_>, amount: Decimal, reason: &str) -> Result<(CashMovement, Changes), LaneError> {
        self.move_cash(ctx, CashDirection::Out, amount, reason)
    }

    fn move_cash(
        &mut self,
        ctx: &mut Ctx<'_>,
        direction: CashDirection,
        amount: Decimal,
        reason: &str,
    ) -> Result<(CashMovement, Changes), LaneError> {
        self.not_fiscalising()?;
        let mut next = self.clone();
        let shift = next.shift.as_mut().ok_or(LaneError::NoShift)?;
        let reason = drawer::check_reason(reason)?;
        let (amount, drawer_after) = drawer::check_movement(direction, amount, shift.totals.drawer())?;
        let movement = CashMovement {
            id: ctx.new_id(),
            direction,
            amount,
            reason,
            lane: next.id.clone(),
            shift_id: shift.id,
            shift_number: shift.number,
            cashier: ctx.cashier.to_string(),
            at: ctx.now,
            drawer_after,
            kkt: None,
        };
        shift.record_cash(&movement)?;
        let changes = Changes {
            documents: vec![document::cash_movement(ctx.new_id(), &movement)],
            cash: Some(movement.clone()),
            print: Some(PrintRequest {
                id: ctx.new_id(),
                receipt: movement.id,
                kick_drawer: true,
                requested_at: ctx.now,
                document: PrintDocument::CashSlip,
                content: Some(PrintContent::CashSlip(movement.clone())),
            }),
            ..Changes::default()
        };
        *self = next;
        Ok((movement, changes))
    }

    /// The X report: the shift so far, printed without closing it.
    pub fn x_report(&self, ctx: &mut Ctx<'_>) -> Result<(Shift, Changes), LaneError> {
        let shift = self.shift.clone().ok_or(LaneError::NoShift)?;
        let changes = Changes {
            print: Some(PrintRequest {
                id: ctx.new_id(),
                receipt: shift.id,
                kick_drawer: false,
                requested_at: ctx.now,
                document: PrintDocument::XReport,
                content: Some(PrintContent::XReport(Box::new(shift.clone()))),
            }),
            ..Changes::default()
        };
        Ok((shift, changes))
    }

    /// Close the shift with its totals, under `ctx.cashier`. An open receipt with lines blocks
    /// it, and so do parked receipts; an empty open receipt is simply discarded.
    pub fn close_shift(&mut self, ctx: &mut Ctx<'_>) -> Result<(Shift, Changes), LaneError> {
        self.not_fiscalising()?;
        if let Some(receipt) = &self.receipt {
            if !receipt.lines.is_empty() {
                return Err(LaneError::ReceiptOpen { number: receipt.number });
            }
        }
        if !self.parked.is_empty() {
            return Err(LaneError::ParkedReceipts { count: self.parked.len() });
        }
        let mut shift = self.shift.take().ok_or(LaneError::NoShift)?;
        self.receipt = None;
        shift.closed_at = Some(ctx.now);
        shift.closed_by = Some(ctx.cashier.to_string());
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
                content: None,
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
    use crate::domain::loyalty::LoyaltyRules;
    use crate::domain::pricing::Offers;
    use crate::domain::promotion::tests::promo;
    use crate::domain::promotion::{Promotion, Rule};
    use proptest::prelude::*;
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

    fn local() -> jiff::civil::DateTime {
        "2026-03-02T12:00".parse().unwrap()
    }

    fn client(stop_list: bool) -> (Client, ClientAccount) {
        (
            Client {
                id: "C-77".into(),
                name: "ООО Ромашка".into(),
                phones: vec![],
                debt: Some(dec!(0)),
                overdue: None,
                credit_limit: Some(dec!(1000)),
                stop_list,
                segment: None,
                manager: None,
                loyalty_cards: vec![],
                last_activity: None,
            },
            ClientAccount {
                bonus_balance: dec!(350),
                allow_credit: true,
            },
        )
    }

    #[test]
    fn the_cashier_who_takes_the_payment_is_on_the_receipt_and_the_sale() {
        let mut next_id = ids();
        let mut lane = Lane::new("1");
        // The hardware scanner rings the item up before anyone logs in.
        let mut scanner = Ctx::new(Timestamp::UNIX_EPOCH, "Касса 1", &mut next_id);
        lane.sell(&mut scanner, &item("I-1", dec!(89.90)), "x", dec!(1)).unwrap();
        let mut anna = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let (Paid::Closed { receipt }, changes) = lane.pay(&mut anna, PaymentMethod::Card, dec!(89.90)).unwrap() else {
            panic!("not closed")
        };
        assert_eq!(receipt.receipt.cashier, "Анна");
        assert_eq!(changes.documents[0].data["cashier"], "Анна");
        let mut boris = Ctx::new(Timestamp::UNIX_EPOCH, "Борис", &mut next_id);
        let (shift, changes) = lane.close_shift(&mut boris).unwrap();
        assert_eq!(shift.responsible(), "Борис");
        assert_eq!(changes.documents[0].data["cashier"], "Борис");
        assert_eq!(changes.documents[0].data["opened_by"], "Касса 1");
    }

    #[test]
    fn promotions_come_with_the_context_and_stay_with_the_receipt() {
        let mut next_id = ids();
        let promos = [promo(
            "PR-7",
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(2),
            },
            &["I-1"],
        )];
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id).with_offers(Offers {
            promotions: &promos,
            local: local(),
        });
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &item("I-1", dec!(100)), "x", dec!(1)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().total(), dec!(100.00));
        // A quantity change comes without offers: the receipt re-prices with its own.
        lane.set_qty(1, dec!(2)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().total(), dec!(180.00));
        lane.void_line(1).unwrap();
        lane.sell(&mut ctx, &item("I-1", dec!(100)), "x", dec!(3)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().total(), dec!(270.00));
        // The promotion ended: repricing with the new set drops it.
        let none: [Promotion; 0] = [];
        let mut later_ids = ids();
        let later = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut later_ids).with_offers(Offers {
            promotions: &none,
            local: local(),
        });
        lane.reprice(&later).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().total(), dec!(300.00));
        // Manual discounts through the lane, limited by the role.
        assert_eq!(
            lane.discount_line(&later, 2, Some(DiscountValue::Percent(dec!(15))), dec!(10))
                .unwrap_err()
                .code(),
            "discount_limit"
        );
        lane.discount_receipt(&later, Some(DiscountValue::Amount(dec!(30))), dec!(10))
            .unwrap();
        let (_, changes) = lane.pay(&mut ctx, PaymentMethod::Card, dec!(270)).unwrap();
        let line = &changes.documents[0].data["lines"][0];
        assert_eq!((line["discount"].as_str(), line["sum"].as_str()), (Some("30.00"), Some("270.00")));
        assert_eq!(lane.shift.as_ref().unwrap().totals.discounts, dec!(30.00));
    }

    #[test]
    fn parked_receipts_keep_their_numbers_and_survive_a_restart() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        assert_eq!(lane.park(&ctx).unwrap_err().code(), "no_receipt");
        lane.sell(&mut ctx, &item("A", dec!(10)), "a", dec!(2)).unwrap();
        let parked = lane.park(&ctx).unwrap();
        assert_eq!((parked.number, parked.lines, parked.total), (1, 1, dec!(20.00)));
        assert!(lane.receipt.is_none());
        // The next customer gets receipt 2, and after it receipt 3: never 1 again.
        lane.sell(&mut ctx, &item("B", dec!(5)), "b", dec!(1)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().number, 2);
        assert_eq!(lane.resume(&ctx, parked.id).unwrap_err().code(), "receipt_open");
        lane.pay(&mut ctx, PaymentMethod::Cash, dec!(5)).unwrap();
        assert_eq!(lane.close_shift(&mut ctx).unwrap_err().code(), "parked_receipts");
        // A restart: the lane as stored, read back.
        let stored: Lane = serde_json::from_str(&serde_json::to_string(&lane).unwrap()).unwrap();
        assert_eq!(stored, lane);
        let mut lane = stored;
        assert_eq!(lane.parked().len(), 1);
        assert_eq!(lane.resume(&ctx, Uuid::from_u128(999)).unwrap_err().code(), "unknown_parked");
        lane.resume(&ctx, parked.id).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().number, 1);
        assert!(lane.parked().is_empty());
        lane.pay(&mut ctx, PaymentMethod::Cash, dec!(20)).unwrap();
        lane.sell(&mut ctx, &item("C", dec!(1)), "c", dec!(1)).unwrap();
        assert_eq!(lane.receipt.as_ref().unwrap().number, 3);
        // A paid-into receipt cannot be parked.
        lane.pay(&mut ctx, PaymentMethod::Cash, dec!(0.5)).unwrap();
        assert_eq!(lane.park(&ctx).unwrap_err().code(), "payment_started");
    }

    #[test]
    fn returns_cash_movements_and_the_drawer() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        assert_eq!(lane.cash_in(&mut ctx, dec!(1000), "размен").unwrap_err().code(), "shift_closed");
        lane.open_shift(&mut ctx);
        let (movement, changes) = lane.cash_in(&mut ctx, dec!(1000), "размен").unwrap();
        assert_eq!(movement.drawer_after, dec!(1000.00));
        assert_eq!(changes.documents[0].kind, DocumentKind::CashIn);
        assert_eq!(changes.documents[0].data["reason"], "размен");
        let print = changes.print.unwrap();
        assert_eq!(print.document, PrintDocument::CashSlip);
        assert!(matches!(print.content, Some(PrintContent::CashSlip(_))));
        assert_eq!(lane.cash_in(&mut ctx, dec!(10), " ").unwrap_err().code(), "reason_required");

        lane.sell(&mut ctx, &item("A", dec!(300)), "a", dec!(2)).unwrap();
        let (Paid::Closed { receipt: sale }, _) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(1000)).unwrap() else {
            panic!("not closed")
        };
        assert_eq!(lane.shift.as_ref().unwrap().totals.drawer(), dec!(1600.00));
        let req = [ReturnRequest { no: 1, qty: dec!(1) }];
        let (ret, changes) = lane.return_sale(&mut ctx, &sale, &[], &req, &RefundTo::cash()).unwrap();
        assert_eq!((ret.number, ret.total), (1, dec!(300.00)));
        assert_eq!(changes.documents[0].kind, DocumentKind::Return);
        assert_eq!(changes.documents[0].data["sale"], sale.receipt.id.to_string());
        assert_eq!(changes.returned.as_ref(), Some(&ret));
        let print = changes.print.unwrap();
        assert!(print.kick_drawer && print.document == PrintDocument::Return);
        let err = lane.return_sale(
            &mut ctx,
            &sale,
            std::slice::from_ref(&ret),
            &[ReturnRequest { no: 1, qty: dec!(2) }],
            &RefundTo::cash(),
        );
        assert_eq!(err.unwrap_err().code(), "return_exceeds_sale");

        let err = lane.cash_out(&mut ctx, dec!(1300.01), "инкассация").unwrap_err();
        assert_eq!(err.code(), "drawer_short");
        let (_, changes) = lane.cash_out(&mut ctx, dec!(1000), "инкассация").unwrap();
        assert_eq!(changes.documents[0].kind, DocumentKind::CashOut);
        // 1000 in + 600 sales − 300 refund − 1000 out = 300; a 301 cash refund cannot be paid.
        let totals = &lane.shift.as_ref().unwrap().totals;
        assert_eq!(totals.drawer(), dec!(300.00));
        let milk = item("M", dec!(301));
        let before = lane.clone();
        assert_eq!(
            lane.return_without_receipt(&mut ctx, &[(milk.clone(), dec!(1))], &RefundTo::cash(), false)
                .unwrap_err()
                .code(),
            "return_not_allowed"
        );
        assert_eq!(
            lane.return_without_receipt(&mut ctx, &[(milk, dec!(1))], &RefundTo::cash(), true)
                .unwrap_err()
                .code(),
            "drawer_short"
        );
        assert_eq!(lane, before);

        let (x, changes) = lane.x_report(&mut ctx).unwrap();
        assert_eq!(x.returns, 1);
        assert!(matches!(changes.print.unwrap().content, Some(PrintContent::XReport(_))));
        let (shift, changes) = lane.close_shift(&mut ctx).unwrap();
        let totals = &changes.documents[0].data["totals"];
        assert_eq!(totals["refunds"], "300.00");
        assert_eq!(totals["cash_in"], "1000.00");
        assert_eq!(totals["cash_out"], "1000.00");
        assert_eq!(totals["drawer"], "300.00");
        assert_eq!(changes.documents[0].data["returns"], 1);
        assert_eq!(shift.by_vat.as_ref().unwrap()["20"], dec!(300.00));
    }

    #[test]
    fn points_are_held_released_and_earned_through_the_ledger() {
        let mut next_id = ids();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
        let mut lane = Lane::new("1");
        let (c, account) = client(false);
        lane.attach_client(&mut ctx, &c, &account).unwrap();
        lane.sell(&mut ctx, &item("A", dec!(1000)), "a", dec!(1)).unwrap();
        let terms = PayTerms {
            loyalty: LoyaltyRules::new(dec!(5), dec!(30)).unwrap(),
            ..PayTerms::default()
        };
        let (_, changes) = lane
            .pay_tender(&mut ctx, &Tender::new(PaymentMethod::Bonus, dec!(200)), &terms)
            .unwrap();
        let receipt_id = lane.receipt.as_ref().unwrap().id;
        assert_eq!(
            changes.ledger,
            vec![LedgerOp::Hold {
                client: "C-77".into(),
                receipt: receipt_id,
                bonus: dec!(200.00),
                credit: dec!(0)
            }]
        );
        assert_eq!(lane.cancel_receipt().unwrap_err().code(), "held_payments");
        let mut copy = lane.clone();
        let changes = copy.cancel().unwrap();
        assert_eq!(
            changes.ledger,
            vec![LedgerOp::Release {
                client: "C-77".into(),
                receipt: receipt_id
            }]
        );
        let (_, changes) = lane
            .pay_tender(&mut ctx, &Tender::new(PaymentMethod::Credit, dec!(300)), &terms)
            .unwrap();
        assert!(matches!(&changes.ledger[0], LedgerOp::Hold { credit, .. } if *credit == dec!(300.00)));
        let (Paid::Closed { receipt }, changes) = lane
            .pay_tender(&mut ctx, &Tender::new(PaymentMethod::Card, dec!(500)), &terms)
            .unwrap()
        else {
            panic!("not closed")
        };
        // 5 % of the 800 not paid with points.
        assert_eq!(receipt.bonus_accrued, dec!(40.00));
        assert_eq!(
            changes.ledger,
            vec![LedgerOp::Close {
                client: "C-77".into(),
                receipt: receipt_id,
                accrued: dec!(40.00)
            }]
        );
        let sale = &changes.documents[0].data;
        assert_eq!(sale["client"], "C-77");
        assert_eq!(sale["bonus_accrued"], "40.00");
        assert_eq!(sale["payments"][0]["method"], "bonus");
        let totals = &lane.shift.as_ref().unwrap().totals;
        assert_eq!(
            (totals.bonus, totals.credit, totals.card),
            (dec!(200.00), dec!(300.00), dec!(500.00))
        );

        // A stop-listed client cannot buy on credit.
        let (c, account) = client(true);
        lane.attach_client(&mut ctx, &c, &account).unwrap();
        lane.sell(&mut ctx, &item("A", dec!(10)), "a", dec!(1)).unwrap();
        let err = lane
            .pay_tender(&mut ctx, &Tender::new(PaymentMethod::Credit, dec!(10)), &terms)
            .unwrap_err();
        assert_eq!(err.code(), "stop_list");
        assert!(err.to_string().contains("стоп-листе"), "{err}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sell(u32, u32),
        Pay(u8, u32),
        Return(u8, u32),
        CashIn(u32),
        CashOut(u32),
        Park,
        Resume(u8),
        Cancel,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u32..5000, 1u32..4).prop_map(|(p, q)| Op::Sell(p, q)),
            (0u8..2, 1u32..20000).prop_map(|(m, a)| Op::Pay(m, a)),
            (0u8..4, 1u32..3).prop_map(|(s, q)| Op::Return(s, q)),
            (1u32..50000).prop_map(Op::CashIn),
            (1u32..50000).prop_map(Op::CashOut),
            Just(Op::Park),
            (0u8..3).prop_map(Op::Resume),
            Just(Op::Cancel),
        ]
    }

    proptest! {
        /// A refused operation changes nothing; the drawer never goes negative; the shift's
        /// totals are the sums of what the lane produced; returns never exceed their sale.
        #[test]
        fn lane_invariants(ops in proptest::collection::vec(op(), 0..50)) {
            let mut next_id = ids();
            let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut next_id);
            let mut lane = Lane::new("1");
            let mut sales: Vec<ClosedReceipt> = Vec::new();
            let mut done: Vec<ClosedReturn> = Vec::new();
            let (mut cash_in, mut cash_out) = (Decimal::ZERO, Decimal::ZERO);
            for (k, op) in ops.into_iter().enumerate() {
                let before = lane.clone();
                let result: Result<(), LaneError> = match op {
                    Op::Sell(p, q) => lane.sell(&mut ctx, &item(&format!("I-{}", p % 7), Decimal::new(i64::from(p), 1)), "x", Decimal::from(q)).map(|_| ()),
                    Op::Pay(m, a) => {
                        let method = if m == 0 { PaymentMethod::Cash } else { PaymentMethod::Card };
                        lane.pay(&mut ctx, method, Decimal::new(i64::from(a), 1)).map(|(paid, _)| {
                            if let Paid::Closed { receipt } = paid {
                                sales.push(*receipt);
                            }
                        })
                    }
                    Op::Return(s, q) => match sales.get(usize::from(s)) {
                        Some(sale) => {
                            let req = [ReturnRequest { no: 1, qty: Decimal::from(q) }];
                            let refund = if k % 2 == 0 { RefundTo::cash() } else { RefundTo::card() };
                            lane.return_sale(&mut ctx, sale, &done, &req, &refund).map(|(ret, _)| done.push(ret))
                        }
                        None => Ok(()),
                    },
                    Op::CashIn(a) => lane.cash_in(&mut ctx, Decimal::new(i64::from(a), 1), "размен").map(|(m, _)| cash_in += m.amount),
                    Op::CashOut(a) => lane.cash_out(&mut ctx, Decimal::new(i64::from(a), 1), "инкассация").map(|(m, _)| cash_out += m.amount),
                    Op::Park => lane.park(&ctx).map(|_| ()),
                    Op::Resume(i) => match lane.parked().get(usize::from(i)) {
                        Some(p) => lane.resume(&ctx, p.id),
                        None => Ok(()),
                    },
                    Op::Cancel => lane.cancel_receipt(),
                };
                if result.is_err() {
                    prop_assert_eq!(&lane, &before);
                }
                if let Some(shift) = &lane.shift {
                    let t = &shift.totals;
                    prop_assert!(t.drawer() >= Decimal::ZERO);
                    prop_assert_eq!(t.sales, sales.iter().map(|s| s.total).sum::<Decimal>());
                    prop_assert_eq!(t.refunds, done.iter().map(|d| d.total).sum::<Decimal>());
                    prop_assert_eq!(t.cash_in, cash_in);
                    prop_assert_eq!(t.cash_out, cash_out);
                    prop_assert_eq!(t.drawer(), t.cash - t.refund_cash + t.cash_in - t.cash_out);
                    prop_assert_eq!(shift.receipts as usize, sales.len());
                    prop_assert_eq!(shift.returns as usize, done.len());
                }
                for sale in &sales {
                    let back: Decimal = done.iter().filter(|d| d.sale.as_ref().is_some_and(|s| s.receipt == sale.receipt.id)).map(|d| d.total).sum();
                    prop_assert!(back <= sale.total);
                }
                // Receipt numbers are never shared by the open, parked and closed receipts.
                let mut numbers: Vec<u32> = sales.iter().map(|s| s.receipt.number).chain(lane.parked.iter().map(|p| p.receipt.number)).chain(lane.receipt.iter().map(|r| r.number)).collect();
                let n = numbers.len();
                numbers.sort();
                numbers.dedup();
                prop_assert_eq!(numbers.len(), n);
            }
        }
    }
}
