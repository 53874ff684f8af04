//! A sample sale for test printouts, golden files and the encoding benchmark: the same
//! receipt everywhere, built through the real receipt domain (not a hand-made struct).

use crate::domain::catalog::Item;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod, Receipt, ReceiptHeader};
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
