//! The open receipt on a lane: lines, quantities, voids and payments, until it is paid in full
//! and becomes a [`ClosedReceipt`].
//!
//! Line numbers are stable: voiding line 2 leaves lines 1 and 3 as they were, so a quantity
//! change aimed at line 3 can never hit another item because the list moved underneath it.

use crate::domain::catalog::Item;
use crate::domain::money::{self, QtyError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the customer paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
        }
    }
}

/// Money handed over. For cash this is what the customer gave, change included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Decimal,
}

/// One line of a receipt: a snapshot of the item at the moment it was scanned, so a price
/// change arriving from the CRM mid-sale does not alter what the customer was shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub no: u32,
    pub item: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
    pub vat: String,
    pub weighted: bool,
    /// The code that was scanned (or typed) to add this line.
    pub code: String,
    pub qty: Decimal,
    pub price: Decimal,
    pub sum: Decimal,
    /// The marking code this one pack was sold by (Честный ЗНАК).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<LineMark>,
}

/// The marking code on a line: what identifies the pack, and the whole code as scanned,
/// which the CRM and the fiscal side need verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMark {
    /// GTIN-14 from the code.
    pub gtin: String,
    pub serial: String,
    /// The full code, GS separators kept.
    pub code: String,
}

/// What a scan adds to a receipt, besides the item.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned {
    /// The code as shown on the line.
    pub code: String,
    pub qty: Decimal,
    /// A price from the label itself (a scale's price-embedded label); the catalog's retail
    /// price otherwise.
    pub price: Option<Decimal>,
    pub mark: Option<LineMark>,
}

impl Scanned {
    /// A plain scan of `qty` at the catalog price.
    pub fn plain(code: &str, qty: Decimal) -> Scanned {
        Scanned {
            code: code.to_string(),
            qty,
            price: None,
            mark: None,
        }
    }
}

/// A receipt still being rung up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: Uuid,
    /// Number within its shift, starting at 1.
    pub number: u32,
    pub lane: String,
    pub shift_id: Uuid,
    pub shift_number: u32,
    pub cashier: String,
    pub opened_at: Timestamp,
    pub lines: Vec<Line>,
    pub payments: Vec<Payment>,
    /// A loyalty card the customer showed, passed on to the CRM with the sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_card: Option<String>,
    next_line_no: u32,
}

/// A receipt paid in full. It never changes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedReceipt {
    #[serde(flatten)]
    pub receipt: Receipt,
    pub total: Decimal,
    pub change: Decimal,
    pub closed_at: Timestamp,
}

impl ClosedReceipt {
    /// Cash that stays in the drawer: cash tendered minus change given.
    pub fn cash_kept(&self) -> Decimal {
        self.receipt.paid_by(PaymentMethod::Cash) - self.change
    }

    /// Whether the drawer must open: any cash changed hands.
    pub fn took_cash(&self) -> bool {
        self.receipt.payments.iter().any(|p| p.method == PaymentMethod::Cash)
    }
}

/// What a payment did to the receipt.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentOutcome {
    /// Recorded; this much is still due.
    Partial { remaining: Decimal },
    /// The total is covered; this much change is due to the customer.
    Covered { change: Decimal },
}

/// Why an operation on a receipt was refused. The receipt is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the receipt has no line {0}")]
    UnknownLine(u32),
    #[error("{0}")]
    InvalidQty(#[from] QtyError),
    #[error("a payment has already been taken; lines can no longer change")]
    PaymentStarted,
    #[error("the receipt is empty: scan an item first")]
    Empty,
    #[error("payment amount must be greater than zero")]
    InvalidAmount,
    #[error("card payment of {amount} is more than the {remaining} still due")]
    CardOverpay { amount: Decimal, remaining: Decimal },
    #[error("{item} has no retail price; it cannot be sold until the CRM sends one")]
    NoPrice { item: String },
    #[error("the amount is too large")]
    Overflow,
    #[error("this pack of «{item}» (serial {serial}) is already on the receipt: every marked pack is scanned once")]
    DuplicateMark { item: String, serial: String },
    #[error("a marked item is sold one pack per line: scan each pack's own code instead of changing the quantity")]
    MarkedQty,
}

impl ReceiptError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::UnknownLine(_) => "unknown_line",
            ReceiptError::InvalidQty(_) => "invalid_qty",
            ReceiptError::PaymentStarted => "payment_started",
            ReceiptError::Empty => "empty_receipt",
            ReceiptError::InvalidAmount => "invalid_amount",
            ReceiptError::CardOverpay { .. } => "card_overpay",
            ReceiptError::NoPrice { .. } => "no_price",
            ReceiptError::Overflow => "invalid_amount",
            ReceiptError::DuplicateMark { .. } => "duplicate_mark",
            ReceiptError::MarkedQty => "marked_qty",
        }
    }
}

/// Identity of a new receipt: which shift and lane it belongs to and its number there.
pub struct ReceiptHeader<'a> {
    pub id: Uuid,
    pub number: u32,
    pub lane: &'a str,
    pub shift_id: Uuid,
    pub shift_number: u32,
    pub cashier: &'a str,
    pub opened_at: Timestamp,
}

impl Receipt {
    pub fn new(header: ReceiptHeader<'_>) -> Receipt {
        Receipt {
            id: header.id,
            number: header.number,
            lane: header.lane.to_string(),
            shift_id: header.shift_id,
            shift_number: header.shift_number,
            cashier: header.cashier.to_string(),
            opened_at: header.opened_at,
            lines: Vec::new(),
            payments: Vec::new(),
            loyalty_card: None,
            next_line_no: 1,
        }
    }

    /// Sum of all lines.
    pub fn total(&self) -> Decimal {
        money::to_money(self.lines.iter().map(|l| l.sum).sum())
    }

    /// Everything paid so far.
    pub fn paid(&self) -> Decimal {
        money::to_money(self.payments.iter().map(|p| p.amount).sum())
    }

    /// Paid with one method.
    pub fn paid_by(&self, method: PaymentMethod) -> Decimal {
        money::to_money(self.payments.iter().filter(|p| p.method == method).map(|p| p.amount).sum())
    }

    /// What is still due, never negative.
    pub fn remaining(&self) -> Decimal {
        money::to_money((self.total() - self.paid()).max(Decimal::ZERO))
    }

    pub fn line(&self, no: u32) -> Option<&Line> {
        self.lines.iter().find(|l| l.no == no)
    }

    fn ensure_editable(&self) -> Result<(), ReceiptError> {
        if self.payments.is_empty() {
            Ok(())
        } else {
            Err(ReceiptError::PaymentStarted)
        }
    }

    /// Add `qty` of `item` at its catalog price.
    pub fn add(&mut self, item: &Item, code: &str, qty: Decimal) -> Result<u32, ReceiptError> {
        self.add_scanned(item, Scanned::plain(code, qty))
    }

    /// Add what a scan found. A piece item scanned again adds to its existing line, which is
    /// what a cashier expects when ringing up six identical bottles; weighed items always get
    /// their own line, because every weighing is a separate package, and so do marked packs,
    /// because each carries its own code (and the same code twice is the same pack twice).
    pub fn add_scanned(&mut self, item: &Item, scanned: Scanned) -> Result<u32, ReceiptError> {
        self.ensure_editable()?;
        let price = match scanned.price {
            Some(price) => price,
            None => item
                .retail_price()
                .ok_or_else(|| ReceiptError::NoPrice { item: item.name.clone() })?,
        };
        let mut qty = money::check_qty(scanned.qty, item.weighted)?;
        if item.weighted {
            qty.rescale(3);
        }
        if let Some(mark) = &scanned.mark {
            if qty != Decimal::ONE {
                return Err(ReceiptError::MarkedQty);
            }
            let same = |l: &&Line| l.mark.as_ref().is_some_and(|m| m.gtin == mark.gtin && m.serial == mark.serial);
            if self.lines.iter().any(|l| same(&l)) {
                return Err(ReceiptError::DuplicateMark {
                    item: item.name.clone(),
                    serial: mark.serial.clone(),
                });
            }
        } else if !item.weighted {
            let mergeable = |l: &&mut Line| l.item == item.id && l.price == price && l.mark.is_none();
            if let Some(line) = self.lines.iter_mut().find(mergeable) {
                let new_qty = money::check_qty(line.qty + qty, false)?;
                line.sum = money::line_sum(line.price, new_qty).ok_or(ReceiptError::Overflow)?;
                line.qty = new_qty;
                return Ok(line.no);
            }
        }
        let no = self.next_line_no;
        self.lines.push(Line {
            no,
            item: item.id.clone(),
            sku: item.sku.clone(),
            name: item.name.clone(),
            unit: item.unit.clone(),
            vat: item.vat.clone(),
            weighted: item.weighted,
            code: scanned.code,
            qty,
            price,
            sum: money::line_sum(price, qty).ok_or(ReceiptError::Overflow)?,
            mark: scanned.mark,
        });
        self.next_line_no += 1;
        Ok(no)
    }

    /// Set the quantity of line `no`.
    pub fn set_qty(&mut self, no: u32, qty: Decimal) -> Result<(), ReceiptError> {
        self.ensure_editable()?;
        let line = self.lines.iter_mut().find(|l| l.no == no).ok_or(ReceiptError::UnknownLine(no))?;
        let mut qty = money::check_qty(qty, line.weighted)?;
        if line.mark.is_some() && qty != Decimal::ONE {
            return Err(ReceiptError::MarkedQty);
        }
        if line.weighted {
            qty.rescale(3);
        }
        line.sum = money::line_sum(line.price, qty).ok_or(ReceiptError::Overflow)?;
        line.qty = qty;
        Ok(())
    }

    /// Remove line `no` (storno before payment).
    pub fn void(&mut self, no: u32) -> Result<(), ReceiptError> {
        self.ensure_editable()?;
        let before = self.lines.len();
        self.lines.retain(|l| l.no != no);
        if self.lines.len() == before {
            return Err(ReceiptError::UnknownLine(no));
        }
        Ok(())
    }

    /// Attach the customer's loyalty card; a second card replaces the first (the customer
    /// handed over the wrong one).
    pub fn attach_card(&mut self, card: &str) -> Result<(), ReceiptError> {
        self.ensure_editable()?;
        self.loyalty_card = Some(card.to_string());
        Ok(())
    }

    /// Take a payment. Cash may exceed what is due (the difference is change); a card is
    /// charged exactly, so it may not.
    pub fn pay(&mut self, method: PaymentMethod, amount: Decimal) -> Result<PaymentOutcome, ReceiptError> {
        if self.lines.is_empty() {
            return Err(ReceiptError::Empty);
        }
        if amount <= Decimal::ZERO || amount.scale() > 2 {
            return Err(ReceiptError::InvalidAmount);
        }
        if amount > money::MAX_QTY * Decimal::from(1_000_000) {
            return Err(ReceiptError::Overflow);
        }
        let remaining = self.remaining();
        if method == PaymentMethod::Card && amount > remaining {
            return Err(ReceiptError::CardOverpay { amount, remaining });
        }
        self.payments.push(Payment {
            method,
            amount: money::to_money(amount),
        });
        let paid = self.paid();
        let total = self.total();
        if paid >= total {
            Ok(PaymentOutcome::Covered {
                change: money::to_money(paid - total),
            })
        } else {
            Ok(PaymentOutcome::Partial {
                remaining: self.remaining(),
            })
        }
    }

    /// Freeze a fully paid receipt.
    pub fn close(self, change: Decimal, closed_at: Timestamp) -> ClosedReceipt {
        ClosedReceipt {
            total: self.total(),
            change,
            closed_at,
            receipt: self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    pub(crate) fn item(id: &str, price: Decimal, weighted: bool) -> Item {
        Item {
            id: id.into(),
            sku: format!("SKU-{id}"),
            name: format!("Товар {id}"),
            unit: if weighted { "kg" } else { "pcs" }.into(),
            vat: "20".into(),
            weighted,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: [("retail".to_string(), price)].into(),
        }
    }

    fn receipt() -> Receipt {
        Receipt::new(ReceiptHeader {
            id: Uuid::nil(),
            number: 1,
            lane: "1",
            shift_id: Uuid::nil(),
            shift_number: 1,
            cashier: "Анна",
            opened_at: Timestamp::UNIX_EPOCH,
        })
    }

    #[test]
    fn same_piece_item_adds_to_its_line() {
        let mut r = receipt();
        let milk = item("I-1", dec!(89.90), false);
        assert_eq!(r.add(&milk, "4601234567893", dec!(1)).unwrap(), 1);
        assert_eq!(r.add(&milk, "4601234567893", dec!(1)).unwrap(), 1);
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].qty, dec!(2));
        assert_eq!(r.total(), dec!(179.80));
    }

    #[test]
    fn weighed_items_get_a_line_each() {
        let mut r = receipt();
        let cheese = item("I-2", dec!(899.00), true);
        r.add(&cheese, "x", dec!(0.355)).unwrap();
        r.add(&cheese, "x", dec!(0.200)).unwrap();
        assert_eq!(r.lines.len(), 2);
        assert_eq!(r.total(), dec!(498.95));
    }

    fn marked(serial: &str) -> Scanned {
        Scanned {
            code: "4601234567893".into(),
            qty: dec!(1),
            price: None,
            mark: Some(LineMark {
                gtin: "04601234567893".into(),
                serial: serial.into(),
                code: format!("010460123456789321{serial}\u{1d}93abcd"),
            }),
        }
    }

    #[test]
    fn marked_packs_get_a_line_each_and_never_twice() {
        let mut r = receipt();
        let mut shoes = item("I-3", dec!(4990), false);
        shoes.marked = true;
        assert_eq!(r.add_scanned(&shoes, marked("AAA")).unwrap(), 1);
        assert_eq!(r.add_scanned(&shoes, marked("BBB")).unwrap(), 2);
        let before = r.clone();
        let err = r.add_scanned(&shoes, marked("AAA")).unwrap_err();
        assert_eq!(err.code(), "duplicate_mark");
        assert!(err.to_string().contains("AAA"), "{err}");
        assert_eq!(r.set_qty(1, dec!(2)), Err(ReceiptError::MarkedQty));
        assert_eq!(r, before);
        assert_eq!(r.lines[0].mark.as_ref().unwrap().serial, "AAA");
        // Voiding a pack frees its code.
        r.void(1).unwrap();
        assert_eq!(r.add_scanned(&shoes, marked("AAA")).unwrap(), 3);
    }

    #[test]
    fn weights_keep_three_places_and_label_prices_win() {
        let mut r = receipt();
        let cheese = item("I-2", dec!(899.00), true);
        r.add(&cheese, "x", dec!(0.35)).unwrap();
        assert_eq!(r.lines[0].qty.to_string(), "0.350");
        let label = Scanned {
            price: Some(dec!(149.90)),
            ..Scanned::plain("2712340149902", dec!(1))
        };
        r.add_scanned(&item("I-5", dec!(999), false), label).unwrap();
        assert_eq!(r.lines[1].sum, dec!(149.90));
    }

    #[test]
    fn a_loyalty_card_attaches_until_payment() {
        let mut r = receipt();
        r.attach_card("2770000001236").unwrap();
        r.attach_card("2770000001243").unwrap();
        assert_eq!(r.loyalty_card.as_deref(), Some("2770000001243"));
        r.add(&item("A", dec!(10), false), "a", dec!(1)).unwrap();
        r.pay(PaymentMethod::Card, dec!(5)).unwrap();
        assert_eq!(r.attach_card("1"), Err(ReceiptError::PaymentStarted));
    }

    #[test]
    fn line_numbers_survive_a_void() {
        let mut r = receipt();
        r.add(&item("A", dec!(10), false), "a", dec!(1)).unwrap();
        r.add(&item("B", dec!(20), false), "b", dec!(1)).unwrap();
        r.add(&item("C", dec!(30), false), "c", dec!(1)).unwrap();
        r.void(2).unwrap();
        assert_eq!(r.lines.iter().map(|l| l.no).collect::<Vec<_>>(), vec![1, 3]);
        r.set_qty(3, dec!(2)).unwrap();
        assert_eq!(r.total(), dec!(70.00));
        assert_eq!(r.void(2), Err(ReceiptError::UnknownLine(2)));
        assert_eq!(r.add(&item("D", dec!(1), false), "d", dec!(1)).unwrap(), 4);
    }

    #[test]
    fn split_payment_card_then_cash_with_change() {
        let mut r = receipt();
        r.add(&item("A", dec!(1234.50), false), "a", dec!(1)).unwrap();
        assert_eq!(
            r.pay(PaymentMethod::Card, dec!(1000)).unwrap(),
            PaymentOutcome::Partial { remaining: dec!(234.50) }
        );
        assert_eq!(r.set_qty(1, dec!(2)), Err(ReceiptError::PaymentStarted));
        assert_eq!(
            r.pay(PaymentMethod::Card, dec!(300)),
            Err(ReceiptError::CardOverpay {
                amount: dec!(300),
                remaining: dec!(234.50)
            })
        );
        assert_eq!(
            r.pay(PaymentMethod::Cash, dec!(500)).unwrap(),
            PaymentOutcome::Covered { change: dec!(265.50) }
        );
        let closed = r.close(dec!(265.50), Timestamp::UNIX_EPOCH);
        assert_eq!(closed.cash_kept(), dec!(234.50));
        assert!(closed.took_cash());
    }

    #[test]
    fn payments_refuse_nonsense() {
        let mut r = receipt();
        assert_eq!(r.pay(PaymentMethod::Cash, dec!(10)), Err(ReceiptError::Empty));
        r.add(&item("A", dec!(10), false), "a", dec!(1)).unwrap();
        assert_eq!(r.pay(PaymentMethod::Cash, dec!(0)), Err(ReceiptError::InvalidAmount));
        assert_eq!(r.pay(PaymentMethod::Cash, dec!(-5)), Err(ReceiptError::InvalidAmount));
        assert_eq!(r.pay(PaymentMethod::Cash, dec!(1.001)), Err(ReceiptError::InvalidAmount));
        assert!(r.payments.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(usize, u32),
        AddMarked(u8),
        SetQty(u32, u32),
        Void(u32),
        Pay(bool, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..4, 1u32..5).prop_map(|(i, q)| Op::Add(i, q)),
            (0u8..4).prop_map(Op::AddMarked),
            (1u32..8, 0u32..5).prop_map(|(n, q)| Op::SetQty(n, q)),
            (1u32..8).prop_map(Op::Void),
            (any::<bool>(), 1u32..2000).prop_map(|(c, a)| Op::Pay(c, a)),
        ]
    }

    proptest! {
        /// Whatever a cashier does, the total is the sum of the lines, a refused operation
        /// changes nothing, and nothing is ever paid beyond the total by card.
        #[test]
        fn receipt_invariants(ops in proptest::collection::vec(op(), 0..40)) {
            let items = [item("A", dec!(89.90), false), item("B", dec!(0.01), false), item("C", dec!(899.00), true), item("D", dec!(1500), false)];
            let mut shoes = item("M", dec!(4990), false);
            shoes.marked = true;
            let mut r = receipt();
            for op in ops {
                let before = r.clone();
                let result = match op {
                    Op::Add(i, q) => r.add(&items[i], "x", Decimal::from(q)).map(|_| ()),
                    Op::AddMarked(n) => r.add_scanned(&shoes, marked(&format!("S{n}"))).map(|_| ()),
                    Op::SetQty(n, q) => r.set_qty(n, Decimal::from(q)),
                    Op::Void(n) => r.void(n),
                    Op::Pay(card, a) => {
                        let method = if card { PaymentMethod::Card } else { PaymentMethod::Cash };
                        match r.pay(method, Decimal::from(a)) {
                            Ok(PaymentOutcome::Covered { change }) => {
                                prop_assert_eq!(r.paid() - r.total(), change);
                                prop_assert!(r.paid_by(PaymentMethod::Cash) >= change);
                                return Ok(());
                            }
                            other => other.map(|_| ()),
                        }
                    }
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before);
                }
                let sum: Decimal = r.lines.iter().map(|l| l.sum).sum();
                prop_assert_eq!(r.total(), sum);
                prop_assert!(r.paid() < r.total() || r.lines.is_empty());
                let mut nos: Vec<u32> = r.lines.iter().map(|l| l.no).collect();
                let len = nos.len();
                nos.dedup();
                prop_assert_eq!(nos.len(), len);
                // A marked pack is on the receipt at most once, always as quantity 1.
                let mut marks: Vec<&str> = r.lines.iter().filter_map(|l| l.mark.as_ref()).map(|m| m.serial.as_str()).collect();
                let marked_lines = marks.len();
                marks.sort();
                marks.dedup();
                prop_assert_eq!(marks.len(), marked_lines);
                prop_assert!(r.lines.iter().filter(|l| l.mark.is_some()).all(|l| l.qty == Decimal::ONE));
            }
        }
    }
}
