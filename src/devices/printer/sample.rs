//! A sample sale for test printouts, golden files and the encoding benchmark: the same
//! receipt everywhere, built through the real receipt domain (not a hand-made struct); and a
//! sample shift with discounts, points, a return and cash movements for the other layouts.

use crate::domain::Ctx;
use crate::domain::catalog::Item;
use crate::domain::client::{Client, ClientAccount};
use crate::domain::drawer::CashMovement;
use crate::domain::lane::{Lane, LaneError, Paid};
use crate::domain::loyalty::LoyaltyRules;
use crate::domain::pricing::{DiscountValue, Offers};
use crate::domain::promotion::{Hours, Promotion, Rule};
use crate::domain::receipt::{ClosedReceipt, PayTerms, PaymentMethod, Receipt, ReceiptHeader, Tender};
use crate::domain::returns::{ClosedReturn, RefundTo, ReturnRequest};
use crate::domain::shift::Shift;
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Names that exercise the code pages: Russian, Belarusian, Kazakh, typographic quotes.
const NAMES: &[(&str, &str, &str)] = &[
    ("Молоко 3,2% 1 л", "89.90", "10"),
    ("Хлеб Бородинский", "54.50", "10"),
    ("Кофе «Арабика» 95 г", "429.00", "20"),
    ("Сыр Беларускі і ў", "315.00", "20"),
    ("Құрт қазақша ә ғ", "120.00", "none"),
];

fn item(i: usize) -> Item {
    let (name, price, vat) = NAMES[i % NAMES.len()];
    let mut prices = BTreeMap::new();
    prices.insert(crate::domain::catalog::RETAIL.to_string(), price.parse().unwrap_or(Decimal::ONE));
    Item {
        id: format!("I-{}", 1000 + i),
        sku: format!("{}", 1000 + i),
        name: if i < NAMES.len() {
            name.to_string()
        } else {
            format!("{name} №{i}")
        },
        unit: "pcs".into(),
        vat: vat.into(),
        weighted: false,
        marked: false,
        mark_group: None,
        plu: None,
        barcodes: Vec::new(),
        prices,
    }
}

/// A closed receipt of `lines` lines, paid by card for the total, closed at `at`.
pub fn sale(lines: usize, at: Timestamp) -> ClosedReceipt {
    let mut receipt = Receipt::new(ReceiptHeader {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        number: 7,
        lane: "1",
        shift_id: Uuid::from_u128(2),
        shift_number: 3,
        cashier: "Анна",
        opened_at: at,
    });
    for i in 0..lines.max(1) {
        // Every item is new, so each makes its own line.
        let _ = receipt.add(&item(i), "sample", Decimal::from(1 + i as i64 % 3));
    }
    let total = receipt.total();
    let _ = receipt.pay(PaymentMethod::Card, total);
    receipt.close(Decimal::ZERO, at)
}

fn sample_ids() -> impl FnMut() -> Uuid + Send {
    let mut n = 0x0190_0000_0000_7000_8000_0000_0000_1000u128;
    move || {
        n += 1;
        Uuid::from_u128(n)
    }
}

fn milk_week() -> Promotion {
    Promotion {
        id: "PR-7".into(),
        name: "Молочная неделя −10 %".into(),
        rule: Rule::Percent {
            percent: Decimal::TEN,
            min_qty: Decimal::ONE,
        },
        items: vec!["I-1000".into()],
        groups: vec![],
        from: None,
        to: None,
        weekdays: vec![],
        hours: Hours::ALL_DAY,
    }
}

fn three_for_two() -> Promotion {
    Promotion {
        id: "PR-8".into(),
        name: "3 по цене 2".into(),
        rule: Rule::NForM { n: 3, m: 2 },
        items: vec!["I-1001".into()],
        ..milk_week()
    }
}

fn big_basket() -> Promotion {
    Promotion {
        id: "PR-9".into(),
        name: "Большая корзина −3 %".into(),
        rule: Rule::ReceiptPercent {
            percent: Decimal::new(3, 0),
            min_sum: Decimal::new(500, 0),
        },
        items: vec![],
        ..milk_week()
    }
}

/// The client of the sample sale.
fn client() -> (Client, ClientAccount) {
    (
        Client {
            id: "C-77".into(),
            name: "Иванова Мария".into(),
            phones: vec![],
            debt: None,
            overdue: None,
            credit_limit: None,
            stop_list: false,
            segment: None,
            manager: None,
            loyalty_cards: vec!["2775000000017".into()],
            last_activity: None,
        },
        ClientAccount {
            bonus_balance: Decimal::new(350, 0),
            allow_credit: false,
        },
    )
}

/// A shift on lane 1 with one sale under promotions and discounts (a client, points, a card
/// with its RRN, cash with change), a partial return, a cash-in and a cash-out: everything the
/// new layouts print, built through the real lane rules.
pub struct ShiftSample {
    pub sale: ClosedReceipt,
    pub ret: ClosedReturn,
    pub cash_in: CashMovement,
    pub cash_out: CashMovement,
    /// The shift before it closed (an X report's view).
    pub open: Shift,
    /// The shift as closed (the Z report's).
    pub closed: Shift,
}

/// The [`ShiftSample`], at `at`; an error only if the sample broke the lane's rules.
pub fn shift(at: Timestamp) -> Result<ShiftSample, LaneError> {
    let promotions = [milk_week(), three_for_two(), big_basket()];
    let mut ids = sample_ids();
    let local = at.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let mut ctx = Ctx::new(at, "Анна", &mut ids).with_offers(Offers {
        promotions: &promotions,
        local,
    });
    let mut lane = Lane::new("1");
    lane.open_shift(&mut ctx);
    let (cash_in, _) = lane.cash_in(&mut ctx, Decimal::new(2000, 0), "размен")?;
    let (c, account) = client();
    lane.attach_client(&mut ctx, &c, &account)?;
    for (i, qty) in [(0, 2), (1, 3), (2, 1)] {
        lane.sell(&mut ctx, &item(i), "sample", Decimal::from(qty))?;
    }
    lane.discount_line(&ctx, 3, Some(DiscountValue::Percent(Decimal::new(5, 0))), Decimal::TEN)?;
    let terms = PayTerms {
        loyalty: LoyaltyRules {
            accrual_percent: Decimal::new(5, 0),
            max_redeem_percent: Decimal::new(30, 0),
        },
        ..PayTerms::default()
    };
    let card = Tender {
        rrn: Some("412345678901".into()),
        ..Tender::new(PaymentMethod::Card, Decimal::new(500, 0))
    };
    lane.pay_tender(&mut ctx, &Tender::new(PaymentMethod::Bonus, Decimal::new(100, 0)), &terms)?;
    lane.pay_tender(&mut ctx, &card, &terms)?;
    let (paid, _) = lane.pay_tender(&mut ctx, &Tender::new(PaymentMethod::Cash, Decimal::new(100, 0)), &terms)?;
    let Paid::Closed { receipt: sale } = paid else {
        let number = lane.receipt.as_ref().map_or(0, |r| r.number);
        return Err(LaneError::ReceiptOpen { number });
    };
    let (ret, _) = lane.return_sale(
        &mut ctx,
        &sale,
        &[],
        &[ReturnRequest { no: 2, qty: Decimal::ONE }],
        &RefundTo::cash(),
    )?;
    let (cash_out, _) = lane.cash_out(&mut ctx, Decimal::new(150050, 2), "инкассация, мешок № 12")?;
    let open = lane.shift.clone().ok_or(LaneError::NoShift)?;
    let (closed, _) = lane.close_shift(&mut ctx)?;
    Ok(ShiftSample {
        sale: *sale,
        ret,
        cash_in,
        cash_out,
        open,
        closed,
    })
}
