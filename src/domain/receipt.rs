//! The open receipt on a lane: lines, quantities, voids, discounts, the client and payments,
//! until it is paid in full and becomes a [`ClosedReceipt`].
//!
//! Line numbers are stable: voiding line 2 leaves lines 1 and 3 as they were, so a quantity
//! change aimed at line 3 can never hit another item because the list moved underneath it.
//!
//! Every edit works on a copy and re-prices it ([`crate::domain::pricing`]) before it replaces
//! the receipt, so a refused edit (or one whose total would overflow) changes nothing, and the
//! discounts on the lines always match the lines. Once a payment is taken the lines, the
//! discounts and the prices are frozen: the customer pays what they were shown.

use crate::domain::catalog::Item;
use crate::domain::client::ReceiptClient;
use crate::domain::loyalty::{ClientLedger, EntryState, LedgerEntry, LoyaltyError, LoyaltyRules};
use crate::domain::money::{self, AmountError, MAX_MONEY, QtyError};
use crate::domain::pricing::{self, Discount, DiscountError, DiscountValue, ManualDiscount, Offer};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the customer paid (or how a return refunds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
    /// Loyalty points of the receipt's client, 1 point = 1 ruble.
    Bonus,
    /// On the client's credit (their debt at the CRM grows).
    Credit,
}

impl PaymentMethod {
    /// Every method, in the order reports list them.
    pub const ALL: [PaymentMethod; 4] = [
        PaymentMethod::Cash,
        PaymentMethod::Card,
        PaymentMethod::Bonus,
        PaymentMethod::Credit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::Bonus => "bonus",
            PaymentMethod::Credit => "credit",
        }
    }
}

/// Money handed over. For cash this is what the customer gave, change included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Decimal,
    /// The bank's retrieval reference number of a card payment, as the cashier typed it from
    /// the terminal's slip; lets the CRM match the sale to the bank's statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrn: Option<String>,
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
    /// Price × quantity, rounded to kopecks: the line before any discount.
    pub sum: Decimal,
    /// The marking code this one pack was sold by (Честный ЗНАК).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<LineMark>,
    /// The item's group when it was scanned (promotions may target groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A discount the cashier set on this line by hand (it may lose to a larger promotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualDiscount>,
    /// Everything taken off this line, in kopecks: the sum of `discounts`.
    #[serde(default)]
    pub discount: Decimal,
    /// The discounts applied, as [`pricing::apply`] decided them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<Discount>,
}

impl Line {
    /// What the customer pays for this line: its sum less its discounts.
    pub fn to_pay(&self) -> Decimal {
        self.sum.saturating_sub(self.discount)
    }

    /// Ids of the promotions that discount this line, in the order applied.
    pub fn promotions(&self) -> Vec<&str> {
        self.discounts
            .iter()
            .filter_map(|d| d.promotion.as_ref())
            .map(|p| p.id.as_str())
            .collect()
    }
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
    /// The item's group from the feed, for promotions on groups.
    pub group: Option<String>,
}

impl Scanned {
    /// A plain scan of `qty` at the catalog price.
    pub fn plain(code: &str, qty: Decimal) -> Scanned {
        Scanned {
            code: code.to_string(),
            qty,
            price: None,
            mark: None,
            group: None,
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
    /// Who rang it up; once it closes, who took the payment.
    pub cashier: String,
    pub opened_at: Timestamp,
    pub lines: Vec<Line>,
    pub payments: Vec<Payment>,
    /// A loyalty card the customer showed, passed on to the CRM with the sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_card: Option<String>,
    /// The client the receipt is sold to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ReceiptClient>,
    /// A discount the cashier set on the whole receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_discount: Option<ManualDiscount>,
    /// The promotions in force when the receipt was last priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    next_line_no: u32,
}

/// A receipt paid in full. It never changes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedReceipt {
    #[serde(flatten)]
    pub receipt: Receipt,
    /// What the customer paid for the goods: lines less discounts.
    pub total: Decimal,
    pub change: Decimal,
    pub closed_at: Timestamp,
    /// Loyalty points the sale earned (provisional until the CRM counts them).
    #[serde(default)]
    pub bonus_accrued: Decimal,
    /// The fiscal register's document of the sale, on a lane with a register (ФД, ФП, shift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal: Option<crate::domain::fiscal::FiscalNumbers>,
}

impl ClosedReceipt {
    /// Cash that stays in the drawer: cash tendered minus change given.
    pub fn cash_kept(&self) -> Decimal {
        self.receipt.paid_by(PaymentMethod::Cash).saturating_sub(self.change)
    }

    /// Whether the drawer must open: any cash changed hands.
    pub fn took_cash(&self) -> bool {
        self.receipt.payments.iter().any(|p| p.method == PaymentMethod::Cash)
    }

    /// What each method actually paid of the total: cash less change, the others as taken.
    pub fn kept_by(&self, method: PaymentMethod) -> Decimal {
        match method {
            PaymentMethod::Cash => self.cash_kept(),
            other => self.receipt.paid_by(other),
        }
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

/// A payment the cashier asks to take.
#[derive(Debug, Clone, PartialEq)]
pub struct Tender {
    pub method: PaymentMethod,
    pub amount: Decimal,
    /// The RRN of a card payment, when the cashier typed it.
    pub rrn: Option<String>,
    /// The cashier confirmed an unusually large cash amount (see [`PayTerms::confirm_cash_above`]).
    pub confirmed: bool,
}

impl Tender {
    pub fn new(method: PaymentMethod, amount: Decimal) -> Tender {
        Tender {
            method,
            amount,
            rrn: None,
            confirmed: false,
        }
    }
}

/// What a payment is judged against besides the receipt: the loyalty program, the client's
/// ledger as the store has it now, and the cash amount that needs a second look.
#[derive(Debug, Clone, Copy, Default)]
pub struct PayTerms<'a> {
    pub loyalty: LoyaltyRules,
    /// The receipt client's ledger; without it the lane judges by what the receipt knew of
    /// the client (the store re-checks the hold against the real ledger either way).
    pub ledger: Option<&'a ClientLedger>,
    /// Cash tendered above this is refused with `confirm_amount` unless the tender is
    /// confirmed: a 50 000 typed for 500 is caught before the drawer opens.
    pub confirm_cash_above: Option<Decimal>,
}

/// Why an operation on a receipt was refused. The receipt is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("в чеке нет строки {0}")]
    UnknownLine(u32),
    #[error("{0}")]
    InvalidQty(#[from] QtyError),
    #[error("оплата уже начата: строки, скидки и клиента менять нельзя")]
    PaymentStarted,
    #[error("чек пуст: сначала отсканируйте товар")]
    Empty,
    #[error("{0}")]
    InvalidAmount(#[from] AmountError),
    #[error("{method} {amount} больше, чем осталось оплатить ({remaining}): сдачу даём только с наличных", method = method_words(*.method))]
    Overpay {
        method: PaymentMethod,
        amount: Decimal,
        remaining: Decimal,
    },
    #[error("наличными получено {amount} — проверьте сумму и подтвердите её")]
    ConfirmAmount { amount: Decimal },
    #[error("RRN «{0}» не похож на номер операции банка: нужно 12 цифр или латинских букв с чека терминала")]
    Rrn(String),
    #[error("RRN указывают только для оплаты картой")]
    RrnNotCard,
    #[error("у товара «{item}» нет розничной цены: его нельзя продать, пока CRM её не пришлёт")]
    NoPrice { item: String },
    #[error("сумма слишком велика")]
    Overflow,
    #[error("эта пачка «{item}» (серийный номер {serial}) уже в чеке: каждую маркированную пачку сканируют один раз")]
    DuplicateMark { item: String, serial: String },
    #[error("маркированный товар продаётся по одной пачке в строке: сканируйте код каждой пачки, а не меняйте количество")]
    MarkedQty,
    #[error(transparent)]
    Discount(#[from] DiscountError),
    #[error(transparent)]
    Loyalty(#[from] LoyaltyError),
}

fn method_words(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Cash => "наличные",
        PaymentMethod::Card => "оплата картой",
        PaymentMethod::Bonus => "оплата бонусами",
        PaymentMethod::Credit => "оплата в кредит",
    }
}

impl ReceiptError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::UnknownLine(_) => "unknown_line",
            ReceiptError::InvalidQty(_) => "invalid_qty",
            ReceiptError::PaymentStarted => "payment_started",
            ReceiptError::Empty => "empty_receipt",
            ReceiptError::InvalidAmount(_) => "invalid_amount",
            ReceiptError::Overpay {
                method: PaymentMethod::Card,
                ..
            } => "card_overpay",
            ReceiptError::Overpay { .. } => "overpay",
            ReceiptError::ConfirmAmount { .. } => "confirm_amount",
            ReceiptError::Rrn(_) | ReceiptError::RrnNotCard => "invalid_rrn",
            ReceiptError::NoPrice { .. } => "no_price",
            ReceiptError::Overflow => "invalid_amount",
            ReceiptError::DuplicateMark { .. } => "duplicate_mark",
            ReceiptError::MarkedQty => "marked_qty",
            ReceiptError::Discount(e) => e.code(),
            ReceiptError::Loyalty(e) => e.code(),
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

/// A bank's retrieval reference number: 12 characters, digits or Latin letters (ISO 8583
/// field 37), as printed on the terminal's slip.
pub fn check_rrn(text: &str) -> Result<String, ReceiptError> {
    let t = text.trim();
    if t.len() == 12 && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(t.to_ascii_uppercase())
    } else {
        Err(ReceiptError::Rrn(t.to_string()))
    }
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
            client: None,
            manual_discount: None,
            offer: None,
            next_line_no: 1,
        }
    }

    /// What the customer pays: lines less discounts, or why it cannot be computed (only a
    /// receipt stored before prices were bounded can overflow).
    pub fn checked_total(&self) -> Result<Decimal, ReceiptError> {
        money::checked_sum(self.lines.iter().map(|l| l.to_pay())).ok_or(ReceiptError::Overflow)
    }

    /// What the customer pays: lines less discounts. For display: a receipt whose total
    /// overflows (one stored before prices were bounded) shows the largest decimal, which no
    /// payment can cover — it can only be edited down or cancelled, never crash the till.
    pub fn total(&self) -> Decimal {
        self.checked_total().unwrap_or(Decimal::MAX)
    }

    /// The lines before discounts.
    pub fn subtotal(&self) -> Decimal {
        money::checked_sum(self.lines.iter().map(|l| l.sum)).unwrap_or(Decimal::MAX)
    }

    /// Everything taken off by promotions and manual discounts.
    pub fn discount_total(&self) -> Decimal {
        money::checked_sum(self.lines.iter().map(|l| l.discount)).unwrap_or(Decimal::MAX)
    }

    /// Everything paid so far.
    pub fn paid(&self) -> Decimal {
        money::checked_sum(self.payments.iter().map(|p| p.amount)).unwrap_or(Decimal::MAX)
    }

    /// Paid with one method.
    pub fn paid_by(&self, method: PaymentMethod) -> Decimal {
        money::checked_sum(self.payments.iter().filter(|p| p.method == method).map(|p| p.amount)).unwrap_or(Decimal::MAX)
    }

    /// What is still due, never negative.
    pub fn remaining(&self) -> Decimal {
        money::to_money(self.total().checked_sub(self.paid()).unwrap_or(Decimal::ZERO).max(Decimal::ZERO))
    }

    pub fn line(&self, no: u32) -> Option<&Line> {
        self.lines.iter().find(|l| l.no == no)
    }

    /// Whether lines, discounts and the client may still change (no payment taken yet).
    pub fn is_editable(&self) -> bool {
        self.payments.is_empty()
    }

    fn ensure_editable(&self) -> Result<(), ReceiptError> {
        if self.is_editable() {
            Ok(())
        } else {
            Err(ReceiptError::PaymentStarted)
        }
    }

    /// Apply `change` to a copy, re-price the copy and keep it only if both succeed.
    fn edit<T>(&mut self, change: impl FnOnce(&mut Receipt) -> Result<T, ReceiptError>) -> Result<T, ReceiptError> {
        self.ensure_editable()?;
        let mut next = self.clone();
        let result = change(&mut next)?;
        next.reprice()?;
        *self = next;
        Ok(result)
    }

    /// Recompute every line's discounts from the lines, the manual discounts and the offer.
    fn reprice(&mut self) -> Result<(), ReceiptError> {
        let promotions = self.offer.as_ref().map_or(&[][..], |o| &o.promotions[..]);
        let discounts = pricing::apply(&self.lines, self.manual_discount.as_ref(), promotions).ok_or(ReceiptError::Overflow)?;
        for (line, discounts) in self.lines.iter_mut().zip(discounts) {
            line.discount = money::checked_sum(discounts.iter().map(|d| d.amount)).ok_or(ReceiptError::Overflow)?;
            line.discounts = discounts;
        }
        self.checked_total()?;
        Ok(())
    }

    /// Price the receipt with a new set of promotions (taken when something about the sale
    /// changes: a scan, a client, a discount). Frozen once a payment is taken.
    pub fn set_offer(&mut self, offer: Offer) -> Result<(), ReceiptError> {
        if !self.is_editable() || self.offer.as_ref() == Some(&offer) {
            return Ok(());
        }
        self.edit(|r| {
            r.offer = Some(offer);
            Ok(())
        })
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
        self.edit(|r| r.push_scanned(item, scanned))
    }

    fn push_scanned(&mut self, item: &Item, scanned: Scanned) -> Result<u32, ReceiptError> {
        let price = match scanned.price {
            Some(price) => price,
            None => item
                .retail_price()
                .ok_or_else(|| ReceiptError::NoPrice { item: item.name.clone() })?,
        };
        if price.is_sign_negative() || price > MAX_MONEY {
            return Err(ReceiptError::Overflow);
        }
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
            group: scanned.group,
            manual: None,
            discount: Decimal::ZERO,
            discounts: Vec::new(),
        });
        self.next_line_no += 1;
        Ok(no)
    }

    /// Set the quantity of line `no`.
    pub fn set_qty(&mut self, no: u32, qty: Decimal) -> Result<(), ReceiptError> {
        self.edit(|r| {
            let line = r.lines.iter_mut().find(|l| l.no == no).ok_or(ReceiptError::UnknownLine(no))?;
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
        })
    }

    /// Remove line `no` (storno before payment).
    pub fn void(&mut self, no: u32) -> Result<(), ReceiptError> {
        self.edit(|r| {
            let before = r.lines.len();
            r.lines.retain(|l| l.no != no);
            if r.lines.len() == before {
                return Err(ReceiptError::UnknownLine(no));
            }
            Ok(())
        })
    }

    /// Set (or with `None` remove) the cashier's manual discount on line `no`. `max_percent`
    /// is the most the acting role may give; `by` is who gives it.
    pub fn discount_line(&mut self, no: u32, value: Option<DiscountValue>, max_percent: Decimal, by: &str) -> Result<(), ReceiptError> {
        self.edit(|r| {
            let line = r.lines.iter_mut().find(|l| l.no == no).ok_or(ReceiptError::UnknownLine(no))?;
            line.manual = match value {
                Some(value) => Some(ManualDiscount::grant(value, max_percent, line.sum, by)?),
                None => None,
            };
            Ok(())
        })
    }

    /// Set (or with `None` remove) the cashier's manual discount on the whole receipt; it is
    /// spread over the lines without a manual line discount.
    pub fn discount_receipt(&mut self, value: Option<DiscountValue>, max_percent: Decimal, by: &str) -> Result<(), ReceiptError> {
        self.edit(|r| {
            r.manual_discount = match value {
                Some(value) => {
                    let promotions = r.offer.as_ref().map_or(&[][..], |o| &o.promotions[..]);
                    let base = pricing::receipt_base(&r.lines, promotions).ok_or(ReceiptError::Overflow)?;
                    Some(ManualDiscount::grant(value, max_percent, base, by)?)
                }
                None => None,
            };
            Ok(())
        })
    }

    /// Attach the customer's loyalty card; a second card replaces the first (the customer
    /// handed over the wrong one).
    pub fn attach_card(&mut self, card: &str) -> Result<(), ReceiptError> {
        self.edit(|r| {
            r.loyalty_card = Some(card.to_string());
            Ok(())
        })
    }

    /// Sell to `client` (found by its card or phone by the caller); replaces an earlier one.
    pub fn attach_client(&mut self, client: ReceiptClient) -> Result<(), ReceiptError> {
        self.edit(|r| {
            r.client = Some(client);
            Ok(())
        })
    }

    /// Sell to nobody in particular again.
    pub fn detach_client(&mut self) -> Result<(), ReceiptError> {
        self.edit(|r| {
            r.client = None;
            Ok(())
        })
    }

    /// Take a payment. Cash may exceed what is due (the difference is change); a card is
    /// charged exactly, so it may not.
    pub fn pay(&mut self, method: PaymentMethod, amount: Decimal) -> Result<PaymentOutcome, ReceiptError> {
        self.take(&Tender::new(method, amount), &PayTerms::default())
    }

    /// Take a payment under `terms`. Only cash may exceed what is due — change is only ever
    /// given from cash; card, points and credit are taken exactly. Points need the receipt's
    /// client, stay within the program's share of the receipt and within the client's
    /// available points; credit needs a client who may buy on credit, is not stop-listed and
    /// has room under the limit.
    pub fn take(&mut self, tender: &Tender, terms: &PayTerms<'_>) -> Result<PaymentOutcome, ReceiptError> {
        if self.lines.is_empty() {
            return Err(ReceiptError::Empty);
        }
        let amount = money::check_amount(tender.amount)?;
        let rrn = match (&tender.rrn, tender.method) {
            (None, _) => None,
            (Some(rrn), PaymentMethod::Card) => Some(check_rrn(rrn)?),
            (Some(_), _) => return Err(ReceiptError::RrnNotCard),
        };
        let total = self.checked_total()?;
        let paid = money::checked_sum(self.payments.iter().map(|p| p.amount)).ok_or(ReceiptError::Overflow)?;
        let remaining = money::to_money((total - paid).max(Decimal::ZERO));
        match tender.method {
            PaymentMethod::Cash => {
                if let Some(limit) = terms.confirm_cash_above {
                    if amount > limit && !tender.confirmed {
                        return Err(ReceiptError::ConfirmAmount { amount });
                    }
                }
            }
            method if amount > remaining => {
                return Err(ReceiptError::Overpay { method, amount, remaining });
            }
            PaymentMethod::Bonus => {
                let client = self.client.as_ref().ok_or(LoyaltyError::NoClient)?;
                let max = terms.loyalty.max_redeem(total);
                if self.paid_by(PaymentMethod::Bonus).saturating_add(amount) > max {
                    return Err(LoyaltyError::BonusLimit { max }.into());
                }
                self.ledger(client, terms).check_bonus(amount)?;
            }
            PaymentMethod::Credit => {
                let client = self.client.as_ref().ok_or(LoyaltyError::NoClient)?;
                self.ledger(client, terms).check_credit(amount)?;
            }
            PaymentMethod::Card => {}
        }
        self.payments.push(Payment {
            method: tender.method,
            amount,
            rrn,
        });
        let paid = paid + amount;
        if paid >= total {
            Ok(PaymentOutcome::Covered {
                change: money::to_money(paid - total),
            })
        } else {
            Ok(PaymentOutcome::Partial {
                remaining: money::to_money(total - paid),
            })
        }
    }

    /// The client's ledger as this payment must see it: the caller's, or one built from what
    /// the receipt knew of the client plus what this receipt already took.
    fn ledger(&self, client: &ReceiptClient, terms: &PayTerms<'_>) -> ClientLedger {
        match terms.ledger {
            Some(ledger) => ledger.clone(),
            None => {
                let mut ledger = ClientLedger::from_receipt_client(client);
                ledger.entries.push(LedgerEntry {
                    receipt: self.id,
                    bonus: self.paid_by(PaymentMethod::Bonus),
                    credit: self.paid_by(PaymentMethod::Credit),
                    accrued: Decimal::ZERO,
                    state: EntryState::Open,
                });
                ledger
            }
        }
    }

    /// Freeze a fully paid receipt.
    pub fn close(self, change: Decimal, closed_at: Timestamp) -> ClosedReceipt {
        ClosedReceipt {
            total: self.total(),
            change,
            closed_at,
            bonus_accrued: Decimal::ZERO,
            fiscal: None,
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
            group: None,
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
        let err = r.pay(PaymentMethod::Card, dec!(300)).unwrap_err();
        assert_eq!(
            err,
            ReceiptError::Overpay {
                method: PaymentMethod::Card,
                amount: dec!(300.00),
                remaining: dec!(234.50)
            }
        );
        assert_eq!(err.code(), "card_overpay");
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
        for amount in [dec!(0), dec!(-5), dec!(1.001), dec!(100000000)] {
            let err = r.pay(PaymentMethod::Cash, amount).unwrap_err();
            assert!(matches!(err, ReceiptError::InvalidAmount(_)), "{amount}: {err:?}");
            assert_eq!(err.code(), "invalid_amount");
        }
        let err = r.pay(PaymentMethod::Cash, dec!(1.001)).unwrap_err();
        assert!(err.to_string().contains("больше двух знаков после запятой"), "{err}");
        assert!(r.payments.is_empty());
    }

    fn rich_client(bonus: Decimal, credit: bool, stop: bool) -> ReceiptClient {
        ReceiptClient {
            id: "C-77".into(),
            name: "ООО Ромашка".into(),
            stop_list: stop,
            allow_credit: credit,
            credit_limit: Some(dec!(1000)),
            debt: dec!(200),
            bonus_balance: bonus,
        }
    }

    fn with_offer(r: &mut Receipt, promotions: Vec<crate::domain::promotion::Promotion>) {
        r.set_offer(Offer {
            promotions,
            at: Timestamp::UNIX_EPOCH,
            local: "2026-03-02T12:00".parse().unwrap(),
        })
        .unwrap();
    }

    #[test]
    fn promotions_and_manual_discounts_price_the_receipt() {
        use crate::domain::promotion::Rule;
        use crate::domain::promotion::tests::promo;
        let mut r = receipt();
        with_offer(
            &mut r,
            vec![
                promo(
                    "PR-7",
                    Rule::Percent {
                        percent: dec!(10),
                        min_qty: dec!(1),
                    },
                    &["I-1"],
                ),
                promo(
                    "PR-9",
                    Rule::ReceiptPercent {
                        percent: dec!(5),
                        min_sum: dec!(500),
                    },
                    &[],
                ),
            ],
        );
        r.add(&item("I-1", dec!(89.90), false), "a", dec!(3)).unwrap();
        // 269.70 − 26.97 = 242.73; the receipt is below 500, no receipt-wide percent yet.
        assert_eq!((r.lines[0].discount, r.total()), (dec!(26.97), dec!(242.73)));
        assert_eq!(r.lines[0].promotions(), vec!["PR-7"]);
        r.add(&item("I-2", dec!(300), false), "b", dec!(1)).unwrap();
        // 242.73 + 300 = 542.73 ≥ 500: 5 % of it, 27.14, spread 12.14 + 15.00 (the remainder last).
        assert_eq!(r.lines[0].discount, dec!(26.97) + dec!(12.14));
        assert_eq!(r.lines[1].discount, dec!(15.00));
        assert_eq!(r.total(), dec!(515.59));
        assert_eq!(r.subtotal() - r.discount_total(), r.total());
        // The cashier's own 20 % on line 2 takes line 2 out of the receipt-wide percent, and
        // the receipt, 242.73 + 240.00 = 482.73, falls below its min_sum.
        r.discount_line(2, Some(DiscountValue::Percent(dec!(20))), dec!(20), "Анна")
            .unwrap();
        assert_eq!(r.lines[1].discount, dec!(60.00));
        assert_eq!(r.lines[0].discount, dec!(26.97));
        assert_eq!(r.total(), dec!(482.73));
        // Beyond the role's limit: refused, nothing changes.
        let before = r.clone();
        let err = r
            .discount_line(1, Some(DiscountValue::Percent(dec!(25))), dec!(20), "Анна")
            .unwrap_err();
        assert_eq!(err.code(), "discount_limit");
        assert_eq!(r, before);
        // Removing the manual discount restores the receipt-wide promotion.
        r.discount_line(2, None, dec!(20), "Анна").unwrap();
        assert_eq!(r.total(), dec!(515.59));
        // Once paid, the prices are frozen: a new offer changes nothing.
        r.pay(PaymentMethod::Card, dec!(100)).unwrap();
        with_offer(&mut r, vec![]);
        assert_eq!(r.total(), dec!(515.59));
        assert_eq!(r.discount_receipt(None, dec!(5), "Анна"), Err(ReceiptError::PaymentStarted));
    }

    #[test]
    fn a_manual_discount_on_the_whole_receipt_spreads_to_the_kopeck() {
        let mut r = receipt();
        for (id, price) in [("A", dec!(10.00)), ("B", dec!(10.00)), ("C", dec!(10.00))] {
            r.add(&item(id, price, false), id, dec!(1)).unwrap();
        }
        r.discount_receipt(Some(DiscountValue::Amount(dec!(10))), dec!(50), "Анна").unwrap();
        let shares: Vec<Decimal> = r.lines.iter().map(|l| l.discount).collect();
        assert_eq!(shares, vec![dec!(3.33), dec!(3.33), dec!(3.34)]);
        assert_eq!(r.total(), dec!(20.00));
        let err = r
            .discount_receipt(Some(DiscountValue::Amount(dec!(16))), dec!(50), "Анна")
            .unwrap_err();
        assert_eq!(err.code(), "discount_limit");
    }

    #[test]
    fn prices_near_the_decimal_limit_are_refused_not_panicked_on() {
        let mut r = receipt();
        let err = r.add(&item("X", Decimal::MAX, false), "x", dec!(1)).unwrap_err();
        assert_eq!(err.code(), "invalid_amount");
        assert!(r.lines.is_empty());
        // A receipt stored before prices were bounded: two lines whose sum overflows.
        let mut legacy = receipt();
        legacy.add(&item("A", dec!(1), false), "a", dec!(1)).unwrap();
        legacy.add(&item("B", dec!(1), false), "b", dec!(1)).unwrap();
        for line in &mut legacy.lines {
            line.price = Decimal::MAX;
            line.sum = Decimal::MAX;
        }
        let legacy: Receipt = serde_json::from_value(serde_json::to_value(&legacy).unwrap()).unwrap();
        assert_eq!(legacy.total(), Decimal::MAX);
        assert_eq!(legacy.remaining(), Decimal::MAX);
        let mut paying = legacy.clone();
        assert_eq!(paying.pay(PaymentMethod::Cash, dec!(100)), Err(ReceiptError::Overflow));
        assert_eq!(paying, legacy);
        // It can still be fixed by voiding a line.
        paying.void(2).unwrap();
        assert!(paying.checked_total().is_ok());
        assert_eq!(paying.lines.len(), 1);
    }

    #[test]
    fn mixed_payments_and_change_only_from_cash() {
        let mut r = receipt();
        r.add(&item("A", dec!(1000), false), "a", dec!(1)).unwrap();
        r.attach_client(rich_client(dec!(350), true, false)).unwrap();
        let terms = PayTerms {
            loyalty: LoyaltyRules::new(dec!(5), dec!(30)).unwrap(),
            ..PayTerms::default()
        };
        let card = Tender {
            rrn: Some("123456789012".into()),
            ..Tender::new(PaymentMethod::Card, dec!(400))
        };
        assert_eq!(r.take(&card, &terms).unwrap(), PaymentOutcome::Partial { remaining: dec!(600.00) });
        assert_eq!(r.payments[0].rrn.as_deref(), Some("123456789012"));
        // Points: at most 30 % of the receipt (300), and never more than due.
        let err = r.take(&Tender::new(PaymentMethod::Bonus, dec!(301)), &terms).unwrap_err();
        assert_eq!(err.code(), "bonus_limit");
        r.take(&Tender::new(PaymentMethod::Bonus, dec!(300)), &terms).unwrap();
        let err = r.take(&Tender::new(PaymentMethod::Credit, dec!(301)), &terms).unwrap_err();
        assert_eq!(err.code(), "overpay", "{err}");
        r.take(&Tender::new(PaymentMethod::Credit, dec!(100)), &terms).unwrap();
        let outcome = r.take(&Tender::new(PaymentMethod::Cash, dec!(500)), &terms).unwrap();
        assert_eq!(outcome, PaymentOutcome::Covered { change: dec!(300.00) });
        assert!(dec!(300) <= r.paid_by(PaymentMethod::Cash));
        let closed = r.close(dec!(300), Timestamp::UNIX_EPOCH);
        assert_eq!(closed.kept_by(PaymentMethod::Cash), dec!(200.00));
        assert_eq!(PaymentMethod::ALL.iter().map(|m| closed.kept_by(*m)).sum::<Decimal>(), closed.total);
    }

    #[test]
    fn points_and_credit_need_a_client_in_good_standing() {
        let mut r = receipt();
        r.add(&item("A", dec!(1000), false), "a", dec!(1)).unwrap();
        let terms = PayTerms {
            loyalty: LoyaltyRules::new(dec!(5), dec!(100)).unwrap(),
            ..PayTerms::default()
        };
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Bonus, dec!(10)), &terms).unwrap_err().code(),
            "no_client"
        );
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Credit, dec!(10)), &terms).unwrap_err().code(),
            "no_client"
        );
        r.attach_client(rich_client(dec!(50), true, true)).unwrap();
        let err = r.take(&Tender::new(PaymentMethod::Credit, dec!(10)), &terms).unwrap_err();
        assert_eq!(err.code(), "stop_list");
        assert!(err.to_string().contains("стоп-листе"), "{err}");
        r.attach_client(rich_client(dec!(50), true, false)).unwrap();
        // Limit 1000, debt 200: 800 available.
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Credit, dec!(801)), &terms).unwrap_err().code(),
            "credit_limit"
        );
        r.take(&Tender::new(PaymentMethod::Credit, dec!(500)), &terms).unwrap();
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Credit, dec!(301)), &terms).unwrap_err().code(),
            "credit_limit"
        );
        // 50 points, of which none used yet on this receipt.
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Bonus, dec!(51)), &terms).unwrap_err().code(),
            "insufficient_bonus"
        );
        r.take(&Tender::new(PaymentMethod::Bonus, dec!(30)), &terms).unwrap();
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Bonus, dec!(30)), &terms).unwrap_err().code(),
            "insufficient_bonus"
        );
        // The ledger the caller passes wins over the receipt's snapshot.
        let mut ledger = ClientLedger::from_receipt_client(r.client.as_ref().unwrap());
        ledger.bonus_balance = dec!(10);
        let strict = PayTerms {
            ledger: Some(&ledger),
            ..terms
        };
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Bonus, dec!(11)), &strict).unwrap_err().code(),
            "insufficient_bonus"
        );
        assert_eq!(
            r.attach_client(rich_client(dec!(0), false, false)),
            Err(ReceiptError::PaymentStarted)
        );
    }

    #[test]
    fn a_large_cash_amount_needs_confirmation_and_rrn_is_checked() {
        let mut r = receipt();
        r.add(&item("A", dec!(500), false), "a", dec!(1)).unwrap();
        let terms = PayTerms {
            confirm_cash_above: Some(dec!(10000)),
            ..PayTerms::default()
        };
        let big = Tender::new(PaymentMethod::Cash, dec!(50000));
        let err = r.take(&big, &terms).unwrap_err();
        assert_eq!(err.code(), "confirm_amount");
        assert!(r.payments.is_empty());
        for bad in ["12345", "12345678901!", "1234567890123"] {
            let t = Tender {
                rrn: Some(bad.into()),
                ..Tender::new(PaymentMethod::Card, dec!(1))
            };
            assert_eq!(r.take(&t, &terms).unwrap_err().code(), "invalid_rrn", "{bad}");
        }
        let cash_rrn = Tender {
            rrn: Some("123456789012".into()),
            ..Tender::new(PaymentMethod::Cash, dec!(1))
        };
        assert_eq!(r.take(&cash_rrn, &terms), Err(ReceiptError::RrnNotCard));
        let confirmed = Tender { confirmed: true, ..big };
        assert_eq!(
            r.take(&confirmed, &terms).unwrap(),
            PaymentOutcome::Covered { change: dec!(49500.00) }
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(usize, u32),
        AddMarked(u8),
        SetQty(u32, u32),
        Void(u32),
        DiscountLine(u32, u32, bool),
        DiscountReceipt(u32, bool),
        Pay(u8, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..4, 1u32..5).prop_map(|(i, q)| Op::Add(i, q)),
            (0u8..4).prop_map(Op::AddMarked),
            (1u32..8, 0u32..5).prop_map(|(n, q)| Op::SetQty(n, q)),
            (1u32..8).prop_map(Op::Void),
            (1u32..8, 0u32..3000, any::<bool>()).prop_map(|(n, v, p)| Op::DiscountLine(n, v, p)),
            (0u32..3000, any::<bool>()).prop_map(|(v, p)| Op::DiscountReceipt(v, p)),
            (0u8..4, 1u32..2000).prop_map(|(m, a)| Op::Pay(m, a)),
        ]
    }

    proptest! {
        /// Whatever a cashier does: the total is the sum of the line sums less their discounts,
        /// no line is discounted below zero, a refused operation changes nothing, only cash
        /// ever exceeds what is due, and a covered receipt is covered exactly by its payments
        /// less the change.
        #[test]
        fn receipt_invariants(ops in proptest::collection::vec(op(), 0..40)) {
            use crate::domain::promotion::Rule;
            use crate::domain::promotion::tests::promo;
            let items = [item("A", dec!(89.90), false), item("B", dec!(0.01), false), item("C", dec!(899.00), true), item("D", dec!(1500), false)];
            let mut shoes = item("M", dec!(4990), false);
            shoes.marked = true;
            let mut r = receipt();
            with_offer(&mut r, vec![
                promo("P", Rule::Percent { percent: dec!(15), min_qty: dec!(2) }, &["A", "C"]),
                promo("N", Rule::NForM { n: 3, m: 2 }, &["D"]),
                promo("R", Rule::ReceiptPercent { percent: dec!(3), min_sum: dec!(1000) }, &[]),
            ]);
            r.attach_client(rich_client(dec!(400), true, false)).unwrap();
            let terms = PayTerms { loyalty: LoyaltyRules::new(dec!(5), dec!(50)).unwrap(), ..PayTerms::default() };
            for op in ops {
                let before = r.clone();
                let value = |v: u32, percent: bool| if percent {
                    DiscountValue::Percent(Decimal::from(v % 101))
                } else {
                    DiscountValue::Amount(Decimal::new(i64::from(v), 1))
                };
                let result = match op {
                    Op::Add(i, q) => r.add(&items[i], "x", Decimal::from(q)).map(|_| ()),
                    Op::AddMarked(n) => r.add_scanned(&shoes, marked(&format!("S{n}"))).map(|_| ()),
                    Op::SetQty(n, q) => r.set_qty(n, Decimal::from(q)),
                    Op::Void(n) => r.void(n),
                    Op::DiscountLine(n, v, p) => r.discount_line(n, Some(value(v, p)), dec!(30), "Анна"),
                    Op::DiscountReceipt(v, p) => r.discount_receipt(Some(value(v, p)), dec!(30), "Анна"),
                    Op::Pay(m, a) => {
                        let method = PaymentMethod::ALL[usize::from(m)];
                        match r.take(&Tender::new(method, Decimal::from(a)), &terms) {
                            Ok(PaymentOutcome::Covered { change }) => {
                                prop_assert_eq!(r.paid() - change, r.total());
                                prop_assert!(r.paid_by(PaymentMethod::Cash) >= change);
                                if change > Decimal::ZERO {
                                    prop_assert_eq!(method, PaymentMethod::Cash);
                                }
                                return Ok(());
                            }
                            other => other.map(|_| ()),
                        }
                    }
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before);
                }
                let sums: Decimal = r.lines.iter().map(|l| l.sum).sum();
                let discounts: Decimal = r.lines.iter().map(|l| l.discount).sum();
                prop_assert_eq!(r.total(), sums - discounts);
                prop_assert!(r.lines.iter().all(|l| l.discount >= Decimal::ZERO && l.discount <= l.sum));
                prop_assert!(r.paid() < r.total() || r.lines.is_empty());
                prop_assert!(r.paid_by(PaymentMethod::Bonus) <= dec!(400));
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
