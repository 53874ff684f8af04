//! Returns: goods a customer brings back, against the closed sale they were bought in (or,
//! when the acting role allows it, without one).
//!
//! # What a return refunds
//!
//! - **Never more than was sold.** A line may be returned in parts, across several returns,
//!   but the quantities returned never add up to more than the sale's line
//!   (`return_exceeds_sale`).
//! - **What was actually paid.** The refund for a line is its sum less its discounts, in
//!   proportion to the quantity returned, rounded to kopecks; the return that brings a line's
//!   returned quantity up to what was sold refunds exactly what is left of it, so returning
//!   everything (at once or in parts) refunds exactly the sale's total.
//! - **By the same means.** Points paid for the sale go back as points and credit as a smaller
//!   debt, in the sale's proportions (the last return of the sale takes what is left of
//!   each); the rest is money, in cash or on the card the caller picks — on the card never
//!   more than the sale took by card, less earlier card refunds.

use crate::domain::catalog::Item;
use crate::domain::money::{self, QtyError};
use crate::domain::receipt::{ClosedReceipt, LineMark, Payment, PaymentMethod, ReceiptError, check_rrn};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One line the customer brings back: the sale's line number and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRequest {
    pub no: u32,
    pub qty: Decimal,
}

/// How the money part of a refund is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTo {
    /// Cash or card; points and credit are given back by the sale's own proportions.
    pub method: PaymentMethod,
    /// The RRN of the card refund, when the cashier typed it from the terminal's slip.
    pub rrn: Option<String>,
}

impl RefundTo {
    pub fn cash() -> RefundTo {
        RefundTo {
            method: PaymentMethod::Cash,
            rrn: None,
        }
    }

    pub fn card() -> RefundTo {
        RefundTo {
            method: PaymentMethod::Card,
            rrn: None,
        }
    }
}

/// The sale a return is made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleRef {
    pub receipt: Uuid,
    pub number: u32,
    pub lane: String,
    pub shift_number: u32,
    pub closed_at: Timestamp,
}

/// One returned line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// The sale's line number (a return without a receipt numbers its own lines).
    pub no: u32,
    pub item: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
    pub vat: String,
    pub weighted: bool,
    pub code: String,
    pub qty: Decimal,
    pub price: Decimal,
    /// The part of the sale line's discounts these units had.
    pub discount: Decimal,
    /// Refunded for these units: price × quantity less `discount`.
    pub sum: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<LineMark>,
    /// Promotions that discounted the sale's line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<String>,
}

/// A return, done. It never changes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedReturn {
    pub id: Uuid,
    /// Number among the shift's returns, starting at 1.
    pub number: u32,
    pub lane: String,
    pub shift_id: Uuid,
    pub shift_number: u32,
    /// Who made the return.
    pub cashier: String,
    pub at: Timestamp,
    /// `None`: a return without a receipt.
    pub sale: Option<SaleRef>,
    pub lines: Vec<ReturnLine>,
    /// Everything refunded: the sum of the lines.
    pub total: Decimal,
    /// How it was refunded, by method (amounts add up to `total`).
    pub refunds: Vec<Payment>,
    /// The sale's client, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The fiscal register's return document (ФД, ФП, shift) on a lane with a register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal: Option<crate::domain::fiscal::FiscalNumbers>,
}

impl ClosedReturn {
    /// Refunded by one method.
    pub fn refunded_by(&self, method: PaymentMethod) -> Decimal {
        money::checked_sum(self.refunds.iter().filter(|p| p.method == method).map(|p| p.amount)).unwrap_or(Decimal::ZERO)
    }

    /// Whether the drawer opens for it: cash goes out.
    pub fn pays_cash(&self) -> bool {
        self.refunded_by(PaymentMethod::Cash) > Decimal::ZERO
    }
}

/// Where and by whom a return is made.
pub struct ReturnHeader<'a> {
    pub id: Uuid,
    pub number: u32,
    pub lane: &'a str,
    pub shift_id: Uuid,
    pub shift_number: u32,
    pub cashier: &'a str,
    pub at: Timestamp,
}

/// Why a return was refused. Nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("не выбрано ни одной строки для возврата")]
    Empty,
    #[error("в чеке продажи нет строки {0}")]
    UnknownLine(u32),
    #[error("строка {0} указана в возврате дважды")]
    DuplicateLine(u32),
    #[error("{0}")]
    Qty(#[from] QtyError),
    #[error("маркированная пачка «{0}» возвращается целиком: количество 1")]
    Marked(String),
    #[error("«{name}»: продано {sold}, уже возвращено {returned} — вернуть ещё {asked} нельзя")]
    ExceedsSale {
        name: String,
        sold: Decimal,
        returned: Decimal,
        asked: Decimal,
    },
    #[error("деньги возвращают наличными или на карту; бонусы и кредит возвращаются сами, как были оплачены")]
    RefundMethod,
    #[error("на карту можно вернуть не больше {left}: остальное было оплачено иначе — верните наличными")]
    CardRefundExceeds { left: Decimal },
    #[error("возврат без чека вам не разрешён: позовите старшего кассира или администратора")]
    NotAllowed,
    #[error("у товара «{0}» нет розничной цены: вернуть его без чека нельзя")]
    NoPrice(String),
    #[error("{0}")]
    Rrn(ReceiptError),
    #[error("сумма слишком велика")]
    Overflow,
}

impl ReturnError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            ReturnError::Empty => "empty_return",
            ReturnError::UnknownLine(_) => "unknown_line",
            ReturnError::DuplicateLine(_) => "duplicate_line",
            ReturnError::Qty(_) => "invalid_qty",
            ReturnError::Marked(_) => "marked_qty",
            ReturnError::ExceedsSale { .. } => "return_exceeds_sale",
            ReturnError::RefundMethod | ReturnError::CardRefundExceeds { .. } => "refund_method",
            ReturnError::NotAllowed => "return_not_allowed",
            ReturnError::NoPrice(_) => "no_price",
            ReturnError::Rrn(e) => e.code(),
            ReturnError::Overflow => "invalid_amount",
        }
    }
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, ReturnError> {
    a.checked_add(b).ok_or(ReturnError::Overflow)
}

/// `part` / `whole` of `value`, rounded to kopecks; zero when `whole` is zero.
fn share(value: Decimal, part: Decimal, whole: Decimal) -> Result<Decimal, ReturnError> {
    if whole.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let v = value
        .checked_mul(part)
        .and_then(|v| v.checked_div(whole))
        .ok_or(ReturnError::Overflow)?;
    Ok(money::to_money(v))
}

fn refund_money(refund: &RefundTo) -> Result<Option<String>, ReturnError> {
    if !matches!(refund.method, PaymentMethod::Cash | PaymentMethod::Card) {
        return Err(ReturnError::RefundMethod);
    }
    match (&refund.rrn, refund.method) {
        (None, _) => Ok(None),
        (Some(rrn), PaymentMethod::Card) => check_rrn(rrn).map(Some).map_err(ReturnError::Rrn),
        (Some(_), _) => Err(ReturnError::Rrn(ReceiptError::RrnNotCard)),
    }
}

/// Return `lines` of `sale`, given the returns already made against it (`earlier`; returns of
/// other sales among them are ignored).
pub fn against_sale(
    header: ReturnHeader<'_>,
    sale: &ClosedReceipt,
    earlier: &[ClosedReturn],
    lines: &[ReturnRequest],
    refund: &RefundTo,
) -> Result<ClosedReturn, ReturnError> {
    if lines.is_empty() {
        return Err(ReturnError::Empty);
    }
    let rrn = refund_money(refund)?;
    let earlier: Vec<&ClosedReturn> = earlier
        .iter()
        .filter(|r| r.sale.as_ref().is_some_and(|s| s.receipt == sale.receipt.id))
        .collect();
    let before = |no: u32| -> Result<(Decimal, Decimal, Decimal), ReturnError> {
        // Quantity, gross (price × qty) and discount already returned of sale line `no`.
        let mut acc = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for line in earlier.iter().flat_map(|r| &r.lines).filter(|l| l.no == no) {
            acc = (
                add(acc.0, line.qty)?,
                add(acc.1, add(line.sum, line.discount)?)?,
                add(acc.2, line.discount)?,
            );
        }
        Ok(acc)
    };

    let mut out = Vec::with_capacity(lines.len());
    for (k, request) in lines.iter().enumerate() {
        if lines[..k].iter().any(|r| r.no == request.no) {
            return Err(ReturnError::DuplicateLine(request.no));
        }
        let line = sale.receipt.line(request.no).ok_or(ReturnError::UnknownLine(request.no))?;
        let mut qty = money::check_qty(request.qty, line.weighted)?;
        if line.weighted {
            qty.rescale(3);
        }
        if line.mark.is_some() && qty != Decimal::ONE {
            return Err(ReturnError::Marked(line.name.clone()));
        }
        let (returned, gross_before, discount_before) = before(line.no)?;
        if add(returned, qty)? > line.qty {
            return Err(ReturnError::ExceedsSale {
                name: line.name.clone(),
                sold: line.qty,
                returned,
                asked: qty,
            });
        }
        // The last units of a line take exactly what is left of it, so rounding never makes
        // the returns of a line add up to more or less than was paid for it.
        let last = add(returned, qty)? == line.qty;
        let (gross, discount) = if last {
            (
                money::to_money(line.sum - gross_before),
                money::to_money(line.discount - discount_before),
            )
        } else {
            (
                money::line_sum(line.price, qty).ok_or(ReturnError::Overflow)?,
                share(line.discount, qty, line.qty)?,
            )
        };
        out.push(ReturnLine {
            no: line.no,
            item: line.item.clone(),
            sku: line.sku.clone(),
            name: line.name.clone(),
            unit: line.unit.clone(),
            vat: line.vat.clone(),
            weighted: line.weighted,
            code: line.code.clone(),
            qty,
            price: line.price,
            discount,
            sum: money::to_money(gross - discount),
            mark: line.mark.clone(),
            promotions: line.promotions().into_iter().map(str::to_string).collect(),
        });
    }
    let total = money::checked_sum(out.iter().map(|l| l.sum)).ok_or(ReturnError::Overflow)?;

    // Whether this return leaves nothing of the sale unreturned.
    let mut whole_sale = true;
    for line in &sale.receipt.lines {
        let now = out.iter().filter(|l| l.no == line.no).map(|l| l.qty).sum::<Decimal>();
        if add(before(line.no)?.0, now)? != line.qty {
            whole_sale = false;
        }
    }
    let refunded_before = |method: PaymentMethod| -> Result<Decimal, ReturnError> {
        money::checked_sum(earlier.iter().map(|r| r.refunded_by(method))).ok_or(ReturnError::Overflow)
    };
    let mut refunds = Vec::new();
    let mut left = total;
    for method in [PaymentMethod::Bonus, PaymentMethod::Credit] {
        let paid = sale.kept_by(method);
        if paid <= Decimal::ZERO {
            continue;
        }
        let open = (paid - refunded_before(method)?).max(Decimal::ZERO);
        let part = if whole_sale {
            open
        } else {
            share(total, paid, sale.total)?.min(open)
        };
        let part = money::to_money(part.min(left));
        if part > Decimal::ZERO {
            refunds.push(Payment {
                method,
                amount: part,
                rrn: None,
            });
            left -= part;
        }
    }
    if left > Decimal::ZERO {
        if refund.method == PaymentMethod::Card {
            let card_left = (sale.kept_by(PaymentMethod::Card) - refunded_before(PaymentMethod::Card)?).max(Decimal::ZERO);
            if left > card_left {
                return Err(ReturnError::CardRefundExceeds {
                    left: money::to_money(card_left),
                });
            }
        }
        refunds.push(Payment {
            method: refund.method,
            amount: money::to_money(left),
            rrn,
        });
    }
    Ok(ClosedReturn {
        id: header.id,
        number: header.number,
        lane: header.lane.to_string(),
        shift_id: header.shift_id,
        shift_number: header.shift_number,
        cashier: header.cashier.to_string(),
        at: header.at,
        sale: Some(SaleRef {
            receipt: sale.receipt.id,
            number: sale.receipt.number,
            lane: sale.receipt.lane.clone(),
            shift_number: sale.receipt.shift_number,
            closed_at: sale.closed_at,
        }),
        lines: out,
        total,
        refunds,
        client: sale.receipt.client.as_ref().map(|c| c.id.clone()),
        fiscal: None,
    })
}

/// Return goods without the sale's receipt, at today's retail price, in cash or on a card.
/// Only when the caller says the acting role may (`allowed`): the shop cannot check what was
/// paid, so this is a senior cashier's or an administrator's decision.
pub fn without_receipt(
    header: ReturnHeader<'_>,
    items: &[(Item, Decimal)],
    refund: &RefundTo,
    allowed: bool,
) -> Result<ClosedReturn, ReturnError> {
    if !allowed {
        return Err(ReturnError::NotAllowed);
    }
    if items.is_empty() {
        return Err(ReturnError::Empty);
    }
    let rrn = refund_money(refund)?;
    let mut lines = Vec::with_capacity(items.len());
    for (no, (item, qty)) in (1u32..).zip(items) {
        let price = item.retail_price().ok_or_else(|| ReturnError::NoPrice(item.name.clone()))?;
        if price.is_sign_negative() || price > money::MAX_MONEY {
            return Err(ReturnError::Overflow);
        }
        let mut qty = money::check_qty(*qty, item.weighted)?;
        if item.weighted {
            qty.rescale(3);
        }
        let sum = money::line_sum(price, qty).ok_or(ReturnError::Overflow)?;
        lines.push(ReturnLine {
            no,
            item: item.id.clone(),
            sku: item.sku.clone(),
            name: item.name.clone(),
            unit: item.unit.clone(),
            vat: item.vat.clone(),
            weighted: item.weighted,
            code: item.barcodes.first().cloned().unwrap_or_default(),
            qty,
            price,
            discount: money::to_money(Decimal::ZERO),
            sum,
            mark: None,
            promotions: Vec::new(),
        });
    }
    let total = money::checked_sum(lines.iter().map(|l| l.sum)).ok_or(ReturnError::Overflow)?;
    Ok(ClosedReturn {
        id: header.id,
        number: header.number,
        lane: header.lane.to_string(),
        shift_id: header.shift_id,
        shift_number: header.shift_number,
        cashier: header.cashier.to_string(),
        at: header.at,
        sale: None,
        lines,
        total,
        refunds: vec![Payment {
            method: refund.method,
            amount: total,
            rrn,
        }],
        client: None,
        fiscal: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::client::ReceiptClient;
    use crate::domain::loyalty::LoyaltyRules;
    use crate::domain::pricing::DiscountValue;
    use crate::domain::receipt::{PayTerms, PaymentOutcome, Receipt, ReceiptHeader, Tender};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn item(id: &str, price: Decimal, weighted: bool) -> Item {
        Item {
            id: id.into(),
            sku: id.into(),
            name: format!("Товар {id}"),
            unit: if weighted { "kg" } else { "pcs" }.into(),
            vat: "20".into(),
            weighted,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![format!("code-{id}")],
            prices: [("retail".to_string(), price)].into(),
        }
    }

    fn header(n: u128) -> ReturnHeader<'static> {
        ReturnHeader {
            id: Uuid::from_u128(100 + n),
            number: n as u32,
            lane: "1",
            shift_id: Uuid::from_u128(2),
            shift_number: 1,
            cashier: "Борис",
            at: Timestamp::UNIX_EPOCH,
        }
    }

    fn receipt() -> Receipt {
        Receipt::new(ReceiptHeader {
            id: Uuid::from_u128(1),
            number: 4,
            lane: "1",
            shift_id: Uuid::from_u128(2),
            shift_number: 1,
            cashier: "Анна",
            opened_at: Timestamp::UNIX_EPOCH,
        })
    }

    /// Three pieces at 33.33 with a whole-receipt 10 % off, paid by card.
    fn discounted_sale() -> ClosedReceipt {
        let mut r = receipt();
        r.add(&item("A", dec!(33.33), false), "a", dec!(3)).unwrap();
        r.add(&item("B", dec!(10.00), false), "b", dec!(1)).unwrap();
        r.discount_receipt(Some(DiscountValue::Percent(dec!(10))), dec!(10), "Анна")
            .unwrap();
        let total = r.total();
        r.pay(PaymentMethod::Card, total).unwrap();
        r.close(Decimal::ZERO, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_return_after_a_discount_refunds_what_was_paid_and_never_more_than_sold() {
        let sale = discounted_sale();
        // 99.99 + 10.00 = 109.99; 10 % = 11.00, spread 10.00 + 1.00 (the remainder last).
        assert_eq!(sale.total, dec!(98.99));
        assert_eq!(sale.receipt.lines[0].to_pay(), dec!(89.99));
        let one = against_sale(header(1), &sale, &[], &[ReturnRequest { no: 1, qty: dec!(1) }], &RefundTo::card()).unwrap();
        // One of three: 33.33 less a third of 10.00.
        assert_eq!((one.lines[0].discount, one.lines[0].sum), (dec!(3.33), dec!(30.00)));
        assert_eq!(
            one.refunds,
            vec![Payment {
                method: PaymentMethod::Card,
                amount: dec!(30.00),
                rrn: None
            }]
        );
        let err = against_sale(
            header(2),
            &sale,
            std::slice::from_ref(&one),
            &[ReturnRequest { no: 1, qty: dec!(3) }],
            &RefundTo::card(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "return_exceeds_sale");
        assert!(err.to_string().contains("продано 3, уже возвращено 1"), "{err}");
        let two = against_sale(
            header(2),
            &sale,
            std::slice::from_ref(&one),
            &[ReturnRequest { no: 1, qty: dec!(2) }, ReturnRequest { no: 2, qty: dec!(1) }],
            &RefundTo::card(),
        )
        .unwrap();
        // Everything returned: exactly the sale's total, to the kopeck.
        assert_eq!(one.total + two.total, sale.total);
        // The last two units take what is left of line 1: 66.66 less 6.67.
        assert_eq!(two.lines[0].sum, dec!(59.99));
        let err = against_sale(
            header(3),
            &sale,
            &[one, two],
            &[ReturnRequest { no: 2, qty: dec!(1) }],
            &RefundTo::cash(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "return_exceeds_sale");
    }

    #[test]
    fn bad_requests_are_refused() {
        let sale = discounted_sale();
        let cash = RefundTo::cash();
        assert_eq!(against_sale(header(1), &sale, &[], &[], &cash).unwrap_err().code(), "empty_return");
        let req = |no, qty| ReturnRequest { no, qty };
        assert_eq!(
            against_sale(header(1), &sale, &[], &[req(9, dec!(1))], &cash).unwrap_err().code(),
            "unknown_line"
        );
        assert_eq!(
            against_sale(header(1), &sale, &[], &[req(1, dec!(0.5))], &cash).unwrap_err().code(),
            "invalid_qty"
        );
        assert_eq!(
            against_sale(header(1), &sale, &[], &[req(1, dec!(1)), req(1, dec!(1))], &cash)
                .unwrap_err()
                .code(),
            "duplicate_line"
        );
        let bonus = RefundTo {
            method: PaymentMethod::Bonus,
            rrn: None,
        };
        assert_eq!(
            against_sale(header(1), &sale, &[], &[req(1, dec!(1))], &bonus).unwrap_err().code(),
            "refund_method"
        );
        let bad_rrn = RefundTo {
            rrn: Some("x".into()),
            ..RefundTo::card()
        };
        assert_eq!(
            against_sale(header(1), &sale, &[], &[req(1, dec!(1))], &bad_rrn)
                .unwrap_err()
                .code(),
            "invalid_rrn"
        );
    }

    #[test]
    fn points_and_credit_go_back_as_they_were_paid_and_cards_only_up_to_the_card() {
        let mut r = receipt();
        r.add(&item("A", dec!(100), false), "a", dec!(4)).unwrap();
        r.attach_client(ReceiptClient {
            id: "C-77".into(),
            name: "ООО Ромашка".into(),
            stop_list: false,
            allow_credit: true,
            credit_limit: Some(dec!(1000)),
            debt: dec!(0),
            bonus_balance: dec!(500),
        })
        .unwrap();
        let terms = PayTerms {
            loyalty: LoyaltyRules::new(dec!(0), dec!(50)).unwrap(),
            ..PayTerms::default()
        };
        r.take(&Tender::new(PaymentMethod::Bonus, dec!(100)), &terms).unwrap();
        r.take(&Tender::new(PaymentMethod::Card, dec!(100)), &terms).unwrap();
        assert_eq!(
            r.take(&Tender::new(PaymentMethod::Cash, dec!(200)), &terms).unwrap(),
            PaymentOutcome::Covered { change: dec!(0.00) }
        );
        let sale = r.close(Decimal::ZERO, Timestamp::UNIX_EPOCH);
        let req = [ReturnRequest { no: 1, qty: dec!(1) }];
        let first = against_sale(header(1), &sale, &[], &req, &RefundTo::card()).unwrap();
        assert_eq!(first.refunded_by(PaymentMethod::Bonus), dec!(25.00));
        assert_eq!(first.refunded_by(PaymentMethod::Card), dec!(75.00));
        assert_eq!(first.client.as_deref(), Some("C-77"));
        // The card took 100; 75 went back already, so 75 more cannot.
        let err = against_sale(header(2), &sale, std::slice::from_ref(&first), &req, &RefundTo::card()).unwrap_err();
        assert_eq!(err, ReturnError::CardRefundExceeds { left: dec!(25.00) });
        let rest = against_sale(
            header(2),
            &sale,
            std::slice::from_ref(&first),
            &[ReturnRequest { no: 1, qty: dec!(3) }],
            &RefundTo::cash(),
        )
        .unwrap();
        assert_eq!(
            first.refunded_by(PaymentMethod::Bonus) + rest.refunded_by(PaymentMethod::Bonus),
            dec!(100.00)
        );
        assert_eq!(first.total + rest.total, sale.total);
    }

    #[test]
    fn without_a_receipt_only_when_allowed() {
        let milk = item("I-1", dec!(89.90), false);
        let err = without_receipt(header(1), &[(milk.clone(), dec!(1))], &RefundTo::cash(), false).unwrap_err();
        assert_eq!(err.code(), "return_not_allowed");
        let r = without_receipt(header(1), &[(milk, dec!(2))], &RefundTo::cash(), true).unwrap();
        assert_eq!((r.total, r.sale.is_none(), r.pays_cash()), (dec!(179.80), true, true));
        let mut no_price = item("I-2", dec!(1), false);
        no_price.prices.clear();
        assert_eq!(
            without_receipt(header(1), &[(no_price, dec!(1))], &RefundTo::cash(), true)
                .unwrap_err()
                .code(),
            "no_price"
        );
    }

    proptest! {
        /// Returns in any order and any parts never add up to more than the sale, and
        /// whenever everything has come back, exactly the sale's total has been refunded.
        #[test]
        fn cumulative_returns_never_exceed_the_sale(
            qtys in proptest::collection::vec(1u32..6, 1..4),
            percent in 0u32..=50,
            asks in proptest::collection::vec((0usize..4, 1u32..4), 0..12),
        ) {
            let mut r = receipt();
            for (i, q) in qtys.iter().enumerate() {
                r.add(&item(&format!("I-{i}"), Decimal::new(1999 + 1000 * i as i64, 2), false), "x", Decimal::from(*q)).unwrap();
            }
            if percent > 0 {
                r.discount_receipt(Some(DiscountValue::Percent(Decimal::from(percent))), dec!(50), "Анна").unwrap();
            }
            let total = r.total();
            r.pay(PaymentMethod::Cash, total).unwrap();
            let sale = r.close(Decimal::ZERO, Timestamp::UNIX_EPOCH);
            let mut done: Vec<ClosedReturn> = Vec::new();
            for (k, (line, qty)) in asks.into_iter().enumerate() {
                let req = [ReturnRequest { no: line as u32 + 1, qty: Decimal::from(qty) }];
                if let Ok(ret) = against_sale(header(k as u128), &sale, &done, &req, &RefundTo::cash()) {
                    done.push(ret);
                }
                for line in &sale.receipt.lines {
                    let back: Decimal = done.iter().flat_map(|d| &d.lines).filter(|l| l.no == line.no).map(|l| l.qty).sum();
                    prop_assert!(back <= line.qty);
                }
                let refunded: Decimal = done.iter().map(|d| d.total).sum();
                prop_assert!(refunded <= sale.total);
                prop_assert!(done.iter().all(|d| d.refunds.iter().map(|p| p.amount).sum::<Decimal>() == d.total));
            }
            // Bring back whatever is left: the refunds add up to the sale exactly.
            let rest: Vec<ReturnRequest> = sale.receipt.lines.iter().filter_map(|line| {
                let back: Decimal = done.iter().flat_map(|d| &d.lines).filter(|l| l.no == line.no).map(|l| l.qty).sum();
                (back < line.qty).then(|| ReturnRequest { no: line.no, qty: line.qty - back })
            }).collect();
            if !rest.is_empty() {
                let last = against_sale(header(99), &sale, &done, &rest, &RefundTo::cash()).unwrap();
                done.push(last);
            }
            prop_assert_eq!(done.iter().map(|d| d.total).sum::<Decimal>(), sale.total);
        }
    }
}
